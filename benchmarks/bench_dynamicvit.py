"""DynamicViT cost sweep: images/s, peak memory and FLOPs of DeiT-S vs keep ratio rho, in one run.

Random-weight DeiT-S (224², patch 16, C 384, 12 blocks) in eval mode under ``torch.inference_mode``,
batch 32, one thread; rho in {1.0, 0.9, 0.8, 0.7, 0.5} with real pruning (predictors included) next to
the dense model without predictors. Absolute numbers depend on the machine and on what else runs;
the ratios to dense are measured in the same run. Writes ``benchmarks/results/dynamicvit.json``.

    OMP_NUM_THREADS=1 python benchmarks/bench_dynamicvit.py [--batch 32] [--repeats 3]
"""

from __future__ import annotations

import argparse

import torch

from livepapers.core.bench import peak_memory_mb, time_fn, write_results
from livepapers.dynamicvit import count_flops, deit_small_dynamic, deit_small_teacher

RHOS = (1.0, 0.9, 0.8, 0.7, 0.5)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="timing rounds (each model once per round)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    dense = deit_small_teacher().eval()
    x = torch.randn(args.batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    models: list[tuple[str, float | None, torch.nn.Module]] = [("dense", None, dense)]
    for rho in RHOS:
        m = deit_small_dynamic(rho=rho).eval()
        m.load_state_dict(dense.state_dict(), strict=False)
        models.append((f"rho={rho}", rho, m))

    def forward_of(model: torch.nn.Module):
        def forward() -> None:
            with torch.inference_mode():
                model(x)

        return forward

    # memory first, each in a forked child of a parent that has not run any forward yet (so the
    # allocator caches of earlier forwards do not hide the growth)
    memory = {name: peak_memory_mb(forward_of(model)) for name, _, model in models}
    # timing in interleaved rounds (every model once per round), median over rounds: slow drifts of a
    # shared machine hit all models alike
    per_round: dict[str, list[float]] = {name: [] for name, _, _ in models}
    for _name, _, model in models:  # warm-up
        forward_of(model)()
    for _ in range(args.repeats):
        for name, _, model in models:
            t = time_fn(forward_of(model), label="DynamicViT DeiT-S", sub_label=name,
                        description=f"batch {args.batch}", min_run_time=0.0, num_threads=1, warmup=0)
            per_round[name].append(t["median_s"])
    rows = []
    for name, rho, _ in models:
        times = sorted(per_round[name])
        median = times[len(times) // 2]
        flops = count_flops(dict(embed_dim=384, depth=12, num_heads=6), rho)
        rows.append({"model": name, "rho": rho, "images_per_s": args.batch / median, "median_s": median,
                     "round_times_s": per_round[name], "peak_memory_mb": memory[name],
                     "gflops_per_image": flops / 1e9})
        print(f"{name:>8}: {rows[-1]['images_per_s']:7.2f} img/s  {memory[name]:7.1f} MiB  "
              f"{flops / 1e9:.3f} GFLOPs", flush=True)
    base = rows[0]
    for r in rows:
        r["speedup_vs_dense"] = r["images_per_s"] / base["images_per_s"]
        r["flop_ratio_vs_dense"] = base["gflops_per_image"] / r["gflops_per_image"]
        r["memory_ratio_vs_dense"] = r["peak_memory_mb"] / base["peak_memory_mb"]
    results = {"batch": args.batch, "threads": 1, "rounds": args.repeats,
               "units": {"gflops_per_image": "G multiply-adds", "peak_memory_mb": "MiB growth during a forward"},
               "rows": rows}
    path = write_results("dynamicvit", results)
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
