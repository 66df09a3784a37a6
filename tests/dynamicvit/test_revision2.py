"""Revision 2 of the spec: conv-stem backbone, a teacher trained once per reproduce (cached), predictors that learn
at the profile's lr, and the preconditions of C3-C5."""

from __future__ import annotations

import dataclasses
import json
from itertools import pairwise

import pytest
import torch
from torch import nn

from livepapers.core.claims import evaluate
from livepapers.core.runs import RunContext
from livepapers.dynamicvit import (
    ConvStem,
    VisionTransformerDiffPruning,
    VisionTransformerTeacher,
    count_flops,
    count_flops_traced,
)
from livepapers.dynamicvit import experiment as E
from livepapers.dynamicvit import training as T
from livepapers.dynamicvit.claims import CLAIMS
from livepapers.dynamicvit.data import make_datasets
from livepapers.dynamicvit.sharding import GlobalBatchNorm2d, global_batchnorm

TASK_KW = dict(img_size=64, patch_size=8, in_chans=1, num_classes=10, embed_dim=64, depth=8, num_heads=4)


# ---------------------------------------------------------------------------------------------
# the conv stem and its cost
# ---------------------------------------------------------------------------------------------


def test_conv_stem_widths_tokens_and_batchnorm():
    stem = ConvStem(img_size=64, patch_size=8, in_chans=1, embed_dim=64)
    assert stem.widths == (1, 16, 32, 64) and stem.num_patches == 64
    kinds = [type(m) for m in stem.convs]
    assert kinds == [nn.Conv2d, nn.BatchNorm2d, nn.GELU] * 3
    assert all(c.kernel_size == (3, 3) and c.stride == (2, 2) for c in stem.convs if isinstance(c, nn.Conv2d))
    assert stem(torch.randn(2, 1, 64, 64)).shape == (2, 64, 64)
    with pytest.raises(ValueError, match="power of 2"):
        ConvStem(img_size=60, patch_size=6, in_chans=1, embed_dim=64)
    with pytest.raises(ValueError, match="stem must be one of"):
        VisionTransformerTeacher(**TASK_KW, stem="linear")


def test_conv_stem_token_is_its_patch():
    """A token of the conv stem sees only (a neighbourhood of) its own 8x8 patch: changing a far-away patch leaves
    it unchanged (receptive field 15 px), changing its own patch changes it."""
    stem = ConvStem(img_size=64, patch_size=8, in_chans=1, embed_dim=64).eval()
    x = torch.randn(1, 1, 64, 64)
    y = x.clone()
    y[..., 48:56, 48:56] += 1.0  # patch (6, 6) = token 54
    a, b = stem(x)[0], stem(y)[0]
    assert not torch.allclose(a[54], b[54])
    assert torch.equal(a[0], b[0]) and torch.equal(a[27], b[27])


def test_conv_stem_flops_hand_computed_and_traced():
    stem_macs = 32 * 32 * 9 * 1 * 16 + 16 * 16 * 9 * 16 * 32 + 8 * 8 * 9 * 32 * 64  # 2,506,752
    linear_macs = 64 * (1 * 8 * 8) * 64
    conv = dict(TASK_KW, stem="conv", pruning_loc=(2, 4, 6))
    patch = dict(TASK_KW, stem="patch", pruning_loc=(2, 4, 6))
    for rho in (None, 0.7):
        assert count_flops(conv, rho) - count_flops(patch, rho) == stem_macs - linear_macs
    dense = VisionTransformerTeacher(**TASK_KW, stem="conv")
    pruned = VisionTransformerDiffPruning(**TASK_KW, stem="conv", pruning_loc=(2, 4, 6),
                                          token_ratio=(0.7, 0.49, 0.343))
    assert count_flops_traced(dense) == count_flops(dense, None)
    assert count_flops_traced(pruned) == count_flops(pruned, 0.7)
    assert 0.07 < stem_macs / count_flops(dense, None) < 0.09  # "about 8% more FLOPs" (Revision 2)


def test_global_batchnorm_alone_changes_nothing():
    model = VisionTransformerTeacher(**TASK_KW, stem="conv")
    global_batchnorm(model)  # alone: no process group
    assert not any(isinstance(m, GlobalBatchNorm2d) for m in model.modules())


# ---------------------------------------------------------------------------------------------
# training recipe
# ---------------------------------------------------------------------------------------------


def test_profile_recipe():
    d = E.PROFILES["default"].config
    assert (d.teacher_lr, d.teacher_warmup_frac, d.predictor_lr, d.min_lr) == (3e-3, 0.1, 3e-3, 3e-5)
    assert (d.clip_grad, d.predictor_warmup_frac, d.ratio_weight, d.distill_weight) == (0.1, 0.0, 2.0, 0.5)
    assert E.PROFILES["paper"].config.clip_grad is None  # the official DeiT-S command line does not clip
    assert d.model.stem == "conv" and E.PROFILES["paper"].config.model.stem == "patch"
    assert E.PROFILES["default"].n_seeds == 4
    for gone in ("calibrate", "calib_seeds", "workers", "budget_s"):
        assert not hasattr(d, gone)


@pytest.mark.timeout(60)
def test_teacher_learning_curve_and_schedule():
    cfg = dataclasses.replace(E.PROFILES["smoke"].config, teacher_steps=20, teacher_eval_every=8, n_test=20)
    train_set, test_set = make_datasets(cfg.task)
    test = test_set.sample(cfg.n_test, 0)
    curve: list[dict] = []
    T.train_teacher(cfg, cfg.teacher_steps, None, train_set, test=test, curve=curve)
    lrs = [r["lr"] for r in curve]
    peak = cfg.teacher_lr
    assert [r["step"] for r in curve] == list(range(1, 21))
    assert lrs[:3] == pytest.approx([peak / 2, peak, peak])  # 10% warm-up (2 steps), then cosine from the peak
    assert all(b < a for a, b in pairwise(lrs[2:])) and lrs[-1] < 0.01 * peak
    assert [r["step"] for r in curve if r["acc"] == r["acc"]] == [8, 16, 20]  # test accuracy every 8 and at the end


@pytest.mark.timeout(60)
def test_paired_finetunes_equal_separate_ones():
    """Stepping the three variants side by side (one batch and one teacher forward per step) changes nothing."""
    cfg = E.PROFILES["smoke"].config
    train_set, _ = make_datasets(cfg.task)
    teacher = T.make_teacher(cfg).eval()
    paired = T.finetune_paired(cfg, E.VARIANTS, teacher, 4, 1, train_set, None)
    for v in E.VARIANTS:
        alone = T.finetune(cfg, v, teacher, 4, 1, train_set, None)
        a, b = alone.model.state_dict(), paired[v].model.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), v
        assert alone.keep_curve == paired[v].keep_curve and alone.last_loss == paired[v].last_loss


def test_predictor_lr_schedule_with_and_without_warmup():
    cfg = dataclasses.replace(E.PROFILES["default"].config, predictor_lr=1e-2, min_lr=1e-4, predictor_warmup_frac=0.0)
    lrs = [T.predictor_lr(cfg, k, 100) for k in range(100)]
    assert lrs[0] == pytest.approx(1e-2) and all(b < a for a, b in pairwise(lrs))
    assert lrs[-1] == pytest.approx(1e-4, rel=0.05)  # step 99 of 100: just above the floor
    warm = dataclasses.replace(cfg, predictor_warmup_frac=0.2)
    lrs = [T.predictor_lr(warm, k, 100) for k in range(100)]
    assert lrs[:20] == pytest.approx([1e-2 * (k + 1) / 20 for k in range(20)])  # linear warm-up over 20 steps
    assert lrs[20] == pytest.approx(1e-2) and all(b < a for a, b in pairwise(lrs[20:]))


def test_clip_grad_bounds_the_norm_the_optimiser_sees(monkeypatch):
    """``clip_grad``: the gradient norm over all trainable parameters is at most the threshold when AdamW steps (the
    early task-loss spikes through the masked attention reach 1e4-1e5 on the task model); without it they pass."""
    cfg = dataclasses.replace(E.PROFILES["smoke"].config, clip_grad=0.05, backbone_freeze_frac=0.0)
    train_set, _ = make_datasets(cfg.task)
    teacher = T.make_teacher(cfg).eval()
    seen: list[float] = []
    step = torch.optim.AdamW.step

    def spy(self, *args, **kwargs):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(x) for x in grads]))))
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    T.finetune(cfg, "dynamic", teacher, 3, 0, train_set, None)
    assert len(seen) == 3 and max(seen) <= 0.05 * (1 + 1e-5)
    seen.clear()
    T.finetune(dataclasses.replace(cfg, clip_grad=None), "dynamic", teacher, 3, 0, train_set, None)
    assert max(seen) > 0.05  # the control: unclipped


def _stage1_keep_probability(model: VisionTransformerDiffPruning, images: torch.Tensor) -> float:
    """Mean over images and tokens of p(keep) of the first prediction module (all tokens alive)."""
    with torch.no_grad():
        x = model._embed(images)
        for blk in model.blocks[: model.pruning_loc[0]]:
            x = blk(x)
        log_pi = model.score_predictor[0](x[:, 1:], x.new_ones(x.shape[0], x.shape[1] - 1, 1))
    return float(log_pi[..., 0].exp().mean())


@pytest.mark.timeout(120)
def test_predictor_lr_moves_stage1_keep_probability_to_rho():
    """Regression test for the first default run: at the profile's predictor lr, a few hundred predictor steps on a
    frozen backbone take stage 1's mean keep probability from ~0.5 to within 0.05 of rho; at a 100x smaller lr
    the same steps leave it far away (the control that shows this test can fail)."""
    default = E.PROFILES["default"].config
    smoke = E.PROFILES["smoke"].config
    cfg = dataclasses.replace(smoke, predictor_lr=default.predictor_lr, min_lr=default.min_lr, rho=default.rho,
                              clip_grad=default.clip_grad, backbone_freeze_frac=1.0, diag_last_steps=20)
    train_set, test_set = make_datasets(cfg.task)
    images = test_set.sample(64, 7).images
    teacher = T.make_teacher(cfg).eval()
    start = _stage1_keep_probability(T.make_student(cfg, teacher, 0).eval(), images)
    assert abs(start - 0.5) < 0.05
    steps = 300
    res = T.finetune(cfg, "dynamic", teacher, steps, 0, train_set, None)
    backbone = {k: v for k, v in res.model.state_dict().items() if not k.startswith("score_predictor.")}
    assert all(torch.equal(backbone[k], v) for k, v in teacher.state_dict().items() if "running" not in k
               and "num_batches" not in k)  # frozen backbone (BatchNorm statistics aside)
    end = _stage1_keep_probability(res.model.eval(), images)
    assert abs(end - cfg.rho) <= 0.05, (start, end)
    # control: an lr too small to move the predictors in the budget (the first run's failure mode; on this small
    # model the first run's 1e-3 already gets there, measured 0.698, so the control uses 1e-4)
    slow = T.finetune(dataclasses.replace(cfg, predictor_lr=1e-4, min_lr=1e-6), "dynamic", teacher, steps, 0,
                      train_set, None)
    assert abs(_stage1_keep_probability(slow.model.eval(), images) - cfg.rho) > 0.05


# ---------------------------------------------------------------------------------------------
# the teacher, once per reproduce and cached
# ---------------------------------------------------------------------------------------------

_TINY = ["teacher_steps=3", "teacher_eval_every=3", "finetune_steps=2", "n_test=20", "eval_batch=20",
         "acc_rhos=0.7", "diag_last_steps=1", "n_viz=1", "bench.batch=1", "bench.repeats=1", "bench.warmup=0"]


@pytest.mark.timeout(120)
def test_second_reproduce_loads_the_cached_teacher(tmp_path, monkeypatch):
    from livepapers.core.reproduce import reproduce

    monkeypatch.setenv("LIVEPAPERS_CACHE", str(tmp_path / "cache"))
    calls: list[int] = []
    train = E.train_teacher

    def counted(cfg, steps, *args, **kwargs):
        calls.append(steps)
        return train(cfg, steps, *args, **kwargs)

    monkeypatch.setattr(E, "train_teacher", counted)

    def once(*extra: str) -> tuple[dict, dict]:
        folder = reproduce("dynamicvit", profile="smoke", overrides=[*_TINY, *extra], out=tmp_path / "runs",
                           workers=1, verbose=False)
        env = json.loads((folder / "env.json").read_text())
        return env["prepare"], json.loads((folder / "metrics.json").read_text())["per_seed"][0]

    first, m1 = once()
    second, m2 = once()
    assert (first["cache"], second["cache"], len(calls)) == ("miss", "hit", 1)  # trained once, then loaded
    assert m1["acc_teacher"] == m2["acc_teacher"] and m1 == {**m2, **{k: m1[k] for k in m1 if "throughput" in k
                                                                      or k == "cpu_seconds"}}
    assert "rho" not in first["fields"] and "teacher_steps" in first["fields"]
    third, _ = once("finetune_steps=3")  # a fine-tuning knob: the same teacher
    assert third["cache"] == "hit" and len(calls) == 1
    fourth, _ = once("teacher_steps=4")  # a teacher knob: trained again
    assert fourth["cache"] == "miss" and calls == [3, 4]


def test_seed_without_prepare_says_so(tmp_path):
    cfg = E.PROFILES["smoke"].config
    with pytest.raises(RuntimeError, match="prepare"):
        E.run(cfg, RunContext.for_test(tmp_path, cfg))


# ---------------------------------------------------------------------------------------------
# the preconditions of C3-C5
# ---------------------------------------------------------------------------------------------


def _seeds(**over: float) -> list[dict[str, float]]:
    base = {"acc_teacher": 80.0, "keep_frac_dev_max": 0.01, "acc_drop_pts": 0.5, "acc_dynamic": 79.5,
            "acc_static_best": 70.0, "recall_dynamic": 0.9, "recall_random_keep": 0.33}
    noise = [0.0, 0.1, -0.1, 0.05]
    return [{k: v + (0 if k in ("acc_teacher", "keep_frac_dev_max") else e * (0.01 if "recall" in k else 1))
             for k, v in {**base, **over}.items()} for e in noise]


@pytest.mark.parametrize(("over", "status"), [
    ({}, "holds"),
    ({"acc_teacher": 60.0}, "inconclusive"),  # a teacher not worth distilling
    ({"keep_frac_dev_max": 0.08}, "inconclusive"),  # predictors that did not learn the ratio
])
def test_preconditions_of_c3_to_c5(over, status):
    claims = [c for c in CLAIMS if c.id in ("C3", "C4", "C5")]
    assert all({r.metrics[0] for r in c.requires} == {"acc_teacher", "keep_frac_dev_max"} for c in claims)
    verdicts = evaluate(claims, _seeds(**over))
    assert [v.status for v in verdicts] == [status] * 3, [(v.claim_id, v.status, v.reason) for v in verdicts]
    if status == "inconclusive":
        assert all("precondition not met" in v.reason and "would" not in v.status for v in verdicts)
