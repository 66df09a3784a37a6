"""run() spreads the independent fits of R5/R6 over torch.get_num_threads() worker processes; the metrics must not
depend on how many."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from livepapers.core.runs import RunContext
from livepapers.potential_outcomes import experiment as ex
from livepapers.potential_outcomes import fits

TINY = dataclasses.replace(ex.PROFILES["smoke"].config, n_perm=200, n_boot=4, n_draws=20, coverage_reps=20,
                           ks_reps=4, hte_n=300, n_estimators=4, limits_n=300, ovb_ref_n=5000, figures=False)


def _run(tmp_path, threads: int) -> dict[str, float]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ctx = RunContext(tmp_path / f"t{threads}", seed=0, config=TINY)
        return ex.run(TINY, ctx)
    finally:
        torch.set_num_threads(before)


@pytest.mark.timeout(180)
def test_metrics_identical_with_one_and_two_workers(tmp_path):
    one, two = _run(tmp_path, 1), _run(tmp_path, 2)
    assert one.keys() == two.keys()
    differ = {k: (one[k], two[k]) for k in one
              if not (one[k] == two[k] or (math.isnan(one[k]) and math.isnan(two[k])))}
    assert not differ, differ
    log = (tmp_path / "t2" / "log.txt").read_text()
    assert "R5 + R6: 16 fits on 2 workers" in log
    assert "R5 + R6: 16 fits on 1 worker\n" in (tmp_path / "t1" / "log.txt").read_text()


def test_fits_run_longest_first_and_come_back_in_order(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(fits, "fit", lambda task: seen.append(task.name) or task.name)
    tasks = [fits.Fit("uc", k, 0, 4, None, None, None) for k in ("ols", "causal_forest", "ipw", "aipw_gbm")]
    ctx = RunContext(tmp_path, seed=0, config=TINY)
    assert fits.run_fits(tasks, ctx, "test", workers=1) == ["ols", "causal_forest", "ipw", "aipw_gbm"]
    assert seen[:2] == ["causal_forest", "aipw_gbm"]
