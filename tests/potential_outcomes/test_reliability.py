"""Reliability: defined variances with thin strata, pandas index alignment, one-line errors for bad input,
and NaN that propagates into metrics instead of passing a claim."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from livepapers.potential_outcomes import (
    AIPW,
    IPW,
    CausalForest,
    DifferenceInMeans,
    DRLearner,
    PropensityModel,
    PSMatching,
    RegressionAdjustment,
    RLearner,
    Subclassification,
    TLearner,
    XLearner,
    balance_table,
    data,
    overlap_summary,
    pehe,
    randomization_test,
    trim,
)
from livepapers.potential_outcomes.estimate import Estimate

# ---------------------------------------------------------------------------------------------------------
# A1: subclassification with one unit of an arm in a stratum
# ---------------------------------------------------------------------------------------------------------


def _pairs(n_pairs: int = 10, seed: int = 0):
    """2·n_pairs units, ê increasing, alternating arms: n_pairs pooled strata of one treated + one control."""
    rng = np.random.default_rng(seed)
    n = 2 * n_pairs
    e = np.linspace(0.2, 0.8, n)
    t = np.tile([0.0, 1.0], n_pairs)
    y = 3 * e + t + rng.standard_normal(n)
    return y, t, e


def test_subclassification_singleton_arms_never_give_zero_se():
    y, t, e = _pairs()
    with pytest.warns(RuntimeWarning, match="one unit"):
        est = Subclassification(n_strata=10).fit(y, t, e=e).estimate_
    tab = est.diagnostics["strata"]
    assert (tab["n_treated"] == 1).all() and (tab["n_control"] == 1).all()
    assert np.isfinite(est.stderr) and est.stderr > 0
    # no stratum has two units of an arm: each arm's variance over all kept units (ignoring strata) is used
    w = tab["weight"].to_numpy()
    v = y[t == 1].var(ddof=1) + y[t == 0].var(ddof=1)
    assert est.stderr == pytest.approx(np.sqrt(np.sum(w**2) * v))


def test_subclassification_singleton_arm_uses_pooled_within_stratum_variance():
    # stratum 0: 3 treated, 1 control; stratum 1: 1 treated, 3 controls (e splits at the median)
    e = np.array([0.1, 0.15, 0.2, 0.25, 0.6, 0.65, 0.7, 0.75])
    t = np.array([1, 1, 1, 0, 1, 0, 0, 0.0])
    y = np.array([1.0, 2.0, 4.0, 0.5, 3.0, 1.0, 2.5, 5.0])
    with pytest.warns(RuntimeWarning, match="one unit"):
        est = Subclassification(n_strata=2).fit(y, t, e=e).estimate_
    s1 = y[:3].var(ddof=1)  # the only treated variance within a stratum
    s0 = y[5:].var(ddof=1)  # the only control variance within a stratum
    v0 = s1 / 3 + s0 / 1  # stratum 0: its one control borrows the pooled control variance
    v1 = s1 / 1 + s0 / 3
    assert est.stderr == pytest.approx(np.sqrt(0.25 * v0 + 0.25 * v1))
    assert est.diagnostics["n_singleton_arms"] == 2


def test_subclassification_many_strata_on_real_size_data(small):
    y, t, x, e = small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        many = Subclassification(n_strata=200).fit(y, t, x, e=e).estimate_
    few = Subclassification(n_strata=5).fit(y, t, x, e=e).estimate_
    assert many.stderr > 0.5 * few.stderr


# ---------------------------------------------------------------------------------------------------------
# A2: pandas inputs are matched by index, never silently by position
# ---------------------------------------------------------------------------------------------------------

INDEX_ERROR = r"carry different pandas indexes"


def test_shuffled_series_are_refused_not_paired_by_position(nsw):
    y, t, x = nsw["re78"], nsw["treat"], nsw[list(data.NSW_COVARIATES)]
    assert DifferenceInMeans().fit(y, t).estimate_.value == pytest.approx(1794.34, abs=0.01)
    with pytest.raises(ValueError, match=r"^outcome and treatment " + INDEX_ERROR):
        DifferenceInMeans().fit(y.sort_values(), t)
    with pytest.raises(ValueError, match=INDEX_ERROR):
        randomization_test(y.sort_values(), t, n_perm=10)
    with pytest.raises(ValueError, match=r"^outcome and X " + INDEX_ERROR):
        RegressionAdjustment(method="ancova").fit(y, t, x.sample(frac=1.0, random_state=0))
    # the same rows under the same (non-default) index are fine, and arrays pair by position as before
    sub = nsw.iloc[::2]
    a = DifferenceInMeans().fit(sub["re78"], sub["treat"]).estimate_.value
    b = DifferenceInMeans().fit(sub["re78"].to_numpy(), sub["treat"]).estimate_.value
    assert a == b


def test_weighting_and_doubly_robust_refuse_mismatched_indexes(small):
    y, t, x, e = small
    ys, ts = pd.Series(y), pd.Series(t)
    shuffled = x.sample(frac=1.0, random_state=1)
    with pytest.raises(ValueError, match=INDEX_ERROR):
        IPW(n_boot=0).fit(ys, ts, shuffled)
    with pytest.raises(ValueError, match=r"^outcome and propensity " + INDEX_ERROR):
        IPW(n_boot=0).fit(ys, ts, e=pd.Series(e).sort_values())
    with pytest.raises(ValueError, match=INDEX_ERROR):
        AIPW().fit(ys, ts.sort_values(), x)
    with pytest.raises(ValueError, match=r"^outcome and mu0 " + INDEX_ERROR):
        AIPW().fit(ys, ts, e=e, mu0=pd.Series(y).sort_values(), mu1=y)
    ok = AIPW().fit(ys, ts, x).estimate_.value
    assert ok == AIPW().fit(y, t, x.to_numpy()).estimate_.value


def test_learners_and_design_stage_refuse_mismatched_indexes(small):
    y, t, x, e = small
    shuffled = x.sample(frac=1.0, random_state=2)
    with pytest.raises(ValueError, match=INDEX_ERROR):
        TLearner().fit(pd.Series(y), pd.Series(t), X=shuffled)
    with pytest.raises(ValueError, match=INDEX_ERROR):
        XLearner().fit(pd.Series(y).sort_values(), t, X=x)  # Y's index vs X's
    with pytest.raises(ValueError, match=INDEX_ERROR):
        PropensityModel().fit(pd.Series(t), shuffled)
    with pytest.raises(ValueError, match=INDEX_ERROR):
        balance_table(shuffled, pd.Series(t))
    with pytest.raises(ValueError, match=INDEX_ERROR):
        overlap_summary(pd.Series(e).sort_values(), pd.Series(t))


# ---------------------------------------------------------------------------------------------------------
# A3: one clear ValueError naming the argument (what test_inputs.py does not already cover)
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda n: RegressionAdjustment(method="standardization", n_boot=n),
    lambda n: IPW(n_boot=n),
])
@pytest.mark.parametrize("n_boot", [-1, 1])
def test_n_boot_must_be_zero_or_at_least_two(make, n_boot):
    with pytest.raises(ValueError, match=rf"^n_boot must be 0 \(no bootstrap SE\) or >= 2, got {n_boot}$"):
        make(n_boot)
    make(0)  # 0 = point estimate only, SE NaN
    make(2)


def test_reversed_or_out_of_range_bounds_are_refused(small):
    y, t, _, e = small
    with pytest.raises(ValueError, match=r"^trimming bounds must satisfy 0 <= lo < hi <= 1, got \(0.9, 0.1\)$"):
        trim(e, rule=(0.9, 0.1))
    with pytest.raises(ValueError, match=r"^trimming bounds"):
        IPW(trim=(0.9, 0.1))  # refused when built, not at the end of a fit
    with pytest.raises(ValueError, match=r"^trimming threshold must be in \(0, 0.5\), got 0.7$"):
        IPW(trim=0.7)
    with pytest.raises(ValueError, match=r"^bounds must satisfy 0 <= lo < hi <= 1, got \(0.9, 0.1\)$"):
        overlap_summary(e, t, bounds=(0.9, 0.1))
    with pytest.raises(ValueError, match=r"^bins must be >= 1, got 0$"):
        overlap_summary(e, t, bins=0)
    # asymmetric bounds (lo, hi) are a valid rule; a symmetric pair equals the scalar rule
    assert (trim(e, rule=(0.2, 0.8)) == trim(e, rule=0.2)).all()
    keep = trim(e, rule=(0.3, 0.9))
    assert (keep == ((e >= 0.3) & (e <= 0.9))).all()
    assert IPW(trim=(0.3, 0.9), n_boot=0).fit(y, t, e=e).estimate_.n_used == keep.sum()


def test_empty_input_is_named():
    with pytest.raises(ValueError, match=r"^treatment is empty \(no units\)$"):
        DifferenceInMeans().fit([], [])
    with pytest.raises(ValueError, match=r"^treatment is empty"):
        PropensityModel().fit([], np.empty((0, 2)))
    with pytest.raises(ValueError, match=r"^tau_hat is empty"):
        pehe([], [])


def test_learner_and_matching_options_are_checked_when_built():
    for make in (lambda: DRLearner(cross_fit=0), lambda: RLearner(cross_fit=-1), lambda: CausalForest(cross_fit=0)):
        with pytest.raises(ValueError, match=r"^cross_fit must be >= 1"):
            make()
    with pytest.raises(ValueError, match=r"^alpha must be in \[0, 0.5\), got 0.7$"):
        CausalForest(alpha=0.7)
    with pytest.raises(ValueError, match=r"^mtry must be >= 1 or None, got 0$"):
        CausalForest(mtry=0)
    with pytest.raises(ValueError, match=r"^caliper must be positive or None, got -1$"):
        PSMatching(caliper=-1)
    with pytest.raises(ValueError, match=r"^X has no rows"):
        y, t, e = _pairs()
        TLearner().fit(y, t, X=np.column_stack([e, y * 0 + np.arange(20)])).effect(np.empty((0, 2)))


# ---------------------------------------------------------------------------------------------------------
# A4: a NaN in a metric's inputs gives a NaN metric (claims engine: inconclusive), never a pass
# ---------------------------------------------------------------------------------------------------------


class _NaNEffect:
    """A learner whose CATE predictions are NaN (a failed fit)."""

    def fit(self, Y, T, *, X):
        return self

    def effect(self, X):
        return np.full(len(X), np.nan)

    def ate(self, X):
        return float("nan")


def _ctx(tmp_path, **changes):
    import dataclasses

    from livepapers.core.runs import RunContext
    from livepapers.potential_outcomes import experiment as ex

    cfg = dataclasses.replace(ex.PROFILES["smoke"].config, figures=False, **changes)
    return cfg, RunContext.for_test(tmp_path, cfg)


def test_pehe_of_nan_predictions_is_nan():
    assert np.isnan(pehe([np.nan, 1.0], [1.0, 1.0]))
    with pytest.raises(ValueError, match="tau has missing"):
        pehe([1.0, 1.0], [np.nan, 1.0])  # the truth must be finite


def _finish(plan, ctx) -> None:
    from livepapers.potential_outcomes import fits

    plan.finish(fits.run_fits(plan.tasks, ctx, "test", workers=1))


def test_heterogeneity_metrics_propagate_a_failed_learner(tmp_path, monkeypatch):
    from sklearn.linear_model import LinearRegression

    from livepapers.potential_outcomes import fits

    cfg, ctx = _ctx(tmp_path, hte_n=300, hte_reps=1)
    monkeypatch.setattr(fits, "learners", lambda n_estimators, seed: {
        "T-learner (OLS)": TLearner(LinearRegression()), "X-learner": TLearner(LinearRegression()),
        "DR-learner": TLearner(LinearRegression()), "R-learner": TLearner(LinearRegression()),
        "causal forest": _NaNEffect()})
    m = {}
    _finish(fits.heterogeneity_plan(cfg, ctx, m), ctx)
    assert np.isnan(m["nw_d_pehe_cf"]) and np.isnan(m["nw_d_cf_in_range"])
    assert np.isnan(m["nw_d_pehe_ratio_best"])  # min over learners must not skip the NaN one
    assert np.isfinite(m["nw_d_pehe_x"])


def test_limits_minimum_ratios_propagate_nan(tmp_path, monkeypatch):
    from livepapers.potential_outcomes import fits

    cfg, ctx = _ctx(tmp_path, limits_n=300, limits_reps=1, n_estimators=2, ovb_ref_n=2000)

    class NaNIPW:  # a failed IPW fit
        def __init__(self, **kw):
            pass

        def fit(self, *a, **kw):
            self.estimate_ = Estimate(float("nan"), float("nan"), "ate", "stub", 0)
            return self

    monkeypatch.setattr(fits, "IPW", NaNIPW)
    monkeypatch.setattr(fits, "XLearner", lambda seed=0: _NaNEffect())
    m = {}
    _finish(fits.limits_plan(cfg, ctx, m), ctx)
    assert np.isnan(m["uc_bias_ipw"]) and np.isnan(m["uc_min_bias_ratio"])
    assert np.isnan(m["ov_x_rmse_ratio"]) and np.isnan(m["ov_min_rmse_ratio"])
    assert np.isfinite(m["ov_t_rmse_ratio"])


def test_experiment_metrics_propagate_nan(tmp_path, monkeypatch):
    import dataclasses

    from livepapers.potential_outcomes import experiment as ex

    cfg, ctx = _ctx(tmp_path, n_boot=2, n_perm=50, n_draws=10, coverage_reps=5)
    real_ra, real_bal, real_dim = ex.RegressionAdjustment, ex.balance_table, ex.DifferenceInMeans

    class LinNaN(real_ra):  # Lin's SE fails: the minimum CI bound over DiM/ANCOVA/Lin is undefined
        def fit(self, *a, **kw):
            super().fit(*a, **kw)
            if self.method == "lin":
                self.estimate_ = dataclasses.replace(self.estimate_, stderr=float("nan"))
            return self

    def bal_nan(*a, **kw):  # one covariate's SMD after weighting is undefined
        tab = real_bal(*a, **kw)
        if "smd_after" in tab:
            tab.iloc[0, tab.columns.get_loc("smd_after")] = np.nan
        return tab

    monkeypatch.setattr(ex, "RegressionAdjustment", LinNaN)
    monkeypatch.setattr(ex, "balance_table", bal_nan)
    m = {}
    ex._nsw_experiment(cfg, ctx, m)
    assert np.isnan(m["nsw_min_ci_lo"])
    ex._nsw_cps(cfg, ctx, m, m["nsw_dim"])
    assert np.isnan(m["cps_max_smd_after"]) and np.isnan(m["cps_max_smd_after_matching"])
    assert np.isfinite(m["cps_max_smd_before"])

    class DiMNaN(real_dim):  # an undefined interval is not a miss: coverage is undefined
        def fit(self, *a, **kw):
            super().fit(*a, **kw)
            self.estimate_ = dataclasses.replace(self.estimate_, stderr=float("nan"))
            return self

    monkeypatch.setattr(ex, "DifferenceInMeans", DiMNaN)
    ex._coverage(cfg, ctx, m)
    assert np.isnan(m["neyman_coverage"])


def test_within_stratum_smd_maximum_propagates_nan(small):
    y, t, x, e = small
    x = x.assign(const=1.0)  # SMD undefined (zero pooled SD)
    est = Subclassification(n_strata=2).fit(y, t, x, e=e).estimate_
    assert est.diagnostics["strata_smd"]["const"].isna().all()
    assert np.isnan(est.diagnostics["max_abs_smd_within"])


def test_failed_bootstrap_draws_are_counted_and_warned():
    # known ê; trimming keeps a single treated unit, which a within-arm resample often leaves out
    rng = np.random.default_rng(3)
    n = 100
    t = np.r_[np.ones(50), np.zeros(50)]
    e = np.where(t == 1, 0.95, 0.5)
    e[0] = 0.5
    y = rng.standard_normal(n)
    with pytest.warns(RuntimeWarning, match=r"bootstrap draws .* were undefined"):
        est = IPW(trim=0.1, n_boot=50, seed=0).fit(y, t, e=e).estimate_
    assert 0 < est.diagnostics["n_boot_failed"] < 50
