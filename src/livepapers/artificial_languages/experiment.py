"""Reproduction of White & Cotterell (2021) at small scale: LSTM and Transformer LMs on parallel artificial
languages that differ only in word order (spec "Offline small-scale reproduction").

``prepare`` samples the trees once (``torch.Generator`` seeded with ``tree_seed``) and linearises them under every
language of the profile; ``run`` trains one model per (split, language, architecture, model seed) — paired seeds: the
same initialisation and block order for every language — evaluates per-sentence log-probabilities on the test
lines, and computes the statistics of C1+C2 (spread across languages against seed noise, ANOVA, all-pairs
permutation tests, the switch mixed model) and C3 (Spearman ρ of ease against WALS frequency). The model seeds run
inside this one process (a one-seed profile), spread over the process's cores by a process pool.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from livepapers.core import sweep
from livepapers.core.config import Profile
from livepapers.core.runs import RunContext

from . import analysis, figures
from .data import Vocabulary, corpus_stats, encode_corpus, make_splits, unigram_perplexity
from .grammar import SWITCHES, BaseGrammar, all_grammars, fractional_factorial, switch_name
from .models import LSTMLM, TransformerLM, make_stream, sentence_logprobs, train_lm

CORPUS = "corpus.npz"
CORPUS_INFO = "corpus.json"
ARCHS = ("transformer", "lstm")
EXPECTED_LENGTH = 10.77  # analytic mean sentence length of the base grammar (words)
DESIGN16 = tuple(fractional_factorial(4))


@dataclass(frozen=True)
class Config:
    """Every knob of the comparison; defaults = the default profile (spec "Offline small-scale reproduction")."""

    # data
    n_trees: int = 4000
    tree_seed: int = 0
    lexicon_scale: float = 0.25
    max_expansions: int = 400
    n_splits: int = 1
    fractions: tuple[float, float, float] = (0.75, 0.125, 0.125)  # train / test / dev, in that order
    grammars: tuple[str, ...] = DESIGN16  # the 16-language resolution-IV design
    # training (identical for every language and architecture)
    model_seeds: tuple[int, ...] = (0, 1, 2)
    archs: tuple[str, ...] = ARCHS
    steps: int = 150
    block: int = 64
    batch: int = 16
    lr: float = 2e-3
    warmup: int = 15
    weight_decay: float = 0.01
    dropout: float = 0.1
    warmup_init_lr: float = 0.0  # fairseq --warmup-init-lr (official 1e-7)
    # Transformer (proxy of fairseq transformer_lm_small, scaled down)
    tf_d_model: int = 64
    tf_layers: int = 2
    tf_heads: int = 2
    tf_d_ff: int = 256
    tf_positional: str = "sinusoidal"
    tf_attn_dropout: float = 0.1  # fairseq --attention-dropout of transformer_lm_small (not set by --dropout)
    # LSTM (proxy of lstm_small_lm, scaled down; tied through a d_emb projection)
    lstm_d_emb: int = 64
    lstm_d_hidden: int = 128
    lstm_layers: int = 1
    # statistics
    n_permutations: int = 10_000
    alpha: float = 0.05
    interactions: bool = False  # the 15 two-way products are aliased on the 16-language design

    def __post_init__(self) -> None:
        for g in self.grammars:
            switch_name(g)  # one-line error for a bad name
        if len(set(self.grammars)) != len(self.grammars) or len(self.grammars) < 3:
            raise ValueError(f"grammars must be >= 3 distinct 6-bit names, got {self.grammars}")
        bad = [a for a in self.archs if a not in ARCHS]
        if bad or not self.archs:
            raise ValueError(f"archs must be among {ARCHS}, got {self.archs}")
        if not self.model_seeds:
            raise ValueError("model_seeds must not be empty")
        if not 0 < self.lexicon_scale <= 1:
            raise ValueError(f"lexicon_scale must be in (0, 1], got {self.lexicon_scale}")
        if self.n_trees < 10 * self.n_splits:
            raise ValueError(f"n_trees ({self.n_trees}) too small for {self.n_splits} splits")


PROFILES: dict[str, Profile] = {
    # smoke: 2 model seeds (not 1) so that the seed noise, and with it snr.* and the C1+C2 check, is finite
    "smoke": Profile(Config(
        n_trees=300, grammars=("000000", "011101", "111111", "100010"), model_seeds=(0, 1), steps=20, batch=4,
        tf_d_model=32, tf_d_ff=64, lstm_d_emb=32, lstm_d_hidden=32, n_permutations=1000,
    ), n_seeds=1, evidence=False),
    # 16 languages x 2 architectures x 3 paired model seeds = 96 models in one process on both cores
    "default": Profile(Config(), n_seeds=1),
    # the paper's scale (documented; GPU-days): all 64 languages, 100k trees in 10 splits, official lexicon and
    # proxy sizes, the official optimiser settings (lr 5e-4, inverse-sqrt with 4,000 warm-up updates from 1e-7,
    # ~32k tokens per update, 512-token blocks, dropout 0.3, attention dropout 0.1, at most 10k updates).
    # NOT implemented: fairseq's early stopping (patience 5 on the dev split, best checkpoint) — every model runs
    # the full 10k updates and keeps its last weights (README, Deviations).
    "paper": Profile(Config(
        n_trees=100_000, n_splits=10, fractions=(0.8, 0.1, 0.1), lexicon_scale=1.0, grammars=tuple(all_grammars()),
        model_seeds=(0,), steps=10_000, block=512, batch=64, lr=5e-4, warmup=4000, warmup_init_lr=1e-7,
        dropout=0.3, tf_attn_dropout=0.1,
        tf_d_model=128, tf_d_ff=512, lstm_d_emb=128, lstm_d_hidden=512, lstm_layers=2, interactions=True,
    ), n_seeds=1, needs="a GPU: 1,280 language models of up to 10k updates x 32k tokens each (GPU-days)"),
}


def build_model(arch: str, vocab_size: int, cfg: Config) -> torch.nn.Module:
    """The architecture ``arch`` at the sizes of ``cfg``."""
    if arch == "transformer":
        return TransformerLM(vocab_size, cfg.tf_d_model, cfg.tf_layers, cfg.tf_heads, cfg.tf_d_ff, cfg.dropout,
                             max_len=cfg.block, positional=cfg.tf_positional, attn_dropout=cfg.tf_attn_dropout)
    if arch == "lstm":
        return LSTMLM(vocab_size, cfg.lstm_d_emb, cfg.lstm_d_hidden, cfg.lstm_layers, cfg.dropout,
                      d_out=cfg.lstm_d_emb)
    raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHS)}")


def prepare(config: Config, ctx: RunContext) -> None:
    """Sample the trees once and linearise them under every language of the profile (shared by all models)."""
    t0 = time.perf_counter()
    grammar = BaseGrammar(lexicon_scale=config.lexicon_scale)  # lexicon from torch.Generator().manual_seed(0)
    trees = grammar.sample(config.n_trees, torch.Generator().manual_seed(config.tree_seed),
                           max_expansions=config.max_expansions)
    vocab = Vocabulary.of(grammar)
    tokens, lengths = encode_corpus(trees, config.grammars, vocab)
    np.savez_compressed(ctx.folder / CORPUS, tokens=tokens, lengths=lengths, vocab=np.array(vocab.itos),
                        grammars=np.array(config.grammars))
    stats = corpus_stats(trees)
    info = {"mean_length": stats["mean"], "median_length": stats["median"], "max_length": stats["max"],
            "rejected": grammar.rejected, "n_trees": len(trees), "vocab_size": len(vocab),
            "seconds": time.perf_counter() - t0}
    (ctx.folder / CORPUS_INFO).write_text(json.dumps(info), encoding="utf-8")
    ctx.log(f"prepare: {len(trees)} trees ({grammar.rejected} rejected), mean length {stats['mean']:.3f} words, "
            f"{len(config.grammars)} languages, vocabulary {len(vocab)}, {info['seconds']:.1f} s")


def _fit_one(task: dict) -> dict:
    """Train and evaluate one model (a pool task): the initialisation and the block order depend only on the
    model seed, so they are identical across languages."""
    cfg: Config = task["cfg"]
    t0 = time.perf_counter()
    torch.manual_seed(1_000 + task["seed"])  # initialisation and dropout masks
    model = build_model(task["arch"], task["vocab_size"], cfg)
    curve = train_lm(model, task["train"], cfg.steps, block=cfg.block, batch=cfg.batch, lr=cfg.lr, warmup=cfg.warmup,
                     generator=torch.Generator().manual_seed(task["seed"]), weight_decay=cfg.weight_decay,
                     warmup_init_lr=cfg.warmup_init_lr)
    train_s = time.perf_counter() - t0
    lp = sentence_logprobs(model, task["test"], block=cfg.block)
    return {"key": task["key"], "logprobs": lp, "curve": curve, "train_s": train_s,
            "seconds": time.perf_counter() - t0}


def _sentences(tokens: np.ndarray, offs: np.ndarray, lines: range) -> list[np.ndarray]:
    return [tokens[offs[i]:offs[i + 1]] for i in lines]


def run(config: Config, ctx: RunContext) -> dict[str, float]:
    """Train all models, evaluate them and return the metrics of C1+C2 and C3 and their sanity gates."""
    cfg = config
    t_start = time.perf_counter()
    z = np.load(ctx.shared_path(CORPUS), allow_pickle=False)
    info = json.loads(ctx.shared_path(CORPUS_INFO).read_text(encoding="utf-8"))
    tokens, lengths = z["tokens"], z["lengths"]
    grammars = [str(g) for g in z["grammars"]]
    if grammars != list(cfg.grammars):
        raise RuntimeError("the prepared corpus was built for other languages; rerun with --fresh")
    V = len(z["vocab"])
    offs = np.concatenate([[0], np.cumsum(lengths)])
    splits = make_splits(len(lengths), cfg.n_splits, cfg.fractions)

    # tasks: one model per (split, language, architecture, model seed)
    tasks, n_test_tokens, unigram = [], [], []
    for si, sp in enumerate(splits):
        n_test_tokens.append(int(sum(lengths[i] + 1 for i in sp["test"])))
        for gi, g in enumerate(grammars):
            train, _ = make_stream(_sentences(tokens[gi], offs, sp["train"]))
            if gi == 0:
                unigram.append(unigram_perplexity(train))  # the same multiset of tokens in every language
            test = _sentences(tokens[gi], offs, sp["test"])
            for arch in cfg.archs:
                for s in cfg.model_seeds:
                    tasks.append({"key": (si, g, arch, s), "cfg": cfg, "arch": arch, "seed": s, "vocab_size": V,
                                  "train": train, "test": test})
    workers = max(1, torch.get_num_threads())
    ctx.log(f"{len(tasks)} models ({len(grammars)} languages x {len(cfg.archs)} architectures x "
            f"{len(cfg.model_seeds)} seeds x {len(splits)} splits), {cfg.steps} steps each, {workers} worker(s)")
    t0 = time.perf_counter()
    if workers == 1:
        results = [_fit_one(t) for t in ctx.progress(tasks, total=len(tasks), desc="models")]
    else:
        results = sweep.map(_fit_one, tasks, workers=workers, desc="artificial-languages models")
    t_train = time.perf_counter() - t0
    by_key = {r["key"]: r for r in results}

    m: dict[str, float] = {}
    m["corpus.mean_length"] = info["mean_length"]
    m["gate.mean_length_abs_err"] = abs(info["mean_length"] - EXPECTED_LENGTH)
    m["corpus.vocab_size"] = float(V)
    m["unigram_ppl"] = float(np.mean(unigram))
    reps = [(si, s) for si in range(len(splits)) for s in cfg.model_seeds]  # replicates: (split, model seed)
    rows, curves, summary = [], {}, {}
    for arch in cfg.archs:
        # L[g, r] = log corpus test perplexity of language g, replicate r
        L = np.array([[-by_key[(si, g, arch, s)]["logprobs"].sum() / n_test_tokens[si] for si, s in reps]
                      for g in grammars])
        # seed-averaged per-sentence surprisals, test lines of all splits concatenated (aligned across languages)
        surpr = {g: np.concatenate([-np.mean([by_key[(si, g, arch, s)]["logprobs"] for s in cfg.model_seeds], 0)
                                    for si in range(len(splits))]) for g in grammars}
        ppl_mean = np.exp(L).mean(1)
        Lbar = L.mean(1)
        spread, noise = analysis.spread_noise(L)
        m[f"ppl.{arch}.mean"] = float(ppl_mean.mean())
        m[f"ppl.{arch}.min"] = float(ppl_mean.min())
        m[f"ppl.{arch}.max"] = float(ppl_mean.max())
        m[f"gate.ppl_over_unigram_max.{arch}"] = float(ppl_mean.max() / m["unigram_ppl"])
        m[f"spread.{arch}"] = spread
        m[f"noise.{arch}"] = noise
        m[f"snr.{arch}"] = spread / noise if noise > 0 else float("nan")
        # report-only: the spread without the noise of the seed means, and pairs beyond seed noise
        m[f"spread_corrected.{arch}"] = analysis.corrected_spread(spread, noise, L.shape[1])
        m[f"pairs_seed_aware.{arch}"] = float(analysis.seed_aware_pairs(L))
        F_, p_ = analysis.anova_oneway({g: L[i] for i, g in enumerate(grammars)})
        m[f"anova_F.{arch}"], m[f"anova_p.{arch}"] = F_, p_
        pairs = analysis.all_pairs_permutation(surpr, cfg.n_permutations, "holm",
                                               torch.Generator().manual_seed(7), alpha=cfg.alpha)
        m[f"pairs_sig.{arch}"] = float(pairs["significant"].sum())
        m[f"pairs_sig_holm.{arch}"] = float(pairs["significant_adj"].sum())
        ctx.save_csv(f"pairs_{arch}", pairs.to_dict("records"))
        coefs = _mixed(surpr, cfg.interactions, ctx, arch)
        # per-seed refits (balanced design: the fixed effects are the OLS contrasts of per-language means), to show
        # the seed variation the Wald intervals of the seed-averaged fit leave out
        per_seed = _per_seed_effects(by_key, grammars, arch, reps)
        coefs["per_seed"] = per_seed
        seed_se = (np.std(per_seed, axis=0, ddof=1) / math.sqrt(per_seed.shape[0]) if per_seed.shape[0] > 1
                   else np.full(len(SWITCHES), np.nan))
        for k, sw in enumerate(SWITCHES):
            m[f"mm.{arch}.{sw}"] = coefs["coef"][k]
            m[f"mm_seed_se.{arch}.{sw}"] = float(seed_se[k])
        finite = np.isfinite(coefs["coef"])
        m[f"mm.{arch}.largest_switch"] = float(np.nanargmax(np.abs(coefs["coef"])) + 1) if finite.any() else math.nan
        m[f"mm.{arch}.largest_abs"] = float(np.nanmax(np.abs(coefs["coef"]))) if finite.any() else math.nan
        ease = {g: -Lbar[i] for i, g in enumerate(grammars)}
        rho, p = analysis.typology_correlation(ease, cfg.n_permutations, generator=torch.Generator().manual_seed(11))
        m[f"c3.rho.{arch}"], m[f"c3.p.{arch}"] = rho, p
        order = sorted(grammars, key=lambda g: -ease[g])  # easiest first
        for ref in ("000000", "011101"):
            m[f"rank_{ref}.{arch}"] = float(order.index(ref) + 1) if ref in order else math.nan
        m[f"train_loss_final.{arch}"] = float(np.mean([by_key[(si, g, arch, s)]["curve"][-1] for g in grammars
                                                       for si, s in reps]))
        n_tok = cfg.steps * cfg.batch * cfg.block * len(grammars) * len(reps)
        m[f"throughput.{arch}"] = n_tok / sum(by_key[(si, g, arch, s)]["train_s"] for g in grammars for si, s in reps)
        curves[arch] = {g: np.mean([by_key[(si, g, arch, s)]["curve"] for si, s in reps], 0) for g in grammars}
        for i, g in enumerate(grammars):
            for j, (si, s) in enumerate(reps):
                rows.append({"arch": arch, "language": g, "split": si, "seed": s, "log_ppl": L[i, j],
                             "ppl": math.exp(L[i, j])})
        summary[arch] = {"L": L, "Lbar": Lbar, "ppl_mean": ppl_mean, "coefs": coefs, "ease": ease}
        ctx.log(f"{arch}: ppl {ppl_mean.min():.2f}–{ppl_mean.max():.2f} (unigram {m['unigram_ppl']:.2f}); spread "
                f"{spread:.4f} (noise-corrected {m[f'spread_corrected.{arch}']:.4f}), seed noise {noise:.4f}; "
                f"pairs significant {int(m[f'pairs_sig.{arch}'])} raw, {int(m[f'pairs_sig_holm.{arch}'])} Holm, "
                f"{int(m[f'pairs_seed_aware.{arch}'])} beyond seed noise, of {len(pairs)}; rho {rho:.3f} "
                f"(one-sided p {p:.3f}); final train loss {m[f'train_loss_final.{arch}']:.3f}")
    if all(a in summary for a in ("transformer", "lstm")):
        _compare_archs(m, summary, ctx)
    ctx.save_csv("perplexity", rows)
    ctx.save_json("learning_curves", {a: {g: list(map(float, c)) for g, c in cs.items()} for a, cs in curves.items()})
    counts = analysis.wals_configurations()
    figures.perplexity_by_language(ctx, grammars, summary, m["unigram_ppl"])
    figures.switch_effects(ctx, summary)
    figures.ease_vs_typology(ctx, grammars, summary, counts)
    figures.learning_curves(ctx, curves)
    m["time.train"] = t_train
    m["time.total"] = time.perf_counter() - t_start
    return m


def _per_seed_effects(by_key: dict, grammars: list[str], arch: str, reps: list[tuple[int, int]]) -> np.ndarray:
    """``(R, 6)`` switch effects refitted per replicate (split, model seed) on its own per-sentence surprisals
    (NaN when the languages are not a balanced design)."""
    out = []
    for si, s in reps:
        sc = {g: -by_key[(si, g, arch, s)]["logprobs"] for g in grammars}
        try:
            out.append(analysis.switch_effects_balanced(sc))
        except ValueError:
            out.append(np.full(len(SWITCHES), np.nan))
    return np.array(out)


def _compare_archs(m: dict[str, float], summary: dict, ctx: RunContext) -> None:
    """Report-only comparisons of the two architectures: the seed bootstrap of the spread difference (is C1+C2's
    first half beyond seed noise?), the noise-corrected spreads, and the spec's secondary criterion (the
    Transformer has more significant pairs: 1 = yes, 0 = no)."""
    boot = analysis.seed_bootstrap_spread_diff(summary["transformer"]["L"], summary["lstm"]["L"],
                                               generator=torch.Generator().manual_seed(13))
    m["c12.spread_diff"] = boot["diff"]
    m["c12.spread_diff_boot_lo"], m["c12.spread_diff_boot_hi"] = boot["lo"], boot["hi"]
    m["c12.spread_diff_boot_p_pos"] = boot["p_pos"]
    m["c12.spread_corrected_diff"] = m["spread_corrected.transformer"] - m["spread_corrected.lstm"]
    for kind, key in (("raw", "pairs_sig"), ("holm", "pairs_sig_holm"), ("seed_aware", "pairs_seed_aware")):
        m[f"c12.pairs_more_transformer.{kind}"] = float(m[f"{key}.transformer"] > m[f"{key}.lstm"])
    ctx.log(f"spread T − L = {boot['diff']:+.4f} nats, seed bootstrap 95% [{boot['lo']:+.4f}, {boot['hi']:+.4f}], "
            f"P(> 0) = {boot['p_pos']:.3f} over {int(boot['n'])} resamples; noise-corrected spreads "
            f"{m['spread_corrected.transformer']:.4f} vs {m['spread_corrected.lstm']:.4f}")


def _mixed(surpr: dict[str, np.ndarray], interactions: bool, ctx: RunContext, arch: str) -> dict:
    """Main-effect (or with-interaction) mixed model; NaN coefficients when the design cannot estimate them."""
    nan = np.full(len(SWITCHES), np.nan)
    try:
        res = analysis.fit_mixed_effects(surpr, interactions=interactions)
    except ValueError as e:
        ctx.log(f"{arch}: mixed model not fitted: {e}")
        return {"coef": nan, "lo": nan, "hi": nan}
    ci = res.conf_int()
    coef = np.array([res.params[s] for s in SWITCHES])
    ctx.save_csv(f"mixed_model_{arch}", [{"term": k, "coef": float(res.params[k]), "se": float(res.bse[k]),
                                          "lo": float(ci.loc[k, 0]), "hi": float(ci.loc[k, 1])}
                                         for k in res.fe_params.index])
    return {"coef": coef, "lo": np.array([ci.loc[s, 0] for s in SWITCHES]),
            "hi": np.array([ci.loc[s, 1] for s in SWITCHES])}
