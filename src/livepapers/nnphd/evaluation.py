r"""Metric names of the demos and the evaluation helpers that turn predictions into them: the C1 sweep summary,
the Neptune localization metrics (C3), the inspiral's drag fit (C4) and the forecasting rollouts (C5)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from livepapers.nnphd.detection import cos_agg, cos_each, drag_profile, localization, rms
from livepapers.nnphd.training import rk4_rollout
from livepapers.nnphd.transition import half_crossing

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


def sweep_summary(table: list[dict], a_nc: Tensor, norm: str) -> tuple[dict[str, float], np.ndarray, np.ndarray,
                                                                        np.ndarray]:
    """C1's metrics from the λ sweep's rows (sorted by λ) and the true $a_{nc}$; also the arrays (λ, ℓ_reg,
    ℓ_pred)."""
    lams = np.array([r["lam"] for r in table])
    reg = np.array([r["l_reg"] for r in table])
    pred = np.array([r["l_pred"] for r in table])
    low, high = lams <= 0.75, lams >= 1.25
    plateau = float(reg[low].mean())
    reg_true = float(torch.linalg.vector_norm(a_nc, dim=-1).mean()) if norm == "l2" else float(
        a_nc.abs().sum(-1).mean())
    cross = half_crossing(lams, reg, plateau)
    metrics = {
        "c1_reg_low": plateau,
        "c1_reg_high": float(reg[high].mean()),
        "c1_pred_low": float(pred[low].mean()),
        "c1_pred_high": float(pred[high].mean()),
        "c1_lambda_cross": cross,
        "c1_reg_true": reg_true,
    }
    return metrics, lams, reg, pred


def neptune_metrics(variant: str, pred: Mapping[str, Tensor], data: Mapping[str, Tensor]) -> dict[str, float]:
    """A Neptune run's localization metrics and the LNN's relative error of the conservative acceleration."""
    metrics = {neptune_metric(variant, k): v for k, v in localization(pred["a_nc"], data).items()}
    metrics[neptune_metric(variant, "lnn_rel_err")] = rms(pred["a_c"] - data["a_c"]) / rms(data["a_c"])
    return metrics


def neptune_held_out(system, n_points: int, n_test: int) -> dict[str, Tensor]:
    r"""``n_test`` states of the Uranus orbit midway between consecutive training samples (the training data are
    ``n_points`` samples equally spaced over one period $[0, 2\pi]$)."""
    h = 2 * np.pi / (n_points - 1)
    mids = torch.linspace(0.5 * h, 2 * np.pi - 0.5 * h, n_points - 1, dtype=torch.float64)
    pick = torch.linspace(0, n_points - 2, min(n_test, n_points - 1)).round().long()
    return system.sample_at(mids[pick])


def inspiral_data_metrics(data: Mapping[str, Tensor]) -> dict[str, float]:
    r"""C4's data sanity: the drag relative to gravity at the median radius (median of ‖a_RR‖/‖a_c‖ over the
    samples between the 45th and 55th percentile of r) and the fraction of outbound samples ($\dot r > 0$)."""
    x, v = data["q"], data["qdot"]
    r = x.norm(dim=-1)
    lo, hi = torch.quantile(r, 0.45), torch.quantile(r, 0.55)
    band = (r >= lo) & (r <= hi)
    ratio = data["a_nc"].norm(dim=-1) / data["a_c"].norm(dim=-1)
    return {"c4_drag_to_gravity": float(ratio[band].median()),
            "c4_outbound_fraction": float(((x * v).sum(-1) > 0).double().mean())}


def inspiral_metrics(pred: Mapping[str, Tensor], data: Mapping[str, Tensor], beta: float):
    """C4's metrics of the detected radiation reaction; also the binned drag profile ``(drag, r_med, d_mean)``."""
    a_nc, a_rr, x, v = pred["a_nc"], data["a_nc"], data["q"], data["qdot"]
    r = x.norm(dim=-1)
    # $\hat\beta = \sum \langle a_{nc}, u \rangle / \sum \lVert u \rVert^2$, $u = -v / r^4$ (least squares)
    u = -v / r[:, None] ** 4
    beta_hat = float((a_nc * u).sum() / u.pow(2).sum())
    drag, r_med, d_mean, slope = drag_profile(a_nc, x, v)
    metrics = {
        "c4_beta_hat_ratio": beta_hat / beta,
        "c4_cos_agg": cos_agg(a_nc, a_rr),
        "c4_slope": slope,
        "c4_min_bin_drag": float(d_mean.min()),
        "c4_cos_median": float(cos_each(a_nc, -v).median()),
        "c4_rel_rms": rms(a_nc - a_rr) / rms(a_rr),
        "c4_lnn_rel_err": rms(pred["a_c"] - data["a_c"]) / rms(data["a_c"]),
    }
    return metrics, drag, r_med, d_mean


def forecast_eval(pend, models: Mapping[str, torch.nn.Module], q0: Tensor, qd0: Tensor, dt: float,
                  n_steps: int) -> tuple[dict[str, float], dict[str, list]]:
    """C5: RK4 rollouts of ``models`` (name in ``FORECAST_MODELS`` -> model) from ``(q0, qd0)`` against the true
    pendulum ``pend``; the metrics and the mean curves (RMSE and excess energy over time)."""
    t = torch.arange(n_steps + 1, dtype=torch.float64) * dt
    q_true, qd_true = pend.simulate(q0, qd0, t)
    truth = torch.cat([q_true, qd_true], -1)  # (T+1, b, 4)
    e_min = pend.energy_min

    def excess(states: Tensor) -> Tensor:  # (T+1, b) true excess energy E − E_min
        return pend.energy(states[..., :2], states[..., 2:]) - e_min

    metrics: dict[str, float] = {}
    curves = {"t": t.tolist(), "truth_excess": excess(truth).mean(1).tolist()}
    for name, model in models.items():
        states = rk4_rollout(lambda q, v, tt, m=model: m(q, v)["a"], q0, qd0, dt, n_steps)
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
    return metrics, curves
