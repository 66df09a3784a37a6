"""Figures of one seed: CF-change vs λ per regulariser and structure, accuracy vs test association, learning
curves."""

from __future__ import annotations

from typing import Any

from livepapers.core.plots import pyplot
from livepapers.core.runs import RunContext

NAMES = {"anticausal": "anti-causal (Y → X)", "causal": "causal, confounded (X → Y)"}


def _fmt(a: float) -> str:
    return f"{a:g}"


def cf_change_vs_lambda(ctx: RunContext, cfg: Any, record: dict[str, Any]) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(record), figsize=(5.2 * len(record), 3.8), squeeze=False)
    for ax, (s, r) in zip(axes[0], record.items()):
        runs = r["runs"]
        lams = list(cfg.lambdas)
        for mode, style in (("marginal", "o-"), ("conditional", "s-"), ("reweighted", "^--")):
            keys = [f"{mode}_lam{_fmt(lam)}" for lam in lams]
            if all(k in runs for k in keys):
                ax.plot(lams, [runs[k]["eval"]["cf_change"] for k in keys], style, label=f"{mode} MMD")
        erm = runs["erm"]["eval"]["cf_change"]
        ax.axhline(erm, color="k", ls=":", label="ERM")
        ax.axvline(r["lambda_star"], color="grey", lw=0.8, ls="--", label="λ*")
        ax.set_xscale("log")
        ax.set_yscale("log")
        lo = min([erm] + [v["eval"]["cf_change"] for v in runs.values() if v["eval"]["cf_change"] > 0])
        ax.set_ylim(lo / 2, max(erm, 1e-6) * 2)
        ax.set_xlabel("λ")
        ax.set_ylabel("CF-change  mean |p(x(1)) − p(x(0))|")
        ax.set_title(NAMES[s])
        ax.legend(fontsize=8)
    fig.tight_layout()
    ctx.savefig(fig, "cf_change_vs_lambda",
                caption="Stress test: mean change of P̂(Y=1|x) when only Z is flipped, per penalty and λ (this seed)")
    plt.close(fig)


def ood_curves(ctx: RunContext, cfg: Any, record: dict[str, Any]) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(record), figsize=(5.2 * len(record), 3.8), squeeze=False)
    assoc = list(cfg.test_associations)
    for ax, (s, r) in zip(axes[0], record.items()):
        runs, ref = r["runs"], r["ref"]
        lines = [("ERM", runs["erm"]["eval"], "k-o"),
                 (f"marginal MMD (λ*={_fmt(r['lambda_star'])})", runs["marginal"]["eval"], "C0-o"),
                 (f"conditional MMD (λ*={_fmt(r['lambda_star'])})", runs["conditional"]["eval"], "C1-s"),
                 ("content-only Bayes (CI ceiling)", ref["bayes_content"], "C2--"),
                 ("train-distribution Bayes", ref["bayes_full"], "C7:")]
        for label, ev, style in lines:
            ax.plot(assoc, [ev[f"acc@{_fmt(a)}"] for a in assoc], style, label=label, ms=4)
        ax.axvline(cfg.train_association, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("test association (γ or ρ)")
        ax.set_ylabel("accuracy")
        ax.set_title(NAMES[s])
        ax.legend(fontsize=7)
    fig.tight_layout()
    ctx.savefig(fig, "ood_accuracy", caption="Accuracy vs the Y–Z association of the test set (training: "
                f"{cfg.train_association}); this seed")
    plt.close(fig)


def learning_curves(ctx: RunContext, cfg: Any, record: dict[str, Any]) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(record), figsize=(5.2 * len(record), 3.6), squeeze=False)
    for ax, (s, r) in zip(axes[0], record.items()):
        for key, run in r["runs"].items():
            if key in ("marginal", "conditional", "reweighted") or not run["curve"]:
                continue
            ax.plot([c["epoch"] for c in run["curve"]], [c["val_acc"] for c in run["curve"]], label=key, lw=1)
        ax.axhline(r["ref"]["bayes_content"]["val_acc"], color="C2", ls="--", lw=0.8)
        ax.axhline(r["ref"]["bayes_full"]["val_acc"], color="C7", ls=":", lw=0.8)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy")
        ax.set_title(NAMES[s])
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    ctx.savefig(fig, "learning_curves", caption="Validation accuracy per epoch of every model (dashed: content-only "
                "Bayes; dotted: train-distribution Bayes)")
    plt.close(fig)
