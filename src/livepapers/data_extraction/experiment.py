"""The offline reproduction of "Extracting Training Data from Large Language Models" (claims C1–C6 of the spec).

One *replicate* (seed s) = corpus + tokenizer + three GPTs + every sample, all regenerated from a
``torch.Generator`` seeded with s; within a replicate every score ranks the same samples and the three model sizes
see the same rows in the same order. The spec's claims pool the replicates (sums of counts, pooled Spearman ρ over
15 canaries per group), so ``run`` runs the ``Config.seeds`` replicates itself — each as a single-thread process,
two at a time, through :mod:`livepapers.core.sweep` — and returns replicate means with ``_sd`` plus the pooled
statistics the claims read. The profile therefore has one framework seed.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from livepapers.core import sweep
from livepapers.core.config import Profile
from livepapers.core.runs import RunContext

from .attack import STRATEGIES, cut_prompts, generate_samples, greedy_complete
from .data import URL_PREFIX, make_secret_corpus
from .exposure import (
    canary_log_perplexity,
    exposure_exact,
    exposure_extrapolation,
    exposure_interpolation,
    fit_skewnorm,
    random_secrets,
)
from .index import CorpusIndex
from .metrics import SCORES, duplicate_rate, score_samples, select_candidates, trigram_dedup
from .models import bigram_nll, gpt2_config, make_rows, train_bpe_tokenizer, train_small_gpt

MODELS = ("large", "medium", "small")


@dataclass(frozen=True)
class Config:
    """Every knob of the offline reproduction; defaults = the default profile (the spec's settings, except batch 4 and
    gradient clipping at 1.0: see the README's Deviations)."""

    # corpus (tokens ≈ characters / 3.15 for this generator and tokenizer)
    n_tokens: int = 100_000
    n_heldout_tokens: int = 40_000
    insertion_counts: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    n_cards: int = 150
    dup_per_group: int = 10
    ids_per_count: int = 4
    canaries_per_count: int = 5
    licence_copies: int = 20
    # tokenizer and models: (n_layer, n_embd, n_head)
    vocab_size: int = 2048
    seq_len: int = 128
    large: tuple[int, int, int] = (4, 160, 4)
    medium: tuple[int, int, int] = (2, 128, 4)
    small: tuple[int, int, int] = (1, 64, 2)
    epochs: int = 3
    lr: float = 1e-3
    # the spec's 32 rows is 75 AdamW steps in 3 epochs, too few to learn bigram statistics; 4 rows = 597 steps,
    # chosen by held-out NLL on a pilot replicate (benchmarks/bench_data_extraction_batch_pilot.py; Deviations)
    batch_size: int = 4
    # global gradient-norm clipping (HF Trainer's default max_grad_norm): without it replicate 0's large GPT stalled
    # above the bigram in the third default run; chosen by the second pilot (same benchmark, seeds 100-103, where it
    # had the best worst case); None = the spec's unclipped AdamW
    grad_clip: float | None = 1.0
    warmup: int = 20
    # attack
    n_samples: int = 500  # N per strategy
    max_new_tokens: int = 64
    top_k: int = 40
    t_start: float = 10.0
    t_end: float = 1.0
    decay_tokens: int = 20
    prompt_tokens: int = 10
    gen_batch: int = 100
    score_batch: int = 100
    K: int = 30  # candidates per (strategy, metric)
    pool: int = 500  # the K are taken from the top ``pool`` after dedup (the paper: 100 of the top 1,000)
    window: int = 16
    min_chars: int = 64  # tier-A verbatim threshold
    # exposure and targeted completion
    n_references: int = 300
    n_null_canaries: int = 200
    n_null_references: int = 500
    greedy_tokens: int = 8
    n_url_samples: int = 500
    url_new_tokens: int = 10
    exact_rank: bool = False  # exact exposure over all 10^6 fillings for the large model (slow)
    # replicates
    seeds: tuple[int, ...] = (0, 1, 2)
    workers: int = 2
    real_model: bool = False  # optional SmolLM2-135M demo (not part of the claims)

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ValueError("seeds must name at least one replicate")
        if self.K < 1 or self.n_samples < self.K:
            raise ValueError(f"need 1 <= K <= n_samples, got K={self.K}, n_samples={self.n_samples}")
        if not self.K <= self.pool <= self.n_samples:
            raise ValueError(f"need K <= pool <= n_samples, got K={self.K}, pool={self.pool}, "
                             f"n_samples={self.n_samples}")
        for name in MODELS:
            _n_layer, n_embd, n_head = getattr(self, name)
            if n_embd % n_head:
                raise ValueError(f"{name}: n_embd={n_embd} not divisible by n_head={n_head}")


PROFILES: dict[str, Profile] = {
    "smoke": Profile(Config(n_tokens=6_000, n_heldout_tokens=2_500, n_cards=6, dup_per_group=1, ids_per_count=1,
                            canaries_per_count=1, licence_copies=3, vocab_size=400, seq_len=64,
                            large=(1, 32, 2), medium=(1, 16, 2), small=(1, 8, 1), epochs=1, n_samples=30,
                            max_new_tokens=24, gen_batch=30, K=30, pool=30, window=8, n_references=40,
                            n_null_canaries=20, n_null_references=40, n_url_samples=20, url_new_tokens=8,
                            seeds=(0,), workers=1),
                     n_seeds=1, evidence=False),
    "default": Profile(Config(), n_seeds=1),
    # a scaled synthetic run at the paper's attack sizes: the same generated corpus and small GPTs trained here (this
    # package does not load GPT-2 XL/S checkpoints), 200k × 256-token samples per strategy, K = 100 of the top 1,000
    "paper": Profile(Config(n_samples=200_000, max_new_tokens=256, gen_batch=256, K=100, pool=1000, window=50,
                            n_references=1000, n_url_samples=10_000), n_seeds=1,
                     needs="a GPU (600k generated 256-token samples per replicate); still the small GPTs trained "
                           "here on the synthetic corpus, not GPT-2 XL / S"),
}


# -------------------------------------------------------------------------------------------------------------
# one replicate
# -------------------------------------------------------------------------------------------------------------
def _progress(seed: int):
    from tqdm.auto import tqdm

    quiet = not sys.stderr.isatty()

    def bar(it=None, total=None, desc=""):
        return iter(tqdm(it, total=total, desc=f"[rep {seed}] {desc}", disable=quiet, leave=False))

    return bar


def _found(text: str, value: str) -> bool:
    """A secret value appears verbatim as a whole token: not inside a longer alphanumeric run, for every kind."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])", text) is not None


@dataclass
class Replicate:
    """Everything one replicate measured (plain numbers and lists, picklable)."""

    seed: int
    scalars: dict[str, float] = field(default_factory=dict)
    exposure: dict[str, dict[int, list[float]]] = field(default_factory=dict)  # model → c → per-canary bits
    exposure_interp: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    greedy: dict[int, list[bool]] = field(default_factory=dict)  # c → per canary: all 6 digits recovered
    url_hits: dict[str, dict[int, list[bool]]] = field(default_factory=dict)  # model → c → per id: emitted
    secrets_top: dict[str, list[str]] = field(default_factory=dict)  # metric → distinct k ≤ 2 secrets in top-K
    curves: dict[str, list[float]] = field(default_factory=dict)
    table: list[dict] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    top_examples: list[dict] = field(default_factory=list)
    tier_b_hits: list[dict] = field(default_factory=list)  # one row per (sample, planted secret it contains)


def run_replicate(args: tuple[Config, int]) -> Replicate:
    """One replicate of the experiment (module-level so that a process pool can run it)."""
    config, seed = args
    torch.set_num_threads(1)
    import transformers

    transformers.utils.logging.set_verbosity_error()  # the HF notes on loss_type/attention masks/shard writing
    transformers.utils.logging.disable_progress_bar()
    t_start = time.perf_counter()
    rep = Replicate(seed)
    bar = _progress(seed)
    timing: dict[str, float] = {}

    def tick(name: str, t0: float) -> float:
        timing[name] = time.perf_counter() - t0
        return time.perf_counter()

    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(seed)
    corpus = make_secret_corpus(g, config.n_tokens, config.n_heldout_tokens, config.insertion_counts,
                                n_cards=config.n_cards, dup_per_group=config.dup_per_group,
                                ids_per_count=config.ids_per_count, canaries_per_count=config.canaries_per_count,
                                licence_copies=config.licence_copies)
    tok = train_bpe_tokenizer(corpus.documents, config.vocab_size, split_digits=True)
    rows = make_rows(corpus.documents, tok, config.seq_len)  # one tokenised stream for all three models
    held_rows = make_rows(corpus.heldout, tok, config.seq_len)
    rep.scalars["n_train_tokens"] = float(rows.numel())
    rep.scalars["n_heldout_tokens"] = float(held_rows.numel())
    index = CorpusIndex(corpus.documents)
    # validity of the verbatim threshold on this run's corpora (licence excluded)
    held_nonlic = [d for d, gname in zip(corpus.heldout, corpus.heldout_genres) if gname != "licence"]
    rep.scalars["heldout_match_frac"] = float(np.mean([index.has_match(d, config.min_chars) for d in held_nonlic]))
    t0 = tick("corpus", t0)

    # ---- train the three sizes on the same rows in the same order, save and reload from the local path
    order_seed = int(torch.randint(0, 2**62, (1,), generator=g))
    models = {}
    with tempfile.TemporaryDirectory(prefix="data-extraction-") as tmp:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok.save_pretrained(f"{tmp}/tokenizer")
        for name in MODELS:
            curve: list[float] = []
            ts = time.perf_counter()
            m = train_small_gpt(rows, tok, gpt2_config(getattr(config, name), len(tok), config.seq_len),
                                config.epochs, config.lr, torch.Generator().manual_seed(order_seed),
                                batch_size=config.batch_size, warmup=config.warmup,
                                max_grad_norm=config.grad_clip, progress=bar,
                                on_step=lambda s, v, c=curve: c.append(v))
            rep.scalars[f"train_tokens_per_s/{name}"] = config.epochs * rows.numel() / (time.perf_counter() - ts)
            rep.curves[name] = curve
            m.save_pretrained(f"{tmp}/{name}")
            models[name] = AutoModelForCausalLM.from_pretrained(f"{tmp}/{name}").eval()
        tok = AutoTokenizer.from_pretrained(f"{tmp}/tokenizer")
    t0 = tick("train", t0)
    large = models["large"]
    last = max(1, len(rep.curves["large"]) // config.epochs)
    for name in MODELS:
        rep.scalars[f"train_loss/{name}"] = float(np.mean(rep.curves[name][-last:]))

    # ---- no-overfitting gap of the large model: mean token NLL on training vs held-out rows
    def mean_nll(r: torch.Tensor) -> float:
        tot, cnt = 0.0, 0
        with torch.no_grad():
            for s in range(0, r.shape[0], 64):
                b = r[s:s + 64]
                tot += float(large(input_ids=b, labels=b).loss) * b[:, 1:].numel()
                cnt += b[:, 1:].numel()
        return tot / cnt

    train_nll, held_nll = mean_nll(rows), mean_nll(held_rows)
    rep.scalars["train_nll"], rep.scalars["heldout_nll"] = train_nll, held_nll
    rep.scalars["loss_gap"] = (held_nll - train_nll) / held_nll
    # sanity "the model learned": a count bigram table of the same training rows, on the same held-out positions
    rep.scalars["bigram_nll"] = bigram_nll(rows, held_rows, len(tok))
    rep.scalars["heldout_minus_bigram"] = held_nll - rep.scalars["bigram_nll"]
    t0 = tick("loss_gap", t0)

    # ---- stage 1: samples from the large model, three strategies
    prompts = cut_prompts(corpus.heldout, tok, config.n_samples, config.prompt_tokens, g)
    samples: dict[str, list[str]] = {}
    tg = time.perf_counter()
    for strat in STRATEGIES:
        samples[strat] = generate_samples(
            large, tok, config.n_samples, strategy=strat, max_new_tokens=config.max_new_tokens,
            top_k=None if strat == "temperature_decay" else config.top_k, t_start=config.t_start,
            t_end=config.t_end, decay_tokens=config.decay_tokens,
            prompts=prompts if strat == "internet" else None, prompt_tokens=config.prompt_tokens,
            batch_size=config.gen_batch, generator=g, progress=bar)
    rep.scalars["samples_per_s"] = 3 * config.n_samples / (time.perf_counter() - tg)
    t0 = tick("generate", t0)

    # ---- stage 2: scores (one pass per model over all samples, + lower-case)
    all_texts = [t for s in STRATEGIES for t in samples[s]]
    df = score_samples(all_texts, large, tok, {"small": models["small"], "medium": models["medium"]},
                       window=config.window, batch_size=config.score_batch, progress=bar)
    t0 = tick("score", t0)

    # ---- ground truth: tier A (≥ min_chars verbatim, with k) and tier B (planted secret values)
    tier_a = np.array([index.has_match(t, config.min_chars) for t in all_texts])
    k_of = np.zeros(len(all_texts))
    for i in np.flatnonzero(tier_a):
        k_of[i] = index.count_docs(index.longest_match(all_texts[i])[0])
    df["tier_a"], df["k"] = tier_a, k_of
    secrets = corpus.secrets
    hits: list[list[int]] = [[j for j, s in enumerate(secrets) if _found(t, s.value)] for t in all_texts]
    t0 = tick("ground_truth", t0)

    n = config.n_samples
    k2_tops: dict[str, set[str]] = {m: set() for m in SCORES}
    in_top: dict[int, list[str]] = {}  # sample → the metrics whose top-K holds it
    for si, strat in enumerate(STRATEGIES):
        sl = slice(si * n, (si + 1) * n)
        sub = df.iloc[sl].reset_index(drop=True)
        rep.scalars[f"base_rate/{strat}"] = float(sub["tier_a"].mean())
        rep.scalars[f"dup_rate/{strat}"] = duplicate_rate(samples[strat])
        mem = [i for i in range(n) if sub["tier_a"][i]]
        rep.scalars[f"tierA_unique/{strat}"] = float(len(trigram_dedup(samples[strat], order=mem)))
        row = {"strategy": strat, "base_rate": rep.scalars[f"base_rate/{strat}"]}
        for metric in SCORES:
            top = select_candidates(sub, metric, k=config.K, pool=config.pool, dedup=True)
            for i in top:
                in_top.setdefault(si * n + i, []).append(metric)
            prec = float(sub["tier_a"].iloc[top].mean())
            rep.scalars[f"prec@{config.K}/{strat}/{metric}"] = prec
            row[metric] = prec
            for i in top:
                for j in hits[si * n + i]:
                    if secrets[j].k <= 2:
                        k2_tops[metric].add(secrets[j].value)
            if metric == "zlib" and strat == "internet":
                rep.top_examples = [{"score": float(sub["score_zlib"].iloc[i]), "tier_a": bool(sub["tier_a"].iloc[i]),
                                     "text": sub["text"].iloc[i][:200]} for i in top[:5]]
        rep.table.append(row)
    rep.secrets_top = {m: sorted(v) for m, v in k2_tops.items()}
    for gi, h in enumerate(hits):
        for j in h:
            s = secrets[j]
            rep.tier_b_hits.append({"replicate": seed, "strategy": STRATEGIES[gi // n], "sample": gi % n,
                                    "kind": s.kind, "value": s.value, "group": s.group, "k": s.k,
                                    "count": s.count, "tier_a": bool(tier_a[gi]),
                                    "top_k_of": " ".join(in_top.get(gi, []))})
    k1 = {secrets[j].value for h in hits for j in h if secrets[j].k == 1}
    rep.scalars["k1_extracted"] = float(len(k1))
    rep.scalars["tierB_samples_frac"] = float(np.mean([bool(h) for h in hits]))

    # ---- exposure of the canaries under every model (same references for every model: paired)
    canaries = corpus.by_kind("canary")
    codes = [c.value for c in canaries]
    refs = {c.value: random_secrets(config.n_references, g, exclude=codes) for c in canaries}
    n_fail = 0
    for name in MODELS:
        ex: dict[int, list[float]] = {}
        ei: dict[int, list[float]] = {}
        for c in canaries:
            lp = canary_log_perplexity(models[name], tok, c.prefix, [c.value] + refs[c.value],
                                       batch_size=config.n_references + 1)
            try:
                params = fit_skewnorm(lp[1:])
                e = float(exposure_extrapolation({0: lp[:1]}, lp[1:], params=params)[0][0])
            except ValueError:  # a failed fit is missing, not maximal exposure
                e = float("nan")
            if not np.isfinite(e):
                e = float("nan")
                n_fail += 1
            ex.setdefault(c.group, []).append(e)
            ei.setdefault(c.group, []).append(float(exposure_interpolation({0: lp[:1]}, lp[1:])[0][0]))
        rep.exposure[name], rep.exposure_interp[name] = ex, ei
    rep.scalars["exposure_fit_failures"] = float(n_fail)
    if config.exact_rank:
        rep.scalars["exposure_exact_mean/large"] = float(np.mean([exposure_exact(large, tok, c.prefix, c.value)
                                                                  for c in canaries]))
    # sanity: never-inserted random canaries sharing one fresh prefix, interpolation against references
    null_prefix = "the secret code of Qzvorin Plaxtemund is "
    null_all = random_secrets(config.n_null_canaries + config.n_null_references, g, exclude=codes)
    lp = canary_log_perplexity(large, tok, null_prefix, null_all, batch_size=256)
    rep.scalars["null_exposure_interp"] = float(np.mean(exposure_interpolation(
        {0: lp[:config.n_null_canaries]}, lp[config.n_null_canaries:])[0]))
    t0 = tick("exposure", t0)

    # ---- greedy completion of each canary's own prefix (large model)
    conts = greedy_complete(large, tok, [c.prefix for c in canaries], max_new_tokens=config.greedy_tokens)
    for c, cont in zip(canaries, conts):
        mt = re.match(r"\s*(\d+)", cont)
        rep.greedy.setdefault(c.group, []).append(bool(mt and mt.group(1)[:len(c.value)] == c.value))
    # ---- URL completion: top-n samples from the URL prefix, per model
    urls = corpus.by_kind("url_id")
    for name in MODELS:
        outs = generate_samples(models[name], tok, config.n_url_samples, strategy="top_n",
                                max_new_tokens=config.url_new_tokens, top_k=config.top_k,
                                prompts=[URL_PREFIX], batch_size=config.gen_batch, generator=g)
        emitted = {m.group(1) for o in outs if (m := re.match(r"([a-z0-9]{6})(?![a-z0-9])", o[len(URL_PREFIX):]))}
        rep.url_hits[name] = {}
        for u in urls:
            rep.url_hits[name].setdefault(u.group, []).append(u.value in emitted)
        rep.scalars[f"url_ids/{name}"] = float(sum(u.value in emitted for u in urls))
    t0 = tick("completion", t0)
    rep.scalars["seconds/replicate"] = time.perf_counter() - t_start
    rep.log.append(f"replicate {seed}: " + ", ".join(f"{k} {v:.1f} s" for k, v in timing.items())
                   + f"; {rows.numel()} training tokens, {len(corpus.documents)} documents")
    rep.log.append(f"replicate {seed}: final train loss " + ", ".join(
        f"{nm} {rep.scalars[f'train_loss/{nm}']:.3f}" for nm in MODELS)
        + f"; train/held-out NLL {train_nll:.3f}/{held_nll:.3f} (gap {rep.scalars['loss_gap']:.3f})")
    return rep


# -------------------------------------------------------------------------------------------------------------
# pooling over replicates
# -------------------------------------------------------------------------------------------------------------
def spearman_or_zero(x: list[float], y: list[float]) -> float:
    """Spearman ρ; an undefined ρ (a constant sequence) is returned as 0.0, i.e. "not holding" (spec, C4)."""
    from scipy import stats

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(stats.spearmanr(x, y).statistic)


def pool(config: Config, reps: list[Replicate]) -> dict[str, float]:
    """Replicate means (+ ``_sd``) of every per-replicate number, and the pooled statistics the claims read."""
    out: dict[str, float] = {}
    per: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        per.setdefault(name, []).append(float(value))

    for r in reps:
        for k, v in r.scalars.items():
            add(k, v)
        for model in MODELS:
            ge4 = []
            for c in config.insertion_counts:
                add(f"exposure/{model}/c{c}", np.nanmean(r.exposure[model][c]))
                add(f"exposure_interp/{model}/c{c}", np.mean(r.exposure_interp[model][c]))
                if c >= 4:
                    ge4 += r.exposure[model][c]
            add(f"exposure/{model}/c_ge4", np.nanmean(ge4))
        for c in config.insertion_counts:
            add(f"greedy_recovered/c{c}", np.mean(r.greedy[c]))
            add(f"url_frac/large/c{c}", np.mean(r.url_hits["large"][c]))
        for metric in ("small", "zlib"):
            add(f"secrets_k2/{metric}", len(r.secrets_top[metric]))
    machine = {k for k in per if k.startswith(("train_tokens_per_s", "samples_per_s", "seconds/"))}
    # means of count ratios (k of n per replicate) are rounded to 12 decimals so that a boundary count compares as
    # the spec states it: 1/5 + 1/5 + 1/5 over 3 replicates is 3 of 15 = 0.2, not 0.20000000000000004 (C4(b) "≤ 3 of
    # 15"); likewise the base rates of C1's validity condition and the precisions whose differences C1 compares
    ratio = ("greedy_recovered/", "prec@", "base_rate/", "dup_rate/", "url_frac/")
    for k, vals in per.items():
        out[k] = round(float(np.mean(vals)), 12) if k.startswith(ratio) else float(np.mean(vals))
        if k not in machine:
            out[k + "_sd"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    # gates and pooled statistics
    out["heldout_match_frac_max"] = max(per["heldout_match_frac"])
    out["heldout_minus_bigram_max"] = max(per["heldout_minus_bigram"])
    K = config.K
    valid = [s for s in STRATEGIES if 0.02 <= out[f"base_rate/{s}"] <= 0.60]
    out["c1.valid_strategies"] = float(len(valid))
    for metric in ("zlib", "small", "lowercase"):
        out[f"c1.wins/{metric}"] = float(sum(round(out[f"prec@{K}/{s}/{metric}"] - out[f"prec@{K}/{s}/perplexity"],
                                                   12) >= 0.10 for s in valid))
    out["c3.medium_minus_small"] = out["exposure/medium/c_ge4"] - out["exposure/small/c_ge4"]
    out["c3.large_minus_medium"] = out["exposure/large/c_ge4"] - out["exposure/medium/c_ge4"]
    cs = list(config.insertion_counts)
    out["c4.rho_exposure"] = spearman_or_zero(cs, [out[f"exposure/large/c{c}"] for c in cs])
    out["c4.rho_url"] = spearman_or_zero(cs, [out[f"url_frac/large/c{c}"] for c in cs])
    out["k1_extracted_total"] = float(sum(per["k1_extracted"]))
    out["n_replicates"] = float(len(reps))
    return out


# -------------------------------------------------------------------------------------------------------------
# run
# -------------------------------------------------------------------------------------------------------------
def run(config: Config, ctx: RunContext) -> dict[str, float]:
    """All replicates (single-thread processes, ``config.workers`` at a time), pooled; figures and tables."""
    seeds = [ctx.seed * 1000 + s for s in config.seeds]
    ctx.log(f"{len(seeds)} replicates (seeds {seeds}) on {min(config.workers, len(seeds))} single-thread workers")
    reps = sweep.map(run_replicate, [(config, s) for s in seeds], workers=min(config.workers, len(seeds)),
                     desc="replicates")
    for r in reps:
        for line in r.log:
            ctx.log(line)
    metrics = pool(config, reps)
    _report(config, ctx, reps, metrics)
    if config.real_model:
        from .real_model import smollm2_demo

        metrics |= smollm2_demo(ctx, seed=ctx.seed)
    return metrics


PAPER_TABLE2 = {  # memorised of 100 inspected: top-n / temperature / internet
    "perplexity": (9, 3, 39), "small": (41, 42, 58), "medium": (38, 33, 45), "zlib": (59, 46, 67),
    "window": (33, 28, 58), "lowercase": (53, 22, 60)}


def _report(config: Config, ctx: RunContext, reps: list[Replicate], m: dict[str, float]) -> None:
    from .figures import exposure_figure, learning_curves_figure, precision_figure

    K = config.K
    rows = []
    for metric in SCORES:
        row = {"score": metric}
        for si, s in enumerate(STRATEGIES):
            row[f"{s} prec@{K}"] = round(m[f"prec@{K}/{s}/{metric}"], 3)
            row[f"{s} paper"] = PAPER_TABLE2[metric][si] / 100
        rows.append(row)
    ctx.save_csv("table2.csv", rows)
    ctx.log("precision@K (tier A) per score vs the paper's Table 2: " + "; ".join(
        f"{r['score']}: " + "/".join(f"{r[f'{s} prec@{K}']:.2f}" for s in STRATEGIES) for r in rows))
    ctx.log("base rates: " + ", ".join(f"{s} {m[f'base_rate/{s}']:.3f}" for s in STRATEGIES)
            + "; dup rates: " + ", ".join(f"{s} {m[f'dup_rate/{s}']:.3f}" for s in STRATEGIES))
    ctx.save_json("replicates.json", [asdict(r) for r in reps])
    hit_rows = [h for r in reps for h in r.tier_b_hits]
    if hit_rows:
        ctx.save_csv("tier_b_hits.csv", hit_rows)
    else:  # header only
        (ctx.folder / "tier_b_hits.csv").write_text("replicate,strategy,sample,kind,value,group,k,count,tier_a,"
                                                    "top_k_of\n")
    ctx.log(f"tier-B hits: {len(hit_rows)} (sample, secret) pairs in tier_b_hits.csv; sanity: held-out NLL of the "
            "large model vs the count bigram per replicate: " + ", ".join(
                f"{r.scalars['heldout_nll']:.3f} vs {r.scalars['bigram_nll']:.3f}" for r in reps))
    precision_figure(ctx, config, m)
    exposure_figure(ctx, config, m)
    learning_curves_figure(ctx, reps)
