"""The smoke profile end to end: run() through RunContext.for_test, and `livepapers reproduce` via the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys

import pytest

from livepapers.core.runs import RunContext
from livepapers.neural_mechanics.claims import CLAIMS
from livepapers.neural_mechanics.experiment import PROFILES, Config, run


def _needed() -> set[str]:
    return {m for c in CLAIMS for m in c.metrics}


@pytest.mark.timeout(120)
def test_smoke_profile_run(tmp_path) -> None:
    cfg = PROFILES["smoke"].config
    ctx = RunContext.for_test(tmp_path, cfg, seed=0)
    metrics = run(cfg, ctx)
    assert _needed() <= set(metrics), _needed() - set(metrics)
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
    # sanity anchors that hold at any length: exact recursions and geometry to round-off
    assert max(v for k, v in metrics.items() if k.startswith("c4_exact_err_")) < 1e-9
    assert metrics["c1_max_grad_violation"] < 1e-10 and metrics["c1_max_hvp_violation"] < 1e-8
    assert metrics["c2_translation_drift"] < 1e-12
    # C4's broken-conservation metrics are what their names say, per model, and the worst model is aggregated
    for kind in ("scale", "rescale"):
        models = [n for n in cfg.sgd_models if f"c4_gf_err_R1_{kind}_{n}" in metrics]
        assert models, kind
        for n in models:
            gf = metrics[f"c4_gf_err_R1_{kind}_{n}"]
            assert metrics[f"c4_gf_exact_ratio_R1_{kind}_{n}"] == pytest.approx(
                gf / metrics[f"c4_exact_err_R1_{kind}_{n}"], rel=1e-12)
            assert metrics[f"c4_gf_ratio_R1_{kind}_{n}"] == pytest.approx(
                gf / metrics[f"c4_cont_err_R1_{kind}_{n}"], rel=1e-12)
            assert metrics[f"c4_gf_eta_ratio_R1_{kind}_{n}"] == pytest.approx(
                metrics[f"c4_gf_err_R1h_ref_{kind}_{n}"] / metrics[f"c4_gf_err_R1h_{kind}_{n}"], rel=1e-12)
            assert 0 < metrics[f"c4_drift_frac_R1_{kind}_{n}"] <= 1
        per_model = [metrics[f"c4_gf_eta_ratio_R1_{kind}_{n}"] for n in models]
        assert metrics[f"c4_gf_eta_ratio_R1_{kind}_min"] == min(per_model)
        assert metrics[f"c4_gf_eta_ratio_R1_{kind}_max"] == max(per_model)
        assert metrics[f"c4_drift_err_R1_{kind}"] == max(metrics[f"c4_drift_err_R1_{kind}_{n}"] for n in models)
        assert metrics[f"c4_gf_exact_ratio_R1_{kind}"] == min(
            metrics[f"c4_gf_exact_ratio_R1_{kind}_{n}"] for n in models)
    assert metrics["c4_half_lr_time"] == pytest.approx(cfg.half_lr_time)
    for name in ("R1_mlp_bn_overlay.png", "R4_mlp_bn_overlay.png", "R4_mlp_bn_overlay.csv", "R6_drift.png",
                 "R1h_eta_scaling.png", "R1h_eta_scaling.csv", "regimes.json"):
        assert (tmp_path / name).exists(), name
    regimes = json.loads((tmp_path / "regimes.json").read_text())
    assert regimes["R4"] == {"translation": "overdamped", "scale": "underdamped", "rescale": "underdamped"}


@pytest.mark.timeout(150)
def test_smoke_profile_cli(tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "livepapers", "reproduce", "neural-mechanics", "--profile", "smoke", "--out",
           str(tmp_path), "--no-site", "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=140)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folders = list((tmp_path / "neural-mechanics").iterdir())
    assert len(folders) == 1
    folder = folders[0]
    for name in ("config.json", "metrics.json", "claims.json", "env.json", "report.md"):
        assert (folder / name).exists(), name
    seed_metrics = json.loads((folder / "seed-0" / "metrics.json").read_text())
    assert _needed() <= set(seed_metrics)
    verdicts = json.loads((folder / "claims.json").read_text())["verdicts"]
    assert [v["claim_id"] for v in verdicts] == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert verdicts[0]["status"] == "holds"  # geometry is exact at any run length


def test_profiles_are_consistent() -> None:
    assert set(PROFILES) == {"smoke", "default", "paper"}
    assert PROFILES["default"].n_seeds == 4 and PROFILES["smoke"].n_seeds == 1
    d = PROFILES["default"].config
    assert d == Config()
    assert (d.steps, d.batch_size, d.sgd_lr, d.sgd_weight_decay) == (2000, 64, 0.1, 5e-3)
    assert (d.momentum_lr, d.momentum, d.dampening, d.momentum_weight_decays) == (0.02, 0.9, 0.0, (1e-3, 0.1))
    assert d.sgd_models == ("mlp_relu", "mlp_bn", "cnn_bn") and d.momentum_models == ("mlp_relu", "mlp_bn")
    assert (d.full_batch_steps, d.gf_lrs, d.gf_time, d.gf_subset, d.bn_eps) == (1000, (0.1, 0.03, 0.01), 10.0,
                                                                                   500, 1e-30)
    assert d.half_lr_time == 50.0  # R1h: R1's first 500 steps vs 1000 steps at lr / 2
    for field in dataclasses.fields(Config):
        assert field.type in ("int", "float", "str", "bool") or field.type.startswith("tuple["), field


def test_paper_profile_refuses_offline(tmp_path) -> None:
    cfg = PROFILES["paper"].config
    ctx = RunContext.for_test(tmp_path, cfg, profile="paper")
    with pytest.raises(ValueError, match="Tiny ImageNet"):
        run(cfg, ctx)


def test_bad_model_name(tmp_path) -> None:
    cfg = dataclasses.replace(PROFILES["smoke"].config, sgd_models=("resnet",))
    with pytest.raises(ValueError, match="model must be one of"):
        run(cfg, RunContext.for_test(tmp_path, cfg))


@pytest.mark.parametrize("t", [0.0, 0.04, 10.5])
def test_bad_half_lr_time(tmp_path, t) -> None:
    cfg = dataclasses.replace(PROFILES["smoke"].config, half_lr_time=t)  # smoke R1: 100 steps at lr 0.1 (t = 10)
    with pytest.raises(ValueError, match="half_lr_time must be in"):
        run(cfg, RunContext.for_test(tmp_path, cfg))
