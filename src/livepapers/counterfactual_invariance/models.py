"""The small-scale classifier of the reproduction and its training loop.

Legend: b batch, L tokens per document, d embedding size, k hidden size.

``BagOfEmbeddingsClassifier``: Embedding(V, d) → mean over non-PAD tokens → Linear(d, k) → ReLU → Linear(k, 1),
the scalar logit f_θ(x) of P(Y=1 | x). ``train`` minimises (1/B) Σ_i w_i CE(f_θ(x_i), y_i) + λ R on i.i.d.
minibatches (a fresh random permutation per epoch; never stratified, which would silently reweight ERM).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from livepapers.core.inputs import as_generator

from .regularizer import CIRegularizer


class BagOfEmbeddingsClassifier(nn.Module):
    """Mean of token embeddings → MLP → one logit.

    Args:
        vocab_size: V, number of token ids.
        dim: d, embedding size (spec: 32).
        hidden: k, hidden size (spec: 64).
        pad_id: the PAD id, excluded from the mean.
    """

    def __init__(self, vocab_size: int, dim: int = 32, hidden: int = 64, pad_id: int = 0) -> None:
        super().__init__()
        if vocab_size < 2 or dim < 1 or hidden < 1:
            raise ValueError(f"need vocab_size >= 2, dim >= 1, hidden >= 1, got {vocab_size}, {dim}, {hidden}")
        self.pad_id = pad_id
        self.num_features = hidden
        self.num_classes = 2
        self.embed = nn.EmbeddingBag(vocab_size, dim, mode="sum", padding_idx=pad_id)
        self.fc = nn.Linear(dim, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward_features(self, tokens: torch.Tensor) -> torch.Tensor:
        """φ(x): tokens (b, L) -> (b, k), the penultimate representation."""
        count = (tokens != self.pad_id).sum(1, keepdim=True).clamp_min(1)
        mean = self.embed(tokens) / count  # mean over non-PAD tokens
        return torch.relu(self.fc(mean))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(b, k) -> logits (b,)."""
        return self.head(features).squeeze(-1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (b, L) -> logits (b,)."""
        return self.forward_head(self.forward_features(tokens))

    @torch.no_grad()
    def predict_proba(self, tokens: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
        """P(Y=1 | x) for tokens (n, L) -> (n,), in eval mode."""
        was = self.training
        self.eval()
        out = torch.cat([torch.sigmoid(self(tokens[i:i + batch_size])) for i in range(0, len(tokens), batch_size)])
        self.train(was)
        return out


def train(model: BagOfEmbeddingsClassifier, data: Mapping[str, torch.Tensor], regularizer: CIRegularizer | None = None,
          epochs: int = 20, lr: float = 3e-3, batch_size: int = 256, generator: torch.Generator | int | None = None,
          callback: Callable[[int, dict[str, Any]], None] | None = None) -> BagOfEmbeddingsClassifier:
    """Train ``model`` with Adam on ``data`` (``tokens`` (n, L), ``y`` (n,), ``z`` (n,)); ERM if no regulariser.

    Each epoch visits a fresh random permutation in ``ceil(n / batch_size)`` minibatches (the last one smaller).
    The penalty sees the logits (``regularizer.on == "logits"``) or φ(x) (``"representation"``). ``callback(epoch,
    stats)`` gets the epoch's mean loss, CE and λR after every epoch; nothing is printed or written. Raises
    ``FloatingPointError`` on a non-finite loss.
    """
    for key in ("tokens", "y", "z"):
        if key not in data:
            raise ValueError(f"data needs key {key!r} (tokens, y, z), got {sorted(data)}")
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    g = as_generator(0 if generator is None else generator)
    tokens, y, z = data["tokens"], data["y"].long(), data["z"].long()
    yf = y.float()
    n = tokens.shape[0]
    reg = regularizer
    if reg is not None and reg.reweight and reg._w is None:
        reg.fit_weights(y, z)
    w_all = reg.sample_weights(y, z) if reg is not None else None
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = math.ceil(n / batch_size)
    step = 0
    model.train()
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=g)
        tot = {"loss": 0.0, "ce": 0.0, "penalty": 0.0}
        for b in range(steps):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            feats = model.forward_features(tokens[idx])
            logit = model.forward_head(feats)
            ce = nn.functional.binary_cross_entropy_with_logits(logit, yf[idx], reduction="none")
            ce = (ce * w_all[idx]).mean() if (reg is not None and reg.reweight) else ce.mean()
            loss = ce
            pen = torch.zeros(())
            if reg is not None and reg.lam > 0:
                h = logit if reg.on == "logits" else feats
                pen = reg.penalty(h, y[idx], z[idx])
                loss = ce + pen
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {float(loss)} at step {step} (epoch {epoch})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            tot["loss"] += float(loss.detach())
            tot["ce"] += float(ce.detach())
            tot["penalty"] += float(pen.detach())
        if callback is not None:
            callback(epoch, {k: v / steps for k, v in tot.items()} | {"step": step})
    model.eval()
    return model


__all__ = ["BagOfEmbeddingsClassifier", "train"]
