"""Figures of the MP-PDE reproduction (matplotlib Agg via core.plots): space–time rollouts, error vs time,
accuracy vs wall time, learning curves."""

from __future__ import annotations

import numpy as np

from livepapers.core.plots import pyplot


def rollouts(ctx, z, pred_r1: np.ndarray, pred_r2: np.ndarray, weno_fv: np.ndarray, start: int, i: int = 0) -> None:
    """Space–time plots of one E1 test trajectory: labels, R1, R2, the official-grid WENO5 solve, the fv WENO5
    solve, and R1's error."""
    plt = pyplot()
    t = z["t"]
    panels = [("labels (official, nx 40)", z["test_u"][i]), ("MP-PDE R1 (pushforward)", pred_r1[i]),
              ("MP-PDE R2 (no pushforward)", pred_r2[i]), ("WENO5 nx 40, official grid", z["test_weno"][i]),
              ("WENO5 nx 40, fv (consistent)", weno_fv[i]), ("|R1 − labels|", np.abs(pred_r1[i] - z["test_u"][i]))]
    lim = max(float(np.abs(p).max()) for _, p in panels[:5])
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.4), sharey=True)
    for ax, (title, arr) in zip(axes, panels):
        n = arr.shape[-1]
        err = title.startswith("|")
        im = ax.imshow(arr, aspect="auto", origin="lower", cmap="magma" if err else "RdBu_r",
                       vmin=0 if err else -lim, vmax=float(arr.max()) if err else lim,
                       extent=(0, n, t[0], t[-1]))
        ax.axhline(t[start], color="k", lw=0.8, ls="--")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("node")
        if err:
            fig.colorbar(im, ax=ax, fraction=0.05)
    axes[0].set_ylabel("t")
    ctx.savefig(fig, "rollouts", "E1 test trajectory 0: space–time rollouts from the true window before the dashed "
                "line (t ≥ step 50) against the labels; the two WENO5 solves differ only in their grid convention.")


def error_vs_time(ctx, curves: dict[str, list[float]], start: int, t: np.ndarray) -> None:
    """Per-step error Σ_x (û − u)²/n_x (mean over test trajectories) against time, log scale."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, exp in zip(axes, ("E1", "E2")):
        for name, c in curves.items():
            is_exp = name.startswith(exp) or (exp == "E1" and name[:2] in ("R1", "R2")) or \
                (exp == "E2" and name[:2] in ("R3", "R4"))
            if not is_exp:
                continue
            c = np.maximum(np.asarray(c), 1e-12)
            ls = "--" if "WENO5" in name else (":" if "persistence" in name else "-")
            ax.semilogy(t[start:start + len(c)], c, ls, label=name.replace(f"{exp} ", ""), lw=1.2)
        ax.set_title(exp)
        ax.set_xlabel("t")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("error per step  Σ_x (û − u)² / n_x")
    ctx.savefig(fig, "error_vs_time", "Error per stored step along the rollouts (mean over the test trajectories): "
                "MP-PDE arms, WENO5 under the official and the consistent (fv) convention, and persistence.")


def speed_accuracy(ctx, nxs, weno_ms, weno_err, mp_ms: float, mp_err: float, weno_official_err: float) -> None:
    """Accumulated error against wall time per trajectory (one thread, batch of 32)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    err = np.maximum(np.asarray(weno_err), 1e-6)
    ax.loglog(weno_ms, err, "o-", label="WENO5 + SSP-RK3, fv (ours)")
    for nx, x, y, e in zip(nxs, weno_ms, err, weno_err):
        ax.annotate(f"nx {nx}" + (" (= reference)" if e == 0 else ""), (x, y), fontsize=7,
                    textcoords="offset points", xytext=(4, 4))
    ax.loglog([mp_ms], [mp_err], "s", color="C3", ms=8, label="MP-PDE R1 (nx 40, official labels)")
    ax.axhline(weno_official_err, color="C1", ls=":", label="WENO5 nx 40 under the official protocol")
    ax.set_xlabel("wall time per trajectory [ms] (CPU, 1 thread)")
    ax.set_ylabel("accumulated error (E1)")
    ax.legend(fontsize=7)
    ctx.savefig(fig, "speed_accuracy", "Accuracy vs wall time on E1 (C5). An error of 0 (WENO5 at the reference "
                "resolution) is drawn at 1e-6.")


def learning_curves(ctx, losses: dict[str, list[float]], epoch_steps: int, unrolling: int) -> None:
    """Training loss (sqrt of summed squared error) per step, smoothed, for each arm."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for arm, ls in losses.items():
        y = np.asarray(ls)
        w = max(1, len(y) // 40)
        ys = np.convolve(y, np.ones(w) / w, mode="valid")
        ax.semilogy(np.arange(len(ys)) + w - 1, ys, label=arm.upper())
    for k in range(1, unrolling + 1):
        ax.axvline(k * epoch_steps, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (smoothed)")
    ax.legend(fontsize=8)
    ctx.savefig(fig, "learning_curves", "Training loss per arm; dotted lines: N_max of the pushforward arms grows "
                "by one (the loss then includes unrolled inputs).")
