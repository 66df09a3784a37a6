"""Sensitivity analysis: E-values and Cinelli–Hazlett robustness values (reference cases, Darfur)."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from livepapers.potential_outcomes import data, e_value, ovb_bias_bound, ovb_from_ols, ovb_robustness


def test_e_value_reference_cases():
    assert e_value(2.0).point == pytest.approx(2 + np.sqrt(2), abs=1e-12)  # 3.414
    assert e_value(0.5).point == pytest.approx(e_value(2.0).point)
    assert e_value(1.0).point == 1.0
    # VanderWeele & Ding (2017) example: RR 3.9 (1.8, 8.7) -> E 7.26, CI 3.0
    ev = e_value(3.9, lo=1.8, hi=8.7)
    assert ev.point == pytest.approx(7.26, abs=0.01) and ev.ci == pytest.approx(3.0, abs=0.01)
    assert e_value(1.5, lo=0.9, hi=2.3).ci == 1.0
    assert e_value(0.6, lo=0.4, hi=0.8).ci == pytest.approx(e_value(1 / 0.8).point)
    d = e_value(smd=0.5)
    assert d.rr == pytest.approx(np.exp(0.455)) and d.point == pytest.approx(e_value(np.exp(0.455)).point)
    with pytest.raises(ValueError, match="exactly one"):
        e_value(2.0, smd=0.1)


def test_robustness_value_formulas():
    out = ovb_robustness(4.18445, 783)
    assert out["rv_q"] == pytest.approx(0.1388, abs=1e-4)
    assert out["rv_qa"] == pytest.approx(0.0763, abs=1e-4)
    assert out["r2yd_x"] == pytest.approx(4.18445**2 / (4.18445**2 + 783))
    # q = 1/2 halves f
    f = 0.5 * 4.18445 / np.sqrt(783)
    assert ovb_robustness(4.18445, 783, q=0.5)["rv_q"] == pytest.approx(0.5 * (np.sqrt(f**4 + 4 * f**2) - f**2))
    # insignificant estimate: RV_{q,α} = 0
    assert ovb_robustness(1.0, 100)["rv_qa"] == 0.0
    # very large t: sensemakr's extra branch (f > 1/f_crit)
    f, fc = 100 / np.sqrt(100), stats.t.ppf(0.975, 99) / np.sqrt(99)
    assert f > 1 / fc
    assert ovb_robustness(100.0, 100)["rv_qa"] == pytest.approx((f**2 - fc**2) / (1 + f**2))


def test_bias_bound():
    assert ovb_bias_bound(0.02, 783, 0.1, 0.1) == pytest.approx(0.02 * np.sqrt(783) * np.sqrt(0.01 / 0.9))
    assert ovb_bias_bound(1.0, 10, 0.0, 0.5) == 0.0
    with pytest.raises(ValueError, match="r2dz_x"):
        ovb_bias_bound(1.0, 10, 0.1, 1.0)


def test_darfur_numbers():
    df = data.load_darfur()
    assert df.shape[0] == 1276
    cols = ["directlyharmed", "age", "farmer_dar", "herder_dar", "pastvoted", "hhsize_darfur", "female"]
    cols += [c for c in df.columns if c.startswith("village_")]
    res = sm.OLS(df["peacefactor"], sm.add_constant(df[cols])).fit()
    o = ovb_from_ols(res, "directlyharmed")
    assert o["estimate"] == pytest.approx(0.09732, abs=5e-6)
    assert o["se"] == pytest.approx(0.02326, abs=5e-6)
    assert o["t"] == pytest.approx(4.184, abs=1e-3) and o["dof"] == 783
    assert o["r2yd_x"] == pytest.approx(0.0219, abs=1e-4)
    assert (o["rv_q"], o["rv_qa"]) == (pytest.approx(0.1388, abs=1e-4), pytest.approx(0.0763, abs=1e-4))
    with pytest.raises(ValueError, match="'harmed'"):
        ovb_from_ols(res, "harmed")


def test_rosenbaum_bounds_gamma_one_is_the_wilcoxon_test():
    from livepapers.potential_outcomes import rosenbaum_bounds

    d = np.random.default_rng(0).normal(0.4, 1.0, 60)
    tab = rosenbaum_bounds(d, gammas=(1.0, 2.0, 4.0))
    ref = stats.wilcoxon(d, alternative="greater", method="approx", correction=False).pvalue
    assert tab.loc[0, "p_lower"] == pytest.approx(ref, rel=1e-6)
    assert tab.loc[0, "p_upper"] == pytest.approx(ref, rel=1e-6)
    assert (np.diff(tab["p_upper"]) > 0).all() and (np.diff(tab["p_lower"]) < 0).all()
    with pytest.raises(ValueError, match="gamma must be >= 1"):
        rosenbaum_bounds(d, gammas=(0.5,))
