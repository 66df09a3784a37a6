"""Measurements of DynamicViT's reproduction: cost (FLOPs, CPU throughput) and test accuracy / recall."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from livepapers.core.runs import RunContext
from livepapers.core.stats import max_or_nan

from .complexity import DEIT_S, count_flops, count_flops_traced
from .data import DigitBatch, object_patches
from .metrics import FLOPS_TABLE_RHOS, flops_metric
from .modules import VisionTransformerDiffPruning, VisionTransformerTeacher, make_token_ratio
from .throughput import measure_throughput
from .training import model_kwargs, selection_scores

if TYPE_CHECKING:
    from .experiment import BenchConfig, Config


def _bench_kwargs(b: BenchConfig) -> dict:
    return dict(img_size=b.img_size, patch_size=b.patch_size, in_chans=3, num_classes=1000,
                embed_dim=b.embed_dim, depth=b.depth, num_heads=b.num_heads)


def measure_cost(cfg: Config, ctx: RunContext) -> dict[str, float]:
    """FLOPs (analytic DeiT-S + traced on the bench model) and CPU throughput, dense vs rho."""
    out: dict[str, float] = {}
    dense = count_flops(DEIT_S, None)
    out["flops_dense_g"] = dense / 1e9
    for r in FLOPS_TABLE_RHOS:
        out[flops_metric(r)] = count_flops(DEIT_S, r) / 1e9
    out["flops_reduction"] = 1.0 - out[flops_metric(0.7)] / out["flops_dense_g"]

    kw = _bench_kwargs(cfg.bench)
    torch.manual_seed(1000 + ctx.seed)
    dense_model = VisionTransformerTeacher(**kw).eval()
    pruned = VisionTransformerDiffPruning(**kw, pruning_loc=cfg.bench.pruning_loc,
                                          token_ratio=make_token_ratio(cfg.rho, len(cfg.bench.pruning_loc))).eval()
    pruned.load_state_dict(dense_model.state_dict(), strict=False)
    analytic_dense, analytic_pruned = count_flops(dense_model, None), count_flops(pruned, cfg.rho)
    traced_dense, traced_pruned = count_flops_traced(dense_model), count_flops_traced(pruned)
    out["flops_bench_dense_g"] = analytic_dense / 1e9
    out["flops_bench_pruned_g"] = analytic_pruned / 1e9
    out["flops_traced_dense_g"] = traced_dense / 1e9
    out["flops_traced_pruned_g"] = traced_pruned / 1e9
    # the task's model (conv stem counted): analytic and traced
    m = cfg.model
    torch.manual_seed(2000 + ctx.seed)
    task_kw = dict(model_kwargs(m))
    task_dense = VisionTransformerTeacher(**task_kw).eval()
    task_pruned = VisionTransformerDiffPruning(**task_kw, pruning_loc=m.pruning_loc,
                                               token_ratio=make_token_ratio(cfg.rho, len(m.pruning_loc))).eval()
    task_a = (count_flops(task_dense, None), count_flops(task_pruned, cfg.rho))
    task_t = (count_flops_traced(task_dense), count_flops_traced(task_pruned))
    out["flops_task_dense_m"], out["flops_task_pruned_m"] = task_a[0] / 1e6, task_a[1] / 1e6
    pairs = [(traced_dense, analytic_dense), (traced_pruned, analytic_pruned), *zip(task_t, task_a)]
    out["flops_traced_rel_diff"] = max_or_nan(*(abs(t - a) / a for t, a in pairs))
    out["flops_ratio_bench"] = analytic_dense / analytic_pruned

    b = cfg.bench
    t_dense = measure_throughput(dense_model, b.batch, b.repeats, warmup=b.warmup)
    t_pruned = measure_throughput(pruned, b.batch, b.repeats, warmup=b.warmup)
    out["throughput_dense_ips"] = t_dense["images_per_s"]
    out["throughput_rho07_ips"] = t_pruned["images_per_s"]
    out["throughput_ratio_cpu"] = t_pruned["images_per_s"] / t_dense["images_per_s"]
    ctx.log(f"throughput (batch {b.batch}, {torch.get_num_threads()} thread): dense "
            f"{out['throughput_dense_ips']:.2f} img/s, rho {cfg.rho} {out['throughput_rho07_ips']:.2f} img/s, "
            f"ratio {out['throughput_ratio_cpu']:.3f} (FLOP ratio {out['flops_ratio_bench']:.3f})")
    return out


@torch.no_grad()
def evaluate_pruned(model: VisionTransformerDiffPruning, variant: str, test: DigitBatch, batch: int,
                    g: torch.Generator) -> tuple[float, float, list[torch.Tensor]]:
    """Accuracy (%), last-stage object-patch recall, and the kept ORIGINAL indices per stage."""
    model.eval()
    obj = object_patches(test.ink, patch_size=model.patch_embed.patch_size)
    correct, recalls = 0, []
    kept_all: list[list[torch.Tensor]] = [[] for _ in model.pruning_loc]
    for i in range(0, len(test.labels), batch):
        x = test.images[i:i + batch]
        scores = selection_scores(variant, x.shape[0], model.num_patches, g)
        logits, kept = model(x, token_scores=scores, return_keep_indices=True)
        correct += int((logits.argmax(-1) == test.labels[i:i + batch]).sum())
        last = torch.zeros(x.shape[0], model.num_patches, dtype=torch.bool).scatter_(1, kept[-1], True)
        o = obj[i:i + batch]
        recalls.append(((last & o).sum(1).float() / o.sum(1).clamp(min=1).float())[o.any(1)])
        for s, k in enumerate(kept):
            kept_all[s].append(k)
    recall = float(torch.cat(recalls).mean())
    return 100.0 * correct / len(test.labels), recall, [torch.cat(k) for k in kept_all]
