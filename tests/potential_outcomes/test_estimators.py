"""Estimators: identities between estimators, known answers, and the NSW reference values."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from livepapers.potential_outcomes import (
    AIPW,
    IPW,
    BayesianImputation,
    DifferenceInMeans,
    PooledOutcome,
    PSMatching,
    RegressionAdjustment,
    Subclassification,
    data,
    randomization_test,
)


def test_nsw_difference_in_means_and_neyman_se_equals_hc2(nsw):
    y, t = nsw["re78"], nsw["treat"]
    est = DifferenceInMeans().fit(y, t).estimate_
    assert est.value == pytest.approx(1794.34, abs=0.01)
    assert est.stderr == pytest.approx(671.0, abs=1.0)
    hc2 = sm.OLS(y.to_numpy(), sm.add_constant(t.to_numpy())).fit(cov_type="HC2")
    assert est.stderr == pytest.approx(float(hc2.bse[1]), rel=1e-10)
    lo, hi = est.ci()
    assert lo > 0 and hi - lo == pytest.approx(2 * 1.959964 * est.stderr, rel=1e-5)
    assert "difference-in-means" in est.summary() and "1794.3424" in str(est)


def test_nsw_ancova_and_lin_reference_values(nsw):
    y, t, x = nsw["re78"], nsw["treat"], nsw[list(data.NSW_COVARIATES)]
    anc = RegressionAdjustment(method="ancova").fit(y, t, x).estimate_
    lin = RegressionAdjustment(method="lin").fit(y, t, x).estimate_
    assert (anc.value, anc.stderr) == (pytest.approx(1676.3, abs=1), pytest.approx(677.0, abs=1))
    assert (lin.value, lin.stderr) == (pytest.approx(1621.6, abs=1), pytest.approx(694.7, abs=1))


def test_lin_equals_standardization_with_per_arm_ols(small):
    y, t, x, _ = small
    lin = RegressionAdjustment(method="lin").fit(y, t, x).estimate_.value
    std = RegressionAdjustment(method="standardization", n_boot=0).fit(y, t, x).estimate_.value
    assert lin == pytest.approx(std, rel=1e-10)


def test_standardization_att_and_pooled_model(small):
    y, t, x, _ = small
    att = RegressionAdjustment(method="standardization", estimand="att", n_boot=0).fit(y, t, x).estimate_.value
    b0 = np.linalg.lstsq(sm.add_constant(x.to_numpy()[t == 0]), y[t == 0], rcond=None)[0]
    mu0_t = sm.add_constant(x.to_numpy()[t == 1]) @ b0
    assert att == pytest.approx(np.mean(y[t == 1] - mu0_t), rel=1e-10)
    # a pooled model with every covariate interacted is the per-arm model
    full = PooledOutcome(interactions=["a", "b", "c"])
    pooled = RegressionAdjustment(method="standardization", outcome_model=full, n_boot=0).fit(y, t, x).estimate_
    per_arm = RegressionAdjustment(method="standardization", n_boot=0).fit(y, t, x).estimate_
    assert pooled.value == pytest.approx(per_arm.value, rel=1e-9)


def test_standardization_bootstrap_se_is_close_to_hc2_of_lin(small):
    y, t, x, _ = small
    lin = RegressionAdjustment(method="lin").fit(y, t, x).estimate_
    std = RegressionAdjustment(method="standardization", n_boot=200, seed=3).fit(y, t, x).estimate_
    assert std.stderr == pytest.approx(lin.stderr, rel=0.25)


def test_ipw_with_constant_propensity_equals_difference_in_means(small):
    y, t, _x, _ = small
    dim = DifferenceInMeans().fit(y, t).estimate_.value
    e_const = np.full(t.size, t.mean())
    for estimand in ("ate", "att", "ato"):
        hajek = IPW(estimand=estimand, n_boot=0).fit(y, t, e=e_const).estimate_.value
        assert hajek == pytest.approx(dim, rel=1e-12), estimand
    ht = IPW(normalized=False, n_boot=0).fit(y, t, e=e_const).estimate_.value
    assert ht == pytest.approx(dim, rel=1e-12)  # with e = n1/n, Horvitz–Thompson is the DiM too


def test_ipw_formulas_by_hand(small):
    y, t, _x, e = small
    ht = IPW(normalized=False, n_boot=0).fit(y, t, e=e).estimate_.value
    assert ht == pytest.approx(np.mean(t * y / e - (1 - t) * y / (1 - e)))
    att = IPW(estimand="att", n_boot=0).fit(y, t, e=e).estimate_.value
    w0 = e / (1 - e)
    assert att == pytest.approx(y[t == 1].mean() - np.sum((w0 * y)[t == 0]) / np.sum(w0[t == 0]))
    ato = IPW(estimand="ato", n_boot=0).fit(y, t, e=e).estimate_.value
    a1, a0 = (1 - e) * t, e * (1 - t)
    assert ato == pytest.approx(np.sum(a1 * y) / a1.sum() - np.sum(a0 * y) / a0.sum())
    with pytest.raises(ValueError, match="normalised"):
        IPW(estimand="ato", normalized=False)


def test_ipw_trimming_reports_units_used(small):
    y, t, x, _ = small
    est = IPW(trim=0.2, n_boot=0).fit(y, t, x).estimate_
    e = IPW(n_boot=0).fit(y, t, x).propensity_
    assert est.n_used == int(np.sum((e >= 0.2) & (e <= 0.8)))
    assert est.estimand == "ate (trimmed)"


def test_aipw_with_zero_outcome_models_equals_horvitz_thompson(small):
    y, t, _x, e = small
    ht = IPW(normalized=False, n_boot=0).fit(y, t, e=e).estimate_.value
    aipw = AIPW().fit(y, t, e=e, mu0=np.zeros(t.size), mu1=np.zeros(t.size)).estimate_.value
    assert aipw == pytest.approx(ht, rel=1e-12)
    # ATT with μ̂₀ = 0 is the Horvitz–Thompson ATT
    ht_att = IPW(estimand="att", normalized=False, n_boot=0).fit(y, t, e=e).estimate_.value
    aipw_att = AIPW(estimand="att").fit(y, t, e=e, mu0=np.zeros(t.size), mu1=np.zeros(t.size)).estimate_.value
    assert aipw_att == pytest.approx(ht_att, rel=1e-12)


def test_aipw_with_true_outcome_model_is_consistent_whatever_the_propensity(small):
    y, t, x, _e = small
    xa = x.to_numpy()
    mu0 = 1 + xa @ np.array([1.0, 0.5, -0.5])
    mu1 = mu0 + 2 + xa[:, 0]
    wrong_e = np.full(t.size, 0.5)
    est = AIPW().fit(y, t, e=wrong_e, mu0=mu0, mu1=mu1).estimate_
    assert abs(est.value - np.mean(2 + xa[:, 0])) < 3 * est.stderr


def test_aipw_cross_fit_default_rule():
    from sklearn.ensemble import GradientBoostingRegressor

    assert AIPW()._folds() == 1
    assert AIPW(outcome_model=GradientBoostingRegressor())._folds() == 5
    assert AIPW(cross_fit=3)._folds() == 3


def test_aipw_att_se_formula(small):
    y, t, x, e = small
    est = AIPW(estimand="att").fit(y, t, x, e=e)
    r0 = y - est.mu0_
    tau = est.estimate_.value
    phi = (t * (r0 - tau) - (1 - t) * e / (1 - e) * r0) / t.mean()
    assert est.estimate_.stderr == pytest.approx(phi.std(ddof=1) / np.sqrt(t.size))


def test_subclassification_with_one_stratum_equals_difference_in_means(small):
    y, t, x, e = small
    dim = DifferenceInMeans().fit(y, t).estimate_
    sub = Subclassification(n_strata=1).fit(y, t, x, e=e).estimate_
    assert sub.value == pytest.approx(dim.value, rel=1e-12)
    assert sub.stderr == pytest.approx(dim.stderr, rel=1e-12)


@pytest.mark.filterwarnings("ignore:stratum 0 lacks treated units")
def test_subclassification_weights_and_dropped_strata(small):
    y, t, x, e = small
    fit = Subclassification(n_strata=4, estimand="att").fit(y, t, x, e=e)
    tab = fit.estimate_.diagnostics["strata"]
    manual = sum((t[fit.stratum_ == s] == 1).sum() * (y[(fit.stratum_ == s) & (t == 1)].mean()
                 - y[(fit.stratum_ == s) & (t == 0)].mean()) for s in range(4)) / t.sum()
    assert fit.estimate_.value == pytest.approx(manual)
    assert tab["weight"].sum() == pytest.approx(1.0)
    assert fit.estimate_.diagnostics["strata_smd"].shape == (4, 3)
    # a stratum with only treated units is dropped with a warning
    u = np.random.default_rng(0).random(t.size)
    e2 = np.where(t == 1, 0.5 + 0.4 * u, 0.1 + 0.5 * u)  # the top pooled quintile (ê > 0.6) has no controls
    with pytest.warns(RuntimeWarning, match="lacks controls"):
        top = Subclassification(n_strata=5, estimand="att").fit(y, t, x, e=e2).estimate_
    kept = top.diagnostics["strata"]
    assert top.diagnostics["n_treated_dropped"] > 0
    assert top.diagnostics["n_treated_dropped"] + kept["n_treated"].sum() == t.sum()
    assert top.n_used == kept["n"].sum() < t.size


def _expit(z):
    return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))


def test_matching_known_answer_and_abadie_imbens_variances():
    # treated on logit e = 0, 1; controls at 0.1, 0.9, 2.0 → matches c0, c1 (each used once)
    z = np.array([0.0, 1.0, 0.1, 0.9, 2.0])
    t = np.array([1, 1, 0, 0, 0.0])
    y = np.array([5.0, 7.0, 1.0, 2.0, 10.0])
    pop = PSMatching(caliper=None).fit(y, t, e=_expit(z)).estimate_
    assert pop.value == pytest.approx(4.5)
    assert pop.stderr**2 == pytest.approx(0.125)  # (1/4)[(4-4.5)² + (5-4.5)²], K(K-1) = 0
    smp = PSMatching(caliper=None, variance="sample").fit(y, t, e=_expit(z)).estimate_
    # σ² (J = 1): treated ½(5-7)² = 2 each; c0, c1: ½(1-2)² = 0.5; c2 unused
    assert smp.stderr**2 == pytest.approx((2 + 2 + 0.5 + 0.5) / 4)


def test_matching_control_used_twice():
    z = np.array([0.0, 0.05, 0.02, 3.0])
    t = np.array([1, 1, 0, 0.0])
    y = np.array([5.0, 7.0, 1.0, 10.0])
    fit = PSMatching(caliper=None).fit(y, t, e=_expit(z))
    assert fit.estimate_.value == pytest.approx(5.0)
    # population: (1/4)[(4-5)² + (6-5)²] + (1/4)·K(K-1)·σ²(c0), K = 2, σ²(c0) = ½(1-10)² = 40.5
    assert fit.estimate_.stderr**2 == pytest.approx(0.5 + 2 * 40.5 / 4)
    assert fit.match_weights_.tolist() == [1.0, 1.0, 2.0, 0.0]


def test_matching_ties_and_caliper():
    z = np.array([0.0, 5.0, -0.1, 0.1, 0.3])  # treated 0 has two controls tied at distance 0.1
    t = np.array([1, 1, 0, 0, 0.0])
    y = np.array([5.0, 9.0, 1.0, 3.0, 4.0])
    fit = PSMatching(caliper=None).fit(y, t, e=_expit(z))
    assert fit.estimate_.diagnostics["n_ties"] == 1
    assert fit.estimate_.value == pytest.approx(((5 - 2) + (9 - 4)) / 2)
    cal = PSMatching(caliper=0.2).fit(y, t, e=_expit(z)).estimate_
    assert cal.diagnostics["n_unmatched"] == 1 and cal.value == pytest.approx(3.0)


def test_bayesian_imputation_centres_on_difference_in_means_without_covariates(small):
    y, t, _, _ = small
    est = BayesianImputation(n_draws=2000, seed=0).fit(y, t).estimate_
    dim = DifferenceInMeans().fit(y, t).estimate_
    assert abs(est.value - dim.value) < 4 * est.stderr / np.sqrt(2000) + 0.02
    lo, hi = est.ci()
    assert lo < est.value < hi and est.stderr < dim.stderr  # SATE posterior is tighter than the PATE interval


def test_randomization_test_matches_exact_enumeration():
    from itertools import combinations

    y = np.array([3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0, 3.5])
    t = np.array([1, 1, 1, 1, 0, 0, 0, 0.0])
    obs, p = randomization_test(y, t, n_perm=20_000, seed=1)
    stats = []
    for s in combinations(range(8), 4):
        m = np.zeros(8, bool)
        m[list(s)] = True
        stats.append(abs(y[m].mean() - y[~m].mean()))
    exact = np.mean(np.array(stats) >= obs - 1e-12)
    assert obs == pytest.approx(abs(y[:4].mean() - y[4:].mean()))
    assert p == pytest.approx(exact, abs=0.01)


def test_neyman_interval_covers_in_simulation():
    rng = np.random.default_rng(7)
    n = 100
    y0 = rng.exponential(1.0, n)
    y1 = y0 + 0.5 + rng.normal(0, 0.5, n)
    sate = np.mean(y1 - y0)
    hits = 0
    for _ in range(300):
        t = np.zeros(n)
        t[rng.choice(n, n // 2, replace=False)] = 1
        lo, hi = DifferenceInMeans().fit(np.where(t == 1, y1, y0), t).estimate_.ci()
        hits += lo <= sate <= hi
    assert hits / 300 >= 0.92


def test_ipw_sandwich_with_intercept_only_logit_is_the_hc0_se(small):
    y, t, _, _ = small
    const = np.ones((t.size, 1))
    est = IPW(se="sandwich").fit(y, t, const).estimate_
    hc0 = sm.OLS(y, sm.add_constant(t)).fit(cov_type="HC0")
    assert est.value == pytest.approx(float(hc0.params[1]), rel=1e-10)
    assert est.stderr == pytest.approx(float(hc0.bse[1]), rel=1e-8)


def test_ipw_sandwich_known_propensity_ht_and_bootstrap_agreement(small):
    y, t, x, e = small
    ht = IPW(normalized=False, se="sandwich").fit(y, t, e=e).estimate_
    psi = t * y / e - (1 - t) * y / (1 - e)
    assert ht.stderr == pytest.approx(psi.std() / np.sqrt(t.size), rel=1e-10)
    for estimand in ("ate", "att", "ato"):
        sw = IPW(estimand=estimand, se="sandwich").fit(y, t, x).estimate_
        bs = IPW(estimand=estimand, n_boot=300, seed=1).fit(y, t, x).estimate_
        assert sw.value == pytest.approx(bs.value)
        assert sw.stderr == pytest.approx(bs.stderr, rel=0.2), estimand


def test_aipw_with_known_nuisances_attains_the_efficiency_bound():
    rng = np.random.default_rng(11)

    def draw(n):
        x = rng.standard_normal(n)
        e = 1 / (1 + np.exp(-0.5 * x))
        t = (rng.random(n) < e).astype(float)
        mu0, mu1 = x, x + 1 + 0.5 * x
        return x, e, t, mu0, mu1, np.where(t == 1, mu1, mu0) + rng.standard_normal(n)

    x, e, *_ = draw(400_000)
    v_star = np.mean(1 / e + 1 / (1 - e) + (0.5 * x) ** 2)  # σ₁² = σ₀² = 1, τ(X) − τ = 0.5X
    n, vals, ses = 500, [], []
    for _ in range(400):
        x, e, t, mu0, mu1, y = draw(n)
        est = AIPW().fit(y, t, e=e, mu0=mu0, mu1=mu1).estimate_
        vals.append(est.value)
        ses.append(est.stderr)
    bound = np.sqrt(v_star / n)
    assert np.std(vals) == pytest.approx(bound, rel=0.15)
    assert np.mean(ses) == pytest.approx(bound, rel=0.15)


def test_mahalanobis_matching_and_atc(small):
    y, t, x, e = small
    m = PSMatching(distance="mahalanobis", caliper=None).fit(y, t, x).estimate_
    assert m.diagnostics["n_matched"] == int(t.sum()) and np.isfinite(m.stderr)
    att = PSMatching(caliper=None).fit(y, t, e=e).estimate_.value
    flipped = PSMatching(caliper=None, estimand="atc").fit(y, 1 - t, e=1 - e).estimate_.value
    assert flipped == pytest.approx(-att)  # ATC of the flipped arms is minus the ATT


@settings(max_examples=15, deadline=None)
@given(shift=st.floats(-1e3, 1e3), scale=st.floats(0.1, 10.0))
def test_location_scale_equivariance(shift, scale):
    rng = np.random.default_rng(5)
    n = 120
    x = rng.standard_normal((n, 2))
    e = 1 / (1 + np.exp(-x[:, 0]))
    t = (rng.random(n) < e).astype(float)
    t[:2] = [0, 1]
    y = x[:, 1] + t + rng.standard_normal(n)
    y2 = scale * y + shift
    for make in (lambda: DifferenceInMeans(), lambda: RegressionAdjustment(method="lin"),
                 lambda: IPW(estimand="att", n_boot=0), lambda: AIPW()):
        a = make().fit(y, t, x, e=e).estimate_ if isinstance(make(), (IPW, AIPW)) else make().fit(y, t, x).estimate_
        b = make().fit(y2, t, x, e=e).estimate_ if isinstance(make(), (IPW, AIPW)) else make().fit(y2, t, x).estimate_
        assert b.value == pytest.approx(scale * a.value, rel=1e-6, abs=1e-6 * (1 + abs(shift)))
    # Horvitz–Thompson is not location-invariant (its weights do not sum to one within arm): the Hájek fix
    ht = IPW(normalized=False, n_boot=0)
    drift = ht.fit(y + 1000.0, t, e=e).estimate_.value - ht.fit(y, t, e=e).estimate_.value
    assert drift == pytest.approx(1000.0 * np.mean(t / e - (1 - t) / (1 - e)))


def test_bayesian_imputation_posterior_variance_known_answer():
    # intercept-only arms: SATE posterior mean = DiM and variance
    # (n₁/n)²·E[σ₀²]·(1/n₀ + 1/n₁) + (n₀/n)²·E[σ₁²]·(1/n₁ + 1/n₀), E[σ_w²] = (n_w − 1)s_w²/(n_w − 3)
    rng = np.random.default_rng(3)
    t = np.r_[np.ones(8), np.zeros(8)]
    y = 2 * rng.standard_normal(16) + 3 * t
    n, n1, n0 = 16, 8, 8
    s1, s0 = y[t == 1].var(ddof=1), y[t == 0].var(ddof=1)
    v = (n1 / n) ** 2 * (n0 - 1) / (n0 - 3) * s0 * (1 / n0 + 1 / n1) \
        + (n0 / n) ** 2 * (n1 - 1) / (n1 - 3) * s1 * (1 / n1 + 1 / n0)
    est = BayesianImputation(n_draws=40_000, seed=0).fit(y, t).estimate_
    assert est.value == pytest.approx(y[t == 1].mean() - y[t == 0].mean(), abs=0.03)
    assert est.stderr**2 == pytest.approx(v, rel=0.05)  # σ² held at s² would read ≈ 30 % low


def test_aipw_cross_fitting_uses_out_of_fold_nuisances(small):
    from sklearn.dummy import DummyRegressor
    from sklearn.model_selection import StratifiedKFold

    y, t, x, e = small
    fit = AIPW(outcome_model=DummyRegressor(), cross_fit=3, seed=5).fit(y, t, x, e=e)
    assert fit.estimate_.diagnostics["cross_fit"] == 3
    for train, test in StratifiedKFold(n_splits=3, shuffle=True, random_state=5).split(x, t):
        for arm, mu in ((0, fit.mu0_), (1, fit.mu1_)):
            np.testing.assert_allclose(mu[test], y[train][t[train] == arm].mean())


def test_matching_bias_correction_known_answer():
    # controls lie exactly on Y(0) = 2x, treated on 2x + 1; matches are inexact, the regression fixes them
    z = np.array([0.0, 1.0, 0.2, 1.3, 5.0])
    t = np.array([1, 1, 0, 0, 0.0])
    y = 2 * z + t
    x = z[:, None]
    raw = PSMatching(caliper=None).fit(y, t, x, e=_expit(z)).estimate_.value
    bc = PSMatching(caliper=None, bias_correction=True).fit(y, t, x, e=_expit(z)).estimate_.value
    assert raw == pytest.approx(((1 - 0.4) + (3 - 2.6)) / 2)
    assert bc == pytest.approx(1.0)
    atc = PSMatching(caliper=None, bias_correction=True, estimand="atc").fit(y, 1 - t, x, e=1 - _expit(z))
    assert atc.estimate_.value == pytest.approx(-1.0)


@pytest.mark.filterwarnings("ignore:stratum")
def test_subclassification_treated_quantiles_and_common_support(small):
    y, t, x, e = small
    fit = Subclassification(n_strata=4, strata_on="treated", estimand="att").fit(y, t, x, e=e)
    per_stratum = np.bincount(fit.stratum_[t == 1], minlength=4)
    assert per_stratum.max() - per_stratum.min() <= 1  # quartiles of ê among the treated
    cs = Subclassification(n_strata=4, strata_on="treated", estimand="att", common_support=True).fit(y, t, x, e=e)
    outside = np.where(t == 1, (e < e[t == 0].min()) | (e > e[t == 0].max()),
                       (e < e[t == 1].min()) | (e > e[t == 1].max()))
    assert cs.estimate_.diagnostics["n_dropped_common_support"] == outside.sum() > 0
    assert ((cs.stratum_ == -1) == outside).all()


def test_matching_sample_variance_with_a_control_used_twice():
    z = np.array([0.0, 0.05, 0.02, 3.0])
    t = np.array([1, 1, 0, 0.0])
    y = np.array([5.0, 7.0, 1.0, 10.0])
    est = PSMatching(caliper=None, variance="sample").fit(y, t, e=_expit(z)).estimate_
    # (1/n₁²)[σ²(t0) + σ²(t1) + K(c0)²σ²(c0)], σ² = ½(5−7)² = 2 (treated), ½(1−10)² = 40.5 (c0), K = 2
    assert est.stderr**2 == pytest.approx((2 + 2 + 4 * 40.5) / 4)


def test_ipw_sandwich_with_trimming_matches_a_numerical_m_estimation(small):
    from livepapers.potential_outcomes import PropensityModel, trim

    y, t, x, _ = small
    pm = PropensityModel().fit(t, x)
    z, beta = pm.design(x), pm.params_
    keep = trim(pm.predict(x), rule=0.3).astype(float)
    assert 0 < (keep == 0).sum() < t.size // 2

    def psi(theta):  # logit score on every unit; Hájek ATE equations on the kept units (fixed mask)
        b, mu1, mu0 = theta[:-2], theta[-2], theta[-1]
        e = 1 / (1 + np.exp(-z @ b))
        return np.column_stack([z * (t - e)[:, None], keep * t / e * (y - mu1),
                                keep * (1 - t) / (1 - e) * (y - mu0)])

    w1, w0 = keep * t / pm.predict(x), keep * (1 - t) / (1 - pm.predict(x))
    theta = np.r_[beta, np.sum(w1 * y) / w1.sum(), np.sum(w0 * y) / w0.sum()]
    n, h = t.size, 1e-6
    a = np.column_stack([(psi(theta + h * np.eye(theta.size)[j]).mean(0) - psi(theta - h * np.eye(theta.size)[j])
                          .mean(0)) / (2 * h) for j in range(theta.size)])
    p = psi(theta)
    cov = np.linalg.inv(a) @ (p.T @ p / n) @ np.linalg.inv(a).T / n
    c = np.r_[np.zeros(beta.size), 1.0, -1.0]
    est = IPW(trim=0.3, se="sandwich").fit(y, t, x).estimate_
    assert est.value == pytest.approx(theta[-2] - theta[-1], rel=1e-10)
    assert est.stderr == pytest.approx(np.sqrt(c @ cov @ c), rel=1e-5)


def test_refits_keep_the_propensity_model_settings(small):
    import warnings

    from livepapers.potential_outcomes import PropensityModel

    y, t, x, _ = small
    pm = PropensityModel(maxiter=1)  # one Newton step: every fit that honours maxiter warns
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        IPW(propensity_model=pm, n_boot=3, seed=0).fit(y, t, x)
        AIPW(propensity_model=pm, cross_fit=2).fit(y, t, x)
    msgs = [str(w.message) for w in rec if "did not converge in 1 Newton" in str(w.message)]
    assert len(msgs) == 1 + 3 + 2  # the IPW fit, its 3 bootstrap refits, the 2 AIPW folds
