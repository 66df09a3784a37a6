"""The figures of NNPhD's reproduction (one per demo), written through the run context."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from livepapers.core.plots import pyplot


def phase_transition(ctx, lams: np.ndarray, reg: np.ndarray, pred: np.ndarray, reg_true: float) -> None:
    r"""C1: $\ell_{pred}$ and $\ell_{reg}$ after training against $\lambda$, with the true
    $\mathbb E \lVert a_{nc} \rVert$."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(lams, reg, "o-", label="ℓ_reg = mean ‖a_nc‖")
    ax.plot(lams, pred, "s-", label="ℓ_pred = mean ‖a − â‖")
    ax.axhline(reg_true, color="gray", ls=":", label="E‖γ q̇‖ (true)")
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("λ")
    ax.set_ylabel("order parameter")
    ax.legend(fontsize=8)
    ctx.savefig(fig, "c1_phase_transition", caption="C1: ℓ_pred and ℓ_reg after training vs λ (damped 2-D "
                "oscillator); the jump sits at λ = 1.")


def friction(ctx, preds: dict[str, tuple[dict, dict]], gamma: float) -> None:
    r"""C2: UAN output against the true friction, damped ($\gamma$ = ``gamma``) and undamped control."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for ax, name in zip(axes, ("damped", "control")):
        out, test = preds[name]
        for i, lab in enumerate(("θ₁", "θ₂")):
            ax.scatter(test["a_nc"][:, i], out["a_nc"][:, i], s=2, alpha=0.4, label=lab)
        lim = float(max(test["a_nc"].abs().max(), 0.05)) * 1.2
        ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
        ax.set_xlim(-lim, lim)
        ax.set_xlabel("true a_nc = −γ q̇")
        ax.set_ylabel("UAN output a_nc")
        ax.set_title(f"{name} (γ = {gamma if name == 'damped' else 0})")
        ax.legend(fontsize=8, markerscale=4)
    ctx.savefig(fig, "c2_friction", caption="C2: UAN output vs the true friction on held-out double-pendulum "
                "states (left) and in the undamped control (right).")


def forecast(ctx, curves: dict[str, list[float]]) -> None:
    """C5: forecast error and true excess energy along the rollouts of NNPhD, LNN alone and a plain MLP."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, lab in (("nnphd", "NNPhD"), ("lnn", "LNN alone"), ("mlp", "plain MLP")):
        axes[0].plot(curves["t"], curves[f"{name}_rmse"], label=lab)
        axes[1].plot(curves["t"], curves[f"{name}_excess"], label=lab)
    axes[1].plot(curves["t"], curves["truth_excess"], "k--", label="truth")
    axes[0].set_xlabel("t")
    axes[0].set_ylabel("state RMSE (mean over ICs)")
    axes[0].set_yscale("log")
    axes[1].set_xlabel("t")
    axes[1].set_ylabel("true E − E_min along the rollout")
    for ax in axes:
        ax.legend(fontsize=8)
    ctx.savefig(fig, "c5_forecast", caption="C5: forecast error over time (left) and energy along the rollouts "
                "(right) for NNPhD, LNN alone and a plain MLP on the damped double pendulum.")


def neptune(ctx, name: str, data: dict[str, Tensor], pred: dict[str, Tensor], system, caption: str) -> None:
    """C3: detected vs true Neptune pull along the orbit (arrows) and its size over time."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    q, true_nc, a_nc, t = data["q"], data["a_nc"], pred["a_nc"], data["t"]
    ax = axes[0]
    ax.plot(q[:, 0], q[:, 1], lw=0.6, color="gray")
    phi = torch.linspace(0, 2 * math.pi, 200)
    ax.plot(system.r_n * torch.cos(phi), system.r_n * torch.sin(phi), lw=0.5, color="gray", ls=":")
    idx = torch.arange(0, q.shape[0], max(1, q.shape[0] // 60))
    scale = 0.4 / float(true_nc.norm(dim=-1).max())
    ax.quiver(q[idx, 0], q[idx, 1], scale * true_nc[idx, 0], scale * true_nc[idx, 1], angles="xy",
              scale_units="xy", scale=1, color="C0", width=0.004, label="true Neptune pull")
    ax.quiver(q[idx, 0], q[idx, 1], scale * a_nc[idx, 0], scale * a_nc[idx, 1], angles="xy", scale_units="xy",
              scale=1, color="C3", width=0.004, label="UAN output")
    x_n = system.neptune_position(torch.tensor(system.t_conj))
    ax.plot([x_n[0]], [x_n[1]], "o", color="C2", label="Neptune at conjunction")
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[1]
    for j in torch.unique(data["traj_id"])[:8]:
        m = data["traj_id"] == j
        ax.plot(t[m], true_nc[m].norm(dim=-1), color="C0", lw=0.8)
        ax.plot(t[m], a_nc[m].norm(dim=-1), color="C3", lw=0.8)
    ax.set_xlabel("t")
    ax.set_ylabel("‖a_nc‖ (blue: true, red: UAN)")
    ctx.savefig(fig, name, caption=caption)


def inspiral(ctx, data: dict[str, Tensor], a_nc: Tensor, drag: Tensor, r_med: np.ndarray, d_mean: np.ndarray,
             beta: float) -> None:
    r"""C4: drag per unit speed against $r$ (truth $\beta / r^4$) and detected vs true radiation reaction on
    one inspiral."""
    plt = pyplot()
    a_rr, x = data["a_nc"], data["q"]
    r = x.norm(dim=-1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    ax = axes[0]
    ax.scatter(r, drag, s=2, alpha=0.3, color="C3", label="UAN ⟨a_nc, −v̂⟩/‖v‖")
    ax.plot(r_med, d_mean, "ko-", label="bin means")
    rs = torch.linspace(float(r.min()), float(r.max()), 100)
    ax.plot(rs, beta / rs**4, "C0--", label="truth β/r⁴")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("r")
    ax.legend(fontsize=8)
    ax = axes[1]
    m = data["traj_id"] == 0
    ax.plot(x[m, 0], x[m, 1], lw=0.6, color="gray")
    idx = torch.nonzero(m).squeeze(-1)[:: max(1, int(m.sum()) // 40)]
    scale = 0.3 / float(a_rr[m].norm(dim=-1).max())
    ax.quiver(x[idx, 0], x[idx, 1], scale * a_rr[idx, 0], scale * a_rr[idx, 1], angles="xy", scale_units="xy",
              scale=1, color="C0", width=0.004, label="true a_RR")
    ax.quiver(x[idx, 0], x[idx, 1], scale * a_nc[idx, 0], scale * a_nc[idx, 1], angles="xy", scale_units="xy",
              scale=1, color="C3", width=0.004, label="UAN output")
    ax.set_aspect("equal")
    ax.legend(fontsize=7)
    ctx.savefig(fig, "c4_inspiral", caption="C4: along-track drag per unit speed vs r (left; truth β/r⁴) and "
                "detected vs true radiation reaction along one inspiral (right).")


def lnn_fit(ctx, fits: dict[str, tuple[Tensor, Tensor]]) -> None:
    r"""Every detection claim rests on the LNN: its conservative acceleration $a_c$ against the true one on
    held-out states, one panel per system (both components), with the relative RMS error."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(fits), figsize=(4 * len(fits), 3.8), squeeze=False)
    for ax, (name, (pred, true)) in zip(axes[0], fits.items()):
        err = float((pred - true).pow(2).sum(-1).mean().sqrt() / true.pow(2).sum(-1).mean().sqrt())
        for i in range(true.shape[1]):
            ax.scatter(true[:, i], pred[:, i], s=2, alpha=0.4, label=f"component {i + 1}")
        lim = float(true.abs().max()) * 1.1
        ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
        ax.set_xlabel("true conservative acceleration")
        ax.set_ylabel("LNN a_c")
        ax.set_title(f"{name}: rel. error {100 * err:.1f} %", fontsize=9)
        ax.legend(fontsize=7, markerscale=4)
    ctx.savefig(fig, "lnn_fit", caption="The LNN's conservative acceleration vs the truth on held-out states (the "
                "precondition of C2–C5: relative RMS error ≤ 8 %).")


def learning_curves(ctx, curves: dict[str, list[float]], stage_step: int) -> None:
    r"""$\ell_{pred}$ per step of every training run (log scale); the dotted line is where the staged runs switch
    from the LNN alone to LNN + UAN."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, vals in curves.items():
        y = np.asarray(vals, dtype=float)
        k = max(1, len(y) // 200)  # a running mean over k steps keeps the plot readable
        ax.plot(np.arange(len(y) - k + 1), np.convolve(y, np.ones(k) / k, mode="valid"), lw=0.9, label=name)
    if stage_step > 0:
        ax.axvline(stage_step, color="k", ls=":", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("ℓ_pred (training batch, running mean)")
    ax.legend(fontsize=7, ncol=2)
    ctx.savefig(fig, "learning_curves", caption="Training ℓ_pred of every run of this seed (time unit of each "
                "system's training data); C2–C5 train the LNN alone before the dotted line.")
