"""The figures of the Neural Mechanics reproduction, written through the run context (PNG + the CSV behind it)."""

from __future__ import annotations

from typing import Any

import numpy as np

from livepapers.core.plots import pyplot

from .optim import SymmetryTracker
from .symmetries import KINDS

SYMBOL = {"translation": "S", "scale": "N", "rescale": "D"}


def _channels(n_groups: int, n: int) -> np.ndarray:
    """Up to ``n`` channel indices spread evenly over ``n_groups``."""
    return np.unique(np.linspace(0, n_groups - 1, min(n, n_groups)).round().astype(int))


def overlay(ctx: Any, tracker: SymmetryTracker, preds: dict[str, dict[str, tuple[str, np.ndarray]]], *, name: str,
            title: str, caption: str, n_channels: int) -> None:
    """Per-channel measured curves (thick) with the theory curves overlaid, one panel per kind.

    ``preds[kind]`` maps a CSV column name to (legend label, (T, g) prediction).
    """
    plt = pyplot()
    kinds = [k for k in KINDS if k in tracker.kinds]
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.6 * len(kinds), 3.6), squeeze=False)
    t = tracker.times
    stride = max(1, len(t) // 200)
    rows: list[dict[str, float]] = []
    for ax, kind in zip(axes[0], kinds):
        emp = tracker.empirical(kind)
        chans = _channels(emp.shape[1], n_channels)
        colors = plt.cm.viridis(np.linspace(0, 0.9, len(chans)))
        styles = ["--", ":", "-."]
        for c, col in zip(chans, colors):
            ax.plot(t, emp[:, c], color=col, lw=2.2, alpha=0.55)
            for (_, pred), ls in zip(preds[kind].values(), styles):
                ax.plot(t, pred[:, c], color="k", lw=0.9, ls=ls)
        handles = [plt.Line2D([], [], color="grey", lw=2.2, alpha=0.55, label="measured")]
        handles += [plt.Line2D([], [], color="k", lw=0.9, ls=ls, label=label)
                    for (label, _), ls in zip(preds[kind].values(), styles)]
        ax.legend(handles=handles, fontsize=7, loc="best")
        ax.set_title(f"{kind}: {SYMBOL[kind]}_A per channel", fontsize=9)
        ax.set_xlabel("t = h k")
        for c in chans:
            for i in range(0, len(t), stride):
                row = {"kind": kind, "channel": int(c), "t": float(t[i]), "measured": float(emp[i, c])}
                for key, (_, pred) in preds[kind].items():
                    row[key] = float(pred[i, c])
                rows.append(row)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    ctx.savefig(fig, name, caption=caption)
    ctx.save_csv(name, rows)


def eta_scaling(ctx: Any, lr: float, curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]) -> None:
    """R1 (η) vs R1h (η/2) at equal time: median drift of N and D per model, and 2x the η/2 curve (dotted).

    ``curves[model][kind]`` = (drift curve of R1, drift curve of R1h) on R1's steps.
    """
    names = [n for n in curves if curves[n]]
    if not names:
        return
    plt = pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(4.4 * len(names), 3.5), squeeze=False)
    rows: list[dict[str, Any]] = []
    colors = {"scale": "tab:blue", "rescale": "tab:orange"}
    for ax, name in zip(axes[0], names):
        for kind, (ref, half) in curves[name].items():
            t = np.arange(ref.shape[0]) * lr
            ax.plot(t, ref, color=colors[kind], lw=1.8, label=f"{kind}, η = {lr:g}")
            ax.plot(t, half, color=colors[kind], lw=1.2, ls="--", label=f"{kind}, η/2")
            ax.plot(t, 2 * half, color="k", lw=0.7, ls=":")
            stride = max(1, len(t) // 200)
            rows += [{"model": name, "kind": kind, "t": float(t[i]), "drift_lr": float(ref[i]),
                      "drift_half_lr": float(half[i])} for i in range(0, len(t), stride)]
        ax.set_title(f"{name}", fontsize=9)
        ax.set_xlabel("t = η k")
        ax.set_ylabel("median |q_k − q_0| / max scale")
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("R1 (η) vs R1h (η/2) at equal time t: drift of N and D (dotted: 2 × the η/2 curve)", fontsize=10)
    fig.tight_layout()
    ctx.savefig(fig, "R1h_eta_scaling", caption="R1 (η) and R1h (η/2, twice the steps, same data at every t): median "
                                                "drift of N and D per model; first order in η means the η curve is "
                                                "twice the η/2 curve (dotted)")
    ctx.save_csv("R1h_eta_scaling", rows)


def drift_vs_lr(ctx: Any, lrs: tuple[float, ...], drift: dict[str, list[float]]) -> None:
    """R6: drift of each kind's quantity against the learning rate at fixed continuous time (log–log)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    for kind, vals in drift.items():
        if vals:
            ax.loglog(lrs, np.maximum(vals, 1e-17), "o-", label=kind)
    ref = np.asarray(lrs) / lrs[0]
    if drift["scale"]:
        ax.loglog(lrs, drift["scale"][0] * ref, "k:", lw=0.8, label="slope 1")
    ax.set_xlabel("learning rate η (same t = const)")
    ax.set_ylabel("median drift of the conserved quantity")
    ax.legend(fontsize=8)
    ax.set_title("R6: conservation restored as η → 0", fontsize=10)
    fig.tight_layout()
    ctx.savefig(fig, "R6_drift", caption="R6: drift max_k|q_k − q_0| / max_k scale vs learning rate at fixed "
                                         "continuous time; gradient flow is the η → 0 limit")
    ctx.save_csv("R6_drift", [{"lr": lr, **{k: v[i] for k, v in drift.items() if v}} for i, lr in enumerate(lrs)])


__all__ = ["drift_vs_lr", "eta_scaling", "overlay"]
