"""Training loops of DynamicViT's reproduction: the dense teacher and the three paired fine-tunes.

Both loops are rank-aware through :mod:`livepapers.core.dist`: every rank draws the same global batch and
computes on its rows; gradients are averaged over ranks (alone, nothing changes).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from livepapers.core import dist
from livepapers.core.runs import RunContext
from livepapers.core.train import cosine, set_lr

from .data import ClutteredDigits
from .metrics import VARIANTS
from .modules import (
    DistillDiffPruningLoss,
    VisionTransformerDiffPruning,
    VisionTransformerTeacher,
    make_token_ratio,
)
from .sharding import GumbelRows, ShardedDistillLoss

if TYPE_CHECKING:
    from .experiment import Config, ModelConfig


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
            scores = selection_scores(variant, batch.images.shape[0], student.num_patches, g_noise)
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
