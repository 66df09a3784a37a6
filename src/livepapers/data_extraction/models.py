"""The digit-splitting byte-level BPE tokenizer and the small GPT-2-architecture models trained on the corpus.

Tokenizer (spec, "Tokenizer and models"): byte-level BPE (vocab 2,048) with pre-tokenizer
``Sequence([Digits(individual_digits=True), ByteLevel(add_prefix_space=False)])``: every digit is its own token, so
a 6-digit secret is exactly 6 tokens and a canary prefix tokenises identically for all 10^6 fillings; lower-cased
text is always encodable (byte level). ``<|endoftext|>`` is BOS, EOS and pad.

Training: documents joined with EOS and cut into 128-token rows; AdamW, ``warmup`` linear steps then cosine to 0,
weight decay 0.01, ``batch_size`` rows (the spec's 32; the default profile uses 4, see the README's Deviations); the
row order of each epoch comes from ``generator`` (so models of different
sizes trained with equal generators see the same data in the same order).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

__all__ = ["EOS", "MODEL_SIZES", "bigram_nll", "gpt2_config", "make_rows", "train_bpe_tokenizer", "train_small_gpt"]

EOS = "<|endoftext|>"

# (n_layer, n_embd, n_head) of the spec's three sizes
MODEL_SIZES: dict[str, tuple[int, int, int]] = {"large": (4, 160, 4), "medium": (2, 128, 4), "small": (1, 64, 2)}


def train_bpe_tokenizer(texts: Sequence[str], vocab_size: int = 2048, split_digits: bool = True
                        ) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``texts``; returns a HF fast tokenizer (BOS = EOS = pad = ``<|endoftext|>``)."""
    if vocab_size < 300:
        raise ValueError(f"vocab_size must be >= 300 (256 bytes + merges), got {vocab_size}")
    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
                         if split_digits else byte_level)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, pad_token=EOS,
                                   unk_token=EOS, model_max_length=10**9)


def make_rows(docs: Sequence[str], tokenizer: PreTrainedTokenizerFast, seq_len: int = 128) -> torch.Tensor:
    """Documents joined with EOS (one before each) and cut into rows: ``(n_rows, seq_len)`` int64.

    The tail shorter than a row is dropped.
    """
    eos = tokenizer.convert_tokens_to_ids(EOS)
    ids: list[int] = []
    for enc in tokenizer(list(docs), add_special_tokens=False)["input_ids"]:
        ids.append(eos)
        ids.extend(enc)
    n = len(ids) // seq_len
    return torch.tensor(ids[: n * seq_len], dtype=torch.long).view(n, seq_len)


def gpt2_config(size: str | tuple[int, int, int], vocab_size: int, n_positions: int = 128) -> GPT2Config:
    """A ``GPT2Config`` of one of the spec's sizes ("large" 4×160×4, "medium" 2×128×4, "small" 1×64×2) or an
    explicit ``(n_layer, n_embd, n_head)``; all dropouts 0, tied embeddings."""
    if isinstance(size, str):
        if size not in MODEL_SIZES:
            raise ValueError(f"unknown model size {size!r}; known: {', '.join(MODEL_SIZES)}")
        size = MODEL_SIZES[size]
    n_layer, n_embd, n_head = size
    if n_embd % n_head:
        raise ValueError(f"n_embd={n_embd} must be divisible by n_head={n_head}")
    return GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
                      n_head=n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0,
                      eos_token_id=0, pad_token_id=0, tie_word_embeddings=True)


def train_small_gpt(rows: torch.Tensor, tokenizer: PreTrainedTokenizerFast, gpt2_config: GPT2Config, epochs: int,
                    lr: float, generator: torch.Generator, *, batch_size: int = 32, warmup: int = 20,
                    weight_decay: float = 0.01, max_grad_norm: float | None = None,
                    betas: tuple[float, float] = (0.9, 0.999), progress: Callable | None = None,
                    on_step: Callable[[int, float], None] | None = None) -> GPT2LMHeadModel:
    """Train a ``GPT2LMHeadModel`` on ``rows`` ``(n_rows, T)`` for ``epochs`` epochs (next-token cross-entropy).

    ``max_grad_norm``: clip the global gradient norm to it before each step (None: no clipping, the spec's recipe);
    ``betas``: AdamW's (β1, β2). The initial weights and the per-epoch row order are drawn from ``generator``.
    ``on_step(step, loss)`` sees the
    training loss of every step (for learning curves). Raises ``FloatingPointError`` on a non-finite loss.
    """
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise ValueError(f"rows must be a non-empty (n_rows, seq_len) tensor, got shape {tuple(rows.shape)}")
    if rows.shape[1] > gpt2_config.n_positions:
        raise ValueError(f"rows of length {rows.shape[1]} exceed n_positions={gpt2_config.n_positions}")
    del tokenizer  # the rows are already token ids; kept in the signature for the spec's API
    init_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        model = GPT2LMHeadModel(gpt2_config)
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=betas)
    n = rows.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    step = 0
    it = range(total)
    bar = progress(it, total=total, desc=f"train {gpt2_config.n_layer}x{gpt2_config.n_embd}") if progress else None
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for b in range(steps_per_epoch):
            # linear warm-up for `warmup` steps, then cosine to 0
            f = (step + 1) / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * (step - warmup)
                                                                               / max(1, total - warmup)))
            for gr in opt.param_groups:
                gr["lr"] = lr * f
            batch = rows[order[b * batch_size:(b + 1) * batch_size]]
            loss = model(input_ids=batch, labels=batch).loss
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss is {loss.item()} at step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            opt.step()
            if on_step is not None:
                on_step(step, float(loss.detach()))
            step += 1
            if bar is not None:
                next(bar, None)
    if bar is not None:
        for _ in bar:
            pass
    model.eval()
    return model


def bigram_nll(train_rows: torch.Tensor, eval_rows: torch.Tensor, vocab_size: int) -> float:
    """Mean token NLL (nats) on ``eval_rows`` of a count bigram model of ``train_rows`` — the "model learned" floor.

    ``train_rows``, ``eval_rows``: (n, T) token ids, the same rows the GPTs train on / are evaluated on; like the
    GPT's loss, token t of a row is predicted from token t − 1 of the same row (positions 1..T−1). Smoothing:
    Witten–Bell interpolation, which has no free parameter (nothing is tuned on the held-out rows):
    P(w | v) = (c(v, w) + T(v)·P₁(w)) / (c(v) + T(v)), T(v) = distinct successors of v, P₁ the add-one unigram over
    the ``vocab_size`` tokens; a v never seen as a predecessor backs off to P₁.
    """
    V = int(vocab_size)
    tr = train_rows.long()
    if int(tr.max()) >= V or int(eval_rows.max()) >= V:
        raise ValueError(f"token id >= vocab_size {V}")
    prev, nxt = tr[:, :-1].reshape(-1), tr[:, 1:].reshape(-1)
    pair = torch.bincount(prev * V + nxt, minlength=V * V).reshape(V, V).double()
    uni = torch.bincount(nxt, minlength=V).double()
    p1 = (uni + 1.0) / (uni.sum() + V)
    c_v = pair.sum(1)
    t_v = (pair > 0).sum(1).double()
    ev = eval_rows.long()
    a, b = ev[:, :-1].reshape(-1), ev[:, 1:].reshape(-1)
    denom = c_v[a] + t_v[a]
    p = torch.where(denom > 0, (pair[a, b] + t_v[a] * p1[b]) / denom.clamp(min=1.0), p1[b])
    return float(-torch.log(p).mean())
