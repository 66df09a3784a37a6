"""Rank-aware pieces of DynamicViT's fine-tuning under ``torchrun`` (alone, neither is used).

Every rank draws the same global batch and computes on its rows (``livepapers.core.dist.shard``); these two
make the sharded computation equal the single-process one: :class:`ShardedDistillLoss` weights the
token-distillation term, :class:`GumbelRows` aligns the Gumbel noise drawn inside the model to the rank's rows,
:func:`global_batchnorm` makes the conv stem's BatchNorm use the statistics of the global batch.
"""

from __future__ import annotations

import functools
import warnings

import torch
from torch import nn

from livepapers.core import dist

from .modules import DistillDiffPruningLoss, VisionTransformerDiffPruning

__all__ = ["GlobalBatchNorm2d", "GumbelRows", "ShardedDistillLoss", "global_batchnorm"]


class ShardedDistillLoss(DistillDiffPruningLoss):
    r"""``DistillDiffPruningLoss`` on one rank's shard, weighted so that the mean over ranks is the global loss.

    The classification, KL and ratio terms are means over samples: the mean of equal shards' means is the
    global mean. The token-distillation term is a mean over the tokens kept in the WHOLE batch, and the
    shards keep different numbers of tokens: rank $r$'s term is scaled by $W k_r / K$ ($k_r$ tokens kept
    here, $K$ in all ranks), so $\frac1W \sum_r \frac{W k_r}{K} \frac{S_r}{k_r c} = \sum_r \frac{S_r}{K c}$.
    """

    def token_loss(self, student_tokens: torch.Tensor, teacher_tokens: torch.Tensor,
                   final_decision: torch.Tensor) -> torch.Tensor:
        local = super().token_loss(student_tokens, teacher_tokens, final_decision)
        kept = (final_decision.detach() > 0.5).sum().to(torch.float64)
        total = dist.all_reduce_sum(kept)
        if float(total) == 0.0:
            return local
        return local * (dist.world_size() * kept / total).to(local.dtype)


class GlobalBatchNorm2d(nn.BatchNorm2d):
    r"""``BatchNorm2d`` whose training statistics are those of the GLOBAL batch under ``torchrun`` (CPU / gloo).

    ``torch.nn.SyncBatchNorm`` needs a GPU. Here the per-channel sums $\sum x$, $\sum x^2$ and the count are
    summed over ranks with the autograd-aware all-reduce (its backward sums the gradients over ranks), so with
    equal shards the normalised outputs, the gradients (after :func:`livepapers.core.dist.all_reduce_grads`)
    and the running statistics equal the single-process ones. Alone, or in eval mode: plain ``BatchNorm2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_distributed()):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        dims = (0, 2, 3)
        count = x.new_full((1,), x.numel() / x.shape[1])
        sums = all_reduce(torch.cat([x.sum(dims), (x * x).sum(dims), count]))
        c = x.shape[1]
        n = sums[-1]
        mean = sums[:c] / n
        var = (sums[c:2 * c] / n - mean * mean).clamp(min=0.0)  # biased, as BatchNorm normalises
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1))  # unbiased, as BatchNorm
        shape = (1, c, 1, 1)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def global_batchnorm(model: nn.Module) -> nn.Module:
    """Under ``torchrun``: turn every ``BatchNorm2d`` of ``model`` into :class:`GlobalBatchNorm2d` (in place, same
    parameters and buffers); alone: nothing changes. Returns ``model``."""
    if dist.is_distributed():
        for m in model.modules():
            if type(m) is nn.BatchNorm2d:
                m.__class__ = GlobalBatchNorm2d
    return model


@functools.cache
def _draws_concatenate(dtype: torch.dtype) -> bool:
    """Whether the CPU generator fills tensors value by value (n then m draws = n + m draws)."""
    g = torch.Generator().manual_seed(0)
    whole = torch.empty(70_000, dtype=dtype).exponential_(generator=g)
    g = torch.Generator().manual_seed(0)
    parts = [torch.empty(n, dtype=dtype).exponential_(generator=g) for n in (30_000, 40_000)]
    return torch.equal(whole, torch.cat(parts))


class GumbelRows:
    r"""Under ``torchrun``: make this rank's Gumbel noise the rows of the single-process draw.

    Alone, stage $s$ draws its noise as one (B, N, 2) tensor from ``g`` (``gumbel_softmax_hard``). Rank $r$
    of $W$ computes on rows $[r b, (r + 1) b)$ ($b = B / W$) and draws (b, N, 2). Forward pre-hooks on the
    prediction modules advance ``g`` past the $2 r b N$ values before this rank's rows (and the
    $2 (W - 1 - r) b N$ after the previous stage's rows); :meth:`finish` skips the rest after the forward. With
    a generator that fills tensors value by value (checked once) every rank draws exactly its rows.
    """

    def __init__(self, model: VisionTransformerDiffPruning, g: torch.Generator) -> None:
        self.model, self.g = model, g
        self.rank, self.world = dist.rank(), dist.world_size()
        self.pending: tuple[int, torch.Tensor] | None = None
        self.handles = [m.register_forward_pre_hook(self._before_stage) for m in model.score_predictor]
        if not _draws_concatenate(next(model.parameters()).dtype):
            warnings.warn("this torch build's generator does not fill tensors value by value: each rank's "
                          "Gumbel noise differs from the single-process rows (still independent noise)",
                          stacklevel=2)

    def _skip(self, n: int, like: torch.Tensor) -> None:
        if n > 0:
            torch.empty(n, dtype=like.dtype, device=like.device).exponential_(generator=self.g)

    def _before_stage(self, module: nn.Module, args: tuple) -> None:
        if not self.model.training:
            return
        x = args[0]  # (b, N, c) spatial tokens; the stage's noise is (b, N, 2)
        n = x.shape[0] * x.shape[1] * 2
        self.finish()
        self._skip(self.rank * n, x)
        self.pending = ((self.world - 1 - self.rank) * n, x)

    def finish(self) -> None:
        """Skip the rows of the later ranks after the last stage's draw (call after each forward)."""
        if self.pending is not None:
            n, like = self.pending
            self.pending = None
            self._skip(n, like)

    def close(self) -> None:
        for h in self.handles:
            h.remove()
