r"""Design stage (outcome-blind): propensity model, balance, overlap, trimming, effective sample size.

Nothing here takes the outcome Y — that is the point of Rubin's design stage (Dominici et al. 2021, §3).

* Propensity score $e(x) = P(W=1 \mid X=x)$, by default an unpenalised logit fitted by Newton's method
  (statsmodels ``Logit``) on internally standardised regressors (the MLE is invariant to that scaling).
* Standardised mean difference $\mathrm{SMD} = (\bar x_1 - \bar x_0)/\sqrt{(s_1^2 + s_0^2)/2}$ with the
  *unweighted, pre-adjustment* pooled SD as the denominator both before and after weighting or matching.
* Crump et al. (2009) trimming: fixed $0.1 \le e \le 0.9$, or "optimal": with
  $g = 1/(e(1-e))$, no trimming if $\max g \le 2\,\bar g$, else keep $g \le \gamma$ where
  $\gamma = 2\,E[g \mid g \le \gamma]$.
* Kish effective sample size per arm $(\sum w)^2 / \sum w^2$.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from sklearn.base import clone

from ._inputs import ArrayLike, as_matrix, as_treatment, as_vector, check_propensity, same_index


class PropensityModel:
    r"""Estimated propensity score $\hat e(x)$.

    Args:
        model: ``None`` = unpenalised logistic regression with intercept (statsmodels ``Logit``, Newton,
            regressors standardised internally); or any classifier with ``fit``/``predict_proba`` (cloned).
            Gradient-based sklearn fits should see standardised regressors (see README, Pitfalls).
        clip: numerical clip of $\hat e$ to ``[clip, 1 - clip]`` (not trimming).
        maxiter: Newton iterations for the default logit.
    """

    def __init__(self, model: Any = None, *, clip: float = 1e-6, maxiter: int = 200) -> None:
        if not 0 <= clip < 0.5:
            raise ValueError(f"clip must be in [0, 0.5), got {clip}")
        self.model = model
        self.clip = clip
        self.maxiter = maxiter

    @property
    def is_parametric_default(self) -> bool:
        return self.model is None

    def fit(self, T: ArrayLike, X: ArrayLike) -> PropensityModel:
        t = as_treatment(T)
        x, self.feature_names_ = as_matrix(X, t.size)
        same_index(treatment=T, X=X)
        if self.model is None:
            sd = x.std(axis=0)
            self.keep_ = sd > 0
            self.mean_, self.scale_ = x[:, self.keep_].mean(axis=0), sd[self.keep_]
            z = sm.add_constant((x[:, self.keep_] - self.mean_) / self.scale_, has_constant="add")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = sm.Logit(t, z).fit(method="newton", maxiter=self.maxiter, disp=0)
            self.converged_ = bool(res.mle_retvals.get("converged", False))
            self.llf_ = float(res.llf)
            self.params_ = np.asarray(res.params)
            if not self.converged_:
                warnings.warn(f"propensity logit did not converge in {self.maxiter} Newton steps "
                              f"(log-likelihood {self.llf_:.2f}); design-stage numbers are unreliable",
                              RuntimeWarning, stacklevel=2)
        else:
            self.fitted_ = clone(self.model).fit(x, t)
            self.converged_ = True
            p = self._raw(x)
            self.llf_ = float(np.sum(t * np.log(np.clip(p, 1e-300, 1)) + (1 - t) * np.log(np.clip(1 - p, 1e-300, 1))))
        return self

    def design(self, X: ArrayLike) -> np.ndarray:
        r"""The default logit's regressor matrix $Z$ = [1, standardised X] ($e = \mathrm{expit}(Z\beta)$, $\beta$ =
        ``params_``)."""
        if self.model is not None or not hasattr(self, "params_"):
            raise ValueError("design() needs a fitted default logit propensity model")
        x, _ = as_matrix(X, len(X))
        return np.column_stack([np.ones(len(x)), (x[:, self.keep_] - self.mean_) / self.scale_])

    def _raw(self, x: np.ndarray) -> np.ndarray:
        if self.model is None:
            eta = self.design(x) @ self.params_
            return 1.0 / (1.0 + np.exp(-eta))
        return self.fitted_.predict_proba(x)[:, 1]

    def predict(self, X: ArrayLike) -> np.ndarray:
        r"""$\hat e(x)$ clipped to ``[clip, 1 - clip]``."""
        if not hasattr(self, "converged_"):
            raise ValueError("PropensityModel is not fitted; call fit(T, X) first")
        x, _ = as_matrix(X, len(X))
        if x.shape[1] != len(self.feature_names_):
            raise ValueError(f"X has {x.shape[1]} columns, the propensity model was fitted with "
                             f"{len(self.feature_names_)}")
        return np.clip(self._raw(x), self.clip, 1 - self.clip)

    def fit_predict(self, T: ArrayLike, X: ArrayLike) -> np.ndarray:
        return self.fit(T, X).predict(X)

    def fresh(self) -> PropensityModel:
        """An unfitted copy with the same settings (model, clip, maxiter), for refits in folds / bootstrap draws."""
        return PropensityModel(self.model, clip=self.clip, maxiter=self.maxiter)


# ---------------------------------------------------------------------------------------------------------
# weights
# ---------------------------------------------------------------------------------------------------------

ESTIMANDS_W = ("ate", "att", "atc", "ato")


def balancing_weights(e: ArrayLike, T: ArrayLike, *, estimand: str = "ate", normalized: bool = True) -> np.ndarray:
    r"""Inverse-probability weights for ``estimand``.

    ATE: $1/\hat e$ (treated), $1/(1-\hat e)$ (controls); ATT: 1 and $\hat e/(1-\hat e)$;
    ATC: $(1-\hat e)/\hat e$ and 1; ATO (Li, Morgan & Zaslavsky 2018): $1-\hat e$ and $\hat e$.
    ``normalized=True`` rescales the weights to sum to 1 within each arm (Hájek).
    """
    t = as_treatment(T)
    p = check_propensity(e, t.size)
    same_index(propensity=e, treatment=T)
    if estimand == "ate":
        w = np.where(t == 1, 1 / p, 1 / (1 - p))
    elif estimand == "att":
        w = np.where(t == 1, 1.0, p / (1 - p))
    elif estimand == "atc":
        w = np.where(t == 1, (1 - p) / p, 1.0)
    elif estimand == "ato":
        w = np.where(t == 1, 1 - p, p)
    else:
        raise ValueError(f"estimand must be one of {ESTIMANDS_W}, got {estimand!r}")
    if normalized:
        w = w.copy()
        w[t == 1] /= w[t == 1].sum()
        w[t == 0] /= w[t == 0].sum()
    return w


def effective_sample_size(weights: ArrayLike, T: ArrayLike) -> dict[str, float]:
    r"""Kish effective sample size per arm, $(\sum w)^2/\sum w^2$."""
    t = as_treatment(T)
    w = as_vector(weights, "weights")
    if w.size != t.size:
        raise ValueError(f"weights has {w.size} rows but treatment has {t.size}")
    same_index(weights=weights, treatment=T)
    out = {}
    for name, arm in (("treated", 1), ("control", 0)):
        wa = w[t == arm]
        out[name] = float(wa.sum() ** 2 / np.sum(wa**2)) if np.any(wa != 0) else 0.0
    return out


# ---------------------------------------------------------------------------------------------------------
# balance
# ---------------------------------------------------------------------------------------------------------


def _wmean_var(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = w / w.sum()
    m = w @ x
    v = w @ (x - m) ** 2
    return m, v


def _wks(x1: np.ndarray, w1: np.ndarray, x0: np.ndarray, w0: np.ndarray) -> float:
    r"""Weighted Kolmogorov–Smirnov distance $\max_v |F_1^w(v) - F_0^w(v)|$ of one covariate."""
    grid = np.unique(np.concatenate([x1, x0]))
    o1, o0 = np.argsort(x1), np.argsort(x0)
    c1 = np.concatenate([[0.0], np.cumsum(w1[o1]) / w1.sum()])
    c0 = np.concatenate([[0.0], np.cumsum(w0[o0]) / w0.sum()])
    f1 = c1[np.searchsorted(x1[o1], grid, side="right")]
    f0 = c0[np.searchsorted(x0[o0], grid, side="right")]
    return float(np.max(np.abs(f1 - f0)))


def balance_table(X: ArrayLike, T: ArrayLike, *, weights: ArrayLike | None = None,
                  matches: ArrayLike | None = None) -> pd.DataFrame:
    r"""Standardised mean differences and variance ratios per covariate, before and (optionally) after.

    SMD convention: $(\bar x_1 - \bar x_0)/\sqrt{(s_1^2+s_0^2)/2}$ with the unweighted pre-adjustment
    SDs in the denominator, before and after (weighted means after). Target $|\mathrm{SMD}| < 0.1$,
    variance ratio $s_1^2/s_0^2$ in [0.5, 2]; (weighted) Kolmogorov–Smirnov distance of the covariate's
    distributions.

    Args:
        X: covariates (n, p).
        T: binary treatment.
        weights: balancing weights (any scale within arm), e.g. :func:`balancing_weights`.
        matches: match weights from :class:`PSMatching` (``match_weights_``); used like ``weights``.
    """
    t = as_treatment(T)
    x, names = as_matrix(X, t.size)
    same_index(X=X, treatment=T, weights=weights, matches=matches)
    x1, x0 = x[t == 1], x[t == 0]
    s1, s0 = x1.var(axis=0, ddof=1), x0.var(axis=0, ddof=1)
    denom = np.sqrt((s1 + s0) / 2)
    denom = np.where(denom > 0, denom, np.nan)
    tab = pd.DataFrame({"mean_treated": x1.mean(axis=0), "mean_control": x0.mean(axis=0),
                        "smd_before": (x1.mean(axis=0) - x0.mean(axis=0)) / denom,
                        "var_ratio_before": s1 / np.where(s0 > 0, s0, np.nan),
                        "ks_before": [_wks(x1[:, j], np.ones(len(x1)), x0[:, j], np.ones(len(x0)))
                                      for j in range(x.shape[1])]}, index=names)
    w_after = matches if matches is not None else weights
    if w_after is not None:
        w = as_vector(w_after, "matches" if matches is not None else "weights")
        if w.size != t.size:
            raise ValueError(f"weights has {w.size} rows but treatment has {t.size}")
        if np.any(w < 0):
            raise ValueError(f"weights must be non-negative; rows {np.flatnonzero(w < 0)[:5].tolist()} are negative")
        for arm, label in ((1, "treated"), (0, "control")):
            if not np.any(w[t == arm] > 0):
                raise ValueError(f"weights of the {label} arm are all zero; balance after adjustment is undefined")
        m1, v1 = _wmean_var(x1, w[t == 1])
        m0, v0 = _wmean_var(x0, w[t == 0])
        tab["mean_treated_after"] = m1
        tab["mean_control_after"] = m0
        tab["smd_after"] = (m1 - m0) / denom
        tab["var_ratio_after"] = v1 / np.where(v0 > 0, v0, np.nan)
        tab["ks_after"] = [_wks(x1[:, j], w[t == 1], x0[:, j], w[t == 0]) for j in range(x.shape[1])]
    tab.index.name = "covariate"
    return tab


# ---------------------------------------------------------------------------------------------------------
# overlap and trimming
# ---------------------------------------------------------------------------------------------------------


def overlap_summary(e: ArrayLike, T: ArrayLike, *, bounds: tuple[float, float] = (0.1, 0.9),
                    bins: int = 20) -> dict[str, Any]:
    r"""Range of $\hat e$ per arm, share of units outside ``bounds`` and per-arm histogram counts."""
    lo, hi = (float(v) for v in bounds)
    if not 0 <= lo < hi <= 1:
        raise ValueError(f"bounds must satisfy 0 <= lo < hi <= 1, got ({lo:g}, {hi:g})")
    if int(bins) < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    t = as_treatment(T)
    p = as_vector(e, "propensity")
    if p.size != t.size:
        raise ValueError(f"propensity has {p.size} rows but treatment has {t.size}")
    same_index(propensity=e, treatment=T)
    outside = (p < lo) | (p > hi)
    edges = np.linspace(0, 1, bins + 1)
    return {
        "n": int(t.size), "n_treated": int(t.sum()), "n_control": int((1 - t).sum()),
        "e_min_treated": float(p[t == 1].min()), "e_max_treated": float(p[t == 1].max()),
        "e_min_control": float(p[t == 0].min()), "e_max_control": float(p[t == 0].max()),
        "share_outside": float(outside.mean()), "share_outside_treated": float(outside[t == 1].mean()),
        "share_outside_control": float(outside[t == 0].mean()), "bounds": (lo, hi),
        "bin_edges": edges.tolist(),
        "counts_treated": np.histogram(p[t == 1], bins=edges)[0].tolist(),
        "counts_control": np.histogram(p[t == 0], bins=edges)[0].tolist(),
    }


def check_trim_rule(rule: float | str | tuple[float, float]) -> float | str | tuple[float, float]:
    """Validate a trimming rule (see :func:`trim`) without propensity scores, so estimators can refuse it early."""
    if isinstance(rule, str):
        if rule != "optimal":
            raise ValueError(f"rule must be a float in (0, 0.5), a pair (lo, hi) or 'optimal', got {rule!r}")
        return rule
    if isinstance(rule, (tuple, list, np.ndarray)):
        if len(rule) != 2:
            raise ValueError(f"trimming bounds must be a pair (lo, hi), got {tuple(rule)}")
        lo, hi = (float(v) for v in rule)
        if not 0 <= lo < hi <= 1:
            raise ValueError(f"trimming bounds must satisfy 0 <= lo < hi <= 1, got ({lo:g}, {hi:g})")
        return (lo, hi)
    try:
        a = float(rule)
    except (TypeError, ValueError):
        raise ValueError(f"rule must be a float in (0, 0.5), a pair (lo, hi) or 'optimal', got {rule!r}") from None
    if not 0 < a < 0.5:
        raise ValueError(f"trimming threshold must be in (0, 0.5), got {a:g}")
    return a


def trim(e: ArrayLike, *, rule: float | str | tuple[float, float] = 0.1) -> np.ndarray:
    r"""Boolean mask of units to keep (Crump, Hotz, Imbens & Mitnik 2009).

    ``rule=a`` (float in (0, 0.5)) keeps $a \le \hat e \le 1-a$; ``rule=(lo, hi)`` keeps
    $lo \le \hat e \le hi$ (asymmetric bounds, ``0 <= lo < hi <= 1``); ``rule="optimal"`` keeps
    $g = 1/(\hat e(1-\hat e)) \le \gamma$ with $\gamma = 2E[g \mid g \le \gamma]$, or everything
    when $\max g \le 2\bar g$. Trimming changes the estimand: report the units kept.
    """
    rule = check_trim_rule(rule)
    p = check_propensity(e, len(e) if hasattr(e, "__len__") else 0)
    if isinstance(rule, tuple):
        return (p >= rule[0]) & (p <= rule[1])
    if isinstance(rule, str):
        g = 1.0 / (p * (1 - p))
        if g.max() <= 2 * g.mean():
            return np.ones(p.size, dtype=bool)
        gs = np.sort(g)
        cmean = np.cumsum(gs) / np.arange(1, gs.size + 1)
        ok = np.flatnonzero(gs <= 2 * cmean)  # g_(k) <= 2 E[g | g <= g_(k)]
        gamma = 2 * cmean[ok[-1]]
        return g <= gamma
    return (p >= rule) & (p <= 1 - rule)
