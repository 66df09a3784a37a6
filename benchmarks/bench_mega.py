"""Mega vs Mega-chunk vs Transformer: forward+backward time and peak memory of one block vs length.

One block (d 128, z 64, v 256, h 16, bidirectional EMA, FFN 256; Transformer: 8 heads, explicit attention),
batch 2, 1 thread, L = 256 … 8192. Each (model, length) runs in a forked child (its RSS high-water mark
starts at fork), 1 warm-up + 2 timed calls (minimum, CPU seconds). A length is skipped for a model when
the quadratic extrapolation from the previous length exceeds the time or memory cap; the skip is recorded.
Writes ``benchmarks/results/mega.json``.

    python benchmarks/bench_mega.py [--max-len 8192] [--mem-cap-mb 4000] [--time-cap-s 20]
"""

from __future__ import annotations

import argparse
import time

import torch

from livepapers.core.bench import write_results
from livepapers.core.stats import fit_loglog_slope
from livepapers.mega.efficiency import BlockSpec, measure_block_forked

KINDS = ("mega_chunk", "mega", "transformer")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-len", type=int, default=8192)
    ap.add_argument("--min-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--mem-cap-mb", type=float, default=4000.0, help="skip when the predicted peak exceeds this")
    ap.add_argument("--time-cap-s", type=float, default=20.0, help="skip when one predicted fwd+bwd exceeds this")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    spec = BlockSpec()
    lengths = []
    L = args.min_len
    while L <= args.max_len:
        lengths.append(L)
        L *= 2
    t_start = time.perf_counter()
    rows, skipped = [], []
    for kind in KINDS:
        prev = None
        for L in lengths:
            if prev is not None:
                growth = (L / prev["length"]) ** 2  # worst case: quadratic
                pred_t, pred_m = prev["time_s"] * growth, prev["peak_mb"] * growth
                if pred_t > args.time_cap_s or pred_m > args.mem_cap_mb:
                    skipped.append({"model": kind, "length": L, "predicted_time_s": pred_t,
                                    "predicted_peak_mb": pred_m,
                                    "reason": f"predicted > cap ({args.time_cap_s} s, {args.mem_cap_mb} MiB)"})
                    print(f"{kind:12s} L={L:5d}  skipped (predicted {pred_t:.1f} s, {pred_m:.0f} MiB)", flush=True)
                    continue
            r = measure_block_forked(kind, L, batch=args.batch, spec=spec, repeats=2)
            row = {"model": kind, "length": L, **r}
            rows.append(row)
            prev = row
            print(f"{kind:12s} L={L:5d}  {r['time_s']:.3f} CPU s  {r['wall_s']:.3f} wall s  {r['peak_mb']:.0f} MiB",
                  flush=True)
    slopes = {}
    for kind in KINDS:
        pts = [r for r in rows if r["model"] == kind and r["error"] == 0.0]
        for key in ("time_s", "peak_mb"):
            for lo in (args.min_len, 1024):
                sel = [r for r in pts if r["length"] >= lo]
                if len(sel) >= 2:
                    slopes[f"{kind}_{key}_slope_L{lo}+"] = fit_loglog_slope([r["length"] for r in sel],
                                                                            [r[key] for r in sel])
    ratios = {}
    for L in lengths:
        by = {r["model"]: r for r in rows if r["length"] == L}
        if "transformer" in by:
            for kind in ("mega_chunk", "mega"):
                if kind in by:
                    ratios[f"{kind}_speedup_L{L}"] = by["transformer"]["time_s"] / by[kind]["time_s"]
                    ratios[f"{kind}_mem_ratio_L{L}"] = by[kind]["peak_mb"] / by["transformer"]["peak_mb"]
    results = {"spec": spec.__dict__, "batch": args.batch, "threads": 1, "lengths": lengths, "rows": rows,
               "skipped": skipped, "slopes": slopes, "ratios": ratios,
               "time_unit": "CPU seconds per forward+backward (min of 2 after 1 warm-up)",
               "memory_unit": "MiB, peak RSS growth in a forked child",
               "seconds_total": time.perf_counter() - t_start}
    path = write_results("mega", results)
    for k, v in {**slopes, **ratios}.items():
        print(f"{k:40s} {v:.3f}")
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
