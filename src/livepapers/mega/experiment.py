"""Offline reproduction of Mega's headline claims (one seed per ``run`` call; seeds are paired).

Default profile (sDigits-256, the LRA "Image" analogue, 3 paired seeds):

1. C3 efficiency — forward + backward of one block (d 128, z 64, v 256, h 16, bidirectional EMA, batch 2)
   at L ∈ {1024, 2048, 4096} for Mega, Mega-chunk (c = 128) and a Transformer block with explicit
   attention (8 heads, FFN 256), each in a forked child (peak RSS growth; CPU time, 1 thread).
2. Calibration — the first 10 steps of each model are timed; if the projected total exceeds the budget
   (9 min on ``budget_workers`` workers) the step count is lowered uniformly (floor 150, multiples of 25).
3. C1/C2/C4 — Mega, Mega-chunk (c = 32), Mega without EMA (X' = X) and the Transformer are trained with
   the same seed (initialisation, batch order, augmentation) and evaluated on the fixed 360-image test split.
4. C6 — the Laplace function's value and slope at μ = sqrt(1/2) against relu² (float64).

The ``extended`` profile adds ListOps-mini (Mega, Mega-chunk, Transformer) and the chunk-size sweep.
"""

from __future__ import annotations

import math
import resource
import time
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from livepapers.core.claims import fit_loglog_slope
from livepapers.core.runs import RunContext

from .baseline import TransformerClassifier
from .data import listops, sdigits, sdigits_images, to_sequence, translate
from .efficiency import BlockSpec, measure_block, measure_block_forked
from .functional import LAPLACE_MU, LAPLACE_SIGMA, laplace_attention_fn, relu2
from .modules import MegaConfig, MegaForSequenceClassification

__all__ = ["PROFILES", "Config", "run"]


@dataclass(frozen=True)
class Config:
    """Every knob of the reproduction; defaults = the ``default`` profile."""

    n_seeds: int = 3
    evidence: bool = True  # False: the core reports checked claims as inconclusive (the spec's smoke rule)
    # models on sDigits-256 (Mega: laplace, BatchNorm pre-norm; Transformer: pre-norm, GELU FFN)
    depth: int = 2
    dim: int = 64
    zdim: int = 32
    hdim: int = 128
    ffn_dim: int = 128
    ndim: int = 16
    classifier_dim: int = 128
    attention: str = "laplace"
    norm: str = "batchnorm"
    prenorm: bool = True
    dropout: float = 0.0
    chunk_size: int = 32
    tf_heads: int = 4
    tf_ffn_dim: int = 256
    # training (identical for all models except the peak lr)
    steps: int = 300
    min_steps: int = 150
    batch_size: int = 16
    lr_mega: float = 5e-3
    lr_transformer: float = 1e-3
    weight_decay: float = 0.01
    warmup_frac: float = 0.1
    clip: float = 1.0
    n_train: int = 0  # 0 = all 1437 training images
    n_eval: int = 0  # 0 = all 360 test images
    # calibration of the step count (CPU seconds of this process + its children)
    calibrate: bool = True
    calibration_steps: int = 10
    budget_s: float = 540.0
    budget_workers: int = 2
    # C3 efficiency
    eff_lengths: tuple[int, ...] = (1024, 2048, 4096)
    eff_batch: int = 2
    eff_dim: int = 128
    eff_zdim: int = 64
    eff_hdim: int = 256
    eff_ffn_dim: int = 256
    eff_heads: int = 8
    eff_chunk: int = 128
    eff_repeats: int = 2
    eff_fork: bool = True  # measure in forked children (peak memory); False = in-process (time only)
    # extended: ListOps-mini and the chunk-size sweep
    listops: bool = False
    listops_n_train: int = 16000
    listops_n_test: int = 2000
    listops_steps: int = 1500
    listops_batch: int = 32
    listops_lr_mega: float = 2e-3
    chunk_sweep: tuple[int, ...] = ()


PROFILES: dict[str, Config] = {
    "smoke": Config(n_seeds=1, evidence=False, dim=32, zdim=16, hdim=64, ffn_dim=64, classifier_dim=64,
                    tf_ffn_dim=128, steps=20, min_steps=20, n_train=256, n_eval=100, calibrate=False,
                    eff_lengths=(256, 512), eff_fork=False, eff_repeats=1),
    "default": Config(),
    "extended": Config(listops=True, chunk_sweep=(8, 16, 32, 64, -1), budget_s=3600.0),
    # the paper's Image-task architecture and optimiser (Table 8) on sDigits-256; real LRA data are not loadable
    "paper": Config(depth=8, dim=160, zdim=96, hdim=320, ffn_dim=320, classifier_dim=320, chunk_size=128,
                    tf_ffn_dim=640, steps=180_000, batch_size=50, lr_mega=1e-2, weight_decay=0.02, warmup_frac=0.05,
                    calibrate=False),
}

MODELS = ("mega", "mega_chunk", "mega_h0", "transformer")
EFF_KINDS = ("mega", "mega_chunk", "transformer")


# ----------------------------------------------------------------------------------------------
# models and training
# ----------------------------------------------------------------------------------------------


def build_model(name: str, cfg: Config, *, vocab_size: int | None = None, num_classes: int = 10,
                length: int = 256, attention: str | None = None, norm: str | None = None,
                prenorm: bool | None = None, dropout: float | None = None, chunk_size: int | None = None) -> nn.Module:
    """'mega' | 'mega_chunk' | 'mega_h0' | 'transformer' at the sizes of ``cfg``."""
    drop = cfg.dropout if dropout is None else dropout
    if name == "transformer":
        return TransformerClassifier(vocab_size=vocab_size, num_classes=num_classes, dim=cfg.dim, depth=cfg.depth,
                                     heads=cfg.tf_heads, ffn_dim=cfg.tf_ffn_dim, classifier_dim=cfg.classifier_dim,
                                     max_len=length + 256, dropout=drop)
    chunk = (cfg.chunk_size if name == "mega_chunk" else -1) if chunk_size is None else chunk_size
    mc = MegaConfig(num_classes=num_classes, vocab_size=vocab_size, num_layers=cfg.depth, embedding_dim=cfg.dim,
                    hidden_dim=cfg.hdim, ffn_hidden_dim=cfg.ffn_dim, z_dim=cfg.zdim,
                    n_dim=0 if name == "mega_h0" else cfg.ndim, chunk_size=chunk, truncation=None,
                    attention_activation=attention or cfg.attention, norm_type=norm or cfg.norm,
                    prenorm=cfg.prenorm if prenorm is None else prenorm, dropout=drop,
                    max_positions=length + 256 if vocab_size is not None else length,
                    classifier_dim=cfg.classifier_dim)
    return MegaForSequenceClassification(mc)


def lr_at(step: int, total: int, peak: float, warmup_frac: float) -> float:
    """Linear warm-up from 1e-7 over ``warmup_frac`` of the steps, then linear decay to 0."""
    warm = max(1, round(warmup_frac * total))
    if step < warm:
        return 1e-7 + (peak - 1e-7) * step / warm
    return peak * max(0.0, (total - step) / max(1, total - warm))


class Batches:
    """Seeded batch order (epochs of random permutations) and, for images, fresh ±2-px translations."""

    def __init__(self, x: Tensor, y: Tensor, batch_size: int, generator: torch.Generator, *, images: bool) -> None:
        self.x, self.y, self.b, self.g, self.images = x, y, batch_size, generator, images
        self.order: list[int] = []

    def next(self) -> tuple[Tensor, Tensor]:
        if len(self.order) < self.b:
            self.order += torch.randperm(len(self.y), generator=self.g).tolist()
        idx, self.order = self.order[: self.b], self.order[self.b:]
        xb = self.x[idx]
        if self.images:
            xb = to_sequence(translate(xb, self.g))
        return xb, self.y[idx]


def make_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """Adam β = (0.9, 0.98), eps 1e-8, DECOUPLED weight decay on every parameter (AdamW semantics)."""
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-8, weight_decay=weight_decay)


def train(model: nn.Module, batches: Batches, *, steps: int, lr: float, cfg: Config, ctx: RunContext | None,
          name: str = "", log_every: int = 0) -> list[float]:
    """Cross-entropy training with the warm-up/decay schedule and grad-clip; returns the loss per step."""
    opt = make_optimizer(model, lr, cfg.weight_decay)
    model.train()
    losses = []
    it = ctx.progress(range(steps), total=steps, desc=name) if ctx is not None else range(steps)
    for step in it:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr, cfg.warmup_frac)
        xb, yb = batches.next()
        loss = F.cross_entropy(model(xb), yb)
        if ctx is not None:
            ctx.check_finite(loss, step, what=f"{name} loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        losses.append(float(loss.detach()))
        if ctx is not None and log_every and (step + 1) % log_every == 0:
            ctx.log(f"{name} step {step + 1}/{steps} loss {losses[-1]:.4f}")
    return losses


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 120) -> float:
    """Test accuracy in percent (eval mode: BatchNorm uses running statistics)."""
    model.eval()
    correct = 0
    for i in range(0, len(y), batch_size):
        correct += int((model(x[i:i + batch_size]).argmax(-1) == y[i:i + batch_size]).sum())
    return 100.0 * correct / len(y)


def _cpu_seconds() -> float:
    """CPU seconds of this process and its waited-for children (forked measurement processes)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def calibrate_steps(cfg: Config, seed: int, train_imgs: Tensor, train_y: Tensor, overhead_s: float,
                    ctx: RunContext) -> tuple[int, dict[str, float]]:
    """Time ``calibration_steps`` steps of each model (throw-away copies); lower the step count uniformly
    if the projected total of the run (ceil(n_seeds / budget_workers) rounds) exceeds ``budget_s``."""
    per_step: dict[str, float] = {}
    for name in MODELS:
        torch.manual_seed(seed)
        model = build_model(name, cfg)
        batches = Batches(train_imgs, train_y, cfg.batch_size, torch.Generator().manual_seed(seed), images=True)
        lr = cfg.lr_transformer if name == "transformer" else cfg.lr_mega
        train(model, batches, steps=1, lr=lr, cfg=cfg, ctx=None)  # first step (allocations) not timed
        t0 = time.process_time()
        train(model, batches, steps=cfg.calibration_steps, lr=lr, cfg=cfg, ctx=None)
        per_step[name] = (time.process_time() - t0) / cfg.calibration_steps
    rounds = math.ceil(cfg.n_seeds / max(1, cfg.budget_workers))
    step_cost = sum(per_step.values()) * 1.05  # + 5% for evaluation
    projected = rounds * (overhead_s + cfg.steps * step_cost)
    steps = cfg.steps
    if projected > cfg.budget_s:
        affordable = (cfg.budget_s / rounds - overhead_s) / step_cost
        steps = max(cfg.min_steps, min(cfg.steps, int(affordable // 25) * 25))
    ctx.log(f"calibration: per-step CPU s {per_step}, overhead {overhead_s:.1f} s, projected "
            f"{projected:.0f} s for {cfg.steps} steps -> {steps} steps")
    return steps, {f"step_s_{k}": v for k, v in per_step.items()} | {"projected_s": projected}


# ----------------------------------------------------------------------------------------------
# C3 efficiency
# ----------------------------------------------------------------------------------------------


def efficiency(cfg: Config, ctx: RunContext) -> tuple[dict[str, float], list[dict[str, Any]]]:
    spec = BlockSpec(dim=cfg.eff_dim, zdim=cfg.eff_zdim, hdim=cfg.eff_hdim, ndim=cfg.ndim, ffn_dim=cfg.eff_ffn_dim,
                     heads=cfg.eff_heads, chunk_size=cfg.eff_chunk)
    rows, m = [], {}
    for kind in EFF_KINDS:
        for L in cfg.eff_lengths:
            if cfg.eff_fork:
                r = measure_block_forked(kind, L, batch=cfg.eff_batch, spec=spec, repeats=cfg.eff_repeats)
            else:
                r = measure_block(kind, L, batch=cfg.eff_batch, spec=spec, repeats=cfg.eff_repeats)
                r["peak_mb"] = float("nan")
            rows.append({"model": kind, "length": L, **r})
            m[f"time_{kind}_L{L}"] = r["time_s"]
            m[f"mem_{kind}_L{L}"] = r["peak_mb"]
            ctx.log(f"efficiency {kind} L={L}: {r}")
    Ls = cfg.eff_lengths
    top = max(Ls)
    for kind in EFF_KINDS:
        m[f"{kind}_time_slope"] = fit_loglog_slope(Ls, [m[f"time_{kind}_L{L}"] for L in Ls])
        if cfg.eff_fork:
            m[f"{kind}_mem_slope"] = fit_loglog_slope(Ls, [m[f"mem_{kind}_L{L}"] for L in Ls])
    # speed-up (Transformer time / model time) and memory ratio (model / Transformer) at the longest length
    for kind, tag in (("mega_chunk", ""), ("mega", "mega_")):
        m[f"{tag}time_ratio_L{top}"] = m[f"time_transformer_L{top}"] / m[f"time_{kind}_L{top}"]
        m[f"{tag}mem_ratio_L{top}"] = m[f"mem_{kind}_L{top}"] / m[f"mem_transformer_L{top}"]
    m["chunk_time_slope"] = m["mega_chunk_time_slope"]
    return m, rows


def _plot_efficiency(rows: list[dict[str, Any]], m: dict[str, float], ctx: RunContext) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax, unit in (("time_s", axes[0], "CPU s per fwd+bwd"), ("peak_mb", axes[1], "peak RSS growth (MiB)")):
        for kind in EFF_KINDS:
            pts = [(r["length"], r[key]) for r in rows if r["model"] == kind and math.isfinite(r[key])]
            if len(pts) < 2:
                continue
            xs, ys = zip(*pts)
            slope = fit_loglog_slope(xs, ys)
            ax.loglog(xs, ys, "o-", label=f"{kind} (slope {slope:.2f})")
        ax.set_xlabel("sequence length L")
        ax.set_ylabel(unit)
        if ax.get_lines():
            ax.legend()
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("One block, batch 2, 1 thread: cost vs length (log–log)")
    ctx.savefig(fig, "efficiency", caption="C3: forward+backward time and peak memory of one block vs length, "
                "with fitted log–log slopes (Mega-chunk c = 128, full Mega, Transformer with explicit attention).")


# ----------------------------------------------------------------------------------------------
# run
# ----------------------------------------------------------------------------------------------


def _laplace_checks() -> dict[str, float]:
    """C6 (unit level): f(μ) = relu²(μ) = 0.5 and f'(μ) = 2μ = √2 with the exact constants (float64)."""
    mu = torch.tensor(LAPLACE_MU, dtype=torch.float64, requires_grad=True)
    f = laplace_attention_fn(mu)
    (df,) = torch.autograd.grad(f, mu)
    f, mu = f.detach(), mu.detach()
    return {"laplace_value_err": abs(float(f) - float(relu2(mu))),
            "laplace_slope_err": abs(float(df) - 2.0 * LAPLACE_MU),
            "laplace_slope_vs_formula_err": abs(float(df) - 1.0 / (LAPLACE_SIGMA * math.sqrt(2 * math.pi)))}


def run(config: Config, ctx: RunContext) -> dict[str, float]:
    cfg = config
    seed = ctx.seed
    metrics: dict[str, float] = {}
    cpu0 = _cpu_seconds()

    # data (the split is fixed; the seed drives batch order and augmentation)
    train_imgs, train_y = sdigits_images("train")  # raw intensities: augmentation happens per batch
    test_x, test_y = sdigits("test")
    if cfg.n_train:
        train_imgs, train_y = train_imgs[: cfg.n_train], train_y[: cfg.n_train]
    if cfg.n_eval:
        test_x, test_y = test_x[: cfg.n_eval], test_y[: cfg.n_eval]

    metrics |= _laplace_checks()

    # C3 efficiency
    eff, rows = efficiency(cfg, ctx)
    metrics |= eff
    ctx.save_csv("efficiency", rows)
    _plot_efficiency(rows, eff, ctx)

    # calibration of the step count
    steps = cfg.steps
    if cfg.calibrate:
        steps, cal = calibrate_steps(cfg, seed, train_imgs, train_y, _cpu_seconds() - cpu0, ctx)
        metrics |= cal
    metrics["steps_used"] = float(steps)

    # C1 / C2 / C4: four models, same seed for initialisation, batch order and augmentation
    acc, curves = {}, {}
    for name in MODELS:
        torch.manual_seed(seed)
        model = build_model(name, cfg)
        batches = Batches(train_imgs, train_y, cfg.batch_size, ctx.generator(1), images=True)
        lr = cfg.lr_transformer if name == "transformer" else cfg.lr_mega
        curves[name] = train(model, batches, steps=steps, lr=lr, cfg=cfg, ctx=ctx, name=name, log_every=100)
        acc[name] = accuracy(model, test_x, test_y)
        metrics[f"acc_{name}"] = acc[name]
        metrics[f"params_{name}"] = float(sum(p.numel() for p in model.parameters()))
        ctx.log(f"{name}: test accuracy {acc[name]:.2f}% after {steps} steps")
    gap = acc["mega"] - acc["transformer"]
    metrics["gap_mega_vs_transformer"] = gap
    metrics["gap_chunk_vs_transformer"] = acc["mega_chunk"] - acc["transformer"]
    metrics["gap_mega_vs_h0"] = acc["mega"] - acc["mega_h0"]
    metrics["gap_mega_vs_chunk"] = acc["mega"] - acc["mega_chunk"]
    # C2: (chunk − T) − 0.6 (Mega − T) ≥ 0; undefined (NaN -> inconclusive) when Mega − T < 2 points
    metrics["c2_retention_margin"] = (metrics["gap_chunk_vs_transformer"] - 0.6 * gap) if gap >= 2.0 else float("nan")
    ctx.save_csv("losses", [{"step": i, **{k: v[i] for k, v in curves.items()}} for i in range(steps)])
    _plot_accuracy(acc, curves, steps, ctx)

    if cfg.chunk_sweep:
        metrics |= _chunk_sweep(cfg, steps, train_imgs, train_y, test_x, test_y, ctx)
    if cfg.listops:
        metrics |= _listops(cfg, ctx)
    metrics["cpu_s"] = _cpu_seconds() - cpu0
    ctx.save_json("metrics_detail", metrics)
    return metrics


def _plot_accuracy(acc: dict[str, float], curves: dict[str, list[float]], steps: int, ctx: RunContext) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    names = list(acc)
    a1.bar(names, [acc[n] for n in names], color=["C0", "C1", "C2", "C3"][: len(names)])
    for i, n in enumerate(names):
        a1.text(i, acc[n] + 1, f"{acc[n]:.1f}", ha="center")
    a1.set_ylabel("test accuracy (%)")
    a1.set_ylim(0, 105)
    a1.set_title(f"sDigits-256, seed {ctx.seed}, {steps} steps")
    w = max(1, steps // 30)
    for n, c in curves.items():
        sm = [sum(c[i:i + w]) / len(c[i:i + w]) for i in range(0, len(c), w)]
        a2.plot([i * w for i in range(len(sm))], sm, label=n)
    a2.set_xlabel("step")
    a2.set_ylabel("training loss (window mean)")
    a2.legend()
    ctx.savefig(fig, "accuracy", caption="C1/C2/C4: test accuracy per model on sDigits-256 (this seed) and "
                "training loss curves.")


def _chunk_sweep(cfg: Config, steps: int, train_imgs: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor,
                 ctx: RunContext) -> dict[str, float]:
    """C5 (extended): Mega accuracy on sDigits-256 for each chunk size (−1 = full)."""
    out = {}
    for c in cfg.chunk_sweep:
        torch.manual_seed(ctx.seed)
        model = build_model("mega_chunk", cfg, chunk_size=c)
        batches = Batches(train_imgs, train_y, cfg.batch_size, ctx.generator(1), images=True)
        train(model, batches, steps=steps, lr=cfg.lr_mega, cfg=cfg, ctx=ctx, name=f"chunk{c}")
        tag = "full" if c < 0 else str(c)
        out[f"acc_sweep_c{tag}"] = accuracy(model, test_x, test_y)
        ctx.log(f"chunk sweep c={c}: {out[f'acc_sweep_c{tag}']:.2f}%")
    return out


def _listops(cfg: Config, ctx: RunContext) -> dict[str, float]:
    """ListOps-mini (extended): Mega, Mega-chunk and Transformer; softmax, LayerNorm post-norm, dropout 0.1."""
    n = cfg.listops_n_train + cfg.listops_n_test
    x, y = listops(n, generator=ctx.generator(2))
    k = cfg.listops_n_train
    xtr, ytr, xte, yte = x[:k], y[:k], x[k:], y[k:]
    lcfg = replace(cfg, batch_size=cfg.listops_batch)
    out = {"listops_majority": 100.0 * float(torch.bincount(yte).max()) / len(yte)}
    for name in ("mega", "mega_chunk", "transformer"):
        torch.manual_seed(ctx.seed)
        model = build_model(name, cfg, vocab_size=16, length=x.shape[1], attention="softmax", norm="layernorm",
                            prenorm=False if name != "transformer" else None, dropout=0.1)
        batches = Batches(xtr, ytr, cfg.listops_batch, ctx.generator(3), images=False)
        lr = cfg.lr_transformer if name == "transformer" else cfg.listops_lr_mega
        train(model, batches, steps=cfg.listops_steps, lr=lr, cfg=lcfg, ctx=ctx, name=f"listops-{name}")
        out[f"acc_listops_{name}"] = accuracy(model, xte, yte)
        ctx.log(f"listops {name}: {out[f'acc_listops_{name}']:.2f}%")
    out["gap_listops_mega_vs_transformer"] = out["acc_listops_mega"] - out["acc_listops_transformer"]
    return out
