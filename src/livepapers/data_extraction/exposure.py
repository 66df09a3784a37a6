"""Secret Sharer exposure (Carlini et al. 2019), the graded memorisation measure of planted canaries.

For a canary s[r] = prefix + r with r drawn from the randomness space R (here all 10^6 six-digit strings), the
log-perplexity is the *summed* NLL in bits of the whole filled string, and

    exposure(s[r]) = log2 |R| − log2 rank(s[r]),     rank 1 = the lowest log-perplexity in R.

Estimators (as in tensorflow-privacy ``secret_sharer/exposures.py``):

* interpolation: M random non-inserted references with the same prefix; rank = 1 + #references with a lower
  log-perplexity; exposure = log2 M − log2 rank (saturates at log2 M). E[exposure] of a random never-inserted canary
  is log2 M − log2((M+1)!)/(M+1) (1.428 bits for M = 500);
* extrapolation: a skew-normal fitted to the references' log-perplexities, exposure = −log2 CDF(x) computed as
  −logcdf(x)/ln 2 and clipped to [0, log2 |R|] (the fitted tail underflows far below the references);
* exact: the rank over all of R from the model's digit-tree distributions (one forward pass over the 10^(n−1)
  prefixes of length n−1 digits) — feasible for a small model, too slow for the default profile at n = 6.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from scipy import stats

from .metrics import token_nlls

__all__ = [
    "canary_log_perplexity",
    "expected_interpolation_exposure",
    "exposure_exact",
    "exposure_extrapolation",
    "exposure_interpolation",
    "random_secrets",
]

LN2 = math.log(2.0)


def random_secrets(n: int, generator: torch.Generator, n_digits: int = 6, exclude: Sequence[str] = ()) -> list[str]:
    """``n`` distinct uniformly random ``n_digits``-digit strings not in ``exclude`` (the references)."""
    space = 10**n_digits
    if n > space - len(set(exclude)):
        raise ValueError(f"cannot draw {n} distinct references from {space} strings minus {len(set(exclude))}")
    out: list[str] = []
    seen = set(exclude)
    while len(out) < n:
        for v in torch.randint(0, space, (2 * (n - len(out)),), generator=generator).tolist():
            s = str(v).zfill(n_digits)
            if s not in seen:
                seen.add(s)
                out.append(s)
                if len(out) == n:
                    break
    return out


@torch.no_grad()
def canary_log_perplexity(model, tokenizer, prefix: str, secrets: Sequence[str], batch_size: int = 512
                          ) -> np.ndarray:
    """Summed NLL in bits of each filled string ``prefix + secret`` (BOS prepended): shape ``(len(secrets),)``.

    The whole filled string is tokenised and scored — never prefix and secret tokenised separately. When every
    filled string starts with the prefix's own tokens and has the same length (a digit-splitting tokenizer), the
    prefix is run once and its KV cache shared by the fillings (same sums, fewer forwards); otherwise every string
    is scored in full.
    """
    secrets = list(secrets)
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    pre = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    fulls = tokenizer([prefix + s for s in secrets], add_special_tokens=False)["input_ids"]
    shared = (bos is not None and len(pre) > 0 and len({len(f) for f in fulls}) == 1
              and all(f[:len(pre)] == pre for f in fulls) and len(fulls[0]) > len(pre))
    if not shared:
        nll = token_nlls(model, tokenizer, [prefix + s for s in secrets], batch_size=batch_size)
        return np.array([x.sum() / LN2 for x in nll], dtype=np.float64)
    model.eval()
    base = torch.tensor([[bos, *pre]], dtype=torch.long)
    out = model(input_ids=base, use_cache=True)
    logits_pre = out.logits[0].double()
    # NLL of the prefix tokens (constant over fillings) and the distribution of the first secret token
    pre_nll = float(torch.nn.functional.cross_entropy(logits_pre[:-1], base[0, 1:], reduction="sum"))
    first_lp = torch.log_softmax(logits_pre[-1], -1)
    suffix = torch.tensor([f[len(pre):] for f in fulls], dtype=torch.long)  # (n, S)
    totals = np.empty(len(secrets), dtype=np.float64)
    for s in range(0, len(secrets), batch_size):
        suf = suffix[s:s + batch_size]
        b = suf.shape[0]
        cache = _expand_cache(getattr(out, "cache", None) or out.past_key_values, b)
        mask = torch.ones((b, base.shape[1] + suf.shape[1]), dtype=torch.long)
        logits = model(input_ids=suf, attention_mask=mask, use_cache=True,
                       **{_cache_kw(model): cache}).logits.double()
        lp = torch.log_softmax(logits[:, :-1], -1).gather(-1, suf[:, 1:, None])[..., 0].sum(1)
        lp = lp + first_lp[suf[:, 0]]
        totals[s:s + b] = (pre_nll - lp.numpy()) / LN2
    return totals


def _cache_kw(model) -> str:
    """The forward keyword of the KV cache: ``cache`` in recent transformers, ``past_key_values`` before."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _expand_cache(cache, b: int):
    """A copy of a batch-1 KV cache repeated to batch ``b``."""
    import copy

    c = copy.deepcopy(cache)
    c.batch_repeat_interleave(b)
    return c


def exposure_interpolation(scores_by_count: Mapping[int, np.ndarray], reference_scores: np.ndarray
                           ) -> dict[int, np.ndarray]:
    """Exposure by rank among the M references: log2 M − log2(1 + #references with a lower log-perplexity).

    ``scores_by_count``: insertion count → canary log-perplexities (bits); returns the same keys → exposures.
    """
    ref = np.sort(np.asarray(reference_scores, dtype=np.float64))
    m = ref.size
    if m == 0:
        raise ValueError("exposure_interpolation needs at least one reference score")
    return {c: math.log2(m) - np.log2(1 + np.searchsorted(ref, np.asarray(v, np.float64), side="left"))
            for c, v in scores_by_count.items()}


def fit_skewnorm(reference_scores: np.ndarray) -> tuple[float, float, float]:
    """Maximum-likelihood skew-normal ``(a, loc, scale)`` of the reference log-perplexities."""
    ref = np.asarray(reference_scores, dtype=np.float64)
    if ref.size < 3 or np.ptp(ref) == 0:
        raise ValueError("the skew-normal fit needs >= 3 distinct reference scores")
    a0 = float(stats.skew(ref))
    return tuple(float(x) for x in stats.skewnorm.fit(ref, a0, loc=float(ref.mean()), scale=float(ref.std())))


def exposure_extrapolation(scores_by_count: Mapping[int, np.ndarray], reference_scores: np.ndarray,
                           log2_space: float = 6 * math.log2(10), params: tuple[float, float, float] | None = None
                           ) -> dict[int, np.ndarray]:
    """Exposure −log2 CDF(x) under a skew-normal fitted to the references, clipped to [0, ``log2_space``]."""
    a, loc, scale = params if params is not None else fit_skewnorm(reference_scores)
    out = {}
    for c, v in scores_by_count.items():
        e = -stats.skewnorm.logcdf(np.asarray(v, np.float64), a, loc=loc, scale=scale) / LN2
        out[c] = np.clip(np.nan_to_num(e, nan=log2_space, posinf=log2_space), 0.0, log2_space)
    return out


def expected_interpolation_exposure(m: int) -> float:
    """E[exposure] of a never-inserted canary under interpolation with M references: log2 M − log2((M+1)!)/(M+1)."""
    return math.log2(m) - math.lgamma(m + 2) / LN2 / (m + 1)


@torch.no_grad()
def exposure_exact(model, tokenizer, prefix: str, secret: str, batch_size: int = 1000) -> float:
    """Exact exposure of ``prefix + secret`` over all 10^n fillings of its n digits (rank 1 = most likely).

    Needs a tokenizer with one token per digit and a prefix that tokenises identically before every filling.
    """
    n = len(secret)
    if n < 1 or not secret.isdigit():
        raise ValueError(f"secret must be a non-empty digit string, got {secret!r}")
    digit_ids = [tokenizer.convert_tokens_to_ids(str(d)) for d in range(10)]
    pre = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    full = tokenizer(prefix + secret, add_special_tokens=False)["input_ids"]
    if full != pre + [digit_ids[int(d)] for d in secret]:
        raise ValueError("the tokenizer does not split the secret into one token per digit after an unchanged "
                         "prefix; exact exposure needs a digit-splitting tokenizer")
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    base = torch.tensor(([bos] if bos is not None else []) + pre, dtype=torch.long)
    P = base.numel()
    dig = torch.tensor(digit_ids, dtype=torch.long)
    n_seq = 10 ** (n - 1)
    # all (n−1)-digit continuations: their logits give the distribution at every internal node of the digit tree
    codes = torch.arange(n_seq)
    cols = [(codes // 10 ** (n - 2 - t)) % 10 for t in range(n - 1)]
    tails = torch.stack(cols, 1) if cols else torch.zeros((1, 0), dtype=torch.long)
    lp = torch.empty((n_seq, n, 10), dtype=torch.float64)  # log p(digit | prefix + first t digits)
    model.eval()
    for s in range(0, n_seq, batch_size):
        t = tails[s:s + batch_size]
        ids = torch.cat([base.expand(t.shape[0], P), dig[t]], 1)
        logits = model(input_ids=ids).logits[:, P - 1:, :].double()
        lp[s:s + t.shape[0]] = torch.log_softmax(logits, -1)[:, :, dig]
    total = torch.zeros(1, dtype=torch.float64)
    for t in range(n):
        node_rows = torch.arange(10**t) * 10 ** (n - 1 - t) if t < n - 1 else torch.arange(n_seq)
        A = lp[node_rows, t, :]  # (10^t, 10)
        total = (total[:, None] + A).reshape(-1)
    target = total[int(secret)]
    rank = 1 + int((total > target).sum())
    return n * math.log2(10) - math.log2(rank)
