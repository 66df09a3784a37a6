"""The training loop and the test accuracy of :mod:`livepapers.mega.experiment`: every model (Mega, Mega-chunk, Mega
without EMA, the Transformer) is trained and evaluated by the same two functions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from livepapers.core.runs import RunContext
from livepapers.core.train import set_lr, train_loop, warmup_linear

from ._inputs import check_positive
from .data import Batches

if TYPE_CHECKING:
    from .experiment import Config


def train(model: nn.Module, batches: Batches, *, steps: int, lr: float, cfg: Config, ctx: RunContext | None,
          name: str = "", log_every: int = 0) -> list[float]:
    """Cross-entropy, AdamW (β = (0.9, 0.98), eps 1e-8, decoupled weight decay on every parameter), linear warm-up
    from 1e-7 then linear decay to 0 (:func:`livepapers.core.train.warmup_linear`), grad-clip; the loss per step."""
    check_positive(lr, "lr")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-8, weight_decay=cfg.weight_decay)
    model.train()

    def step(k: int) -> Tensor:
        set_lr(opt, warmup_linear(k, steps, peak=lr, warmup_frac=cfg.warmup_frac))
        xb, yb = batches.next()
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        return loss

    return [loss for _, loss in train_loop(step, steps, ctx=ctx, desc=name, log_every=log_every)]


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 120) -> float:
    """Test accuracy in percent (eval mode: BatchNorm uses running statistics)."""
    model.eval()
    correct = 0
    for i in range(0, len(y), batch_size):
        correct += int((model(x[i:i + batch_size]).argmax(-1) == y[i:i + batch_size]).sum())
    return 100.0 * correct / len(y)
