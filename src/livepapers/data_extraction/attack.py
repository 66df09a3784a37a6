"""Stage 1 of the attack: generate many samples from the target model (Carlini et al. 2021, §5.1 and §6.1).

Three strategies, all KV-cached through ``model.generate`` on equal-length (left-padded) prompt batches:

* ``top_n``: start from the start-of-text token alone and sample with the n = ``top_k`` most likely tokens kept;
* ``temperature_decay``: sample from softmax(z / t_j) with t_j = max(t_end, t_start − (t_start − t_end)·j/decay)
  for the j-th *generated* token (j = 0, 1, …), untruncated by default (``top_k=None`` → HF ``top_k=0``);
  implemented as a logits processor keyed on the number of generated tokens, with ``generate``'s own
  temperature left at 1.0;
* ``internet``: prompts of ``prompt_tokens`` tokens cut from held-out text, then top-n sampling.

Works with any Hugging Face causal LM and its tokenizer (BOS = the model's start/end-of-text token).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from transformers import LogitsProcessor, LogitsProcessorList

__all__ = ["STRATEGIES", "TemperatureDecay", "cut_prompts", "generate_samples", "greedy_complete"]

STRATEGIES = ("top_n", "temperature_decay", "internet")


class TemperatureDecay(LogitsProcessor):
    """Divide the logits by t_j = max(t_end, t_start − (t_start − t_end)·j / decay_tokens), j = generated tokens.

    ``prompt_len`` is the (padded) prompt length, so j counts generated tokens, not absolute positions.
    """

    def __init__(self, prompt_len: int, t_start: float = 10.0, t_end: float = 1.0, decay_tokens: int = 20) -> None:
        if t_start < t_end or t_end <= 0 or decay_tokens < 1:
            raise ValueError(f"need t_start >= t_end > 0 and decay_tokens >= 1, got {t_start}, {t_end}, "
                             f"{decay_tokens}")
        self.prompt_len, self.t_start, self.t_end, self.decay = prompt_len, t_start, t_end, decay_tokens

    def temperature(self, j: int) -> float:
        return max(self.t_end, self.t_start - (self.t_start - self.t_end) * j / self.decay)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        j = input_ids.shape[1] - self.prompt_len
        return scores / self.temperature(j)


def _bos_id(tokenizer) -> int:
    for t in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if t is not None:
            return int(t)
    raise ValueError("the tokenizer has neither a BOS nor an EOS token to start generation from")


def _pad_id(tokenizer) -> int:
    return int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else _bos_id(tokenizer))


def cut_prompts(texts: Sequence[str], tokenizer, n: int, prompt_tokens: int, generator: torch.Generator
                ) -> list[str]:
    """``n`` prompts of ``prompt_tokens`` tokens cut at random positions from ``texts`` (the "Internet" scrape)."""
    encs = [e for e in tokenizer(list(texts), add_special_tokens=False)["input_ids"] if len(e) > prompt_tokens]
    if not encs:
        raise ValueError(f"no text is longer than prompt_tokens={prompt_tokens} tokens")
    lens = torch.tensor([len(e) - prompt_tokens for e in encs], dtype=torch.float64)
    docs = torch.multinomial(lens, n, replacement=True, generator=generator).tolist()  # ∝ positions available
    out = []
    for d in docs:
        start = int(torch.randint(0, len(encs[d]) - prompt_tokens + 1, (1,), generator=generator))
        out.append(tokenizer.decode(encs[d][start:start + prompt_tokens]))
    return out


def _encode_prompts(tokenizer, prompts: Sequence[str], prompt_tokens: int | None, add_bos: bool
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ``(B, L)`` ids and attention mask; each prompt truncated to its first ``prompt_tokens``."""
    bos, pad = _bos_id(tokenizer), _pad_id(tokenizer)
    encs = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    rows = [([bos] if add_bos else []) + (e[:prompt_tokens] if prompt_tokens else e) for e in encs]
    L = max(len(r) for r in rows)
    ids = torch.full((len(rows), L), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), L), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, L - len(r):] = torch.tensor(r, dtype=torch.long)
        mask[i, L - len(r):] = 1
    return ids, mask


@torch.no_grad()
def generate_samples(model, tokenizer, n: int, *, strategy: str = "top_n", max_new_tokens: int = 256,
                     top_k: int | None = 40, t_start: float = 10.0, t_end: float = 1.0, decay_tokens: int = 20,
                     prompts: Sequence[str] | None = None, prompt_tokens: int = 10, batch_size: int = 32,
                     generator: torch.Generator | None = None, progress: Callable | None = None) -> list[str]:
    """Draw ``n`` samples of ``max_new_tokens`` new tokens with one of the paper's strategies.

    ``prompts``: for ``internet``, the prompt texts (the first ``prompt_tokens`` tokens of each are used, cycling
    if fewer than ``n``); for the other strategies an optional fixed prompt per sample (default: BOS alone).
    ``top_k=None`` means no truncation. Returns the decoded texts (prompt included, special tokens dropped).
    Sampling randomness comes from ``generator`` (one draw seeds each batch).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    if n < 1 or max_new_tokens < 1 or batch_size < 1:
        raise ValueError(f"n, max_new_tokens and batch_size must be >= 1, got {n}, {max_new_tokens}, {batch_size}")
    if strategy == "internet" and not prompts:
        raise ValueError("strategy 'internet' needs prompts (text cut from a held-out scrape)")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    model.eval()
    out: list[str] = []
    batches = range(0, n, batch_size)
    if progress is not None:
        batches = progress(batches, total=len(batches), desc=f"generate {strategy}")
    for start in batches:
        b = min(batch_size, n - start)
        if prompts:
            chosen = [prompts[(start + i) % len(prompts)] for i in range(b)]
            ids, mask = _encode_prompts(tokenizer, chosen, prompt_tokens if strategy == "internet" else None,
                                        add_bos=True)
        else:
            ids = torch.full((b, 1), _bos_id(tokenizer), dtype=torch.long)
            mask = torch.ones_like(ids)
        kwargs = dict(do_sample=True, max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens,
                      top_p=1.0, temperature=1.0, pad_token_id=_pad_id(tokenizer), eos_token_id=None)
        if strategy == "temperature_decay":
            kwargs["logits_processor"] = LogitsProcessorList([TemperatureDecay(ids.shape[1], t_start, t_end,
                                                                               decay_tokens)])
        kwargs["top_k"] = 0 if top_k is None else int(top_k)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            gen = model.generate(input_ids=ids, attention_mask=mask, **kwargs)
        out += tokenizer.batch_decode(gen, skip_special_tokens=True)
    return out


@torch.no_grad()
def greedy_complete(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 8, batch_size: int = 64
                    ) -> list[str]:
    """Greedy (arg-max) continuation of each prompt (BOS prepended); returns only the new text."""
    out: list[str] = []
    for s in range(0, len(prompts), batch_size):
        ids, mask = _encode_prompts(tokenizer, prompts[s:s + batch_size], None, add_bos=True)
        gen = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=max_new_tokens,
                             pad_token_id=_pad_id(tokenizer), eos_token_id=None)
        out += tokenizer.batch_decode(gen[:, ids.shape[1]:], skip_special_tokens=True)
    return out
