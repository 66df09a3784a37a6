"""The figures of the reproduction: ranking supervision (R1, R3) and pose recovery with GenDR (R5)."""

from __future__ import annotations

from typing import Any

import numpy as np

from livepapers.core.plots import pyplot
from livepapers.core.runs import RunContext


def render_figure(rows: list[dict[str, Any]], cfg: Any, ctx: RunContext) -> None:
    """R5: success rate (final IoU ≥ ``cfg.success_iou``) vs initial offset, per distribution and T-conorm."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(cfg.t_conorms), figsize=(4.2 * len(cfg.t_conorms), 3.4), squeeze=False)
    for ax, conorm in zip(axes[0], cfg.t_conorms):
        for dist in cfg.distributions:
            ys = [np.mean([r["final_iou"] >= cfg.success_iou for r in rows if r["t_conorm"] == conorm and
                           r["distribution"] == dist and r["offset"] == D]) for D in cfg.offsets]
            ax.plot(cfg.offsets, ys, marker="o", label=dist)
        ax.set_title(f"T-conorm: {conorm}")
        ax.set_xlabel("initial offset D (NDC)")
        ax.set_ylabel(f"fraction with final IoU ≥ {cfg.success_iou}")
        ax.set_ylim(-0.05, 1.05)
    axes[0][0].legend(fontsize=7)
    ctx.savefig(fig, "render_pose_recovery", caption="GenDR pose recovery: success rate vs initial offset (R5)")


def sorting_figure(out: dict[str, float], ctx: RunContext) -> None:
    """R1, R3: test EM/EW at n = 5 (Cauchy) and EM5 of Cauchy vs logistic at n = 15."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    names = ["n=5 EM", "n=5 EW", "n=15 EM5 cauchy", "n=15 EM5 logistic"]
    vals = [out["sort_n5_em"], out["sort_n5_ew"], out["sort_n15_em5_cauchy"], out["sort_n15_em5_logistic"]]
    ax.bar(names, vals, color=["C0", "C0", "C1", "C2"])
    ax.set_ylim(0, 1)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title("ranking supervision on 4-digit load_digits (R1, R3)")
    ctx.savefig(fig, "sorting_metrics", caption="test EM/EW (n=5, Cauchy) and EM5 Cauchy vs logistic (n=15)")
