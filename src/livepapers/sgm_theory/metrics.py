"""Distances between laws, mode weights, the Girsanov path divergence and Theorem 2's right-hand side.

Girsanov (proof mechanism of Theorem 2): with Q the path law of the true reverse process and P that of the
algorithm, both from ``q_T``,
``KL(Q || P) = c sum_k int_{kh}^{(k+1)h} E_Q ||score_{T-t}(X_t) - s_{T-kh}(X_{kh})||^2 dt``
(``c = 1`` for DDPM, diffusion sqrt(2); ``c = 2`` for CLD with its velocity score, diffusion 2). Estimated by
simulating the forward process exactly on a fine grid of step ``delta = h_min / M`` and integrating each coarse
interval with the trapezoid rule (the score frozen at the interval's upper forward time), streamed over blocks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from scipy.linalg import sqrtm
from scipy.optimize import linear_sum_assignment

from .processes import CLDProcess


def tv_density(p: np.ndarray, q: np.ndarray, dx: float) -> float:
    """``TV = 1/2 sum |p - q| dx`` of two densities on one uniform grid."""
    return 0.5 * float(np.abs(np.asarray(p) - np.asarray(q)).sum() * dx)


def tv_histogram(samples: torch.Tensor, density_fn, bins: int = 20, lim: float = 6.0) -> tuple[float, float]:
    """Histogram TV between 2-D samples and a law on ``[-lim, lim]^2`` with ``bins x bins`` cells.

    ``density_fn``: a diagonal ``GaussianMixture`` (exact cell masses from CDF products) or a callable density
    ``(m, 2) -> (m,)`` (midpoint rule). Mass outside the box counts as one extra cell. Returns ``(tv, floor)`` with
    the sampling-noise floor ``1/2 sqrt(2B/(pi n))``."""
    x = np.asarray(samples, dtype=np.float64)
    n = len(x)
    edges = np.linspace(-lim, lim, bins + 1)
    H, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=[edges, edges])
    emp = H / n
    if hasattr(density_fn, "weights") and getattr(density_fn, "diagonal", False):
        from scipy.special import ndtr
        w = density_fn.weights.numpy()
        mu = density_fn.means.numpy()
        sd = np.sqrt(density_fn.var.numpy())
        cx = ndtr((edges[None, :] - mu[:, 0:1]) / sd[:, 0:1])
        cy = ndtr((edges[None, :] - mu[:, 1:2]) / sd[:, 1:2])
        px, py = np.diff(cx, axis=1), np.diff(cy, axis=1)
        exact = np.einsum("k,ki,kj->ij", w, px, py)
    else:
        mid = 0.5 * (edges[1:] + edges[:-1])
        X, Y = np.meshgrid(mid, mid, indexing="ij")
        dens = np.asarray(density_fn(torch.from_numpy(np.stack([X.ravel(), Y.ravel()], 1))), dtype=np.float64)
        exact = dens.reshape(bins, bins) * (edges[1] - edges[0]) ** 2
    tv = 0.5 * (np.abs(emp - exact).sum() + abs((1 - emp.sum()) - (1 - exact.sum())))
    B = bins * bins + 1
    return float(tv), 0.5 * math.sqrt(2 * B / (math.pi * n))


def _as_cov(S, d: int) -> np.ndarray:
    S = np.asarray(S, dtype=np.float64)
    if S.ndim == 0:
        return S * np.eye(d)
    if S.ndim == 1:
        return np.diag(S)
    return S


def kl_gaussian(m1, S1, m2, S2) -> float:
    """``KL(N(m1, S1) || N(m2, S2))``; S a scalar (isotropic), a diagonal vector or a matrix."""
    m1, m2 = np.atleast_1d(np.asarray(m1, dtype=np.float64)), np.atleast_1d(np.asarray(m2, dtype=np.float64))
    d = len(m1)
    A, B = _as_cov(S1, d), _as_cov(S2, d)
    Binv = np.linalg.inv(B)
    diff = m2 - m1
    _, ldA = np.linalg.slogdet(A)
    _, ldB = np.linalg.slogdet(B)
    return float(0.5 * (np.trace(Binv @ A) + diff @ Binv @ diff - d + ldB - ldA))


def w2_gaussian(m1, S1, m2, S2) -> float:
    """``W2(N(m1, S1), N(m2, S2))`` (Bures formula)."""
    m1, m2 = np.atleast_1d(np.asarray(m1, dtype=np.float64)), np.atleast_1d(np.asarray(m2, dtype=np.float64))
    d = len(m1)
    A, B = _as_cov(S1, d), _as_cov(S2, d)
    rA = np.real(sqrtm(A))
    cross = np.real(sqrtm(rA @ B @ rA))
    val = float(((m1 - m2) ** 2).sum() + np.trace(A + B - 2 * cross))
    return math.sqrt(max(val, 0.0))


def w2_empirical(x: torch.Tensor, y: torch.Tensor, max_points: int = 5000) -> float:
    """Exact W2 between two equal-size empirical laws (optimal assignment; at most ``max_points`` points)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim == 1:
        x, y = x[:, None], y[:, None]
    if len(x) != len(y):
        raise ValueError(f"w2_empirical needs equal sizes, got {len(x)} and {len(y)}")
    if len(x) > max_points:
        raise ValueError(f"w2_empirical: {len(x)} points exceed max_points={max_points}")
    C = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    r, c = linear_sum_assignment(C)
    return math.sqrt(float(C[r, c].mean()))


def _quantiles_from_density(p: np.ndarray, grid: np.ndarray, u: np.ndarray) -> np.ndarray:
    dx = grid[1] - grid[0]
    mass = np.clip(p, 0, None) * dx
    cdf = np.concatenate([[0.0], np.cumsum(mass)])
    cdf /= cdf[-1]
    edges = np.concatenate([grid - dx / 2, [grid[-1] + dx / 2]])
    keep = np.concatenate([[True], np.diff(cdf) > 0])
    return np.interp(u, cdf[keep], edges[keep])


def w2_1d_density(p: np.ndarray, q, grid) -> float:
    """1-D ``W2`` from quantile functions: ``p`` a density on ``grid``; ``q`` a density on the same grid or a
    quantile function ``u -> F^{-1}(u)``."""
    grid = np.asarray(grid, dtype=np.float64)
    u = (np.arange(200_000) + 0.5) / 200_000
    Fp = _quantiles_from_density(np.asarray(p, dtype=np.float64), grid, u)
    Fq = q(u) if callable(q) else _quantiles_from_density(np.asarray(q, dtype=np.float64), grid, u)
    return math.sqrt(float(np.mean((Fp - Fq) ** 2)))


def mode_weights(samples: torch.Tensor, means: torch.Tensor) -> np.ndarray:
    """Fraction of samples nearest each mean (K,)."""
    x = torch.as_tensor(samples, dtype=torch.float64)
    mu = torch.as_tensor(means, dtype=torch.float64)
    k = torch.cdist(x, mu).argmin(1)
    return np.bincount(k.numpy(), minlength=len(mu)) / len(x)


def theorem2_rhs(kl0: float, L: float, d: int, m2: float, h: float, T: float, eps_score: float,
                 constants: Sequence[float] = (1.0, 1.0, 1.0)) -> float:
    """Theorem 2's bound with explicit constants c:
    ``c1 sqrt(KL(q||gamma^d)) e^{-T} + c2 (L sqrt(d h) + L m_2 h) sqrt(T) + c3 eps_score sqrt(T)``.

    ``m2`` is the paper's m_2 = sqrt(E ||X||^2), i.e. ``math.sqrt(target.second_moment())`` (``second_moment``
    returns m_2^2)."""
    c1, c2, c3 = constants
    return (c1 * math.sqrt(kl0) * math.exp(-T) + c2 * (L * math.sqrt(d * h) + L * m2 * h) * math.sqrt(T)
            + c3 * eps_score * math.sqrt(T))


def girsanov_path_kl(q, T: float, hs: Sequence[float], M: int, n: int, process: str, generator: torch.Generator,
                     checkpoints: Sequence[float] | None = None) -> dict:
    """Monte-Carlo path KL of the EI discretisation with exact scores, for every step size in ``hs``.

    Args:
        q: data law (``GaussianMixture``: ``score_t`` for OU, ``velocity_score_t`` for CLD).
        T: horizon (a multiple of ``max(hs)``); hs: coarse step sizes (multiples of ``delta = min(hs)/M``).
        M: fine sub-steps per smallest coarse step; n: paths; process: ``'ou'`` or ``'cld'``.
        checkpoints: horizons ``T' <= T`` (multiples of ``max(hs)``) whose partial sums are reported (default: T).

    Returns:
        dict with ``kl`` and ``se`` arrays (len(checkpoints), len(hs)): the seed's mean over paths and its standard
        error, plus ``hs`` and ``checkpoints``.
    """
    if process not in ("ou", "cld"):
        raise ValueError(f"process must be 'ou' or 'cld', got {process!r}")
    hs = [float(h) for h in hs]
    delta = min(hs) / M
    ms = [round(h / delta) for h in hs]
    if any(abs(m * delta - h) > 1e-9 for m, h in zip(ms, hs)):
        raise ValueError(f"every h must be a multiple of delta = {delta}")
    B = max(ms)
    if any(B % m for m in ms):
        raise ValueError("the largest h must be a multiple of every other h")
    n_blocks = round(T / (B * delta))
    if abs(n_blocks * B * delta - T) > 1e-9:
        raise ValueError(f"T={T} must be a multiple of max(hs)={max(hs)}")
    cps = [float(T)] if checkpoints is None else [float(c) for c in checkpoints]
    cp_blocks = {round(c / (B * delta)): i for i, c in enumerate(cps)}
    coef = 1.0 if process == "ou" else 2.0
    d = q.d
    x = q.sample(n, generator)
    if process == "ou":
        a, b = math.exp(-delta), math.sqrt(-math.expm1(-2 * delta))

        def score(x_, v_, s):
            return q.score_t(x_, s)
    else:
        v = torch.randn(n, d, generator=generator, dtype=torch.float64)
        E, S = CLDProcess().transition(delta)
        L = np.linalg.cholesky(S)

        def score(x_, v_, s):
            return q.velocity_score_t(x_, v_, s)
    acc = torch.zeros(len(hs), n, dtype=torch.float64)
    out = np.zeros((len(cps), len(hs), n))
    v_cur = None if process == "ou" else v
    s_prev = score(x, v_cur, 0.0)
    for blk in range(n_blocks):
        S_blk = [s_prev]
        for j in range(1, B + 1):
            if process == "ou":
                x = a * x + b * torch.randn(x.shape, generator=generator, dtype=torch.float64)
            else:
                z1 = torch.randn(x.shape, generator=generator, dtype=torch.float64)
                z2 = torch.randn(x.shape, generator=generator, dtype=torch.float64)
                x, v_cur = (E[0, 0] * x + E[0, 1] * v_cur + L[0, 0] * z1,
                            E[1, 0] * x + E[1, 1] * v_cur + L[1, 0] * z1 + L[1, 1] * z2)
            S_blk.append(score(x, v_cur, (blk * B + j) * delta))
        Sb = torch.stack(S_blk)  # (B+1, n, d)
        for i, m in enumerate(ms):
            chunks = Sb[:B].reshape(B // m, m, n, d)
            upper = Sb[m::m]  # (B/m, n, d): score at the upper forward time of each interval (frozen)
            f = ((chunks - upper[:, None]) ** 2).sum(-1)  # (B/m, m, n); f at the upper end is 0
            # trapezoid on the fine points: delta (f_0/2 + f_1 + ... + f_{m-1} + 0/2)
            acc[i] += delta * (0.5 * f[:, 0] + f[:, 1:].sum(1)).sum(0)
        s_prev = Sb[-1]
        if blk + 1 in cp_blocks:
            out[cp_blocks[blk + 1]] = coef * acc.numpy()
    kl = out.mean(-1)
    se = out.std(-1, ddof=1) / math.sqrt(n)
    return {"kl": kl, "se": se, "hs": hs, "checkpoints": cps}


def kl_path_gaussian_exact(d: int, T: float, h: float, process: str) -> float:
    """Exact path KL for ``q = gamma^d`` (stationary reverse processes): DDPM ``2dT(h - 1 + e^{-h})/h``, CLD
    ``4dT(1 - e^{-h})``."""
    if process == "ou":
        return 2 * d * T * (h + math.expm1(-h)) / h
    return -4 * d * T * math.expm1(-h)
