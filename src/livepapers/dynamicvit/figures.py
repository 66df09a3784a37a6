"""The figures of DynamicViT's reproduction, written through the run context."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from livepapers.core.plots import pyplot
from livepapers.core.runs import RunContext

from .complexity import DEIT_S, count_flops
from .data import DigitBatch, object_patches

if TYPE_CHECKING:
    from .experiment import Config




def kept_tokens(ctx: RunContext, test: DigitBatch, kept: list[torch.Tensor], n: int, patch: int,
                     n_patches: int) -> None:
    """The tokens DynamicViT keeps after each stage on ``n`` test canvases (object patches outlined)."""
    plt = pyplot()
    side = math.isqrt(n_patches)
    stages = len(kept)
    fig, axes = plt.subplots(n, stages + 1, figsize=(1.9 * (stages + 1), 1.9 * n), squeeze=False)
    obj = object_patches(test.ink, patch_size=patch)
    for r in range(n):
        img = test.images[r, 0].numpy()
        axes[r][0].imshow(img, cmap="gray")
        axes[r][0].set_title(f"label {int(test.labels[r])}" if r == 0 else "", fontsize=8)
        for s in range(stages):
            mask = torch.zeros(n_patches, dtype=torch.bool)
            mask[kept[s][r]] = True
            m = mask.reshape(side, side).repeat_interleave(patch, 0).repeat_interleave(patch, 1).numpy()
            shown = np.where(m, img, img.min())
            ax = axes[r][s + 1]
            ax.imshow(shown, cmap="gray")
            om = obj[r].reshape(side, side).repeat_interleave(patch, 0).repeat_interleave(patch, 1).numpy()
            ax.contour(om, levels=[0.5], colors="tab:red", linewidths=0.8)
            if r == 0:
                ax.set_title(f"stage {s + 1}: {kept[s].shape[1]} kept", fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    ctx.savefig(fig, "kept_tokens", caption="Tokens kept by DynamicViT after each stage on test canvases "
                "(dropped patches blacked out; red outline: object patches used for recall).")


def cost_vs_rho(ctx: RunContext, cfg: Config, cost: dict[str, float]) -> None:
    """DeiT-S FLOPs against the keep ratio (analytic, paper values) and the measured CPU throughput ratio."""
    plt = pyplot()
    rhos = sorted(set(cfg.flops_rhos))
    flops = [count_flops(DEIT_S, r) / 1e9 for r in rhos]
    dense = cost["flops_dense_g"]
    paper = {0.7: 2.9, 0.8: 3.4, 0.9: 4.0}
    rows = [{"rho": r, "flops_g": f, "flops_dense_g": dense} for r, f in zip(rhos, flops)]
    ctx.save_csv("flops_vs_rho", rows)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    a1.plot(rhos, flops, "o-", label="analytic (predictors incl.)")
    a1.axhline(dense, color="k", ls="--", lw=1, label=f"dense {dense:.2f} G")
    a1.plot(list(paper), list(paper.values()), "s", color="tab:red", label="paper")
    a1.set_xlabel("keep ratio rho (3 stages)")
    a1.set_ylabel("DeiT-S GFLOPs (multiply-adds)")
    a1.legend(fontsize=8)
    ratio_pred = [dense / f for f in flops]
    a2.plot(rhos, ratio_pred, "o-", label="FLOP ratio dense / pruned")
    a2.plot([cfg.rho], [cost["throughput_ratio_cpu"]], "*", ms=12, color="tab:green",
            label=f"measured CPU throughput ratio (batch {cfg.bench.batch})")
    a2.axhline(1.54, color="tab:red", ls=":", lw=1, label="paper GPU +54%")
    a2.set_xlabel("keep ratio rho")
    a2.set_ylabel("speed-up vs dense")
    a2.legend(fontsize=8)
    ctx.savefig(fig, "cost_vs_rho", caption="FLOPs of DeiT-S vs keep ratio (analytic; paper values in red) "
                "and the measured CPU throughput ratio at rho = 0.7 next to the FLOP ratio.")


def accuracy_vs_rho(ctx: RunContext, rows: list[dict], acc_teacher: float, rho: float, task: str) -> None:
    """Test accuracy of the three variants against the inference keep ratio (dense teacher dashed)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for v in dict.fromkeys(r["variant"] for r in rows):
        pts = sorted((r["rho"], r["acc"]) for r in rows if r["variant"] == v)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=v.replace("_", "-"))
    ax.axhline(acc_teacher, color="k", ls="--", lw=1, label="dense teacher")
    ax.axvline(rho, color="gray", ls=":", lw=1)
    ax.set_xlabel(f"inference keep ratio rho (trained at {rho:.2f})")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8)
    ctx.savefig(fig, "accuracy_vs_rho", caption=f"Cluttered-{task} test accuracy vs the keep ratio used at "
                f"inference, for models fine-tuned at rho = {rho:.2f} (dense teacher dashed).")


def teacher_curve(ctx: RunContext, curve: list[dict], task: str) -> None:
    """The dense teacher's learning curve: training loss per step (smoothed) and test accuracy."""
    plt = pyplot()
    steps = np.array([r["step"] for r in curve])
    loss = np.array([r["loss"] for r in curve])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    a1.plot(steps, loss, color="tab:blue", alpha=0.3, lw=0.8, label="per step")
    w = min(25, len(loss))
    if w > 1:
        smooth = np.convolve(loss, np.ones(w) / w, mode="valid")
        a1.plot(steps[w - 1:], smooth, color="tab:blue", label=f"mean of {w} steps")
    a1.set_xlabel("teacher step")
    a1.set_ylabel("training loss (label-smoothed CE)")
    a1.legend(fontsize=8)
    pts = [(r["step"], r["acc"]) for r in curve if np.isfinite(r["acc"])]
    if pts:
        a2.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color="tab:green")
    a2.axhline(70.0, color="tab:red", ls=":", lw=1, label="precondition of C3-C5: 70%")
    a2.axhline(10.0, color="gray", ls="--", lw=1, label="chance (10 classes)")
    a2.set_xlabel("teacher step")
    a2.set_ylabel("test accuracy (%)")
    a2.set_ylim(0, 100)
    a2.legend(fontsize=8)
    ctx.savefig(fig, "teacher_curve", caption=f"Learning curve of the dense teacher on cluttered {task} (trained "
                "once per reproduce, shared by the seeds): training loss and test accuracy.")


def keep_fraction_curve(ctx: RunContext, curve: list[tuple[float, ...]], targets: tuple[float, ...],
                        last: int) -> None:
    """DynamicViT's kept fraction after each stage over the fine-tuning steps, with the targets rho^s."""
    plt = pyplot()
    arr = np.array(curve, dtype=float).reshape(len(curve), -1)
    steps = np.arange(1, len(arr) + 1)
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for s in range(arr.shape[1]):
        color = f"C{s}"
        ax.plot(steps, arr[:, s], color=color, lw=0.8, alpha=0.8, label=f"stage {s + 1}")
        ax.axhline(targets[s], color=color, ls="--", lw=1)
        ax.axhspan(targets[s] - 0.03, targets[s] + 0.03, color=color, alpha=0.08)
    if len(arr) > last:
        ax.axvline(len(arr) - last + 0.5, color="gray", ls=":", lw=1, label=f"last {last} steps (precondition)")
    ax.set_xlabel("fine-tuning step")
    ax.set_ylabel("kept fraction of the N tokens (training)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ctx.savefig(fig, "keep_fraction_curve", caption="DynamicViT's training keep fraction after each stage "
                "(mean over the batch) against the targets rho^s (dashed; band ±0.03 = the precondition of C3-C5).")
