"""Figures of the reproduction (matplotlib, Agg), drawn from the numbers ``lab`` returns."""

from __future__ import annotations

import numpy as np

from livepapers.core.plots import pyplot
from livepapers.core.stats import fit_loglog_slope


def step_size(ctx, e1: dict, e2: dict, e7: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    for s2, kl in e1["kl"].items():
        ax[0].loglog(e1["hs"], kl, "o-", label=f"s²={s2}: slope {fit_loglog_slope(e1['hs'], kl):.2f}")
    ax[0].set(xlabel="h", ylabel="KL(p_T ‖ q)", title="E1: DDPM-EI output KL, N(0, s²)")
    ax[0].legend(fontsize=8)
    hs, ds = e2["hs"], e2["ds"]
    for name, style in (("gauss", "--"), ("g4", "-")):
        kl = np.array(e2["kl"][name])[:, 1, :]
        for i, d in enumerate(ds):
            ax[1].loglog(hs, kl[i], "o" + style, label=f"{name} d={d}: {fit_loglog_slope(hs, kl[i]):.2f}")
    ax[1].set(xlabel="h", ylabel="path KL", title=f"E2: Girsanov path KL, T={e2['T'][1]}")
    ax[1].legend(fontsize=6, ncol=2)
    for row in e7["rows"]:
        slope = fit_loglog_slope(e7["hs"], row["cld"])
        ax[2].loglog(e7["hs"], row["cld"], "o-", label=f"CLD {row['target']}: {slope:.2f}")
        ax[2].loglog(e7["hs"], row["ddpm"], "x--", label=f"DDPM {row['target']}")
    ax[2].set(xlabel="h", ylabel="path KL", title="E7: CLD vs DDPM path KL")
    ax[2].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    ctx.savefig(fig, "loglog_fits", caption="Log–log fits with slopes: E1 closed-form KL vs h; E2 path KL vs h "
                "(γ^d dashed, G4 solid); E7 CLD (solid) vs DDPM (dashed) path KL.")


def dimension(ctx, e2: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.8))
    hs, ds = e2["hs"], e2["ds"]
    for name, style in (("gauss", "--"), ("g4", "-")):
        kl = np.array(e2["kl"][name])[:, 1, :]
        for j, h in enumerate(hs):
            ax.loglog(ds, kl[:, j], "o" + style, label=f"{name} h={h}: {fit_loglog_slope(ds, kl[:, j]):.2f}")
    ax.set(xlabel="d", ylabel="path KL", title="E2: path KL vs dimension")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    ctx.savefig(fig, "path_kl_vs_d", caption="E2: Girsanov path KL against d with fitted slopes.")


def score_error(ctx, cfg, g2: dict, e4: dict, e8: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    eps = list(cfg.e4_eps)
    const = [g2["const"][str(e)][0] for e in eps]
    ax[0].loglog(eps, const, "o-", label=f"constant: slope {fit_loglog_slope(eps, const):.2f}")
    ax[0].loglog(eps, e4["tv_p0"], "s-", label=f"random field: slope {fit_loglog_slope(eps, e4['tv_p0']):.2f}")
    be = [float(e) for e in g2["bump"]]
    ax[0].loglog(be, [g2["bump"][str(e)][0] for e in be], "^", label="tail bump (L∞ = 40·ε)")
    ax[0].loglog(eps, np.array(eps) * np.sqrt(cfg.T / 2), "k:", label="ε√(T/2) (Girsanov+Pinsker)")
    ax[0].set(xlabel="ε (L²(q_t) score error)", ylabel="TV(p_ε, p_0)", title="E4/E5: TV vs score error")
    ax[0].legend(fontsize=7)
    rows = e8["rows"]
    ax[1].plot([r["eps_score"] for r in rows], [r["tv"] for r in rows], "o-")
    for r in rows:
        ax[1].annotate(str(r["step"]), (r["eps_score"], r["tv"]), fontsize=7)
    ax[1].set(xlabel="ε_score of the ScoreNet", ylabel="TV(p, q)", title="E8: learned score, checkpoints")
    fig.tight_layout()
    ctx.savefig(fig, "tv_vs_score_error", caption="TV against the L² score error: controlled errors (E4/E5) and "
                "the DSM-trained ScoreNet's checkpoints (E8).")


def modes(ctx, cfg, grid, g2: dict, ring: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
    ax[0].plot(grid, g2["p0"], label="DDPM-EI (exact scores)")
    ax[0].plot(grid, g2["p_ula"], label=f"ULA η={cfg.e6_eta}, {cfg.e6_ula_steps} steps")
    ax[0].set(xlim=(-7, 7), xlabel="x", title="E6: G2 output densities (exact propagation)")
    ax[0].legend(fontsize=7)
    seps = [r["sep"] for r in g2["seps"]]
    ax[1].plot(seps, [r["ddpm_right"] for r in g2["seps"]], "o-", label="DDPM-EI")
    ax[1].plot(seps, [r["ula_right"] for r in g2["seps"]], "s-", label="ULA")
    ax[1].axhline(0.8, color="k", ls=":", label="true 0.8")
    ax[1].set(xlabel="mode separation (±sep)", ylabel="P(x > 0)", title="mode weight vs separation")
    ax[1].legend(fontsize=7)
    x = np.array(ring["samples"])
    ax[2].scatter(x[:, 0], x[:, 1], s=1)
    ax[2].set(aspect="equal", title=f"E6: G3 DDPM-EI samples, max |w−1/8| = "
              f"{np.abs(np.array(ring['weights']) - 1 / 8).max():.3f}")
    fig.tight_layout()
    ctx.savefig(fig, "mode_weights", caption="E6: mode weights of DDPM-EI vs Langevin (ULA) on G2, against the "
                "separation of the modes, and G3 samples.")


def early_stopping(ctx, e9: dict, e3: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    rows = e9["rows"]
    ds = [r["delta"] for r in rows]
    ax[0].loglog(ds, [r["w2_out_q"] for r in rows], "o-", label="W2(output, q)")
    ax[0].loglog(ds, [r["w2_qdelta_q"] for r in rows], "s--", label="W2(q_δ, q)")
    ax[0].set(xlabel="δ", title="E9: early stopping, uniform[−1, 1]")
    ax[0].legend(fontsize=7)
    ex = np.array(e3["kl"]) - e3["kl_ref"]
    ax[1].semilogy(e3["Ts"], np.abs(ex), "o-")
    ax[1].set(xlabel="T", ylabel="KL(T) − KL(T_ref)", title="E3: horizon (closed form)")
    fig.tight_layout()
    ctx.savefig(fig, "horizon_early_stopping", caption="E3: excess KL against the horizon T; E9: W2 to the "
                "uniform target against the early-stopping time δ.")


def learning_curve(ctx, e8: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    c = e8["curve"]
    ax.semilogy([r["step"] for r in c], [r["loss"] for r in c])
    ax.set(xlabel="step", ylabel="DSM loss", title="E8: ScoreNet learning curve")
    fig.tight_layout()
    ctx.savefig(fig, "e8_learning_curve", caption="E8: denoising score matching loss of the ScoreNet.")
