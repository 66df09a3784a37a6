"""Design stage (no Y): propensity model, balance, overlap, trimming, effective sample size."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from livepapers.potential_outcomes import (
    PropensityModel,
    balance_table,
    balancing_weights,
    data,
    effective_sample_size,
    overlap_summary,
    trim,
)


def test_design_functions_do_not_take_the_outcome():
    for fn in (balance_table, overlap_summary, trim, effective_sample_size, balancing_weights, PropensityModel.fit):
        params = {p.lower() for p in inspect.signature(fn).parameters}
        assert not params & {"y", "outcome"}, fn.__name__


def test_logit_matches_unpenalised_sklearn_on_standardised_regressors(small):
    _, t, x, _ = small
    ours = PropensityModel().fit(t, x)
    assert ours.converged_
    sk = make_pipeline(StandardScaler(), LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000)).fit(x, t)
    np.testing.assert_allclose(ours.predict(x), sk.predict_proba(x)[:, 1], rtol=1e-5)
    wrapped = PropensityModel(make_pipeline(StandardScaler(), LogisticRegression(C=np.inf))).fit(t, x)
    np.testing.assert_allclose(wrapped.predict(x), ours.predict(x), atol=1e-4)


def test_cps_propensity_converges_at_the_reference_optimum():
    df = data.load_nsw("cps")
    pm = PropensityModel().fit(df["treat"], data.dw_style_features(df))
    assert pm.converged_ and pm.llf_ == pytest.approx(-414.27, abs=0.01)


def test_smd_known_answer_and_pre_adjustment_denominator():
    x = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 6.0, 8.0]})
    t = np.array([1, 1, 1, 0, 0, 0.0])
    tab = balance_table(x, t, weights=np.array([1, 1, 1, 3, 1, 1.0]))
    s1, s0 = np.var([1, 2, 3], ddof=1), np.var([4, 6, 8], ddof=1)
    assert tab.loc["a", "smd_before"] == pytest.approx((2 - 6) / np.sqrt((s1 + s0) / 2))
    # after: weighted control mean (3·4 + 6 + 8)/5 = 5.2, same unweighted denominator
    assert tab.loc["a", "smd_after"] == pytest.approx((2 - 5.2) / np.sqrt((s1 + s0) / 2))
    assert tab.loc["a", "var_ratio_before"] == pytest.approx(s1 / s0)
    same = balance_table(x, t, weights=np.full(6, 7.0))
    assert same.loc["a", "smd_after"] == pytest.approx(same.loc["a", "smd_before"])


def test_balancing_weights_definitions(small):
    _, t, _, e = small
    w = balancing_weights(e, t, estimand="att", normalized=False)
    np.testing.assert_allclose(w, np.where(t == 1, 1.0, e / (1 - e)))
    w = balancing_weights(e, t, estimand="ato", normalized=True)
    assert w[t == 1].sum() == pytest.approx(1) and w[t == 0].sum() == pytest.approx(1)
    np.testing.assert_allclose(w[t == 0] / w[t == 0].max(), e[t == 0] / e[t == 0].max())


def test_effective_sample_size():
    t = np.array([1, 1, 0, 0, 0.0])
    ess = effective_sample_size(np.array([1, 1, 1, 1, 1.0]), t)
    assert ess == {"treated": 2.0, "control": 3.0}
    ess = effective_sample_size(np.array([1, 3, 1, 0, 0.0]), t)
    assert ess["treated"] == pytest.approx(16 / 10) and ess["control"] == pytest.approx(1.0)


def test_overlap_summary_counts():
    e = np.array([0.05, 0.5, 0.95, 0.2, 0.08])
    t = np.array([1, 1, 1, 0, 0.0])
    o = overlap_summary(e, t)
    assert o["share_outside"] == pytest.approx(3 / 5)
    assert o["share_outside_treated"] == pytest.approx(2 / 3)
    assert (o["e_min_control"], o["e_max_treated"]) == (0.08, 0.95)
    assert sum(o["counts_treated"]) == 3 and sum(o["counts_control"]) == 2


def test_trim_fixed_and_optimal():
    e = np.array([0.05, 0.1, 0.5, 0.9, 0.95])
    assert trim(e, rule=0.1).tolist() == [False, True, True, True, False]
    flat = np.full(10, 0.4)
    assert trim(flat, rule="optimal").all()  # max g <= 2 mean g: nothing trimmed
    rng = np.random.default_rng(0)
    e = np.clip(rng.beta(0.5, 0.5, 5000), 1e-4, 1 - 1e-4)
    keep = trim(e, rule="optimal")
    g = 1 / (e * (1 - e))
    gamma = g[keep].max()
    assert gamma <= 2 * g[keep].mean() + 1e-9  # γ = 2 E[g | g ≤ γ] on the empirical distribution
    assert g[~keep].min() > 2 * g[keep].mean() - 1e-9
    assert 0 < keep.mean() < 1
    with pytest.raises(ValueError, match="optimal"):
        trim(e, rule="crump")


def test_weighted_ks_distance():
    x = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0, 6.0, 8.0]})
    t = np.array([1, 1, 1, 0, 0, 0.0])
    tab = balance_table(x, t, weights=np.array([1, 1, 1, 1, 0, 0.0]))
    assert tab.loc["a", "ks_before"] == pytest.approx(1.0)  # supports do not overlap
    # after: controls reduced to the single value 4: F1 − F0 is 1 on [3, 4)
    assert tab.loc["a", "ks_after"] == pytest.approx(1.0)
    tab = balance_table(x, np.array([1, 0, 1, 0, 1, 0.0]))
    assert tab.loc["a", "ks_before"] == pytest.approx(1 / 3)
