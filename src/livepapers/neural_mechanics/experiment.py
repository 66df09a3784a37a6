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
import math
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import torch

from livepapers.core.bench import CpuTimer
from livepapers.core.config import Profile
from livepapers.core.stats import fit_loglog_slope

from . import figures
from .data import load_digits_split
from .metrics import (
    BROKEN_KINDS,
    FULL_BATCH_RUN,
    MOMENTUM_RUNS,
    SGD_RUNS,
    c1_key,
    drift_key,
    key,
    max_or_nan,
    min_or_nan,
    put_per_model,
    slope_key,
    time_keys,
)
from .models import MODELS
from .predict import (
    damping_regime,
    drift_explained,
    gradient_flow_error,
    median_drift_curve,
    median_relative_error,
    predict_exact_discrete,
    predict_modified_flow,
    predict_momentum,
    predict_weight_decay,
)
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
    if not 1 <= _half_lr_steps(cfg) <= cfg.steps:
        raise ValueError(f"half_lr_time must be in [sgd_lr, steps * sgd_lr] = [{cfg.sgd_lr}, {cfg.steps * cfg.sgd_lr}] "
                         f"(R1h compares R1's first half_lr_time / sgd_lr steps), got {cfg.half_lr_time}")


def _half_lr_steps(cfg: Config) -> int:
    """m: R1's steps in the R1h comparison window [0, half_lr_time] (R1h takes 2 m steps at lr / 2)."""
    return round(cfg.half_lr_time / cfg.sgd_lr)


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
            _sgd_run(m, run_id, wd, x, y, cfg, ctx, c1_steps=c1_steps if run_id == "R1" else (), c1_all=c1_all,
                     window=window)
    for kind in (k for k in KINDS if f"grad_{k}" in c1_all):  # C1: geometry at random points of R1
        m[c1_key("grad", kind)] = max_or_nan(c1_all[f"grad_{kind}"])
        m[c1_key("hvp", kind)] = max_or_nan(c1_all[f"hvp_{kind}"])
    if c1_all:
        m["c1_max_grad_violation"] = max_or_nan(v for k, v in m.items() if k.startswith("c1_grad_violation_"))
        m["c1_max_hvp_violation"] = max_or_nan(v for k, v in m.items() if k.startswith("c1_hvp_violation_"))
        m["c1_n_points"] = float(len(c1_steps) * len(cfg.sgd_models))
    with _timed(m, "R1h"):
        _eta_halving_runs(m, window, x, y, cfg, ctx)
    regimes: dict[str, dict[str, str]] = {}
    for run_id, wd in zip(MOMENTUM_RUNS, cfg.momentum_weight_decays):
        with _timed(m, run_id):
            regimes[run_id] = _momentum_run(m, run_id, wd, x, y, cfg, ctx)
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
        _gradient_flow_limit(m, x, y, cfg, ctx)
    ctx.save_json("regimes", regimes)
    return m


def _sgd_run(m: dict[str, float], run_id: str, wd: float, x: torch.Tensor, y: torch.Tensor, cfg: Config, ctx: Any,
             *, c1_steps: tuple[int, ...], c1_all: dict[str, list[float]],
             window: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]) -> None:
    """R1 / R2 (SGD without momentum) for every model of ``sgd_models``: C3, C4 and C6 metrics."""
    vals: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    end_mod: list[np.ndarray] = []
    end_plain: list[np.ndarray] = []
    m_half = _half_lr_steps(cfg)
    for name in cfg.sgd_models:
        tracker, c1 = train_tracked(name, x=x, y=y, lr=cfg.sgd_lr, weight_decay=wd, steps=cfg.steps,
                                    batch_size=cfg.batch_size, ctx=ctx, label=run_id, bn_eps=cfg.bn_eps,
                                    c1_steps=c1_steps, c1_individual=cfg.c1_individual)
        for k, v in c1.items():
            c1_all.setdefault(k, []).extend(v)
        preds_fig: dict[str, dict[str, tuple[str, np.ndarray]]] = {}
        for kind in tracker.kinds:
            emp, scale = tracker.empirical(kind), tracker.normalizer(kind)
            p_mod = predict_modified_flow(tracker, kind=kind)
            p_wd = predict_weight_decay(tracker, kind=kind)
            exact = median_relative_error(predict_exact_discrete(tracker, kind=kind), emp, scale)
            cont = median_relative_error(p_mod, emp, scale)
            vals["c4_exact_err", run_id, kind][name] = exact
            vals["c4_cont_err", run_id, kind][name] = cont
            vals["c4_official_err", run_id, kind][name] = median_relative_error(
                predict_modified_flow(tracker, kind=kind, convention="official"), emp, scale)
            if run_id == "R1" and kind in BROKEN_KINDS:
                # C4 (Revision 2): 4. gap to the modified flow; 1. the break is resolved above round-off;
                # 2. the drift is the modified flow's
                gf = gradient_flow_error(emp, scale)
                vals["c4_gf_err", run_id, kind][name] = gf
                vals["c4_gf_ratio", run_id, kind][name] = gf / max(cont, 1e-300)
                vals["c4_gf_exact_ratio", run_id, kind][name] = gf / max(exact, 1e-300)
                (vals["c4_drift_err", run_id, kind][name],
                 vals["c4_drift_frac", run_id, kind][name]) = drift_explained(p_mod, emp, scale)
                window.setdefault(name, {})[kind] = (emp[: m_half + 1].copy(), scale[: m_half + 1].copy())
            if run_id == "R2" and kind == "translation":
                end_mod.append(np.abs(p_mod[-1] - emp[-1]) / np.abs(emp[-1]))
                end_plain.append(np.abs(p_wd[-1] - emp[-1]) / np.abs(emp[-1]))
            label_wd = "gradient flow (constant)" if wd == 0 else "weight decay only, e^{-c λ t}"
            preds_fig[kind] = {"modified": ("modified flow (λ̃, ∫‖g‖²)", p_mod), "wd": (label_wd, p_wd)}
        if name in cfg.plot_models:
            figures.overlay(ctx, tracker, preds_fig, name=f"{run_id}_{name}_overlay",
                            title=f"{run_id} {name}: SGD lr={cfg.sgd_lr}, wd={wd}, batch {cfg.batch_size}",
                            caption=f"{run_id}, {name}: measured per-channel S/N/D (thick) vs modified gradient flow "
                                    f"(dashed) and {'gradient flow' if wd == 0 else 'plain weight decay'} (dotted)",
                            n_channels=cfg.plot_channels)
    put_per_model(m, vals)
    if end_mod:
        m["c3_trans_end_err_modified"] = float(np.median(np.concatenate(end_mod)))
        m["c3_trans_end_err_plain"] = float(np.median(np.concatenate(end_plain)))


def _eta_halving_runs(m: dict[str, float], window: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
                      x: torch.Tensor, y: torch.Tensor, cfg: Config, ctx: Any) -> None:
    """R1h for every model (C4: the break scales with eta): gradient-flow errors at lr and lr / 2 and their ratio."""
    vals: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for name in cfg.sgd_models:
        errs = _eta_halving(name, window.get(name, {}), x=x, y=y, m=_half_lr_steps(cfg), cfg=cfg, ctx=ctx,
                            curves=curves.setdefault(name, {}))
        for kind, (e_ref, e_half) in errs.items():
            vals["c4_gf_err", "R1h_ref", kind][name], vals["c4_gf_err", "R1h", kind][name] = e_ref, e_half
            m[key("c4_gf_eta_ratio", "R1", kind, name)] = e_ref / e_half if e_half > 0 else math.nan
    put_per_model(m, vals)
    for kind in BROKEN_KINDS:  # two-sided band: judge both extremes over models
        ratios = [m[key("c4_gf_eta_ratio", "R1", kind, n)] for n in cfg.sgd_models
                  if key("c4_gf_eta_ratio", "R1", kind, n) in m]
        if ratios:
            m[key("c4_gf_eta_ratio", "R1", kind, "min")] = min_or_nan(ratios)
            m[key("c4_gf_eta_ratio", "R1", kind, "max")] = max_or_nan(ratios)
    m["c4_half_lr_time"] = _half_lr_steps(cfg) * cfg.sgd_lr
    figures.eta_scaling(ctx, cfg.sgd_lr, curves)


def _eta_halving(
    name: str, r1: dict[str, tuple[np.ndarray, np.ndarray]], *, x: torch.Tensor, y: torch.Tensor, m: int,
    cfg: Config, ctx: Any, curves: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, tuple[float, float]]:
    r"""R1h for one model: gradient-flow errors at $\eta$ and $\eta/2$ over the same time $t = m\eta$.

    ``r1`` maps each broken kind to R1's measured (emp, scale) at steps 0..m. R1h starts from R1's initialization,
    takes $2m$ steps at $\eta/2$ and uses each of R1's first m minibatches for two consecutive steps, so at every
    time t both runs have seen the same data; its tracker keeps every second step, i.e. the times of R1's steps
    0..m. To first order in $\eta$ both errors are $\eta\int_0^t \lVert g_A\rVert^2 d\tau$ (the same integral), so
    their ratio is 2.

    Returns:
        kind -> (gradient-flow error of R1 over [0, t], that of R1h over [0, t]); ``curves`` (if given) gets the
        median drift curves of both runs per kind.
    """
    tracker, _ = train_tracked(name, x=x, y=y, lr=cfg.sgd_lr / 2, steps=2 * m, batch_size=cfg.batch_size, ctx=ctx,
                               label="R1h", bn_eps=cfg.bn_eps, repeat=2, every=2)
    out: dict[str, tuple[float, float]] = {}
    for kind, (emp_ref, scale_ref) in r1.items():
        emp, scale = tracker.empirical(kind), tracker.normalizer(kind)
        if emp.shape != emp_ref.shape:
            raise RuntimeError(f"R1h {name} {kind}: recorded {emp.shape}, R1's window is {emp_ref.shape}")
        out[kind] = (gradient_flow_error(emp_ref, scale_ref), gradient_flow_error(emp, scale))
        if curves is not None:
            curves[kind] = (median_drift_curve(emp_ref, scale_ref), median_drift_curve(emp, scale))
    return out


def _momentum_run(m: dict[str, float], run_id: str, wd: float, x: torch.Tensor, y: torch.Tensor, cfg: Config,
                  ctx: Any) -> dict[str, str]:
    """R3 / R4 (SGD with momentum) for every model of ``momentum_models``: C4's exact recursions and C5."""
    vals: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    regimes = {kind: damping_regime(cfg.momentum_lr, cfg.momentum, cfg.dampening, wd, kind) for kind in KINDS}
    ctx.log(f"{run_id} damping regimes: " + ", ".join(f"{k} {v}" for k, v in regimes.items()))
    for name in cfg.momentum_models:
        tracker, _ = train_tracked(name, x=x, y=y, lr=cfg.momentum_lr, weight_decay=wd, momentum=cfg.momentum,
                                   dampening=cfg.dampening, steps=cfg.steps, batch_size=cfg.batch_size, ctx=ctx,
                                   label=run_id, bn_eps=cfg.bn_eps)
        preds_fig = {}
        for kind in tracker.kinds:
            emp, scale = tracker.empirical(kind), tracker.normalizer(kind)
            p_mom = predict_momentum(tracker, kind=kind)
            p_hom = predict_momentum(tracker, kind=kind, forcing=False)
            vals["c4_exact_err", run_id, kind][name] = median_relative_error(
                predict_exact_discrete(tracker, kind=kind), emp, scale)
            mom = vals["c5_mom_err", run_id, kind][name] = median_relative_error(p_mom, emp, scale)
            hom = vals["c5_homog_err", run_id, kind][name] = median_relative_error(p_hom, emp, scale)
            if kind != "translation":
                vals["c5_homog_ratio", run_id, kind][name] = hom / max(mom, 1e-300)
            preds_fig[kind] = {"momentum": (f"oscillator ({regimes[kind]})", p_mom),
                               "homog": ("homogeneous only Φ(t)q(0)", p_hom)}
        if name in cfg.plot_models:
            figures.overlay(ctx, tracker, preds_fig, name=f"{run_id}_{name}_overlay",
                            title=f"{run_id} {name}: lr={cfg.momentum_lr}, β={cfg.momentum}, wd={wd}",
                            caption=f"{run_id}, {name}: measured per-channel S/N/D (thick) vs the damped, driven "
                                    "oscillator (dashed) and its homogeneous part only (dotted)",
                            n_channels=cfg.plot_channels)
    put_per_model(m, vals)
    for kind in KINDS:
        m[key("c5_underdamped", run_id, kind)] = float(regimes[kind] == "underdamped")
    return regimes


def _gradient_flow_limit(m: dict[str, float], x: torch.Tensor, y: torch.Tensor, cfg: Config, ctx: Any) -> None:
    """R6: drift at fixed time t = gf_time for each lr of gf_lrs (C2: it vanishes linearly as lr -> 0)."""
    xs, ys = x[: cfg.gf_subset], y[: cfg.gf_subset]
    drift: dict[str, list[float]] = {k: [] for k in KINDS}
    for i, lr in enumerate(cfg.gf_lrs):
        tracker, _ = train_tracked(cfg.full_batch_model, x=xs, y=ys, lr=lr, steps=max(2, round(cfg.gf_time / lr)),
                                   batch_size=xs.shape[0], ctx=ctx, label=f"R6 lr={lr}", bn_eps=cfg.bn_eps)
        for kind in tracker.kinds:
            drift[kind].append(gradient_flow_error(tracker.empirical(kind), tracker.normalizer(kind)))
            m[drift_key(kind, i)] = drift[kind][-1]
    for kind in BROKEN_KINDS:
        positive = drift[kind] and all(v > 0 for v in drift[kind])
        m[slope_key(kind)] = fit_loglog_slope(cfg.gf_lrs, drift[kind]) if positive else math.nan
    if drift["translation"]:
        m["c2_translation_drift"] = max_or_nan(drift["translation"])
    figures.drift_vs_lr(ctx, cfg.gf_lrs, drift)
