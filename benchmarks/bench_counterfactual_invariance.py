"""counterfactual-invariance: training-step time of ERM vs ERM + MMD penalty at B = 256 on one thread.

The spec's performance anchor: the penalty (forward + backward) should cost ≤ 2 ms per step at B = 256 on one core
for the ~10 k-parameter bag-of-embeddings classifier (reviewer's straightforward implementation: ERM step ≈ 1.0 ms,
with the conditional penalty ≈ 2.6 ms). Also times the penalty alone (forward + backward on a logit vector) and one
C4 permutation test (4 000 points, 500 permutations). Median times by ``torch.utils.benchmark`` (one thread);
absolute numbers depend on the machine and its load and are reported, never asserted. Writes
``benchmarks/results/counterfactual_invariance.json``.

    OMP_NUM_THREADS=1 python benchmarks/bench_counterfactual_invariance.py [--batch 256]
"""

from __future__ import annotations

import argparse

import torch

from livepapers.core.bench import time_fn, write_results
from livepapers.counterfactual_invariance import (
    BagOfEmbeddingsClassifier,
    CIRegularizer,
    SpuriousReviews,
    mmd_permutation_test,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--min-run-time", type=float, default=1.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    gen = SpuriousReviews("anticausal")
    data = gen.sample(args.batch, 0.9, torch.Generator().manual_seed(0))
    x, y, z = data["tokens"], data["y"], data["z"]
    torch.manual_seed(0)
    model = BagOfEmbeddingsClassifier(gen.vocab_size)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    regs = {"erm": None, "marginal": CIRegularizer(mode="marginal", lam=10.0),
            "conditional": CIRegularizer(mode="conditional", lam=10.0)}

    def step(reg):
        def fn():
            logit = model(x)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, y.float())
            if reg is not None:
                loss = loss + reg.penalty(logit, y, z)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return fn

    def penalty_only(reg):
        h = torch.randn(args.batch, requires_grad=True)

        def fn():
            reg.penalty(h, y, z).backward()
        return fn

    results: dict[str, float] = {"batch": args.batch,
                                 "params": sum(p.numel() for p in model.parameters())}
    for name, reg in regs.items():
        t = time_fn(step(reg), label="train step", sub_label=name, min_run_time=args.min_run_time)
        results[f"step_ms.{name}"] = 1e3 * t["median_s"]
        if reg is not None:
            t = time_fn(penalty_only(reg), label="penalty fwd+bwd", sub_label=name, min_run_time=args.min_run_time)
            results[f"penalty_fwd_bwd_ms.{name}"] = 1e3 * t["median_s"]
    c4 = gen.sample(4000, 0.9, torch.Generator().manual_seed(1))
    h = gen.bayes_content_logit(c4["tokens"])
    t = time_fn(lambda: mmd_permutation_test(h, c4["z"], c4["y"], n_perm=500, generator=0), warmup=1,
                min_run_time=args.min_run_time, label="permutation test", sub_label="conditional")
    results["perm_test_s.conditional_4000x500"] = t["median_s"]
    t = time_fn(lambda: mmd_permutation_test(h, c4["z"], None, n_perm=500, generator=0), warmup=1,
                min_run_time=args.min_run_time, label="permutation test", sub_label="marginal")
    results["perm_test_s.marginal_4000x500"] = t["median_s"]
    for k, v in results.items():
        print(f"{k:40s} {v:.4g}")
    print("written:", write_results("counterfactual_invariance", results))


if __name__ == "__main__":
    main()
