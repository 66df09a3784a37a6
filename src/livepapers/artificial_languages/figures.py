"""Figures of a run: perplexity per language and architecture, switch effects with intervals, ease against
typological frequency, and the learning curves."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from livepapers.core.plots import pyplot
from livepapers.core.runs import RunContext

from .grammar import SWITCHES, comp_free_key

_COLORS = {"transformer": "tab:blue", "lstm": "tab:orange"}


def perplexity_by_language(ctx: RunContext, grammars: list[str], summary: Mapping[str, dict], unigram: float) -> None:
    plt = pyplot()
    archs = list(summary)
    fig, axes = plt.subplots(1, len(archs), figsize=(6 * len(archs), 4), squeeze=False)
    for ax, arch in zip(axes[0], archs):
        s = summary[arch]
        order = np.argsort(s["Lbar"])
        ppl = np.exp(s["L"][order])
        x = np.arange(len(grammars))
        for j in range(ppl.shape[1]):
            ax.plot(x, ppl[:, j], "o", ms=3, color=_COLORS.get(arch), alpha=0.4)
        ax.plot(x, s["ppl_mean"][order], "_", ms=14, mew=2, color="k", label="seed mean")
        ax.axhline(0.8 * unigram, ls="--", color="gray", lw=1, label="0.8 × unigram (gate)")
        ax.set_xticks(x, [grammars[i] for i in order], rotation=90, fontsize=7)
        ax.set_ylabel("test perplexity")
        ax.set_title(f"{arch}: languages from easiest to hardest")
        ax.legend(fontsize=7)
    ctx.savefig(fig, "perplexity_by_language",
                "Test perplexity per language (dots: model seeds; bar: seed mean), per architecture.")


def switch_effects(ctx: RunContext, summary: Mapping[str, dict]) -> None:
    """Seed-averaged mixed-model coefficients with their Wald intervals, the per-seed refits as dots, and the
    largest |β| per architecture ringed."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    x = np.arange(len(SWITCHES))
    drawn = False
    for k, (arch, s) in enumerate(summary.items()):
        c = s["coefs"]
        if not np.isfinite(c["coef"]).any():
            continue
        drawn = True
        col = _COLORS.get(arch)
        off = (k - 0.5 * (len(summary) - 1)) * 0.25
        ax.errorbar(x + off, c["coef"], yerr=[c["coef"] - c["lo"], c["hi"] - c["coef"]], fmt="o", capsize=3,
                    color=col, label=f"{arch}: seed-mean fit, 95% Wald")
        per_seed = c.get("per_seed")
        if per_seed is not None and np.isfinite(per_seed).any():
            for j, row in enumerate(per_seed):
                ax.plot(x + off + 0.07, row, "x", ms=4, color=col, alpha=0.7,
                        label=f"{arch}: per-seed refits" if j == 0 else None)
        big = int(np.nanargmax(np.abs(c["coef"])))
        ax.plot(x[big] + off, c["coef"][big], "o", ms=13, mfc="none", mec=col, mew=1.5)
    ax.axhline(0, color="gray", lw=1)
    ax.set_xticks(x, SWITCHES)
    ax.set_ylabel("coefficient β (±1 coding; 0→1 change = 2β)\nnats/sentence", fontsize=8)
    ax.set_title("Mixed-model main effects (ringed: largest |β|)" if drawn else "Mixed model not estimable here")
    if drawn:
        ax.legend(fontsize=7)
    ctx.savefig(fig, "switch_effects", "Main-effect coefficients β of the six switches (±1 coding, so switching 0→1 "
                "changes surprisal by 2β) fitted to the seed-averaged surprisals, with 95% Wald intervals; the "
                "intervals cover sentence sampling of that one averaged model only, not seed variation — the crosses "
                "are per-seed refits. The largest |β| per architecture is ringed.")


def ease_vs_typology(ctx: RunContext, grammars: list[str], summary: Mapping[str, dict], counts: Mapping[str, int]
                     ) -> None:
    plt = pyplot()
    archs = list(summary)
    fig, axes = plt.subplots(1, len(archs), figsize=(5 * len(archs), 3.8), squeeze=False)
    x = np.log1p([counts.get(comp_free_key(g), 0) for g in grammars])
    for ax, arch in zip(axes[0], archs):
        y = np.array([summary[arch]["ease"][g] for g in grammars])
        ax.plot(x, y, "o", color=_COLORS.get(arch))
        for xi, yi, g in zip(x, y, grammars):
            if g in ("000000", "011101", "111111"):
                ax.annotate(g, (xi, yi), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("log(1 + WALS languages with the 5-switch key)")
        ax.set_ylabel("ease = −mean log perplexity")
        ax.set_title(arch)
    ctx.savefig(fig, "ease_vs_typology", "Ease of each language against how many attested languages share its "
                "word-order configuration (WALS via lang2vec).")


def learning_curves(ctx: RunContext, curves: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for arch, cs in curves.items():
        for k, c in enumerate(cs.values()):
            ax.plot(np.arange(1, len(c) + 1), c, color=_COLORS.get(arch), alpha=0.35, lw=0.8,
                    label=arch if k == 0 else None)
    ax.set_xlabel("update")
    ax.set_ylabel("training loss (nats/token)")
    ax.set_title("Learning curves (seed mean, one line per language)")
    ax.legend(fontsize=8)
    ctx.savefig(fig, "learning_curves", "Training loss per update, one line per language and architecture.")
