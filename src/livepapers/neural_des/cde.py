"""Neural ODEs and neural CDEs on torchdiffeq (thesis §2–3; Kidger et al. 2020, arXiv:2005.08926).

* Neural ODE: ``z(T) = z(t_0) + ∫ f_θ(t, z) dt``; gradients by discretise-then-optimise (autograd through the
  solver) or the adjoint; the adjoint's step-size control may use the *seminorm* (ignore the parameter-adjoint
  channels: ``adjoint_options=dict(norm="seminorm")``, arXiv:2009.09457).
* Neural CDE: ``z_t = z_{t_0} + ∫ f_θ(z_s) dX_s``, solved as the ODE ``dz/ds = f_θ(z_s) · dX/ds(s)`` (a
  matrix–vector product; ``f_θ: R^w → R^{w×(v+1)}``); ``z_{t_0} = ζ_θ(t_0, x_0)``, ``y = ℓ_θ(z_{t_n})``.

Shape letters: ``b`` batch, ``w`` hidden, ``c`` input channels (time included), ``n`` knots.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torchdiffeq
from torch import Tensor, nn

from .interpolation import (
    CubicSpline,
    LinearInterpolation,
    hermite_cubic_coefficients_with_backward_differences,
    linear_interpolation_coeffs,
    natural_cubic_coeffs,
)

__all__ = ["CDEFunc", "NeuralCDE", "NeuralODE", "cdeint", "intensity_channels", "rms_norm_full", "rms_seminorm"]

FIXED = ("euler", "midpoint", "rk4", "explicit_adams", "implicit_adams")
ADAPTIVE = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun")


class _CDEVectorField(nn.Module):
    """``f(s, z) = func(s, z) · dX/ds(s)`` — the CDE as an ODE (an nn.Module so the adjoint finds parameters)."""

    def __init__(self, X: Any, func: nn.Module | Callable) -> None:
        super().__init__()
        self.X = X
        self.func = func
        self.nfe = 0

    def forward(self, s: Tensor, z: Tensor) -> Tensor:
        self.nfe += 1
        fz = self.func(s, z)  # (..., w, c)
        # ``s`` is detached: torchdiffeq 0.2.5's adjoint sets ``requires_grad_(True)`` on the time tensor in place,
        # so without the detach the backward solve would carry a time adjoint a_t = −∫ a_zᵀ f(z) d²X/ds² ds and
        # error-control it; d²X/ds² jumps at every knot of a C¹ Hermite path, so a_t dominated the error norm.
        # Nothing needs dL/ds here (the output times are fixed), forward values and parameter gradients are unchanged.
        dX = self.X.derivative(s.detach() if isinstance(s, Tensor) else s)  # (..., c)
        return (fz @ dX.unsqueeze(-1)).squeeze(-1)


def cdeint(X: Any, func: nn.Module | Callable, z0: Tensor, t: Tensor, adjoint: bool = False, method: str = "rk4",
           options: dict | None = None, **kwargs: Any) -> Tensor:
    """Solve ``dz = f(z) dX`` along the path ``X`` (torchcde's ``cdeint`` contract).

    Unlike torchcde, ``adjoint`` defaults to False (discretise-then-optimise is faster at our sizes). Fixed-step
    methods default to ``step_size`` = the smallest gap between ``X.grid_points`` (1 with the index
    parameterisation); on a linear path they are run with ``perturb=True`` (first stage just after, last just
    before each step) and adaptive ones get ``jump_t`` = the knots. ``dopri5`` etc. default to rtol 1e-4,
    atol 1e-6 (torchcde's values).

    Args:
        X: a path with ``.derivative(s) -> (..., c)`` and ``.grid_points`` (:class:`LinearInterpolation`,
            :class:`CubicSpline`).
        func: ``func(s, z) -> (..., w, c)``.
        z0: ``(..., w)``.
        t: ``(k,)`` output times (in X's parameterisation).
        adjoint: optimise-then-discretise (``torchdiffeq.odeint_adjoint``); ``adjoint_options`` via kwargs.

    Returns:
        ``(..., k, w)``.
    """
    if not hasattr(X, "derivative"):
        raise ValueError("X must be a path with .derivative(s) (LinearInterpolation or CubicSpline)")
    t = torch.as_tensor(t, dtype=z0.dtype, device=z0.device)
    if t.ndim != 1 or t.shape[0] < 2:
        raise ValueError(f"t must be a 1-D tensor of at least 2 output times, got shape {tuple(t.shape)}")
    options = dict(options or {})
    vf = kwargs.pop("_vector_field", None) or _CDEVectorField(X, func)
    grid = X.grid_points
    if method in FIXED:
        if "step_size" not in options and "grid_constructor" not in options:
            options["step_size"] = float((grid[1:] - grid[:-1]).min())
        if isinstance(X, LinearInterpolation):
            options.setdefault("perturb", True)
    elif method in ADAPTIVE:
        kwargs.setdefault("rtol", 1e-4)
        kwargs.setdefault("atol", 1e-6)
        if isinstance(X, LinearInterpolation) and "jump_t" not in options:
            options["jump_t"] = grid
    else:
        raise ValueError(f"method must be one of {FIXED + ADAPTIVE}, got {method!r}")
    solve = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint
    if adjoint:
        kwargs.setdefault("adjoint_params", tuple(vf.parameters()))
    zs = solve(vf, z0, t, method=method, options=options, **kwargs)  # (k, ..., w)
    return zs.movedim(0, -2)


class CDEFunc(nn.Module):
    """The CDE vector field ``f_θ``: MLP ``w → width (×depth, ReLU) → w·c`` with a final tanh, as ``(w, c)``."""

    def __init__(self, input_channels: int, hidden_channels: int, width: int = 128, depth: int = 1) -> None:
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"width and depth must be >= 1, got width={width}, depth={depth}")
        layers: list[nn.Module] = [nn.Linear(hidden_channels, width), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.ReLU()]
        layers += [nn.Linear(width, hidden_channels * input_channels), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.input_channels, self.hidden_channels = input_channels, hidden_channels

    def forward(self, s: Tensor, z: Tensor) -> Tensor:
        return self.net(z).view(*z.shape[:-1], self.hidden_channels, self.input_channels)


INTERPOLATIONS = ("hermite", "natural", "linear")


class NeuralCDE(nn.Module):
    """Neural CDE classifier/regressor: ``z_0 = ζ(x_0)``, ``dz = f_θ(z) dX``, ``y = ℓ(z_T)``.

    ``forward(times, values_with_nans)`` builds the path from the observations (time channel prepended), so
    the model has the same contract as the baselines; :meth:`forward_coeffs` takes pre-computed coefficients.

    Args:
        input_channels: channels of X *including* the time channel (``v + 1``).
        hidden_channels: ``w``.
        output_channels: logits / outputs.
        width, depth: the vector field's MLP (torchcde example: 128, 1; the NCDE paper's UEA runs: 32, 3).
        interpolation: "hermite" (default), "natural" or "linear".
        method: solver (``rk4`` with step 1 in the index parameterisation by default).
        intensity: append, per data channel, the cumulative count of its observations ("observational
            intensity", the NCDE paper's "OI" variant); then ``input_channels = 1 + 2v``. Off by default.
    """

    def __init__(self, input_channels: int, hidden_channels: int, output_channels: int, width: int = 128,
                 depth: int = 1, interpolation: str = "hermite", method: str = "rk4", intensity: bool = False) -> None:
        super().__init__()
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        if intensity and (input_channels - 1) % 2:
            raise ValueError(f"with intensity=True input_channels must be 1 + 2v (time, v values, v counts), "
                             f"got {input_channels}")
        self.intensity = intensity
        self.func = CDEFunc(input_channels, hidden_channels, width, depth)
        self.initial = nn.Linear(input_channels, hidden_channels)
        self.readout = nn.Linear(hidden_channels, output_channels)
        self.interpolation, self.method = interpolation, method
        self.input_channels = input_channels

    def coeffs(self, times: Tensor, values: Tensor) -> Tensor:
        """Path coefficients from ``times: (b, n)`` and ``values: (b, n, v)`` (NaN = missing).

        The path's channels are ``(t, x_1..x_v)``, and with ``intensity=True`` also ``(c_1..c_v)``, the cumulative
        observation counts (:func:`intensity_channels`).
        """
        parts = [times.unsqueeze(-1), values]
        if self.intensity:
            parts.append(intensity_channels(values))
        x = torch.cat(parts, dim=-1)
        if x.shape[-1] != self.input_channels:
            raise ValueError(f"the path has {x.shape[-1]} channels (time, {values.shape[-1]} values"
                             f"{', counts' if self.intensity else ''}) but the model expects {self.input_channels}")
        if self.interpolation == "hermite":
            return hermite_cubic_coefficients_with_backward_differences(x)
        if self.interpolation == "natural":
            return natural_cubic_coeffs(x)
        return linear_interpolation_coeffs(x)

    def path(self, coeffs: Tensor) -> LinearInterpolation | CubicSpline:
        return LinearInterpolation(coeffs) if self.interpolation == "linear" else CubicSpline(coeffs)

    def forward_coeffs(self, coeffs: Tensor, **solver_kwargs: Any) -> Tensor:
        """Logits ``(b, out)`` from path coefficients (the path's parameter is the observation index)."""
        X = self.path(coeffs)
        z0 = self.initial(X.evaluate(X.interval[0]))
        method = solver_kwargs.pop("method", self.method)
        zT = cdeint(X, self.func, z0, X.interval, method=method, **solver_kwargs)[..., -1, :]
        return self.readout(zT)

    def forward(self, times: Tensor, values: Tensor) -> Tensor:
        """``times: (b, n)``, ``values: (b, n, v)`` with NaNs → logits ``(b, out)``."""
        return self.forward_coeffs(self.coeffs(times, values))


def intensity_channels(values: Tensor) -> Tensor:
    """Observational intensity: ``c_j[i]`` = number of observed (non-NaN) entries of channel ``j`` at indices ≤ i.

    ``values: (..., n, v)`` with NaN = missing → ``(..., n, v)`` counts (never NaN, non-decreasing).
    """
    return (~torch.isnan(values)).to(values.dtype).cumsum(dim=-2)


def rms_norm_full(tensor_tuple: tuple[Tensor, ...]) -> Tensor:
    """RMS over the whole augmented adjoint state ``(t, z, a_z, a_θ)`` — the seminorm paper's baseline norm."""
    flat = torch.cat([x.reshape(-1) for x in tensor_tuple])
    return flat.pow(2).mean().sqrt()


def rms_seminorm(tensor_tuple: tuple[Tensor, ...]) -> Tensor:
    """RMS over ``(t, z, a_z)`` only — the seminorm paper's seminorm (its pair is :func:`rms_norm_full`).

    torchdiffeq's ``norm="seminorm"`` is instead a max over the RMS of each of ``t``, ``z``, ``a_z``.
    """
    flat = torch.cat([x.reshape(-1) for x in tensor_tuple[:3]])
    return flat.pow(2).mean().sqrt()


class _Counted(nn.Module):
    def __init__(self, func: nn.Module) -> None:
        super().__init__()
        self.func = func
        self.nfe = 0

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        self.nfe += 1
        return self.func(t, z)


class NeuralODE(nn.Module):
    """``z(t) = z(t_0) + ∫ f(s, z) ds`` through torchdiffeq, counting vector-field evaluations.

    Args:
        func: ``f(t, z)``, an nn.Module.
        method, rtol, atol: torchdiffeq solver options.
        adjoint: optimise-then-discretise (``odeint_adjoint``).
        seminorm: with the adjoint, accept backward steps on the error of ``(t, z, a_z)`` only.

    ``nfe_forward``: evaluations of the last forward solve; ``nfe_backward``: evaluations since it (the backward
    pass, once ``.backward()`` has run).
    """

    def __init__(self, func: nn.Module, method: str = "dopri5", rtol: float = 1e-3, atol: float = 1e-5,
                 adjoint: bool = False, seminorm: bool = False) -> None:
        super().__init__()
        if seminorm and not adjoint:
            raise ValueError("seminorm=True needs adjoint=True (it changes the adjoint's step-size control)")
        self.func = _Counted(func)
        self.method, self.rtol, self.atol, self.adjoint, self.seminorm = method, rtol, atol, adjoint, seminorm
        self._fwd = 0

    @property
    def nfe_forward(self) -> int:
        return self._fwd

    @property
    def nfe_backward(self) -> int:
        return self.func.nfe - self._fwd

    def forward(self, z0: Tensor, t: Tensor) -> Tensor:
        """``z0: (..., d)``, ``t: (k,)`` → ``(k, ..., d)``."""
        self.func.nfe = 0
        kw: dict[str, Any] = dict(method=self.method, rtol=self.rtol, atol=self.atol)
        if self.adjoint:
            if self.seminorm:
                kw["adjoint_options"] = dict(norm="seminorm")
            out = torchdiffeq.odeint_adjoint(self.func, z0, t, adjoint_params=tuple(self.func.parameters()), **kw)
        else:
            out = torchdiffeq.odeint(self.func, z0, t, **kw)
        self._fwd = self.func.nfe
        return out
