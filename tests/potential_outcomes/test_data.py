"""Data loaders (offline, float64, categoricals expanded) and simulators (truth, determinism)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from livepapers.potential_outcomes import data


def test_nsw_loaders():
    exp = data.load_nsw("experimental")
    assert exp.shape == (445, 10) and int(exp["treat"].sum()) == 185
    assert (exp.dtypes == np.float64).all()
    assert (exp["age"] ** 2).max() > 127  # int8 would overflow
    cps = data.load_nsw("cps")
    assert cps.shape[0] == 16177 and int(cps["treat"].sum()) == 185
    f = data.dw_style_features(cps)
    assert f.shape == (16177, 15) and f["u74"].isin([0, 1]).all()
    with pytest.raises(ValueError, match="'experimental' or 'cps'"):
        data.load_nsw("lalonde")


def test_nhefs_loader():
    d = data.load_nhefs()
    assert d.shape[0] == 1566 and (d.dtypes == np.float64).all()
    for c in ("education_2", "education_5", "exercise_1", "exercise_2", "active_1", "active_2"):
        assert c in d.columns and set(d[c].unique()) <= {0.0, 1.0}
    assert "education" not in d.columns and set(d["sex"].unique()) == {0.0, 1.0}
    assert d["wt82_71"].notna().all()


def test_simulators_are_deterministic_and_carry_truth():
    a = data.nie_wager("D", 200, 6, 1.0, generator=torch.Generator().manual_seed(5))
    b = data.nie_wager("D", 200, 6, 1.0, generator=torch.Generator().manual_seed(5))
    c = data.nie_wager("D", 200, 6, 1.0, generator=6)
    np.testing.assert_array_equal(a.Y, b.Y)
    assert not np.array_equal(a.Y, c.Y)
    x = a.X.to_numpy()
    np.testing.assert_allclose(a.tau, np.maximum(0, x[:, :3].sum(1)) - np.maximum(0, x[:, 3] + x[:, 4]))
    np.testing.assert_allclose(a.mu1 - a.mu0, a.tau)
    ks = data.kang_schafer(500, 0)
    z = ks.extra["Z"].to_numpy()
    np.testing.assert_allclose(ks.X["x1"], np.exp(z[:, 0] / 2))
    assert ks.ate == 210.0
    uc = data.unmeasured_confounding(300, 1.0, generator=1)
    assert uc.ate == 1.0 and uc.X.shape == (300, 5)
    ov = data.overlap_violation(400, generator=2)
    x1 = ov.X["x1"].to_numpy()
    assert (ov.T[x1 < 0.5] == 0).all() and (ov.T[x1 > 0.7] == 1).all()
    np.testing.assert_allclose(ov.tau, 1 + 4 * (x1 - 0.6) ** 2)
    with pytest.raises(ValueError, match=r"generator must be an int seed or a torch\.Generator"):
        data.kang_schafer(10, 1.5)
