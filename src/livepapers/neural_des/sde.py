"""Fixed-step Stratonovich/Itô SDE solvers, and reversible Heun with its exact (algebraically reversible) adjoint.

Reversible Heun (Kidger et al. 2021, arXiv:2105.13493, Alg. 1–2; thesis §5.4), state ``(y_n, z_n)`` plus the
cached ``(f_n, g_n) = (f, g)(t_n, z_n)``, ``z_0 = y_0``:

    z_{n+1} = 2 y_n − z_n + f_n Δt + g_n ΔW_n
    (f_{n+1}, g_{n+1}) = (f, g)(t_{n+1}, z_{n+1})          # the step's only vector-field evaluation
    y_{n+1} = y_n + ½(f_n + f_{n+1}) Δt + ½(g_n + g_{n+1}) ΔW_n

and its exact inverse (same ``ΔW``): ``z_n = 2 y_{n+1} − z_{n+1} − f_{n+1}Δt − g_{n+1}ΔW``,
``(f_n, g_n) = (f, g)(t_n, z_n)``, ``y_n = y_{n+1} − ½(f_n + f_{n+1})Δt − ½(g_n + g_{n+1})ΔW``. It converges to the
Stratonovich solution (strong order 1 for additive noise, ½ in general). Linear stability (``y' = λy``,
``μ = λΔt``): the step matrix has characteristic polynomial ``r² − 2μr − 1`` — stable only for ``μ ∈ [−i, i]``; for
real ``μ < 0`` a parasitic mode grows like ``(|μ| + √(1 + μ²))ⁿ`` (:func:`parasitic_root`), visible in ``y − z``.

:func:`sdeint_reversible` backpropagates with O(1) memory in the number of steps: the forward solve keeps no graph;
the backward pass reconstructs each state with the inverse step and takes the vector–Jacobian product of the step
map. Each backward step evaluates ``(f, g)`` once, with autograd on, at the reconstructed point, and reuses that
graph for the next step's VJP (torchsde's ``AdjointReversibleHeun`` evaluates twice), so a solve of ``N`` steps
costs ``N + 1`` evaluations forward and ``N + 1`` backward.

The ``sde`` protocol is torchsde's: attributes ``sde_type`` ("stratonovich"/"ito"), ``noise_type``
("diagonal"/"general"/"additive"/"scalar"), methods ``f(t, y)``, ``g(t, y)`` and optionally ``f_and_g(t, y)``.
Diffusion shapes: diagonal ``(b, d)`` with ``ΔW: (b, d)``; general/additive/scalar ``(b, d, m)`` with ``ΔW: (b, m)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["CountingSDE", "parasitic_root", "sdeint", "sdeint_reversible"]

METHODS = ("reversible_heun", "midpoint", "euler")
NOISE_TYPES = ("diagonal", "general", "additive", "scalar")


def _fg(sde: Any, t: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    if hasattr(sde, "f_and_g"):
        return sde.f_and_g(t, y)
    return sde.f(t, y), sde.g(t, y)


def _gdw(sde: Any, g: Tensor, dw: Tensor) -> Tensor:
    """``g ΔW``: elementwise for diagonal noise, a matrix–vector product otherwise."""
    if sde.noise_type == "diagonal":
        return g * dw
    return (g @ dw.unsqueeze(-1)).squeeze(-1)


def _check_sde(sde: Any, method: str) -> None:
    for name in ("sde_type", "noise_type"):
        if not hasattr(sde, name):
            raise ValueError(f"sde needs a {name!r} attribute (torchsde protocol)")
    if sde.noise_type not in NOISE_TYPES:
        raise ValueError(f"noise_type must be one of {NOISE_TYPES}, got {sde.noise_type!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    want = "ito" if method == "euler" else "stratonovich"
    if sde.sde_type != want:
        raise ValueError(f"method {method!r} solves {want} SDEs, but sde_type is {sde.sde_type!r}")


def _grid(ts: Tensor, dt: float) -> tuple[list[float], list[int]]:
    """Step times from ``ts[0]`` to ``ts[-1]`` with steps ≤ ``dt`` that land on every output time.

    Returns the step times and, for each output time, its index in them.
    """
    tl = [float(t) for t in ts]
    if any(b <= a for a, b in itertools.pairwise(tl)):
        raise ValueError("ts must be strictly increasing")
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be a finite number > 0, got {dt}")
    times, where = [tl[0]], [0]
    for a, b in itertools.pairwise(tl):
        k = max(1, math.ceil((b - a) / dt - 1e-9))
        times += [a + (b - a) * j / k for j in range(1, k)] + [b]
        where.append(len(times) - 1)
    return times, where


class _Increments:
    """``ΔW_n`` of a step grid from ``bm(ta, tb)`` or a precomputed ``(N, ...)`` tensor."""

    def __init__(self, bm: Callable | Tensor, times: Sequence[float]) -> None:
        self.bm, self.times = bm, times
        if isinstance(bm, Tensor) and bm.shape[0] != len(times) - 1:
            raise ValueError(f"precomputed increments need {len(times) - 1} rows, got {bm.shape[0]}")

    def __call__(self, n: int) -> Tensor:
        if isinstance(self.bm, Tensor):
            return self.bm[n]
        return self.bm(self.times[n], self.times[n + 1])


def _rh_step(sde: Any, t1: Tensor, dt: float, dw: Tensor, y: Tensor, z: Tensor, f: Tensor, g: Tensor
             ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    z1 = 2 * y - z + f * dt + _gdw(sde, g, dw)
    f1, g1 = _fg(sde, t1, z1)
    y1 = y + 0.5 * (f + f1) * dt + _gdw(sde, 0.5 * (g + g1), dw)
    return y1, z1, f1, g1


def sdeint(sde: Any, y0: Tensor, ts: Tensor, bm: Callable | Tensor | None = None, method: str = "reversible_heun",
           dt: float = 1e-2, return_aux: bool = False, generator: torch.Generator | None = None
           ) -> Tensor | tuple[Tensor, Tensor]:
    """Solve the SDE on a fixed grid with plain autograd (discretise-then-optimise).

    Args:
        sde: torchsde-protocol SDE.
        y0: ``(b, d)``.
        ts: ``(k,)`` output times.
        bm: ``bm(ta, tb) -> ΔW`` (e.g. :class:`BrownianInterval`) or precomputed increments ``(N, b, m)`` of the
            step grid; None: a BrownianInterval on ``[ts[0], ts[-1]]`` seeded from ``generator``.
        method: "reversible_heun" (Stratonovich), "midpoint" (Stratonovich), "euler" (Itô Euler–Maruyama).
        dt: step (steps land exactly on every output time).
        return_aux: reversible Heun also returns the auxiliary state ``z`` at the output times.

    Returns:
        ``(k, b, d)`` (and ``z`` of the same shape with ``return_aux``).
    """
    _check_sde(sde, method)
    ts = torch.as_tensor(ts, dtype=y0.dtype)
    times, where = _grid(ts, dt)
    if bm is None:
        from .brownian import BrownianInterval

        m = y0.shape[-1] if sde.noise_type == "diagonal" else _fg(sde, ts[0], y0)[1].shape[-1]
        ent = int(torch.randint(0, 2**62, (1,), generator=generator).item())
        bm = BrownianInterval(times[0], times[-1], (y0.shape[0], m), dtype=y0.dtype, entropy=ent, dt=dt)
    dW = _Increments(bm, times)
    tt = [torch.tensor(t, dtype=y0.dtype) for t in times]
    out, aux = [y0], [y0]
    y = y0
    if method == "reversible_heun":
        z = y0
        f, g = _fg(sde, tt[0], y0)
        for n in range(len(times) - 1):
            y, z, f, g = _rh_step(sde, tt[n + 1], times[n + 1] - times[n], dW(n), y, z, f, g)
            out.append(y)
            aux.append(z)
    elif method == "midpoint":
        for n in range(len(times) - 1):
            h, dw = times[n + 1] - times[n], dW(n)
            f, g = _fg(sde, tt[n], y)
            ym = y + 0.5 * f * h + 0.5 * _gdw(sde, g, dw)
            fm, gm = _fg(sde, tt[n] + 0.5 * h, ym)
            y = y + fm * h + _gdw(sde, gm, dw)
            out.append(y)
    else:  # euler (Itô)
        for n in range(len(times) - 1):
            h, dw = times[n + 1] - times[n], dW(n)
            f, g = _fg(sde, tt[n], y)
            y = y + f * h + _gdw(sde, g, dw)
            out.append(y)
    ys = torch.stack([out[i] for i in where])
    if return_aux:
        if method != "reversible_heun":
            raise ValueError("return_aux needs method='reversible_heun'")
        return ys, torch.stack([aux[i] for i in where])
    return ys


def reversible_heun_inverse(sde: Any, t0: Tensor, dt: float, dw: Tensor, y1: Tensor, z1: Tensor, f1: Tensor,
                            g1: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The exact inverse step: ``(y_{n+1}, z_{n+1}, f_{n+1}, g_{n+1}) ↦ (y_n, z_n, f_n, g_n)``."""
    z0 = 2 * y1 - z1 - f1 * dt - _gdw(sde, g1, dw)
    f0, g0 = _fg(sde, t0, z0)
    y0 = y1 - 0.5 * (f0 + f1) * dt - _gdw(sde, 0.5 * (g0 + g1), dw)
    return y0, z0, f0, g0


def reversible_heun_final_state(sde: Any, y0: Tensor, ts: Tensor, bm: Callable | Tensor, dt: float
                                ) -> tuple[tuple[Tensor, Tensor, Tensor, Tensor], list[float]]:
    """Forward solve without a graph: ``(y_N, z_N, f_N, g_N)`` and the step times (for reconstruction tests)."""
    times, _ = _grid(torch.as_tensor(ts), dt)
    dW = _Increments(bm, times)
    with torch.no_grad():
        y, z = y0, y0
        f, g = _fg(sde, torch.tensor(times[0], dtype=y0.dtype), y0)
        for n in range(len(times) - 1):
            y, z, f, g = _rh_step(sde, torch.tensor(times[n + 1], dtype=y0.dtype), times[n + 1] - times[n], dW(n),
                                  y, z, f, g)
    return (y, z, f, g), times


def reversible_heun_reconstruct(sde: Any, state: tuple[Tensor, Tensor, Tensor, Tensor], times: list[float],
                                bm: Callable | Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Run the inverse step from the final state back to ``times[0]``."""
    dW = _Increments(bm, times)
    y, z, f, g = state
    with torch.no_grad():
        for n in range(len(times) - 2, -1, -1):
            y, z, f, g = reversible_heun_inverse(sde, torch.tensor(times[n], dtype=y.dtype), times[n + 1] - times[n],
                                                 dW(n), y, z, f, g)
    return y, z, f, g


class _ReversibleAdjoint(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, sde: Any, times: list[float], where: list[int], dW: _Increments, y0: Tensor,
                *params: Tensor) -> Tensor:
        tt = [torch.tensor(t, dtype=y0.dtype) for t in times]
        with torch.no_grad():
            y, z = y0, y0
            f, g = _fg(sde, tt[0], y0)
            out = {0: y0}
            for n in range(len(times) - 1):
                y, z, f, g = _rh_step(sde, tt[n + 1], times[n + 1] - times[n], dW(n), y, z, f, g)
                out[n + 1] = y
        ctx.sde, ctx.times, ctx.where, ctx.dW, ctx.tt = sde, times, where, dW, tt
        ctx.save_for_backward(y, z, f, g)
        ctx.n_params = len(params)
        return torch.stack([out[i] for i in where])

    @staticmethod
    def backward(ctx: Any, grad_ys: Tensor) -> tuple[Any, ...]:
        sde, times, where, dW, tt = ctx.sde, ctx.times, ctx.where, ctx.dW, ctx.tt
        params = [p for p in sde.parameters() if p.requires_grad] if isinstance(sde, nn.Module) else []
        y, z, f, g = ctx.saved_tensors
        N = len(times) - 1
        obs: dict[int, Tensor] = {}
        for k, i in enumerate(where):
            obs[i] = obs[i] + grad_ys[k] if i in obs else grad_ys[k]
        a_y = obs.get(N, torch.zeros_like(y))
        a_z = torch.zeros_like(z)
        a_f = torch.zeros_like(f)
        a_g = torch.zeros_like(g)
        a_p = [torch.zeros_like(p) for p in params]
        # the evaluation at (t_N, z_N), with a graph, for the VJP of step N-1
        with torch.enable_grad():
            zl = z.detach().requires_grad_(True)
            fl, gl = _fg(sde, tt[N], zl)
        for n in range(N - 1, -1, -1):
            h, dw = times[n + 1] - times[n], dW(n)
            # adjoints of f_{n+1}, g_{n+1} including their use in y_{n+1} = y_n + ½(f_n + f_{n+1})h + ½(g_n + g_{n+1})ΔW
            af1 = a_f + 0.5 * h * a_y
            ag1 = a_g + 0.5 * _outer(sde, a_y, dw)
            # VJP through (f_{n+1}, g_{n+1}) = (f, g)(t_{n+1}, z_{n+1})
            grads = _vjp((fl, gl), (af1, ag1), (zl, *params))
            az1 = a_z + _nz(grads[0], zl)
            for j, gp in enumerate(grads[1:]):
                if gp is not None:
                    a_p[j] = a_p[j] + gp
            # reconstruct step n (inverse step), evaluating (f_n, g_n) with a graph for the next VJP
            with torch.no_grad():
                z_n = 2 * y - zl - fl * h - _gdw(sde, gl, dw)
            with torch.enable_grad():
                zl_n = z_n.detach().requires_grad_(True)
                fl_n, gl_n = _fg(sde, tt[n], zl_n)
            with torch.no_grad():
                y = y - 0.5 * (fl_n + fl) * h - _gdw(sde, 0.5 * (gl_n + gl), dw)
            # adjoints at step n: z_{n+1} = 2y_n − z_n + f_n h + g_n ΔW and y_{n+1} = y_n + ½ f_n h + ½ g_n ΔW + …
            a_y_n = a_y + 2 * az1
            a_z = -az1
            a_f = h * az1 + 0.5 * h * a_y
            a_g = _outer(sde, az1, dw) + 0.5 * _outer(sde, a_y, dw)
            a_y = a_y_n + obs[n] if n in obs and n != N else a_y_n
            zl, fl, gl = zl_n, fl_n, gl_n
        # z_0 = y_0 and (f_0, g_0) = (f, g)(t_0, y_0)
        grads = _vjp((fl, gl), (a_f, a_g), (zl, *params))
        a_y0 = a_y + a_z + _nz(grads[0], zl)
        for j, gp in enumerate(grads[1:]):
            if gp is not None:
                a_p[j] = a_p[j] + gp
        return (None, None, None, None, a_y0, *a_p)


def _vjp(outs: tuple[Tensor, ...], cots: tuple[Tensor, ...], inputs: tuple[Tensor, ...]) -> tuple[Tensor | None, ...]:
    """``Σ cotᵀ ∂out/∂input`` over the outputs that carry a graph (a constant diffusion has none)."""
    pairs = [(o, c) for o, c in zip(outs, cots) if o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    return torch.autograd.grad([o for o, _ in pairs], inputs, [c for _, c in pairs], allow_unused=True)


def _nz(g: Tensor | None, like: Tensor) -> Tensor:
    return torch.zeros_like(like) if g is None else g


def _outer(sde: Any, a: Tensor, dw: Tensor) -> Tensor:
    """Adjoint of ``g ↦ g ΔW`` given the output adjoint ``a``: ``a ⊙ ΔW`` (diagonal) or ``a ΔWᵀ``."""
    if sde.noise_type == "diagonal":
        return a * dw
    return a.unsqueeze(-1) * dw.unsqueeze(-2)


def sdeint_reversible(sde: nn.Module, y0: Tensor, ts: Tensor, bm: Callable | Tensor, dt: float) -> Tensor:
    """Reversible Heun with the exact reversible adjoint (memory O(1) in the number of steps).

    Gradients w.r.t. ``y0`` and ``sde.parameters()`` equal backprop through :func:`sdeint` (same ``bm``) up to
    floating-point round-off. ``bm`` must return the same increments when queried again (a
    :class:`BrownianInterval` or a precomputed tensor ``(N, b, m)``). Single backward only (no double backprop).

    Returns:
        ``(k, b, d)``.
    """
    _check_sde(sde, "reversible_heun")
    if not isinstance(sde, nn.Module):
        raise ValueError("sdeint_reversible needs the sde to be an nn.Module (its parameters get gradients)")
    ts = torch.as_tensor(ts, dtype=y0.dtype)
    times, where = _grid(ts, dt)
    params = [p for p in sde.parameters() if p.requires_grad]
    return _ReversibleAdjoint.apply(sde, times, where, _Increments(bm, times), y0, *params)


def parasitic_root(mu: float) -> float:
    """Modulus of reversible Heun's parasitic root for ``y' = λy`` with real ``μ = λΔt < 0``: ``|μ| + √(1 + μ²)``."""
    return abs(mu) + math.sqrt(1 + mu * mu)


class CountingSDE(nn.Module):
    """Wraps an SDE and counts ``f_and_g`` evaluations (``nfe``); ``f``/``g`` alone count too."""

    def __init__(self, sde: Any) -> None:
        super().__init__()
        self.inner = sde
        self.sde_type, self.noise_type = sde.sde_type, sde.noise_type
        self.nfe = 0

    def f_and_g(self, t: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        self.nfe += 1
        return _fg(self.inner, t, y)

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        self.nfe += 1
        return self.inner.f(t, y)

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        return self.inner.g(t, y)
