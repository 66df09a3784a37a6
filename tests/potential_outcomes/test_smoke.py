"""The smoke profile end to end through the core's reproduce (registered here until the lead adds the slug)."""

from __future__ import annotations

import json
import math

import pytest

from livepapers.core import registry
from livepapers.potential_outcomes.claims import CLAIMS
from livepapers.potential_outcomes.experiment import PROFILES, Config


@pytest.mark.timeout(240)
def test_smoke_profile_end_to_end(tmp_path, monkeypatch):
    from livepapers.core.reproduce import reproduce

    monkeypatch.setitem(registry.PAPERS, "potential-outcomes", "livepapers.potential_outcomes")
    folder = reproduce("potential-outcomes", profile="smoke", out=tmp_path, verbose=False, workers=1)
    metrics = json.loads((folder / "seed-0" / "metrics.json").read_text())
    needed = {m for c in CLAIMS for m in c.metrics} | {"cps_subclass5_att", "nw_b_pehe_t_ols", "nsw_bayes"}
    assert needed <= set(metrics), needed - set(metrics)
    assert all(math.isfinite(v) for v in metrics.values())
    verdicts = {v["claim_id"]: v for v in json.loads((folder / "claims.json").read_text())["verdicts"]}
    assert list(verdicts) == [f"R{i}" for i in range(1, 9)]
    # the deterministic real-data checks do not depend on the profile's size
    for cid in ("R1", "R3", "R7"):
        assert verdicts[cid]["status"] == "holds", verdicts[cid]
    for name in ("love_plot.png", "estimates_cps.png", "overlap_cps.png", "overlap_nhefs.png", "pehe.png",
                 "subclass_balance.png", "cps_estimates.csv", "cps_balance.csv"):
        assert (folder / "seed-0" / name).exists(), name
    assert (folder / "report.md").exists()


def test_profiles_are_consistent():
    assert set(PROFILES) == {"smoke", "default", "paper"}
    assert PROFILES["default"].config == Config()
    assert PROFILES["default"].n_seeds == 1  # deterministic real-data parts; simulations replicate inside run()
    d = PROFILES["default"].config
    assert (d.n_boot, d.n_perm, d.ks_reps, d.ks_n, d.hte_n, d.hte_reps, d.forest_trees) == (
        200, 10_000, 200, 1000, 2000, 3, 200)
    assert (d.limits_n, d.limits_reps, d.coverage_reps, d.ovb_ref_n) == (2000, 3, 500, 200_000)
