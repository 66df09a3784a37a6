"""Potential outcomes: CPU seconds of the estimators against the spec's performance anchors.

Anchors (spec): every point estimator on NSW + CPS (16 177 × 15) < 0.5 s; bootstrap B = 200 < 30 s; NN matching
< 0.5 s; causal forest, 200 trees, n = 2 000, p = 6, pure NumPy ≤ 30 s per fit. Each case is timed as the
minimum CPU time (time.process_time) over ``--repeats`` calls on one thread; absolute numbers depend on the
machine and are reported, never asserted. Writes ``benchmarks/results/potential_outcomes.json``.

    OMP_NUM_THREADS=1 python benchmarks/bench_potential_outcomes.py [--repeats 3] [--trees 200]
"""

from __future__ import annotations

import argparse
import time
import warnings

from livepapers.core.bench import write_results
from livepapers.potential_outcomes import (
    AIPW,
    IPW,
    CausalForest,
    PropensityModel,
    PSMatching,
    Subclassification,
    data,
)


def _cpu(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--trees", type=int, default=200)
    args = ap.parse_args(argv)
    df = data.load_nsw("cps")
    y, t, f = df["re78"], df["treat"], data.dw_style_features(df)
    x = df[list(data.NSW_COVARIATES)]
    e = PropensityModel().fit(t, f).predict(f)
    s = data.nie_wager("D", 2000, 6, 1.0, generator=0)
    cases = {
        "propensity_logit_newton": lambda: PropensityModel().fit(t, f),
        "ipw_att_point": lambda: IPW(estimand="att", n_boot=0).fit(y, t, e=e),
        "aipw_att": lambda: AIPW(estimand="att").fit(y, t, x, e=e),
        "nn_matching": lambda: PSMatching().fit(y, t, e=e),
        "subclassification_10": lambda: Subclassification(n_strata=10, strata_on="treated", estimand="att"
                                                          ).fit(y, t, e=e),
        "ipw_att_bootstrap_200": lambda: IPW(estimand="att", n_boot=200).fit(y, t, f),
        f"causal_forest_{args.trees}_trees_n2000": lambda: CausalForest(args.trees).fit(s.Y, s.T, X=s.X),
    }
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, fn in cases.items():
            reps = 1 if "bootstrap" in name or "forest" in name else args.repeats
            out[name] = {"cpu_s": _cpu(fn, reps), "repeats": reps}
            print(f"{name:40s} {out[name]['cpu_s']:8.3f} CPU-s")
    write_results("potential_outcomes", out)
    return out


if __name__ == "__main__":
    main()
