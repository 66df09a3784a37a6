"""sgm-theory: samples per second of each sampler at d ∈ {2, 16, 128}, and the cost of exact 1-D propagation.

Each sampler runs ``--steps`` reverse steps on ``--n`` samples of the G4-style 4-component isotropic mixture (analytic
score, cost O(N·n·K·d)); the samples/s is n divided by the minimum CPU time (time.process_time) over ``--repeats``
calls on one thread. Exact propagation: one 600-step DDPM-EI propagation on the spec's 1001-point grid on
[−10, 10] (banded kernel, ±8 kernel widths) and the same with a dense kernel for comparison. Absolute numbers
depend on the machine and are reported, never asserted. Writes ``benchmarks/results/sgm_theory.json``.

    OMP_NUM_THREADS=1 python benchmarks/bench_sgm_theory.py [--n 10000] [--steps 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import time
from functools import partial

import numpy as np
import torch

from livepapers.core.bench import write_results
from livepapers.sgm_theory import cld_ei, data, ddpm_ei, ddpm_em, ei_density_1d, prob_flow_heun, ula


def _cpu(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _dense_propagation(q, grid, T, h):
    p = np.exp(-0.5 * grid ** 2) / math.sqrt(2 * math.pi)
    dx = grid[1] - grid[0]
    xg = torch.from_numpy(grid.reshape(-1, 1))
    var = math.expm1(2 * h)
    for k in range(round(T / h)):
        mean = math.exp(h) * grid + 2 * math.expm1(h) * q.score_t(xg, T - k * h).reshape(-1).numpy()
        K = np.exp(-0.5 * (grid[:, None] - mean[None, :]) ** 2 / var) / math.sqrt(2 * math.pi * var)
        p = K @ (p * dx)
    return p


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    h = 0.01
    T = h * args.steps
    out: dict = {"samplers": {}, "propagation": {}}
    for d in (2, 16, 128):
        q = data.g4_hypercube(d, torch.Generator().manual_seed(0))
        g = torch.Generator().manual_seed(1)
        cases = {
            "ddpm_ei": partial(ddpm_ei, q.score_t, args.n, d, T, h, g),
            "ddpm_em": partial(ddpm_em, q.score_t, args.n, d, T, h, g),
            "prob_flow_heun": partial(prob_flow_heun, q.score_t, args.n, d, T, h, g),
            "cld_ei": partial(cld_ei, q.velocity_score_t, args.n, d, T, h, g),
            "ula": partial(ula, q.score, args.n, d, h, args.steps, g),
        }
        for name, fn in cases.items():
            cpu = _cpu(fn, args.repeats)
            key = f"{name}_d{d}"
            out["samplers"][key] = {"cpu_s": cpu, "samples_per_s": args.n / cpu, "steps": args.steps, "n": args.n,
                                    "d": d, "components": 4}
            print(f"{key:24s} {cpu:8.3f} CPU-s  {args.n / cpu:12.0f} samples/s ({args.steps} steps)")
    q = data.g2_bimodal()
    grid = np.linspace(-10, 10, 1001)
    banded = _cpu(partial(ei_density_1d, q.score_t, grid, 6.0, 0.01), 1)
    dense = _cpu(partial(_dense_propagation, q, grid, 6.0, 0.01), 1)
    out["propagation"] = {"banded_600_steps_G1001_s": banded, "dense_600_steps_G1001_s": dense,
                          "speedup": dense / banded}
    print(f"exact propagation, 600 steps, G = 1001: banded {banded:.2f} CPU-s, dense {dense:.2f} CPU-s")
    write_results("sgm_theory", out)
    return out


if __name__ == "__main__":
    main()
