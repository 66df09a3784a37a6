"""Tracking overhead of neural-mechanics: TrackedSGD + SymmetryTracker vs plain torch.optim.SGD, per step.

Both are measured in the same process on the same fixed batch (float64, one thread), after warm-up, in short
interleaved blocks (plain, tracked, plain, ...) timed by the thread's CPU clock, so that time spent descheduled
on shared cores does not count and slow drifts affect both modes alike; the median over blocks is reported
(wall-clock medians beside it). Spec targets: <= 30 % extra for CNN-BN,
<= 0.5 ms absolute extra for the MLPs. Writes benchmarks/results/neural_mechanics.json.

Run: ``python benchmarks/bench_neural_mechanics.py [--rounds 15] [--block 0.15]`` or
``livepapers bench neural-mechanics``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
import torch.nn.functional as F

from livepapers.core.bench import write_results
from livepapers.neural_mechanics import SymmetryTracker, TrackedSGD, find_symmetries, make_model

CASES = (
    ("mlp_relu", dict(lr=0.1, weight_decay=5e-3)),
    ("mlp_bn", dict(lr=0.1, weight_decay=5e-3)),
    ("mlp_bn", dict(lr=0.02, momentum=0.9, weight_decay=1e-3)),
    ("cnn_bn", dict(lr=0.1, weight_decay=5e-3)),
)


def _step_fn(name: str, kw: dict, tracked: bool, batch: int):
    g = torch.Generator().manual_seed(0)
    model = make_model(name, generator=g)
    x = torch.randn(batch, 64, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (batch,), generator=g)
    if tracked:
        opt = TrackedSGD(model.parameters(), **kw)
        tracker = SymmetryTracker(model, find_symmetries(model), opt)
    else:
        opt = torch.optim.SGD(model.parameters(), **kw)
        tracker = None

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if tracker is not None:
            tracker.step()

    return step


def _time_block(fn, n: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per call over n calls; thread CPU time ignores time spent descheduled."""
    c0, w0 = time.thread_time(), time.perf_counter()
    for _ in range(n):
        fn()
    return (time.thread_time() - c0) / n, (time.perf_counter() - w0) / n


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15, help="interleaved plain/tracked blocks per case")
    ap.add_argument("--block", type=float, default=0.15, help="seconds per block (sets steps per block)")
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning)
    results: dict = {
        "unit": "seconds per training step (forward + backward + optimizer [+ tracker]), thread CPU time",
        "method": "interleaved blocks of plain / tracked steps after warm-up; medians over blocks; the ratio "
                  "is the median of the per-round tracked/plain ratios",
        "batch": args.batch, "dtype": "float64", "threads": 1, "cases": [],
    }
    for name, kw in CASES:
        fns = {mode: _step_fn(name, kw, mode == "tracked", args.batch) for mode in ("plain", "tracked")}
        for fn in fns.values():  # warm-up
            for _ in range(20):
                fn()
        per_step = _time_block(fns["plain"], 10)[0]
        n = max(5, int(args.block / max(per_step, 1e-5)))
        cpu: dict[str, list[float]] = {"plain": [], "tracked": []}
        wall: dict[str, list[float]] = {"plain": [], "tracked": []}
        ratios, extras = [], []
        for _ in range(args.rounds):
            for mode in ("plain", "tracked"):
                c, w = _time_block(fns[mode], n)
                cpu[mode].append(c)
                wall[mode].append(w)
            ratios.append(cpu["tracked"][-1] / cpu["plain"][-1])
            extras.append(cpu["tracked"][-1] - cpu["plain"][-1])
        med = {m: statistics.median(v) for m, v in cpu.items()}
        ratio = statistics.median(ratios)
        extra_ms = statistics.median(extras) * 1e3
        target = "ratio <= 1.30" if name == "cnn_bn" else "extra <= 0.5 ms"
        meets = ratio <= 1.30 if name == "cnn_bn" else extra_ms <= 0.5
        case = {
            "model": name, "optimizer": kw, "steps_per_block": n, "rounds": args.rounds,
            "plain_cpu_s": med["plain"], "tracked_cpu_s": med["tracked"],
            "plain_wall_s": statistics.median(wall["plain"]), "tracked_wall_s": statistics.median(wall["tracked"]),
            "ratio": ratio, "extra_ms": extra_ms, "target": target, "meets_target": bool(meets),
        }
        results["cases"].append(case)
        print(f"{name:9s} {'momentum' if kw.get('momentum') else 'sgd':8s} plain {med['plain'] * 1e3:7.3f} ms  "
              f"tracked {med['tracked'] * 1e3:7.3f} ms  ratio {ratio:5.2f}  extra {extra_ms:6.3f} ms  "
              f"({target}: {'ok' if meets else 'MISSED'})")
    path = write_results("neural_mechanics", results)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
