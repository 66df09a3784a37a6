r"""Average-effect estimators under the potential-outcome framework (Dominici et al. 2021, §2–4).

Notation: units $i=1..n$, binary treatment $W_i$, outcome $Y_i = W_iY_i(1) + (1-W_i)Y_i(0)$,
covariates $X_i$, propensity $e(x)=P(W=1\mid X=x)$, outcome regressions $\mu_w(x)=E[Y\mid X=x,W=w]$.

* Difference in means (Neyman 1923): $\hat\tau = \bar Y_1 - \bar Y_0$, $\hat V = s_1^2/n_1 + s_0^2/n_0$.
* Fisher randomisation test of the sharp null $Y_i(1)=Y_i(0)$:
  $p = (1 + \#\{|T^{(r)}| \ge |T^{obs}|\})/(R+1)$.
* Regression adjustment: ANCOVA (OLS $Y \sim 1+W+X$), Lin (2013)
  ($Y \sim 1 + W + (X-\bar X) + W(X-\bar X)$), both with HC2 SEs; standardisation / g-formula
  $\hat\tau = n^{-1}\sum_i[\hat\mu_1(X_i)-\hat\mu_0(X_i)]$.
* IPW: Horvitz–Thompson $n^{-1}\sum[WY/\hat e - (1-W)Y/(1-\hat e)]$ and Hájek (weights normalised per arm).
* AIPW: $\psi_i = \hat\mu_1 - \hat\mu_0 + W(Y-\hat\mu_1)/\hat e - (1-W)(Y-\hat\mu_0)/(1-\hat e)$,
  $\hat\tau=\bar\psi$, SE $= \mathrm{sd}(\psi)/\sqrt n$.
* Nearest-neighbour matching with the Abadie–Imbens (2006) variance; subclassification on $\hat e$;
  Bayesian model-based imputation (Rubin 1978).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import NearestNeighbors

from ._inputs import ArrayLike, as_vector, check_inputs, check_n_boot, check_propensity
from .design import PropensityModel, balancing_weights, check_trim_rule, effective_sample_size, trim
from .estimate import Estimate

# ---------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------


def _neyman(y: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    y1, y0 = y[t == 1], y[t == 0]
    tau = y1.mean() - y0.mean()
    # V = s1²/n1 + s0²/n0 (Neyman's conservative variance)
    v = y1.var(ddof=1) / y1.size + y0.var(ddof=1) / y0.size
    return float(tau), float(np.sqrt(v))


def _stratified_indices(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A bootstrap resample drawn within each arm (keeps n1 and n0 fixed)."""
    i1, i0 = np.flatnonzero(t == 1), np.flatnonzero(t == 0)
    return np.concatenate([rng.choice(i1, i1.size), rng.choice(i0, i0.size)])


def _bootstrap_se(fn: Callable[[np.ndarray], float], t: np.ndarray, n_boot: int, seed: int) -> tuple[float, np.ndarray]:
    """SD of ``fn`` over within-arm resamples. Draws where the estimate is undefined (e.g. trimming left one arm
    empty) are left out of the SD, with a warning; the caller reports how many in ``n_boot_failed``."""
    rng = np.random.default_rng(seed)
    vals = np.empty(n_boot)
    for b in range(n_boot):
        vals[b] = fn(_stratified_indices(t, rng))
    failed = int((~np.isfinite(vals)).sum())
    if failed:
        warnings.warn(f"{failed} of {n_boot} bootstrap draws gave no estimate (an arm was empty after trimming?) "
                      "and were undefined; the SE uses the others (diagnostics['n_boot_failed'])",
                      RuntimeWarning, stacklevel=3)
    vals = vals[np.isfinite(vals)]
    return (float(vals.std(ddof=1)) if vals.size > 1 else float("nan")), vals


def _ols_hc2(y: np.ndarray, design: np.ndarray, col: int) -> tuple[float, float, Any]:
    res = sm.OLS(y, design).fit(cov_type="HC2")
    return float(res.params[col]), float(res.bse[col]), res


class PooledOutcome:
    r"""One outcome regression on $(X, W, W\cdot X_{S})$ for both arms (g-formula with interactions).

    Args:
        model: any sklearn regressor (default OLS, ``LinearRegression``).
        interactions: covariates (column names, or integer positions for arrays) multiplied by W.
    """

    def __init__(self, model: Any = None, *, interactions: Sequence[str | int] = ()) -> None:
        self.model = model
        self.interactions = tuple(interactions)


def _interaction_index(spec: Sequence[str | int], names: list[str]) -> list[int]:
    idx = []
    for s in spec:
        if isinstance(s, (int, np.integer)):
            if not 0 <= s < len(names):
                raise ValueError(f"interaction column index {s} out of range (p = {len(names)})")
            idx.append(int(s))
        elif s in names:
            idx.append(names.index(s))
        else:
            raise ValueError(f"interaction column {s!r} not in X (available: {', '.join(names)})")
    return idx


def _is_parametric_outcome(model: Any) -> bool:
    if model is None:
        return True
    if isinstance(model, PooledOutcome):
        return model.model is None or isinstance(model.model, LinearRegression)
    return isinstance(model, LinearRegression)


def fit_outcome_model(model: Any, x: np.ndarray, t: np.ndarray, y: np.ndarray, names: list[str]
                      ) -> Callable[[np.ndarray, int], np.ndarray]:
    r"""Fit $\hat\mu_w$; returns ``predict(x, w)``. ``model``: None (OLS per arm), a regressor (per arm)
    or :class:`PooledOutcome`."""
    if isinstance(model, PooledOutcome):
        idx = _interaction_index(model.interactions, names)
        base = clone(model.model) if model.model is not None else LinearRegression()

        def design(xx: np.ndarray, w: np.ndarray) -> np.ndarray:
            return np.column_stack([xx, w, w[:, None] * xx[:, idx]])

        base.fit(design(x, t), y)
        return lambda xx, w: base.predict(design(xx, np.full(len(xx), float(w))))
    fits = {}
    for w in (0, 1):
        m = t == w
        if x.shape[1] == 0:
            mean = float(y[m].mean())
            fits[w] = (lambda xx, mean=mean: np.full(len(xx), mean))
        else:
            est = clone(model) if model is not None else LinearRegression()
            est.fit(x[m], y[m])
            fits[w] = est.predict
    return lambda xx, w: fits[w](xx)


# ---------------------------------------------------------------------------------------------------------
# randomised experiments
# ---------------------------------------------------------------------------------------------------------


class DifferenceInMeans:
    r"""Neyman's difference in means $\bar Y_1 - \bar Y_0$ with $\hat V = s_1^2/n_1 + s_0^2/n_0$.

    The SE equals the HC2 SE of the W coefficient of OLS $Y \sim 1 + W$.
    """

    def fit(self, Y: ArrayLike, T: ArrayLike, X: ArrayLike | None = None) -> DifferenceInMeans:
        y, t, _, _ = check_inputs(Y, T, X)
        tau, se = _neyman(y, t)
        self.estimate_ = Estimate(tau, se, "ate", "difference-in-means", int(t.size),
                                  {"n_treated": int(t.sum()), "n_control": int((1 - t).sum())})
        return self


def randomization_test(Y: ArrayLike, T: ArrayLike, *, n_perm: int = 10_000, seed: int = 0) -> tuple[float, float]:
    r"""Fisher randomisation test of the sharp null $Y_i(1)=Y_i(0)$ for all i.

    Statistic $|\bar Y_1 - \bar Y_0|$; W re-drawn by complete randomisation ($n_1$ fixed) ``n_perm`` times;
    $p = (1 + \#\{stat_{perm} \ge stat_{obs}\})/(R+1)$. Returns ``(stat_obs, p)``.
    """
    y, t, _, _ = check_inputs(Y, T)
    if n_perm < 1:
        raise ValueError(f"n_perm must be >= 1, got {n_perm}")
    n, n1 = t.size, int(t.sum())
    n0, total = n - n1, y.sum()
    obs = abs(y[t == 1].mean() - y[t == 0].mean())
    rng = np.random.default_rng(seed)
    count, done, chunk = 0, 0, max(1, min(n_perm, 2_000_000 // max(n, 1)))
    while done < n_perm:
        m = min(chunk, n_perm - done)
        order = np.argsort(rng.random((m, n)), axis=1)[:, :n1]  # a uniformly random treated set of size n1
        s1 = y[order].sum(axis=1)
        stat = np.abs(s1 / n1 - (total - s1) / n0)
        count += int(np.sum(stat >= obs - 1e-12 * max(1.0, abs(obs))))
        done += m
    return float(obs), (1 + count) / (n_perm + 1)


# ---------------------------------------------------------------------------------------------------------
# regression adjustment
# ---------------------------------------------------------------------------------------------------------


class RegressionAdjustment:
    r"""Covariate adjustment by regression.

    Args:
        method: ``"ancova"`` — OLS $Y\sim 1+W+X$, coefficient of W, HC2 SE; ``"lin"`` — Lin (2013)
            $Y\sim 1+W+(X-\bar X)+W(X-\bar X)$, coefficient of W, HC2 SE; ``"standardization"`` —
            g-formula $\hat\tau_{ATE}=n^{-1}\sum_i[\hat\mu_1(X_i)-\hat\mu_0(X_i)]$,
            $\hat\tau_{ATT}=n_1^{-1}\sum_{W_i=1}[Y_i-\hat\mu_0(X_i)]$, SE by a bootstrap refitting everything.
        outcome_model: for standardisation: None (OLS per arm), any sklearn regressor (per arm) or
            :class:`PooledOutcome`.
        estimand: ``"ate"`` (all methods) or ``"att"`` (standardisation only).
        n_boot: bootstrap draws for standardisation (resampled within arm); 0 = no bootstrap (SE NaN).
        seed: bootstrap seed.
    """

    def __init__(self, *, method: str = "ancova", outcome_model: Any = None, estimand: str = "ate",
                 n_boot: int = 500, seed: int = 0) -> None:
        if method not in ("ancova", "lin", "standardization"):
            raise ValueError(f"method must be 'ancova', 'lin' or 'standardization', got {method!r}")
        if estimand not in ("ate", "att"):
            raise ValueError(f"estimand must be 'ate' or 'att', got {estimand!r}")
        if estimand != "ate" and method != "standardization":
            raise ValueError(f"estimand {estimand!r} needs method='standardization'")
        self.method, self.outcome_model, self.estimand = method, outcome_model, estimand
        self.n_boot, self.seed = check_n_boot(n_boot), seed

    def fit(self, Y: ArrayLike, T: ArrayLike, X: ArrayLike) -> RegressionAdjustment:
        y, t, x, names = check_inputs(Y, T, X)
        n = t.size
        if self.method == "ancova":
            design = np.column_stack([np.ones(n), t, x])
            tau, se, res = _ols_hc2(y, design, 1)
            self.estimate_ = Estimate(tau, se, "ate", "regression-ancova", n, {"df_resid": float(res.df_resid)})
        elif self.method == "lin":
            xc = x - x.mean(axis=0)
            design = np.column_stack([np.ones(n), t, xc, t[:, None] * xc])
            tau, se, res = _ols_hc2(y, design, 1)
            self.estimate_ = Estimate(tau, se, "ate", "regression-lin", n, {"df_resid": float(res.df_resid)})
        else:
            def point(idx: np.ndarray) -> float:
                mu = fit_outcome_model(self.outcome_model, x[idx], t[idx], y[idx], names)
                xi, ti, yi = x[idx], t[idx], y[idx]
                if self.estimand == "ate":
                    return float(np.mean(mu(xi, 1) - mu(xi, 0)))
                return float(np.mean(yi[ti == 1] - mu(xi[ti == 1], 0)))

            tau = point(np.arange(n))
            se, draws = _bootstrap_se(point, t, self.n_boot, self.seed) if self.n_boot > 1 else (float("nan"), None)
            failed = self.n_boot - draws.size if draws is not None else 0
            self.estimate_ = Estimate(tau, se, self.estimand, "regression-standardization", n,
                                      {"n_boot": self.n_boot, "n_boot_failed": failed}, draws)
        return self


# ---------------------------------------------------------------------------------------------------------
# weighting
# ---------------------------------------------------------------------------------------------------------


def ipw_point(y: np.ndarray, t: np.ndarray, e: np.ndarray, estimand: str, normalized: bool) -> float:
    """IPW point estimate (Horvitz–Thompson when ``normalized=False``, Hájek otherwise)."""
    if normalized:
        w = balancing_weights(e, t, estimand=estimand, normalized=True)
        # Hájek: Σ w₁Y/Σ w₁ − Σ w₀Y/Σ w₀ (weights already sum to 1 in each arm)
        return float(np.sum(w[t == 1] * y[t == 1]) - np.sum(w[t == 0] * y[t == 0]))
    n, n1 = t.size, t.sum()
    if estimand == "ate":
        # (1/n) Σ [W Y/ê − (1−W) Y/(1−ê)]
        return float(np.mean(t * y / e - (1 - t) * y / (1 - e)))
    if estimand == "att":
        # (1/n₁) Σ [W Y − (1−W) ê/(1−ê) Y]
        return float(np.sum(t * y - (1 - t) * e / (1 - e) * y) / n1)
    if estimand == "atc":
        return float(np.sum(t * (1 - e) / e * y - (1 - t) * y) / (n - n1))
    raise ValueError("the overlap estimand 'ato' is defined with normalised weights only (normalized=True)")


def _weight_functions(estimand: str, t: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, ...]:
    """Unnormalised arm weights $w_1(e)$, $w_0(e)$, their derivatives in e, and the HT denominator indicator d."""
    one, zero = np.ones_like(e), np.zeros_like(e)
    if estimand == "ate":
        w1, w0, dw1, dw0, d = t / e, (1 - t) / (1 - e), -t / e**2, (1 - t) / (1 - e) ** 2, one
    elif estimand == "att":
        w1, w0, dw1, dw0, d = t * one, (1 - t) * e / (1 - e), zero, (1 - t) / (1 - e) ** 2, t
    elif estimand == "atc":
        w1, w0, dw1, dw0, d = t * (1 - e) / e, (1 - t) * one, -t / e**2, zero, 1 - t
    else:  # ato
        w1, w0, dw1, dw0, d = t * (1 - e), (1 - t) * e, -t * one, (1 - t) * one, one
    return w1, w0, dw1, dw0, d


def ipw_sandwich_se(y: np.ndarray, t: np.ndarray, e: np.ndarray, z: np.ndarray | None, *, estimand: str = "ate",
                    normalized: bool = True, keep: np.ndarray | None = None) -> float:
    r"""Sandwich SE of IPW by stacked M-estimation (logit propensity $e = \mathrm{expit}(Z\beta)$).

    Estimating functions: $\psi_\beta = Z^\top(W - e)$; Hájek: $\psi_1 = w_1(e)(Y-\mu_1)$,
    $\psi_0 = w_0(e)(Y-\mu_0)$, $\tau = \mu_1-\mu_0$; Horvitz–Thompson:
    $\psi_\tau = (w_1(e) - w_0(e))Y - d\,\tau$ (d = 1, W or 1−W for ATE/ATT/ATC).
    $V = A^{-1}BA^{-\top}/n$, $A = E[\partial\psi/\partial\theta]$, $B = E[\psi\psi^\top]$, with
    $\partial e/\partial\beta = e(1-e)Z$. ``z=None`` treats e as known (no β block). ``keep`` = a fixed
    trimming mask: the logit score uses every unit (the propensity was fitted on all of them), the weighting
    equations only the kept ones.
    """
    n = t.size
    w1, w0, dw1, dw0, d = _weight_functions(estimand, t, e)
    if keep is not None:
        k_ = np.asarray(keep, dtype=np.float64)
        w1, w0, dw1, dw0, d = (k_ * a for a in (w1, w0, dw1, dw0, d))
    if normalized:
        mu1, mu0 = np.sum(w1 * y) / w1.sum(), np.sum(w0 * y) / w0.sum()
        psi_tau = [w1 * (y - mu1), w0 * (y - mu0)]
        dpsi_de = [dw1 * (y - mu1), dw0 * (y - mu0)]
        a_tau = np.diag([-w1.mean(), -w0.mean()])
        c = np.array([1.0, -1.0])
    else:
        if estimand == "ato":
            raise ValueError("the overlap estimand 'ato' is defined with normalised weights only (normalized=True)")
        tau = np.sum((w1 - w0) * y) / d.sum()
        psi_tau = [(w1 - w0) * y - d * tau]
        dpsi_de = [(dw1 - dw0) * y]
        a_tau = np.array([[-d.mean()]])
        c = np.array([1.0])
    k = len(psi_tau)
    if z is None:
        psi = np.column_stack(psi_tau)
        a = a_tau
    else:
        p = z.shape[1]
        v = e * (1 - e)
        psi = np.column_stack([z * (t - e)[:, None], *psi_tau])
        a = np.zeros((p + k, p + k))
        a[:p, :p] = -(z * v[:, None]).T @ z / n
        for j in range(k):
            a[p + j, :p] = (dpsi_de[j] * v) @ z / n
        a[p:, p:] = a_tau
        c = np.concatenate([np.zeros(p), c])
    b = psi.T @ psi / n
    a_inv = np.linalg.inv(a)
    cov = a_inv @ b @ a_inv.T / n
    return float(np.sqrt(c @ cov @ c))


class IPW:
    r"""Inverse probability weighting.

    Args:
        estimand: ``"ate"``, ``"att"``, ``"atc"`` or ``"ato"`` (overlap weights, Li, Morgan & Zaslavsky 2018).
        normalized: True = Hájek (default), False = Horvitz–Thompson.
        propensity_model: a :class:`PropensityModel` (default: unpenalised logit) or a classifier.
        trim: None, a fixed threshold a (keep $a \le \hat e \le 1-a$), bounds ``(lo, hi)`` (keep
            $lo \le \hat e \le hi$) or ``"optimal"`` (Crump et al. 2009); the estimand becomes the
            trimmed-population one and ``n_used`` says how many units remain.
        se: ``"bootstrap"`` (default; within-arm resampling, propensity re-fitted and trimming re-applied in each
            draw) or ``"sandwich"`` (stacked M-estimation with the default logit, see :func:`ipw_sandwich_se`).
        n_boot: bootstrap draws; 0 = no bootstrap (SE NaN unless ``se="sandwich"``).
        seed: bootstrap seed.
    """

    def __init__(self, *, estimand: str = "ate", normalized: bool = True, propensity_model: Any = None,
                 trim: float | str | None = None, se: str = "bootstrap", n_boot: int = 500, seed: int = 0) -> None:
        if estimand not in ("ate", "att", "atc", "ato"):
            raise ValueError(f"estimand must be 'ate', 'att', 'atc' or 'ato', got {estimand!r}")
        if se not in ("bootstrap", "sandwich"):
            raise ValueError(f"se must be 'bootstrap' or 'sandwich', got {se!r}")
        self.se = se
        if estimand == "ato" and not normalized:
            raise ValueError("the overlap estimand 'ato' is defined with normalised weights only (normalized=True)")
        trim = None if trim is None else check_trim_rule(trim)
        self.estimand, self.normalized, self.trim, self.seed = estimand, normalized, trim, seed
        self.n_boot = check_n_boot(n_boot)
        self.propensity_model = propensity_model

    def _ps(self) -> PropensityModel:
        pm = self.propensity_model
        return pm if isinstance(pm, PropensityModel) else PropensityModel(pm)

    def fit(self, Y: ArrayLike, T: ArrayLike, X: ArrayLike | None = None, *, e: ArrayLike | None = None) -> IPW:
        """Fit; ``e`` = known propensity scores (then the bootstrap keeps them fixed)."""
        y, t, x, _ = check_inputs(Y, T, X, propensity=e)
        known = e is not None
        pm = self._ps()
        if known:
            e_all = check_propensity(e, t.size)
        elif x.shape[1] == 0:
            raise ValueError("IPW needs covariates X or known propensity scores e")
        else:
            e_all = pm.fit(t, x).predict(x)

        def point(idx: np.ndarray, full: bool = False) -> Any:
            ti, yi = t[idx], y[idx]
            if known or full:
                ei = e_all[idx]
            else:
                ei = pm.fresh().fit(ti, x[idx]).predict(x[idx])
            keep = np.ones(idx.size, dtype=bool) if self.trim is None else trim(ei, rule=self.trim)
            if ti[keep].sum() in (0, keep.sum()):
                return (float("nan"), keep, ei) if full else float("nan")
            val = ipw_point(yi[keep], ti[keep], ei[keep], self.estimand, self.normalized)
            return (val, keep, ei) if full else val

        tau, keep, _ = point(np.arange(t.size), full=True)
        draws = None
        if self.se == "sandwich":
            if not known and not pm.is_parametric_default:
                raise ValueError("se='sandwich' needs the default logit propensity model (or known scores e)")
            z = None if known else pm.design(x)
            se = ipw_sandwich_se(y, t, e_all, z, estimand=self.estimand, normalized=self.normalized, keep=keep)
        elif self.n_boot > 1:
            se, draws = _bootstrap_se(point, t, self.n_boot, self.seed)
        else:
            se = float("nan")
        w = np.zeros(t.size)
        if self.estimand == "ato" or self.normalized:
            w[keep] = balancing_weights(e_all[keep], t[keep], estimand=self.estimand, normalized=True)
        else:
            w[keep] = balancing_weights(e_all[keep], t[keep], estimand=self.estimand, normalized=False)
        self.propensity_ = e_all
        self.weights_ = w
        diag = {"ess": effective_sample_size(w, t), "n_trimmed": int((~keep).sum()), "known_propensity": known,
                "n_boot_failed": self.n_boot - draws.size if draws is not None else 0,
                "e_min": float(e_all.min()), "e_max": float(e_all.max())}
        if not known:
            diag.update(ps_converged=pm.converged_, ps_llf=pm.llf_)
        estimand = self.estimand + (" (trimmed)" if self.trim is not None and (~keep).any() else "")
        method = "ipw-hajek" if self.normalized else "ipw-horvitz-thompson"
        self.estimate_ = Estimate(tau, se, estimand, method, int(keep.sum()), diag, draws)
        return self


# ---------------------------------------------------------------------------------------------------------
# doubly robust
# ---------------------------------------------------------------------------------------------------------


class AIPW:
    r"""Augmented IPW (doubly robust) estimator.

    ATE: $\psi_i = \hat\mu_1(X_i)-\hat\mu_0(X_i) + W_i(Y_i-\hat\mu_1(X_i))/\hat e_i
    - (1-W_i)(Y_i-\hat\mu_0(X_i))/(1-\hat e_i)$, $\hat\tau = \bar\psi$, SE $\mathrm{sd}(\psi)/\sqrt n$.
    ATT: $\hat\tau = \sum_i[W_i(Y_i-\hat\mu_0) - (1-W_i)\frac{\hat e_i}{1-\hat e_i}(Y_i-\hat\mu_0)]/n_1$,
    SE $\mathrm{sd}(\phi)/\sqrt n$, $\phi_i = [W_i(Y_i-\hat\mu_0-\hat\tau)
    - (1-W_i)\frac{\hat e_i}{1-\hat e_i}(Y_i-\hat\mu_0)]/\hat p$, $\hat p = n_1/n$.

    Args:
        estimand: ``"ate"`` or ``"att"``.
        outcome_model: None (OLS per arm), any sklearn regressor (per arm) or :class:`PooledOutcome`.
        propensity_model: :class:`PropensityModel` or a classifier (default unpenalised logit).
        cross_fit: number of folds K (nuisances of fold k fitted on the other folds); None = 1 when both
            nuisance models are the parametric defaults, else 5.
        seed: fold assignment seed.
    """

    def __init__(self, *, estimand: str = "ate", outcome_model: Any = None, propensity_model: Any = None,
                 cross_fit: int | None = None, seed: int = 0) -> None:
        if estimand not in ("ate", "att"):
            raise ValueError(f"estimand must be 'ate' or 'att', got {estimand!r}")
        if cross_fit is not None and cross_fit < 1:
            raise ValueError(f"cross_fit must be a positive integer or None, got {cross_fit}")
        self.estimand, self.outcome_model, self.propensity_model = estimand, outcome_model, propensity_model
        self.cross_fit, self.seed = cross_fit, seed

    def _folds(self) -> int:
        if self.cross_fit is not None:
            return self.cross_fit
        pm = self.propensity_model
        ps_default = pm is None or (isinstance(pm, PropensityModel) and pm.is_parametric_default)
        return 1 if ps_default and _is_parametric_outcome(self.outcome_model) else 5

    def fit(self, Y: ArrayLike, T: ArrayLike, X: ArrayLike | None = None, *, e: ArrayLike | None = None,
            mu0: ArrayLike | None = None, mu1: ArrayLike | None = None) -> AIPW:
        """Fit; ``e``, ``mu0``, ``mu1`` = known nuisance values (skips fitting that nuisance)."""
        y, t, x, names = check_inputs(Y, T, X, propensity=e, mu0=mu0, mu1=mu1)
        n = t.size
        k = self._folds()
        ee = check_propensity(e, n) if e is not None else np.empty(n)
        m0 = _nuisance(mu0, "mu0", n) if mu0 is not None else np.empty(n)
        m1 = _nuisance(mu1, "mu1", n) if mu1 is not None else np.empty(n)
        need_e, need_mu = e is None, (mu0 is None or mu1 is None)
        if (need_e or need_mu) and x.shape[1] == 0 and need_e:
            raise ValueError("AIPW needs covariates X or known propensity scores e")
        if k == 1:
            splits = [(np.arange(n), np.arange(n))]
        else:
            splits = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=self.seed).split(x, t))
        pm = self.propensity_model
        converged = True
        for train, test in splits:
            if need_e:
                ps = (pm.fresh() if isinstance(pm, PropensityModel) else PropensityModel(pm)).fit(t[train], x[train])
                converged &= ps.converged_
                ee[test] = ps.predict(x[test])
            if need_mu:
                mu = fit_outcome_model(self.outcome_model, x[train], t[train], y[train], names)
                if mu0 is None:
                    m0[test] = mu(x[test], 0)
                if mu1 is None:
                    m1[test] = mu(x[test], 1)
        if self.estimand == "ate":
            psi = m1 - m0 + t * (y - m1) / ee - (1 - t) * (y - m0) / (1 - ee)
            tau, se = float(psi.mean()), float(psi.std(ddof=1) / np.sqrt(n))
        else:
            n1 = t.sum()
            r0 = y - m0
            odds = ee / (1 - ee)
            tau = float(np.sum(t * r0 - (1 - t) * odds * r0) / n1)
            phi = (t * (r0 - tau) - (1 - t) * odds * r0) / (n1 / n)
            psi = phi
            se = float(phi.std(ddof=1) / np.sqrt(n))
        self.propensity_, self.mu0_, self.mu1_, self.psi_ = ee, m0, m1, psi
        self.estimate_ = Estimate(tau, se, self.estimand, "aipw", n, {"cross_fit": k, "ps_converged": converged})
        return self


def _nuisance(v: ArrayLike, name: str, n: int) -> np.ndarray:
    r"""A known nuisance vector ($\hat\mu_0$ or $\hat\mu_1$) of length n, or a scalar broadcast to n."""
    a = as_vector(np.atleast_1d(v) if np.ndim(v) == 0 else v, name)
    if a.size == 1:
        return np.full(n, a[0])
    if a.size != n:
        raise ValueError(f"{name} has {a.size} rows but treatment has {n}")
    return a


# ---------------------------------------------------------------------------------------------------------
# matching
# ---------------------------------------------------------------------------------------------------------


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


class PSMatching:
    r"""Nearest-neighbour matching for the ATT (ATC by swapping arms), with the Abadie–Imbens variance.

    Each treated unit gets its k nearest controls (with replacement all controls tied at the k-th distance are
    kept, as in Abadie & Imbens 2006) on $\mathrm{logit}\,\hat e$ (or Mahalanobis on X);
    $\hat\tau = n_1^{-1}\sum_{i:W_i=1}(Y_i - \hat Y_i(0))$, $\hat Y_i(0)$ = mean of its matches' Y.
    With $K_w(j) = \sum_i 1\{j \in J(i)\}/M_i$ (= K(j)/k for k matches each), the variance is
    (Abadie & Imbens 2006; Abadie, Drukker, Herr & Imbens 2004):

    * population ATT: $n_1^{-2}\sum_{W_i=1}(Y_i-\hat Y_i(0)-\hat\tau)^2 + n_1^{-2}\sum_{W_j=0}
      [K_w(j)^2 - \sum_i 1\{j\in J(i)\}/M_i^2]\,\hat\sigma^2(X_j)$ ($K(K-1)/k^2\,\hat\sigma^2$ for fixed k);
    * sample ATT: $n_1^{-2}\sum_i[W_i - (1-W_i)K_w(i)]^2\hat\sigma^2(X_i)$,

    with $\hat\sigma^2(X_i) = \frac{J}{J+1}(Y_i - \text{mean of its J nearest same-arm units' } Y)^2$.
    The formula treats $\hat e$ as known: matching on an *estimated* score changes the variance again
    (Abadie & Imbens 2016). The plain bootstrap is invalid here (Abadie & Imbens 2008).

    Args:
        k: matches per treated unit.
        caliper: drop treated units whose nearest control is farther than
            ``caliper`` $\cdot\,\mathrm{SD}(\mathrm{logit}\,\hat e)$ (pooled sample); None = no caliper. Used with
            ``distance="logit_ps"`` only.
        replace: match with replacement (default); without replacement is greedy, highest $\hat e$ first.
        distance: ``"logit_ps"`` or ``"mahalanobis"`` (on X, pooled covariance).
        bias_correction: Abadie–Imbens (2011): subtract $\hat\mu_0(X_i)-\hat\mu_0(X_j)$ from each matched
            difference, $\hat\mu_0$ = OLS on controls.
        variance: ``"population"`` or ``"sample"`` — never their sum.
        n_var_neighbors: J in $\hat\sigma^2(X_i)$.
        estimand: ``"att"`` or ``"atc"``.
        propensity_model: as in :class:`IPW`.
    """

    def __init__(self, *, k: int = 1, caliper: float | None = 0.2, replace: bool = True,
                 distance: str = "logit_ps", bias_correction: bool = False, variance: str = "population",
                 n_var_neighbors: int = 1, estimand: str = "att", propensity_model: Any = None) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if caliper is not None and not caliper > 0:
            raise ValueError(f"caliper must be positive or None, got {caliper}")
        if distance not in ("logit_ps", "mahalanobis"):
            raise ValueError(f"distance must be 'logit_ps' or 'mahalanobis', got {distance!r}")
        if variance not in ("population", "sample"):
            raise ValueError(f"variance must be 'population' or 'sample', got {variance!r}")
        if estimand not in ("att", "atc"):
            raise ValueError(f"estimand must be 'att' or 'atc', got {estimand!r}")
        if n_var_neighbors < 1:
            raise ValueError(f"n_var_neighbors must be >= 1, got {n_var_neighbors}")
        self.k, self.caliper, self.replace, self.distance = k, caliper, replace, distance
        self.bias_correction, self.variance, self.n_var_neighbors = bias_correction, variance, n_var_neighbors
        self.estimand, self.propensity_model = estimand, propensity_model

    def fit(self, Y: ArrayLike, T: ArrayLike, X: ArrayLike | None = None, *, e: ArrayLike | None = None
            ) -> PSMatching:
        y, t, x, _ = check_inputs(Y, T, X, propensity=e)
        n = t.size
        if self.distance == "logit_ps":
            if e is not None:
                p = check_propensity(e, n)
            else:
                if x.shape[1] == 0:
                    raise ValueError("matching on the propensity score needs covariates X or known scores e")
                pm = self.propensity_model
                pm = pm if isinstance(pm, PropensityModel) else PropensityModel(pm)
                p = pm.fit(t, x).predict(x)
            self.propensity_ = p
            z = _logit(p)[:, None]
        else:
            if x.shape[1] == 0:
                raise ValueError("Mahalanobis matching needs covariates X")
            cov = np.atleast_2d(np.cov(x, rowvar=False))
            # whitening: Mahalanobis distance = Euclidean distance of L⁻¹x with LLᵀ = Σ
            z = np.linalg.solve(np.linalg.cholesky(cov + 1e-12 * np.eye(cov.shape[0])), (x - x.mean(0)).T).T
        arm = 1 if self.estimand == "att" else 0
        tr = np.flatnonzero(t == arm)
        co = np.flatnonzero(t != arm)
        if co.size < self.k:
            raise ValueError(f"only {co.size} units available as matches, need k = {self.k}")
        cal = None
        if self.caliper is not None and self.distance == "logit_ps":
            cal = self.caliper * float(z[:, 0].std(ddof=1))
        # --- match: flat (row r of `tr`, position in `co`, distance) pairs; ties at the k-th distance are all kept
        rows, cols, dists = self._match(z, tr, co)
        if cal is not None:
            inside = dists <= cal
            rows, cols, dists = rows[inside], cols[inside], dists[inside]
        m_i = np.bincount(rows, minlength=tr.size)  # M_i: matches used by treated unit i
        kept = m_i > 0
        tr_k = tr[kept]
        n1 = tr_k.size
        if n1 == 0:
            raise ValueError("no treated unit has a match within the caliper; widen it or set caliper=None")
        w_pair = 1.0 / m_i[rows]
        ids = co[cols]
        # Ŷ_i(0) = mean of the matches' Y
        y0_hat = np.bincount(rows, weights=w_pair * y[ids], minlength=tr.size)
        diff = (y[tr] - y0_hat)[kept]
        if self.bias_correction and x.shape[1]:
            # Abadie–Imbens (2011): subtract μ̂₀(X_i) − μ̂₀(X_j(i)), μ̂₀ = OLS on controls
            mu0 = LinearRegression().fit(x[co], y[co])
            mu_m = np.bincount(rows, weights=w_pair * mu0.predict(x[ids]), minlength=tr.size)
            diff = diff - (mu0.predict(x[tr]) - mu_m)[kept]
        tau = float(diff.mean())
        # --- K_w(j) = Σ_i 1{j∈J(i)}/M_i and Σ_i 1{j∈J(i)}/M_i²
        kw = np.zeros(n)
        kw2 = np.zeros(n)
        np.add.at(kw, ids, w_pair)
        np.add.at(kw2, ids, w_pair**2)
        sigma2 = self._sigma2(y, t, z)
        ctrl = t != arm
        if self.variance == "population":
            v = (np.sum((diff - tau) ** 2) + np.sum((kw[ctrl] ** 2 - kw2[ctrl]) * sigma2[ctrl])) / n1**2
        else:
            v = (np.sum(sigma2[tr_k]) + np.sum(kw[ctrl] ** 2 * sigma2[ctrl])) / n1**2
        sign = 1.0 if arm == 1 else -1.0
        mw = kw.copy()
        mw[tr_k] = 1.0
        self.match_weights_ = mw
        self.matches_ = pd.DataFrame({"unit": tr[rows], "match": ids, "distance": dists, "weight": w_pair})
        diag = {"n_matched": int(n1), "n_unmatched": int((~kept).sum()), "unmatched_units": tr[~kept].tolist(),
                "caliper_abs": cal, "n_controls_used": int((kw > 0).sum()), "n_ties": int((m_i > self.k).sum()),
                "variance": self.variance}
        self.estimate_ = Estimate(sign * tau, float(np.sqrt(v)), self.estimand, f"matching-{self.distance}",
                                  int(n1 + (kw > 0).sum()), diag)
        return self

    def _match(self, z: np.ndarray, tr: np.ndarray, co: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = self.k
        if self.replace:
            q = min(co.size, k + 16)
            nn = NearestNeighbors(n_neighbors=q).fit(z[co])
            dist, pos = nn.kneighbors(z[tr])
            radius = dist[:, k - 1] * (1 + 1e-10) + 1e-12
            rows, cols, dists = [], [], []
            for r in range(tr.size):
                if q < co.size and dist[r, -1] <= radius[r]:  # more ties than queried: ask by radius
                    d_r, p_r = nn.radius_neighbors(z[tr[r : r + 1]], radius=radius[r])
                    d_r, p_r = d_r[0], p_r[0]
                else:
                    sel = dist[r] <= radius[r]
                    d_r, p_r = dist[r][sel], pos[r][sel]
                rows.append(np.full(p_r.size, r))
                cols.append(p_r)
                dists.append(d_r)
            return np.concatenate(rows), np.concatenate(cols).astype(int), np.concatenate(dists)
        if co.size < k * tr.size:
            raise ValueError(f"matching without replacement needs >= {k * tr.size} controls, got {co.size}")
        avail = np.ones(co.size, dtype=bool)
        order = np.argsort(-(z[tr, 0] if z.shape[1] == 1 else np.zeros(tr.size)), kind="stable")
        rows = np.repeat(order, k)
        cols = np.empty(tr.size * k, dtype=int)
        dists = np.empty(tr.size * k)
        for i, r in enumerate(order):  # greedy, highest score first
            d = np.sqrt(((z[co] - z[tr[r]]) ** 2).sum(axis=1))
            d[~avail] = np.inf
            sel = np.argpartition(d, k - 1)[:k]
            cols[i * k : (i + 1) * k], dists[i * k : (i + 1) * k] = sel, d[sel]
            avail[sel] = False
        return rows, cols, dists

    def _sigma2(self, y: np.ndarray, t: np.ndarray, z: np.ndarray) -> np.ndarray:
        r"""$\hat\sigma^2(X_i) = \frac{J}{J+1}(Y_i - \bar Y_{J(i)})^2$, $\bar Y_{J(i)}$ the mean Y of its J
        nearest units in the same arm."""
        j = self.n_var_neighbors
        s2 = np.zeros(t.size)
        for a in (0, 1):
            idx = np.flatnonzero(t == a)
            if idx.size <= j:
                continue
            nn = NearestNeighbors(n_neighbors=j + 1).fit(z[idx])
            _, pos = nn.kneighbors(z[idx])
            # drop the unit itself (first column when no exact ties; otherwise remove self wherever it is)
            nb = np.empty((idx.size, j), dtype=int)
            for r in range(idx.size):
                row = pos[r][pos[r] != r][:j]
                nb[r] = row
            s2[idx] = j / (j + 1) * (y[idx] - y[idx[nb]].mean(axis=1)) ** 2
        return s2


# ---------------------------------------------------------------------------------------------------------
# subclassification
# ---------------------------------------------------------------------------------------------------------


def _stratum_variances(arms: list[tuple[np.ndarray, np.ndarray]]) -> tuple[list[float], int]:
    r"""$\hat V_s = s_{1s}^2/n_{1s} + s_{0s}^2/n_{0s}$ per stratum; an arm with one unit in a stratum borrows
    the arm's pooled within-stratum variance (or its variance over all strata when no stratum has two units)."""
    fill = []  # per position in the (treated, control) pairs
    for j in (0, 1):
        ys = [pair[j] for pair in arms]
        dof = sum(v.size - 1 for v in ys if v.size > 1)
        if dof > 0:
            # s²_pooled = Σ_s (n_s − 1) s²_s / Σ_s (n_s − 1) over strata with n_s ≥ 2
            fill.append(sum((v.size - 1) * v.var(ddof=1) for v in ys if v.size > 1) / dof)
        else:
            every = np.concatenate(ys)
            fill.append(float(every.var(ddof=1)) if every.size > 1 else float("nan"))
    out, n_single = [], 0
    for y1, y0 in arms:
        s1 = y1.var(ddof=1) if y1.size > 1 else fill[0]
        s0 = y0.var(ddof=1) if y0.size > 1 else fill[1]
        n_single += int(y1.size == 1) + int(y0.size == 1)
        out.append(float(s1 / y1.size + s0 / y0.size))
    if n_single:
        warnings.warn(f"{n_single} stratum arm(s) hold one unit; their variance is the arm's pooled within-stratum "
                      "variance (its variance over all strata where no stratum holds two)", RuntimeWarning,
                      stacklevel=3)
    return out, n_single


class Subclassification:
    r"""Subclassification (stratification) on $\hat e$.

    Strata = quantiles of $\hat e$ (``n_strata`` on the pooled sample, or among treated units with
    ``strata_on="treated"``), outer strata open-ended, intervals closed on the left.
    $\hat\tau_{ATE} = \sum_s (n_s/n)(\bar Y_{1s}-\bar Y_{0s})$, ATT weights $n_{1s}/n_1$;
    SE $= \sqrt{\sum_s w_s^2 \hat V_s}$ with $\hat V_s = s_{1s}^2/n_{1s} + s_{0s}^2/n_{0s}$.
    An arm with a single unit in a stratum has no within-stratum variance (it would add 0, and with many strata
    the SE would reach 0); its $s_{ws}^2$ is then the arm's pooled within-stratum variance
    $\sum_s (n_{ws}-1)s_{ws}^2/\sum_s (n_{ws}-1)$ over the strata holding ≥ 2 units of that arm (the
    survey-sampling "lonely unit → average of the other strata" rule; the point estimate is unchanged), or, when
    no stratum holds two units of the arm, the arm's variance over all kept units (conservative: it ignores the
    strata). Either case warns and is counted in ``diagnostics["n_singleton_arms"]``.
    Strata lacking an arm are dropped with a warning. ``common_support=True`` first drops units whose $\hat e$ lies
    outside the other arm's range. Diagnostics hold within-stratum SMDs (pooled pre-adjustment SD).
    """

    def __init__(self, *, n_strata: int = 5, strata_on: str = "pooled", common_support: bool = False,
                 estimand: str = "ate", propensity_model: Any = None) -> None:
        if n_strata < 1:
            raise ValueError(f"n_strata must be >= 1, got {n_strata}")
        if strata_on not in ("pooled", "treated"):
            raise ValueError(f"strata_on must be 'pooled' or 'treated', got {strata_on!r}")
        if estimand not in ("ate", "att"):
            raise ValueError(f"estimand must be 'ate' or 'att', got {estimand!r}")
        self.n_strata, self.strata_on, self.common_support = n_strata, strata_on, common_support
        self.estimand, self.propensity_model = estimand, propensity_model

    def fit(self, Y: ArrayLike, T: ArrayLike, X: ArrayLike | None = None, *, e: ArrayLike | None = None
            ) -> Subclassification:
        y, t, x, names = check_inputs(Y, T, X, propensity=e)
        n = t.size
        if e is not None:
            p = check_propensity(e, n)
        elif self.n_strata == 1:
            p = np.full(n, 0.5)
        else:
            if x.shape[1] == 0:
                raise ValueError("subclassification needs covariates X or known propensity scores e")
            pm = self.propensity_model
            pm = pm if isinstance(pm, PropensityModel) else PropensityModel(pm)
            p = pm.fit(t, x).predict(x)
        keep = np.ones(n, dtype=bool)
        if self.common_support:
            p1, p0 = p[t == 1], p[t == 0]
            keep = np.where(t == 1, (p >= p0.min()) & (p <= p0.max()), (p >= p1.min()) & (p <= p1.max()))
        base = p[keep & (t == 1)] if self.strata_on == "treated" else p[keep]
        inner = np.quantile(base, np.arange(1, self.n_strata) / self.n_strata) if self.n_strata > 1 else np.array([])
        stratum = np.searchsorted(inner, p, side="right")  # [q_{s-1}, q_s), open-ended outer strata
        sd1, sd0 = x[t == 1].std(axis=0, ddof=1), x[t == 0].std(axis=0, ddof=1)
        denom = np.sqrt((sd1**2 + sd0**2) / 2) if x.shape[1] else np.array([])
        rows, smd_rows, arms = [], [], []
        dropped_treated = 0
        for s in range(self.n_strata):
            m = keep & (stratum == s)
            y1, y0 = y[m & (t == 1)], y[m & (t == 0)]
            if y1.size == 0 or y0.size == 0:
                if m.any():
                    dropped_treated += y1.size
                    warnings.warn(f"stratum {s} lacks {'controls' if y0.size == 0 else 'treated units'}; dropped "
                                  f"({y1.size} treated, {y0.size} controls)", RuntimeWarning, stacklevel=2)
                continue
            arms.append((y1, y0))
            rows.append({"stratum": s, "n": int(m.sum()), "n_treated": int(y1.size), "n_control": int(y0.size),
                         "effect": float(y1.mean() - y0.mean())})
            if x.shape[1]:
                smd = (x[m & (t == 1)].mean(0) - x[m & (t == 0)].mean(0)) / np.where(denom > 0, denom, np.nan)
                smd_rows.append(dict(zip(names, smd.tolist()), stratum=s))
        if not rows:
            raise ValueError("no stratum holds both treated and control units")
        tab = pd.DataFrame(rows)
        tab["var"], n_single = _stratum_variances(arms)
        size = tab["n"] if self.estimand == "ate" else tab["n_treated"]
        w = size / size.sum()
        tau = float(np.sum(w * tab["effect"]))
        se = float(np.sqrt(np.sum(w**2 * tab["var"])))
        tab["weight"] = w
        smd_tab = pd.DataFrame(smd_rows).set_index("stratum") if smd_rows else pd.DataFrame()
        diag = {"strata": tab, "strata_smd": smd_tab, "n_dropped_common_support": int((~keep).sum()),
                "n_treated_dropped": int(dropped_treated), "n_singleton_arms": n_single,
                # NaN when any within-stratum SMD is undefined (zero pooled SD): not skipped
                "max_abs_smd_within": float(np.max(np.abs(smd_tab.to_numpy()))) if smd_tab.size else float("nan")}
        self.stratum_ = np.where(keep, stratum, -1)
        self.estimate_ = Estimate(tau, se, self.estimand, "subclassification", int(tab["n"].sum()), diag)
        return self


# ---------------------------------------------------------------------------------------------------------
# Bayesian imputation
# ---------------------------------------------------------------------------------------------------------


class BayesianImputation:
    r"""Bayesian model-based imputation of the missing potential outcomes (Rubin 1978), SATE.

    Per arm, Bayesian linear regression with the reference prior $p(\beta,\sigma^2)\propto 1/\sigma^2$:
    $\sigma^2\mid y \sim (n_w-p)s^2/\chi^2_{n_w-p}$, $\beta\mid\sigma^2,y \sim N(\hat\beta,
    \sigma^2(X^\top X)^{-1})$. Each draw imputes every missing potential outcome from
    $N(X_i\beta, \sigma^2)$, keeps the observed ones, and records $\mathrm{mean}(Y(1)-Y(0))$.
    The estimate is the posterior mean; ``ci`` gives the equal-tailed credible interval.
    """

    def __init__(self, *, n_draws: int = 1000, seed: int = 0) -> None:
        if n_draws < 2:
            raise ValueError(f"n_draws must be >= 2, got {n_draws}")
        self.n_draws, self.seed = n_draws, seed

    def fit(self, Y: ArrayLike, T: ArrayLike, X: ArrayLike | None = None) -> BayesianImputation:
        y, t, x, _ = check_inputs(Y, T, X)
        rng = np.random.default_rng(self.seed)
        n, L = t.size, self.n_draws
        d = np.column_stack([np.ones(n), x])
        p = d.shape[1]
        y1 = np.tile(y, (L, 1))  # (L, n) Y(1) per draw
        y0 = np.tile(y, (L, 1))
        for arm in (0, 1):
            obs = t == arm
            nw = int(obs.sum())
            if nw <= p:
                raise ValueError(f"arm {arm} has {nw} units but the regression has {p} parameters")
            xo, yo = d[obs], y[obs]
            xtx_inv = np.linalg.inv(xo.T @ xo)
            beta_hat = xtx_inv @ xo.T @ yo
            s2 = float(np.sum((yo - xo @ beta_hat) ** 2) / (nw - p))
            sigma2 = (nw - p) * s2 / rng.chisquare(nw - p, size=L)
            chol = np.linalg.cholesky(xtx_inv)
            beta = beta_hat + np.sqrt(sigma2)[:, None] * (rng.standard_normal((L, p)) @ chol.T)
            mis = ~obs  # units whose arm-`arm` outcome is missing
            draws = beta @ d[mis].T + np.sqrt(sigma2)[:, None] * rng.standard_normal((L, int(mis.sum())))
            (y1 if arm == 1 else y0)[:, mis] = draws
        sate = (y1 - y0).mean(axis=1)
        self.draws_ = sate
        self.estimate_ = Estimate(float(sate.mean()), float(sate.std(ddof=1)), "sate", "bayes-imputation", n,
                                  {"n_draws": L}, sate)
        return self

__all__ = [
    "AIPW",
    "IPW",
    "BayesianImputation",
    "DifferenceInMeans",
    "PSMatching",
    "PooledOutcome",
    "RegressionAdjustment",
    "Subclassification",
    "fit_outcome_model",
    "ipw_point",
    "ipw_sandwich_se",
    "randomization_test",
]
