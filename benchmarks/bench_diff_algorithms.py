"""Benchmarks for diff-algorithms (one core): sorting-network index form vs the dense-matrix formulation,
logic-gate training (4-coefficient vs 16-term), compiled logic-net inference at 16K and 48K gates (generic kernel =
baseline, straight-line C with 64-bit words, 256-bit GCC-vector code, numpy, PyTorch eval; samples/s and compile
time), and GenDR time per image.

    .venv/bin/python benchmarks/bench_diff_algorithms.py [--quick]

Writes ``benchmarks/results/diff_algorithms.json``. Times are CPU seconds of this single-threaded process (best of
several calls), because wall clock on the shared 2-core machine is dominated by other jobs; absolute figures are
reported, never asserted; compare the ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch
from torch import nn

from livepapers.core.bench import peak_memory_mb, write_results
from livepapers.diff_algorithms.compiled import CompiledLogicNet, pack_bits
from livepapers.diff_algorithms.logic import GroupSum, LogicLayer
from livepapers.diff_algorithms.rendering import GenDR, iou_loss
from livepapers.diff_algorithms.sorting import SIGMOIDS, DiffSortNet


def time_fn(fn, *, min_run_time: float = 0.5, warmup: int = 1) -> dict[str, float]:
    """Best CPU seconds per call of ``fn()`` over repeated calls lasting at least ``min_run_time`` CPU seconds."""
    for _ in range(warmup):
        fn()
    best, spent, runs = float("inf"), 0.0, 0
    while spent < min_run_time or runs < 3:
        t = time.process_time()
        fn()
        dt = time.process_time() - t
        best, spent, runs = min(best, dt), spent + dt, runs + 1
    return {"median_s": best, "runs": runs}


def dense_sort(sorter: DiffSortNet, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The official formulation: one dense ``n×n`` swap matrix per layer, ``P <- P @ M`` (``O(n³)`` per layer)."""
    net = sorter.network
    b, n = x.shape
    f = SIGMOIDS[sorter.distribution]
    P = torch.eye(n).expand(b, n, n)
    idx = torch.arange(n)
    for l in range(net.depth):
        p = net.partner[l]
        xp = x[:, p]
        alpha = f(torch.where(idx < p, xp - x, x - xp), sorter.steepness, sorter.art_lambda)
        gamma = torch.where(net.reverse[l], 1 - alpha, alpha)
        gamma = torch.where(p != idx, gamma, torch.ones_like(gamma))
        M = torch.diag_embed(gamma) + torch.zeros(b, n, n).index_put((torch.arange(b)[:, None], p[None], idx[None]),
                                                                    1 - gamma)
        x = (x.unsqueeze(1) @ M).squeeze(1)
        P = P @ M
    return x, P


def bench_sorting(sizes: list[int], dense_max: int) -> list[dict]:
    rows = []
    for n in sizes:
        sorter = DiffSortNet("bitonic", n, steepness=20.0)
        x = torch.randn(8, n)

        def ours(sorter=sorter, x=x):
            xx = x.clone().requires_grad_(True)
            y, P = sorter(xx)
            (P.sum() + y.sum()).backward()

        def dense(sorter=sorter, x=x):
            xx = x.clone().requires_grad_(True)
            y, P = dense_sort(sorter, xx)
            (P.sum() + y.sum()).backward()

        row = {"n": n, "layers": sorter.network.depth, "ours_s": time_fn(ours, min_run_time=0.3, warmup=1)["median_s"],
               "ours_peak_mb": peak_memory_mb(ours)}
        if n <= dense_max:
            row["dense_s"] = time_fn(dense, min_run_time=0.3, warmup=1)["median_s"]
            row["dense_peak_mb"] = peak_memory_mb(dense)
            row["speedup"] = row["dense_s"] / row["ours_s"]
        print(row)
        rows.append(row)
    return rows


def logic_net(in_dim: int, width: int, depth: int, classes: int = 10, implementation: str = "fast") -> nn.Sequential:
    layers = [LogicLayer(in_dim, width, seed=0, implementation=implementation)]
    layers += [LogicLayer(width, width, seed=i + 1, implementation=implementation) for i in range(depth - 1)]
    return nn.Sequential(*layers, GroupSum(classes, 10.0))


def bench_logic_training() -> dict:
    out = {}
    x = (torch.rand(100, 192) > 0.5).float()
    y = torch.randint(0, 10, (100,))
    for impl in ("fast", "reference"):
        model = logic_net(192, 4000, 4, implementation=impl)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)

        def step(model=model, opt=opt):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        out[f"train_step_{impl}_s"] = time_fn(step, min_run_time=1.0)["median_s"]
    out["train_speedup_fast_vs_reference"] = out["train_step_reference_s"] / out["train_step_fast_s"]
    print(out)
    return out


def bench_logic_inference(batch: int, nets: dict[str, tuple[int, int, int]]) -> dict:
    """Compiled inference of random discretised nets (``name -> (in_dim, width, depth)``, 10 classes): the generic
    kernel (baseline), straight-line C with 64-bit words and with 256-bit vector words, numpy and PyTorch eval mode;
    samples/s on pre-packed inputs (best of several calls, one core) and compile time in a fresh cache."""
    out: dict = {"batch": batch, "opt_level": 1, "auto_word_bits": None}
    old = os.environ.get("LIVEPAPERS_CACHE")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["LIVEPAPERS_CACHE"] = tmp  # every library really compiled, timed
            for name, (in_dim, width, depth) in nets.items():
                model = logic_net(in_dim, width, depth).eval()
                xb = np.random.default_rng(0).random((batch, in_dim)) > 0.5
                packed = pack_bits(xb)
                row: dict = {"gates": width * depth}
                variants = {"generic": dict(kernel="generic"), "straight_64": dict(num_bits=64),
                            "vector_256": dict(num_bits=256), "numpy": dict(backend="numpy")}
                ref = None
                for label, kw in variants.items():
                    net = CompiledLogicNet(model, **kw).compile(opt_level=1)
                    counts = net.forward_packed(packed, batch)
                    ref = counts if ref is None else ref
                    assert (counts == ref).all(), f"{label} differs from the generic kernel"
                    if label != "numpy":
                        row[f"{label}_compile_s"] = net.compile_seconds
                    t = time_fn(lambda net=net, packed=packed: net.forward_packed(packed, batch),
                                min_run_time=0.3 if label == "numpy" else 1.0)["median_s"]
                    row[f"{label}_samples_per_s"] = batch / t
                auto = CompiledLogicNet(model).compile(opt_level=1)  # the width compile() picks on this CPU
                out["auto_word_bits"] = auto.word_bits
                xt = torch.from_numpy(xb[:4096].astype(np.float32))

                def torch_eval(model=model, xt=xt):
                    with torch.no_grad():
                        for chunk in xt.split(1024):  # chunks: 4096 × 8000 float tensors would be page-fault bound
                            model(chunk)

                row["torch_eval_samples_per_s"] = 4096 / time_fn(torch_eval, min_run_time=1.0)["median_s"]
                row["end_to_end_vector_256_samples_per_s"] = batch / time_fn(
                    lambda model=model, xb=xb: net_e2e(model, xb), min_run_time=1.0)["median_s"]
                base = row["generic_samples_per_s"]
                for label in ("straight_64", "vector_256", "numpy"):
                    row[f"speedup_{label}_vs_generic"] = row[f"{label}_samples_per_s"] / base
                row["speedup_vector_256_vs_torch_eval"] = row["vector_256_samples_per_s"] / row[
                    "torch_eval_samples_per_s"]
                print(name, row, flush=True)
                out[name] = row
    finally:
        if old is None:
            os.environ.pop("LIVEPAPERS_CACHE", None)
        else:
            os.environ["LIVEPAPERS_CACHE"] = old
    return out


_E2E: dict = {}


def net_e2e(model: nn.Module, xb: np.ndarray) -> np.ndarray:
    """End to end from Booleans (packing included), 256-bit vector code (compiled once per model)."""
    if id(model) not in _E2E:
        _E2E[id(model)] = CompiledLogicNet(model, num_bits=256).compile(opt_level=1)
    return _E2E[id(model)](xb)


def bench_render() -> dict:
    g = torch.Generator().manual_seed(0)
    v = ((torch.rand(1, 20, 3, 2, generator=g) - 0.5) * 1.2).requires_grad_(True)
    target = (torch.rand(1, 64, 64, generator=g) > 0.5).float()
    out = {}
    for dist in ("uniform", "cauchy"):
        r = GenDR(image_size=64, dist_func=dist, dist_scale=0.02)
        out[f"render_64px_20tri_fwd_bwd_{dist}_s"] = time_fn(lambda r=r: iou_loss(r(v), target).sum().backward(),
                                                             min_run_time=0.5)["median_s"]
    vb = ((torch.rand(50, 12, 3, 2, generator=g) - 0.5) * 1.2).requires_grad_(True)
    tb = (torch.rand(50, 64, 64, generator=g) > 0.5).float()
    r = GenDR(image_size=64, dist_func="cauchy", dist_scale=0.02)
    out["render_batched_per_image_12tri_s"] = time_fn(lambda: iou_loss(r(vb), tb).sum().backward(),
                                                      min_run_time=1.0)["median_s"] / 50
    print(out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (a smoke test of this script)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sizes = [16, 64] if args.quick else [16, 64, 256, 1024]
    results = {
        "sorting_bitonic_batch8_fwd_bwd": bench_sorting(sizes, dense_max=64 if args.quick else 256),
        "logic_training": {} if args.quick else bench_logic_training(),
        "logic_inference": bench_logic_inference(4096 if args.quick else 65536,
                                                 {"16k": (192, 1000, 4)} if args.quick else
                                                 {"16k": (192, 4000, 4), "48k": (784, 8000, 6)}),
        "rendering": bench_render(),
        "threads": 1,
    }
    if not args.quick:
        print("wrote", write_results("diff_algorithms", results))


if __name__ == "__main__":
    main()
