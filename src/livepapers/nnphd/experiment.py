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

import contextlib
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from livepapers.core.config import Profile
from livepapers.nnphd import figures
from livepapers.nnphd.data import (
    DampedDoublePendulum,
    DampedOscillator2D,
    Inspiral,
    UranusNeptune,
    UranusNeptuneRing,
)
from livepapers.nnphd.detection import cos_agg, cos_each, drag_profile, localization, rms
from livepapers.nnphd.modules import LagrangianNN, MLPDynamics, NNPhD, UniversalApproximatorNet
from livepapers.nnphd.training import fit, predict, rk4_rollout
from livepapers.nnphd.transition import half_crossing, phase_transition_sweep

DEMOS = ("c1", "c2", "c3", "c3b", "c4", "c5")
NEPTUNE_RUNS = ("c3", "c3b", "c3real")  # variant A, variant B (ring), variant A at the real mass (c3_real_mass)
FORECAST_MODELS = ("nnphd", "lnn", "mlp")  # C5


def time_metric(name: str) -> str:
    """CPU seconds of one demo (or a Neptune run) of ``run``."""
    return f"time_{name}_s"


def neptune_metric(variant: str, stat: str) -> str:
    """A Neptune run's metric: ``variant`` in ``NEPTUNE_RUNS``, ``stat`` a key of :func:`localization` or
    ``lnn_rel_err``."""
    return f"{variant}_{stat}"


def forecast_metric(stat: str, model: str) -> str:
    """C5's ``stat`` ("rmse", "n_diverged", "energy_ratio") for ``model`` in ``FORECAST_MODELS``; the LNN's
    energy ratio, which C5 reads, is ``c5_lnn_energy_ratio``."""
    return "c5_lnn_energy_ratio" if (stat, model) == ("energy_ratio", "lnn") else f"c5_{stat}_{model}"


@dataclass(frozen=True)
class Config:
    demos: tuple[str, ...] = DEMOS
    data_seed: int = 2021  # training data (shared by all seeds and methods)
    test_seed: int = 4242  # held-out data and forecasting initial conditions
    # shared model / optimizer settings (LNN softplus, UAN and MLP tanh)
    lam: float = 0.5
    norm: str = "l2"
    width: int = 128
    depth: int = 2
    lnn_init: str = "standard"
    ridge: float = 1e-6
    lr: float = 1e-3
    lr_min: float = 1e-5
    batch_size: int = 256
    grad_clip: float = 10.0
    # C1: phase transition on the damped 2-D oscillator
    c1_lams: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9, 1.1, 1.25, 1.5, 2.0)
    c1_gamma: float = 0.5
    c1_n_samples: int = 4096
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
    c2_steps: int = 2000
    angle_embedding: str = "wrap"
    # C3: Uranus–Neptune
    c3_mu_n: float = 0.01
    c3_n_points: int = 2000
    c3_steps: int = 2000
    c3b_n_particles: int = 8
    c3b_n_points: int = 250
    c3b_steps: int = 2000
    c3_real_mass: bool = False  # also run variant A at the real μ_N = 5.15e-5 (reported, no threshold)
    # C4: inspiral
    c4_beta: float = 0.02
    c4_n_traj: int = 8
    c4_n_points: int = 500
    c4_steps: int = 2000
    # C5: forecasting
    c5_n_test: int = 16
    c5_theta_max: float = math.pi / 4
    c5_horizon: float = 10.0
    c5_dt: float = 0.01


PROFILES: dict[str, Profile] = {
    "smoke": Profile(Config(
        width=16, batch_size=128,
        c1_lams=(0.5, 0.9, 1.1, 1.5), c1_n_samples=256, c1_width=16, c1_steps=30,
        c2_n_train=8, c2_n_test=4, c2_n_points=50, c2_steps=30,
        c3_n_points=300, c3_steps=30, c3b_n_particles=4, c3b_n_points=60, c3b_steps=30,
        c4_n_traj=2, c4_n_points=100, c4_steps=30,
        c5_n_test=4, c5_horizon=1.0, c5_dt=0.02,
    ), n_seeds=1),
    "default": Profile(Config()),
    # documented larger settings (not run in CI): wider/deeper nets, larger batch, 10x the steps, and the
    # real Neptune mass as an extra, un-thresholded variant-A run.
    "paper": Profile(Config(
        depth=3, batch_size=512, c1_steps=10000, c2_steps=20000, c3_steps=20000, c3b_steps=20000,
        c4_steps=20000, c3_real_mass=True,
    ), n_seeds=1),
}


# ----------------------------------------------------------------------------------------------- helpers


def _data_gen(seed: int, offset: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + offset)


@contextlib.contextmanager
def _seeded(ctx, offset: int):
    """Network initialization from (ctx.seed, offset), without touching the global RNG afterwards."""
    with torch.random.fork_rng():
        torch.manual_seed(ctx.seed * 1_000_003 + 7919 * offset)
        yield


def _hidden(cfg: Config, width: int | None = None) -> tuple[int, ...]:
    return (width or cfg.width,) * cfg.depth


def _nnphd(cfg: Config, dim: int, *, angle_embedding: str | None, time_input: bool = False) -> NNPhD:
    lnn = LagrangianNN(dim=dim, hidden=_hidden(cfg), ridge=cfg.ridge, angle_embedding=angle_embedding,
                       init=cfg.lnn_init)
    uan = UniversalApproximatorNet(dim=dim, hidden=_hidden(cfg), time_input=time_input,
                                   angle_embedding=angle_embedding)
    return NNPhD(dim=dim, lnn=lnn, uan=uan, lam=cfg.lam, norm=cfg.norm)


def _train(model, data: dict[str, Tensor], steps: int, cfg: Config, ctx, offset: int, tag: str) -> dict:
    """fit() with the shared optimizer settings; NaN/inf stops the run through ctx.check_finite."""
    every = max(1, steps // 5)

    def callback(step: int, losses: dict[str, float]) -> None:
        ctx.check_finite(losses["loss"], step, what=f"{tag} loss")
        if step % every == 0 or step == steps - 1:
            ctx.log(f"{tag} step {step}: loss {losses['loss']:.4g} l_pred {losses['l_pred']:.4g} "
                    f"l_reg {losses['l_reg']:.4g}")

    return fit(model, data, steps, lr=cfg.lr, lr_min=cfg.lr_min, batch_size=cfg.batch_size,
               grad_clip=cfg.grad_clip, generator=ctx.generator(offset), callback=callback)


# ----------------------------------------------------------------------------------------------- C1


def _demo_c1(cfg: Config, ctx) -> dict[str, float]:
    system = DampedOscillator2D(gamma=cfg.c1_gamma)
    data = system.sample(cfg.c1_n_samples, _data_gen(cfg.data_seed, 1))
    table = phase_transition_sweep(
        system, cfg.c1_lams, cfg.c1_steps, ctx.generator(1), data=data, hidden=(cfg.c1_width,) * cfg.depth,
        batch_size=cfg.batch_size, lr=cfg.lr, lr_min=cfg.lr_min, norm=cfg.norm, ridge=cfg.ridge,
        init=cfg.lnn_init, backend=cfg.c1_backend, workers=cfg.c1_workers,
    )
    table = sorted(table, key=lambda r: r["lam"])
    for r in table:
        ctx.log(f"c1 λ={r['lam']:.3g}: l_pred {r['l_pred']:.4g} l_reg {r['l_reg']:.4g}")
    lams = np.array([r["lam"] for r in table])
    reg = np.array([r["l_reg"] for r in table])
    pred = np.array([r["l_pred"] for r in table])
    low, high = lams <= 0.75, lams >= 1.25
    plateau = float(reg[low].mean())
    reg_true = float(torch.linalg.vector_norm(data["a_nc"], dim=-1).mean()) if cfg.norm == "l2" else float(
        data["a_nc"].abs().sum(-1).mean())
    cross = half_crossing(lams, reg, plateau)
    if reg[0] <= 0.5 * plateau:
        ctx.log("c1: ℓ_reg already below half its plateau at the smallest λ")
    elif bool((reg > 0.5 * plateau).all()):
        ctx.log("c1: ℓ_reg never falls to half its plateau within the λ grid")
    ctx.save_csv("c1_phase_transition.csv", table)
    figures.phase_transition(ctx, lams, reg, pred, reg_true)
    return {
        "c1_reg_low": plateau,
        "c1_reg_high": float(reg[high].mean()),
        "c1_pred_low": float(pred[low].mean()),
        "c1_pred_high": float(pred[high].mean()),
        "c1_lambda_cross": cross,
        "c1_reg_true": reg_true,
    }


# ----------------------------------------------------------------------------------------------- C2 / C5


def _pendulum_data(cfg: Config, gamma: float) -> tuple[DampedDoublePendulum, dict, dict]:
    pend = DampedDoublePendulum(gamma=gamma, friction=cfg.c2_friction)
    span = (0.0, cfg.c2_duration)
    kw = {"theta_max": cfg.c2_theta_max, "omega_max": cfg.c2_omega_max}
    # the same initial states for γ = 0.3 and the γ = 0 control (paired data)
    train = pend.sample(cfg.c2_n_train, span, cfg.c2_n_points, _data_gen(cfg.data_seed, 2), **kw)
    test = pend.sample(cfg.c2_n_test, span, cfg.c2_n_points, _data_gen(cfg.test_seed, 2), **kw)
    return pend, train, test


# per pendulum run: the metric names of the fitted γ̂ and of the LNN's conservative-fit error
_PENDULUM_RUNS = {"damped": ("c2_gamma_hat_damped", "c2_lnn_rel_err"),
                  "control": ("c2_gamma_hat_control", "c2_lnn_rel_err_control")}


def _demo_c2(cfg: Config, ctx) -> tuple[dict[str, float], dict]:
    metrics: dict[str, float] = {}
    keep: dict = {}
    preds = {}
    for name, gamma in (("damped", cfg.c2_gamma), ("control", 0.0)):
        pend, train, test = _pendulum_data(cfg, gamma)
        with _seeded(ctx, 2):
            model = _nnphd(cfg, 2, angle_embedding=cfg.angle_embedding)
        _train(model, train, cfg.c2_steps, cfg, ctx, 2, f"c2[{name}]")
        out = predict(model, test)
        preds[name] = (out, test)
        a_nc, qd = out["a_nc"], test["qdot"]
        gamma_name, lnn_name = _PENDULUM_RUNS[name]
        # $\hat\gamma = -\sum \langle a_{nc}, \dot q \rangle / \sum \lVert \dot q \rVert^2$ (least squares on -q̇)
        metrics[gamma_name] = float(-(a_nc * qd).sum() / qd.pow(2).sum())
        if name == "damped":
            keep = {"pend": pend, "train": train, "model": model}
            metrics["c2_cos_agg"] = cos_agg(a_nc, test["a_nc"])
            metrics["c2_rel_rms"] = rms(a_nc - test["a_nc"]) / rms(test["a_nc"])
            metrics["c2_cos_median"] = float(cos_each(a_nc, -qd).median())
        metrics[lnn_name] = rms(out["a_c"] - test["a_c"]) / rms(test["a_c"])
    metrics["c2_rms_ratio_control"] = rms(preds["control"][0]["a_nc"]) / rms(preds["damped"][0]["a_nc"])
    metrics["c2_rms_nc_true"] = rms(preds["damped"][1]["a_nc"])
    figures.friction(ctx, preds, cfg.c2_gamma)
    return metrics, keep


def _demo_c5(cfg: Config, ctx, keep: dict) -> dict[str, float]:
    pend, train, nnphd_model = keep["pend"], keep["train"], keep["model"]
    with _seeded(ctx, 2):  # same seed as the NNPhD of C2: its LNN starts from the same weights
        lnn = LagrangianNN(dim=2, hidden=_hidden(cfg), ridge=cfg.ridge, angle_embedding=cfg.angle_embedding,
                           init=cfg.lnn_init)
    _train(lnn, train, cfg.c2_steps, cfg, ctx, 2, "c5[lnn]")
    with _seeded(ctx, 2):
        mlp = MLPDynamics(dim=2, hidden=_hidden(cfg), angle_embedding=cfg.angle_embedding, norm=cfg.norm)
    _train(mlp, train, cfg.c2_steps, cfg, ctx, 2, "c5[mlp]")

    q0, qd0 = pend.initial_states(cfg.c5_n_test, _data_gen(cfg.test_seed, 5), theta_max=cfg.c5_theta_max,
                                  omega_max=0.0)
    n_steps = round(cfg.c5_horizon / cfg.c5_dt)
    t = torch.arange(n_steps + 1, dtype=torch.float64) * cfg.c5_dt
    q_true, qd_true = pend.simulate(q0, qd0, t)
    truth = torch.cat([q_true, qd_true], -1)  # (T+1, b, 4)
    e_min = pend.energy_min

    def excess(states: Tensor) -> Tensor:  # (T+1, b) true excess energy E − E_min
        return pend.energy(states[..., :2], states[..., 2:]) - e_min

    models = dict(zip(FORECAST_MODELS, (nnphd_model, lnn, mlp)))
    metrics: dict[str, float] = {}
    curves = {"t": t.tolist(), "truth_excess": excess(truth).mean(1).tolist()}
    for name, model in models.items():
        states = rk4_rollout(lambda q, v, tt, m=model: m(q, v)["a"], q0, qd0, cfg.c5_dt, n_steps)
        err_t = (states - truth).pow(2).mean(-1).sqrt()  # (T+1, b): RMSE over (θ₁, θ₂, ω₁, ω₂)
        n_div = int((~torch.isfinite(err_t).all(0)).sum())
        metrics[forecast_metric("rmse", name)] = float(err_t.mean())
        metrics[forecast_metric("n_diverged", name)] = float(n_div)
        ex = excess(states)
        metrics[forecast_metric("energy_ratio", name)] = float((ex[-1] / ex[0]).mean())
        curves[f"{name}_rmse"] = err_t.mean(1).tolist()
        curves[f"{name}_excess"] = ex.mean(1).tolist()
    ex_true = excess(truth)
    metrics["c5_truth_energy_ratio"] = float((ex_true[-1] / ex_true[0]).mean())
    ctx.save_json("c5_forecast_curves", curves)
    figures.forecast(ctx, curves)
    return metrics


# ----------------------------------------------------------------------------------------------- C3


def _demo_c3(cfg: Config, ctx, mu_n: float, variant: str) -> dict[str, float]:
    system = UranusNeptune(mu_n=mu_n)
    data = system.sample(1, (0.0, 2 * math.pi), cfg.c3_n_points)
    with _seeded(ctx, 3):
        model = _nnphd(cfg, 2, angle_embedding=None)
    _train(model, data, cfg.c3_steps, cfg, ctx, 3, variant)
    pred = predict(model, data)
    metrics = {neptune_metric(variant, k): v for k, v in localization(pred["a_nc"], data).items()}
    metrics[neptune_metric(variant, "lnn_rel_err")] = rms(pred["a_c"] - data["a_c"]) / rms(data["a_c"])
    figures.neptune(ctx, f"{variant}_neptune", data, pred, system,
                    f"{variant.upper()}: detected vs true Neptune pull along Uranus' orbit (μ_N = {mu_n:g}).")
    return metrics


def _demo_c3b(cfg: Config, ctx) -> dict[str, float]:
    system = UranusNeptuneRing(n_particles=cfg.c3b_n_particles, mu_n=cfg.c3_mu_n)
    data = system.sample(None, (0.0, 2 * math.pi), cfg.c3b_n_points)
    with _seeded(ctx, 31):
        model = _nnphd(cfg, 2, angle_embedding=None, time_input=True)
    _train(model, data, cfg.c3b_steps, cfg, ctx, 31, "c3b")
    pred = predict(model, data, with_t=True)
    metrics = {neptune_metric("c3b", k): v for k, v in localization(pred["a_nc"], data).items()}
    metrics[neptune_metric("c3b", "lnn_rel_err")] = rms(pred["a_c"] - data["a_c"]) / rms(data["a_c"])
    figures.neptune(ctx, "c3b_neptune_ring", data, pred, system,
                    "C3 variant B (no claim): 8 particles on one ring, UAN gets t; detected vs true pull.")
    return metrics


# ----------------------------------------------------------------------------------------------- C4


def _demo_c4(cfg: Config, ctx) -> dict[str, float]:
    system = Inspiral(beta=cfg.c4_beta)
    data = system.sample(cfg.c4_n_traj, (0.0, 100.0), cfg.c4_n_points, _data_gen(cfg.data_seed, 4))
    with _seeded(ctx, 4):
        model = _nnphd(cfg, 2, angle_embedding=None)
    _train(model, data, cfg.c4_steps, cfg, ctx, 4, "c4")
    pred = predict(model, data)
    a_nc, a_rr, x, v = pred["a_nc"], data["a_nc"], data["q"], data["qdot"]
    r = x.norm(dim=-1)
    # $\hat\beta = \sum \langle a_{nc}, u \rangle / \sum \lVert u \rVert^2$, $u = -v / r^4$ (least squares)
    u = -v / r[:, None] ** 4
    beta_hat = float((a_nc * u).sum() / u.pow(2).sum())
    drag, r_med, d_mean, slope = drag_profile(a_nc, x, v)
    metrics = {
        "c4_beta_hat_ratio": beta_hat / cfg.c4_beta,
        "c4_cos_agg": cos_agg(a_nc, a_rr),
        "c4_slope": slope,
        "c4_min_bin_drag": float(d_mean.min()),
        "c4_cos_median": float(cos_each(a_nc, -v).median()),
        "c4_rel_rms": rms(a_nc - a_rr) / rms(a_rr),
        "c4_lnn_rel_err": rms(pred["a_c"] - data["a_c"]) / rms(data["a_c"]),
    }
    ctx.save_csv("c4_drag_bins.csv", [{"r_median": a, "drag_per_speed": b} for a, b in zip(r_med, d_mean)])
    figures.inspiral(ctx, data, a_nc, drag, r_med, d_mean, cfg.c4_beta)
    return metrics


# ----------------------------------------------------------------------------------------------- run


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

    def timed(name: str, fn, *args):
        t0 = time.process_time()
        out = fn(*args)
        metrics[time_metric(name)] = time.process_time() - t0
        ctx.log(f"{name} done in {metrics[time_metric(name)]:.1f} CPU-s")
        return out

    if "c1" in demos:
        metrics.update(timed("c1", _demo_c1, config, ctx))
    keep = None
    if "c2" in demos:
        m2, keep = timed("c2", _demo_c2, config, ctx)
        metrics.update(m2)
    if "c3" in demos:
        metrics.update(timed("c3", _demo_c3, config, ctx, config.c3_mu_n, "c3"))
        if config.c3_real_mass:
            metrics.update(timed("c3real", _demo_c3, config, ctx, 5.15e-5, "c3real"))
    if "c3b" in demos:
        metrics.update(timed("c3b", _demo_c3b, config, ctx))
    if "c4" in demos:
        metrics.update(timed("c4", _demo_c4, config, ctx))
    if "c5" in demos and keep is not None:
        metrics.update(timed("c5", _demo_c5, config, ctx, keep))
    metrics[time_metric("total")] = time.process_time() - t_all
    return metrics
