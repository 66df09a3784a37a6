"""The smoke run's exact values and the experiment's small helpers (the contract — profiles, declared metrics,
finite claim metrics, same seed same metrics, README — is checked by tests/test_contract.py)."""

from __future__ import annotations

import pytest

from livepapers.core.runs import RunContext
from livepapers.dynamicvit.claims import CLAIMS, METRICS
from livepapers.dynamicvit.experiment import (
    PROFILES,
    VARIANTS,
    centre_scores,
    flops_metric,
    keep_frac_metric,
    prepare,
    run,
    variant_metric,
)


@pytest.mark.timeout(120)
def test_smoke_run_exact_costs_and_figures(tmp_path):
    cfg = PROFILES["smoke"].config
    shared = tmp_path / "shared"
    prepare(cfg, RunContext.for_test(shared, cfg, shared=shared))
    for name in ("teacher.pt", "teacher.json", "teacher_curve.png", "teacher_curve.csv"):
        assert (shared / name).exists(), name
    m = run(cfg, RunContext.for_test(tmp_path / "seed", cfg, shared=shared))
    assert m["flops_dense_g"] == pytest.approx(4.599, abs=1e-3)
    assert m[flops_metric(0.7)] == pytest.approx(2.981, abs=1e-3)
    assert m["flops_traced_rel_diff"] < 1e-6
    assert (m["steps_teacher"], m["steps_finetune"]) == (20, 12)  # fixed in the profile
    assert m["acc_static_best"] == max(m[variant_metric("acc", v)] for v in VARIANTS[1:])
    assert 0 < m[keep_frac_metric(3)] < m[keep_frac_metric(2)] < m[keep_frac_metric(1)] < 1
    targets = (cfg.rho, cfg.rho**2, cfg.rho**3)
    assert m["keep_frac_dev_max"] == pytest.approx(max(abs(m[keep_frac_metric(s + 1)] - t)
                                                       for s, t in enumerate(targets)))
    for name in ("kept_tokens.png", "cost_vs_rho.png", "accuracy_vs_rho.png", "accuracy_vs_rho.csv",
                 "keep_fraction_curve.png", "keep_fraction_curve.csv"):
        assert (tmp_path / "seed" / name).exists(), name


def test_claims_and_metric_families():
    assert CLAIMS[-1].id == "C6" and CLAIMS[-1].check is None  # the ImageNet frontier: not checkable offline
    assert flops_metric(0.5) == "flops_rho05_g" and keep_frac_metric(1) == "keep_frac_stage1"
    assert {k for k, m in METRICS.items() if m.machine} == {
        "throughput_dense_ips", "throughput_rho07_ips", "throughput_ratio_cpu", "cpu_seconds"}


def test_default_profile_values():
    d = PROFILES["default"].config
    assert (d.teacher_steps, d.finetune_steps, d.finetune_batch, d.n_test) == (800, 200, 32, 1000)
    assert (d.ratio_weight, d.distill_weight, d.rho) == (2.0, 0.5, 0.7)
    assert d.model.pruning_loc == (2, 4, 6) and d.model.depth == 8 and d.model.embed_dim == 64


def test_paper_profile_refuses_offline(tmp_path):
    ctx = RunContext.for_test(tmp_path, PROFILES["paper"].config, profile="paper")
    with pytest.raises(ValueError, match="ImageNet"):
        run(PROFILES["paper"].config, ctx)


def test_centre_scores_keep_the_middle():
    top = centre_scores(64).topk(4).indices.sort().values.tolist()
    assert top == [27, 28, 35, 36]
