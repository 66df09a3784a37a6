r"""The combined equation of MP-PDE's experiments E1–E3 and our WENO5 finite-volume + SSP-RK3 reference solver.

Written as the official code implements it (the paper writes the advective flux as α_paper·u², α_paper = α/2):

$$\partial_t u + \partial_x\big(\alpha u^2/2 - \beta\,\partial_x u + \gamma\,\partial_{xx} u\big) = \delta(t, x),
\qquad \delta(t, x) = \sum_{j=1}^{J} A_j \sin(\omega_j t + 2\pi \ell_j x / L + \phi_j),$$

on the periodic interval ``[0, L)``. Burgers is (α, β, γ) = (1, 0, 0) (E1) or (1, β, 0) (E2), KdV (6, 0, 1), heat
(0, β, 0).

Shapes: ``b`` batch of trajectories, ``j`` forcing modes (J = 5), ``n`` grid cells / points, ``t`` stored times.
Everything here is float64 NumPy (the solver is vectorised over the batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# Jiang–Shu linear weights (d_0, d_1, d_2) of the three WENO5 candidate stencils
_D = (0.1, 0.6, 0.3)


def _as_batch(v: float | np.ndarray, b: int, name: str) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 0:
        return np.full(b, float(a))
    if a.shape != (b,):
        raise ValueError(f"{name} must be a scalar or have shape ({b},), got {a.shape}")
    return a


@dataclass(frozen=True)
class CombinedEquation:
    """Coefficients of ``∂_t u + ∂_x(α u²/2 − β ∂_x u + γ ∂_xx u) = δ`` on ``[0, L)``.

    Args:
        alpha: α ≥ 0, advection (scalar or one per trajectory, shape ``(b,)``).
        beta: β ≥ 0, diffusion (enters as ``+β u_xx``).
        gamma: γ ≥ 0, dispersion (enters as ``−γ u_xxx``).
        L: domain length.
    """

    alpha: float | np.ndarray = 1.0
    beta: float | np.ndarray = 0.0
    gamma: float | np.ndarray = 0.0
    L: float = 16.0

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "gamma"):
            v = np.asarray(getattr(self, name), dtype=np.float64)
            if not np.all(np.isfinite(v)) or np.any(v < 0):
                raise ValueError(f"{name} must be finite and ≥ 0, got {getattr(self, name)!r}")
        if not self.L > 0:
            raise ValueError(f"L must be > 0, got {self.L}")

    def coefficients(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(α, β, γ), each of shape ``(b,)``."""
        return (_as_batch(self.alpha, b, "alpha"), _as_batch(self.beta, b, "beta"),
                _as_batch(self.gamma, b, "gamma"))


class SampledForcing:
    r"""δ(t, ·) on a fixed grid as ``Σ_j cos(a_j) P_j + sin(a_j) Q_j`` with ``a_j = ω_j t + φ_j``.

    The angle-addition form costs O(b·J) trigonometric calls per evaluation; the spatial factors ``P, Q``
    (shape ``(b, j, n)``) are precomputed (spec: "Forcing evaluation dominates a naive solver").
    """

    def __init__(self, omega: np.ndarray, phi: np.ndarray, P: np.ndarray, Q: np.ndarray) -> None:
        self.omega, self.phi, self.P, self.Q = omega, phi, P, Q

    @property
    def n(self) -> int:
        return self.P.shape[-1]

    def __call__(self, t: float) -> np.ndarray:
        """δ at time ``t``: ``(b, n)``."""
        a = self.omega * t + self.phi  # (b, j)
        return (np.einsum("bj,bjn->bn", np.cos(a), self.P, optimize=False)
                + np.einsum("bj,bjn->bn", np.sin(a), self.Q, optimize=False))


@dataclass(frozen=True)
class Forcing:
    """The random forcing ``δ(t, x) = Σ_j A_j sin(ω_j t + 2π ℓ_j x / L + φ_j)`` (one set of modes per trajectory).

    Attributes (each ``(b, J)``): ``A`` amplitudes, ``omega`` ω_j, ``phi`` φ_j, ``ell`` ℓ_j (integers); ``L``.
    """

    A: np.ndarray
    omega: np.ndarray
    phi: np.ndarray
    ell: np.ndarray
    L: float = 16.0

    @classmethod
    def sample(cls, n: int, generator: torch.Generator, J: int = 5, L: float = 16.0, ell_max: int = 2,
               amplitude: float = 0.5, omega_max: float = 0.4) -> Forcing:
        """Draw ``n`` forcings: A ~ U(−0.5, 0.5), ω ~ U(−0.4, 0.4), φ ~ U(0, 2π), ℓ uniform on {1, …, ell_max}.

        ``ell_max=2`` is the official code's ``randint(1, 3)``; the paper's text says {1, 2, 3}.
        """
        if n < 0 or J < 1 or ell_max < 1:
            raise ValueError(f"Forcing.sample needs n ≥ 0, J ≥ 1, ell_max ≥ 1; got n={n}, J={J}, ell_max={ell_max}")
        u = torch.rand(n, J, 3, generator=generator, dtype=torch.float64).numpy()
        ell = torch.randint(1, ell_max + 1, (n, J), generator=generator).numpy().astype(np.float64)
        return cls(A=(2 * u[..., 0] - 1) * amplitude, omega=(2 * u[..., 1] - 1) * omega_max,
                   phi=2 * np.pi * u[..., 2], ell=ell, L=float(L))

    def __len__(self) -> int:
        return self.A.shape[0]

    def subset(self, idx: np.ndarray) -> Forcing:
        return Forcing(self.A[idx], self.omega[idx], self.phi[idx], self.ell[idx], self.L)

    @property
    def k(self) -> np.ndarray:
        """Wave numbers ``k_j = 2π ℓ_j / L``, ``(b, J)``."""
        return 2 * np.pi * self.ell / self.L

    def value(self, t: float, x: np.ndarray) -> np.ndarray:
        """Point values δ(t, x): ``x`` of shape ``(n,)`` → ``(b, n)``."""
        return self.at_points(x)(t)

    def cell_average(self, t: float, nx: int) -> np.ndarray:
        """Exact averages of δ(t, ·) over the cells ``[iΔx, (i+1)Δx)``, Δx = L/nx: ``(b, nx)``."""
        return self.on_cells(nx)(t)

    def at_points(self, x: np.ndarray) -> SampledForcing:
        """δ at the points ``x`` (shape ``(n,)``): sin(a + kx) = sin a·cos kx + cos a·sin kx."""
        kx = self.k[:, :, None] * np.asarray(x, dtype=np.float64)[None, None, :]
        A = self.A[:, :, None]
        return SampledForcing(self.omega, self.phi, P=A * np.sin(kx), Q=A * np.cos(kx))

    def on_cells(self, nx: int) -> SampledForcing:
        """Cell averages on ``nx`` uniform cells: mean of A sin(a + kx) over a cell = A[cos(a + kx_i) −
        cos(a + kx_{i+1})]/(kΔx), expanded with the angle-addition identity."""
        dx = self.L / nx
        edges = np.arange(nx + 1, dtype=np.float64) * dx
        k = self.k[:, :, None]
        c, s = np.cos(k * edges), np.sin(k * edges)  # (b, j, nx + 1)
        A = self.A[:, :, None] / (k * dx)
        # cos(a + kx) = cos a cos kx − sin a sin kx
        P = A * (c[..., :-1] - c[..., 1:])  # coefficient of cos a
        Q = A * (s[..., 1:] - s[..., :-1])  # coefficient of sin a
        return SampledForcing(self.omega, self.phi, P=P, Q=Q)


# ----------------------------------------------------------------------------------------------- WENO5


def _weno_side(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, e: np.ndarray,
               eps: float) -> np.ndarray:
    """WENO5 (Jiang–Shu) value at the interface right of ``c`` from the stencil (a, b, c, d, e) =
    (u_{j−2}, u_{j−1}, u_j, u_{j+1}, u_{j+2}); the right-biased value is the mirror image."""
    # smoothness indicators β_0, β_1, β_2
    b0 = 13 / 12 * (a - 2 * b + c) ** 2 + 0.25 * (a - 4 * b + 3 * c) ** 2
    b1 = 13 / 12 * (b - 2 * c + d) ** 2 + 0.25 * (b - d) ** 2
    b2 = 13 / 12 * (c - 2 * d + e) ** 2 + 0.25 * (3 * c - 4 * d + e) ** 2
    # nonlinear weights ∝ d_k / (ε + β_k)²
    w0 = _D[0] / (eps + b0) ** 2
    w1 = _D[1] / (eps + b1) ** 2
    w2 = _D[2] / (eps + b2) ** 2
    # candidate values
    q0 = (2 * a - 7 * b + 11 * c) / 6
    q1 = (-b + 5 * c + 2 * d) / 6
    q2 = (2 * c + 5 * d - e) / 6
    return (w0 * q0 + w1 * q1 + w2 * q2) / (w0 + w1 + w2)


def godunov_burgers_flux(uL: np.ndarray, uR: np.ndarray) -> np.ndarray:
    """Exact Godunov flux of f(u) = u²/2: ``min(f(uL), f(uR))`` if uL ≤ uR (0 when uL ≤ 0 ≤ uR, the transonic
    rarefaction the official code omits), ``max(f(uL), f(uR))`` if uL > uR."""
    fL, fR = 0.5 * uL**2, 0.5 * uR**2
    rare = np.where((uL <= 0) & (uR >= 0), 0.0, np.minimum(fL, fR))
    return np.where(uL <= uR, rare, np.maximum(fL, fR))


def combined_rhs(u: np.ndarray, t: float, alpha: np.ndarray, beta: np.ndarray, gamma: np.ndarray, dx: float,
                 forcing: SampledForcing | None, weno_eps: float = 1e-6) -> np.ndarray:
    """Semi-discrete right-hand side ``du/dt`` on a periodic grid: ``u`` ``(b, n)`` → ``(b, n)``.

    Advection: −(F_{i+1/2} − F_{i−1/2})/Δx with F = α·Godunov(WENO5 u_L, WENO5 u_R); diffusion
    +β(−u_{i+2} + 16u_{i+1} − 30u_i + 16u_{i−1} − u_{i−2})/(12Δx²); dispersion −γ(u_{i+2} − 2u_{i+1} + 2u_{i−1} −
    u_{i−2})/(2Δx³); plus δ(t). α, β, γ have shape ``(b,)``.
    """
    n = u.shape[1]
    p = np.concatenate([u[:, -3:], u, u[:, :3]], axis=1)  # 3 ghost cells each side: u_i = p[:, i + 3]

    def s(k: int, m: int = n, start: int = 0) -> np.ndarray:  # u_{i+k} for i = start … start + m − 1
        return p[:, 3 + start + k: 3 + start + k + m]

    out = np.zeros_like(u)
    if np.any(alpha != 0):
        m = n + 1  # interfaces i + 1/2 for i = −1 … n − 1
        # left-biased (u_{i−2} … u_{i+2}) and right-biased (mirror: u_{i+3} … u_{i−1}) values in one call
        st = [np.stack([s(kl, m, -1), s(kr, m, -1)]) for kl, kr in zip((-2, -1, 0, 1, 2), (3, 2, 1, 0, -1))]
        uL, uR = _weno_side(*st, weno_eps)
        F = alpha[:, None] * godunov_burgers_flux(uL, uR)
        out -= (F[:, 1:] - F[:, :-1]) / dx
    if np.any(beta != 0):
        out += beta[:, None] * (-s(2) + 16 * s(1) - 30 * s(0) + 16 * s(-1) - s(-2)) / (12 * dx**2)
    if np.any(gamma != 0):
        out -= gamma[:, None] * (s(2) - 2 * s(1) + 2 * s(-1) - s(-2)) / (2 * dx**3)
    if forcing is not None:
        out += forcing(t)
    return out


def stable_dt(u: np.ndarray, alpha: np.ndarray, beta: np.ndarray, gamma: np.ndarray, dx: float,
              cfl: float = 0.4) -> float:
    """Δt = min(cfl·Δx/(α max|u| + 1e-8), 0.25Δx²/β, 0.5Δx³/γ) over the batch (zero-coefficient terms dropped)."""
    dts = [np.inf]
    if np.any(alpha != 0):
        speed = float(np.max(alpha * np.max(np.abs(u), axis=1)))
        dts.append(cfl * dx / (speed + 1e-8))
    if np.any(beta != 0):
        dts.append(0.25 * dx**2 / float(np.max(beta)))
    if np.any(gamma != 0):
        dts.append(0.5 * dx**3 / float(np.max(gamma)))
    return float(min(dts))


def weno5_solve(u0: np.ndarray, forcing: Forcing | SampledForcing | None, eq: CombinedEquation,
                t_eval: np.ndarray, dx: float, cfl: float = 0.4, weno_eps: float = 1e-6,
                return_steps: bool = False) -> np.ndarray | tuple[np.ndarray, int]:
    """Finite-volume WENO5 + SSP-RK3 solve of the combined equation on a periodic grid, vectorised over the batch.

    Args:
        u0: initial values ``(b, n)`` (cell averages or point values — the caller's convention).
        forcing: a :class:`Forcing` (then its exact cell averages on ``n`` cells of width ``dx`` are used), a
            :class:`SampledForcing` already on the grid (e.g. ``Forcing.at_points``), or None.
        eq: the coefficients (scalars or ``(b,)``).
        t_eval: increasing stored times ``(nt,)``; ``t_eval[0]`` is the time of ``u0``.
        dx: cell width Δx (the official pipeline uses L/nx with nx − 1 distinct points).
        cfl: advective CFL number; weno_eps: ε in the WENO weights (official code: 1e-16).

    Returns:
        ``(b, nt, n)`` float64 (and the number of SSP-RK3 steps with ``return_steps``). Time steps follow
        :func:`stable_dt`, shortened to land exactly on each stored time:
        u¹ = u + Δt R(u, t); u² = ¾u + ¼(u¹ + Δt R(u¹, t + Δt)); uⁿ⁺¹ = ⅓u + ⅔(u² + Δt R(u², t + ½Δt)).
    """
    u = np.array(u0, dtype=np.float64)
    if u.ndim != 2:
        raise ValueError(f"u0 must have shape (b, n), got {u.shape}")
    b, n = u.shape
    if n < 5:
        raise ValueError(f"WENO5 needs at least 5 cells, got n={n}")
    t_eval = np.asarray(t_eval, dtype=np.float64)
    if t_eval.ndim != 1 or np.any(np.diff(t_eval) <= 0):
        raise ValueError("t_eval must be a strictly increasing 1-D array")
    if isinstance(forcing, Forcing):
        if len(forcing) != b:
            raise ValueError(f"forcing has {len(forcing)} trajectories, u0 has {b}")
        if not np.isclose(forcing.L, n * dx):
            raise ValueError(f"Forcing cell averages need n·dx = L ({n}·{dx} ≠ {forcing.L}); "
                             "pass Forcing.at_points(x) for other grids")
        forcing = forcing.on_cells(n)
    alpha, beta, gamma = eq.coefficients(b)
    out = np.empty((b, len(t_eval), n))
    out[:, 0] = u
    t = float(t_eval[0])
    steps = 0

    def R(v: np.ndarray, tt: float) -> np.ndarray:
        return combined_rhs(v, tt, alpha, beta, gamma, dx, forcing, weno_eps)

    for k in range(1, len(t_eval)):
        t_next = float(t_eval[k])
        while t < t_next - 1e-12 * max(1.0, abs(t_next)):
            dt = min(stable_dt(u, alpha, beta, gamma, dx, cfl), t_next - t)
            u1 = u + dt * R(u, t)
            u2 = 0.75 * u + 0.25 * (u1 + dt * R(u1, t + dt))
            u = u / 3 + 2 / 3 * (u2 + dt * R(u2, t + 0.5 * dt))
            t += dt
            steps += 1
        t = t_next
        out[:, k] = u
    return (out, steps) if return_steps else out


__all__ = ["CombinedEquation", "Forcing", "SampledForcing", "combined_rhs", "godunov_burgers_flux", "stable_dt",
           "weno5_solve"]
