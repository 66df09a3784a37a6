r"""Offline reproduction of Neural Mechanics (runs R1-R6 of the spec) on scikit-learn's digits.

One call of :func:`run` handles one seed (init + minibatch order; the same for every optimizer setting, so the
seeds are paired) and returns flat metrics, declared with their meaning in ``claims.METRICS``; ``claims.py``
judges them. Runs (batch 64 unless stated):

* R1 SGD lr 0.1, wd 0, 2000 steps - all three models (and the C1 geometry checks at 10 random steps);
* R1h = R1 at half the learning rate (0.05) for twice the steps of R1's first ``half_lr_time / lr`` steps, so
  both reach the same time t (default t = 50: R1's first 500 steps, 1000 steps here); same init, and each of R1's
  minibatches is used for two consecutive steps, so the data at every time t are R1's - C4's eta-scaling check;
* R2 SGD lr 0.1, wd 5e-3, 2000 steps - all three models;
* R3 momentum lr 0.02, beta 0.9, d 0, wd 1e-3, 2000 steps - MLP-ReLU, MLP-BN (overdamped);
* R4 as R3 with wd 0.1 (underdamped scale/rescale, overdamped translation);
* R5 = R2 with full-batch GD (1500 samples), 1000 steps - MLP-BN;
* R6 gradient-flow limit: MLP-BN, full batch on 500 samples, wd 0, lr in {0.1, 0.03, 0.01} to t = 10.

Error statistic per group: $\max_k |\hat q_k - q_k| / \max_k s_k$ with $s$ the quantity's scale ($|S|$, $N$, or
$\|\theta_{A_1}\|^2 + \|\theta_{A_2}\|^2$), then the median over groups; across models the worst model is reported
(``metrics.WORST``: the largest error, the smallest gap), with per-model companions ``<metric>_<model>``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import torch

from livepapers.core.bench import CpuTimer
from livepapers.core.config import Profile

from .data import load_digits_split
from .metrics import FULL_BATCH_RUN, MOMENTUM_RUNS, SGD_RUNS, c1_key, key, max_or_nan, time_keys
from .models import MODELS
from .plan import eta_halving as _eta_halving  # noqa: F401  (re-exported: the tests call experiment._eta_halving)
from .plan import eta_halving_runs, gradient_flow_limit, half_lr_steps, momentum_run, sgd_run
from .predict import median_relative_error, predict_exact_discrete, predict_modified_flow
from .symmetries import KINDS
from .training import train_tracked

__all__ = ["PROFILES", "Config", "run"]

ModelName = Literal["mlp_relu", "mlp_bn", "cnn_bn", "vgg16"]  # vgg16: the paper profile's, refused offline
MODEL_NAMES: tuple[str, ...] = get_args(ModelName)


@dataclass(frozen=True)
class Config:
    """Every knob of the reproduction; the defaults are the default profile (the spec's run plan)."""

    dataset: Literal["digits", "tiny-imagenet"] = "digits"  # tiny-imagenet: the paper profile (not offline)
    n_train: int = 1500
    batch_size: int = 64
    steps: int = 2000  # R1-R4
    sgd_lr: float = 0.1  # R1, R2, R5 (R1h: half of it)
    # R1h: the time t over which R1 at lr and R1h at lr / 2 (2 t / lr steps) are compared; t = 50 is R1's first
    # 500 steps (the whole of R1, t = 200, would add ~60 % to the default profile's wall time)
    half_lr_time: float = 50.0
    sgd_weight_decay: float = 5e-3  # R2, R5
    momentum_lr: float = 0.02  # R3, R4
    momentum: float = 0.9
    dampening: float = 0.0
    momentum_weight_decays: tuple[float, float] = (1e-3, 0.1)  # R3, R4
    sgd_models: tuple[str, ...] = ("mlp_relu", "mlp_bn", "cnn_bn")  # R1, R2
    momentum_models: tuple[str, ...] = ("mlp_relu", "mlp_bn")  # R3, R4
    full_batch_model: ModelName = "mlp_bn"  # R5, R6
    full_batch_steps: int = 1000  # R5
    gf_lrs: tuple[float, ...] = (0.1, 0.03, 0.01)  # R6
    gf_time: float = 10.0
    gf_subset: int = 500
    c1_points: int = 10  # random training steps of R1 (per model) where the geometry is checked
    c1_individual: int = 3  # single-group Hessian checks per kind and point (besides one random combination)
    bn_eps: float = 1e-30
    plot_channels: int = 5
    plot_models: tuple[str, ...] = ("mlp_bn", "cnn_bn")
    # the paper's own setting (documentation for the paper profile; unused offline)
    paper_weight_decays: tuple[float, ...] = (0.0, 1e-4, 1e-3, 1e-2)
    epochs: int = 0

    def __post_init__(self) -> None:
        for field in ("sgd_models", "momentum_models", "plot_models"):
            bad = [n for n in getattr(self, field) if n not in MODEL_NAMES]
            if bad:
                raise ValueError(f"{field}: {bad[0]!r} is not a model; allowed: {', '.join(MODEL_NAMES)}")


PROFILES: dict[str, Profile] = {
    # <= 20 s: every run with fewer steps, one seed, two C1 points, plots for MLP-BN only
    "smoke": Profile(Config(
        steps=100, half_lr_time=5.0, full_batch_steps=40, gf_time=0.5, gf_subset=200, c1_points=2, c1_individual=1,
        plot_channels=3, plot_models=("mlp_bn",),
    ), n_seeds=1),
    "default": Profile(Config()),
    # VGG-16 on Tiny ImageNet as in the official scripts: SGD lr 0.1, batch 128, 100 epochs,
    # weight decay in {0, 1e-4, 1e-3, 1e-2}. Needs the data set and a GPU; run() refuses it offline.
    "paper": Profile(Config(
        dataset="tiny-imagenet", batch_size=128, sgd_lr=0.1, sgd_models=("vgg16",), momentum_models=("vgg16",),
        full_batch_model="vgg16", epochs=100, bn_eps=1e-5,
    ), n_seeds=1, needs="the Tiny ImageNet data set and a GPU (VGG-16, 100 epochs), which are not offline here"),
}


def _check_config(cfg: Config) -> None:
    if cfg.dataset != "digits":
        raise ValueError(
            f"dataset={cfg.dataset!r}: only the offline 'digits' reproduction runs here; the paper profile "
            "documents the VGG-16 / Tiny ImageNet setting (needs the data set and a GPU)"
        )
    for name in (*cfg.sgd_models, *cfg.momentum_models, cfg.full_batch_model):
        if name not in MODELS:
            raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}")
    if cfg.steps < 2 or cfg.full_batch_steps < 2:
        raise ValueError(f"steps and full_batch_steps must be >= 2, got {cfg.steps}, {cfg.full_batch_steps}")
    if len(cfg.gf_lrs) < 2:
        raise ValueError(f"gf_lrs needs >= 2 learning rates for the slope, got {cfg.gf_lrs}")
    if not 1 <= half_lr_steps(cfg) <= cfg.steps:
        raise ValueError(f"half_lr_time must be in [sgd_lr, steps * sgd_lr] = [{cfg.sgd_lr}, {cfg.steps * cfg.sgd_lr}] "
                         f"(R1h compares R1's first half_lr_time / sgd_lr steps), got {cfg.half_lr_time}")


@contextlib.contextmanager
def _timed(m: dict[str, float], run_id: str) -> Iterator[None]:
    """Wall and CPU seconds of the block into ``time_<run>_s``, ``cpu_<run>_s`` (machine metrics)."""
    t_wall = time.perf_counter()
    with CpuTimer() as cpu:
        yield
    wall_key, cpu_key = time_keys(run_id)
    m[wall_key], m[cpu_key] = time.perf_counter() - t_wall, cpu.seconds


def run(config: Config, ctx: Any) -> dict[str, float]:
    """Runs R1-R6 for one seed (``ctx.seed``); returns the metrics ``claims.py`` reads (see ``claims.METRICS``)."""
    cfg = config
    _check_config(cfg)
    torch.set_num_threads(1)
    data = load_digits_split(n_train=cfg.n_train)
    x, y = data.x_train, data.y_train
    m: dict[str, float] = {}
    c1_rng = np.random.default_rng([ctx.seed, 77])
    c1_steps = tuple(sorted(c1_rng.choice(cfg.steps, size=min(cfg.c1_points, cfg.steps), replace=False).tolist()))
    c1_all: dict[str, list[float]] = {}
    window: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}  # R1's [0, half_lr_time], for R1h
    for run_id, wd in zip(SGD_RUNS, (0.0, cfg.sgd_weight_decay)):
        with _timed(m, run_id):
            sgd_run(m, run_id, wd, x, y, cfg, ctx, c1_steps=c1_steps if run_id == "R1" else (), c1_all=c1_all,
                    window=window)
    for kind in (k for k in KINDS if f"grad_{k}" in c1_all):  # C1: geometry at random points of R1
        m[c1_key("grad", kind)] = max_or_nan(c1_all[f"grad_{kind}"])
        m[c1_key("hvp", kind)] = max_or_nan(c1_all[f"hvp_{kind}"])
    if c1_all:
        m["c1_max_grad_violation"] = max_or_nan(v for k, v in m.items() if k.startswith("c1_grad_violation_"))
        m["c1_max_hvp_violation"] = max_or_nan(v for k, v in m.items() if k.startswith("c1_hvp_violation_"))
        m["c1_n_points"] = float(len(c1_steps) * len(cfg.sgd_models))
    with _timed(m, "R1h"):
        eta_halving_runs(m, window, x, y, cfg, ctx)
    regimes: dict[str, dict[str, str]] = {}
    for run_id, wd in zip(MOMENTUM_RUNS, cfg.momentum_weight_decays):
        with _timed(m, run_id):
            regimes[run_id] = momentum_run(m, run_id, wd, x, y, cfg, ctx)
    with _timed(m, FULL_BATCH_RUN):  # full-batch GD
        tracker, _ = train_tracked(cfg.full_batch_model, x=x, y=y, lr=cfg.sgd_lr, weight_decay=cfg.sgd_weight_decay,
                                   steps=cfg.full_batch_steps, batch_size=x.shape[0], ctx=ctx, label="R5",
                                   bn_eps=cfg.bn_eps)
        for kind in tracker.kinds:
            emp, scale = tracker.empirical(kind), tracker.normalizer(kind)
            for stat, pred in (("c4_exact_err", predict_exact_discrete(tracker, kind=kind)),
                               ("c4_cont_err", predict_modified_flow(tracker, kind=kind)),
                               ("c4_official_err", predict_modified_flow(tracker, kind=kind, convention="official"))):
                m[key(stat, FULL_BATCH_RUN, kind)] = median_relative_error(pred, emp, scale)
    with _timed(m, "R6"):
        gradient_flow_limit(m, x, y, cfg, ctx)
    ctx.save_json("regimes", regimes)
    return m

