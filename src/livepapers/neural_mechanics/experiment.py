"""Offline reproduction of Neural Mechanics (runs R1-R6 of the spec) on scikit-learn's digits.

One call of :func:`run` handles one seed (init + minibatch order; the same for every optimizer setting, so the
seeds are paired) and returns flat metrics; ``claims.py`` judges them. Runs (batch 64 unless stated):

* R1 SGD lr 0.1, wd 0, 2000 steps - all three models (and the C1 geometry checks at 10 random steps);
* R1h = R1 at half the learning rate (0.05) for twice the steps of R1's first ``half_lr_time / lr`` steps, so
  both reach the same time t (default t = 50: R1's first 500 steps, 1000 steps here); same init, and each of R1's
  minibatches is used for two consecutive steps, so the data at every time t are R1's - C4's eta-scaling check;
* R2 SGD lr 0.1, wd 5e-3, 2000 steps - all three models;
* R3 momentum lr 0.02, beta 0.9, d 0, wd 1e-3, 2000 steps - MLP-ReLU, MLP-BN (overdamped);
* R4 as R3 with wd 0.1 (underdamped scale/rescale, overdamped translation);
* R5 = R2 with full-batch GD (1500 samples), 1000 steps - MLP-BN;
* R6 gradient-flow limit: MLP-BN, full batch on 500 samples, wd 0, lr in {0.1, 0.03, 0.01} to t = 10.

Error statistic per group: max_k |pred_k - emp_k| / max_k |emp_k| (rescale: / max_k (||theta_A1||^2 +
||theta_A2||^2)), then the median over groups; across models the worst model is reported (largest error,
smallest gap), with per-model companions ``..._<model>``.

C4's broken-conservation metrics (spec Revision 2), for the kinds whose conservation law a finite learning rate
breaks (scale, rescale; translation stays conserved to round-off at wd 0), per model and worst model:

* ``c4_gf_exact_ratio_R1_<kind>``: gradient-flow error / exact-recursion error in R1 (min over models);
* ``c4_drift_err_R1_<kind>``: over groups whose measured drift |q_K - q_0| / max_k scale_k is >= 1e-8, the median
  of |dq_measured - dq_modified| / |dq_measured| with dq = q_K - q_0 over all of R1 (max over models);
  ``c4_drift_frac_R1_<kind>``: the fraction of groups that qualify (min over models);
* ``c4_gf_eta_ratio_R1_<kind>_<model>``: gradient-flow error of R1 over [0, t] divided by that of R1h over the
  same [0, t]; ``..._min`` and ``..._max`` over models (the check is two-sided); the two errors are
  ``c4_gf_err_R1h_ref_<kind>`` (R1, lr) and ``c4_gf_err_R1h_<kind>`` (R1h, lr / 2);
* ``c4_gf_ratio_R1_<kind>``: gradient-flow error / modified-flow error in R1 (min over models).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from livepapers.core.config import Profile

from .data import load_digits_split, minibatch_indices
from .models import MODELS, make_model
from .optim import SymmetryTracker, TrackedSGD
from .predict import (
    damping_regime,
    predict_exact_discrete,
    predict_gradient_flow,
    predict_modified_flow,
    predict_momentum,
    predict_weight_decay,
    run_max_relative_error,
)
from .symmetries import check_gradient_geometry, check_hessian_geometry, find_symmetries

__all__ = ["PROFILES", "Config", "run"]

KIND_ORDER = ("translation", "scale", "rescale")
BROKEN_KINDS = ("scale", "rescale")  # conservation broken by a finite learning rate (translation is not, at wd 0)
DRIFT_MIN = 1e-8  # C4 check 2 uses groups whose measured drift |q_K - q_0| / max_k scale_k is at least this


@dataclass(frozen=True)
class Config:
    """Every knob of the reproduction; the defaults are the default profile (the spec's run plan)."""

    dataset: str = "digits"  # "digits" (offline); the paper profile names Tiny ImageNet (not runnable here)
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
    full_batch_model: str = "mlp_bn"  # R5, R6
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



def _max_or_nan(values: Any) -> float:
    """The largest value, NaN if any value is NaN (Python's ``max`` would skip a NaN that is not first)."""
    return float(np.max(np.asarray(list(values), dtype=np.float64)))


def _min_or_nan(values: Any) -> float:
    """The smallest value, NaN if any value is NaN."""
    return float(np.min(np.asarray(list(values), dtype=np.float64)))

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


def _median_err(pred: np.ndarray, emp: np.ndarray, scale: np.ndarray) -> float:
    return float(np.median(run_max_relative_error(pred, emp, scale)))


def _gf_err(emp: np.ndarray, scale: np.ndarray) -> float:
    """Gradient-flow error (median over groups of max_k |q_k - q_0| / max_k scale_k) of a (T, g) record."""
    return _median_err(predict_gradient_flow(emp[0], n_steps=emp.shape[0] - 1), emp, scale)


def _drift_explained(p_mod: np.ndarray, emp: np.ndarray, scale: np.ndarray) -> tuple[float, float]:
    """C4 check 2: is the measured drift dq = q_K - q_0 the modified flow's?

    Over the groups whose measured drift |dq| / max_k scale_k is >= ``DRIFT_MIN`` (below it the drift is too close
    to round-off to be explained or not), the median of |dq_measured - dq_modified| / |dq_measured|; and the
    fraction of groups that qualify. NaN (no group qualifies) makes the claim inconclusive.
    """
    d_emp = emp[-1] - emp[0]
    d_mod = p_mod[-1] - p_mod[0]
    ref = np.abs(scale).max(axis=0)
    sel = (ref > 0) & (np.abs(d_emp) >= DRIFT_MIN * ref)
    if not sel.any():
        return math.nan, 0.0
    return float(np.median(np.abs(d_emp[sel] - d_mod[sel]) / np.abs(d_emp[sel]))), float(sel.mean())


def _median_drift_curve(emp: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(T,) median over groups of |q_k - q_0| / max_k scale_k: the drift as it grows over time."""
    return np.median(np.abs(emp - emp[0]) / np.abs(scale).max(axis=0), axis=1)


def _train(
    name: str, *, x: torch.Tensor, y: torch.Tensor, lr: float, weight_decay: float, momentum: float,
    dampening: float, steps: int, batch_size: int, cfg: Config, ctx: Any, label: str,
    c1_steps: tuple[int, ...] = (), repeat: int = 1, every: int = 1,
) -> tuple[SymmetryTracker, dict[str, list[float]]]:
    """Train one model and track every group; optionally run the C1 geometry checks at ``c1_steps``.

    Every call with the same seed starts from the same initialization and draws the same minibatch sequence;
    ``repeat`` uses each minibatch for that many consecutive steps (``steps`` must be a multiple of it), and the
    tracker keeps every ``every``-th step.
    """
    if steps % repeat:
        raise ValueError(f"steps={steps} must be a multiple of repeat={repeat}")
    model = make_model(name, generator=ctx.generator(10 + list(MODELS).index(name)), bn_eps=cfg.bn_eps)
    model.train()
    groups = find_symmetries(model)
    opt = TrackedSGD(model.parameters(), lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay)
    tracker = SymmetryTracker(model, groups, opt, every=every)
    distinct = minibatch_indices(x.shape[0], batch_size=batch_size, n_steps=steps // repeat,
                                 generator=ctx.generator(1000))
    batches = (idx for idx in distinct for _ in range(repeat))
    c1: dict[str, list[float]] = {}
    c1_set = set(c1_steps)
    hgen = ctx.generator(3000 + list(MODELS).index(name))
    for k, idx in enumerate(ctx.progress(batches, total=steps, desc=f"{label} {name}")):
        xb, yb = x[idx], y[idx]
        if k in c1_set:
            gg = check_gradient_geometry(model, F.cross_entropy, (xb, yb), groups)
            hh = check_hessian_geometry(model, F.cross_entropy, (xb, yb), groups, n_individual=cfg.c1_individual,
                                        generator=hgen)
            for kind in KIND_ORDER:
                if kind in hh:
                    c1.setdefault(f"grad_{kind}", []).append(gg[kind + "_normalized"])
                    c1.setdefault(f"hvp_{kind}", []).append(hh[kind])
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        ctx.check_finite(loss, k, what=f"{label} {name} loss")
        loss.backward()
        opt.step()
        tracker.step()
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).double().mean())
    ctx.log(f"{label} {name}: lr={lr} momentum={momentum} wd={weight_decay} steps={steps} batch={batch_size} "
            f"final loss {float(loss.detach()):.4f}, train accuracy {acc:.3f}")
    return tracker, c1


def _channels(n_groups: int, n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n_groups - 1, min(n, n_groups)).round().astype(int))


def _overlay(ctx: Any, trackers: dict[str, SymmetryTracker], preds: dict[str, dict[str, tuple[str, np.ndarray]]],
             *, name: str, title: str, caption: str, n_channels: int) -> None:
    """Per-channel empirical curves (solid) with the theory curves overlaid, one panel per kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tracker = trackers["tracker"]
    kinds = [k for k in KIND_ORDER if k in tracker.kinds]
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.6 * len(kinds), 3.6), squeeze=False)
    t = tracker.times
    stride = max(1, len(t) // 200)
    rows: list[dict[str, float]] = []
    symbol = {"translation": "S", "scale": "N", "rescale": "D"}
    for ax, kind in zip(axes[0], kinds):
        emp = tracker.empirical(kind)
        chans = _channels(emp.shape[1], n_channels)
        colors = plt.cm.viridis(np.linspace(0, 0.9, len(chans)))
        styles = ["--", ":", "-."]
        for c, col in zip(chans, colors):
            ax.plot(t, emp[:, c], color=col, lw=2.2, alpha=0.55)
            for (_, pred), ls in zip(preds[kind].values(), styles):
                ax.plot(t, pred[:, c], color="k", lw=0.9, ls=ls)
        handles = [plt.Line2D([], [], color="grey", lw=2.2, alpha=0.55, label="measured")]
        handles += [plt.Line2D([], [], color="k", lw=0.9, ls=ls, label=label)
                    for (label, _), ls in zip(preds[kind].values(), styles)]
        ax.legend(handles=handles, fontsize=7, loc="best")
        ax.set_title(f"{kind}: {symbol[kind]}_A per channel", fontsize=9)
        ax.set_xlabel("t = h k")
        for c in chans:
            for i in range(0, len(t), stride):
                row = {"kind": kind, "channel": int(c), "t": float(t[i]), "measured": float(emp[i, c])}
                for key, (_, pred) in preds[kind].items():
                    row[key] = float(pred[i, c])
                rows.append(row)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    ctx.savefig(fig, name, caption=caption)
    ctx.save_csv(name, rows)


def run(config: Config, ctx: Any) -> dict[str, float]:
    """Runs R1-R6 for one seed (``ctx.seed``); returns the metrics ``claims.py`` reads (see module docstring)."""
    cfg = config
    _check_config(cfg)
    torch.set_num_threads(1)
    data = load_digits_split(n_train=cfg.n_train)
    x, y = data.x_train, data.y_train
    m: dict[str, float] = {}
    regimes: dict[str, dict[str, str]] = {}

    def put(key: str, per_model: dict[str, float], worst: str) -> None:
        for model_name, v in per_model.items():
            m[f"{key}_{model_name}"] = v
        if per_model:
            m[key] = _max_or_nan(per_model.values()) if worst == "max" else _min_or_nan(per_model.values())

    # ---------------- R1, R2: SGD without momentum ----------------
    c1_rng = np.random.default_rng([ctx.seed, 77])
    c1_steps = tuple(sorted(c1_rng.choice(cfg.steps, size=min(cfg.c1_points, cfg.steps), replace=False).tolist()))
    c1_all: dict[str, list[float]] = {}
    m_half = _half_lr_steps(cfg)
    r1_window: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}  # R1's [0, half_lr_time] for R1h
    sgd_runs = {"R1": 0.0, "R2": cfg.sgd_weight_decay}
    for run_id, wd in sgd_runs.items():
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        exact: dict[str, dict[str, float]] = {k: {} for k in KIND_ORDER}
        cont: dict[str, dict[str, float]] = {k: {} for k in KIND_ORDER}
        official: dict[str, dict[str, float]] = {k: {} for k in KIND_ORDER}
        gf: dict[str, dict[str, float]] = {k: {} for k in KIND_ORDER}
        ratio: dict[str, dict[str, float]] = {k: {} for k in KIND_ORDER}
        gf_exact: dict[str, dict[str, float]] = {k: {} for k in KIND_ORDER}
        drift_err: dict[str, dict[str, float]] = {k: {} for k in KIND_ORDER}
        drift_frac: dict[str, dict[str, float]] = {k: {} for k in KIND_ORDER}
        end_mod: list[np.ndarray] = []
        end_plain: list[np.ndarray] = []
        for name in cfg.sgd_models:
            tracker, c1 = _train(name, x=x, y=y, lr=cfg.sgd_lr, weight_decay=wd, momentum=0.0, dampening=0.0,
                                 steps=cfg.steps, batch_size=cfg.batch_size, cfg=cfg, ctx=ctx, label=run_id,
                                 c1_steps=c1_steps if run_id == "R1" else ())
            for key, vals in c1.items():
                c1_all.setdefault(key, []).extend(vals)
            preds_fig: dict[str, dict[str, tuple[str, np.ndarray]]] = {}
            for kind in tracker.kinds:
                emp, scale = tracker.empirical(kind), tracker.normalizer(kind)
                p_exact = predict_exact_discrete(tracker, kind=kind)
                p_mod = predict_modified_flow(tracker, kind=kind)
                p_off = predict_modified_flow(tracker, kind=kind, convention="official")
                p_wd = predict_weight_decay(tracker, kind=kind)
                exact[kind][name] = _median_err(p_exact, emp, scale)
                cont[kind][name] = _median_err(p_mod, emp, scale)
                official[kind][name] = _median_err(p_off, emp, scale)
                if run_id == "R1" and kind in BROKEN_KINDS:
                    gf[kind][name] = _median_err(predict_gradient_flow(tracker, kind=kind), emp, scale)
                    # C4 (Revision 2): 4. gap to the modified flow; 1. breaking resolved above round-off;
                    # 2. the drift is the modified flow's
                    ratio[kind][name] = gf[kind][name] / max(cont[kind][name], 1e-300)
                    gf_exact[kind][name] = gf[kind][name] / max(exact[kind][name], 1e-300)
                    drift_err[kind][name], drift_frac[kind][name] = _drift_explained(p_mod, emp, scale)
                    r1_window.setdefault(name, {})[kind] = (emp[: m_half + 1].copy(), scale[: m_half + 1].copy())
                if run_id == "R2" and kind == "translation":
                    e_end = emp[-1]
                    end_mod.append(np.abs(p_mod[-1] - e_end) / np.abs(e_end))
                    end_plain.append(np.abs(p_wd[-1] - e_end) / np.abs(e_end))
                label_wd = "gradient flow (constant)" if wd == 0 else "weight decay only, e^{-c λ t}"
                preds_fig[kind] = {"modified": ("modified flow (λ̃, ∫‖g‖²)", p_mod), "wd": (label_wd, p_wd)}
            if name in cfg.plot_models:
                _overlay(ctx, {"tracker": tracker}, preds_fig, name=f"{run_id}_{name}_overlay",
                         title=f"{run_id} {name}: SGD lr={cfg.sgd_lr}, wd={wd}, batch {cfg.batch_size}",
                         caption=f"{run_id}, {name}: measured per-channel S/N/D (thick) vs modified gradient flow "
                                 f"(dashed) and {'gradient flow' if wd == 0 else 'plain weight decay'} (dotted)",
                         n_channels=cfg.plot_channels)
        for kind in KIND_ORDER:
            put(f"c4_exact_err_{run_id}_{kind}", exact[kind], "max")
            put(f"c4_cont_err_{run_id}_{kind}", cont[kind], "max")
            put(f"c4_official_err_{run_id}_{kind}", official[kind], "max")
            if run_id == "R1" and gf[kind]:
                put(f"c4_gf_err_R1_{kind}", gf[kind], "min")
                put(f"c4_gf_ratio_R1_{kind}", ratio[kind], "min")
                put(f"c4_gf_exact_ratio_R1_{kind}", gf_exact[kind], "min")
                put(f"c4_drift_err_R1_{kind}", drift_err[kind], "max")
                put(f"c4_drift_frac_R1_{kind}", drift_frac[kind], "min")
        if end_mod:
            m["c3_trans_end_err_modified"] = float(np.median(np.concatenate(end_mod)))
            m["c3_trans_end_err_plain"] = float(np.median(np.concatenate(end_plain)))
        m[f"time_{run_id}_s"] = time.perf_counter() - t_wall
        m[f"cpu_{run_id}_s"] = time.process_time() - t_cpu

    # C1: geometry at random points of R1
    for kind in KIND_ORDER:
        if f"grad_{kind}" in c1_all:
            m[f"c1_grad_violation_{kind}"] = _max_or_nan(c1_all[f"grad_{kind}"])
            m[f"c1_hvp_violation_{kind}"] = _max_or_nan(c1_all[f"hvp_{kind}"])
    if c1_all:
        m["c1_max_grad_violation"] = _max_or_nan(v for k, v in m.items() if k.startswith("c1_grad_violation_"))
        m["c1_max_hvp_violation"] = _max_or_nan(v for k, v in m.items() if k.startswith("c1_hvp_violation_"))
        m["c1_n_points"] = float(len(c1_steps) * len(cfg.sgd_models))

    # ---------------- R1h: R1 at lr / 2 to the same time (C4: the break scales with eta) ----------------
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    gf_ref: dict[str, dict[str, float]] = {k: {} for k in BROKEN_KINDS}
    gf_half: dict[str, dict[str, float]] = {k: {} for k in BROKEN_KINDS}
    eta_ratio: dict[str, dict[str, float]] = {k: {} for k in BROKEN_KINDS}
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for name in cfg.sgd_models:
        errs = _eta_halving(name, r1_window.get(name, {}), x=x, y=y, m=m_half, cfg=cfg, ctx=ctx,
                            curves=curves.setdefault(name, {}))
        for kind, (e_ref, e_half) in errs.items():
            gf_ref[kind][name], gf_half[kind][name] = e_ref, e_half
            eta_ratio[kind][name] = e_ref / e_half if e_half > 0 else math.nan
    for kind in BROKEN_KINDS:
        if eta_ratio[kind]:
            put(f"c4_gf_err_R1h_ref_{kind}", gf_ref[kind], "min")
            put(f"c4_gf_err_R1h_{kind}", gf_half[kind], "min")
            for model_name, v in eta_ratio[kind].items():
                m[f"c4_gf_eta_ratio_R1_{kind}_{model_name}"] = v
            # two-sided band: judge both extremes over models
            m[f"c4_gf_eta_ratio_R1_{kind}_min"] = _min_or_nan(eta_ratio[kind].values())
            m[f"c4_gf_eta_ratio_R1_{kind}_max"] = _max_or_nan(eta_ratio[kind].values())
    m["c4_half_lr_time"] = m_half * cfg.sgd_lr
    _eta_figure(ctx, cfg, curves)
    m["time_R1h_s"] = time.perf_counter() - t_wall
    m["cpu_R1h_s"] = time.process_time() - t_cpu

    # ---------------- R3, R4: momentum ----------------
    for run_id, wd in zip(("R3", "R4"), cfg.momentum_weight_decays):
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        exact = {k: {} for k in KIND_ORDER}
        mom: dict[str, dict[str, float]] = {k: {} for k in KIND_ORDER}
        hom: dict[str, dict[str, float]] = {k: {} for k in KIND_ORDER}
        ratio = {k: {} for k in KIND_ORDER}
        regimes[run_id] = {kind: damping_regime(cfg.momentum_lr, cfg.momentum, cfg.dampening, wd, kind)
                           for kind in KIND_ORDER}
        ctx.log(f"{run_id} damping regimes: " + ", ".join(f"{k} {v}" for k, v in regimes[run_id].items()))
        for name in cfg.momentum_models:
            tracker, _ = _train(name, x=x, y=y, lr=cfg.momentum_lr, weight_decay=wd, momentum=cfg.momentum,
                                dampening=cfg.dampening, steps=cfg.steps, batch_size=cfg.batch_size, cfg=cfg,
                                ctx=ctx, label=run_id)
            preds_fig = {}
            for kind in tracker.kinds:
                emp, scale = tracker.empirical(kind), tracker.normalizer(kind)
                p_exact = predict_exact_discrete(tracker, kind=kind)
                p_mom = predict_momentum(tracker, kind=kind)
                p_hom = predict_momentum(tracker, kind=kind, forcing=False)
                exact[kind][name] = _median_err(p_exact, emp, scale)
                mom[kind][name] = _median_err(p_mom, emp, scale)
                hom[kind][name] = _median_err(p_hom, emp, scale)
                if kind != "translation":
                    ratio[kind][name] = hom[kind][name] / max(mom[kind][name], 1e-300)
                preds_fig[kind] = {"momentum": (f"oscillator ({regimes[run_id][kind]})", p_mom),
                                   "homog": ("homogeneous only Φ(t)q(0)", p_hom)}
            if name in cfg.plot_models:
                _overlay(ctx, {"tracker": tracker}, preds_fig, name=f"{run_id}_{name}_overlay",
                         title=f"{run_id} {name}: lr={cfg.momentum_lr}, β={cfg.momentum}, wd={wd}",
                         caption=f"{run_id}, {name}: measured per-channel S/N/D (thick) vs the damped, driven "
                                 "oscillator (dashed) and its homogeneous part only (dotted)",
                         n_channels=cfg.plot_channels)
        for kind in KIND_ORDER:
            put(f"c4_exact_err_{run_id}_{kind}", exact[kind], "max")
            put(f"c5_mom_err_{run_id}_{kind}", mom[kind], "max")
            put(f"c5_homog_err_{run_id}_{kind}", hom[kind], "min")
            if ratio[kind]:
                put(f"c5_homog_ratio_{run_id}_{kind}", ratio[kind], "min")
            m[f"c5_underdamped_{run_id}_{kind}"] = float(regimes[run_id][kind] == "underdamped")
        m[f"time_{run_id}_s"] = time.perf_counter() - t_wall
        m[f"cpu_{run_id}_s"] = time.process_time() - t_cpu

    # ---------------- R5: full-batch GD ----------------
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    name = cfg.full_batch_model
    tracker, _ = _train(name, x=x, y=y, lr=cfg.sgd_lr, weight_decay=cfg.sgd_weight_decay, momentum=0.0,
                        dampening=0.0, steps=cfg.full_batch_steps, batch_size=x.shape[0], cfg=cfg, ctx=ctx,
                        label="R5")
    for kind in tracker.kinds:
        emp, scale = tracker.empirical(kind), tracker.normalizer(kind)
        m[f"c4_exact_err_R5_{kind}"] = _median_err(predict_exact_discrete(tracker, kind=kind), emp, scale)
        m[f"c4_cont_err_R5_{kind}"] = _median_err(predict_modified_flow(tracker, kind=kind), emp, scale)
        m[f"c4_official_err_R5_{kind}"] = _median_err(
            predict_modified_flow(tracker, kind=kind, convention="official"), emp, scale)
    m["time_R5_s"] = time.perf_counter() - t_wall
    m["cpu_R5_s"] = time.process_time() - t_cpu

    # ---------------- R6: gradient-flow limit ----------------
    t_wall, t_cpu = time.perf_counter(), time.process_time()
    xs, ys = x[: cfg.gf_subset], y[: cfg.gf_subset]
    drift: dict[str, list[float]] = {k: [] for k in KIND_ORDER}
    for i, lr in enumerate(cfg.gf_lrs):
        steps = max(2, round(cfg.gf_time / lr))
        tracker, _ = _train(name, x=xs, y=ys, lr=lr, weight_decay=0.0, momentum=0.0, dampening=0.0, steps=steps,
                            batch_size=xs.shape[0], cfg=cfg, ctx=ctx, label=f"R6 lr={lr}")
        for kind in tracker.kinds:
            emp, scale = tracker.empirical(kind), tracker.normalizer(kind)
            d = _median_err(predict_gradient_flow(tracker, kind=kind), emp, scale)
            drift[kind].append(d)
            m[f"c2_drift_{kind}_e{i}"] = d
    log_lr = np.log(np.asarray(cfg.gf_lrs))
    for kind in ("scale", "rescale"):
        if drift[kind] and all(v > 0 for v in drift[kind]):
            m[f"c2_slope_{kind}"] = float(np.polyfit(log_lr, np.log(drift[kind]), 1)[0])
        else:
            m[f"c2_slope_{kind}"] = math.nan
    if drift["translation"]:
        m["c2_translation_drift"] = _max_or_nan(drift["translation"])
    _drift_figure(ctx, cfg.gf_lrs, drift)
    m["time_R6_s"] = time.perf_counter() - t_wall
    m["cpu_R6_s"] = time.process_time() - t_cpu
    ctx.save_json("regimes", regimes)
    return m


def _eta_halving(
    name: str, r1: dict[str, tuple[np.ndarray, np.ndarray]], *, x: torch.Tensor, y: torch.Tensor, m: int,
    cfg: Config, ctx: Any, curves: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, tuple[float, float]]:
    """R1h for one model: gradient-flow errors at lr and lr / 2 over the same time t = m * lr.

    ``r1`` maps each broken kind to R1's measured (emp, scale) at steps 0..m. R1h starts from R1's initialization,
    takes 2 m steps at lr / 2 and uses each of R1's first m minibatches for two consecutive steps, so at every time
    t both runs have seen the same data; its tracker keeps every second step, i.e. the times of R1's steps 0..m.
    To first order in lr both errors are lr * (the same integral of ||g_A||^2), so their ratio is 2.

    Returns:
        kind -> (gradient-flow error of R1 over [0, t], that of R1h over [0, t]); ``curves`` (if given) gets the
        median drift curves of both runs per kind.
    """
    tracker, _ = _train(name, x=x, y=y, lr=cfg.sgd_lr / 2, weight_decay=0.0, momentum=0.0, dampening=0.0,
                        steps=2 * m, batch_size=cfg.batch_size, cfg=cfg, ctx=ctx, label="R1h", repeat=2, every=2)
    out: dict[str, tuple[float, float]] = {}
    for kind, (emp_ref, scale_ref) in r1.items():
        emp, scale = tracker.empirical(kind), tracker.normalizer(kind)
        if emp.shape != emp_ref.shape:
            raise RuntimeError(f"R1h {name} {kind}: recorded {emp.shape}, R1's window is {emp_ref.shape}")
        out[kind] = (_gf_err(emp_ref, scale_ref), _gf_err(emp, scale))
        if curves is not None:
            curves[kind] = (_median_drift_curve(emp_ref, scale_ref), _median_drift_curve(emp, scale))
    return out


def _eta_figure(ctx: Any, cfg: Config, curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]) -> None:
    """Median drift vs time in R1 (lr) and R1h (lr / 2), one panel per model; 2x the R1h curve for reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in curves if curves[n]]
    if not names:
        return
    fig, axes = plt.subplots(1, len(names), figsize=(4.4 * len(names), 3.5), squeeze=False)
    rows: list[dict[str, Any]] = []
    colors = {"scale": "tab:blue", "rescale": "tab:orange"}
    for ax, name in zip(axes[0], names):
        for kind, (ref, half) in curves[name].items():
            t = np.arange(ref.shape[0]) * cfg.sgd_lr
            ax.plot(t, ref, color=colors[kind], lw=1.8, label=f"{kind}, η = {cfg.sgd_lr:g}")
            ax.plot(t, half, color=colors[kind], lw=1.2, ls="--", label=f"{kind}, η/2")
            ax.plot(t, 2 * half, color="k", lw=0.7, ls=":")
            stride = max(1, len(t) // 200)
            rows += [{"model": name, "kind": kind, "t": float(t[i]), "drift_lr": float(ref[i]),
                      "drift_half_lr": float(half[i])} for i in range(0, len(t), stride)]
        ax.set_title(f"{name}", fontsize=9)
        ax.set_xlabel("t = η k")
        ax.set_ylabel("median |q_k − q_0| / max scale")
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("R1 (η) vs R1h (η/2) at equal time t: drift of N and D (dotted: 2 × the η/2 curve)", fontsize=10)
    fig.tight_layout()
    ctx.savefig(fig, "R1h_eta_scaling", caption="R1 (η) and R1h (η/2, twice the steps, same data at every t): median "
                                                "drift of N and D per model; first order in η means the η curve is "
                                                "twice the η/2 curve (dotted)")
    ctx.save_csv("R1h_eta_scaling", rows)


def _drift_figure(ctx: Any, lrs: tuple[float, ...], drift: dict[str, list[float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 3.6))
    for kind, vals in drift.items():
        if vals:
            ax.loglog(lrs, np.maximum(vals, 1e-17), "o-", label=kind)
    ref = np.asarray(lrs) / lrs[0]
    if drift["scale"]:
        ax.loglog(lrs, drift["scale"][0] * ref, "k:", lw=0.8, label="slope 1")
    ax.set_xlabel("learning rate η (same t = const)")
    ax.set_ylabel("median drift of the conserved quantity")
    ax.legend(fontsize=8)
    ax.set_title("R6: conservation restored as η → 0", fontsize=10)
    fig.tight_layout()
    ctx.savefig(fig, "R6_drift", caption="R6: drift max_k|q_k − q_0| / max_k scale vs learning rate at fixed "
                                         "continuous time; gradient flow is the η → 0 limit")
    ctx.save_csv("R6_drift", [{"lr": lr, **{k: v[i] for k, v in drift.items() if v}} for i, lr in enumerate(lrs)])
