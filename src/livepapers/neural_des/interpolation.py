"""Continuous paths from irregular, partially observed series (Neural CDE §2; torchcde's contract).

A series is ``x: (..., length, channels)`` observed at ``t: (length,)`` (default: the index ``0 … length−1``,
which by reparameterisation invariance is enough as long as time is one of the channels). NaN = missing: each
channel is first interpolated linearly over its own observed points, leading/trailing NaNs take the nearest
observation. Coefficients are computed once (pre-processing) and evaluated by :class:`LinearInterpolation` or
:class:`CubicSpline`:

* linear — ``X(s) = x_i + (s − t_i)(x_{i+1} − x_i)/(t_{i+1} − t_i)`` (kinks at the knots: tell adaptive solvers
  through ``jump_t``, use ``perturb=True`` with fixed steps);
* rectilinear — the time channel moves first with values held, then values move with time held (online use);
* Hermite cubic with backward differences — on ``[t_i, t_{i+1}]`` the cubic through ``x_i, x_{i+1}`` with slope
  ``(x_i − x_{i−1})/(t_i − t_{i−1})`` at ``t_i`` (first interval: its own secant) and the current secant at
  ``t_{i+1}``: C¹ and causal up to one step;
* natural cubic spline — C², non-causal (future points change the past path).

Cubic coefficients are stored as torchcde does: ``(a, b, 2c, 3d)`` per interval concatenated on the channel axis,
``(..., length − 1, 4·channels)``, with ``X(s) = a + b τ + c τ² + d τ³``, ``τ = s − t_i``.

Shape letters: ``n`` knots (length), ``c`` channels, ``...`` batch.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "CubicSpline",
    "LinearInterpolation",
    "fill_missing",
    "hermite_cubic_coefficients_with_backward_differences",
    "linear_interpolation_coeffs",
    "natural_cubic_coeffs",
]


def _check_x(x: Tensor, t: Tensor | None) -> Tensor:
    if not isinstance(x, Tensor) or x.ndim < 2:
        raise ValueError(f"x must be a tensor of shape (..., length, channels), got {getattr(x, 'shape', type(x))}")
    if x.shape[-2] < 2:
        raise ValueError(f"x needs length >= 2 along dim -2, got {x.shape[-2]}")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got {x.dtype}")
    n = x.shape[-2]
    if t is None:
        return torch.arange(n, dtype=x.dtype, device=x.device)
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    if t.ndim != 1 or t.shape[0] != n:
        raise ValueError(f"t must have shape ({n},) to match x's length, got {tuple(t.shape)}")
    if not bool((t[1:] > t[:-1]).all()):
        raise ValueError("t must be strictly increasing")
    return t


def fill_missing(x: Tensor, t: Tensor | None = None) -> Tensor:
    """Replace NaNs by linear interpolation over each channel's own observed points.

    Leading and trailing NaNs take the nearest observation; a channel never observed becomes 0.

    Args:
        x: ``(..., n, c)`` with NaN = missing.
        t: ``(n,)`` knot times (default ``0 … n−1``).

    Returns:
        ``(..., n, c)`` without NaNs.
    """
    t = _check_x(x, t)
    if not bool(torch.isnan(x).any()):
        return x
    n = x.shape[-2]
    xt = x.transpose(-1, -2).reshape(-1, n)  # (B, n): one row per (series, channel)
    obs = ~torch.isnan(xt)
    idx = torch.arange(n, device=x.device).expand_as(xt)
    # index of the last observation at or before i, and the first at or after i
    prev_i = torch.where(obs, idx, torch.full_like(idx, -1)).cummax(-1).values
    nxt = torch.where(obs, idx, torch.full_like(idx, n)).flip(-1).cummin(-1).values.flip(-1)
    has_prev, has_next = prev_i >= 0, nxt < n
    pi, ni = prev_i.clamp(0, n - 1), nxt.clamp(0, n - 1)
    xv = torch.nan_to_num(xt, nan=0.0)
    xp, xn = xv.gather(-1, pi), xv.gather(-1, ni)
    tp, tn = t[pi], t[ni]
    denom = torch.where(tn > tp, tn - tp, torch.ones_like(tp))
    w = torch.where(tn > tp, (t.expand_as(xt) - tp) / denom, torch.zeros_like(tp))
    lin = xp + w * (xn - xp)
    out = torch.where(has_prev & has_next, lin, torch.where(has_prev, xp, torch.where(has_next, xn, 0.0 * xv)))
    out = torch.where(obs, xt, out)
    return out.reshape(*x.shape[:-2], x.shape[-1], n).transpose(-1, -2)


def linear_interpolation_coeffs(x: Tensor, t: Tensor | None = None, rectilinear: int | None = None) -> Tensor:
    """Coefficients of the linear interpolation (the filled knot values).

    Args:
        x: ``(..., n, c)``, NaN = missing.
        t: ``(n,)`` knot times (default the index).
        rectilinear: index of the time channel for the rectilinear (online) path: NaNs are filled forward (never
            from the future) and each step becomes two, time first, values second; the result has ``2n − 1``
            knots and must be evaluated on ``t = 0 … 2n − 2``.

    Returns:
        ``(..., n, c)`` or, rectilinear, ``(..., 2n − 1, c)``.
    """
    t = _check_x(x, t)
    if rectilinear is None:
        return fill_missing(x, t)
    c = x.shape[-1]
    if not (-c <= rectilinear < c):
        raise ValueError(f"rectilinear must index a channel in [0, {c}), got {rectilinear}")
    rectilinear %= c
    if bool(torch.isnan(x[..., rectilinear]).any()):
        raise ValueError("the time channel of a rectilinear path must not contain NaN")
    # fill forward (causal), then backward for leading NaNs only
    xf = x.clone()
    for i in range(1, xf.shape[-2]):
        xf[..., i, :] = torch.where(torch.isnan(xf[..., i, :]), xf[..., i - 1, :], xf[..., i, :])
    xf = fill_missing(xf)
    n = xf.shape[-2]
    out = xf.repeat_interleave(2, dim=-2)[..., : 2 * n - 1, :].clone()  # rows 2i and 2i+1 = x_i
    # at knot 2i+1 time has advanced to t_{i+1}, values still x_i
    out[..., 1::2, rectilinear] = xf[..., 1:, rectilinear]
    return out


def hermite_cubic_coefficients_with_backward_differences(x: Tensor, t: Tensor | None = None) -> Tensor:
    """Hermite cubic with backward differences: C¹, depends on ``x_{i−1}, x_i, x_{i+1}`` only.

    Slope at ``t_i`` = the previous interval's secant ``m_i`` (first interval: its own), slope at ``t_{i+1}`` = the
    current secant ``s_i``; ``a = x_i``, ``b = m_i``, ``c = 2(s_i − m_i)/h``, ``d = (m_i − s_i)/h²``.

    Returns:
        ``(..., n − 1, 4c)`` = ``(a, b, 2c, 3d)`` concatenated on the channel axis.
    """
    t = _check_x(x, t)
    x = fill_missing(x, t)
    h = (t[1:] - t[:-1]).unsqueeze(-1)  # (n-1, 1)
    s = (x[..., 1:, :] - x[..., :-1, :]) / h  # secants (..., n-1, c)
    m = torch.cat([s[..., :1, :], s[..., :-1, :]], dim=-2)  # backward difference at the left knot
    a = x[..., :-1, :]
    b = m
    c2 = 2 * (2 * (s - m) / h)
    d3 = 3 * ((m - s) / h**2)
    return torch.cat([a, b, c2, d3], dim=-1)


def _tridiagonal_solve(lower: Tensor, diag: Tensor, upper: Tensor, rhs: Tensor) -> Tensor:
    """Thomas algorithm over the last axis of ``rhs: (..., k)`` (bands of shape ``(k,)``, ``(k−1,)``)."""
    k = diag.shape[-1]
    cp = torch.empty_like(diag)
    dp = torch.empty_like(rhs)
    cp[0] = upper[0] / diag[0] if k > 1 else 0.0
    dp[..., 0] = rhs[..., 0] / diag[0]
    for i in range(1, k):
        den = diag[i] - lower[i - 1] * cp[i - 1]
        if i < k - 1:
            cp[i] = upper[i] / den
        dp[..., i] = (rhs[..., i] - lower[i - 1] * dp[..., i - 1]) / den
    out = torch.empty_like(rhs)
    out[..., -1] = dp[..., -1]
    for i in range(k - 2, -1, -1):
        out[..., i] = dp[..., i] - cp[i] * out[..., i + 1]
    return out


def natural_cubic_coeffs(x: Tensor, t: Tensor | None = None) -> Tensor:
    """Natural cubic spline (C², second derivative 0 at both ends; non-causal).

    Missing values are filled linearly per channel before the spline is fitted (torchcde fits each channel's
    spline through its own observed points instead; the two agree without NaNs).

    Returns:
        ``(..., n − 1, 4c)`` = ``(a, b, 2c, 3d)``.
    """
    t = _check_x(x, t)
    x = fill_missing(x, t)
    n = x.shape[-2]
    h = t[1:] - t[:-1]  # (n-1,)
    s = (x[..., 1:, :] - x[..., :-1, :]) / h.unsqueeze(-1)  # (..., n-1, c)
    M = torch.zeros_like(x)  # second derivatives at the knots, M_0 = M_{n-1} = 0
    if n > 2:
        diag = 2 * (h[:-1] + h[1:])
        off = h[1:-1]
        rhs = 6 * (s[..., 1:, :] - s[..., :-1, :])  # (..., n-2, c)
        sol = _tridiagonal_solve(off, diag, off, rhs.transpose(-1, -2))
        M[..., 1:-1, :] = sol.transpose(-1, -2)
    hh = h.unsqueeze(-1)
    a = x[..., :-1, :]
    b = s - hh * (2 * M[..., :-1, :] + M[..., 1:, :]) / 6
    c = M[..., :-1, :] / 2
    d = (M[..., 1:, :] - M[..., :-1, :]) / (6 * hh)
    return torch.cat([a, b, 2 * c, 3 * d], dim=-1)


class _Path:
    """Knot bookkeeping shared by the interpolations: ``interval``, ``grid_points`` and the piece lookup."""

    def __init__(self, n: int, t: Tensor | None, like: Tensor) -> None:
        if t is None:
            t = torch.arange(n, dtype=like.dtype, device=like.device)
        t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
        if t.ndim != 1 or t.shape[0] != n:
            raise ValueError(f"t must have shape ({n},), got {tuple(t.shape)}")
        self._t = t

    @property
    def grid_points(self) -> Tensor:
        """The knots ``(n,)``."""
        return self._t

    @property
    def interval(self) -> Tensor:
        """``(t_0, t_{n−1})``."""
        return torch.stack([self._t[0], self._t[-1]])

    def _piece(self, s: Tensor) -> tuple[Tensor, Tensor]:
        """Interval index (the left piece at a knot, as torchcde) and ``τ = s − t_i``."""
        s = torch.as_tensor(s, dtype=self._t.dtype, device=self._t.device)
        idx = torch.bucketize(s.detach(), self._t.detach()).sub(1).clamp(0, self._t.shape[0] - 2)
        return idx, s - self._t[idx]


class LinearInterpolation(_Path):
    """Piecewise-linear path through the knots; ``coeffs: (..., n, c)`` from :func:`linear_interpolation_coeffs`."""

    def __init__(self, coeffs: Tensor, t: Tensor | None = None) -> None:
        super().__init__(coeffs.shape[-2], t, coeffs)
        self._x = coeffs
        self._slope = (coeffs[..., 1:, :] - coeffs[..., :-1, :]) / (self._t[1:] - self._t[:-1]).unsqueeze(-1)

    def evaluate(self, s: Tensor | float) -> Tensor:
        """``X(s)``: ``(..., c)`` for a scalar ``s``."""
        idx, tau = self._piece(s)
        return self._x[..., idx, :] + tau * self._slope[..., idx, :]

    def derivative(self, s: Tensor | float) -> Tensor:
        """``dX/ds`` (the left piece's slope at a knot): ``(..., c)``."""
        idx, _ = self._piece(s)
        return self._slope[..., idx, :]


class CubicSpline(_Path):
    """Piecewise cubic path from ``(a, b, 2c, 3d)`` coefficients ``(..., n − 1, 4c)`` (Hermite or natural)."""

    def __init__(self, coeffs: Tensor, t: Tensor | None = None) -> None:
        if coeffs.shape[-1] % 4:
            raise ValueError(f"cubic coefficients need 4·channels on the last axis, got {coeffs.shape[-1]}")
        super().__init__(coeffs.shape[-2] + 1, t, coeffs)
        self._a, self._b, self._c2, self._d3 = coeffs.chunk(4, dim=-1)

    def evaluate(self, s: Tensor | float) -> Tensor:
        """``X(s) = a + bτ + cτ² + dτ³``: ``(..., c)``."""
        idx, tau = self._piece(s)
        a, b = self._a[..., idx, :], self._b[..., idx, :]
        c, d = 0.5 * self._c2[..., idx, :], self._d3[..., idx, :] / 3
        return a + tau * (b + tau * (c + tau * d))

    def derivative(self, s: Tensor | float) -> Tensor:
        """``dX/ds = b + 2cτ + 3dτ²``: ``(..., c)``."""
        idx, tau = self._piece(s)
        return self._b[..., idx, :] + tau * (self._c2[..., idx, :] + tau * self._d3[..., idx, :])
