"""`livepapers reproduce dynamicvit`: the offline small-scale reproduction of DynamicViT's claims.

One call of :func:`run` handles one paired seed:

1. Cost (C1, C2): analytic multiply-adds of DeiT-S at rho in {dense, 0.5 ... 0.9}, cross-checked with
   ``torch.utils.flop_counter`` on a random-weight model in eval mode; CPU throughput of that model with
   real pruning (rho = 0.7) vs dense, measured in the same process, one after the other.
2. A dense tiny ViT teacher trained from scratch on cluttered digits (seed ``teacher_seed``, the same
   in every seed's process, so every seed fine-tunes the same teacher).
3. Three fine-tunes from the teacher with the same sample stream and noise (paired): DynamicViT
   (learned predictors, full objective), random-keep and fixed-centre (non-learned selection through the
   same masked-attention path, same losses minus the ratio loss).
4. Test accuracy (C3, C4), object-patch recall of the last stage (C5), keep fractions, figures.

Budget rule of the spec, applied before training: time a few teacher steps and 10 fine-tuning steps on
throw-away copies; if the projected wall time of the whole reproduce exceeds ``budget_s``, lower the
fine-tuning steps (floor 150), then the teacher steps (floor 300). The steps used are reported.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from livepapers.core import dist
from livepapers.core.config import ConfigError, Profile
from livepapers.core.runs import RunContext
from livepapers.core.stats import max_or_nan
from livepapers.core.train import cosine, set_lr

from . import figures
from .complexity import DEIT_S, count_flops, count_flops_traced
from .data import ClutteredDigits, DigitBatch, make_datasets, object_patches
from .modules import (
    DistillDiffPruningLoss,
    VisionTransformerDiffPruning,
    VisionTransformerTeacher,
    make_token_ratio,
)
from .sharding import GumbelRows, ShardedDistillLoss
from .throughput import measure_throughput

VARIANTS = ("dynamic", "random_keep", "fixed_centre")
FLOPS_TABLE_RHOS = (0.5, 0.7, 0.8, 0.9)  # keep ratios of the DeiT-S FLOP metrics (C1)


def flops_metric(rho: float) -> str:
    """The metric of DeiT-S GFLOPs at keep ratio ``rho``: ``flops_rho07_g`` for 0.7."""
    return f"flops_rho{round(10 * rho):02d}_g"


def variant_metric(stat: str, variant: str) -> str:
    """``stat`` ("acc", "recall", "final_loss") of fine-tune ``variant`` (one of ``VARIANTS``)."""
    return f"{stat}_{variant}"


def keep_frac_metric(stage: int) -> str:
    """Mean kept fraction after pruning stage ``stage`` (1-based) of DynamicViT's last training steps."""
    return f"keep_frac_stage{stage}"


@dataclass(frozen=True)
class ModelConfig:
    """The tiny ViT of the offline reproduction (64x64 canvas, patch 8 -> N = 64)."""

    img_size: int = 64
    patch_size: int = 8
    in_chans: int = 1
    num_classes: int = 10
    embed_dim: int = 64
    depth: int = 8
    num_heads: int = 4
    mlp_ratio: float = 4.0
    pruning_loc: tuple[int, ...] = (2, 4, 6)


@dataclass(frozen=True)
class BenchConfig:
    """The random-weight model used for FLOPs and throughput (DeiT-S shape by default)."""

    img_size: int = 224
    patch_size: int = 16
    embed_dim: int = 384
    depth: int = 12
    num_heads: int = 6
    pruning_loc: tuple[int, ...] = (3, 6, 9)
    batch: int = 16
    warmup: int = 3
    repeats: int = 5


@dataclass(frozen=True)
class Config:
    calib_seeds: int = 4  # seeds the step-count calibration plans the budget for (the default profile's)
    model: ModelConfig = field(default_factory=ModelConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)
    rho: float = 0.7  # keep ratio per stage; cumulative targets rho, rho^2, rho^3
    task: Literal["shapes", "digits"] = "shapes"  # "shapes" (the spec's fallback, chosen: digits teacher < 70%)
    # teacher (the "pretrained model"): dense, from scratch, the same in every seed
    teacher_steps: int = 500
    teacher_batch: int = 64
    teacher_lr: float = 1e-3
    teacher_seed: int = 0
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    # fine-tuning (per seed, three paired variants)
    finetune_steps: int = 250
    finetune_batch: int = 32
    predictor_lr: float = 1e-3
    min_lr: float = 1e-5
    backbone_lr: float = 1e-5  # backbone lr = min(backbone_lr, predictor lr), 0 in the first phase
    backbone_freeze_frac: float = 0.2
    ratio_weight: float = 2.0
    distill_weight: float = 0.5
    # evaluation
    n_test: int = 1000
    test_seed: int = 12345  # the fixed composed test set (the same for every seed)
    eval_batch: int = 250
    acc_rhos: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # inference keep ratios for the figure
    flops_rhos: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    diag_last_steps: int = 50
    n_viz: int = 6
    # the spec's budget rule
    calibrate: bool = True
    calib_teacher_steps: int = 3
    calib_finetune_steps: int = 10
    budget_s: float = 540.0  # projected wall time of the whole reproduce (9 min)
    workers: int = 2  # processes the framework runs seeds in
    min_finetune_steps: int = 150
    min_teacher_steps: int = 300
    eval_allowance_s: float = 30.0  # CPU seconds of evaluation and figures after training (projection only)

    def __post_init__(self) -> None:
        # refused when the config is built, so `--set rho=1.5` stops before a run folder exists
        if not 0.0 < self.rho <= 1.0:
            raise ConfigError(f"rho must be in (0, 1], got {self.rho}")
        for name in ("acc_rhos", "flops_rhos"):
            values = getattr(self, name)
            if not all(0.0 < r <= 1.0 for r in values):
                raise ConfigError(f"{name} must be keep ratios in (0, 1], got {values}")


PROFILES: dict[str, Profile] = {
    # the spec: verdicts from smoke runs are reported as inconclusive (evidence=False)
    # (a 4-block model and no step calibration keep it within the 20 s smoke budget)
    "smoke": Profile(Config(
        calib_seeds=1, teacher_steps=20, finetune_steps=12, n_test=100, eval_batch=100, diag_last_steps=6,
        acc_rhos=(0.5, 0.7, 1.0), n_viz=4, calibrate=False, min_finetune_steps=10, min_teacher_steps=10,
        model=ModelConfig(embed_dim=32, depth=4, num_heads=2, pruning_loc=(1, 2, 3)),
        bench=BenchConfig(embed_dim=64, depth=4, num_heads=2, pruning_loc=(1, 2, 3), batch=4, warmup=1,
                          repeats=2),
    ), n_seeds=1, evidence=False),
    "default": Profile(Config()),
    # the paper's DeiT-S setting needs ImageNet, a pretrained DeiT-S file and GPUs: documented in the
    # README; `reproduce` refuses it up front (needs=) and run() refuses it too, for direct calls
    "paper": Profile(Config(calib_seeds=1, rho=0.7, finetune_steps=30 * 1668, finetune_batch=768, predictor_lr=7.5e-4,
                    backbone_lr=7.5e-6, calibrate=False,
                    model=ModelConfig(img_size=224, patch_size=16, in_chans=3, num_classes=1000, embed_dim=384,
                                      depth=12, num_heads=6, pruning_loc=(3, 6, 9)),
                    bench=BenchConfig(batch=32, warmup=50, repeats=30)), n_seeds=1,
                     needs="ImageNet, a pretrained DeiT-S state dict and GPUs (30 epochs at batch 768), which are "
                           "not available offline here"),
}


# ------------------------------------------------------------------------------------------------
# cost: FLOPs and throughput (C1, C2)
# ------------------------------------------------------------------------------------------------


def _bench_kwargs(b: BenchConfig) -> dict:
    return dict(img_size=b.img_size, patch_size=b.patch_size, in_chans=3, num_classes=1000,
                embed_dim=b.embed_dim, depth=b.depth, num_heads=b.num_heads)


def measure_cost(cfg: Config, ctx: RunContext) -> dict[str, float]:
    """FLOPs (analytic DeiT-S + traced on the bench model) and CPU throughput, dense vs rho."""
    out: dict[str, float] = {}
    dense = count_flops(DEIT_S, None)
    out["flops_dense_g"] = dense / 1e9
    for r in FLOPS_TABLE_RHOS:
        out[flops_metric(r)] = count_flops(DEIT_S, r) / 1e9
    out["flops_reduction"] = 1.0 - out[flops_metric(0.7)] / out["flops_dense_g"]

    kw = _bench_kwargs(cfg.bench)
    torch.manual_seed(1000 + ctx.seed)
    dense_model = VisionTransformerTeacher(**kw).eval()
    pruned = VisionTransformerDiffPruning(**kw, pruning_loc=cfg.bench.pruning_loc,
                                          token_ratio=make_token_ratio(cfg.rho, len(cfg.bench.pruning_loc))).eval()
    pruned.load_state_dict(dense_model.state_dict(), strict=False)
    analytic_dense, analytic_pruned = count_flops(dense_model, None), count_flops(pruned, cfg.rho)
    traced_dense, traced_pruned = count_flops_traced(dense_model), count_flops_traced(pruned)
    out["flops_bench_dense_g"] = analytic_dense / 1e9
    out["flops_bench_pruned_g"] = analytic_pruned / 1e9
    out["flops_traced_dense_g"] = traced_dense / 1e9
    out["flops_traced_pruned_g"] = traced_pruned / 1e9
    out["flops_traced_rel_diff"] = max_or_nan(abs(traced_dense - analytic_dense) / analytic_dense,
                                              abs(traced_pruned - analytic_pruned) / analytic_pruned)
    out["flops_ratio_bench"] = analytic_dense / analytic_pruned

    b = cfg.bench
    t_dense = measure_throughput(dense_model, b.batch, b.repeats, warmup=b.warmup)
    t_pruned = measure_throughput(pruned, b.batch, b.repeats, warmup=b.warmup)
    out["throughput_dense_ips"] = t_dense["images_per_s"]
    out["throughput_rho07_ips"] = t_pruned["images_per_s"]
    out["throughput_ratio_cpu"] = t_pruned["images_per_s"] / t_dense["images_per_s"]
    ctx.log(f"throughput (batch {b.batch}, {torch.get_num_threads()} thread): dense "
            f"{out['throughput_dense_ips']:.2f} img/s, rho {cfg.rho} {out['throughput_rho07_ips']:.2f} img/s, "
            f"ratio {out['throughput_ratio_cpu']:.3f} (FLOP ratio {out['flops_ratio_bench']:.3f})")
    return out


# ------------------------------------------------------------------------------------------------
# training
# ------------------------------------------------------------------------------------------------


def _model_kwargs(m: ModelConfig) -> dict:
    d = asdict(m)
    d.pop("pruning_loc")
    return d


def make_teacher(cfg: Config) -> VisionTransformerTeacher:
    torch.manual_seed(cfg.teacher_seed)
    return VisionTransformerTeacher(**_model_kwargs(cfg.model))


def _decay_groups(params: list[tuple[str, nn.Parameter]], wd: float) -> list[dict]:
    decay = [p for n, p in params if p.dim() >= 2 and not n.endswith(".bias")]
    no_decay = [p for n, p in params if not (p.dim() >= 2 and not n.endswith(".bias"))]
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def train_teacher(cfg: Config, steps: int, ctx: RunContext | None,
                  train_set: ClutteredDigits) -> VisionTransformerTeacher:
    """Dense ViT from scratch: AdamW (lr 1e-3, wd 0.05), per-step cosine, label-smoothed CE."""
    model = make_teacher(cfg).train()
    named = [(n, p) for n, p in model.named_parameters() if n not in ("cls_token", "pos_embed")]
    groups = _decay_groups(named, cfg.weight_decay)
    groups.append({"params": [model.cls_token, model.pos_embed], "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=cfg.teacher_lr)
    g = torch.Generator().manual_seed(cfg.teacher_seed)
    it = range(steps) if ctx is None else ctx.progress(range(steps), total=steps, desc="teacher")
    for step in it:
        set_lr(opt, cosine(step, steps, peak=cfg.teacher_lr))
        batch = train_set.sample(cfg.teacher_batch, g)  # the global batch: the same on every rank
        images, labels = dist.shard(batch.images), dist.shard(batch.labels)  # this rank's rows (all, alone)
        loss = F.cross_entropy(model(images)[0], labels, label_smoothing=cfg.label_smoothing)
        if ctx is not None:
            ctx.check_finite(loss, step, "teacher loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        dist.all_reduce_grads(model)  # mean over ranks = the global batch's gradient (no-op alone)
        opt.step()
    return model.eval()


def make_student(cfg: Config, teacher: nn.Module, seed: int) -> VisionTransformerDiffPruning:
    """DynamicViT initialised from the teacher; predictors freshly initialised from ``seed``."""
    torch.manual_seed(seed)
    student = VisionTransformerDiffPruning(**_model_kwargs(cfg.model), pruning_loc=cfg.model.pruning_loc,
                                           token_ratio=make_token_ratio(cfg.rho, len(cfg.model.pruning_loc)))
    missing = student.load_state_dict(teacher.state_dict(), strict=False).missing_keys
    assert all(k.startswith("score_predictor.") for k in missing), missing
    return student


def centre_scores(num_patches: int) -> torch.Tensor:
    """(N,) score = minus the distance of the patch centre to the canvas centre (ties: lower index first)."""
    side = math.isqrt(num_patches)
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    c = (side - 1) / 2
    radius = ((yy - c) ** 2 + (xx - c) ** 2).flatten().float().sqrt()
    return -radius - 1e-4 * torch.arange(num_patches) / num_patches


def _selection_scores(variant: str, b: int, n: int, g: torch.Generator) -> torch.Tensor | None:
    if variant == "dynamic":
        return None
    if variant == "random_keep":
        return torch.rand(b, n, generator=g)  # a fresh random subset, nested across stages by construction
    if variant == "fixed_centre":
        return centre_scores(n).expand(b, -1)
    raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")


@dataclass
class FinetuneResult:
    model: VisionTransformerDiffPruning
    keep_frac: tuple[float, ...]
    ratio_loss: float
    last_loss: float


def finetune(cfg: Config, variant: str, teacher: VisionTransformerTeacher, steps: int, seed: int,
             train_set: ClutteredDigits, ctx: RunContext | None) -> FinetuneResult:
    """One fine-tune (DeiT recipe at toy scale); the sample stream and noise depend only on ``seed``."""
    student = make_student(cfg, teacher, seed).train()
    ratios = make_token_ratio(cfg.rho, len(cfg.model.pruning_loc))
    pred_params = list(student.score_predictor.parameters())
    frozen = {"cls_token", "pos_embed"}
    backbone = [(n, p) for n, p in student.named_parameters()
                if not n.startswith("score_predictor.") and n not in frozen]
    student.cls_token.requires_grad_(False)
    student.pos_embed.requires_grad_(False)
    groups = [{"params": pred_params, "weight_decay": cfg.weight_decay, "role": "predictor"}]
    for grp in _decay_groups(backbone, cfg.weight_decay):
        groups.append({**grp, "role": "backbone"})
    opt = torch.optim.AdamW(groups, lr=cfg.predictor_lr)
    criterion = (ShardedDistillLoss if dist.is_distributed() else DistillDiffPruningLoss)(
        teacher, nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing),
        ratio_weight=cfg.ratio_weight if variant == "dynamic" else 0.0,
        distill_weight=cfg.distill_weight, keep_ratio=ratios,
    )
    g_data = torch.Generator().manual_seed(10_000 + seed)
    g_noise = torch.Generator().manual_seed(20_000 + seed)
    freeze_until = int(cfg.backbone_freeze_frac * steps)
    fracs: list[list[float]] = []
    ratio_parts: list[float] = []
    loss_value = float("nan")
    # under torchrun every rank draws the same global batch and noise and computes on its rows; the
    # Gumbel noise drawn inside the model is aligned to those rows by GumbelRows (alone: nothing changes)
    rows = GumbelRows(student, g_noise) if dist.is_distributed() and variant == "dynamic" else None
    it = range(steps) if ctx is None else ctx.progress(range(steps), total=steps, desc=f"fine-tune {variant}")
    try:
        for step in it:
            lr_pred = cosine(step, steps, peak=cfg.predictor_lr, floor=cfg.min_lr)
            lr_back = 0.0 if step < freeze_until else min(cfg.backbone_lr, lr_pred)
            set_lr(opt, [lr_pred if g["role"] == "predictor" else lr_back for g in opt.param_groups])
            batch = train_set.sample(cfg.finetune_batch, g_data)
            scores = _selection_scores(variant, batch.images.shape[0], student.num_patches, g_noise)
            images, labels = dist.shard(batch.images), dist.shard(batch.labels)
            scores = None if scores is None else dist.shard(scores)
            outputs = student(images, token_scores=scores, generator=g_noise)
            if rows is not None:
                rows.finish()
            loss, parts = criterion(images, outputs, labels)
            if ctx is not None:
                ctx.check_finite(loss, step, f"{variant} loss")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            dist.all_reduce_grads(student)  # mean over ranks = the global batch's gradient (no-op alone)
            opt.step()
            loss_value = parts["total"]
            if step >= steps - cfg.diag_last_steps:
                fracs.append([float(d.detach().mean()) for d in outputs[3]])
                ratio_parts.append(float(DistillDiffPruningLoss.ratio_loss([d.detach() for d in outputs[3]],
                                                                           ratios)))
    finally:
        if rows is not None:
            rows.close()
    keep = tuple(float(np.mean([f[s] for f in fracs])) for s in range(len(ratios))) if fracs else ()
    ratio_loss = float(np.mean(ratio_parts)) if ratio_parts else float("nan")
    # per-rank means over equal shards: their mean over ranks is the global-batch value
    red = dist.all_reduce_metrics({"last_loss": loss_value, "ratio_loss": ratio_loss,
                                   **{f"keep_{s}": f for s, f in enumerate(keep)}})
    keep = tuple(red[f"keep_{s}"] for s in range(len(keep)))
    return FinetuneResult(student.eval(), keep, red["ratio_loss"], red["last_loss"])


def calibrate_steps(cfg: Config, ctx: RunContext, train_set: ClutteredDigits, spent_s: float) -> tuple[int, int]:
    """The spec's budget rule: project the reproduce's wall time from timed steps; shrink steps if needed."""
    teacher_steps, ft_steps = cfg.teacher_steps, cfg.finetune_steps
    if not cfg.calibrate:
        return teacher_steps, ft_steps
    t_calib = t0 = time.process_time()
    train_teacher(cfg, cfg.calib_teacher_steps, None, train_set)
    t_teacher = (time.process_time() - t0) / cfg.calib_teacher_steps
    t0 = time.process_time()
    finetune(cfg, "dynamic", make_teacher(cfg).eval(), cfg.calib_finetune_steps, 0, train_set, None)
    t_ft = (time.process_time() - t0) / cfg.calib_finetune_steps
    rounds = math.ceil(cfg.calib_seeds / max(cfg.workers, 1))
    # cost so far + calibration + evaluation/figures allowance
    overhead = spent_s + (time.process_time() - t_calib) + cfg.eval_allowance_s

    def projected(ts: int, fs: int) -> float:
        return rounds * (overhead + ts * t_teacher + len(VARIANTS) * fs * t_ft)

    before = projected(teacher_steps, ft_steps)
    if projected(teacher_steps, ft_steps) > cfg.budget_s:
        room = cfg.budget_s / rounds - overhead - teacher_steps * t_teacher
        ft_steps = max(cfg.min_finetune_steps, min(ft_steps, int(room / (len(VARIANTS) * t_ft)) // 10 * 10))
    if projected(teacher_steps, ft_steps) > cfg.budget_s:
        room = cfg.budget_s / rounds - overhead - len(VARIANTS) * ft_steps * t_ft
        teacher_steps = max(cfg.min_teacher_steps, min(teacher_steps, int(room / t_teacher) // 10 * 10))
    ctx.log(f"calibration: teacher step {t_teacher:.3f} s, fine-tune step {t_ft:.3f} s (CPU); projected "
            f"{before:.0f} s for {cfg.teacher_steps}/{cfg.finetune_steps} steps -> using {teacher_steps}/"
            f"{ft_steps} (projected {projected(teacher_steps, ft_steps):.0f} s, budget {cfg.budget_s:.0f} s)")
    return dist.broadcast_object((teacher_steps, ft_steps))  # under torchrun: rank 0's choice on every rank


# ------------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------------


@torch.no_grad()
def evaluate_teacher(teacher: nn.Module, test: DigitBatch, batch: int) -> float:
    correct = 0
    for i in range(0, len(test.labels), batch):
        logits = teacher(test.images[i:i + batch])[0]
        correct += int((logits.argmax(-1) == test.labels[i:i + batch]).sum())
    return 100.0 * correct / len(test.labels)


@torch.no_grad()
def evaluate_pruned(model: VisionTransformerDiffPruning, variant: str, test: DigitBatch, batch: int,
                    g: torch.Generator) -> tuple[float, float, list[torch.Tensor]]:
    """Accuracy (%), last-stage object-patch recall, and the kept ORIGINAL indices per stage."""
    model.eval()
    obj = object_patches(test.ink, patch_size=model.patch_embed.patch_size)
    correct, recalls = 0, []
    kept_all: list[list[torch.Tensor]] = [[] for _ in model.pruning_loc]
    for i in range(0, len(test.labels), batch):
        x = test.images[i:i + batch]
        scores = _selection_scores(variant, x.shape[0], model.num_patches, g)
        logits, kept = model(x, token_scores=scores, return_keep_indices=True)
        correct += int((logits.argmax(-1) == test.labels[i:i + batch]).sum())
        last = torch.zeros(x.shape[0], model.num_patches, dtype=torch.bool).scatter_(1, kept[-1], True)
        o = obj[i:i + batch]
        recalls.append(((last & o).sum(1).float() / o.sum(1).clamp(min=1).float())[o.any(1)])
        for s, k in enumerate(kept):
            kept_all[s].append(k)
    recall = float(torch.cat(recalls).mean())
    return 100.0 * correct / len(test.labels), recall, [torch.cat(k) for k in kept_all]


# ------------------------------------------------------------------------------------------------
# run
# ------------------------------------------------------------------------------------------------


def run(config: Config, ctx: RunContext) -> dict[str, float]:
    """One paired seed of the offline reproduction; returns flat metrics (accuracies in %)."""
    cfg = config
    if ctx.profile == "paper":
        raise ValueError("the 'paper' profile needs ImageNet, a pretrained DeiT-S state dict and GPUs; "
                         "it is documented in the README but not runnable offline")
    if not 0.0 < cfg.rho <= 1.0:
        raise ValueError(f"rho must be in (0, 1], got {cfg.rho}")
    t_start = time.process_time()
    metrics: dict[str, float] = {}
    cost = measure_cost(cfg, ctx)
    metrics.update(cost)
    figures.cost_vs_rho(ctx, cfg, cost)

    train_set, test_set = make_datasets(cfg.task)
    test = test_set.sample(cfg.n_test, torch.Generator().manual_seed(cfg.test_seed))
    teacher_steps, ft_steps = calibrate_steps(cfg, ctx, train_set, time.process_time() - t_start)
    metrics["steps_teacher"] = float(teacher_steps)
    metrics["steps_finetune"] = float(ft_steps)

    teacher = train_teacher(cfg, teacher_steps, ctx, train_set)
    metrics["acc_teacher"] = evaluate_teacher(teacher, test, cfg.eval_batch)
    ctx.log(f"teacher: {teacher_steps} steps, test accuracy {metrics['acc_teacher']:.1f}%")

    acc_rows: list[dict] = []
    kept_dynamic: list[torch.Tensor] = []
    for variant in VARIANTS:
        res = finetune(cfg, variant, teacher, ft_steps, ctx.seed, train_set, ctx)
        model = res.model
        acc, recall, kept = evaluate_pruned(model, variant, test, cfg.eval_batch,
                                            torch.Generator().manual_seed(30_000 + ctx.seed))
        metrics[variant_metric("acc", variant)] = acc
        metrics[variant_metric("recall", variant)] = recall
        metrics[variant_metric("final_loss", variant)] = res.last_loss
        if variant == "dynamic":
            kept_dynamic = kept
            for s, f in enumerate(res.keep_frac):
                metrics[keep_frac_metric(s + 1)] = f
            metrics["ratio_loss_final"] = res.ratio_loss
        ctx.log(f"{variant}: test accuracy {acc:.1f}%, last-stage object recall {recall:.3f}")
        trained = model.token_ratio
        acc_rows.append({"variant": variant, "rho": cfg.rho, "acc": acc, "recall": recall})
        for r in cfg.acc_rhos:
            if math.isclose(r, cfg.rho):
                continue
            model.set_token_ratio(make_token_ratio(r, len(cfg.model.pruning_loc)))
            a, rec, _ = evaluate_pruned(model, variant, test, cfg.eval_batch,
                                        torch.Generator().manual_seed(30_000 + ctx.seed))
            acc_rows.append({"variant": variant, "rho": r, "acc": a, "recall": rec})
        model.set_token_ratio(trained)

    metrics["acc_static_best"] = max_or_nan(metrics["acc_random_keep"], metrics["acc_fixed_centre"])
    metrics["acc_drop_pts"] = metrics["acc_teacher"] - metrics["acc_dynamic"]
    metrics["dyn_minus_static_pts"] = metrics["acc_dynamic"] - metrics["acc_static_best"]
    metrics["recall_ratio_dyn_random"] = metrics["recall_dynamic"] / max(metrics["recall_random_keep"], 1e-12)

    ctx.save_csv("accuracy_vs_rho", acc_rows)
    figures.accuracy_vs_rho(ctx, acc_rows, metrics["acc_teacher"], cfg.rho, cfg.task)
    if kept_dynamic:
        figures.kept_tokens(ctx, test, [k[: cfg.n_viz] for k in kept_dynamic], cfg.n_viz,
                         cfg.model.patch_size, (cfg.model.img_size // cfg.model.patch_size) ** 2)
    metrics["cpu_seconds"] = time.process_time() - t_start
    ctx.log(f"done in {metrics['cpu_seconds']:.0f} CPU s")
    return metrics
