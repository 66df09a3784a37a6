"""neural-des: reversible Heun vs midpoint cost per step; Brownian Interval vs trees (queries/s); seminorm vs default
norm backward evaluations. One run, one thread; absolute numbers depend on the machine and are reported, never
asserted. Writes ``benchmarks/results/neural_des.json``.

    OMP_NUM_THREADS=1 python benchmarks/bench_neural_des.py [--repeats 3] [--batch 1024] [--steps 1000]

* Solvers: the C2 random neural SDE (4-dim state, 3-dim noise, MLPs of width 64, float64), forward solve with
  precomputed increments; seconds per step and vector-field evaluations per step, for batch 64 and ``--batch``.
* Brownian motion: forward then reverse sweep of ``--queries`` increments on [0, 10], size (1024, 4): queries/s of our
  Brownian Interval (dt hint), our Virtual Brownian Tree (tol 1e-5) and torchsde's BrownianInterval/BrownianTree.
* Seminorm: backward-pass NFE of an NCDE (untrained, hidden 32, width 128) on 64 JapaneseVowels series at r = 0.3,
  dopri5 rtol 1e-3 atol 1e-6, with torchdiffeq's default adjoint norm, the seminorm and an RMS over the whole state.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from livepapers.core.bench import write_results
from livepapers.neural_des import NeuralCDE
from livepapers.neural_des.data import japanese_vowels
from livepapers.neural_des.lab import c2_timing, c3_timing, seminorm_nfe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--queries", type=int, default=1000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    out: dict = {"solvers": {}, "brownian": {}, "seminorm": {}}
    for batch in (64, args.batch):
        r = c2_timing(batch=batch, steps=args.steps, dt=0.01, width=64, repeats=args.repeats)
        med = {k: statistics.median(v) for k, v in r["times"].items()}
        out["solvers"][f"batch{batch}"] = {
            "s_per_step_reversible_heun": med["rh"] / args.steps, "s_per_step_midpoint": med["mid"] / args.steps,
            "evals_per_step_reversible_heun": r["nfe_rh"] / args.steps,
            "evals_per_step_midpoint": r["nfe_mid"] / args.steps, "speedup": med["mid"] / med["rh"],
            "speedup_with_brownian_interval": med["mid_bi"] / med["rh_bi"]}
        print(f"batch {batch}: midpoint/reversible Heun = {med['mid'] / med['rh']:.2f}x")
    t = c3_timing(queries=args.queries, t1=10.0, size=(1024, 4), dt=0.01, tol=1e-5, repeats=args.repeats)
    for k, v in t.items():
        out["brownian"][k] = {"sweep_s": statistics.median(v), "queries_per_s": 2 * args.queries / statistics.median(v)}
        print(f"{k}: {2 * args.queries / statistics.median(v):.0f} queries/s")
    d = japanese_vowels(0.3, torch.Generator().manual_seed(0))
    tte, vte, yte = d["test"]
    torch.manual_seed(0)
    model = NeuralCDE(13, 32, 9)
    res = seminorm_nfe(model, tte[:64], vte[:64], yte[:64])
    out["seminorm"] = {k: {"nfe_forward": v["nfe_forward"], "nfe_backward": v["nfe_backward"]} for k, v in res.items()}
    print({k: v["nfe_backward"] for k, v in res.items()})
    print(write_results("neural_des", out))


if __name__ == "__main__":
    main()
