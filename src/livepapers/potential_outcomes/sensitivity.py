r"""Sensitivity analysis: how strong would unmeasured confounding have to be to change the conclusion?

* E-value (VanderWeele & Ding 2017): for a risk ratio $RR \ge 1$, $E = RR + \sqrt{RR(RR-1)}$
  (use $1/RR$ when $RR < 1$); for a CI, apply it to the limit closest to 1 (E = 1 if the CI covers 1).
  Continuous outcome: $RR \approx \exp(0.91\,d)$, $d = \hat\tau/\mathrm{SD}(Y)$.
* Omitted-variable-bias robustness (Cinelli & Hazlett 2020) for an OLS treatment coefficient with t-value t and
  residual df: $R^2_{Y\sim D|X} = t^2/(t^2+df)$; $RV_q = \tfrac12(\sqrt{f^4+4f^2}-f^2)$,
  $f = q|t|/\sqrt{df}$; $RV_{q,\alpha}$ the same with $f^* = f - f_{crit}$,
  $f_{crit} = t^*_{1-\alpha/2,\,df-1}/\sqrt{df-1}$ (0 if $f^* \le 0$; and, as in sensemakr,
  $(f^2 - f_{crit}^2)/(1+f^2)$ when $f > 1/f_{crit}$).
  Bias bound $|\mathrm{bias}| \le se\sqrt{df}\sqrt{R^2_{Y\sim Z|D,X}R^2_{D\sim Z|X}/(1-R^2_{D\sim Z|X})}$.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from livepapers.core.inputs import check_bounds, check_positive


@dataclass(frozen=True)
class EValue:
    """E-values of a point estimate and of its confidence limit closest to the null (``None`` without a CI)."""

    point: float
    ci: float | None
    rr: float


def _e(rr: float) -> float:
    check_positive(rr, "risk ratio")
    r = rr if rr >= 1 else 1.0 / rr
    return float(r + np.sqrt(r * (r - 1)))


def e_value(rr: float | None = None, lo: float | None = None, hi: float | None = None, *,
            smd: float | None = None) -> EValue:
    r"""E-value of a risk ratio ``rr`` (with optional CI ``lo``, ``hi``), or of a standardised mean difference ``smd``
    ($RR \approx e^{0.91 d}$; then ``lo``/``hi`` are on the SMD scale too)."""
    if (rr is None) == (smd is None):
        raise ValueError("give exactly one of rr or smd")
    if smd is not None:
        rr = float(np.exp(0.91 * smd))
        lo = None if lo is None else float(np.exp(0.91 * lo))
        hi = None if hi is None else float(np.exp(0.91 * hi))
    point = _e(rr)
    ci = None
    if lo is not None or hi is not None:
        lo_ = lo if lo is not None else -np.inf
        hi_ = hi if hi is not None else np.inf
        check_bounds(lo_, hi_, "lo", "hi")
        if lo_ <= 1 <= hi_:
            ci = 1.0
        elif lo_ > 1:
            ci = _e(lo_)
        else:
            ci = _e(hi_)
    return EValue(point=point, ci=ci, rr=float(rr))


def partial_r2(t: float, dof: float) -> float:
    r"""$R^2_{Y\sim D|X} = t^2/(t^2 + df)$."""
    return float(t**2 / (t**2 + dof))


def ovb_robustness(t: float, dof: float, *, q: float = 1.0, alpha: float = 0.05) -> dict[str, float]:
    r"""Cinelli–Hazlett robustness values of a treatment coefficient with t-value ``t`` and residual df ``dof``.

    Returns ``r2yd_x`` (partial $R^2$ of the treatment), ``rv_q`` (reduce the estimate by 100q %) and ``rv_qa``
    (make the $(1-\alpha)$ CI include the reduced value).
    """
    if dof <= 1:
        raise ValueError(f"dof must be > 1, got {dof}")
    check_positive(q, "q")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    f = q * abs(t) / np.sqrt(dof)  # Cohen's f for q
    rv = 0.5 * (np.sqrt(f**4 + 4 * f**2) - f**2)
    f_crit = abs(stats.t.ppf(alpha / 2, dof - 1)) / np.sqrt(dof - 1)
    fa = f - f_crit
    if fa <= 0:
        rva = 0.0
    elif f > 1 / f_crit:
        rva = (f**2 - f_crit**2) / (1 + f**2)
    else:
        rva = 0.5 * (np.sqrt(fa**4 + 4 * fa**2) - fa**2)
    return {"r2yd_x": partial_r2(t, dof), "rv_q": float(rv), "rv_qa": float(rva), "q": q, "alpha": alpha}


def ovb_bias_bound(se: float, dof: float, r2yz_dx: float, r2dz_x: float) -> float:
    r"""Bound on |bias| of the OLS coefficient from a confounder Z with partial $R^2$ ``r2yz_dx`` (with Y) and
    ``r2dz_x`` (with D): $se\sqrt{df}\sqrt{R^2_{Y\sim Z|D,X}R^2_{D\sim Z|X}/(1-R^2_{D\sim Z|X})}$."""
    for name, v in (("r2yz_dx", r2yz_dx), ("r2dz_x", r2dz_x)):
        if not 0 <= v < 1:
            raise ValueError(f"{name} must be in [0, 1), got {v}")
    return float(se * np.sqrt(dof) * np.sqrt(r2yz_dx * r2dz_x / (1 - r2dz_x)))


def ovb_from_ols(results: Any, treatment: str | int, *, q: float = 1.0, alpha: float = 0.05) -> dict[str, float]:
    """Estimate, SE, t, df and robustness values of one coefficient of a fitted statsmodels OLS (classical SEs)."""
    names = list(getattr(results.model, "exog_names", []))
    if isinstance(treatment, str):
        if treatment not in names:
            raise ValueError(f"column {treatment!r} not in the regression (available: {', '.join(names)})")
        j = names.index(treatment)
    else:
        j = int(treatment)
    est, se = float(np.asarray(results.params)[j]), float(np.asarray(results.bse)[j])
    dof = float(results.df_resid)
    out = {"estimate": est, "se": se, "t": est / se, "dof": dof}
    out.update(ovb_robustness(est / se, dof, q=q, alpha=alpha))
    return out


def rosenbaum_bounds(diffs: Any, gammas: Any = (1.0, 1.5, 2.0, 3.0)) -> Any:
    r"""Rosenbaum bounds for matched pairs: one-sided p-value range of Wilcoxon's signed-rank test of no effect
    when the odds of treatment within a pair may differ by a factor Γ (normal approximation).

    With zero differences dropped, ranks $r_i$ of $|d_i|$ and $T^+ = \sum_{d_i>0} r_i$, the upper
    bound uses $p^+ = \Gamma/(1+\Gamma)$: $E = p^+\sum r_i$, $V = p^+(1-p^+)\sum r_i^2$,
    $p_{upper} = 1 - \Phi((T^+ - E)/\sqrt V)$; the lower bound uses $p^- = 1/(1+\Gamma)$.
    Returns a DataFrame with columns gamma, p_lower, p_upper.
    """
    import pandas as pd

    d = np.asarray(diffs, dtype=np.float64).ravel()
    bad = np.flatnonzero(~np.isfinite(d))
    if bad.size:
        raise ValueError(f"diffs has missing or non-finite values in rows {bad[:5].tolist()}")
    d = d[d != 0]
    if d.size == 0:
        raise ValueError("all matched differences are zero")
    r = stats.rankdata(np.abs(d))
    t_plus = r[d > 0].sum()
    rows = []
    for g in np.atleast_1d(np.asarray(gammas, dtype=np.float64)):
        if g < 1:
            raise ValueError(f"gamma must be >= 1, got {g}")
        out = {"gamma": float(g)}
        for name, p in (("p_lower", 1 / (1 + g)), ("p_upper", g / (1 + g))):
            mean, var = p * r.sum(), p * (1 - p) * np.sum(r**2)
            out[name] = float(stats.norm.sf((t_plus - mean) / np.sqrt(var)))
        rows.append(out)
    return pd.DataFrame(rows)
