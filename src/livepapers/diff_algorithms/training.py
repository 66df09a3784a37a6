"""The training loops of the experiment: the digit scorer from ordering supervision, logic gate networks (and their
$\tau$ selection), and pose fitting through a differentiable renderer."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

import torch
from torch import nn

from livepapers.core.runs import RunContext
from livepapers.core.train import train_loop

from . import data
from ._inputs import as_generator, as_seed, check_positive
from .logic import logic_accuracy
from .rendering import GenDR, iou_loss, posed
from .sorting import DiffSortNet, DigitScorer, perm_bce_loss

if TYPE_CHECKING:
    from .experiment import RenderConfig


def train_sorter(pools: data.DigitPools, *, n: int, steps: int, batch: int, distribution: str, steepness: float,
                 lr: float, init_seed: int | torch.Generator, stream: torch.Generator | int, ctx: RunContext,
                 desc: str) -> DigitScorer:
    """Ranking supervision only: BCE between ``P`` of the relaxed odd-even sort of the scores and the true ``Q``.

    ``init_seed`` (the scorer's initialisation) and ``stream`` (the training sets): an int seed or a
    ``torch.Generator`` each.
    """
    check_positive(lr, "lr")
    stream = as_generator(stream, "stream")
    torch.manual_seed(as_seed(init_seed, "init_seed"))
    model = DigitScorer()
    sorter = DiffSortNet("odd_even", n, steepness=steepness, distribution=distribution)
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def step(_: int) -> torch.Tensor:
        x, v = data.four_digit_sets(pools.train_images, pools.train_labels, n_sets=batch, set_size=n,
                                    generator=stream)
        scores = model(x.reshape(batch * n, 8, 32)).reshape(batch, n)
        _, P = sorter(scores)
        loss = perm_bce_loss(P, v)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    train_loop(step, steps, ctx=ctx, desc=desc)
    return model


def train_logic(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int, batch: int, lr: float,
                generator: torch.Generator | int, ctx: RunContext, desc: str) -> nn.Module:
    """Adam (``lr``) on the cross-entropy of ``model`` over random batches of ``(x, y)`` drawn with ``generator``
    (an int seed or a ``torch.Generator``)."""
    check_positive(lr, "lr")
    generator = as_generator(generator)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()

    def step(_: int) -> torch.Tensor:
        idx = torch.randint(len(x), (min(batch, len(x)),), generator=generator)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    train_loop(step, steps, ctx=ctx, desc=desc)
    return model


def select_on_validation(x: torch.Tensor, y: torch.Tensor, candidates: tuple[Hashable, ...], *,
                         build: Callable[[Hashable, int], nn.Module], steps: int, batch: int, lr: float,
                         ctx: RunContext, desc: str) -> tuple[Hashable, dict[Hashable, float]]:
    r"""Pick one of ``candidates`` (a $\tau$, or an architecture with its $\tau$) by discretised accuracy on a
    validation split: 20 % of ``(x, y)`` (seed 0), each candidate ``build(candidate, 0)`` with seed-0 initialisation
    trained ``steps`` steps on the other 80 %. Ties go to the earlier candidate. Returns the choice and every score."""
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(x), generator=g)
    n_val = max(1, len(x) // 5)
    val, tr = perm[:n_val], perm[n_val:]
    scores = {}
    for cand in candidates:
        torch.manual_seed(0)
        model = build(cand, 0)
        train_logic(model, x[tr], y[tr], steps=steps, batch=batch, lr=lr, generator=torch.Generator().manual_seed(1),
                    ctx=ctx, desc=f"{desc} {cand}")
        scores[cand] = logic_accuracy(model, x[val], y[val], discrete=True)
    best = max(range(len(candidates)), key=lambda i: (scores[candidates[i]], -i))
    return candidates[best], scores


def fit_poses(renderer: GenDR, tris: torch.Tensor, mask: torch.Tensor, target: torch.Tensor, pose0: torch.Tensor,
               cfg: RenderConfig, ctx: RunContext, desc: str) -> torch.Tensor:
    """Adam on the IoU loss of ``renderer``'s silhouettes from the poses ``pose0``; the final poses."""
    pose = pose0.clone().requires_grad_(True)
    opt = torch.optim.Adam([pose], lr=cfg.lr)

    def step(_: int) -> torch.Tensor:
        loss = iou_loss(renderer(posed(tris, pose), mask), target).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    train_loop(step, cfg.steps, ctx=ctx, desc=desc)
    return pose
