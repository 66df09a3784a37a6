r"""The spec's runs R1-R4 and R6 (see ``experiment``): each trains its models with ``train_tracked``, scores the
predictions against the measured quantities and writes its metrics into ``m`` and its figures through ``ctx``;
``experiment.run`` calls them in order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from livepapers.core.stats import fit_loglog_slope

from . import figures
from .metrics import BROKEN_KINDS, drift_key, key, max_or_nan, min_or_nan, put_per_model, slope_key
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

if TYPE_CHECKING:
    from .experiment import Config


def half_lr_steps(cfg: Config) -> int:
    """m: R1's steps in the R1h comparison window [0, half_lr_time] (R1h takes 2 m steps at lr / 2)."""
    return round(cfg.half_lr_time / cfg.sgd_lr)


def sgd_run(m: dict[str, float], run_id: str, wd: float, x: torch.Tensor, y: torch.Tensor, cfg: Config, ctx: Any,
            *, c1_steps: tuple[int, ...], c1_all: dict[str, list[float]],
            window: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]) -> None:
    """R1 / R2 (SGD without momentum) for every model of ``sgd_models``: C3, C4 and C6 metrics."""
    vals: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    end_mod: list[np.ndarray] = []
    end_plain: list[np.ndarray] = []
    m_half = half_lr_steps(cfg)
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


def eta_halving_runs(m: dict[str, float], window: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]],
                     x: torch.Tensor, y: torch.Tensor, cfg: Config, ctx: Any) -> None:
    """R1h for every model (C4: the break scales with eta): gradient-flow errors at lr and lr / 2 and their ratio."""
    vals: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for name in cfg.sgd_models:
        errs = eta_halving(name, window.get(name, {}), x=x, y=y, m=half_lr_steps(cfg), cfg=cfg, ctx=ctx,
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
    m["c4_half_lr_time"] = half_lr_steps(cfg) * cfg.sgd_lr
    figures.eta_scaling(ctx, cfg.sgd_lr, curves)


def eta_halving(
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


def momentum_run(m: dict[str, float], run_id: str, wd: float, x: torch.Tensor, y: torch.Tensor, cfg: Config,
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


def gradient_flow_limit(m: dict[str, float], x: torch.Tensor, y: torch.Tensor, cfg: Config, ctx: Any) -> None:
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
