"""Reverse-time samplers and their closed forms / exact 1-D density propagation.

Shapes: ``n`` samples, ``d`` dimensions, ``G`` grid points. A score function is ``score_fn(x, t) -> (n, d)`` with
x (n, d) float64 and t the *forward* time; a velocity score is ``velocity_score_fn(x, v, t) -> (n, d)``.

DDPM-EI (the analysed algorithm): ``Y_{k+1} = e^h Y_k + 2(e^h - 1) s_{T-kh}(Y_k) + sqrt(e^{2h} - 1) xi_k``,
``Y_0 ~ gamma^d``; the score is frozen at the left end of each step and never evaluated at t = 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .processes import CLDProcess
from .targets import cld_m, ou_coefs

ScoreFn = Callable[[torch.Tensor, float], torch.Tensor]


def time_grid(T: float, h: float, grid: Sequence[float] | None = None) -> np.ndarray:
    """Decreasing forward times ``t_0 = T > t_1 > ... > t_N`` (uniform ``T - kh`` unless ``grid`` is given)."""
    if grid is not None:
        g = np.asarray(grid, dtype=np.float64)
        if g.ndim != 1 or len(g) < 2 or np.any(np.diff(g) >= 0):
            raise ValueError("grid must be a decreasing sequence of forward times with at least 2 entries")
        return g
    if not (h > 0 and T > 0):
        raise ValueError(f"need T > 0 and h > 0, got T={T}, h={h}")
    N = round(T / h)
    if abs(N * h - T) > 1e-9 * max(1.0, T):
        raise ValueError(f"T={T} must be a multiple of h={h}")
    return T - h * np.arange(N + 1)


def _init(n: int, d: int, generator: torch.Generator, init) -> torch.Tensor:
    if isinstance(init, torch.Tensor):
        return init.clone().to(torch.float64)
    if init != "gaussian":
        raise ValueError(f"init must be 'gaussian' or a tensor, got {init!r}")
    return torch.randn(n, d, generator=generator, dtype=torch.float64)


def _reverse_chain(step: Callable[[torch.Tensor, float, float, float], torch.Tensor], n: int, d: int, T: float,
                   h: float, generator: torch.Generator, init, grid, return_path: bool):
    """Run ``y <- step(y, t_k, t_{k+1}, h_k)`` down the time grid from ``Y_0 ~ init``; returns the samples (n, d)
    (and the path (N+1, n, d) when ``return_path``)."""
    ts = time_grid(T, h, grid)
    y = _init(n, d, generator, init)
    path = [y] if return_path else None
    for k in range(len(ts) - 1):
        y = step(y, float(ts[k]), float(ts[k + 1]), float(ts[k] - ts[k + 1]))
        if return_path:
            path.append(y)
    return (y, torch.stack(path)) if return_path else y


def ddpm_ei(score_fn: ScoreFn, n: int, d: int, T: float, h: float, generator: torch.Generator, *,
            init="gaussian", grid=None, return_path: bool = False):
    """DDPM with the exponential integrator; returns samples (n, d) (and the path (N+1, n, d))."""

    def step(y, t, t_next, hk):
        xi = torch.randn(y.shape, generator=generator, dtype=torch.float64)
        # Y_{k+1} = e^h Y_k + 2(e^h - 1) s_{T-kh}(Y_k) + sqrt(e^{2h} - 1) xi
        return math.exp(hk) * y + 2 * math.expm1(hk) * score_fn(y, t) + math.sqrt(math.expm1(2 * hk)) * xi

    return _reverse_chain(step, n, d, T, h, generator, init, grid, return_path)


def ddpm_em(score_fn: ScoreFn, n: int, d: int, T: float, h: float, generator: torch.Generator, *,
            init="gaussian", grid=None, return_path: bool = False):
    """Euler–Maruyama for the reverse SDE: ``Y + h (Y + 2 s) + sqrt(2h) xi``."""

    def step(y, t, t_next, hk):
        xi = torch.randn(y.shape, generator=generator, dtype=torch.float64)
        return y + hk * (y + 2 * score_fn(y, t)) + math.sqrt(2 * hk) * xi

    return _reverse_chain(step, n, d, T, h, generator, init, grid, return_path)


def prob_flow_heun(score_fn: ScoreFn, n: int, d: int, T: float, h: float, generator: torch.Generator, *,
                   init="gaussian", grid=None, return_path: bool = False):
    """Heun's method for the probability-flow ODE ``dY/dtau = Y + s_{T - tau}(Y)``; the last step (which would
    need the score at t = 0) is an Euler step."""

    def step(y, t, t_next, hk):
        f0 = y + score_fn(y, t)
        y_pred = y + hk * f0
        return y + 0.5 * hk * (f0 + y_pred + score_fn(y_pred, t_next)) if t_next > 0 else y_pred

    return _reverse_chain(step, n, d, T, h, generator, init, grid, return_path)


def cld_ei(velocity_score_fn, n: int, d: int, T: float, h: float, generator: torch.Generator, *,
           init="gaussian", grid=None, return_path: bool = False):
    """CLD with the exponential integrator; starts from ``gamma^{2d}``, returns the X part (n, d).

    ``(X, V)_{k+1} = e^{A'h}(X, V)_k + (-4 s (h e^h - e^h + 1), 4 s h e^h) + eta_k``, ``eta_k ~ N(0, Sigma_h)``,
    s the velocity score at ``(X_k, V_k)`` and forward time ``T - kh``."""
    ts = time_grid(T, h, grid)
    proc = CLDProcess()
    x = _init(n, d, generator, init)
    v = torch.randn(n, d, generator=generator, dtype=torch.float64)
    path = [x] if return_path else None
    cache: dict[float, tuple] = {}
    for k in range(len(ts) - 1):
        hk = float(ts[k] - ts[k + 1])
        if hk not in cache:
            Ep, f, S = proc.reverse_ei(hk)
            L = np.linalg.cholesky(S)
            cache[hk] = (Ep, f, L)
        Ep, f, L = cache[hk]
        s = velocity_score_fn(x, v, float(ts[k]))
        z1 = torch.randn(x.shape, generator=generator, dtype=torch.float64)
        z2 = torch.randn(x.shape, generator=generator, dtype=torch.float64)
        x, v = (Ep[0, 0] * x + Ep[0, 1] * v + f[0] * s + L[0, 0] * z1,
                Ep[1, 0] * x + Ep[1, 1] * v + f[1] * s + L[1, 0] * z1 + L[1, 1] * z2)
        if return_path:
            path.append(x)
    return (x, torch.stack(path)) if return_path else x


def ula(score_fn: Callable[[torch.Tensor], torch.Tensor], n: int, d: int, eta: float, n_steps: int,
        generator: torch.Generator, *, init="gaussian", return_path: bool = False):
    """Unadjusted Langevin ``x <- x + eta grad ln q(x) + sqrt(2 eta) z`` (score of the target, no time)."""
    x = _init(n, d, generator, init)
    path = [x] if return_path else None
    for _ in range(n_steps):
        x = x + eta * score_fn(x) + math.sqrt(2 * eta) * torch.randn(x.shape, generator=generator,
                                                                      dtype=torch.float64)
        if return_path:
            path.append(x)
    return (x, torch.stack(path)) if return_path else x


# ---- closed forms for Gaussian targets ---------------------------------------------------------------------------


def ddpm_ei_gaussian_closed_form(mu, s2: float, T: float, h: float) -> tuple[np.ndarray, float]:
    """DDPM-EI output law for target ``N(mu, s2 I)`` with the exact score: ``N(a_N, b_N I)``.

    ``v_t = m_t^2 s2 + sigma_t^2``, ``c_k = e^h - 2(e^h - 1)/v_{T-kh}``,
    ``a_{k+1} = c_k a_k + 2(e^h - 1) m_{T-kh} mu / v_{T-kh}``, ``b_{k+1} = c_k^2 b_k + e^{2h} - 1``, a_0 = 0, b_0 = 1.
    """
    mu = np.asarray(mu, dtype=np.float64)
    ts = time_grid(T, h)
    eh, e1, e2 = math.exp(h), math.expm1(h), math.expm1(2 * h)
    a, b = np.zeros_like(mu), 1.0
    for t in ts[:-1]:
        m, sg2 = ou_coefs(float(t))
        v = m * m * s2 + sg2
        c = eh - 2 * e1 / v
        a = c * a + 2 * e1 * m * mu / v
        b = c * c * b + e2
    return a, b


def cld_ei_gaussian_closed_form(s2: float, T: float, h: float) -> np.ndarray:
    """CLD-EI output for target ``N(0, s2 I)`` with the exact velocity score: the per-dimension 2x2 covariance of
    ``(X, V)`` (propagate ``C <- M C M^T + Sigma_h``, ``M = e^{A'h} + f g^T`` with ``g`` the linear map of the exact
    velocity score ``s = g^T (x, v)``); the X-marginal variance is ``C[0, 0]``."""
    ts = time_grid(T, h)
    Ep, f, S = CLDProcess().reverse_ei(h)
    C = np.eye(2)
    for t in ts[:-1]:
        Ct = np.eye(2) + math.exp(-2 * t) * cld_m(float(t)) * (s2 - 1.0)
        g = -np.linalg.inv(Ct)[1]  # velocity score = -(C_t^{-1} z)_v
        M = Ep + np.outer(f, g)
        C = M @ C @ M.T + S
    return C


# ---- exact 1-D density propagation --------------------------------------------------------------------------------


def gauss_step_1d(p: np.ndarray, grid: np.ndarray, mean: np.ndarray, var: float, width: float = 8.0,
                  ) -> np.ndarray:
    """One quadrature step ``p'(x_i) = sum_j N(x_i; mean_j, var) p(x_j) dx`` with each column restricted to
    ``width`` kernel standard deviations (banded); mass leaving the grid is dropped (and shows in the mass)."""
    G = len(grid)
    dx = float(grid[1] - grid[0])
    sd = math.sqrt(var)
    if sd < 5 * dx * (1 - 1e-9):
        raise ValueError(f"kernel width sqrt(var) = {sd:.3g} is below 5 grid spacings ({5 * dx:.3g}); "
                         "refine the grid or enlarge the step")
    keep = p > 1e-17 * p.max() if p.max() > 0 else p > 0
    js = np.nonzero(keep)[0]
    half = math.ceil(width * sd / dx) + 1
    offs = np.arange(-half, half + 1)
    mj = mean[js]
    c = np.rint((mj - grid[0]) / dx).astype(np.int64)
    rows = c[:, None] + offs[None, :]
    # z = (x_i - mean_j) / sd with x_i = grid[0] + rows dx
    z = offs[None, :] * (dx / sd) + ((grid[0] + c * dx - mj) / sd)[:, None]
    z *= z
    z *= -0.5
    w = np.exp(z, out=z)
    w *= ((p[js] * dx) / (sd * math.sqrt(2 * math.pi)))[:, None]
    if rows[0, 0] >= 0 and rows[-1, -1] < G and c.min() - half >= 0 and c.max() + half < G:
        return np.bincount(rows.ravel(), weights=w.ravel(), minlength=G)
    valid = (rows >= 0) & (rows < G)
    return np.bincount(rows[valid], weights=w[valid], minlength=G)


def _grid_score(score_fn, xg: torch.Tensor, t: float) -> np.ndarray:
    return score_fn(xg, t).reshape(-1).numpy()


def ei_density_1d(score_fn: ScoreFn, grid, T: float, h: float, steps=None, *, p0: np.ndarray | None = None,
                  width: float = 8.0) -> np.ndarray:
    """Exact output density of 1-D DDPM-EI on a uniform grid (G,).

    The EI kernel is ``Y_{k+1} | Y_k = y ~ N(e^h y + 2(e^h - 1) s(y), e^{2h} - 1)``; starting from the ``N(0, 1)``
    density (or ``p0``), ``p_{k+1}(x_i) = sum_j N(x_i; mean(x_j), e^{2h} - 1) p_k(x_j) dx``.
    ``steps``: optional decreasing forward times (non-uniform grid; the output approximates ``q_{steps[-1]}``).
    """
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 1 or len(grid) < 3 or not np.allclose(np.diff(grid), grid[1] - grid[0], rtol=1e-9, atol=0):
        raise ValueError("grid must be a uniform 1-D array with at least 3 points")
    ts = time_grid(T, h, steps)
    p = np.exp(-0.5 * grid * grid) / math.sqrt(2 * math.pi) if p0 is None else np.asarray(p0, dtype=np.float64)
    xg = torch.from_numpy(grid.reshape(-1, 1))
    for k in range(len(ts) - 1):
        hk = float(ts[k] - ts[k + 1])
        s = _grid_score(score_fn, xg, float(ts[k]))
        mean = math.exp(hk) * grid + 2 * math.expm1(hk) * s
        p = gauss_step_1d(p, grid, mean, math.expm1(2 * hk), width)
    return p


def ula_density_1d(score_fn: Callable[[torch.Tensor], torch.Tensor], grid, eta: float, n_steps: int, *,
                   p0: np.ndarray | None = None, width: float = 8.0) -> np.ndarray:
    """Exact output density of 1-D ULA (kernel ``N(x + eta s(x), 2 eta)``) from ``N(0, 1)`` (or ``p0``)."""
    grid = np.asarray(grid, dtype=np.float64)
    p = np.exp(-0.5 * grid * grid) / math.sqrt(2 * math.pi) if p0 is None else np.asarray(p0, dtype=np.float64)
    s = score_fn(torch.from_numpy(grid.reshape(-1, 1))).reshape(-1).numpy()
    mean = grid + eta * s
    for _ in range(n_steps):
        p = gauss_step_1d(p, grid, mean, 2 * eta, width)
    return p
