"""Figures of the reproduction (matplotlib Agg via core.plots); one per claim group."""

from __future__ import annotations

from typing import Any

from livepapers.core.plots import pyplot
from livepapers.core.runs import RunContext

from .lab import C1_MODELS

LABEL = {"ncde": "Neural CDE", "gru_dt": "GRU-Δt", "grud": "GRU-D", "odernn": "ODE-RNN"}


def c1_figure(m: dict[str, float], curves: dict[str, list[float]], drops: tuple[float, ...], ctx: RunContext) -> None:
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    w = 0.8 / len(C1_MODELS)
    for i, name in enumerate(C1_MODELS):
        xs = [k + i * w for k in range(len(drops))]
        a.bar(xs, [m[f"c1.{name}.acc.r{round(100 * r)}"] for r in drops], width=w, label=LABEL[name])
    a.set_xticks([k + 0.4 - w / 2 for k in range(len(drops))], [f"{round(100 * r)} % dropped" for r in drops])
    a.set_ylabel("test accuracy (%)")
    a.set_ylim(50, 100)
    a.axhline(70, color="k", lw=0.6, ls=":")
    a.legend(fontsize=7)
    a.set_title("C1: JapaneseVowels, irregular")
    for k, v in curves.items():
        b.plot(range(1, len(v) + 1), v, label=k, lw=1)
    b.set_yscale("log")
    b.set_xlabel("epoch")
    b.set_ylabel("training loss")
    b.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    ctx.savefig(fig, "c1_accuracy", "C1: test accuracy of the NCDE and the three baselines at each drop rate "
                "(left) and training curves (right)")
    plt.close(fig)


def c5_figure(m: dict[str, float], ctx: RunContext) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    names = ("rms", "rms_seminorm", "default", "seminorm")
    ax.bar(range(4), [m[f"c5.nfe_backward.{n}"] for n in names], color=["#999", "#bbb", "#4a7", "#37c"])
    ax.set_xticks(range(4), ["RMS\n(paper-era)", "RMS semi\n(paper-era)", "torchdiffeq\ndefault",
                             "torchdiffeq\nseminorm"], fontsize=8)
    ax.set_ylabel("backward-pass NFE")
    ax.set_title(f"C5: reduction vs default {100 * m['c5.nfe_reduction']:.0f} %")
    fig.tight_layout()
    ctx.savefig(fig, "c5_seminorm", "C5: vector-field evaluations in the adjoint backward pass of the trained NCDE "
                "(dopri5, rtol 1e-3, atol 1e-6) under four adjoint norms")
    plt.close(fig)


def c2_figure(conv: dict[str, float], ks: tuple[int, ...], ctx: RunContext) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    dts = [1.0 / k for k in ks]
    for name, lab in (("ou", "additive OU"), ("gbm", "Stratonovich GBM")):
        ax.loglog(dts, [conv[f"c2d.{name}.rmse.k{k}"] for k in ks], "o-", label=lab)
    ax.loglog(dts, [conv[f"c2d.ou.rmse.k{ks[0]}"] * d / dts[0] for d in dts], "k:", lw=0.8, label="slope 1")
    ax.set_xlabel("dt")
    ax.set_ylabel("strong RMS error at T = 1")
    ax.legend(fontsize=8)
    ax.set_title("C2d: reversible Heun strong order")
    fig.tight_layout()
    ctx.savefig(fig, "c2_convergence", "C2d: strong error of reversible Heun vs step size (4000 paths)")
    plt.close(fig)


def c4a_figure(res: dict[str, Any], ctx: RunContext) -> None:
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    t = res["curve_t"]
    for name, col in (("real", "k"), ("fake", "C1")):
        mu, sd = res[f"{name}_mean"], res[f"{name}_sd"]
        a.plot(t, mu, color=col, label=f"{'held-out data' if name == 'real' else 'latent SDE prior'} mean ± sd")
        a.fill_between(t, [x - s for x, s in zip(mu, sd)], [x + s for x, s in zip(mu, sd)], color=col, alpha=0.15)
    for path in res["samples"][:8]:
        a.plot(t, path, color="C1", lw=0.4, alpha=0.6)
    a.set_xlabel("t")
    a.set_ylabel("normalised value")
    a.legend(fontsize=7)
    a.set_title("C4a: marginals")
    b.plot(res["loss"], lw=0.8)
    b.set_yscale("symlog")
    b.set_xlabel("step")
    b.set_ylabel("−ELBO (annealed)")
    fig.tight_layout()
    ctx.savefig(fig, "c4a_latent_sde", "C4a: marginal mean ± sd of 4096 prior samples vs held-out paths, and the "
                "training loss")
    plt.close(fig)


def timing_figure(reps: list[dict[str, float]], ctx: RunContext) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    groups = [("C2c forward solve", [("reversible Heun", "c2c.time_rh"), ("midpoint", "c2c.time_mid"),
                                     ("RH + BI", "c2c.time_rh_bi"), ("mid + BI", "c2c.time_mid_bi")]),
              ("C3 fwd + rev sweep", [("our BI", "c3.time_bi"), ("our VBT", "c3.time_vbt"),
                                      ("torchsde BI", "c3.time_torchsde_bi"), ("torchsde BT", "c3.time_torchsde_bt")]),
              ("C4b SDE-GAN step", [("clip", "c4b.step_time_clip"), ("GP", "c4b.step_time_gp")])]
    for ax, (title, items) in zip(axes, groups):
        for i, (_, key) in enumerate(items):
            vals = [r[key] for r in reps if key in r]
            ax.bar(i, sorted(vals)[len(vals) // 2] if vals else 0, color=f"C{i}")
            ax.plot([i] * len(vals), vals, "k.", ms=3)
        ax.set_xticks(range(len(items)), [lab for lab, _ in items], fontsize=7, rotation=15)
        ax.set_ylabel("seconds")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    ctx.savefig(fig, "timings", "C2c, C3, C4b: median of the repeated timings (dots: each repeat)")
    plt.close(fig)
