r"""How well a detected non-conservative force $\hat a_{nc}$ (the UAN output) matches the true one $a_{nc}$.

Shape legend: ``n`` samples, ``d`` coordinates. Every function takes float64 tensors and returns Python floats
(or NumPy arrays for binned profiles); the demos of :mod:`livepapers.nnphd.experiment` report them as metrics.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from livepapers.core.stats import fit_loglog_slope

__all__ = ["cos_agg", "cos_each", "drag_profile", "localization", "rms"]


def rms(x: Tensor) -> float:
    r"""Root mean square of the per-sample norm: $\sqrt{\tfrac1n \sum_i \lVert x_i \rVert^2}$, ``x: (n, d)``."""
    return float(x.pow(2).sum(-1).mean().sqrt())


def cos_agg(a: Tensor, b: Tensor) -> float:
    r"""Aggregate cosine $\sum_i \langle a_i, b_i \rangle / \sqrt{\sum_i \lVert a_i \rVert^2 \sum_i \lVert b_i
    \rVert^2}$ of ``a, b: (n, d)``."""
    return float((a * b).sum() / torch.sqrt(a.pow(2).sum() * b.pow(2).sum()).clamp_min(1e-300))


def friction_coefficient(a_nc: Tensor, qdot: Tensor, unit: float = 1.0) -> float:
    r"""Least-squares friction coefficient of a detected force, $\hat\gamma = -\sum \langle a_{nc}, \dot q \rangle /
    \sum \lVert \dot q \rVert^2$, for ``a_nc, qdot: (n, d)`` given in the time unit ``unit`` (seconds per unit; there
    $\gamma' = \gamma u$), returned in 1/s."""
    return float(-(a_nc * qdot).sum() / qdot.pow(2).sum()) / unit


def cos_each(a: Tensor, b: Tensor) -> Tensor:
    r"""Per-sample cosine $\langle a_i, b_i \rangle / (\lVert a_i \rVert \lVert b_i \rVert)$: ``(n, d)`` -> ``(n,)``."""
    return (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(1e-300)


def localization(pred_nc: Tensor, data: dict[str, Tensor]) -> dict[str, float]:
    r"""Localization and direction of a detected pull that acts in a window of time (Neptune's conjunction).

    The window is $W = \{i : \lVert a_{nc,i} \rVert \ge \tfrac12 \max_j \lVert a_{nc,j} \rVert\}$ (true pull at
    least half its peak). Returns ``cos_W`` (median per-sample cosine of $\hat a_{nc}$ and $a_{nc}$ inside $W$),
    ``argmax_offset`` ($|t_{\arg\max \lVert \hat a_{nc} \rVert} - t_{\arg\max \lVert a_{nc} \rVert}|$, mean over
    trajectories), ``in_out_ratio`` (RMS $\lVert \hat a_{nc} \rVert$ inside / outside $W$), ``true_in_out_ratio``
    (the same for the true pull), ``t_star`` (time of the true peak) and ``w_fraction`` ($|W| / n$).

    Args:
        pred_nc: detected force ``(n, d)``.
        data: ``{"a_nc": (n, d), "t": (n,), "traj_id": (n,)}`` (a simulator's ``sample``).
    """
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
        "cos_W": float(cos_each(pred_nc[w], true_nc[w]).median()),
        "argmax_offset": float(np.mean(offsets)),
        "in_out_ratio": rms_in / max(rms_out, 1e-300),
        "true_in_out_ratio": float(pull[w].pow(2).mean().sqrt() / pull[~w].pow(2).mean().sqrt()),
        "t_star": float(t[pull.argmax()]),
        "w_fraction": float(w.double().mean()),
    }


def drag_profile(a_nc: Tensor, x: Tensor, v: Tensor, n_bins: int = 5) -> tuple[Tensor, np.ndarray, np.ndarray, float]:
    r"""Along-track drag per unit speed $\langle \hat a_{nc}, -v \rangle / \lVert v \rVert^2$ (truth $\beta / r^4$),
    binned by $r = \lVert x \rVert$ into ``n_bins`` equal-count bins, and its log–log slope against $r$.

    Returns ``(drag (n,), r_median (n_bins,), drag_mean (n_bins,), slope)``; the slope is
    :func:`livepapers.core.stats.fit_loglog_slope` of $|\text{bin mean}|$ on the bin medians of $r$ (truth $-4$).
    """
    r = x.norm(dim=-1)
    drag = -(a_nc * v).sum(-1) / v.pow(2).sum(-1)
    bins = np.array_split(torch.argsort(r).numpy(), n_bins)
    r_med = np.array([float(r[b].median()) for b in bins])
    d_mean = np.array([float(drag[b].mean()) for b in bins])
    return drag, r_med, d_mean, fit_loglog_slope(r_med, d_mean)
