"""Offline small-scale reproduction of NNPhD's claims C1–C5 (spec: papers/nnphd.md).

One call of :func:`run` handles one seed (network initialization and minibatch order); all data sets come from
``Config.data_seed`` / ``Config.test_seed`` and are shared by every seed and method. Demos:

* c1  — λ sweep on the 2-D damped anharmonic oscillator (phase transition at λ = 1);
* c2  — friction on the damped double pendulum (γ = 0.3 and the γ = 0 control);
* c3  — Neptune from Uranus' orbit (variant A, a claim) and the 8-particle ring (variant B, reported only);
* c4  — radiation reaction on 8 inspirals;
* c5  — forecasting the damped double pendulum: NNPhD (from c2) vs LNN alone vs a plain MLP.

``run`` returns metrics only; the verdicts come from ``claims.py``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from livepapers.core.config import Profile
from livepapers.nnphd import figures
from livepapers.nnphd.data import DampedOscillator2D, Inspiral, UranusNeptune, UranusNeptuneRing
from livepapers.nnphd.detection import cos_agg, cos_each, friction_coefficient, rms
from livepapers.nnphd.evaluation import (  # noqa: F401 (the metric names are importable from here)
    FORECAST_MODELS,
    NEPTUNE_RUNS,
    forecast_eval,
    forecast_metric,
    inspiral_data_metrics,
    inspiral_metrics,
    neptune_held_out,
    neptune_metric,
    neptune_metrics,
    sweep_summary,
    time_metric,
)
from livepapers.nnphd.harness import (
    build_nnphd,
    data_gen,
    fit_logged,
    model_spec,
    pendulum_data,
    seeded,
    time_unit,
)
from livepapers.nnphd.modules import TimeScaled
from livepapers.nnphd.selection import build_model, select_learning_rates
from livepapers.nnphd.training import predict
from livepapers.nnphd.transition import phase_transition_sweep

DEMOS = ("c1", "c2", "c3", "c3b", "c4", "c5")


@dataclass(frozen=True)
class Config:
    demos: tuple[str, ...] = DEMOS
    data_seed: int = 2021  # training data (shared by all seeds and methods)
    test_seed: int = 4242  # held-out data and forecasting initial conditions
    # shared model / optimizer settings (LNN softplus, UAN and MLP tanh); spec revision 2: Adam, peak lr 3e-2,
    # cosine to 1 % of it, batch 128; C2–C5 staged (the LNN alone for the first half of the steps)
    lam: float = 0.5
    norm: str = "l2"
    width: int = 128
    depth: int = 2
    lnn_init: str = "standard"
    ridge: float = 1e-6
    lr: float = 3e-2
    lr_floor: float = 0.01  # the cosine ends at lr_floor × peak
    batch_size: int = 128
    grad_clip: float = 10.0
    stage_frac: float = 0.5  # C2–C5: fraction of the steps that train the LNN alone before LNN + UAN
    nondim_time: bool = True  # the pendulum's networks train with time in units of sqrt(l/g)
    # C1: phase transition on the damped 2-D oscillator (joint from the start: it studies the objective)
    c1_lams: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9, 1.1, 1.25, 1.5, 2.0)
    c1_gamma: float = 0.5
    c1_n_samples: int = 4096
    c1_n_test: int = 1024
    c1_width: int = 64
    c1_steps: int = 1000
    c1_backend: str = "local"
    c1_workers: int = 1  # 1 = inside this seed's process (seeds already run in parallel workers)
    # C2 / C5: damped double pendulum
    c2_gamma: float = 0.3
    c2_friction: str = "acceleration"
    c2_n_train: int = 64
    c2_n_test: int = 16
    c2_duration: float = 4.0
    c2_n_points: int = 200
    c2_theta_max: float = math.pi / 2
    c2_omega_max: float = 1.0
    c2_steps: int = 4000
    angle_embedding: str = "wrap"
    # C3: Uranus–Neptune (held-out states: the same orbit at times between the training samples)
    c3_mu_n: float = 0.01
    c3_n_points: int = 2000
    c3_n_test: int = 500
    c3_steps: int = 4000
    c3b_n_particles: int = 8
    c3b_n_points: int = 250
    c3b_steps: int = 4000
    c3b_seed: int = 0  # variant B (no claim) runs on this seed only, as in the spec; -1: on every seed
    c3_real_mass: bool = False  # also run variant A at the real μ_N = 5.15e-5 (reported, no threshold)
    # C4: eccentric inspirals (revision 2; β and e from the pilot recorded in the README)
    c4_beta: float = 0.16
    c4_e_min: float = 0.3
    c4_e_max: float = 0.6
    c4_r_stop: float = 0.5
    c4_n_traj: int = 16
    c4_n_test: int = 4
    c4_n_points: int = 500
    c4_steps: int = 4000
    # C5: forecasting; each model's peak lr picked once per reproduce (prepare) on held-out training trajectories
    c5_lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2, 3e-2)
    c5_n_val: int = 16
    c5_select_seed: int = 0
    c5_select_workers: int = 2  # processes of the selection (it runs once, before the seeds, on both cores)
    c5_select_frac: float = 0.5  # the selection trains every candidate for this fraction of c2_steps (budget)
    c5_n_test: int = 16
    c5_theta_max: float = math.pi / 4
    c5_horizon: float = 10.0
    c5_dt: float = 0.01


PROFILES: dict[str, Profile] = {
    "smoke": Profile(Config(
        width=16, batch_size=64,
        c1_lams=(0.5, 0.9, 1.1, 1.5), c1_n_samples=256, c1_n_test=64, c1_width=16, c1_steps=30,
        c2_n_train=8, c2_n_test=4, c2_n_points=50, c2_steps=30,
        c3_n_points=300, c3_n_test=50, c3_steps=30, c3b_n_particles=4, c3b_n_points=60, c3b_steps=30,
        c4_n_traj=2, c4_n_test=1, c4_n_points=100, c4_steps=30,
        c5_lrs=(3e-3, 3e-2), c5_n_val=2, c5_select_workers=1, c5_n_test=4, c5_horizon=1.0, c5_dt=0.02,
    ), n_seeds=1),
    "default": Profile(Config()),
    # the spec's revision-2 recipe without the default's budget cuts (≈ 19 min on 2 cores): C1 at 4000 steps per λ,
    # C5's lr selection at the full 4000 steps, Neptune variant B on every seed
    "extended": Profile(Config(c1_steps=4000, c5_select_frac=1.0, c3b_seed=-1)),
    # documented larger settings (not run in CI): wider/deeper nets, larger batch, 10x the steps, and the
    # real Neptune mass as an extra, un-thresholded variant-A run.
    "paper": Profile(Config(
        depth=3, batch_size=512, c1_steps=10000, c2_steps=40000, c3_steps=40000, c3b_steps=40000,
        c4_steps=40000, c3_real_mass=True,
    ), n_seeds=1),
}


# ----------------------------------------------------------------------------------------------- C1


def _demo_c1(cfg: Config, ctx, fits: dict) -> dict[str, float]:
    system = DampedOscillator2D(gamma=cfg.c1_gamma)
    data = system.sample(cfg.c1_n_samples, data_gen(cfg.data_seed, 1))
    test = system.sample(cfg.c1_n_test, data_gen(cfg.test_seed, 1))
    table = phase_transition_sweep(
        system, cfg.c1_lams, cfg.c1_steps, ctx.generator(1), data=data, hidden=(cfg.c1_width,) * cfg.depth,
        batch_size=cfg.batch_size, lr=cfg.lr, lr_min=cfg.lr * cfg.lr_floor, norm=cfg.norm, ridge=cfg.ridge,
        init=cfg.lnn_init, backend=cfg.c1_backend, workers=cfg.c1_workers, test=test,
    )
    table = sorted(table, key=lambda r: r["lam"])
    for r in table:
        ctx.log(f"c1 λ={r['lam']:.3g}: l_pred {r['l_pred']:.4g} l_reg {r['l_reg']:.4g} "
                f"LNN err {r['lnn_rel_err']:.3g}")
    metrics, lams, reg, pred = sweep_summary(table, data["a_nc"], cfg.norm)
    metrics["c1_lnn_rel_err"] = float(np.mean([r["lnn_rel_err"] for r in table]))
    plateau = metrics["c1_reg_low"]
    if reg[0] <= 0.5 * plateau:
        ctx.log("c1: ℓ_reg already below half its plateau at the smallest λ")
    elif bool((reg > 0.5 * plateau).all()):
        ctx.log("c1: ℓ_reg never falls to half its plateau within the λ grid")
    ctx.save_csv("c1_phase_transition.csv", table)
    figures.phase_transition(ctx, lams, reg, pred, metrics["c1_reg_true"])
    return metrics


# ----------------------------------------------------------------------------------------------- C2 / C5


# per pendulum run: the metric names of the fitted γ̂ and of the LNN's conservative-fit error
_PENDULUM_RUNS = {"damped": ("c2_gamma_hat_damped", "c2_lnn_rel_err"),
                  "control": ("c2_gamma_hat_control", "c2_lnn_rel_err_control")}


def _demo_c2(cfg: Config, ctx, fits: dict, curves: dict) -> tuple[dict[str, float], dict]:
    metrics: dict[str, float] = {}
    keep: dict = {}
    preds = {}
    for name, gamma in (("damped", cfg.c2_gamma), ("control", 0.0)):
        pend, train, test = pendulum_data(cfg, gamma)  # in the training time unit u
        with seeded(ctx, 2):
            model = build_nnphd(cfg, 2, angle_embedding=cfg.angle_embedding)
        fit_logged(model, train, cfg.c2_steps, cfg, ctx, 2, f"c2[{name}]", curves=curves)
        out = predict(model, test)
        preds[name] = (out, test)
        a_nc, qd = out["a_nc"], test["qdot"]
        gamma_name, lnn_name = _PENDULUM_RUNS[name]
        metrics[gamma_name] = friction_coefficient(a_nc, qd, time_unit(cfg, pend))  # in 1/s
        if name == "damped":
            keep = {"pend": pend, "train": train, "model": model}
            metrics["c2_cos_agg"] = cos_agg(a_nc, test["a_nc"])
            metrics["c2_rel_rms"] = rms(a_nc - test["a_nc"]) / rms(test["a_nc"])
            metrics["c2_cos_median"] = float(cos_each(a_nc, -qd).median())
            fits["C2 pendulum (damped)"] = (out["a_c"], test["a_c"])
        metrics[lnn_name] = rms(out["a_c"] - test["a_c"]) / rms(test["a_c"])
    metrics["c2_rms_ratio_control"] = rms(preds["control"][0]["a_nc"]) / rms(preds["damped"][0]["a_nc"])
    metrics["c2_rms_nc_true"] = rms(preds["damped"][1]["a_nc"]) / time_unit(cfg, keep["pend"]) ** 2
    figures.friction(ctx, preds, cfg.c2_gamma)
    return metrics, keep


def _demo_c5(cfg: Config, ctx, keep: dict, curves: dict) -> dict[str, float]:
    pend, train = keep["pend"], keep["train"]
    lrs = load_selection(ctx)
    metrics = {f"c5_lr_{m}": lrs[m] for m in FORECAST_MODELS}
    models = {}
    spec = model_spec(cfg, cfg.angle_embedding)
    for m in FORECAST_MODELS:
        if m == "nnphd" and lrs[m] == cfg.lr:  # C2's damped NNPhD was trained with exactly this recipe
            models[m] = keep["model"]
            continue
        with seeded(ctx, 2):  # the same seed as C2's NNPhD: every LNN starts from the same weights
            models[m] = build_model(m, spec)
        fit_logged(models[m], train, cfg.c2_steps, cfg, ctx, 2, f"c5[{m}]", lr=lrs[m], curves=curves)
    _, _, test = pendulum_data(cfg, cfg.c2_gamma)
    for m in ("nnphd", "lnn"):  # conservative-fit error of the forecasting models' LNNs (held-out states)
        out = predict(models[m], test)
        metrics[f"c5_lnn_rel_err_{m}"] = rms(out["a_c"] - test["a_c"]) / rms(test["a_c"])
    q0, qd0 = pend.initial_states(cfg.c5_n_test, data_gen(cfg.test_seed, 5), theta_max=cfg.c5_theta_max,
                                  omega_max=0.0)
    n_steps = round(cfg.c5_horizon / cfg.c5_dt)
    unit = time_unit(cfg, pend)  # the rollouts run in seconds: the models are wrapped back from the unit u
    scaled = {m: TimeScaled(model, unit) for m, model in models.items()}
    m5, fc = forecast_eval(pend, scaled, q0, qd0, cfg.c5_dt, n_steps)
    ctx.save_json("c5_forecast_curves", fc)
    figures.forecast(ctx, fc)
    return {**metrics, **m5}


# ----------------------------------------------------------------------------------------------- C3


def _demo_c3(cfg: Config, ctx, mu_n: float, variant: str, fits: dict, curves: dict) -> dict[str, float]:
    system = UranusNeptune(mu_n=mu_n)
    data = system.sample(1, (0.0, 2 * math.pi), cfg.c3_n_points)
    with seeded(ctx, 3):
        model = build_nnphd(cfg, 2, angle_embedding=None)
    fit_logged(model, data, cfg.c3_steps, cfg, ctx, 3, variant, curves=curves)
    pred = predict(model, data)
    metrics = neptune_metrics(variant, pred, data)
    # held-out states: the same orbit at times between the training samples
    test = neptune_held_out(system, cfg.c3_n_points, cfg.c3_n_test)
    out = predict(model, test)
    metrics[neptune_metric(variant, "lnn_rel_err")] = rms(out["a_c"] - test["a_c"]) / rms(test["a_c"])
    if variant == "c3":
        fits["C3 Uranus orbit"] = (out["a_c"], test["a_c"])
    figures.neptune(ctx, f"{variant}_neptune", data, pred, system,
                    f"{variant.upper()}: detected vs true Neptune pull along Uranus' orbit (μ_N = {mu_n:g}).")
    return metrics


def _demo_c3b(cfg: Config, ctx, curves: dict) -> dict[str, float]:
    system = UranusNeptuneRing(n_particles=cfg.c3b_n_particles, mu_n=cfg.c3_mu_n)
    data = system.sample(None, (0.0, 2 * math.pi), cfg.c3b_n_points)
    with seeded(ctx, 31):
        model = build_nnphd(cfg, 2, angle_embedding=None, time_input=True)
    fit_logged(model, data, cfg.c3b_steps, cfg, ctx, 31, "c3b", curves=curves)
    pred = predict(model, data, with_t=True)
    metrics = neptune_metrics("c3b", pred, data)
    figures.neptune(ctx, "c3b_neptune_ring", data, pred, system,
                    "C3 variant B (no claim): 8 particles on one ring, UAN gets t; detected vs true pull.")
    return metrics


# ----------------------------------------------------------------------------------------------- C4


def _demo_c4(cfg: Config, ctx, fits: dict, curves: dict) -> dict[str, float]:
    system = Inspiral(beta=cfg.c4_beta, e_range=(cfg.c4_e_min, cfg.c4_e_max), start="pericentre")
    span = (0.0, 100.0)
    data = system.sample(cfg.c4_n_traj, span, cfg.c4_n_points, data_gen(cfg.data_seed, 4), r_stop=cfg.c4_r_stop)
    test = system.sample(cfg.c4_n_test, span, cfg.c4_n_points, data_gen(cfg.test_seed, 4), r_stop=cfg.c4_r_stop)
    with seeded(ctx, 4):
        model = build_nnphd(cfg, 2, angle_embedding=None)
    fit_logged(model, data, cfg.c4_steps, cfg, ctx, 4, "c4", curves=curves)
    pred = predict(model, data)
    metrics, drag, r_med, d_mean = inspiral_metrics(pred, data, cfg.c4_beta)
    out = predict(model, test)
    metrics["c4_lnn_rel_err"] = rms(out["a_c"] - test["a_c"]) / rms(test["a_c"])
    metrics["c4_lnn_rel_err_train"] = rms(pred["a_c"] - data["a_c"]) / rms(data["a_c"])
    metrics.update(inspiral_data_metrics(data))
    fits["C4 eccentric inspirals"] = (out["a_c"], test["a_c"])
    ctx.save_csv("c4_drag_bins.csv", [{"r_median": a, "drag_per_speed": b} for a, b in zip(r_med, d_mean)])
    figures.inspiral(ctx, data, pred["a_nc"], drag, r_med, d_mean, cfg.c4_beta)
    return metrics


# ----------------------------------------------------------------------------------------------- prepare / run


def prepare(config: Config, ctx) -> None:
    """Once per reproduce: C5's learning-rate selection on held-out training trajectories (spec, revision 2)."""
    if "c5" not in config.demos:
        return
    _, train, _ = pendulum_data(config, config.c2_gamma)
    chosen, table = select_learning_rates(
        train, n_val=config.c5_n_val, lrs=config.c5_lrs, spec=model_spec(config, config.angle_embedding),
        steps=round(config.c5_select_frac * config.c2_steps), stage_frac=config.stage_frac, lr_floor=config.lr_floor,
        batch_size=config.batch_size, grad_clip=config.grad_clip, seed=config.c5_select_seed,
        workers=config.c5_select_workers,
    )
    for row in table:
        ctx.log(f"c5 selection {row['method']} lr {row['lr']:g}: validation ℓ_pred {row['val_l_pred']:.4g}")
    ctx.save_csv("c5_lr_selection.csv", table)
    ctx.save_json("c5_lr_selection", chosen)


def load_selection(ctx) -> dict[str, float]:
    with open(ctx.shared_path("c5_lr_selection.json")) as f:
        return {k: float(v) for k, v in json.load(f).items()}


def run(config: Config, ctx) -> dict[str, float]:
    """Run the demos of ``config.demos`` for seed ``ctx.seed``; returns flat metrics (plus ``time_<demo>_s``
    in CPU seconds)."""
    unknown = set(config.demos) - set(DEMOS)
    if unknown:
        raise ValueError(f"demos must be a subset of {DEMOS}, got unknown {sorted(unknown)}")
    torch.set_num_threads(1)
    metrics: dict[str, float] = {}
    demos = set(config.demos)
    if "c5" in demos:
        demos.add("c2")  # C5 reuses C2's damped NNPhD models
    t_all = time.process_time()
    fits: dict = {}  # system -> (LNN a_c, true a_c) on held-out states
    curves: dict = {}  # training run -> ℓ_pred per step

    def timed(name: str, fn, *args):
        t0 = time.process_time()
        out = fn(*args)
        metrics[time_metric(name)] = time.process_time() - t0
        ctx.log(f"{name} done in {metrics[time_metric(name)]:.1f} CPU-s")
        return out

    if "c1" in demos:
        metrics.update(timed("c1", _demo_c1, config, ctx, fits))
    keep = None
    if "c2" in demos:
        m2, keep = timed("c2", _demo_c2, config, ctx, fits, curves)
        metrics.update(m2)
    if "c3" in demos:
        metrics.update(timed("c3", _demo_c3, config, ctx, config.c3_mu_n, "c3", fits, curves))
        if config.c3_real_mass:
            metrics.update(timed("c3real", _demo_c3, config, ctx, 5.15e-5, "c3real", fits, curves))
    if "c3b" in demos and config.c3b_seed in (-1, ctx.seed):
        metrics.update(timed("c3b", _demo_c3b, config, ctx, curves))
    if "c4" in demos:
        metrics.update(timed("c4", _demo_c4, config, ctx, fits, curves))
    if "c5" in demos and keep is not None:
        metrics.update(timed("c5", _demo_c5, config, ctx, keep, curves))
    if fits:
        figures.lnn_fit(ctx, fits)
    if curves:
        ctx.save_json("learning_curves", curves)
        figures.learning_curves(ctx, curves, round(config.stage_frac * config.c2_steps))
    metrics[time_metric("total")] = time.process_time() - t_all
    return metrics
