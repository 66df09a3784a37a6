"""Exact values and invariants of the experiment's parts that the contract (tests/test_contract.py) does not check:
the analytic R2 checks, the hard rasteriser's zero gradient, exact compiled inference, the declared metric names."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from livepapers.core.claims import evaluate
from livepapers.core.runs import RunContext
from livepapers.diff_algorithms.claims import CLAIMS, METRICS
from livepapers.diff_algorithms.compiled import compiled_inference_checks
from livepapers.diff_algorithms.experiment import PROFILES, part_monotone, part_render, render_key
from livepapers.diff_algorithms.logic import GroupSum, LogicLayer
from livepapers.diff_algorithms.sorting import RANKING_METRICS, ranking_metrics


@pytest.mark.timeout(60)
def test_monotone_part_holds_exactly(tmp_path):
    # R2 is analytic: it holds at any size, and its metrics are exactly the declared ones
    cfg = PROFILES["smoke"].config
    m = part_monotone(cfg.monotone, RunContext.for_test(tmp_path, cfg, seed=0))
    assert set(m) <= set(METRICS)
    assert m["jac_min_monotone"] >= -1e-6 and m["jac_min_nonmonotone_max"] < -1e-3
    assert m["perm_stochastic_err"] <= 1e-12 and m["perm_xp_err"] <= 1e-12 and m["swap_err_formula_dev"] <= 1e-12
    r2 = next(v for v in evaluate(CLAIMS, [m]) if v.claim_id == "R2")
    assert r2.status == "holds"


@pytest.mark.timeout(60)
def test_render_part_hard_gradient_and_keys(tmp_path):
    cfg = dataclasses.replace(PROFILES["smoke"].config, render=dataclasses.replace(
        PROFILES["smoke"].config.render, steps=2, t_conorms=("probabilistic", "max")))
    m = part_render(cfg.render, RunContext.for_test(tmp_path, cfg, seed=0))
    assert m["render_hard_grad_abs_max"] == 0.0 and m["softras_equiv_err"] < 1e-6
    assert render_key(0.6, "cauchy") in m and render_key(0.6, "cauchy", "max") == "render_d06_success_cauchy_max"
    assert m[render_key(0.1, "min")] == min(m[render_key(0.1, d)] for d in cfg.render.distributions)
    assert set(m) <= set(METRICS)  # incl. the paper profile's T-conorm names
    assert (tmp_path / "render_pose_recovery.png").exists() and (tmp_path / "render_pose_recovery.csv").exists()


def test_compiled_inference_is_exact():
    torch.manual_seed(0)
    model = torch.nn.Sequential(LogicLayer(40, 200, seed=0), LogicLayer(200, 200, seed=1), GroupSum(5, tau=3.0))
    x = (torch.rand(300, 40, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    m = compiled_inference_checks(model, x, tau=3.0, opt_level=1, bench_batch=1000, bench_repeats=1)
    assert set(m) <= set(METRICS)
    assert m["compiled_mismatch"] == 0.0 and m["compiled_backend_is_c"] == 1.0
    assert m["compiled_gates"] == 400 and m["compiled_gates_pruned"] <= 400
    assert np.isfinite(m["compiled_samples_per_s"]) and m["compiled_samples_per_s"] > 0


def test_ranking_metric_names():
    v = torch.tensor([[3.0, 1.0, 2.0]])
    assert tuple(ranking_metrics(v, v)) == RANKING_METRICS
    assert ranking_metrics(v, v) == {"em": 1.0, "ew": 1.0, "em5": 1.0}


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_every_gendr_start_inside_the_frame(profile):
    # revision 2 of R5: no start (nor true pose) may put a shape partly outside the image, for any seed
    from livepapers.diff_algorithms import data
    from livepapers.diff_algorithms.rendering import posed

    cfg = PROFILES[profile].config.render
    assert 0.1 + max(cfg.offsets) + 1.15 * cfg.radius < 1.0  # worst case: true shift, offset, largest vertex radius
    old_outside = 0
    for seed in range(25):
        g = torch.Generator().manual_seed(seed * 1_000_003 + 50)  # ctx.generator(50) of that seed
        tris, mask, true_pose, starts = data.pose_scene(cfg.n_shapes, cfg.offsets, generator=g, radius=cfg.radius,
                                                        max_rotation_deg=cfg.max_rotation_deg)
        assert not data.outside_frame(posed(tris, true_pose), mask).any()
        for D in cfg.offsets:
            assert not data.outside_frame(posed(tris, starts[D]), mask).any(), (seed, D)
        # negative control: the first geometry (radius 0.3, D = 1.2) did leave the frame
        tris, mask, _, starts = data.pose_scene(cfg.n_shapes, (1.2,), generator=seed, radius=0.3,
                                                max_rotation_deg=cfg.max_rotation_deg)
        old_outside += int(data.outside_frame(posed(tris, starts[1.2]), mask).sum())
    assert old_outside > 0


def test_render_part_refuses_starts_outside_the_frame(tmp_path):
    cfg = dataclasses.replace(PROFILES["smoke"].config.render, offsets=(1.2,), radius=0.3, steps=1)
    with pytest.raises(RuntimeError, match="outside the image frame"):
        part_render(cfg, RunContext.for_test(tmp_path, PROFILES["smoke"].config, seed=0))
