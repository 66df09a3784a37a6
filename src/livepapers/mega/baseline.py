r"""The baseline: a standard pre-norm Transformer encoder with EXPLICIT $\mathrm{softmax}(Q K^\top / \sqrt{d_h}) V$
attention.

The attention matrix (b, heads, n, n) is materialised on purpose (no fused SDPA), so its quadratic memory
shows — the paper's "vanilla Transformer" baseline. Sinusoidal absolute positions, GELU FFN, final
LayerNorm, the same mean pooling and classifier head as the Mega LRA encoder.

Shape legend (einops letters): b batch, n sequence length, d model dim, H heads, e head dim, i/j
query/key positions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ._inputs import check_float, check_not_empty, check_token_dtype, token_padding_mask
from .modules import ClassificationHead, RealNumberEmbedding

__all__ = ["TransformerBlock", "TransformerClassifier", "sinusoidal_positions"]


def sinusoidal_positions(n: int, d: int) -> Tensor:
    r"""Sinusoidal absolute positions (Vaswani et al., 2017): $P_{t, 2i} = \sin(t / 10000^{2i/d})$,
    $P_{t, 2i+1} = \cos(t / 10000^{2i/d})$; (n, d)."""
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: d // 2])
    return pe


class TransformerBlock(nn.Module):
    r"""Pre-norm block: $x + \mathrm{MHA}(\mathrm{LN}(x))$, then $x + \mathrm{FFN}(\mathrm{LN}(x))$; explicit attention.
    x: (b, n, d)."""

    def __init__(self, *, dim: int, heads: int, ffn_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads != 0:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.dim, self.heads = dim, heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.fc1, self.fc2 = nn.Linear(dim, ffn_dim), nn.Linear(ffn_dim, dim)
        self.dropout = nn.Dropout(dropout)
        with torch.no_grad():
            for lin in (self.qkv, self.out, self.fc1, self.fc2):
                nn.init.normal_(lin.weight, mean=0.0, std=0.02)
                nn.init.zeros_(lin.bias)

    def forward(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"x must be (batch, length, {self.dim}), got shape {tuple(x.shape)}")
        q, k, v = rearrange(self.qkv(self.norm1(x)), "b n (t H e) -> t b H n e", t=3, H=self.heads)
        scores = torch.einsum("bHie,bHje->bHij", q, k) / math.sqrt(q.shape[-1])
        if padding_mask is not None:
            scores = scores.masked_fill(padding_mask[:, None, None, :], float("-inf"))
        attn = self.dropout(torch.softmax(scores, dim=-1))
        o = rearrange(torch.einsum("bHij,bHje->bHie", attn, v), "b H n e -> b n (H e)")
        x = x + self.dropout(self.out(o))
        return x + self.dropout(self.fc2(self.dropout(F.gelu(self.fc1(self.norm2(x))))))


class TransformerClassifier(nn.Module):
    """Embedding (+ sinusoidal positions) → pre-norm blocks → LayerNorm → mean pool → GELU head.

    Args:
        vocab_size: token vocabulary, or None for real-valued (b, n) inputs ($e = x w + b$ as in Mega).
        num_classes, dim, depth, heads, ffn_dim, classifier_dim, max_len, dropout, padding_idx.
    """

    def __init__(self, *, vocab_size: int | None, num_classes: int, dim: int, depth: int, heads: int,
                 ffn_dim: int, classifier_dim: int, max_len: int, dropout: float = 0.0, padding_idx: int = 0) -> None:
        super().__init__()
        if vocab_size is not None and not 0 <= padding_idx < vocab_size:
            raise ValueError(f"padding_idx must be a token id in [0, vocab_size={vocab_size}), got {padding_idx}")
        self.vocab_size, self.padding_idx, self.dim = vocab_size, padding_idx, dim
        if vocab_size is None:
            self.embed: nn.Module = RealNumberEmbedding(dim=dim)
        else:
            self.embed = nn.Embedding(vocab_size, dim, padding_idx=padding_idx)
            with torch.no_grad():
                nn.init.normal_(self.embed.weight, mean=0.0, std=dim ** -0.5)
                self.embed.weight[padding_idx].zero_()
        self.register_buffer("pos", sinusoidal_positions(max_len, dim), persistent=False)
        self.blocks = nn.ModuleList(TransformerBlock(dim=dim, heads=heads, ffn_dim=ffn_dim, dropout=dropout)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.num_classes, self.num_features = num_classes, dim
        self.classifier = ClassificationHead(in_dim=dim, classifier_dim=classifier_dim, num_classes=num_classes,
                                             dropout=dropout)

    def forward_features(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        """x: (b, n) integer token ids in ``[0, vocab_size)`` (or reals of the module's dtype) -> pooled (b, d)."""
        if x.dim() != 2:
            raise ValueError(f"input must be (batch, length), got shape {tuple(x.shape)}")
        if self.vocab_size is not None:
            check_token_dtype(x, self.vocab_size)
        else:
            check_float(x, self.embed.weight.dtype)
        check_not_empty(x)
        n = x.shape[1]
        if n > self.pos.shape[0]:
            raise ValueError(f"sequence length {n} exceeds max_len={self.pos.shape[0]}")
        if self.vocab_size is not None:
            padding_mask = token_padding_mask(x, self.vocab_size, self.padding_idx)
        h = self.embed(x) + self.pos[:n]
        if padding_mask is not None:
            h = h.masked_fill(padding_mask.unsqueeze(-1), 0.0)
        for blk in self.blocks:
            h = blk(h, padding_mask)
        h = self.norm(h)
        if padding_mask is None:
            return h.mean(dim=1)
        h = h.masked_fill(padding_mask.unsqueeze(-1), 0.0)
        return h.sum(dim=1) / (~padding_mask).sum(dim=1, keepdim=True).clamp(min=1).to(h.dtype)

    def forward_head(self, rep: Tensor) -> Tensor:
        return self.classifier(rep)

    def forward(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        return self.forward_head(self.forward_features(x, padding_mask))
