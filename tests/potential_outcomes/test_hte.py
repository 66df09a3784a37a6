"""Heterogeneous-effect learners and the causal forest: known answers on linear / constant effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from livepapers.potential_outcomes import (
    CausalForest,
    DRLearner,
    RLearner,
    SLearner,
    TLearner,
    XLearner,
    data,
    pehe,
)


def _linear(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    e = 1 / (1 + np.exp(-0.5 * x[:, 0]))
    t = (rng.random(n) < e).astype(float)
    tau = 1 + 2 * x[:, 1]
    y = x[:, 0] - x[:, 2] + t * tau + 0.1 * rng.standard_normal(n)
    return y, t, pd.DataFrame(x, columns=["a", "b", "c"]), tau


def test_pehe_known_answer():
    assert pehe([1.0, 2.0, 3.0], [1.0, 2.0, 5.0]) == pytest.approx(np.sqrt(4 / 3))


def test_ols_learners_recover_a_linear_effect():
    y, t, x, tau = _linear()
    ols = LinearRegression()
    assert pehe(TLearner(ols).fit(y, t, X=x).effect(x), tau) < 0.05
    # X-learner with OLS everywhere: τ̂₀ and τ̂₁ are both ≈ the linear τ, so is their ê-mix
    xl = XLearner(ols, final=LinearRegression()).fit(y, t, X=x)
    assert pehe(xl.effect(x), tau) < 0.05
    dr = DRLearner(outcome_model=ols, final=LinearRegression()).fit(y, t, X=x)
    assert pehe(dr.effect(x), tau) < 0.1
    rl = RLearner(outcome_model=ols, final=LinearRegression()).fit(y, t, X=x)
    assert abs(rl.ate(x) - tau.mean()) < 0.1
    # an S-learner with an additive OLS base cannot express heterogeneity: constant effect
    s = SLearner(ols).fit(y, t, X=x).effect(x)
    assert np.ptp(s) < 1e-9


def test_r_learner_is_the_weighted_residual_regression():
    from livepapers.potential_outcomes.hte import _cross_fit_nuisances

    y, t, x, _ = _linear(n=300, seed=2)

    class Recorder(LinearRegression):
        def fit(self, X, y, sample_weight=None):
            self.seen = (np.asarray(y).copy(), np.asarray(sample_weight).copy())
            return super().fit(X, y, sample_weight=sample_weight)

    rl = RLearner(outcome_model=LinearRegression(), final=Recorder(), cross_fit=2, seed=4).fit(y, t, X=x)
    pseudo, w = rl.model_.seen
    nu = _cross_fit_nuisances(y, t, x.to_numpy(), outcome_model=LinearRegression(), propensity_model=None, k=2,
                              seed=4, arms=False)
    np.testing.assert_allclose(w, (t - nu["e"]) ** 2)  # weights (W − ê)²
    np.testing.assert_allclose(pseudo, (y - nu["m"]) / (t - nu["e"]))  # pseudo-outcome (Y − m̂)/(W − ê)


def test_causal_forest_constant_effect_and_determinism():
    rng = np.random.default_rng(3)
    n = 800
    x = rng.standard_normal((n, 4))
    t = (rng.random(n) < 0.5).astype(float)
    y = x[:, 0] + 2.0 * t + rng.standard_normal(n)
    cf = CausalForest(30, seed=1, outcome_model=LinearRegression()).fit(y, t, X=x)
    th = cf.effect(x)
    assert abs(th.mean() - 2.0) < 0.25 and th.std() < 0.5
    again = CausalForest(30, seed=1, outcome_model=LinearRegression()).fit(y, t, X=x).effect(x)
    np.testing.assert_array_equal(th, again)
    other = CausalForest(30, seed=2, outcome_model=LinearRegression()).fit(y, t, X=x).effect(x)
    assert not np.array_equal(th, other)


def test_causal_forest_honest_leaves_hold_both_arms_and_split_heterogeneity():
    rng = np.random.default_rng(4)
    n = 1200
    x = rng.random((n, 3))
    t = (rng.random(n) < 0.5).astype(float)
    tau = np.where(x[:, 0] > 0.5, 3.0, 0.0)
    y = x[:, 1] + tau * t + 0.5 * rng.standard_normal(n)
    cf = CausalForest(40, seed=0, outcome_model=LinearRegression()).fit(y, t, X=x)
    for tree, stats in cf.trees_:
        assert stats.shape[1] == 4
        assert (tree.f[tree.l >= 0] == 0).sum() >= 1 or (tree.l < 0).all()
    th = cf.effect(x)
    assert th[x[:, 0] > 0.7].mean() > 2.0 and th[x[:, 0] < 0.3].mean() < 1.0
    assert pehe(th, tau) < pehe(np.full(n, tau.mean()), tau)


def test_learner_errors():
    y, t, x, _ = _linear(n=50)
    with pytest.raises(ValueError, match="not fitted"):
        TLearner().effect(x)
    fitted = TLearner(LinearRegression()).fit(y, t, X=x)
    with pytest.raises(ValueError, match="2 columns"):
        fitted.effect(x.iloc[:, :2])
    with pytest.raises(ValueError, match="n_estimators"):
        CausalForest(0)


def test_nie_wager_d_flexible_learner_beats_ols_small():
    s = data.nie_wager("D", 800, 6, 1.0, generator=0)
    ols = pehe(TLearner(LinearRegression()).fit(s.Y, s.T, X=s.X).effect(s.X), s.tau)
    xl = pehe(XLearner().fit(s.Y, s.T, X=s.X).effect(s.X), s.tau)
    assert xl < ols


def test_dr_learner_regresses_the_cross_fitted_aipw_pseudo_outcome():
    from livepapers.potential_outcomes.hte import _cross_fit_nuisances

    y, t, x, _ = _linear(n=300, seed=5)

    class Recorder(LinearRegression):
        def fit(self, X, y, sample_weight=None):
            self.seen = np.asarray(y).copy()
            return super().fit(X, y)

    dr = DRLearner(outcome_model=LinearRegression(), final=Recorder(), cross_fit=2, seed=4).fit(y, t, X=x)
    nu = _cross_fit_nuisances(y, t, x.to_numpy(), outcome_model=LinearRegression(), propensity_model=None, k=2,
                              seed=4, arms=True)
    e, m0, m1 = nu["e"], nu["mu0"], nu["mu1"]
    np.testing.assert_allclose(dr.model_.seen, m1 - m0 + t * (y - m1) / e - (1 - t) * (y - m0) / (1 - e))


def test_causal_forest_honesty_and_split_constraints():
    rng = np.random.default_rng(6)
    n = 1000
    x = rng.random((n, 3))
    t = (rng.random(n) < 0.3).astype(float)
    yr, wr = rng.standard_normal(n) + 2 * t * (x[:, 0] > 0.5), t - 0.3

    halves = []

    class Spy(CausalForest):
        def _grow(self, x, yr, wr, t, idx, mtry, rng):
            halves.append(idx)
            return super()._grow(x, yr, wr, t, idx, mtry, rng)

        def _fill(self, tree, x, yr, wr, t, est):
            halves.append(est)
            return super()._fill(tree, x, yr, wr, t, est)

    Spy(5, seed=0, outcome_model=LinearRegression()).fit(yr, t, X=x)
    for split, est in zip(halves[::2], halves[1::2], strict=True):
        assert split.size == est.size == n // 4 and np.intersect1d(split, est).size == 0

    cf = CausalForest(1, min_leaf=5, alpha=0.05)
    idx = rng.choice(n, 500, replace=False)
    tree = cf._grow(x, yr, wr, t, idx, 3, np.random.default_rng(0))
    assert (tree.l >= 0).sum() >= 3  # it does split
    leaf = tree.apply(x[idx])
    for node in np.unique(leaf):
        tn = t[idx][leaf == node]
        assert tn.sum() >= 5 and (1 - tn).sum() >= 5  # ≥ min_leaf treated and controls of the splitting half
    # honesty: outcomes outside the splitting half cannot move the splits
    yr2 = yr.copy()
    yr2[np.setdiff1d(np.arange(n), idx)] += 100 * rng.standard_normal(n - idx.size)
    tree2 = cf._grow(x, yr2, wr, t, idx, 3, np.random.default_rng(0))
    np.testing.assert_array_equal(tree.th, tree2.th)
    np.testing.assert_array_equal(tree.f, tree2.f)


def test_x_learner_mixes_the_arm_effects_by_the_propensity():
    from sklearn.dummy import DummyRegressor

    rng = np.random.default_rng(7)
    x = pd.DataFrame(rng.standard_normal((400, 2)), columns=["a", "b"])
    t = (rng.random(400) < 1 / (1 + np.exp(-x["a"].to_numpy()))).astype(float)
    y = x["b"].to_numpy() + t * (1 + 2 * x["a"].to_numpy()) + 0.1 * rng.standard_normal(400)
    xl = XLearner(LinearRegression(), final=DummyRegressor()).fit(y, t, X=x)
    tau1, tau0 = xl.tau1_.predict(x[:1].to_numpy())[0], xl.tau0_.predict(x[:1].to_numpy())[0]
    assert tau1 - tau0 > 0.5  # mean effect among treated (high a) > among controls: the mixing weights matter
    e = xl.ps_.predict(x)
    np.testing.assert_allclose(xl.effect(x), e * tau0 + (1 - e) * tau1)  # τ̂ = ê τ̂₀ + (1 − ê) τ̂₁


def test_causal_forest_root_only_is_the_locally_centred_residual_slope():
    from sklearn.dummy import DummyRegressor

    rng = np.random.default_rng(8)
    n = 400
    x = rng.standard_normal((n, 2))
    t = (rng.random(n) < 1 / (1 + np.exp(-x[:, 0]))).astype(float)
    y = 50 + x[:, 1] + 2 * t + rng.standard_normal(n)
    # m̂ = 0 leaves Ỹ uncentred: only the locally centred formula recovers the residual-on-residual slope
    cf = CausalForest(1, min_leaf=n, subsample=1.0, honest=False, outcome_model=DummyRegressor(strategy="constant",
                      constant=0.0)).fit(y, t, X=x)
    yr, wr = y - cf.nuisances_["m"], t - cf.nuisances_["e"]
    slope = np.polyfit(wr, yr, 1)[0]
    np.testing.assert_allclose(cf.effect(x), slope, rtol=1e-10)


def test_causal_forest_root_split_maximises_the_gradient_criterion():
    rng = np.random.default_rng(0)
    n = 400
    x = rng.random((n, 2))
    e = np.where(x[:, 0] > 0.5, 0.85, 0.25)  # W̃'s variance depends on x1, the effect does not
    t = (rng.random(n) < e).astype(float)
    wr = t - e
    # effect 3, plus 4 in a narrow edge region of x2 (where the 1/n_child weighting decides the threshold)
    yr = 3 * wr + 0.3 * rng.standard_normal(n) + 4 * wr * (x[:, 1] > 0.9)
    idx = np.arange(n)
    tree = CausalForest(1, min_leaf=5, alpha=0.05)._grow(x, yr, wr, t, idx, 2, np.random.default_rng(0))
    # brute force: ρ_i = W̃c(Ỹc − W̃c τ̂_P)/Var_P(W̃), score Σ_children (Σρ)²/n_child over admissible splits
    wc, yc = wr - wr.mean(), yr - yr.mean()
    rho = wc * (yc - wc * np.sum(wc * yc) / np.sum(wc**2)) / np.mean(wc**2)
    best = (-np.inf, None, None)
    for f in range(2):
        v = np.sort(np.unique(x[:, f]))
        for thr in (v[:-1] + v[1:]) / 2:
            left = x[:, f] <= thr
            nl, nr = left.sum(), (~left).sum()
            tl, tr = t[left].sum(), t[~left].sum()
            if min(nl, nr) < np.ceil(0.05 * n) or min(tl, nl - tl, tr, nr - tr) < 5:
                continue
            s = rho[left].sum() ** 2 / nl + rho[~left].sum() ** 2 / nr
            if s > best[0]:
                best = (s, f, thr)
    assert (tree.f[0], tree.th[0]) == (best[1], pytest.approx(best[2]))
    assert best[1] == 1  # the heterogeneity in x2, not the propensity change in x1
