"""The smoke profile end to end (prepare + one seed) through RunContext, within the smoke budget."""

import math
import time

from livepapers.core.runs import RunContext
from livepapers.sgm_theory import experiment
from livepapers.sgm_theory.claims import CLAIMS, METRICS


def test_smoke_profile_end_to_end(tmp_path):
    cfg = experiment.PROFILES["smoke"].config
    t0 = time.perf_counter()
    shared = tmp_path / "shared"
    shared.mkdir()
    experiment.prepare(cfg, RunContext.for_test(shared, cfg, seed=0))
    m = experiment.run(cfg, RunContext.for_test(tmp_path / "seed", cfg, seed=0, shared=shared))
    assert time.perf_counter() - t0 < 20
    assert set(m) == set(METRICS)
    for c in CLAIMS:
        for name in c.all_metrics:
            assert math.isfinite(m[name]), name
    # exactness of the propagation on the smoke grid and closed-form slopes of E1 (deterministic)
    assert m["gate.prop_tv_closed_form"] < 1e-6
    assert 2.0 < m["e1.kl_slope.s2_1"] < 2.2 and 16 < m["e1.ratio.min"] < 18
    assert (tmp_path / "seed" / "loglog_fits.png").exists()
