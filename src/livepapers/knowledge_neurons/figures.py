"""The run's figures: attribution heatmap, probability changes, layer histogram, erase perplexity, learning curve."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from livepapers.core.plots import pyplot
from livepapers.core.runs import RunContext


def heatmap(ctx: RunContext, scores: torch.Tensor, neurons: Sequence[tuple[int, int]], prompt: str, gold: str
            ) -> None:
    """IG attribution of every (layer, neuron) for one prompt, with the fact's refined neurons circled."""
    plt = pyplot()
    s = scores.detach().cpu().numpy()
    fig, ax = plt.subplots(figsize=(9, 2.6))
    vmax = float(np.abs(s).max()) or 1.0
    im = ax.imshow(s, aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
    for l_, i in neurons:
        ax.scatter([i], [l_], s=60, facecolors="none", edgecolors="k", linewidths=1.2)
    ax.set_xlabel("intermediate neuron i")
    ax.set_ylabel("layer l")
    ax.set_yticks(range(s.shape[0]))
    ax.set_title(f"IG attribution: “{prompt}” → {gold} (circles: refined knowledge neurons)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03)
    ctx.savefig(fig, "attribution_heatmap", "integrated-gradients attribution of one prompt; circles mark the "
                "fact's refined knowledge neurons")


def change_bars(ctx: RunContext, change: Mapping[str, float]) -> None:
    """Relative change of P(gold) when suppressing / amplifying: knowledge vs baseline vs random vs other."""
    plt = pyplot()
    conds = [("kn", "knowledge neurons"), ("baseline", "activation baseline"), ("random", "matched random"),
             ("other", "other-relation fact")]
    x = np.arange(len(conds))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for k, (mode, colour) in enumerate((("suppress", "tab:blue"), ("amplify", "tab:orange"))):
        vals = [change.get(f"{mode}.{c}", float("nan")) for c, _ in conds]
        ax.bar(x + (k - 0.5) * 0.38, vals, 0.38, label=mode, color=colour)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, [n for _, n in conds], fontsize=8)
    ax.set_ylabel("relative change of P(gold) [%]")
    ax.legend(fontsize=8)
    ctx.savefig(fig, "probability_change", "relative change of the correct answer's probability (ratio of means, "
                "averaged over relations) when the neurons are zeroed or doubled at [MASK]")


def layer_hist(ctx: RunContext, hist: Mapping[str, Sequence[int]]) -> None:
    """Number of refined neurons per layer, knowledge vs activation baseline."""
    plt = pyplot()
    kn = np.asarray(hist["knowledge"], float)
    base = np.asarray(hist["baseline"], float)
    x = np.arange(kn.size)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(x - 0.2, kn, 0.4, label="knowledge neurons (IG)")
    ax.bar(x + 0.2, base, 0.4, label="activation baseline")
    ax.set_xticks(x, [str(k + 1) for k in x])
    ax.set_xlabel("layer")
    ax.set_ylabel("refined neurons (all analysed facts)")
    ax.legend(fontsize=8)
    ctx.savefig(fig, "neuron_layers", "layers of the refined neurons over all analysed facts")


def erase_bars(ctx: RunContext, rows: Sequence[Mapping[str, float]]) -> None:
    """Perplexity increase of the erased relation vs the mean over the other relations, per erased relation."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    names = [str(r["relation"]) for r in rows]
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["ppl_increase"] for r in rows], 0.4, label="erased relation")
    ax.bar(x + 0.2, [r["ppl_increase_other"] for r in rows], 0.4, label="other relations (mean)")
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylabel("perplexity increase [%]")
    ax.legend(fontsize=8)
    ctx.savefig(fig, "erase_perplexity", "perplexity increase after zeroing the value slots of a relation's 20 most "
                "frequent knowledge neurons")


def learning_curve(ctx: RunContext, curve: Sequence[Mapping[str, float]]) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.plot([c["step"] for c in curve], [c["loss"] for c in curve], marker="o", ms=3)
    ax.set_xlabel("step")
    ax.set_ylabel("MLM loss (epoch mean)")
    ctx.savefig(fig, "learning_curve", "MLM training loss per epoch")


__all__ = ["change_bars", "erase_bars", "heatmap", "layer_hist", "learning_curve"]
