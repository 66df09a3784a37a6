"""Stages 2–3 of the attack: membership-inference scores, deduplication and candidate selection.

With log P the natural log of a text's perplexity, i.e. its *mean* per-token NLL in nats (Carlini et al. 2021,
§5.2; larger score = more likely memorised, sorted descending as in the official code):

    perplexity = −log P_T                   small  = log P_S / log P_T        medium = log P_M / log P_T
    zlib       = Z / log P_T                lowercase = log P_low / log P_T
    window     = −min_W (1/w) Σ_{i∈W} NLL_i   (w consecutive tokens, stride 1)

Z = ``len(zlib.compress(text.encode()))`` bytes. log P is clipped at ≥ 1e-6 before dividing. Every text is scored
with the BOS token prepended so its first token is predicted too, identically for every score.

Dedup (§5.3): s1 duplicates s2 if |tri(s1) ∩ tri(s2)| ≥ |tri(s1)| / 2 over word-trigram multisets.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

__all__ = [
    "SCORES",
    "duplicate_rate",
    "log_perplexity",
    "score_samples",
    "select_candidates",
    "token_nlls",
    "trigram_dedup",
    "trigrams",
    "window_min_log_ppl",
    "zlib_entropy",
]

SCORES = ("perplexity", "small", "medium", "zlib", "lowercase", "window")
_EPS = 1e-6


@torch.no_grad()
def token_nlls(model, tokenizer, texts: Sequence[str], add_bos: bool = True, batch_size: int = 64,
               progress: Callable | None = None) -> list[np.ndarray]:
    """Per-token NLL (nats) of each text under ``model``: a list of arrays of length n_tokens (padding-safe).

    Texts are right-padded in batches with an attention mask; padded positions never enter the NLL. With
    ``add_bos`` the BOS token is prepended and the first real token is scored too. A text longer than the model's
    context (``config.n_positions`` / ``max_position_embeddings``) is truncated to it: only its first n_ctx tokens
    (BOS included) are scored.
    """
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (bos if bos is not None else 0)
    encs = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    if add_bos:
        if bos is None:
            raise ValueError("add_bos=True but the tokenizer has no BOS/EOS token")
        encs = [[bos, *e] for e in encs]
    cfg = getattr(model, "config", None)
    n_ctx = getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", None)
    if n_ctx:
        encs = [e[:n_ctx] for e in encs]
    out: list[np.ndarray] = [np.zeros(0)] * len(encs)
    order = sorted(range(len(encs)), key=lambda i: len(encs[i]))  # similar lengths per batch: less padding
    batches = range(0, len(order), batch_size)
    if progress is not None:
        batches = progress(batches, total=len(batches), desc="score")
    model.eval()
    for s in batches:
        idx = order[s:s + batch_size]
        L = max(len(encs[i]) for i in idx)
        if L < 2:
            for i in idx:
                out[i] = np.zeros(0)
            continue
        ids = torch.full((len(idx), L), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), L), dtype=torch.long)
        for r, i in enumerate(idx):
            ids[r, : len(encs[i])] = torch.tensor(encs[i])
            mask[r, : len(encs[i])] = 1
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        # NLL_i = −log f(x_i | x_<i) for i = 1..L−1
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
        for r, i in enumerate(idx):
            out[i] = nll[r, : len(encs[i]) - 1].numpy().astype(np.float64)
    return out


def log_perplexity(nll: np.ndarray) -> float:
    """log P = mean per-token NLL (nats); NaN for an empty text."""
    nll = np.asarray(nll, dtype=np.float64)
    return float(nll.mean()) if nll.size else float("nan")


def zlib_entropy(text: str) -> int:
    """Z = bytes of ``zlib.compress(text.encode("utf-8"))`` at the default level."""
    return len(zlib.compress(text.encode("utf-8")))


def window_min_log_ppl(nll: np.ndarray, window: int = 50) -> float:
    """min over windows of ``window`` consecutive tokens (stride 1) of the mean NLL; whole text if shorter."""
    nll = np.asarray(nll, dtype=np.float64)
    if nll.size == 0:
        return float("nan")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if nll.size <= window:
        return float(nll.mean())
    c = np.concatenate([[0.0], np.cumsum(nll)])
    return float(((c[window:] - c[:-window]) / window).min())


def score_samples(texts: Sequence[str], target, tokenizer, reference_models: Mapping[str, object] | None = None,
                  window: int = 50, batch_size: int = 64, progress: Callable | None = None) -> pd.DataFrame:
    """Score every text with the paper's membership metrics: a ``pandas.DataFrame`` with one row per text.

    Raw columns: ``text``, ``ppl`` (log P_T), ``ppl_<ref>`` per reference model, ``ppl_lower`` (log P of the
    lower-cased text under the target), ``zlib`` (bytes), ``window`` (min windowed log-perplexity). Ranking
    columns (larger = more likely memorised) are ``score_<name>`` for ``perplexity``, ``zlib``, ``lowercase``,
    ``window`` and one per reference model under its dict key (``score_small``, ``score_medium``): the spec's six
    scores (:data:`SCORES`) without clashing with the raw ``zlib`` and ``window`` columns.
    """
    reference_models = dict(reference_models or {})
    nll_t = token_nlls(target, tokenizer, texts, batch_size=batch_size, progress=progress)
    nll_low = token_nlls(target, tokenizer, [t.lower() for t in texts], batch_size=batch_size)
    df = pd.DataFrame({"text": list(texts)})
    df["ppl"] = [log_perplexity(x) for x in nll_t]
    df["ppl_lower"] = [log_perplexity(x) for x in nll_low]
    df["zlib"] = [zlib_entropy(t) for t in texts]
    df["window"] = [window_min_log_ppl(x, window) for x in nll_t]
    logp = df["ppl"].clip(lower=_EPS)
    for name, ref in reference_models.items():
        nll_r = token_nlls(ref, tokenizer, texts, batch_size=batch_size)
        df[f"ppl_{name}"] = [log_perplexity(x) for x in nll_r]
        df[f"score_{name}"] = df[f"ppl_{name}"] / logp
    df["score_perplexity"] = -df["ppl"]
    df["score_zlib"] = df["zlib"] / logp
    df["score_lowercase"] = df["ppl_lower"] / logp
    df["score_window"] = -df["window"]
    return df


_WORD = re.compile(r"\w+")


def trigrams(text: str) -> Counter:
    """Multiset of word trigrams (words split on whitespace and punctuation)."""
    w = _WORD.findall(text)
    return Counter(zip(w, w[1:], w[2:]))


def _is_dup(t1: Counter, t2: Counter, threshold: float) -> bool:
    n1 = sum(t1.values())
    if n1 == 0:
        return False
    inter = sum((t1 & t2).values())
    return inter >= threshold * n1


def trigram_dedup(texts: Sequence[str], order: Sequence[int] | None = None, threshold: float = 0.5) -> list[int]:
    """Greedy dedup in rank ``order`` (default: the given order): indices of kept texts, in that order.

    A text is dropped if it duplicates an already kept one: |tri(s) ∩ tri(kept)| ≥ threshold·|tri(s)| (s's own
    trigram count — the asymmetric rule).
    """
    order = list(range(len(texts))) if order is None else list(order)
    tris = {i: trigrams(texts[i]) for i in order}
    kept: list[int] = []
    for i in order:
        if not any(_is_dup(tris[i], tris[j], threshold) for j in kept):
            kept.append(i)
    return kept


def duplicate_rate(texts: Sequence[str], threshold: float = 0.5) -> float:
    """Fraction of texts that duplicate an earlier text (greedy dedup in the given order)."""
    if not texts:
        return float("nan")
    return 1.0 - len(trigram_dedup(texts, threshold=threshold)) / len(texts)


def select_candidates(df: pd.DataFrame, metric: str, k: int = 100, pool: int = 1000, dedup: bool = True) -> list[int]:
    """Row positions of the top ``k`` samples by ``metric`` (descending), taken from the top ``pool`` after greedy
    trigram dedup in rank order (the paper: 100 from the top 1,000)."""
    col = metric if metric in df.columns and metric.startswith("score_") else f"score_{metric}"
    if col not in df.columns:
        known = [c[6:] for c in df.columns if c.startswith("score_")]
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(known)}")
    vals = df[col].to_numpy(dtype=np.float64)
    vals = np.where(np.isfinite(vals), vals, -np.inf)
    ranked = list(np.argsort(-vals, kind="stable")[:pool])
    if dedup:
        ranked = trigram_dedup(df["text"].tolist(), order=ranked)
    return [int(i) for i in ranked[:k]]
