"""The reproduction's training loop: one model trained with a :class:`TrackedSGD` and a :class:`SymmetryTracker`
on every symmetry group, through ``livepapers.core.train.train_loop`` (finite-loss check, progress), with the C1
geometry checks at chosen steps."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from livepapers.core.train import train_loop

from .data import minibatch_indices
from .models import MODELS, make_model
from .optim import SymmetryTracker, TrackedSGD
from .symmetries import KINDS, check_gradient_geometry, check_hessian_geometry, find_symmetries


def train_tracked(
    name: str, *, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int, batch_size: int, ctx: Any, label: str,
    weight_decay: float = 0.0, momentum: float = 0.0, dampening: float = 0.0, bn_eps: float = 1e-30,
    c1_steps: tuple[int, ...] = (), c1_individual: int = 3, repeat: int = 1, every: int = 1,
) -> tuple[SymmetryTracker, dict[str, list[float]]]:
    """Train model ``name`` on (x, y) with cross-entropy and track every group; returns (tracker, C1 violations).

    Every call with the same seed (``ctx``) starts from the same initialization and draws the same minibatch
    sequence; ``repeat`` uses each minibatch for that many consecutive steps (``steps`` must be a multiple of it),
    and the tracker keeps every ``every``-th step. At the steps in ``c1_steps`` the gradient and Hessian geometry is
    checked on that step's minibatch (``grad_<kind>`` / ``hvp_<kind>``: one value per checked step).
    """
    if steps % repeat:
        raise ValueError(f"steps={steps} must be a multiple of repeat={repeat}")
    model = make_model(name, generator=ctx.generator(10 + list(MODELS).index(name)), bn_eps=bn_eps)
    model.train()
    groups = find_symmetries(model)
    opt = TrackedSGD(model.parameters(), lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay)
    tracker = SymmetryTracker(model, groups, opt, every=every)
    distinct = minibatch_indices(x.shape[0], batch_size=batch_size, n_steps=steps // repeat,
                                 generator=ctx.generator(1000))
    batches = (idx for idx in distinct for _ in range(repeat))
    c1: dict[str, list[float]] = {}
    c1_set = set(c1_steps)
    hgen = ctx.generator(3000 + list(MODELS).index(name))

    def step(k: int) -> torch.Tensor:
        idx = next(batches)
        xb, yb = x[idx], y[idx]
        if k in c1_set:
            gg = check_gradient_geometry(model, F.cross_entropy, (xb, yb), groups)
            hh = check_hessian_geometry(model, F.cross_entropy, (xb, yb), groups, n_individual=c1_individual,
                                        generator=hgen)
            for kind in (kd for kd in KINDS if kd in hh):
                c1.setdefault(f"grad_{kind}", []).append(gg[kind + "_normalized"])
                c1.setdefault(f"hvp_{kind}", []).append(hh[kind])
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        tracker.step()
        return loss

    curve = train_loop(step, steps, ctx=ctx, desc=f"{label} {name}", record_every=steps)
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).double().mean())
    ctx.log(f"{label} {name}: lr={lr} momentum={momentum} wd={weight_decay} steps={steps} batch={batch_size} "
            f"final loss {curve[-1][1]:.4f}, train accuracy {acc:.3f}")
    return tracker, c1


__all__ = ["train_tracked"]
