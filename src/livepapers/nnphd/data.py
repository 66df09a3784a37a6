"""Simulators with exact accelerations and ground-truth non-conservative ("new physics") parts.

Shape legend: ``b`` batch, ``d`` coordinates, ``T`` time points, ``n`` samples (= trajectories × T).
Every simulator has ``acceleration(q, qdot, t=0)``, ``nc_acceleration(q, qdot, t=0)`` (the new physics),
``conservative_acceleration(q, qdot, t=0)`` and ``sample(...)`` returning a dict of float64 tensors
``q, qdot, a, a_nc, a_c: (n, d)``, ``t: (n,)``, ``traj_id: (n,)``. Trajectories are integrated with SciPy's
DOP853 (rtol = atol = 1e-10 by default) and the accelerations are evaluated exactly at the sampled states.
Random draws use the given ``torch.Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from scipy.integrate import solve_ivp
from torch import Tensor

from livepapers.core.inputs import as_generator

__all__ = [
    "DampedDoublePendulum",
    "DampedOscillator2D",
    "Inspiral",
    "UranusNeptune",
    "UranusNeptuneRing",
    "integrate",
    "rescale_time",
]

F64 = torch.float64


def _as_generator(generator: torch.Generator | int | None) -> torch.Generator | None:
    """``None`` (torch's global RNG) or a ``torch.Generator``; an int seeds a new one (once per call)."""
    return None if generator is None else as_generator(generator)


def _uniform(shape: tuple[int, ...], lo: float, hi: float, generator: torch.Generator | None) -> Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=generator, dtype=F64)


def integrate(
    accel: Callable[[Tensor, Tensor, float], Tensor],
    q0: Tensor,
    qdot0: Tensor,
    t_eval: Tensor,
    *,
    rtol: float = 1e-10,
    atol: float = 1e-10,
) -> tuple[Tensor, Tensor]:
    r"""Integrate $\ddot q = \text{accel}(q, \dot q, t)$ for a batch of initial states with DOP853 (all
    trajectories as one ODE system). ``q0, qdot0: (b, d)``, ``t_eval: (T,)`` increasing, starting at the initial time.
    Returns ``q, qdot: (T, b, d)``."""
    if q0.ndim != 2 or qdot0.shape != q0.shape:
        raise ValueError(f"q0 and qdot0 must have the same shape (batch, dim), got {tuple(q0.shape)}, "
                         f"{tuple(qdot0.shape)}")
    b, d = q0.shape
    ts = np.asarray(t_eval, dtype=np.float64)

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        s = torch.from_numpy(y).reshape(b, 2 * d)
        a = accel(s[:, :d], s[:, d:], t)
        return torch.cat([s[:, d:], a], dim=-1).reshape(-1).numpy()

    y0 = torch.cat([q0, qdot0], dim=-1).reshape(-1).numpy()
    sol = solve_ivp(rhs, (ts[0], ts[-1]), y0, method="DOP853", t_eval=ts, rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"integration failed: {sol.message}")
    ys = torch.from_numpy(sol.y.T.copy()).reshape(len(ts), b, 2 * d)
    return ys[..., :d].contiguous(), ys[..., d:].contiguous()


def _pack(sim, q: Tensor, qdot: Tensor, t: Tensor, traj: Tensor) -> dict[str, Tensor]:
    """Flatten (T, b, d) trajectories into samples and attach exact accelerations."""
    tt, b, d = q.shape
    q, qdot = q.transpose(0, 1).reshape(-1, d), qdot.transpose(0, 1).reshape(-1, d)
    t = t.transpose(0, 1).reshape(-1) if t.ndim == 2 else t.repeat(b)
    traj = traj.repeat_interleave(tt) if traj.numel() == b else traj
    a_c = sim.conservative_acceleration(q, qdot, t)
    a_nc = sim.nc_acceleration(q, qdot, t)
    return {"q": q, "qdot": qdot, "a": a_c + a_nc, "a_c": a_c, "a_nc": a_nc, "t": t, "traj_id": traj}


def rescale_time(data: dict[str, Tensor], unit: float) -> dict[str, Tensor]:
    r"""The same samples in the time unit ``unit`` (physical seconds per new unit, e.g. $\sqrt{l/g}$):
    $t' = t / u$, $\dot q' = u \dot q$, $a' = u^2 a$ (for ``a``, ``a_c``, ``a_nc``); ``q`` and other keys unchanged.
    ``unit = 1`` returns the data as they are."""
    if not (unit > 0 and math.isfinite(unit)):
        raise ValueError(f"time unit must be finite and > 0, got {unit}")
    out = dict(data)
    for key in ("a", "a_c", "a_nc"):
        if key in out:
            out[key] = out[key] * unit**2
    if "qdot" in out:
        out["qdot"] = out["qdot"] * unit
    if "t" in out:
        out["t"] = out["t"] / unit
    return out


class _System:
    """Shared pieces: total acceleration = conservative + non-conservative; batch integration."""

    dim = 2

    def conservative_acceleration(self, q: Tensor, qdot: Tensor, t: Tensor | float = 0.0) -> Tensor:
        raise NotImplementedError

    def nc_acceleration(self, q: Tensor, qdot: Tensor, t: Tensor | float = 0.0) -> Tensor:
        raise NotImplementedError

    def acceleration(self, q: Tensor, qdot: Tensor, t: Tensor | float = 0.0) -> Tensor:
        r"""Exact $\ddot q = a_c + a_{nc}$: ``(b, d), (b, d)`` -> ``(b, d)``."""
        return self.conservative_acceleration(q, qdot, t) + self.nc_acceleration(q, qdot, t)

    def simulate(self, q0: Tensor, qdot0: Tensor, t_eval: Tensor, **kw) -> tuple[Tensor, Tensor]:
        """Exact trajectories ``q, qdot: (T, b, d)`` at ``t_eval: (T,)`` (DOP853)."""
        return integrate(self.acceleration, q0, qdot0, t_eval, **kw)


# ----------------------------------------------------------------------------------------------- system 1


class DampedOscillator2D(_System):
    r"""Phase-transition toy: $a = -\nabla V(q) - \gamma \dot q$, $V(q) = \tfrac12 (q_1^2 + 2 q_2^2) + 0.1 q_1^2 q_2^2$,
    $\gamma = 0.5$ (unit mass)."""

    def __init__(self, *, gamma: float = 0.5, box: float = 1.5):
        self.gamma, self.box = float(gamma), float(box)

    def potential(self, q: Tensor) -> Tensor:
        q1, q2 = q[..., 0], q[..., 1]
        return 0.5 * (q1**2 + 2 * q2**2) + 0.1 * q1**2 * q2**2

    def lagrangian(self, q: Tensor, qdot: Tensor) -> Tensor:
        r"""$L = \tfrac12 |\dot q|^2 - V(q)$: ``(b,)``."""
        return 0.5 * (qdot**2).sum(-1) - self.potential(q)

    def energy(self, q: Tensor, qdot: Tensor) -> Tensor:
        return 0.5 * (qdot**2).sum(-1) + self.potential(q)

    def conservative_acceleration(self, q: Tensor, qdot: Tensor, t: Tensor | float = 0.0) -> Tensor:
        # −∇V = −(q₁ + 0.2 q₁q₂², 2q₂ + 0.2 q₁²q₂)
        q1, q2 = q[..., 0], q[..., 1]
        return -torch.stack([q1 + 0.2 * q1 * q2**2, 2 * q2 + 0.2 * q1**2 * q2], dim=-1)

    def nc_acceleration(self, q: Tensor, qdot: Tensor, t: Tensor | float = 0.0) -> Tensor:
        return -self.gamma * qdot

    def sample(self, n: int, generator: torch.Generator | int | None = None) -> dict[str, Tensor]:
        r"""n i.i.d. states $q, \dot q \sim U[-1.5, 1.5]^2$ with exact accelerations."""
        generator = _as_generator(generator)  # an int seed or a torch.Generator (None: global RNG)
        q = _uniform((n, 2), -self.box, self.box, generator)
        qdot = _uniform((n, 2), -self.box, self.box, generator)
        z = torch.zeros(n, dtype=F64)
        return _pack(self, q[None], qdot[None], z[None], torch.arange(n))

    def expected_nc_norm(self, norm: str = "l2") -> float:
        r"""$\mathbb E \lVert \gamma \dot q \rVert$ for $\dot q$ uniform on $[-b, b]^2$:
        $\gamma b (\sqrt2 + \ln(1 + \sqrt2)) / 3$ (l2) or $\gamma b$ (l1); 0.574 / 0.75."""
        if norm == "l1":
            return self.gamma * self.box
        return self.gamma * self.box * (math.sqrt(2) + math.log(1 + math.sqrt(2))) / 3


# ----------------------------------------------------------------------------------------------- system 2


class DampedDoublePendulum(_System):
    r"""Double pendulum (angles from the downward vertical) with friction.

    Conservative part (closed form), $\Delta = \theta_1 - \theta_2$:
    $\alpha_1 = \tfrac{l_2}{l_1} \tfrac{m_2}{m_1 + m_2} \cos\Delta$, $\alpha_2 = \tfrac{l_1}{l_2} \cos\Delta$,
    $f_1 = -\tfrac{l_2}{l_1} \tfrac{m_2}{m_1 + m_2} \omega_2^2 \sin\Delta - \tfrac{g}{l_1} \sin\theta_1$,
    $f_2 = \tfrac{l_1}{l_2} \omega_1^2 \sin\Delta - \tfrac{g}{l_2} \sin\theta_2$,
    $\ddot\theta_1 = (f_1 - \alpha_1 f_2)/(1 - \alpha_1 \alpha_2)$,
    $\ddot\theta_2 = (f_2 - \alpha_2 f_1)/(1 - \alpha_1 \alpha_2)$.
    Friction: ``"acceleration"`` adds $a_{nc} = -\gamma \dot q$ in acceleration space (default, $\gamma = 0.3$);
    ``"rayleigh"`` adds the generalized force $-\gamma \dot q$, i.e. $a_{nc} = -\gamma M(q)^{-1} \dot q$.
    """

    def __init__(
        self,
        *,
        gamma: float = 0.3,
        m1: float = 1.0,
        m2: float = 1.0,
        l1: float = 1.0,
        l2: float = 1.0,
        g: float = 9.8,
        friction: str = "acceleration",
    ):
        if friction not in ("acceleration", "rayleigh"):
            raise ValueError(f"friction must be 'acceleration' or 'rayleigh', got {friction!r}")
        self.gamma, self.m1, self.m2, self.l1, self.l2, self.g = map(float, (gamma, m1, m2, l1, l2, g))
        self.friction = friction

    @property
    def time_unit(self) -> float:
        r"""Natural time unit $\sqrt{l_1 / g}$ (≈ 0.319 s by default): the networks train in it (spec, revision 2)."""
        return math.sqrt(self.l1 / self.g)

    def mass_matrix(self, q: Tensor) -> Tensor:
        r"""$M(q) = \begin{pmatrix} (m_1 + m_2) l_1^2 & m_2 l_1 l_2 \cos\Delta \\ m_2 l_1 l_2 \cos\Delta & m_2 l_2^2
        \end{pmatrix}$: ``(b, 2, 2)``."""
        c = self.m2 * self.l1 * self.l2 * torch.cos(q[..., 0] - q[..., 1])
        m11 = torch.full_like(c, (self.m1 + self.m2) * self.l1**2)
        m22 = torch.full_like(c, self.m2 * self.l2**2)
        return torch.stack([torch.stack([m11, c], -1), torch.stack([c, m22], -1)], -2)

    def kinetic(self, q: Tensor, qdot: Tensor) -> Tensor:
        w1, w2 = qdot[..., 0], qdot[..., 1]
        return (
            0.5 * (self.m1 + self.m2) * self.l1**2 * w1**2
            + 0.5 * self.m2 * self.l2**2 * w2**2
            + self.m2 * self.l1 * self.l2 * w1 * w2 * torch.cos(q[..., 0] - q[..., 1])
        )

    def potential(self, q: Tensor) -> Tensor:
        return -(self.m1 + self.m2) * self.g * self.l1 * torch.cos(q[..., 0]) - self.m2 * self.g * self.l2 * torch.cos(
            q[..., 1]
        )

    def lagrangian(self, q: Tensor, qdot: Tensor) -> Tensor:
        """$L = T - V$: ``(b,)``."""
        return self.kinetic(q, qdot) - self.potential(q)

    def energy(self, q: Tensor, qdot: Tensor) -> Tensor:
        """$E = T + V$: ``(b,)``."""
        return self.kinetic(q, qdot) + self.potential(q)

    @property
    def energy_min(self) -> float:
        """$E_{min} = -(m_1 + m_2) g l_1 - m_2 g l_2$ (both arms hanging at rest); −29.4 by default."""
        return -(self.m1 + self.m2) * self.g * self.l1 - self.m2 * self.g * self.l2

    def conservative_acceleration(self, q: Tensor, qdot: Tensor, t: Tensor | float = 0.0) -> Tensor:
        t1, t2, w1, w2 = q[..., 0], q[..., 1], qdot[..., 0], qdot[..., 1]
        m1, m2, l1, l2, g = self.m1, self.m2, self.l1, self.l2, self.g
        delta = t1 - t2
        a1 = (l2 / l1) * (m2 / (m1 + m2)) * torch.cos(delta)
        a2 = (l1 / l2) * torch.cos(delta)
        f1 = -(l2 / l1) * (m2 / (m1 + m2)) * w2**2 * torch.sin(delta) - (g / l1) * torch.sin(t1)
        f2 = (l1 / l2) * w1**2 * torch.sin(delta) - (g / l2) * torch.sin(t2)
        den = 1 - a1 * a2
        return torch.stack([(f1 - a1 * f2) / den, (f2 - a2 * f1) / den], dim=-1)

    def nc_acceleration(self, q: Tensor, qdot: Tensor, t: Tensor | float = 0.0) -> Tensor:
        if self.friction == "acceleration":
            return -self.gamma * qdot
        return -self.gamma * torch.linalg.solve(self.mass_matrix(q), qdot)

    def initial_states(
        self, n_traj: int, generator: torch.Generator | int | None = None, *, theta_max: float = math.pi / 2,
        omega_max: float = 1.0,
    ) -> tuple[Tensor, Tensor]:
        r"""$\theta \sim U[-\theta_{max}, \theta_{max}]^2$, $\omega \sim U[-\omega_{max}, \omega_{max}]^2$:
        ``(n_traj, 2)`` each."""
        generator = _as_generator(generator)  # an int seed or a torch.Generator (None: global RNG)
        q = _uniform((n_traj, 2), -theta_max, theta_max, generator)
        qdot = _uniform((n_traj, 2), -omega_max, omega_max, generator)
        return q, qdot

    def sample(
        self,
        n_traj: int,
        t_span: tuple[float, float] = (0.0, 4.0),
        n_points: int = 200,
        generator: torch.Generator | int | None = None,
        *,
        theta_max: float = math.pi / 2,
        omega_max: float = 1.0,
    ) -> dict[str, Tensor]:
        """``n_traj`` trajectories from random initial states, ``n_points`` equally spaced samples each."""
        generator = _as_generator(generator)  # an int seed or a torch.Generator (None: global RNG)
        q0, qd0 = self.initial_states(n_traj, generator, theta_max=theta_max, omega_max=omega_max)
        t = torch.linspace(t_span[0], t_span[1], n_points, dtype=F64)
        q, qdot = self.simulate(q0, qd0, t)
        return _pack(self, q, qdot, t, torch.arange(n_traj))


# ----------------------------------------------------------------------------------------------- system 3


class UranusNeptune(_System):
    r"""Uranus around a fixed Sun ($G M_{sun} = 1$) perturbed by Neptune on a prescribed circular orbit.

    $a = -x/|x|^3 - \mu_N (x - x_N(t)) / |x - x_N(t)|^3$, $x_N(t) = r_N (\cos\varphi, \sin\varphi)$,
    $\varphi = \varphi_0 + \omega_N t$, $\omega_N = r_N^{-3/2}$, $\varphi_0 = t_c (1 - \omega_N)$ so that Neptune is in
    conjunction with the (unperturbed, unit-speed) Uranus at $t = t_c$. Variant A: Uranus only, from (1, 0) with
    velocity (0, 1), one orbit $t \in [0, 2\pi]$.
    The new physics is Neptune's pull.
    """

    def __init__(self, *, mu_n: float = 0.01, r_n: float = 1.57, t_conj: float = math.pi):
        self.mu_n, self.r_n, self.t_conj = float(mu_n), float(r_n), float(t_conj)
        self.omega_n = self.r_n**-1.5
        self.phi0 = self.t_conj * (1.0 - self.omega_n)

    def neptune_position(self, t: Tensor | float) -> Tensor:
        """$x_N(t)$: ``(b,)`` or scalar -> ``(b, 2)`` or ``(2,)``."""
        phi = self.phi0 + self.omega_n * torch.as_tensor(t, dtype=F64)
        return self.r_n * torch.stack([torch.cos(phi), torch.sin(phi)], dim=-1)

    def lagrangian(self, q: Tensor, qdot: Tensor) -> Tensor:
        r"""Sun-only $L = \tfrac12 |v|^2 + 1/|x|$."""
        return 0.5 * (qdot**2).sum(-1) + 1.0 / torch.linalg.vector_norm(q, dim=-1)

    def energy(self, q: Tensor, qdot: Tensor) -> Tensor:
        r"""Sun-only energy $\tfrac12 |v|^2 - 1/|x|$."""
        return 0.5 * (qdot**2).sum(-1) - 1.0 / torch.linalg.vector_norm(q, dim=-1)

    def conservative_acceleration(self, q: Tensor, qdot: Tensor, t: Tensor | float = 0.0) -> Tensor:
        r = torch.linalg.vector_norm(q, dim=-1, keepdim=True)
        return -q / r**3

    def nc_acceleration(self, q: Tensor, qdot: Tensor, t: Tensor | float = 0.0) -> Tensor:
        x_n = self.neptune_position(t)
        rel = q - x_n
        return -self.mu_n * rel / torch.linalg.vector_norm(rel, dim=-1, keepdim=True) ** 3

    def sample(
        self,
        n_traj: int = 1,
        t_span: tuple[float, float] = (0.0, 2 * math.pi),
        n_points: int = 2000,
        generator: torch.Generator | int | None = None,
    ) -> dict[str, Tensor]:
        """Uranus' orbit from (1, 0), velocity (0, 1): ``n_points`` samples over ``t_span`` (deterministic;
        ``n_traj`` must be 1 and ``generator`` is unused)."""
        generator = _as_generator(generator)  # an int seed or a torch.Generator (None: global RNG)
        if n_traj != 1:
            raise ValueError(f"UranusNeptune has a single trajectory, n_traj must be 1, got {n_traj}")
        t = torch.linspace(t_span[0], t_span[1], n_points, dtype=F64)
        q0 = torch.tensor([[1.0, 0.0]], dtype=F64)
        qd0 = torch.tensor([[0.0, 1.0]], dtype=F64)
        q, qdot = self.simulate(q0, qd0, t)
        return _pack(self, q, qdot, t, torch.zeros(1, dtype=torch.long))

    def sample_at(self, t: Tensor) -> dict[str, Tensor]:
        """The same orbit (from (1, 0) at t = 0) at the increasing times ``t: (T,)`` >= 0, e.g. held-out states
        between the training samples."""
        t = torch.as_tensor(t, dtype=F64)
        if t.ndim != 1 or t.numel() == 0 or bool((t < 0).any()) or bool((t.diff() <= 0).any()):
            raise ValueError(f"t must be a non-empty increasing 1-D tensor of times >= 0, got shape {tuple(t.shape)}")
        t_eval = t if float(t[0]) == 0.0 else torch.cat([t.new_zeros(1), t])
        q0 = torch.tensor([[1.0, 0.0]], dtype=F64)
        qd0 = torch.tensor([[0.0, 1.0]], dtype=F64)
        q, qdot = self.simulate(q0, qd0, t_eval)
        k = t_eval.numel() - t.numel()
        return _pack(self, q[k:], qdot[k:], t, torch.zeros(1, dtype=torch.long))


class UranusNeptuneRing(UranusNeptune):
    r"""Neptune variant B: ``n_particles`` massless test particles started on the unperturbed circle $r = 1$
    with the same sense of rotation and phases $\varphi_i = 2\pi i/n$, integrated for one period under the same
    Sun + Neptune. Every place on the ring is passed by all particles at different times, so a static Lagrangian cannot
    absorb the time-dependent pull (the UAN gets t as an extra input)."""

    def __init__(
        self, *, n_particles: int = 8, mu_n: float = 0.01, r_n: float = 1.57, t_conj: float = math.pi
    ):
        super().__init__(mu_n=mu_n, r_n=r_n, t_conj=t_conj)
        if n_particles <= 0:
            raise ValueError(f"n_particles must be positive, got {n_particles}")
        self.n_particles = int(n_particles)

    def sample(
        self,
        n_traj: int | None = None,
        t_span: tuple[float, float] = (0.0, 2 * math.pi),
        n_points: int = 250,
        generator: torch.Generator | int | None = None,
    ) -> dict[str, Tensor]:
        """All particles, ``n_points`` samples each (deterministic; ``generator`` unused)."""
        n = self.n_particles if n_traj is None else int(n_traj)
        phi = 2 * math.pi * torch.arange(n, dtype=F64) / n
        q0 = torch.stack([torch.cos(phi), torch.sin(phi)], -1)
        qd0 = torch.stack([-torch.sin(phi), torch.cos(phi)], -1)
        t = torch.linspace(t_span[0], t_span[1], n_points, dtype=F64)
        # the prescribed Neptune makes each particle's force depend on time: integrate them together
        q, qdot = integrate(
            lambda qq, vv, tt: self.acceleration(qq, vv, torch.full((qq.shape[0],), tt, dtype=F64)), q0, qd0, t
        )
        return _pack(self, q, qdot, t, torch.arange(n))


# ----------------------------------------------------------------------------------------------- system 4


def toy_radiation_reaction(beta: float) -> Callable[[Tensor, Tensor], Tensor]:
    r"""$a_{RR} = -\beta v / |x|^4$ (Peters' circular-orbit energy loss for
    $\beta = \tfrac{32}{5} \eta (GM)^3 / c^5$)."""

    def a_rr(x: Tensor, v: Tensor) -> Tensor:
        r = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
        return -beta * v / r**4

    return a_rr


class Inspiral(_System):
    r"""Relative two-body motion ($G M = 1$) with a dissipative radiation-reaction term:
    $a = -x/|x|^3 + a_{RR}(x, v)$, $a_{RR} = -\beta v / |x|^4$ by default ($\beta = 0.02$).

    ``radiation_reaction(x, v) -> (b, 2)`` can replace the toy drag (e.g. a 2.5PN expression). In the
    adiabatic limit $\beta \ll 1$ a quasi-circular orbit follows $r^4 = r_0^4 - 8 \beta t$.

    Initial states (``start``): ``"circular"`` — $r_0 \sim U[0.9, 1.1]$, speed $\sqrt{1/r_0}(1 + e)$ (initial
    eccentricity ≈ 2e), $e \sim U$(``e_range``) = U[0, 0.05] by default; ``"pericentre"`` — $r_0$ is the pericentre
    of an osculating Kepler orbit of eccentricity $e \sim U$(``e_range``), speed $\sqrt{(1 + e)/r_0}$, so that the
    radial velocity changes sign along the orbit (C4's eccentric inspirals, revision 2 of the spec). Both
    perpendicular to x, random orientation and sense of rotation.
    """

    _STARTS = ("circular", "pericentre")

    def __init__(
        self, *, beta: float = 0.02, radiation_reaction: Callable[[Tensor, Tensor], Tensor] | None = None,
        e_range: tuple[float, float] = (0.0, 0.05), start: str = "circular",
    ):
        if start not in self._STARTS:
            raise ValueError(f"start must be one of {self._STARTS}, got {start!r}")
        lo, hi = map(float, e_range)
        if not 0.0 <= lo <= hi < 1.0:
            raise ValueError(f"e_range must satisfy 0 <= lo <= hi < 1, got {e_range}")
        self.beta = float(beta)
        self.radiation_reaction = radiation_reaction or toy_radiation_reaction(self.beta)
        self.e_range, self.start = (lo, hi), start

    def lagrangian(self, q: Tensor, qdot: Tensor) -> Tensor:
        r"""Newtonian $L = \tfrac12 |v|^2 + 1/|x|$."""
        return 0.5 * (qdot**2).sum(-1) + 1.0 / torch.linalg.vector_norm(q, dim=-1)

    def energy(self, q: Tensor, qdot: Tensor) -> Tensor:
        return 0.5 * (qdot**2).sum(-1) - 1.0 / torch.linalg.vector_norm(q, dim=-1)

    def conservative_acceleration(self, q: Tensor, qdot: Tensor, t: Tensor | float = 0.0) -> Tensor:
        r = torch.linalg.vector_norm(q, dim=-1, keepdim=True)
        return -q / r**3

    def nc_acceleration(self, q: Tensor, qdot: Tensor, t: Tensor | float = 0.0) -> Tensor:
        return self.radiation_reaction(q, qdot)

    def initial_states(self, n_traj: int, generator: torch.Generator | int | None = None) -> tuple[Tensor, Tensor]:
        r"""$r_0 \sim U[0.9, 1.1]$ and the speed of ``start`` (class docstring) perpendicular to x, random
        orientation and sense of rotation: ``(n_traj, 2)`` each."""
        generator = _as_generator(generator)  # an int seed or a torch.Generator (None: global RNG)
        r0 = _uniform((n_traj,), 0.9, 1.1, generator)
        e = _uniform((n_traj,), *self.e_range, generator)
        psi = _uniform((n_traj,), 0.0, 2 * math.pi, generator)
        sense = torch.where(torch.rand(n_traj, generator=generator) < 0.5, -1.0, 1.0).to(F64)
        x_hat = torch.stack([torch.cos(psi), torch.sin(psi)], -1)
        perp = sense[:, None] * torch.stack([-torch.sin(psi), torch.cos(psi)], -1)
        speed = torch.sqrt(1 / r0) * (1 + e) if self.start == "circular" else torch.sqrt((1 + e) / r0)
        return r0[:, None] * x_hat, speed[:, None] * perp

    def sample(
        self,
        n_traj: int = 8,
        t_span: tuple[float, float] = (0.0, 100.0),
        n_points: int = 500,
        generator: torch.Generator | int | None = None,
        *,
        r_stop: float = 0.6,
    ) -> dict[str, Tensor]:
        """``n_traj`` inspirals integrated until r < ``r_stop`` (or ``t_span[1]``), ``n_points`` samples each,
        equally spaced in time."""
        generator = _as_generator(generator)  # an int seed or a torch.Generator (None: global RNG)
        q0, qd0 = self.initial_states(n_traj, generator)
        parts = []
        for i in range(n_traj):
            t_end = self.time_to_radius(q0[i : i + 1], qd0[i : i + 1], r_stop, t_max=t_span[1])
            t = torch.linspace(t_span[0], t_end, n_points, dtype=F64)
            q, qdot = self.simulate(q0[i : i + 1], qd0[i : i + 1], t)
            parts.append(_pack(self, q, qdot, t, torch.full((1,), i)))
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    def time_to_radius(self, q0: Tensor, qdot0: Tensor, r_stop: float, *, t_max: float = 100.0) -> float:
        """First time r(t) < r_stop for one initial state ``(1, 2)`` (``t_max`` if never)."""

        def rhs(t: float, y: np.ndarray) -> np.ndarray:
            s = torch.from_numpy(y)[None]
            return torch.cat([s[:, 2:], self.acceleration(s[:, :2], s[:, 2:], t)], -1)[0].numpy()

        def hit(t: float, y: np.ndarray) -> float:
            return float(np.hypot(y[0], y[1]) - r_stop)

        hit.terminal, hit.direction = True, -1
        y0 = torch.cat([q0, qdot0], -1)[0].numpy()
        sol = solve_ivp(rhs, (0.0, t_max), y0, method="DOP853", rtol=1e-10, atol=1e-10, events=hit)
        return float(sol.t_events[0][0]) if len(sol.t_events[0]) else float(t_max)
