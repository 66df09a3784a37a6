r"""C5's learning-rate selection (spec, revision 2): each forecasting model (NNPhD, the LNN alone, the plain MLP)
picks its peak learning rate from a grid on a held-out split of the training trajectories, with the same step
budget for all. It runs once per reproduce (``experiment.prepare``), not in every seed.

The selection score is the validation $\ell_{pred} = \tfrac1n \sum_i \lVert a_i - \hat a_i \rVert$ (the models'
shared training objective, in the run's norm) on the held-out trajectories.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from livepapers.core import sweep
from livepapers.nnphd.modules import LagrangianNN, MLPDynamics, NNPhD, UniversalApproximatorNet, sample_norm
from livepapers.nnphd.training import fit, predict

__all__ = ["METHODS", "select_learning_rates", "split_by_trajectory"]

METHODS = ("nnphd", "lnn", "mlp")


@dataclass(frozen=True)
class ModelSpec:
    """What builds one of the forecasting models (shared by the selection and the seeds' training)."""

    hidden: tuple[int, ...]
    angle_embedding: str | None
    ridge: float
    init: str
    lam: float
    norm: str


def build_model(method: str, spec: ModelSpec, dim: int = 2) -> torch.nn.Module:
    """A fresh ``method`` model (``"nnphd"``, ``"lnn"`` or ``"mlp"``); initialization from torch's global RNG."""
    if method == "nnphd":
        lnn = LagrangianNN(dim=dim, hidden=spec.hidden, ridge=spec.ridge, angle_embedding=spec.angle_embedding,
                           init=spec.init)
        uan = UniversalApproximatorNet(dim=dim, hidden=spec.hidden, angle_embedding=spec.angle_embedding)
        return NNPhD(dim=dim, lnn=lnn, uan=uan, lam=spec.lam, norm=spec.norm)
    if method == "lnn":
        return LagrangianNN(dim=dim, hidden=spec.hidden, ridge=spec.ridge, angle_embedding=spec.angle_embedding,
                            init=spec.init, norm=spec.norm)
    if method == "mlp":
        return MLPDynamics(dim=dim, hidden=spec.hidden, angle_embedding=spec.angle_embedding, norm=spec.norm)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def split_by_trajectory(data: Mapping[str, Tensor], n_val: int) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """The last ``n_val`` trajectories (by ``traj_id``) held out: ``(train, val)``, whole trajectories each."""
    ids = torch.unique(data["traj_id"])
    if not 0 < n_val < len(ids):
        raise ValueError(f"n_val must be between 1 and the number of trajectories - 1 ({len(ids) - 1}), got {n_val}")
    val = torch.isin(data["traj_id"], ids[-n_val:])
    return {k: v[~val] for k, v in data.items()}, {k: v[val] for k, v in data.items()}


@dataclass(frozen=True)
class _Trial:
    method: str
    lr: float
    spec: ModelSpec
    train: dict
    val: dict
    steps: int
    lnn_only_steps: int
    lr_floor: float
    batch_size: int
    grad_clip: float
    seed: int


def _trial(task: _Trial) -> dict[str, float | str]:
    with torch.random.fork_rng():
        torch.manual_seed(task.seed)
        model = build_model(task.method, task.spec)
    gen = torch.Generator().manual_seed(task.seed + 1)
    try:
        hist = fit(model, task.train, task.steps, lr=task.lr, lr_min=task.lr * task.lr_floor,
                   batch_size=task.batch_size, grad_clip=task.grad_clip, generator=gen,
                   lnn_only_steps=task.lnn_only_steps if task.method == "nnphd" else 0)
        out = predict(model, task.val)
    except RuntimeError:  # e.g. a singular H after the weights diverged: the candidate lost
        return {"method": task.method, "lr": task.lr, "val_l_pred": float("inf"), "train_l_pred": float("nan")}
    val = float(sample_norm(task.val["a"] - out["a"], task.spec.norm).mean())
    if not torch.isfinite(torch.tensor(val)):
        val = float("inf")  # a diverged run loses the selection
    return {"method": task.method, "lr": task.lr, "val_l_pred": val,
            "train_l_pred": hist["l_pred"][-1] if hist["l_pred"] else float("nan")}


def select_learning_rates(
    data: Mapping[str, Tensor], *, n_val: int, lrs: Sequence[float], spec: ModelSpec, steps: int, stage_frac: float,
    lr_floor: float, batch_size: int, grad_clip: float, seed: int, workers: int | None = None,
) -> tuple[dict[str, float], list[dict]]:
    """Train every method at every lr on all but the last ``n_val`` trajectories; pick per method the lr with the
    lowest validation $\\ell_{pred}$ (ties: the smaller lr). Returns ``({method: lr}, table)``."""
    if not lrs:
        raise ValueError("lrs must hold at least one learning rate")
    train, val = split_by_trajectory(data, n_val)
    tasks = [_Trial(method=m, lr=float(lr), spec=spec, train=train, val=val, steps=steps,
                    lnn_only_steps=round(stage_frac * steps), lr_floor=lr_floor, batch_size=batch_size,
                    grad_clip=grad_clip, seed=seed) for m in METHODS for lr in lrs]
    table = sweep.map(_trial, tasks, workers=workers, desc="C5 lr selection")
    chosen = {m: min((r for r in table if r["method"] == m), key=lambda r: (r["val_l_pred"], r["lr"]))["lr"]
              for m in METHODS}
    return chosen, table
