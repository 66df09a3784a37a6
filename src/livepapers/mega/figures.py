"""The figures of the Mega reproduction: accuracy per model (C1/C2/C4) and cost vs length (C3)."""

from __future__ import annotations

import math
import statistics
from typing import Any

from livepapers.core.plots import pyplot
from livepapers.core.runs import RunContext
from livepapers.core.stats import fit_loglog_slope

from .efficiency import EFF_KINDS


def efficiency_figure(rows: list[dict[str, Any]], ctx: RunContext) -> None:
    """C3: time and peak memory of one block vs length (log–log, median of the repeats, fitted slopes)."""
    plt = pyplot()
    n = 1 + max(r["repeat"] for r in rows)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax, unit in (("time_s", axes[0], "CPU s per fwd+bwd"), ("peak_mb", axes[1], "peak RSS growth (MiB)")):
        for c, kind in enumerate(EFF_KINDS):
            pts = [(r["length"], r[key]) for r in rows if r["model"] == kind and math.isfinite(r[key])]
            lengths = sorted({L for L, _ in pts})
            if len(lengths) < 2:
                continue
            med = [statistics.median(v for L2, v in pts if L2 == L) for L in lengths]
            slope = fit_loglog_slope(lengths, med)
            ax.loglog(lengths, med, "o-", color=f"C{c}", label=f"{kind} (slope {slope:.2f})")
            if key == "time_s" and n > 1:
                ax.scatter([L for L, _ in pts], [v for _, v in pts], s=10, color=f"C{c}", alpha=0.5)
        ax.set_xlabel("sequence length L")
        ax.set_ylabel(unit)
        if ax.get_lines():
            ax.legend()
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"One block, batch 2, 1 thread: cost vs length (log–log; median of {n} timed calls, dots: each)")
    ctx.savefig(fig, "efficiency", caption="C3: forward+backward time and peak memory of one block vs length, "
                "with fitted log–log slopes (Mega-chunk c = 128, full Mega, Transformer with explicit attention); "
                "measured once per reproduce, before the seeds.")


def accuracy_figure(acc: dict[str, float], curves: dict[str, list[float]], steps: int, ctx: RunContext) -> None:
    """C1/C2/C4: test accuracy per model (this seed) and the training-loss curves (window means)."""
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    names = list(acc)
    a1.bar(names, [acc[n] for n in names], color=["C0", "C1", "C2", "C3"][: len(names)])
    for i, n in enumerate(names):
        a1.text(i, acc[n] + 1, f"{acc[n]:.1f}", ha="center")
    a1.set_ylabel("test accuracy (%)")
    a1.set_ylim(0, 105)
    a1.set_title(f"sDigits-256, seed {ctx.seed}, {steps} steps")
    w = max(1, steps // 30)
    for n, c in curves.items():
        sm = [sum(c[i:i + w]) / len(c[i:i + w]) for i in range(0, len(c), w)]
        a2.plot([i * w for i in range(len(sm))], sm, label=n)
    a2.set_xlabel("step")
    a2.set_ylabel("training loss (window mean)")
    a2.legend()
    ctx.savefig(fig, "accuracy", caption="C1/C2/C4: test accuracy per model on sDigits-256 (this seed) and "
                "training loss curves.")
