"""Statistics the claims engine and the papers share: the t quantile, the log–log slope, cross-seed summaries."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import stats as _st


def t_quantile(df: int, level: float = 0.975) -> float:
    """Student-t quantile ``t(level, df)`` (two-sided 95 % interval: ``level=0.975``), from scipy."""
    if df < 1:
        raise ValueError(f"t_quantile needs df >= 1, got {df}")
    return float(_st.t.ppf(level, df))


def mean_interval(values: Sequence[float], level: float = 0.975) -> tuple[float, float, float]:
    """``(mean, lo, hi)``: the mean with its t-interval ``mean ± t(level, n-1) · sd / √n`` (n = 1: no width)."""
    arr = np.asarray(values, float)
    n = arr.size
    if n == 0:
        raise ValueError("mean_interval needs at least one value")
    mean = float(arr.mean())
    if n == 1 or np.ptp(arr) == 0:
        return mean, mean, mean
    half = t_quantile(n - 1, level) * float(arr.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half


def pooled_sd(groups: Sequence[Sequence[float]]) -> float:
    """Pooled within-group standard deviation ``sqrt(Σ (n_g - 1) s_g² / Σ (n_g - 1))`` (groups of ≥ 2 values)."""
    num, den = 0.0, 0
    for g in groups:
        a = np.asarray(g, float)
        if a.size >= 2:
            num += float(((a - a.mean()) ** 2).sum())
            den += a.size - 1
    if den == 0:
        raise ValueError("pooled_sd needs a group with at least two values")
    return math.sqrt(num / den)


def max_or_nan(*values: float | Iterable[float]) -> float:
    """The largest value, NaN if any is NaN. Python's ``max`` drops a NaN that is not first (``max(1, nan) == 1``),
    which turns a failed measurement into a pass; metrics use this instead. Scalars and iterables may be mixed."""
    return float(np.max(_flat(values)))


def min_or_nan(*values: float | Iterable[float]) -> float:
    """The smallest value, NaN if any is NaN (see :func:`max_or_nan`)."""
    return float(np.min(_flat(values)))


def _flat(values: tuple) -> np.ndarray:
    items: list[float] = []
    for v in values:
        if isinstance(v, (int, float, np.floating, np.integer)):
            items.append(float(v))
        else:
            items.extend(float(x) for x in v)
    if not items:
        raise ValueError("max_or_nan/min_or_nan need at least one value")
    return np.asarray(items, dtype=np.float64)


def fit_loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of ``log|y|`` against ``log|x|`` (NaN in, NaN out)."""
    lx, ly = np.log(np.abs(np.asarray(x, float))), np.log(np.abs(np.asarray(y, float)))
    if lx.shape != ly.shape or lx.size < 2:
        raise ValueError(f"fit_loglog_slope needs x and y of equal length >= 2, got {lx.size} and {ly.size}")
    lx = lx - lx.mean()
    denom = float(lx @ lx)
    if denom == 0:
        raise ValueError("fit_loglog_slope: all x are equal")
    return float(lx @ (ly - ly.mean()) / denom)


__all__ = ["fit_loglog_slope", "max_or_nan", "mean_interval", "min_or_nan", "pooled_sd", "t_quantile"]
