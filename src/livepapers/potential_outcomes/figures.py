"""The figures of the reproduction: balance, estimates and overlap on NSW + CPS (R2), overlap on NHEFS (R3), PEHE of
the CATE learners (R5)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from livepapers.core.plots import pyplot
from livepapers.core.runs import RunContext


def love_plot(ctx: RunContext, bal: pd.DataFrame) -> None:
    """R2: |SMD| per DW-style regressor before and after ATT weighting / 1-NN matching."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    yy = np.arange(len(bal))
    ax.scatter(bal["smd_before"].abs(), yy, label="before", marker="o")
    ax.scatter(bal["smd_after_weighting"].abs(), yy, label="ATT weighting", marker="s")
    ax.scatter(bal["smd_after_matching"].abs(), yy, label="1-NN matching", marker="^")
    ax.axvline(0.1, color="grey", ls="--", lw=1)
    ax.set_yticks(yy, bal["covariate"])
    ax.set_xlabel("|SMD| (pooled pre-adjustment SD)")
    ax.legend()
    ctx.savefig(fig, "love_plot", caption="Balance of the DW-style regressors, NSW treated vs CPS controls: "
                "|SMD| before and after ATT weighting / matching (dashed: 0.1).")


def estimates_plot(ctx: RunContext, rows: list[dict], benchmark: float) -> None:
    """R2: the NSW + CPS estimates with 95 % intervals against the experimental benchmark."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    yy = np.arange(len(rows))
    v = np.array([r["value"] for r in rows])
    lo = np.array([r["ci_lo"] for r in rows])
    hi = np.array([r["ci_hi"] for r in rows])
    ax.errorbar(v, yy, xerr=[v - lo, hi - v], fmt="o", capsize=3)
    ax.axvline(benchmark, color="C3", ls="--", label=f"experimental DiM {benchmark:,.0f}")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(yy, [r["method"] for r in rows])
    ax.set_xlabel("effect on 1978 earnings (US$), 95 % CI")
    ax.legend(loc="lower right")
    ctx.savefig(fig, "estimates_cps", caption="NSW treated vs CPS controls: estimates with 95 % intervals per method "
                "against the experimental benchmark.")


def overlap_plot(ctx: RunContext, e: np.ndarray, t: np.ndarray, name: str, title: str) -> None:
    """R2, R3: histograms of the estimated propensity per arm (log counts)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(0, 1, 41)
    ax.hist(e[t == 0], bins=bins, alpha=0.6, label="control")
    ax.hist(e[t == 1], bins=bins, alpha=0.6, label="treated")
    ax.set_yscale("log")
    ax.set_xlabel("estimated propensity score")
    ax.set_title(title)
    ax.legend()
    ctx.savefig(fig, name, caption=f"{title} (counts on a log scale).")


def strata_balance_plot(ctx: RunContext, smd5: pd.DataFrame, smd10: pd.DataFrame, att5: float) -> None:
    """R2: the worst within-stratum |SMD| of 5 pooled quintiles and of 10 treated deciles."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for tab, label, marker in ((smd5, "5 pooled quintiles (coarse)", "o"), (smd10, "10 treated deciles", "s")):
        worst = tab.abs().max(axis=1)
        ax.plot(worst.index.to_numpy() + 1, worst.to_numpy(), marker=marker, label=label)  # kept strata only
    ax.axhline(0.1, color="grey", ls="--", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("stratum (by estimated propensity; strata lacking an arm are dropped)")
    ax.set_ylabel("max |SMD| within stratum")
    ax.legend()
    ctx.savefig(fig, "subclass_balance", caption="NSW+CPS subclassification: worst within-stratum |SMD| (pooled "
                "pre-adjustment SD). Coarse strata leave residual imbalance — the teaching case: 5 pooled "
                f"quintiles give an ATT of {att5:,.0f} (spec ≈ −1 600).")


def pehe_plot(ctx: RunContext, df: pd.DataFrame) -> None:
    """R5: PEHE per learner on Nie–Wager setups D and B (mean over replications)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    g = df.groupby(["setup", "learner"])["pehe"].mean().unstack(0)
    g.plot.barh(ax=ax)
    ax.set_xlabel("PEHE (mean over replications)")
    ctx.savefig(fig, "pehe", caption="PEHE of the CATE learners on Nie–Wager setups D (claim) and B (contrast).")


__all__ = ["estimates_plot", "love_plot", "overlap_plot", "pehe_plot", "strata_balance_plot"]
