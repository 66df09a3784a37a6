"""Figures of the reproduction: precision at top-K per score and strategy; exposure vs insertion count per size."""

from __future__ import annotations

import numpy as np

from livepapers.core.plots import pyplot
from livepapers.core.runs import RunContext

from .attack import STRATEGIES
from .metrics import SCORES

_MODELS = ("small", "medium", "large")


def precision_figure(ctx: RunContext, config, m: dict[str, float]) -> None:
    """Grouped bars: tier-A precision of the top-K of each score, per strategy (replicate mean ± sd)."""
    plt = pyplot()
    K = config.K
    fig, ax = plt.subplots(figsize=(8, 3.6))
    w = 0.8 / len(SCORES)
    x = np.arange(len(STRATEGIES))
    for j, metric in enumerate(SCORES):
        vals = [m[f"prec@{K}/{s}/{metric}"] for s in STRATEGIES]
        sds = [m[f"prec@{K}/{s}/{metric}_sd"] for s in STRATEGIES]
        ax.bar(x + (j - (len(SCORES) - 1) / 2) * w, vals, w, yerr=sds, capsize=2, label=metric)
    for i, s in enumerate(STRATEGIES):
        ax.hlines(m[f"base_rate/{s}"], i - 0.42, i + 0.42, colors="k", linestyles=":", lw=1)
    ax.set_xticks(x, [s.replace("_", " ") for s in STRATEGIES])
    ax.set_ylabel(f"precision@{K} (≥ {config.min_chars}-char verbatim)")
    ax.set_ylim(0, 1.05)
    ax.legend(ncol=3, fontsize=8, loc="upper left")
    ax.set_title("Which membership score surfaces memorised samples (dotted: base rate)", fontsize=10)
    ctx.savefig(fig, "precision_at_k", f"Precision of the top-{K} samples per score and generation strategy, "
                "replicate mean ± sd; dotted lines: fraction of all samples that are memorised (tier A).")


def exposure_figure(ctx: RunContext, config, m: dict[str, float]) -> None:
    """Mean extrapolated exposure of the canaries vs insertion count, one line per model size; greedy recovery."""
    plt = pyplot()
    cs = list(config.insertion_counts)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    for name in _MODELS:
        y = [m[f"exposure/{name}/c{c}"] for c in cs]
        e = [m[f"exposure/{name}/c{c}_sd"] for c in cs]
        ax.errorbar(cs, y, yerr=e, marker="o", capsize=2, label=name)
    ax.axhline(6 * np.log2(10), color="k", ls=":", lw=1)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("insertions c")
    ax.set_ylabel("exposure (bits, skew-normal, capped)")
    ax.legend(fontsize=8)
    ax.set_title("Exposure vs duplication per model size", fontsize=10)
    ax2.plot(cs, [m[f"greedy_recovered/c{c}"] for c in cs], marker="o", label="greedy canary completion")
    ax2.plot(cs, [m[f"url_frac/large/c{c}"] for c in cs], marker="s", label="URL ids emitted")
    ax2.set_xscale("log", base=2)
    ax2.set_ylim(-0.05, 1.05)
    ax2.set_xlabel("insertions c")
    ax2.set_ylabel("fraction (large model)")
    ax2.legend(fontsize=8)
    ctx.savefig(fig, "exposure_vs_duplication", "Left: mean extrapolated exposure of the canaries by insertion "
                "count for each model size (replicate mean ± sd; dotted: log2 10^6 cap). Right: large model, "
                "fraction of canaries whose 6 digits greedy decoding recovers and of URL ids emitted verbatim.")


def learning_curves_figure(ctx: RunContext, reps: list) -> None:
    """Training loss per step of the three models, every replicate; dashed: the large model's final held-out NLL;
    dotted: the count-bigram held-out NLL of the same replicate (the "model learned" reference)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    colors = {"large": "C0", "medium": "C1", "small": "C2"}
    for ri, r in enumerate(reps):
        for name in _MODELS:
            if name in r.curves:
                ax.plot(r.curves[name], color=colors[name], alpha=0.8, lw=1,
                        label=f"{name} (train)" if ri == 0 else None)
        ax.axhline(r.scalars["heldout_nll"], color="C0", ls="--", lw=1,
                   label="large, held-out NLL (end)" if ri == 0 else None)
        ax.axhline(r.scalars["bigram_nll"], color="k", ls=":", lw=1,
                   label="count bigram, held-out NLL" if ri == 0 else None)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats/token)")
    ax.legend(fontsize=7)
    ctx.savefig(fig, "learning_curves", "Training loss of the three GPTs per optimizer step (every replicate); "
                "dashed: the large model's held-out NLL after training; dotted: the held-out NLL of a count bigram "
                "table of the same training rows (Witten-Bell). The large model must end at or below the dotted "
                "line (the C1-C6 precondition).")
