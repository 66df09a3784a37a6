"""The experiment's own invariants (the contract itself — profiles, declared metrics, smoke run, README — is
tests/test_contract.py): the deterministic real-data checks hold at any size and write their tables and figures,
and the default profile is the spec's setting."""

from __future__ import annotations

import pytest

from livepapers.core.claims import evaluate
from livepapers.core.runs import RunContext
from livepapers.potential_outcomes import experiment as ex
from livepapers.potential_outcomes.claims import CLAIMS

REAL_DATA = ("R1", "R2", "R3", "R7")  # deterministic: they do not depend on the profile's size


@pytest.mark.timeout(120)
def test_real_data_checks_hold_at_smoke_size(tmp_path):
    cfg = ex.PROFILES["smoke"].config
    ctx = RunContext.for_test(tmp_path, cfg)
    m: dict[str, float] = {}
    ex._nsw_experiment(cfg, ctx, m)
    ex._nsw_cps(cfg, ctx, m, m["nsw_dim"])
    ex._nhefs(cfg, ctx, m)
    ex._darfur(cfg, ctx, m)
    verdicts = evaluate([c for c in CLAIMS if c.id in REAL_DATA], [m])
    assert {v.claim_id: v.status for v in verdicts} == dict.fromkeys(REAL_DATA, "holds"), verdicts
    for name in ("love_plot.png", "estimates_cps.png", "overlap_cps.png", "overlap_nhefs.png", "subclass_balance.png",
                 "cps_estimates.csv", "cps_balance.csv", "cps_subclass5_strata_smd.csv"):
        assert (ctx.folder / name).exists(), name


def test_default_profile_is_the_spec_setting():
    default = ex.PROFILES["default"]
    assert default.n_seeds == 1  # deterministic real-data parts; the simulations replicate inside run()
    d = default.config
    assert (d.n_boot, d.n_perm, d.ks_reps, d.ks_n, d.hte_n, d.hte_reps, d.n_estimators) == (
        200, 10_000, 200, 1000, 2000, 3, 200)
    assert (d.limits_n, d.limits_reps, d.coverage_reps, d.ovb_ref_n) == (2000, 3, 500, 200_000)
