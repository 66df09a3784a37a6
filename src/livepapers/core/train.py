"""Training kit shared by the papers: learning-rate schedules and a small step loop.

Schedules are plain functions of the step (``lr = f(step)``) and, for ``torch.optim.lr_scheduler.LambdaLR``,
factors of the peak (:func:`lambda_lr`). A paper with its own loop keeps it and calls the schedule; a paper
whose loop is "draw a batch, step, check the loss, log now and then, evaluate at the end" uses :func:`train_loop`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

Schedule = Callable[[int], float]


def cosine(step: int, total: int, *, peak: float, floor: float = 0.0) -> float:
    r"""Cosine decay from ``peak`` at step 0 to ``floor`` at ``total``: $\eta_k = \eta_{min} + (\eta - \eta_{min})
    \tfrac12 (1 + \cos(\pi k / K))$."""
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))


def warmup_linear(step: int, total: int, *, peak: float, warmup_frac: float, start: float = 1e-7) -> float:
    """Linear warm-up from ``start`` over ``round(warmup_frac · total)`` steps (at least 1), then linear decay to 0
    at ``total`` (the fairseq/LRA ``linear`` schedule)."""
    warm = max(1, round(warmup_frac * total))
    if step < warm:
        return start + (peak - start) * step / warm
    return peak * max(0.0, (total - step) / max(1, total - warm))


def warmup_cosine(step: int, total: int, *, peak: float, warmup: int, floor: float = 0.0) -> float:
    """Linear warm-up from 0 over ``warmup`` steps, then :func:`cosine` from ``peak`` to ``floor`` over the rest."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return cosine(step - warmup, max(total - warmup, 1), peak=peak, floor=floor)


def lambda_lr(optimizer: torch.optim.Optimizer, schedule: Schedule) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` whose factor is ``schedule(step) / peak`` for each group's initial lr (the peak)."""
    peaks = [g["lr"] for g in optimizer.param_groups]
    if any(p <= 0 for p in peaks):
        raise ValueError(f"lambda_lr needs positive initial learning rates, got {peaks}")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, [lambda k, p=p: schedule(k) / p for p in peaks])


def set_lr(optimizer: torch.optim.Optimizer, lr: float | list[float]) -> None:
    """Set every param group's lr (one value, or one per group)."""
    lrs = lr if isinstance(lr, list) else [lr] * len(optimizer.param_groups)
    if len(lrs) != len(optimizer.param_groups):
        raise ValueError(f"set_lr: {len(lrs)} rates for {len(optimizer.param_groups)} param groups")
    for g, v in zip(optimizer.param_groups, lrs):
        g["lr"] = v


def train_loop(step_fn: Callable[[int], float | torch.Tensor], steps: int, *, ctx: Any | None = None,
               desc: str = "train", log_every: int = 0, record_every: int = 1) -> list[tuple[int, float]]:
    """Run ``step_fn(step) -> loss`` for ``steps`` steps; returns the learning curve ``[(step, loss), ...]``.

    With a :class:`~livepapers.core.runs.RunContext`, every loss is checked (NaN/inf raises ``Diverged`` naming
    the step), progress is shown on a terminal and every ``log_every`` steps the loss goes to ``log.txt``.
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    curve: list[tuple[int, float]] = []
    it = ctx.progress(range(steps), total=steps, desc=desc) if ctx is not None else range(steps)
    for step in it:
        loss = step_fn(step)
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        if ctx is not None:
            ctx.check_finite(value, step, what=f"{desc} loss")
            if log_every and (step % log_every == 0 or step == steps - 1):
                ctx.log(f"{desc} step {step}/{steps}: loss {value:.5g}")
        if record_every and (step % record_every == 0 or step == steps - 1):
            curve.append((step, value))
    return curve


__all__ = ["cosine", "lambda_lr", "set_lr", "train_loop", "warmup_cosine", "warmup_linear"]
