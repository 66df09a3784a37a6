"""Offline data: real benchmark data shipped inside PyPI packages, and simulators with known truth.

Real data (located with ``importlib.util.find_spec``, never downloaded, never importing the packages):

* ``causaldata`` 0.1.5: ``nsw_mixtape`` (Dehejia–Wahba NSW subsample, 185 treated / 260 controls),
  ``cps_mixtape`` (15 992 CPS comparison units), ``nhefs_complete`` (1 566 NHEFS complete cases).
* ``PySensemakr`` 0.0.8 (install with ``--no-deps``): ``sensemakr/data/darfur.csv`` (1 276 rows).

All loaders return float64 frames (the ``.dta`` files hold int8/float32 columns; age² would overflow int8) with
categorical columns expanded to 0/1 dummies. Simulators take a ``torch.Generator`` (or an int seed), draw through
a NumPy generator seeded from it, and return a :class:`SimData` holding the truth.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from livepapers.core.inputs import as_seed

NSW_COVARIATES = ("age", "educ", "black", "hisp", "marr", "nodegree", "re74", "re75")
NHEFS_CATEGORICAL = ("education", "exercise", "active")
NHEFS_BASE = ("sex", "race", "age", "smokeintensity", "smokeyrs", "wt71")
NHEFS_SQUARED = ("age", "smokeintensity", "smokeyrs", "wt71")
DARFUR_COVARIATES = ("directlyharmed", "age", "farmer_dar", "herder_dar", "pastvoted", "hhsize_darfur", "female")


def _package_dir(pkg: str, install: str) -> Path:
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {pkg!r} is not installed; install it with: pip install {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def _causaldata_file(name: str) -> Path:
    path = _package_dir("causaldata", "causaldata==0.1.5") / name / f"{name}.dta"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; the installed causaldata does not ship {name!r}")
    return path


def _nsw_frame(name: str) -> pd.DataFrame:
    df = pd.read_stata(_causaldata_file(name))
    cols = ["treat", *NSW_COVARIATES, "re78"]
    return df[cols].astype(np.float64).reset_index(drop=True)


def load_nsw(sample: str = "experimental") -> pd.DataFrame:
    """NSW job-training data (Dehejia–Wahba subsample of LaLonde 1986), float64.

    Args:
        sample: ``"experimental"`` — the 445 NSW units (185 treated, 260 randomised controls);
            ``"cps"`` — the 185 NSW treated units plus the 15 992 CPS comparison units (16 177 rows).

    Columns: treat, age, educ, black, hisp, marr, nodegree, re74, re75, re78.
    """
    if sample == "experimental":
        return _nsw_frame("nsw_mixtape")
    if sample == "cps":
        nsw = _nsw_frame("nsw_mixtape")
        cps = _nsw_frame("cps_mixtape")
        return pd.concat([nsw[nsw["treat"] == 1], cps], ignore_index=True)
    raise ValueError(f"sample must be 'experimental' or 'cps', got {sample!r}")


def dw_style_features(df: pd.DataFrame) -> pd.DataFrame:
    """The "DW-style" propensity regressors for NSW+CPS (close to, not identical with, Dehejia–Wahba 1999):
    age, age², educ, educ², marr, nodegree, black, hisp, re74, re75, u74 = 1[re74 = 0], u75, re74², re75²,
    educ·re74."""
    missing = [c for c in NSW_COVARIATES if c not in df.columns]
    if missing:
        raise ValueError(f"column {missing[0]!r} not in data (need {', '.join(NSW_COVARIATES)})")
    d = df.astype({c: np.float64 for c in NSW_COVARIATES})
    return pd.DataFrame({
        "age": d["age"], "age2": d["age"] ** 2, "educ": d["educ"], "educ2": d["educ"] ** 2, "marr": d["marr"],
        "nodegree": d["nodegree"], "black": d["black"], "hisp": d["hisp"], "re74": d["re74"], "re75": d["re75"],
        "u74": (d["re74"] == 0).astype(np.float64), "u75": (d["re75"] == 0).astype(np.float64),
        "re742": d["re74"] ** 2, "re752": d["re75"] ** 2, "educ_re74": d["educ"] * d["re74"],
    })


def load_nhefs(complete: bool = True) -> pd.DataFrame:
    """NHEFS (Hernán & Robins, *Causal Inference: What If*), float64 with categoricals expanded.

    ``complete=True``: the 1 566 complete cases (``nhefs_complete``); ``False``: all 1 629 rows (``nhefs``, wt82
    missing for 63). sex and race become 0/1 floats; education (1–5), exercise and active (0–2) become dummies
    ``education_2..5``, ``exercise_1..2``, ``active_1..2`` (first level dropped).
    """
    name = "nhefs_complete" if complete else "nhefs"
    df = pd.read_stata(_causaldata_file(name))
    for c in ("sex", "race"):
        df[c] = pd.to_numeric(df[c].astype(str), errors="raise").astype(np.float64)
    for c in NHEFS_CATEGORICAL:
        codes = pd.to_numeric(df[c].astype(str), errors="raise").astype(int)
        levels = sorted(codes.unique())
        for lv in levels[1:]:
            df[f"{c}_{lv}"] = (codes == lv).astype(np.float64)
        df = df.drop(columns=c)
    num = df.select_dtypes(include=["number", "bool"]).columns
    return df[num].astype(np.float64).reset_index(drop=True)


def nhefs_design(df: pd.DataFrame) -> pd.DataFrame:
    """Hernán–Robins covariates of :func:`load_nhefs`: sex, race, age, age², education (dummies), smokeintensity
    (+²), smokeyrs (+²), exercise and active (dummies), wt71 (+²)."""
    x = df[list(NHEFS_BASE) + [c for c in df.columns if c.startswith(("education_", "exercise_", "active_"))]].copy()
    for c in NHEFS_SQUARED:
        x[f"{c}2"] = x[c] ** 2
    return x


def load_darfur() -> pd.DataFrame:
    """Darfur survey (Hazlett 2019) as shipped by PySensemakr 0.0.8, float64; ``village`` expanded to dummies
    ``village_<name>`` (first level dropped) for village fixed effects."""
    path = _package_dir("sensemakr", "--no-deps PySensemakr==0.0.8") / "data" / "darfur.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; the installed PySensemakr does not ship darfur.csv")
    df = pd.read_csv(path)
    village = df.pop("village").astype(str)
    dummies = pd.get_dummies(village, prefix="village", drop_first=True, dtype=np.float64)
    return pd.concat([df.astype(np.float64), dummies], axis=1)


def darfur_design(df: pd.DataFrame) -> pd.DataFrame:
    """Cinelli & Hazlett's (2020) regressors of :func:`load_darfur`: directlyharmed (the treatment), age, farmer,
    herder, past voting, household size, female and the village fixed effects."""
    return df[list(DARFUR_COVARIATES) + [c for c in df.columns if c.startswith("village_")]]


# ---------------------------------------------------------------------------------------------------------
# simulators
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimData:
    r"""A simulated data set with its truth.

    Attributes:
        X: observed covariates (n, p) as a DataFrame.
        T: treatment (n,) in {0, 1}.
        Y: observed outcome (n,).
        tau: true CATE $\tau(X_i)$ (n,) (for Kang–Schafer: None).
        ate: true average effect (for Kang–Schafer: the target $E[Y(1)] = 210$).
        e: true propensity (n,).
        mu0, mu1: true $E[Y(0) \mid X]$, $E[Y(1) \mid X]$ (n,).
        extra: generator-specific arrays (Kang–Schafer's latent Z, the unmeasured U, ...).
    """

    X: pd.DataFrame
    T: np.ndarray
    Y: np.ndarray
    tau: np.ndarray | None
    ate: float
    e: np.ndarray
    mu0: np.ndarray
    mu1: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)


def as_numpy_rng(generator: torch.Generator | int | np.random.Generator | None) -> np.random.Generator:
    """A NumPy generator seeded from a torch.Generator (one draw from it, ``core.inputs.as_seed``) or an int seed;
    a NumPy generator is used as is."""
    if isinstance(generator, np.random.Generator):
        return generator
    return np.random.default_rng(as_seed(generator, "generator"))


def _expit(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _frame(x: np.ndarray, prefix: str = "x") -> pd.DataFrame:
    return pd.DataFrame(x, columns=[f"{prefix}{j + 1}" for j in range(x.shape[1])])


def _check_n(n: int) -> None:
    if int(n) < 2:
        raise ValueError(f"n must be >= 2, got {n}")


def kang_schafer(n: int, generator: torch.Generator | int) -> SimData:
    r"""Kang & Schafer (2007): $Z\sim N(0,I_4)$, $Y = 210 + 27.4Z_1 + 13.7(Z_2+Z_3+Z_4) + \varepsilon$,
    $P(W=1\mid Z) = \mathrm{expit}(-Z_1 + 0.5Z_2 - 0.25Z_3 - 0.1Z_4)$; observed
    $X = (e^{Z_1/2},\ Z_2/(1+e^{Z_1}) + 10,\ (Z_1Z_3/25 + 0.6)^3,\ (Z_2+Z_4+20)^2)$.
    Target: $E[Y] = 210$ with Y observed only when W = 1 (``ate`` holds 210; ``extra["Z"]`` the truth)."""
    _check_n(n)
    rng = as_numpy_rng(generator)
    z = rng.standard_normal((n, 4))
    mu = 210 + 27.4 * z[:, 0] + 13.7 * (z[:, 1] + z[:, 2] + z[:, 3])
    y = mu + rng.standard_normal(n)
    e = _expit(-z[:, 0] + 0.5 * z[:, 1] - 0.25 * z[:, 2] - 0.1 * z[:, 3])
    t = (rng.random(n) < e).astype(np.float64)
    x = np.column_stack([np.exp(z[:, 0] / 2), z[:, 1] / (1 + np.exp(z[:, 0])) + 10,
                         (z[:, 0] * z[:, 2] / 25 + 0.6) ** 3, (z[:, 1] + z[:, 3] + 20) ** 2])
    return SimData(_frame(x), t, y, None, 210.0, e, mu, mu, {"Z": _frame(z, "z")})


def nie_wager(setup: str, n: int, d: int = 6, sigma: float = 1.0,
              generator: torch.Generator | int | None = None) -> SimData:
    r"""Nie & Wager (2021) setups A–D (``causalml.dataset.synthetic_data`` modes 1–4):
    $Y = b(X) + (W - 0.5)\tau(X) + \sigma\varepsilon$.

    A: $X\sim U(0,1)^d$, $b=\sin(\pi X_1X_2)+2(X_3-0.5)^2+X_4+0.5X_5$,
    $e=\mathrm{clip}(\sin(\pi X_1X_2), 0.1, 0.9)$, $\tau=(X_1+X_2)/2$.
    B: $X\sim N(0,I_d)$, $b=\max(0,X_1+X_2,X_3)+\max(0,X_4+X_5)$, $e=0.5$,
    $\tau=X_1+\log(1+e^{X_2})$.
    C: $X\sim N(0,I_d)$, $b=2\log(1+e^{X_1+X_2+X_3})$, $e=1/(1+e^{X_2+X_3})$, $\tau=1$.
    D: $X\sim N(0,I_d)$, $b=[\max(0,X_1+X_2+X_3)+\max(0,X_4+X_5)]/2$,
    $e=1/(1+e^{-X_1}+e^{-X_2})$, $\tau=\max(0,X_1+X_2+X_3)-\max(0,X_4+X_5)$.
    """
    _check_n(n)
    if setup not in ("A", "B", "C", "D"):
        raise ValueError(f"setup must be 'A', 'B', 'C' or 'D', got {setup!r}")
    if d < 5:
        raise ValueError(f"d must be >= 5 for the Nie–Wager setups, got {d}")
    rng = as_numpy_rng(generator)
    if setup == "A":
        x = rng.random((n, d))
        b = np.sin(np.pi * x[:, 0] * x[:, 1]) + 2 * (x[:, 2] - 0.5) ** 2 + x[:, 3] + 0.5 * x[:, 4]
        e = np.clip(np.sin(np.pi * x[:, 0] * x[:, 1]), 0.1, 0.9)
        tau = (x[:, 0] + x[:, 1]) / 2
    else:
        x = rng.standard_normal((n, d))
        if setup == "B":
            b = np.maximum.reduce([np.zeros(n), x[:, 0] + x[:, 1], x[:, 2]]) + np.maximum(0, x[:, 3] + x[:, 4])
            e = np.full(n, 0.5)
            tau = x[:, 0] + np.log1p(np.exp(x[:, 1]))
        elif setup == "C":
            b = 2 * np.log1p(np.exp(x[:, 0] + x[:, 1] + x[:, 2]))
            e = 1 / (1 + np.exp(x[:, 1] + x[:, 2]))
            tau = np.ones(n)
        else:
            b = (np.maximum(0, x[:, 0] + x[:, 1] + x[:, 2]) + np.maximum(0, x[:, 3] + x[:, 4])) / 2
            e = 1 / (1 + np.exp(-x[:, 0]) + np.exp(-x[:, 1]))
            tau = np.maximum(0, x[:, 0] + x[:, 1] + x[:, 2]) - np.maximum(0, x[:, 3] + x[:, 4])
    t = (rng.random(n) < e).astype(np.float64)
    y = b + (t - 0.5) * tau + sigma * rng.standard_normal(n)
    return SimData(_frame(x), t, y, tau, float(tau.mean()), e, b - 0.5 * tau, b + 0.5 * tau, {"setup": setup})


def unmeasured_confounding(n: int, strength: float = 1.0, generator: torch.Generator | int | None = None) -> SimData:
    r"""$X\sim N(0,I_5)$, $U\sim N(0,1)$ unobserved,
    $W\sim\mathrm{Bern}(\mathrm{expit}(0.5X_1+\gamma U))$,
    $Y = X_1 + 0.5X_2 + \tau W + \gamma U + \varepsilon$, $\tau = 1$, $\gamma$ = ``strength``.
    ``e`` is the propensity given X and U; ``extra["U"]`` holds U."""
    _check_n(n)
    rng = as_numpy_rng(generator)
    x = rng.standard_normal((n, 5))
    u = rng.standard_normal(n)
    e = _expit(0.5 * x[:, 0] + strength * u)
    t = (rng.random(n) < e).astype(np.float64)
    base = x[:, 0] + 0.5 * x[:, 1] + strength * u
    y = base + 1.0 * t + rng.standard_normal(n)
    return SimData(_frame(x), t, y, np.ones(n), 1.0, e, base, base + 1.0, {"U": u, "strength": strength})


def overlap_violation(n: int, generator: torch.Generator | int | None = None) -> SimData:
    r"""$X\sim U(0,1)^5$; W = 0 if $X_1 < 0.5$, W = 1 if $X_1 > 0.7$, Bern(0.5) in between;
    $Y = \sin(\pi X_2) + \tau(X)W + 0.5\varepsilon$, $\tau(X) = 1 + 4(X_1-0.6)^2$."""
    _check_n(n)
    rng = as_numpy_rng(generator)
    x = rng.random((n, 5))
    e = np.where(x[:, 0] < 0.5, 0.0, np.where(x[:, 0] > 0.7, 1.0, 0.5))
    t = np.where(e == 0.5, (rng.random(n) < 0.5).astype(np.float64), e)
    tau = 1 + 4 * (x[:, 0] - 0.6) ** 2
    mu0 = np.sin(np.pi * x[:, 1])
    y = mu0 + tau * t + 0.5 * rng.standard_normal(n)
    return SimData(_frame(x), t, y, tau, float(tau.mean()), e, mu0, mu0 + tau)
