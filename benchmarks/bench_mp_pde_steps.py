"""mp-pde: how R1's accumulated error scales with the training budget (the C1a/C3 reading in the README).

Pilot, not part of the claims (the profile's 800 steps are fixed). On the default profile's E1 data (generated here
exactly as ``prepare`` does: data seed 0, 256 train / 32 test trajectories, official-convention labels at nx = 40)
trains the default architecture (H = 64, M = 4, K = 25, B = 16, AdamW with 50-step warm-up and cosine to 1e-5) from
one seed (model init ``--seed``, batch order ``100 + seed``) for several step counts, without pushforward (R2's
recipe, N_max = 0) and once with the pushforward schedule of R1 (N_max 0/1/2 per 200 steps), and reports the
accumulated error, the per-window errors of the 8-window rollout, and the ratio to persistence (the
"learned" gate is ≤ 0.5), next to the thresholds of C1a (0.8 × WENO5_official(E1, 40)) and C3
(2 × WENO5_official(E1, 100)) and WENO5's own per-window errors. One thread; ≈ 3–4 min. Writes
``benchmarks/results/mp_pde_steps.json``.

These are the review pilot's runs (scratch script ``train_check.py`` of the reviewer), committed so that the numbers
the README quotes can be reproduced.

    OMP_NUM_THREADS=1 python benchmarks/bench_mp_pde_steps.py [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from livepapers.core.bench import write_results
from livepapers.mp_pde.experiment import Config, _prepare_experiment, build_model, trajectories_from_npz
from livepapers.mp_pde.training import accumulated_error, rollout, train, window_errors

# (steps, lr, unrolling): no pushforward over a range of budgets, a higher lr, and R1's recipe at 800 steps
RUNS = ((100, 1e-3, 0), (150, 1e-3, 0), (200, 1e-3, 0), (800, 1e-3, 0), (1400, 1e-3, 0), (800, 3e-3, 0),
        (800, 1e-3, 2))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = Config()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        base = _prepare_experiment(cfg, 0, "E1", tmp)  # the default profile's E1 data and baselines
        z = dict(np.load(Path(tmp) / "E1.npz"))
    print(f"data: {time.perf_counter() - t0:.0f} s")
    tr = trajectories_from_npz(z, "E1", conditioned=True, split="train")
    te = trajectories_from_npz(z, "E1", conditioned=True)
    weno40, weno100 = base["weno"]["weno.official.e1.nx40"], base["weno"]["weno.official.e1.nx100"]
    weno_win = window_errors(z["test_weno"], z["test_u"], cfg.start, cfg.time_window)
    out = {"seed": args.seed, "hidden": cfg.hidden, "layers": cfg.layers, "persistence": base["persistence"],
           "weno_official_nx40": weno40, "weno_official_nx100": weno100,
           "c1a_threshold_r1": 0.8 * weno40, "c3_threshold_r1": 2 * weno100,
           "weno_official_nx40_windows": [float(w) for w in weno_win], "runs": []}
    print(f"persistence {base['persistence']:.1f}; C1a needs R1 ≤ {0.8 * weno40:.2f}, C3 needs R1 ≤ "
          f"{2 * weno100:.2f}; WENO5 official nx40 windows {np.round(weno_win.numpy(), 3).tolist()}")
    for steps, lr, unrolling in RUNS:
        torch.manual_seed(args.seed)
        model = build_model(cfg, "E1", n_params=0)
        t1 = time.perf_counter()
        losses = train(model, tr, steps=steps, batch_size=cfg.batch_size, lr=lr, unrolling=unrolling,
                       schedule="cosine", generator=torch.Generator().manual_seed(100 + args.seed),
                       epoch_steps=cfg.epoch_steps, warmup=cfg.warmup, lr_min=cfg.lr_min,
                       progress=lambda it, s=steps: tqdm(it, desc=f"{s} steps", leave=False))
        train_s = time.perf_counter() - t1
        pred = rollout(model, te.u, te.x, te.t, te.params, start=cfg.start)
        err = float(accumulated_error(pred, te.u, cfg.start).mean())
        win = window_errors(pred, te.u, cfg.start, cfg.time_window)
        row = {"steps": steps, "lr": lr, "unrolling": unrolling, "acc_err": err,
               "acc_err_over_persistence": err / base["persistence"],
               "windows": [float(w) for w in win], "loss_end": float(np.mean(losses[-50:])), "train_s": train_s}
        out["runs"].append(row)
        print(f"steps {steps:5d} lr {lr:.0e} N_max≤{unrolling}: acc. error {err:7.2f} "
              f"({err / base['persistence']:.3f} × persistence), windows {np.round(win.numpy(), 3).tolist()} "
              f"({train_s:.0f} s)")
    write_results("mp_pde_steps", out)
    return out


if __name__ == "__main__":
    main()
