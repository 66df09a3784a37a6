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
