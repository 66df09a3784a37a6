"""Input checks shared by every estimator: pandas/NumPy in, float64 arrays out, one-line errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

ArrayLike = Any  # np.ndarray | pd.Series | pd.DataFrame | list


def _rows(idx: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(str(int(i)) for i in idx[:limit])
    more = f" (+{len(idx) - limit} more)" if len(idx) > limit else ""
    return f"rows [{shown}]{more}"


def same_index(**named: ArrayLike | None) -> None:
    """Refuse pandas inputs whose indexes differ: they would otherwise be paired by position, not by label.

    Every pandas Series/DataFrame among ``named`` (name -> value, None skipped) must carry the same index in the
    same order as the first one; NumPy arrays and lists carry no labels and pair by position. Inputs of different
    lengths are left to the length checks. (statsmodels refuses unaligned endog/exog in the same way.)
    """
    first: tuple[str, pd.Index] | None = None
    for name, v in named.items():
        if not isinstance(v, (pd.Series, pd.DataFrame)):
            continue
        if first is None:
            first = (name, v.index)
            continue
        ref_name, ref = first
        if len(v.index) != len(ref) or v.index.equals(ref):
            continue
        pos = int(np.flatnonzero(np.asarray(v.index != ref))[0]) if not (ref.has_duplicates or
                                                                          v.index.has_duplicates) else 0
        a, b = (i.item() if isinstance(i, np.generic) else i for i in (ref[pos], v.index[pos]))
        raise ValueError(f"{ref_name} and {name} carry different pandas indexes (position {pos}: label "
                         f"{a!r} vs {b!r}); pair them by label first (e.g. "
                         f"{name}.loc[{ref_name}.index]) or pass NumPy arrays to pair them by position")


def as_vector(v: ArrayLike, name: str, *, finite: bool = True) -> np.ndarray:
    """A 1-D float64 array; NaN/inf (unless ``finite=False``) or a wrong shape raise a ValueError naming ``name``
    and the rows."""
    if v is None:
        raise ValueError(f"{name} is required")
    if isinstance(v, pd.DataFrame):
        if v.shape[1] != 1:
            raise ValueError(f"{name} must be one column, got {v.shape[1]} columns")
        v = v.iloc[:, 0]
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric") from None
    if a.ndim != 1:
        a = a.reshape(-1) if a.ndim == 2 and 1 in a.shape else a
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    bad = np.flatnonzero(~np.isfinite(a)) if finite else np.empty(0, dtype=int)
    if bad.size:
        raise ValueError(f"{name} has missing or non-finite values in {_rows(bad)}")
    return a


def as_treatment(t: ArrayLike, name: str = "treatment") -> np.ndarray:
    """Binary 0/1 treatment as float64; other values raise a ValueError naming the rows."""
    a = as_vector(t, name)
    if a.size == 0:
        raise ValueError(f"{name} is empty (no units)")
    bad = np.flatnonzero((a != 0) & (a != 1))
    if bad.size:
        raise ValueError(f"{name} must be binary 0/1; {_rows(bad)} hold {sorted(set(a[bad].tolist()))[:5]}")
    if a.sum() == 0 or a.sum() == a.size:
        raise ValueError(f"{name} must contain both treated (1) and control (0) units")
    return a


def as_matrix(x: ArrayLike | None, n: int, name: str = "X") -> tuple[np.ndarray, list[str]]:
    """Covariates as a float64 (n, p) matrix plus column names; p may be 0 when ``x`` is None."""
    if x is None:
        return np.empty((n, 0)), []
    if isinstance(x, pd.Series):
        x = x.to_frame()
    if isinstance(x, pd.DataFrame):
        names = [str(c) for c in x.columns]
        cols = []
        for c in x.columns:
            col = x[c]
            if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
                raise ValueError(f"column {c!r} of {name} is not numeric (dtype {col.dtype}); expand it to dummies")
            a = col.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = np.flatnonzero(~np.isfinite(a))
            if bad.size:
                raise ValueError(f"column {c!r} of {name} has missing or non-finite values in {_rows(bad)}")
            cols.append(a)
        m = np.column_stack(cols) if cols else np.empty((len(x), 0))
    else:
        m = np.asarray(x, dtype=np.float64)
        if m.ndim == 1:
            m = m[:, None]
        if m.ndim != 2:
            raise ValueError(f"{name} must be two-dimensional, got shape {m.shape}")
        names = [f"x{j}" for j in range(m.shape[1])]
        bad_r, bad_c = np.nonzero(~np.isfinite(m))
        if bad_r.size:
            raise ValueError(f"column {names[bad_c[0]]!r} of {name} has missing or non-finite values in "
                             f"{_rows(np.unique(bad_r))}")
    if m.shape[0] != n:
        raise ValueError(f"{name} has {m.shape[0]} rows but the outcome/treatment has {n}")
    return m, names


def check_inputs(y: ArrayLike, t: ArrayLike, x: ArrayLike | None = None, **others: ArrayLike | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Validate (Y, T, X) together: Y given, equal lengths, binary T, no missing values, and pandas inputs on one
    index. ``others`` (e.g. ``propensity=e``) are further per-unit inputs checked for the same index only."""
    tt = as_treatment(t, "treatment")
    yy = as_vector(y, "outcome")  # None -> "outcome is required"
    if yy.size != tt.size:
        raise ValueError(f"outcome has {yy.size} rows but treatment has {tt.size}")
    xx, names = as_matrix(x, tt.size)
    same_index(outcome=y, treatment=t, X=x, **others)
    return yy, tt, xx, names


def check_n_boot(n_boot: int) -> int:
    """Bootstrap draws: 0 switches the bootstrap off (SE NaN); one draw has no spread, so 1 is refused."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0 or n_boot == 1:
        raise ValueError(f"n_boot must be 0 (no bootstrap SE) or >= 2, got {n_boot}")
    return int(n_boot)


def check_propensity(e: ArrayLike, n: int, name: str = "propensity") -> np.ndarray:
    """Propensity scores strictly inside (0, 1): 0 or 1 breaks overlap and is an error naming the rows."""
    a = as_vector(e, name)
    if a.size != n:
        raise ValueError(f"{name} has {a.size} rows but treatment has {n}")
    bad = np.flatnonzero((a <= 0) | (a >= 1))
    if bad.size:
        raise ValueError(f"{name} must lie strictly between 0 and 1 (overlap); {_rows(bad)} are at or beyond 0/1")
    return a


def columns(data: pd.DataFrame, names: Sequence[str], what: str = "data") -> pd.DataFrame:
    """``data[names]`` with a clear error naming a missing column."""
    missing = [c for c in names if c not in data.columns]
    if missing:
        raise ValueError(f"column {missing[0]!r} not in {what} (available: {', '.join(map(str, data.columns))})")
    return data[list(names)]


def split_frame(data: pd.DataFrame, *, outcome: str | None, treatment: str, covariates: Sequence[str]
                ) -> tuple[pd.Series | None, pd.Series, pd.DataFrame]:
    """``(Y, T, X)`` from one data frame by column names; a missing column is a one-line ValueError."""
    needed = ([outcome] if outcome is not None else []) + [treatment, *covariates]
    columns(data, needed)
    y = data[outcome] if outcome is not None else None
    return y, data[treatment], data[list(covariates)]
