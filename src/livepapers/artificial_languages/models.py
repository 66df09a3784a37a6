r"""Word-level language models of the comparison and their training / evaluation on a continuous token stream.

Shape legend: ``b`` batch of blocks, ``n`` block length, ``d`` model width, ``V`` vocabulary.

Both models tie the output layer to the input embedding :math:`E \in \mathbb{R}^{V \times d}`:
:math:`\log p(w_{t+1} \mid w_{\le t}) = \log\mathrm{softmax}(E\, h_t)`. Training minimises the mean next-token
cross-entropy over blocks of a stream (sentences joined by ``</s>``); a sentence's log-probability is the sum over
its tokens and its ``</s>`` (natural log), and a corpus's perplexity is
:math:`\exp(-\sum_i \log p(s_i) / \sum_i |s_i|)` — not the mean of sentence perplexities.

Default sizes (spec, "Models (default)") are proxies of fairseq's ``transformer_lm_small`` / ``lstm_small_lm``
(proxy sizes read from the 2024 replication's fork: d_model 128, FFN 512, 2 heads, 2 layers; LSTM embedding 128,
2 × 512, projection 128) scaled down for the CPU budget; every size is an argument.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_positions(max_len: int, dim: int) -> torch.Tensor:
    """``(max_len, dim)`` sinusoidal position codes (Vaswani et al. 2017): sin on even, cos on odd features."""
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    pe = torch.zeros(max_len, dim)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


class _Block(nn.Module):
    """Pre-LN decoder block: ``x + Attn(LN(x))`` then ``x + FFN(LN(x))`` (GELU), causal self-attention."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, attn_dropout: float) -> None:
        super().__init__()
        self.h, self.attn_dropout = n_heads, attn_dropout
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv, self.out = nn.Linear(d_model, 3 * d_model), nn.Linear(d_model, d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.attn_dropout if self.training else 0.0)
        x = x + self.drop(self.out(a.transpose(1, 2).reshape(b, n, d)))
        return x + self.drop(self.ff(self.ln2(x)))


class TransformerLM(nn.Module):
    """Decoder-only Transformer LM: pre-LayerNorm blocks, a final LayerNorm, token embeddings scaled by
    ``sqrt(d_model)``, sinusoidal (default) or learned positions, tied input/output embeddings.

    Args:
        vocab_size: ``V``.
        d_model: width ``d``; n_layers: blocks; n_heads: attention heads; d_ff: FFN width.
        dropout: on the embeddings, residual branches and the FFN hidden layer (fairseq ``--dropout``).
        max_len: longest block.
        positional: ``"sinusoidal"`` or ``"learned"`` (itself an inductive bias; the paper's is sinusoidal).
        attn_dropout: on the attention weights (fairseq ``--attention-dropout``, 0.1 in ``transformer_lm_small``
            and not overridden by the official ``--dropout 0.3``); ``None``: the same as ``dropout``.
    """

    def __init__(self, vocab_size: int, d_model: int = 64, n_layers: int = 2, n_heads: int = 2, d_ff: int = 256,
                 dropout: float = 0.1, max_len: int = 512, positional: str = "sinusoidal",
                 attn_dropout: float | None = 0.1) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        if positional not in ("sinusoidal", "learned"):
            raise ValueError(f"positional must be 'sinusoidal' or 'learned', got {positional!r}")
        self.d_model, self.max_len = d_model, max_len
        self.embed = nn.Embedding(vocab_size, d_model)
        nn.init.normal_(self.embed.weight, std=d_model ** -0.5)
        if positional == "sinusoidal":
            self.register_buffer("pos", sinusoidal_positions(max_len, d_model), persistent=False)
            self.pos_embed = None
        else:
            self.pos_embed = nn.Embedding(max_len, d_model)
        self.drop = nn.Dropout(dropout)
        a_drop = dropout if attn_dropout is None else attn_dropout
        self.blocks = nn.ModuleList(_Block(d_model, n_heads, d_ff, dropout, a_drop) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(b, n)`` token ids -> ``(b, n, V)`` next-token logits."""
        n = x.shape[1]
        if n > self.max_len:
            raise ValueError(f"block of {n} tokens exceeds max_len {self.max_len}")
        pos = self.pos[:n] if self.pos_embed is None else self.pos_embed.weight[:n]
        h = self.drop(self.embed(x) * math.sqrt(self.d_model) + pos)
        for blk in self.blocks:
            h = blk(h)
        return self.ln_f(h) @ self.embed.weight.T  # tied output embedding


class LSTMLM(nn.Module):
    """LSTM LM with dropout on its input and output and tied embeddings through a projection to ``d_out``.

    Args:
        vocab_size: ``V``; d_emb: embedding width; d_hidden: LSTM state width; n_layers: stacked LSTMs.
        dropout: on the embedded input, between layers and on the output.
        d_out: width of the projection before the tied output layer; must equal ``d_emb`` (None: ``d_emb``,
            with no projection when ``d_hidden == d_emb``).
    """

    def __init__(self, vocab_size: int, d_emb: int = 64, d_hidden: int = 128, n_layers: int = 1,
                 dropout: float = 0.1, d_out: int | None = None) -> None:
        super().__init__()
        d_out = d_emb if d_out is None else d_out
        if d_out != d_emb:
            raise ValueError(f"tied embeddings need d_out == d_emb, got d_out={d_out}, d_emb={d_emb}")
        self.embed = nn.Embedding(vocab_size, d_emb)
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        self.lstm = nn.LSTM(d_emb, d_hidden, n_layers, batch_first=True, dropout=dropout if n_layers > 1 else 0.0)
        self.proj = nn.Identity() if d_hidden == d_out else nn.Linear(d_hidden, d_out)
        self.drop_in, self.drop_out = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(b, n)`` token ids -> ``(b, n, V)`` next-token logits."""
        h, _ = self.lstm(self.drop_in(self.embed(x)))
        return self.proj(self.drop_out(h)) @ self.embed.weight.T


def inverse_sqrt_lr(step: int, *, lr: float, warmup: int, init_lr: float = 0.0) -> float:
    """Linear warm-up from ``init_lr`` to ``lr`` over the first ``warmup`` steps, then ``lr · sqrt(warmup / step)``
    (1-based step). fairseq's ``inverse_sqrt`` starts at ``--warmup-init-lr`` (1e-7 in the official command);
    ``init_lr = 0`` gives ``lr · step / warmup``."""
    if step <= warmup:
        if init_lr == 0.0:
            return lr * step / max(warmup, 1)
        return init_lr + (lr - init_lr) * step / max(warmup, 1)
    return lr * math.sqrt(warmup / step)


def make_stream(sentences: Sequence[Sequence[int]], eos: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(stream, owner)``: ``</s> s_1 </s> s_2 </s> …`` as ids and, per position, the index of the sentence the
    token belongs to (−1 for the leading ``</s>``, which only serves as context for the first token)."""
    parts, owner = [np.array([eos], dtype=np.int64)], [np.array([-1], dtype=np.int64)]
    for i, s in enumerate(sentences):
        parts.append(np.asarray([*s, eos], dtype=np.int64))
        owner.append(np.full(len(s) + 1, i, dtype=np.int64))
    return np.concatenate(parts), np.concatenate(owner)


def _blocks(stream: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping target blocks: inputs ``s[kB:(k+1)B]``, targets ``s[kB+1:(k+1)B+1]`` (full blocks only)."""
    nb = (len(stream) - 1) // block
    x = stream[: nb * block].view(nb, block)
    y = stream[1: nb * block + 1].view(nb, block)
    return x, y


def train_lm(model: nn.Module, stream: np.ndarray | torch.Tensor, steps: int, block: int = 64, batch: int = 16,
             lr: float = 2e-3, warmup: int = 15, generator: torch.Generator | None = None,
             weight_decay: float = 0.01, betas: tuple[float, float] = (0.9, 0.98),
             on_step: Callable[[int, float], None] | None = None, warmup_init_lr: float = 0.0) -> list[float]:
    """Train on a continuous stream for exactly ``steps`` AdamW updates; returns the training loss per step.

    The stream (from :func:`make_stream`) is cut into non-overlapping ``block``-token blocks; each pass visits
    the blocks in an order drawn from ``generator`` (so the same generator gives the same order for every
    language of a parallel corpus); a step takes the next ``batch`` blocks. Schedule: :func:`inverse_sqrt_lr`
    (from ``warmup_init_lr``). No early stopping: exactly ``steps`` updates, the last weights are returned.
    """
    if steps < 0 or block < 1 or batch < 1:
        raise ValueError(f"need steps >= 0, block >= 1, batch >= 1; got {steps}, {block}, {batch}")
    s = torch.as_tensor(np.asarray(stream), dtype=torch.long)
    x_all, y_all = _blocks(s, block)
    nb = x_all.shape[0]
    if nb == 0:
        raise ValueError(f"stream of {len(s)} tokens is shorter than one block of {block}")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
    order = torch.empty(0, dtype=torch.long)
    curve: list[float] = []
    model.train()
    for step in range(1, steps + 1):
        while len(order) < batch:
            order = torch.cat([order, torch.randperm(nb, generator=g)])
        idx, order = order[:batch], order[batch:]
        for grp in opt.param_groups:
            grp["lr"] = inverse_sqrt_lr(step, lr=lr, warmup=warmup, init_lr=warmup_init_lr)
        logits = model(x_all[idx])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y_all[idx].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"training loss became {value} at step {step}")
        curve.append(value)
        if on_step is not None:
            on_step(step, value)
    return curve


@torch.no_grad()
def token_logprobs(model: nn.Module, stream: np.ndarray | torch.Tensor, block: int = 64) -> np.ndarray:
    """``log p`` (natural) of every stream token after the first, evaluated in non-overlapping ``block``-token
    blocks (a block's first token sees only the token before it), float64 ``(len(stream) − 1,)``."""
    model.eval()
    s = torch.as_tensor(np.asarray(stream), dtype=torch.long)
    x, y = _blocks(s, block)
    out = []
    for k in range(0, x.shape[0], 64):
        lp = F.log_softmax(model(x[k:k + 64]).double(), dim=-1)
        out.append(lp.gather(-1, y[k:k + 64, :, None])[..., 0].reshape(-1))
    rest = (len(s) - 1) - x.shape[0] * block
    if rest > 0:  # the last, shorter block
        a = x.shape[0] * block
        lp = F.log_softmax(model(s[None, a:a + rest]).double(), dim=-1)
        out.append(lp.gather(-1, s[None, a + 1:a + rest + 1, None])[..., 0].reshape(-1))
    return torch.cat(out).numpy() if out else np.zeros(0)


def sentence_logprobs(model: nn.Module, sentences: Sequence[Sequence[int]], block: int = 64, eos: int = 0
                      ) -> np.ndarray:
    """Per-sentence ``log p`` (natural log; its tokens plus its ``</s>``) of ``sentences`` (id lists) read as one
    stream ``</s> s_1 </s> s_2 …`` in ``block``-token blocks; float64 ``(len(sentences),)``."""
    stream, owner = make_stream(sentences, eos)
    lp = token_logprobs(model, stream, block)
    return np.bincount(owner[1:], weights=lp, minlength=len(sentences))


def corpus_perplexity(logprobs: np.ndarray | Sequence[float], n_tokens: int) -> float:
    """``exp(−Σ log p / n_tokens)`` over a corpus (natural-log sentence log-probabilities)."""
    if n_tokens <= 0:
        raise ValueError(f"n_tokens must be > 0, got {n_tokens}")
    return float(np.exp(-np.sum(logprobs) / n_tokens))


__all__ = ["LSTMLM", "TransformerLM", "corpus_perplexity", "inverse_sqrt_lr", "make_stream", "sentence_logprobs",
           "sinusoidal_positions", "token_logprobs", "train_lm"]
