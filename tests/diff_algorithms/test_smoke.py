"""The smoke profile end to end: run() -> metrics -> claims (verdicts may be inconclusive at this size)."""

from __future__ import annotations

import math

import pytest

from livepapers.core import registry
from livepapers.core.claims import evaluate
from livepapers.core.runs import RunContext


@pytest.mark.timeout(120)
def test_smoke_profile_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.PAPERS, "diff-algorithms", "livepapers.diff_algorithms")
    paper = registry.get("diff-algorithms")
    from livepapers.diff_algorithms.claims import CLAIMS
    from livepapers.diff_algorithms.experiment import PROFILES, run

    cfg = PROFILES["smoke"].config
    ctx = RunContext.for_test(tmp_path, cfg, seed=0)
    metrics = run(cfg, ctx)
    assert all(isinstance(v, float) for v in metrics.values())
    for key in ("sort_n5_em", "sort_n15_em5_gap", "jac_min_cauchy", "dlgn_digits_acc_discrete",
                "compiled_mismatch", "render_d12_success_cauchy", "softras_equiv_err", "time_total_s"):
        assert key in metrics and math.isfinite(metrics[key]), key
    # exact parts hold already at smoke size
    assert metrics["compiled_mismatch"] == 0.0
    assert metrics["jac_min_monotone"] >= -1e-6 and metrics["jac_min_nonmonotone_max"] < -1e-3
    assert metrics["render_hard_grad_abs_max"] == 0.0
    verdicts = evaluate(CLAIMS, [metrics])
    assert {v.claim_id for v in verdicts} == {c.id for c in CLAIMS}
    assert {v.claim_id: v.status for v in verdicts}["R2"] == "holds"
    assert (tmp_path / "render_pose_recovery.png").exists() and (tmp_path / "sorting_metrics.png").exists()
    assert paper.info.slug == "diff-algorithms" and paper.claims == CLAIMS
    assert set(paper.profiles) >= {"smoke", "default", "paper"}
