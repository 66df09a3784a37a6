"""Training loops of DynamicViT's reproduction: the dense teacher and the three paired fine-tunes.

Both loops are rank-aware through :mod:`livepapers.core.dist`: every rank draws the same global batch and
computes on its rows; gradients are averaged over ranks (alone, nothing changes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from livepapers.core import dist
from livepapers.core.runs import RunContext
from livepapers.core.train import cosine, set_lr, warmup_cosine

from .data import ClutteredDigits, DigitBatch
from .metrics import VARIANTS
from .modules import (
    DistillDiffPruningLoss,
    VisionTransformerDiffPruning,
    VisionTransformerTeacher,
    make_token_ratio,
)
from .sharding import GumbelRows, ShardedDistillLoss, global_batchnorm

if TYPE_CHECKING:
    from .experiment import Config, ModelConfig


Probe = Callable[[int, str, nn.Module, torch.optim.Optimizer, tuple, torch.Tensor], None]


def model_kwargs(m: ModelConfig) -> dict:
    """The constructor arguments of the task's ViT (everything but ``pruning_loc``)."""
    d = asdict(m)
    d.pop("pruning_loc")
    return d


def make_teacher(cfg: Config) -> VisionTransformerTeacher:
    torch.manual_seed(cfg.teacher_seed)
    return VisionTransformerTeacher(**model_kwargs(cfg.model))


def _decay_groups(params: list[tuple[str, nn.Parameter]], wd: float) -> list[dict]:
    decay = [p for n, p in params if p.dim() >= 2 and not n.endswith(".bias")]
    no_decay = [p for n, p in params if not (p.dim() >= 2 and not n.endswith(".bias"))]
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def train_teacher(cfg: Config, steps: int, ctx: RunContext | None, train_set: ClutteredDigits, *,
                  test: DigitBatch | None = None, curve: list[dict] | None = None) -> VisionTransformerTeacher:
    """Dense ViT from scratch (Revision 2): AdamW (lr ``teacher_lr``, wd 0.05), linear warm-up over
    ``teacher_warmup_frac`` of the steps then per-step cosine decay to 0, label-smoothed CE, batch ``teacher_batch``.

    With ``curve`` (a list), appends ``{"step", "loss", "lr"}`` every step and, with ``test``, the test accuracy
    (%) every ``teacher_eval_every`` steps and at the end (``"acc"``, NaN elsewhere): the learning curve.
    """
    model = global_batchnorm(make_teacher(cfg)).train()
    named = [(n, p) for n, p in model.named_parameters() if n not in ("cls_token", "pos_embed")]
    groups = _decay_groups(named, cfg.weight_decay)
    groups.append({"params": [model.cls_token, model.pos_embed], "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=cfg.teacher_lr)
    g = torch.Generator().manual_seed(cfg.teacher_seed)
    warmup = max(1, round(cfg.teacher_warmup_frac * steps))
    eval_every = cfg.teacher_eval_every if test is not None and curve is not None else 0
    it = range(steps) if ctx is None else ctx.progress(range(steps), total=steps, desc="teacher")
    for step in it:
        lr = warmup_cosine(step, steps, peak=cfg.teacher_lr, warmup=warmup)
        set_lr(opt, lr)
        batch = train_set.sample(cfg.teacher_batch, g)  # the global batch: the same on every rank
        images, labels = dist.shard(batch.images), dist.shard(batch.labels)  # this rank's rows (all, alone)
        loss = F.cross_entropy(model(images)[0], labels, label_smoothing=cfg.label_smoothing)
        if ctx is not None:
            ctx.check_finite(loss, step, "teacher loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        dist.all_reduce_grads(model)  # mean over ranks = the global batch's gradient (no-op alone)
        opt.step()
        if curve is not None:
            row = {"step": step + 1, "loss": dist.all_reduce_mean(float(loss.detach())), "lr": lr, "acc": math.nan}
            if eval_every and ((step + 1) % eval_every == 0 or step + 1 == steps):
                row["acc"] = teacher_accuracy(model, test, cfg.eval_batch)
                model.train()
                if ctx is not None:
                    ctx.log(f"teacher step {step + 1}/{steps}: loss {row['loss']:.4f}, test accuracy {row['acc']:.1f}%")
            curve.append(row)
    return model.eval()


@torch.no_grad()
def teacher_accuracy(teacher: nn.Module, test: DigitBatch, batch: int) -> float:
    """Test accuracy (%) of a dense model returning ``(logits, tokens)``, in eval mode."""
    teacher.eval()
    correct = 0
    for i in range(0, len(test.labels), batch):
        logits = teacher(test.images[i:i + batch])[0]
        correct += int((logits.argmax(-1) == test.labels[i:i + batch]).sum())
    return 100.0 * correct / len(test.labels)


def make_student(cfg: Config, teacher: nn.Module, seed: int) -> VisionTransformerDiffPruning:
    """DynamicViT initialised from the teacher; predictors freshly initialised from ``seed``."""
    torch.manual_seed(seed)
    student = VisionTransformerDiffPruning(**model_kwargs(cfg.model), pruning_loc=cfg.model.pruning_loc,
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


def selection_scores(variant: str, b: int, n: int, g: torch.Generator) -> torch.Tensor | None:
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
    keep_curve: list[tuple[float, ...]] = field(default_factory=list)  # per step: kept fraction after each stage


class _SharedTeacher(nn.Module):
    """The teacher, run once per batch for the paired fine-tunes: a repeated call with the same input tensor
    (the same object) returns the outputs of the first call."""

    def __init__(self, teacher: nn.Module) -> None:
        super().__init__()
        self.teacher = teacher
        self._last: tuple[torch.Tensor, tuple] | None = None

    def forward(self, x: torch.Tensor) -> tuple:
        if self._last is None or self._last[0] is not x:
            self._last = (x, self.teacher(x))
        return self._last[1]


@dataclass
class _Run:
    """One variant's state in :func:`finetune_paired`."""

    variant: str
    student: VisionTransformerDiffPruning
    opt: torch.optim.Optimizer
    criterion: DistillDiffPruningLoss
    g_noise: torch.Generator
    rows: GumbelRows | None
    fracs: list[list[float]] = field(default_factory=list)
    curve: list[list[float]] = field(default_factory=list)
    ratio_parts: list[float] = field(default_factory=list)
    loss_value: float = float("nan")


def _start(cfg: Config, variant: str, teacher: nn.Module, shared: _SharedTeacher, seed: int) -> _Run:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    student = global_batchnorm(make_student(cfg, teacher, seed)).train()
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
        shared, nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing),
        ratio_weight=cfg.ratio_weight if variant == "dynamic" else 0.0,
        distill_weight=cfg.distill_weight, keep_ratio=ratios,
    )
    g_noise = torch.Generator().manual_seed(20_000 + seed)
    # under torchrun every rank draws the same global batch and noise and computes on its rows; the
    # Gumbel noise drawn inside the model is aligned to those rows by GumbelRows (alone: nothing changes)
    rows = GumbelRows(student, g_noise) if dist.is_distributed() and variant == "dynamic" else None
    return _Run(variant, student, opt, criterion, g_noise, rows)


def predictor_lr(cfg: Config, step: int, steps: int) -> float:
    """The predictor lr at ``step`` of ``steps``: linear warm-up over ``round(predictor_warmup_frac * steps)`` steps
    (none at 0), then per-step cosine from ``predictor_lr`` to ``min_lr``."""
    warmup = round(cfg.predictor_warmup_frac * steps)
    if warmup > 0:
        return warmup_cosine(step, steps, peak=cfg.predictor_lr, warmup=warmup, floor=cfg.min_lr)
    return cosine(step, steps, peak=cfg.predictor_lr, floor=cfg.min_lr)


def finetune_paired(cfg: Config, variants: tuple[str, ...], teacher: VisionTransformerTeacher, steps: int,
                    seed: int, train_set: ClutteredDigits, ctx: RunContext | None, *,
                    probe: Probe | None = None) -> dict[str, FinetuneResult]:
    """The paired fine-tunes of one seed (DeiT recipe at toy scale), stepped side by side.

    Every variant sees the same batches (drawn once per step from ``seed``) and the teacher's outputs on them
    (computed once per step); each has its own noise generator seeded from ``seed``, so each result equals a
    fine-tune run alone. Predictor lr: per-step cosine from ``predictor_lr`` to ``min_lr``; backbone lr
    ``min(backbone_lr, predictor lr)``, 0 for the first ``backbone_freeze_frac`` of the steps.

    ``probe`` (diagnostics only, e.g. the pilot in benchmarks/): called every step for every variant after the
    forward and the loss and before the backward, as ``probe(step, variant, student, optimizer, outputs, loss)``;
    it may read gradients with ``torch.autograd.grad(..., retain_graph=True)`` but must not step anything.
    """
    shared = _SharedTeacher(teacher)
    runs = [_start(cfg, v, teacher, shared, seed) for v in variants]
    ratios = make_token_ratio(cfg.rho, len(cfg.model.pruning_loc))
    g_data = torch.Generator().manual_seed(10_000 + seed)
    freeze_until = int(cfg.backbone_freeze_frac * steps)
    it = range(steps) if ctx is None else ctx.progress(range(steps), total=steps,
                                                        desc=f"fine-tune {'/'.join(variants)}")
    try:
        for step in it:
            lr_pred = predictor_lr(cfg, step, steps)
            lr_back = 0.0 if step < freeze_until else min(cfg.backbone_lr, lr_pred)
            batch = train_set.sample(cfg.finetune_batch, g_data)
            images, labels = dist.shard(batch.images), dist.shard(batch.labels)
            for r in runs:
                set_lr(r.opt, [lr_pred if g["role"] == "predictor" else lr_back for g in r.opt.param_groups])
                scores = selection_scores(r.variant, batch.images.shape[0], r.student.num_patches, r.g_noise)
                scores = None if scores is None else dist.shard(scores)
                outputs = r.student(images, token_scores=scores, generator=r.g_noise)
                if r.rows is not None:
                    r.rows.finish()
                loss, parts = r.criterion(images, outputs, labels)
                if ctx is not None:
                    ctx.check_finite(loss, step, f"{r.variant} loss")
                if probe is not None:
                    probe(step, r.variant, r.student, r.opt, outputs, loss)
                r.opt.zero_grad(set_to_none=True)
                loss.backward()
                dist.all_reduce_grads(r.student)  # mean over ranks = the global batch's gradient (no-op alone)
                if cfg.clip_grad is not None:  # the official --clip_grad: the norm over all trainable parameters
                    torch.nn.utils.clip_grad_norm_([p for p in r.student.parameters() if p.requires_grad],
                                                   cfg.clip_grad)
                r.opt.step()
                r.loss_value = parts["total"]
                step_fracs = [float(d.detach().mean()) for d in outputs[3]]
                r.curve.append(step_fracs)
                if step >= steps - cfg.diag_last_steps:
                    r.fracs.append(step_fracs)
                    r.ratio_parts.append(float(DistillDiffPruningLoss.ratio_loss([d.detach() for d in outputs[3]],
                                                                                 ratios)))
    finally:
        for r in runs:
            if r.rows is not None:
                r.rows.close()
    return {r.variant: _result(r, len(ratios)) for r in runs}


def _result(r: _Run, stages: int) -> FinetuneResult:
    keep = tuple(float(np.mean([f[s] for f in r.fracs])) for s in range(stages)) if r.fracs else ()
    ratio_loss = float(np.mean(r.ratio_parts)) if r.ratio_parts else float("nan")
    # per-rank means over equal shards: their mean over ranks is the global-batch value
    red = dist.all_reduce_metrics({"last_loss": r.loss_value, "ratio_loss": ratio_loss,
                                   **{f"keep_{s}": f for s, f in enumerate(keep)}})
    keep = tuple(red[f"keep_{s}"] for s in range(len(keep)))
    curve = r.curve
    if curve and dist.is_distributed():  # the global batch's fractions: the mean over equal shards
        curve = dist.all_reduce_mean(torch.tensor(curve, dtype=torch.float64)).tolist()
    return FinetuneResult(r.student.eval(), keep, red["ratio_loss"], red["last_loss"], [tuple(c) for c in curve])


def finetune(cfg: Config, variant: str, teacher: VisionTransformerTeacher, steps: int, seed: int,
             train_set: ClutteredDigits, ctx: RunContext | None, *, probe: Probe | None = None) -> FinetuneResult:
    """One fine-tune alone (see :func:`finetune_paired`); the sample stream and noise depend only on ``seed``."""
    return finetune_paired(cfg, (variant,), teacher, steps, seed, train_set, ctx, probe=probe)[variant]
