"""The smoke profile end to end (through the core's reproduce), plus the experiment's small helpers."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from livepapers.core.runs import RunContext
from livepapers.dynamicvit.claims import CLAIMS
from livepapers.dynamicvit.experiment import PROFILES, Config, calibrate_steps, centre_scores


@pytest.mark.timeout(180)
def test_smoke_profile_end_to_end(tmp_path):
    from livepapers.core.reproduce import reproduce

    folder = reproduce("dynamicvit", profile="smoke", out=tmp_path, verbose=False)
    metrics = json.loads((folder / "seed-0" / "metrics.json").read_text())
    needed = {m for c in CLAIMS for m in c.metrics} | {"acc_teacher", "keep_frac_stage1", "steps_finetune"}
    assert needed <= set(metrics), needed - set(metrics)
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics["flops_dense_g"] == pytest.approx(4.599, abs=1e-3)
    assert metrics["flops_traced_rel_diff"] < 1e-6
    verdicts = json.loads((folder / "claims.json").read_text())["verdicts"]
    assert [v["claim_id"] for v in verdicts] == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert verdicts[-1]["status"] == "not_checkable"
    # the spec: verdicts from smoke runs are reported as inconclusive (Config.evidence=False)
    assert {v["status"] for v in verdicts[:-1]} == {"inconclusive"}
    for name in ("kept_tokens.png", "cost_vs_rho.png", "accuracy_vs_rho.png", "accuracy_vs_rho.csv"):
        assert (folder / "seed-0" / name).exists(), name
    assert (folder / "report.md").exists()


def test_profiles_are_consistent():
    assert set(PROFILES) == {"smoke", "default", "paper"}
    assert PROFILES["default"].config == Config() and PROFILES["default"].n_seeds == 4
    d = PROFILES["default"].config
    assert (d.teacher_steps, d.finetune_steps, d.finetune_batch, d.n_test, d.calib_seeds) == (500, 250, 32, 1000, 4)
    assert (d.ratio_weight, d.distill_weight, d.rho) == (2.0, 0.5, 0.7)
    assert d.model.pruning_loc == (2, 4, 6) and d.model.depth == 8 and d.model.embed_dim == 64


def test_paper_profile_refuses_offline(tmp_path):
    from livepapers.dynamicvit.experiment import run

    ctx = RunContext.for_test(tmp_path, PROFILES["paper"].config, profile="paper")
    with pytest.raises(ValueError, match="ImageNet"):
        run(PROFILES["paper"].config, ctx)


def test_centre_scores_keep_the_middle():
    top = centre_scores(64).topk(4).indices.sort().values.tolist()
    assert top == [27, 28, 35, 36]


@pytest.mark.timeout(60)
def test_budget_rule_shrinks_finetune_then_teacher(tmp_path):
    smoke = PROFILES["smoke"].config
    cfg = dataclasses.replace(smoke, budget_s=1.0, teacher_steps=500, finetune_steps=250,
                              min_finetune_steps=150, min_teacher_steps=300, calib_finetune_steps=1)
    from livepapers.dynamicvit.data import ClutteredDigits

    ctx = RunContext.for_test(tmp_path, cfg)
    torch.set_num_threads(1)
    assert calibrate_steps(cfg, ctx, ClutteredDigits(split="train"), 0.0) == (300, 150)
    roomy = dataclasses.replace(cfg, budget_s=1e9)
    assert calibrate_steps(roomy, ctx, ClutteredDigits(split="train"), 0.0) == (500, 250)
