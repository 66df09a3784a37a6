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
from livepapers.nnphd.data import (
    DampedDoublePendulum,
    DampedOscillator2D,
    Inspiral,
    UranusNeptune,
    UranusNeptuneRing,
)
from livepapers.nnphd.modules import LagrangianNN, MLPDynamics, NNPhD, UniversalApproximatorNet
from livepapers.nnphd.training import fit, rk4_rollout
from livepapers.nnphd.transition import phase_transition_sweep

DEMOS = ("c1", "c2", "c3", "c3b", "c4", "c5")


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
        width=16,
        batch_size=128,
        c1_lams=(0.5, 0.9, 1.1, 1.5),
        c1_n_samples=256,
        c1_width=16,
        c1_steps=30,
        c2_n_train=8,
        c2_n_test=4,
        c2_n_points=50,
        c2_steps=30,
        c3_n_points=300,
        c3_steps=30,
        c3b_n_particles=4,
        c3b_n_points=60,
        c3b_steps=30,
        c4_n_traj=2,
        c4_n_points=100,
        c4_steps=30,
        c5_n_test=4,
        c5_horizon=1.0,
        c5_dt=0.02,
    ), n_seeds=1),
    "default": Profile(Config()),
    # documented larger settings (not run in CI): wider/deeper nets, larger batch, 10x the steps, and the
    # real Neptune mass as an extra, un-thresholded variant-A run.
    "paper": Profile(Config(
        depth=3,
        batch_size=512,
        c1_steps=10000,
        c2_steps=20000,
        c3_steps=20000,
        c3b_steps=20000,
        c4_steps=20000,
        c3_real_mass=True,
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


def _nnphd(cfg: Config, dim: int, *, embedding: str | None, time_input: bool = False) -> NNPhD:
    lnn = LagrangianNN(dim=dim, hidden=_hidden(cfg), ridge=cfg.ridge, angle_embedding=embedding,
                       init=cfg.lnn_init)
    uan = UniversalApproximatorNet(dim=dim, hidden=_hidden(cfg), time_input=time_input, angle_embedding=embedding)
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


def _predict(model, data: dict[str, Tensor], with_t: bool = False, chunk: int = 4096) -> dict[str, Tensor]:
    outs = []
    with torch.no_grad():
        for i in range(0, data["q"].shape[0], chunk):
            sl = slice(i, i + chunk)
            outs.append(model(data["q"][sl], data["qdot"][sl], data["t"][sl] if with_t else None))
    return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}


def _rms(x: Tensor) -> float:
    return float(x.pow(2).sum(-1).mean().sqrt())


def _cos_agg(a: Tensor, b: Tensor) -> float:
    """Σ⟨a, b⟩ / √(Σ‖a‖² Σ‖b‖²)."""
    return float((a * b).sum() / torch.sqrt(a.pow(2).sum() * b.pow(2).sum()).clamp_min(1e-300))


def _cos_each(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(1e-300)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
    cross = _half_crossing(lams, reg, plateau, ctx)
    ctx.save_csv("c1_phase_transition.csv", table)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.plot(lams, reg, "o-", label="ℓ_reg = mean ‖a_nc‖")
    ax.plot(lams, pred, "s-", label="ℓ_pred = mean ‖a − â‖")
    ax.axhline(reg_true, color="gray", ls=":", label="E‖γ q̇‖ (true)")
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("λ")
    ax.set_ylabel("order parameter")
    ax.legend(fontsize=8)
    ctx.savefig(fig, "c1_phase_transition", caption="C1: ℓ_pred and ℓ_reg after training vs λ (damped 2-D "
                "oscillator); the jump sits at λ = 1.")
    return {
        "c1_reg_low": plateau,
        "c1_reg_high": float(reg[high].mean()),
        "c1_pred_low": float(pred[low].mean()),
        "c1_pred_high": float(pred[high].mean()),
        "c1_lambda_cross": cross,
        "c1_reg_true": reg_true,
    }


def _half_crossing(lams: np.ndarray, reg: np.ndarray, plateau: float, ctx) -> float:
    """λ where ℓ_reg first falls to half its low-λ plateau (linear interpolation between grid points).
    No crossing within the grid -> the largest λ (logged); already below at the first point -> the smallest."""
    half = 0.5 * plateau
    if reg[0] <= half:
        ctx.log("c1: ℓ_reg already below half its plateau at the smallest λ")
        return float(lams[0])
    for k in range(1, len(lams)):
        if reg[k] <= half:
            return float(lams[k - 1] + (half - reg[k - 1]) * (lams[k] - lams[k - 1]) / (reg[k] - reg[k - 1]))
    ctx.log("c1: ℓ_reg never falls to half its plateau within the λ grid")
    return float(lams[-1])


# ----------------------------------------------------------------------------------------------- C2 / C5


def _pendulum_data(cfg: Config, gamma: float) -> tuple[DampedDoublePendulum, dict, dict]:
    pend = DampedDoublePendulum(gamma=gamma, friction=cfg.c2_friction)
    span = (0.0, cfg.c2_duration)
    kw = {"theta_max": cfg.c2_theta_max, "omega_max": cfg.c2_omega_max}
    # the same initial states for γ = 0.3 and the γ = 0 control (paired data)
    train = pend.sample(cfg.c2_n_train, span, cfg.c2_n_points, _data_gen(cfg.data_seed, 2), **kw)
    test = pend.sample(cfg.c2_n_test, span, cfg.c2_n_points, _data_gen(cfg.test_seed, 2), **kw)
    return pend, train, test


def _demo_c2(cfg: Config, ctx) -> tuple[dict[str, float], dict]:
    metrics: dict[str, float] = {}
    keep: dict = {}
    preds = {}
    for name, gamma in (("damped", cfg.c2_gamma), ("control", 0.0)):
        pend, train, test = _pendulum_data(cfg, gamma)
        with _seeded(ctx, 2):
            model = _nnphd(cfg, 2, embedding=cfg.angle_embedding)
        _train(model, train, cfg.c2_steps, cfg, ctx, 2, f"c2[{name}]")
        out = _predict(model, test)
        preds[name] = (out, test)
        a_nc, qd = out["a_nc"], test["qdot"]
        metrics[f"c2_gamma_hat_{name}"] = float(-(a_nc * qd).sum() / qd.pow(2).sum())
        if name == "damped":
            keep = {"pend": pend, "train": train, "model": model}
            metrics["c2_cos_agg"] = _cos_agg(a_nc, test["a_nc"])
            metrics["c2_rel_rms"] = _rms(a_nc - test["a_nc"]) / _rms(test["a_nc"])
            metrics["c2_cos_median"] = float(_cos_each(a_nc, -qd).median())
        metrics[f"c2_lnn_rel_err{'' if name == 'damped' else '_control'}"] = (
            _rms(out["a_c"] - test["a_c"]) / _rms(test["a_c"])
        )
    metrics["c2_rms_ratio_control"] = _rms(preds["control"][0]["a_nc"]) / _rms(preds["damped"][0]["a_nc"])
    metrics["c2_rms_nc_true"] = _rms(preds["damped"][1]["a_nc"])
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for ax, name in zip(axes, ("damped", "control")):
        out, test = preds[name]
        for i, lab in enumerate(("θ₁", "θ₂")):
            ax.scatter(test["a_nc"][:, i], out["a_nc"][:, i], s=2, alpha=0.4, label=lab)
        lim = float(max(test["a_nc"].abs().max(), 0.05)) * 1.2
        ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
        ax.set_xlim(-lim, lim)
        ax.set_xlabel("true a_nc = −γ q̇")
        ax.set_ylabel("UAN output a_nc")
        ax.set_title(f"{name} (γ = {cfg.c2_gamma if name == 'damped' else 0})")
        ax.legend(fontsize=8, markerscale=4)
    ctx.savefig(fig, "c2_friction", caption="C2: UAN output vs the true friction on held-out double-pendulum "
                "states (left) and in the undamped control (right).")
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

    models = {"nnphd": nnphd_model, "lnn": lnn, "mlp": mlp}
    metrics: dict[str, float] = {}
    curves = {"t": t.tolist(), "truth_excess": excess(truth).mean(1).tolist()}
    for name, model in models.items():
        states = rk4_rollout(lambda q, v, tt, m=model: m(q, v)["a"], q0, qd0, cfg.c5_dt, n_steps)
        err_t = (states - truth).pow(2).mean(-1).sqrt()  # (T+1, b): RMSE over (θ₁, θ₂, ω₁, ω₂)
        n_div = int((~torch.isfinite(err_t).all(0)).sum())
        metrics[f"c5_rmse_{name}"] = float(err_t.mean())
        metrics[f"c5_n_diverged_{name}"] = float(n_div)
        ex = excess(states)
        metrics[f"c5_energy_ratio_{name}"] = float((ex[-1] / ex[0]).mean())
        curves[f"{name}_rmse"] = err_t.mean(1).tolist()
        curves[f"{name}_excess"] = ex.mean(1).tolist()
    ex_true = excess(truth)
    metrics["c5_lnn_energy_ratio"] = metrics.pop("c5_energy_ratio_lnn")
    metrics["c5_truth_energy_ratio"] = float((ex_true[-1] / ex_true[0]).mean())
    ctx.save_json("c5_forecast_curves", curves)
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, lab in (("nnphd", "NNPhD"), ("lnn", "LNN alone"), ("mlp", "plain MLP")):
        axes[0].plot(curves["t"], curves[f"{name}_rmse"], label=lab)
        axes[1].plot(curves["t"], curves[f"{name}_excess"], label=lab)
    axes[1].plot(curves["t"], curves["truth_excess"], "k--", label="truth")
    axes[0].set_xlabel("t")
    axes[0].set_ylabel("state RMSE (mean over ICs)")
    axes[0].set_yscale("log")
    axes[1].set_xlabel("t")
    axes[1].set_ylabel("true E − E_min along the rollout")
    for ax in axes:
        ax.legend(fontsize=8)
    ctx.savefig(fig, "c5_forecast", caption="C5: forecast error over time (left) and energy along the rollouts "
                "(right) for NNPhD, LNN alone and a plain MLP on the damped double pendulum.")
    return metrics


# ----------------------------------------------------------------------------------------------- C3


def _neptune_metrics(pred_nc: Tensor, data: dict[str, Tensor], prefix: str) -> dict[str, float]:
    """Localization and direction of the detected pull (per trajectory for the ring)."""
    true_nc, t, traj = data["a_nc"], data["t"], data["traj_id"]
    pull, det = true_nc.norm(dim=-1), pred_nc.norm(dim=-1)
    w = pull >= 0.5 * pull.max()
    offsets = []
    for j in torch.unique(traj):
        m = traj == j
        offsets.append(abs(float(t[m][det[m].argmax()] - t[m][pull[m].argmax()])))
    rms_in = float(det[w].pow(2).mean().sqrt())
    rms_out = float(det[~w].pow(2).mean().sqrt())
    return {
        f"{prefix}_cos_W": float(_cos_each(pred_nc[w], true_nc[w]).median()),
        f"{prefix}_argmax_offset": float(np.mean(offsets)),
        f"{prefix}_in_out_ratio": rms_in / max(rms_out, 1e-300),
        f"{prefix}_true_in_out_ratio": float(pull[w].pow(2).mean().sqrt() / pull[~w].pow(2).mean().sqrt()),
        f"{prefix}_t_star": float(t[pull.argmax()]),
        f"{prefix}_w_fraction": float(w.double().mean()),
    }


def _neptune_plot(ctx, name: str, data: dict[str, Tensor], pred: dict[str, Tensor], system, caption: str):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    q, true_nc, a_nc, t = data["q"], data["a_nc"], pred["a_nc"], data["t"]
    ax = axes[0]
    ax.plot(q[:, 0], q[:, 1], lw=0.6, color="gray")
    phi = torch.linspace(0, 2 * math.pi, 200)
    ax.plot(system.r_n * torch.cos(phi), system.r_n * torch.sin(phi), lw=0.5, color="gray", ls=":")
    idx = torch.arange(0, q.shape[0], max(1, q.shape[0] // 60))
    scale = 0.4 / float(true_nc.norm(dim=-1).max())
    ax.quiver(q[idx, 0], q[idx, 1], scale * true_nc[idx, 0], scale * true_nc[idx, 1], angles="xy",
              scale_units="xy", scale=1, color="C0", width=0.004, label="true Neptune pull")
    ax.quiver(q[idx, 0], q[idx, 1], scale * a_nc[idx, 0], scale * a_nc[idx, 1], angles="xy", scale_units="xy",
              scale=1, color="C3", width=0.004, label="UAN output")
    x_n = system.neptune_position(torch.tensor(system.t_conj))
    ax.plot([x_n[0]], [x_n[1]], "o", color="C2", label="Neptune at conjunction")
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[1]
    for j in torch.unique(data["traj_id"])[:8]:
        m = data["traj_id"] == j
        ax.plot(t[m], true_nc[m].norm(dim=-1), color="C0", lw=0.8)
        ax.plot(t[m], a_nc[m].norm(dim=-1), color="C3", lw=0.8)
    ax.set_xlabel("t")
    ax.set_ylabel("‖a_nc‖ (blue: true, red: UAN)")
    ctx.savefig(fig, name, caption=caption)


def _demo_c3(cfg: Config, ctx, mu_n: float, prefix: str) -> dict[str, float]:
    system = UranusNeptune(mu_n=mu_n)
    data = system.sample(1, (0.0, 2 * math.pi), cfg.c3_n_points)
    with _seeded(ctx, 3):
        model = _nnphd(cfg, 2, embedding=None)
    _train(model, data, cfg.c3_steps, cfg, ctx, 3, prefix)
    pred = _predict(model, data)
    metrics = _neptune_metrics(pred["a_nc"], data, prefix)
    metrics[f"{prefix}_lnn_rel_err"] = _rms(pred["a_c"] - data["a_c"]) / _rms(data["a_c"])
    _neptune_plot(ctx, f"{prefix}_neptune", data, pred, system,
                  f"{prefix.upper()}: detected vs true Neptune pull along Uranus' orbit (μ_N = {mu_n:g}).")
    return metrics


def _demo_c3b(cfg: Config, ctx) -> dict[str, float]:
    system = UranusNeptuneRing(n_particles=cfg.c3b_n_particles, mu_n=cfg.c3_mu_n)
    data = system.sample(None, (0.0, 2 * math.pi), cfg.c3b_n_points)
    with _seeded(ctx, 31):
        model = _nnphd(cfg, 2, embedding=None, time_input=True)
    _train(model, data, cfg.c3b_steps, cfg, ctx, 31, "c3b")
    pred = _predict(model, data, with_t=True)
    metrics = _neptune_metrics(pred["a_nc"], data, "c3b")
    metrics["c3b_lnn_rel_err"] = _rms(pred["a_c"] - data["a_c"]) / _rms(data["a_c"])
    _neptune_plot(ctx, "c3b_neptune_ring", data, pred, system,
                  "C3 variant B (no claim): 8 particles on one ring, UAN gets t; detected vs true pull.")
    return metrics


# ----------------------------------------------------------------------------------------------- C4


def _demo_c4(cfg: Config, ctx) -> dict[str, float]:
    system = Inspiral(beta=cfg.c4_beta)
    data = system.sample(cfg.c4_n_traj, (0.0, 100.0), cfg.c4_n_points, _data_gen(cfg.data_seed, 4))
    with _seeded(ctx, 4):
        model = _nnphd(cfg, 2, embedding=None)
    _train(model, data, cfg.c4_steps, cfg, ctx, 4, "c4")
    pred = _predict(model, data)
    a_nc, a_rr, x, v = pred["a_nc"], data["a_nc"], data["q"], data["qdot"]
    r = x.norm(dim=-1)
    u = -v / r[:, None] ** 4
    beta_hat = float((a_nc * u).sum() / u.pow(2).sum())
    # along-track drag per unit speed ⟨a_nc, −v̂⟩/‖v‖ = ⟨a_nc, −v⟩/‖v‖² (truth: β/r⁴)
    drag = -(a_nc * v).sum(-1) / v.pow(2).sum(-1)
    -(a_rr * v).sum(-1) / v.pow(2).sum(-1)
    bins = np.array_split(torch.argsort(r).numpy(), 5)
    r_med = np.array([float(r[b].median()) for b in bins])
    d_mean = np.array([float(drag[b].mean()) for b in bins])
    slope = float(np.polyfit(np.log(r_med), np.log(np.abs(d_mean)), 1)[0])
    metrics = {
        "c4_beta_hat_ratio": beta_hat / cfg.c4_beta,
        "c4_cos_agg": _cos_agg(a_nc, a_rr),
        "c4_slope": slope,
        "c4_min_bin_drag": float(d_mean.min()),
        "c4_cos_median": float(_cos_each(a_nc, -v).median()),
        "c4_rel_rms": _rms(a_nc - a_rr) / _rms(a_rr),
        "c4_lnn_rel_err": _rms(pred["a_c"] - data["a_c"]) / _rms(data["a_c"]),
    }
    ctx.save_csv("c4_drag_bins.csv", [{"r_median": a, "drag_per_speed": b} for a, b in zip(r_med, d_mean)])
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    ax = axes[0]
    ax.scatter(r, drag, s=2, alpha=0.3, color="C3", label="UAN ⟨a_nc, −v̂⟩/‖v‖")
    ax.plot(r_med, d_mean, "ko-", label="bin means")
    rs = torch.linspace(float(r.min()), float(r.max()), 100)
    ax.plot(rs, cfg.c4_beta / rs**4, "C0--", label="truth β/r⁴")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("r")
    ax.legend(fontsize=8)
    ax = axes[1]
    m = data["traj_id"] == 0
    ax.plot(x[m, 0], x[m, 1], lw=0.6, color="gray")
    idx = torch.nonzero(m).squeeze(-1)[:: max(1, int(m.sum()) // 40)]
    scale = 0.3 / float(a_rr[m].norm(dim=-1).max())
    ax.quiver(x[idx, 0], x[idx, 1], scale * a_rr[idx, 0], scale * a_rr[idx, 1], angles="xy", scale_units="xy",
              scale=1, color="C0", width=0.004, label="true a_RR")
    ax.quiver(x[idx, 0], x[idx, 1], scale * a_nc[idx, 0], scale * a_nc[idx, 1], angles="xy", scale_units="xy",
              scale=1, color="C3", width=0.004, label="UAN output")
    ax.set_aspect("equal")
    ax.legend(fontsize=7)
    ctx.savefig(fig, "c4_inspiral", caption="C4: along-track drag per unit speed vs r (left; truth β/r⁴) and "
                "detected vs true radiation reaction along one inspiral (right).")
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
        metrics[f"time_{name}_s"] = time.process_time() - t0
        ctx.log(f"{name} done in {metrics[f'time_{name}_s']:.1f} CPU-s")
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
    metrics["time_total_s"] = time.process_time() - t_all
    return metrics
