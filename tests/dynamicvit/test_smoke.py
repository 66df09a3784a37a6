"""The smoke run's exact values and the experiment's small helpers (the contract — profiles, declared metrics,
finite claim metrics, same seed same metrics, README — is checked by tests/test_contract.py)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from livepapers.core.runs import RunContext
from livepapers.dynamicvit.claims import CLAIMS, METRICS
from livepapers.dynamicvit.experiment import (
    PROFILES,
    VARIANTS,
    calibrate_steps,
    centre_scores,
    flops_metric,
    keep_frac_metric,
    run,
    variant_metric,
)


@pytest.mark.timeout(120)
def test_smoke_run_exact_costs_and_figures(tmp_path):
    cfg = PROFILES["smoke"].config
    m = run(cfg, RunContext.for_test(tmp_path, cfg))
    assert m["flops_dense_g"] == pytest.approx(4.599, abs=1e-3)
    assert m[flops_metric(0.7)] == pytest.approx(2.981, abs=1e-3)
    assert m["flops_traced_rel_diff"] < 1e-6
    assert (m["steps_teacher"], m["steps_finetune"]) == (20, 12)  # smoke: no calibration
    assert m["acc_static_best"] == max(m[variant_metric("acc", v)] for v in VARIANTS[1:])
    assert 0 < m[keep_frac_metric(3)] < m[keep_frac_metric(2)] < m[keep_frac_metric(1)] < 1
    for name in ("kept_tokens.png", "cost_vs_rho.png", "accuracy_vs_rho.png", "accuracy_vs_rho.csv"):
        assert (tmp_path / name).exists(), name


def test_claims_and_metric_families():
    assert CLAIMS[-1].id == "C6" and CLAIMS[-1].check is None  # the ImageNet frontier: not checkable offline
    assert flops_metric(0.5) == "flops_rho05_g" and keep_frac_metric(1) == "keep_frac_stage1"
    assert {k for k, m in METRICS.items() if m.machine} == {
        "throughput_dense_ips", "throughput_rho07_ips", "throughput_ratio_cpu", "steps_teacher", "steps_finetune",
        "cpu_seconds"}


def test_default_profile_values():
    d = PROFILES["default"].config
    assert (d.teacher_steps, d.finetune_steps, d.finetune_batch, d.n_test, d.calib_seeds) == (500, 250, 32, 1000, 4)
    assert (d.ratio_weight, d.distill_weight, d.rho) == (2.0, 0.5, 0.7)
    assert d.model.pruning_loc == (2, 4, 6) and d.model.depth == 8 and d.model.embed_dim == 64


def test_paper_profile_refuses_offline(tmp_path):
    ctx = RunContext.for_test(tmp_path, PROFILES["paper"].config, profile="paper")
    with pytest.raises(ValueError, match="ImageNet"):
        run(PROFILES["paper"].config, ctx)


def test_centre_scores_keep_the_middle():
    top = centre_scores(64).topk(4).indices.sort().values.tolist()
    assert top == [27, 28, 35, 36]


@pytest.mark.timeout(60)
def test_budget_rule_shrinks_finetune_then_teacher(tmp_path):
    smoke = PROFILES["smoke"].config
    cfg = dataclasses.replace(smoke, calibrate=True, budget_s=1.0, teacher_steps=500, finetune_steps=250,
                              min_finetune_steps=150, min_teacher_steps=300, calib_finetune_steps=1)
    from livepapers.dynamicvit.data import ClutteredDigits

    ctx = RunContext.for_test(tmp_path, cfg)
    torch.set_num_threads(1)
    assert calibrate_steps(cfg, ctx, ClutteredDigits(split="train"), 0.0) == (300, 150)
    roomy = dataclasses.replace(cfg, budget_s=1e9)
    assert calibrate_steps(roomy, ctx, ClutteredDigits(split="train"), 0.0) == (500, 250)
