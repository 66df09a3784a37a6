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
from dataclasses import dataclass, field
from typing import Literal

import torch

from livepapers.core import dist
from livepapers.core.config import ConfigError, Profile
from livepapers.core.runs import RunContext
from livepapers.core.stats import max_or_nan

from . import figures
from .data import ClutteredDigits, make_datasets
from .evaluation import evaluate_pruned, evaluate_teacher, measure_cost
from .metrics import FLOPS_TABLE_RHOS as FLOPS_TABLE_RHOS  # re-exported (claims.py, tests)
from .metrics import VARIANTS, keep_frac_metric, variant_metric
from .metrics import flops_metric as flops_metric  # re-exported (claims.py, tests)
from .modules import make_token_ratio
from .training import centre_scores as centre_scores  # re-exported (tests)
from .training import finetune, make_teacher, train_teacher


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
# the spec's budget rule
# ------------------------------------------------------------------------------------------------


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
