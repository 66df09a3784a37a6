r"""Training with the pushforward trick, autoregressive rollouts and the official accumulated error.

Pushforward (paper Sec. 2.3): draw N ∈ {0, …, N_max}; from a true input window, apply the model N times under
``torch.no_grad()`` (advancing by K each time), then take one graded step on that input against the true window:
$\mathcal L = \sqrt{\sum (\hat u - u)^2}$ over the batch. No gradient flows through the unrolled steps.

Accumulated error (official): roll out from the true window at steps [start − K, start) to the end and sum
$\sum_{t \ge start} \sum_x (\hat u - u)^2 / n_x$ per trajectory.

Shapes: ``b`` trajectories, ``t`` stored times, ``n`` nodes, ``k`` window K.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from livepapers.core.train import warmup_cosine
from livepapers.mp_pde.data import model_params
from livepapers.mp_pde.modules import MPPDE


@dataclass
class Trajectories:
    """What the model trains and is evaluated on.

    Attributes:
        u: labels ``(b, t, n)`` float32.
        x: normalised node positions x̂ ``(n,)`` = i/n (ring).
        t: stored times ``(t,)``.
        params: normalised PDE parameters θ̂ ``(b, p)`` (p = 0 without conditioning).
    """

    u: torch.Tensor
    x: torch.Tensor
    t: torch.Tensor
    params: torch.Tensor

    def __len__(self) -> int:
        return self.u.shape[0]


def trajectories(dataset: dict, split: str, nx: int, *, conditioned: bool = True) -> Trajectories:
    """The labels of ``dataset[split]`` at resolution ``nx`` with x̂ = i/nx and θ̂ (empty if not ``conditioned``)."""
    if split not in dataset:
        raise ValueError(f"split must be one of train/valid/test, got {split!r}")
    part = dataset[split]
    if nx not in part["u"]:
        raise ValueError(f"no labels at nx={nx}; available: {sorted(part['u'])}")
    u = torch.as_tensor(part["u"][nx], dtype=torch.float32)
    p = model_params(dataset["experiment"], part["params"])
    if not conditioned:
        p = p[:, :0]
    return Trajectories(u=u, x=torch.arange(nx, dtype=torch.float32) / nx,
                        t=torch.as_tensor(dataset["t"], dtype=torch.float32), params=p)


def _windows(u: torch.Tensor, rows: torch.Tensor, starts: torch.Tensor, k: int) -> torch.Tensor:
    """u[rows_i, starts_i : starts_i + k] as ``(b, n, k)``."""
    idx = starts[:, None] + torch.arange(k)[None, :]
    return u[rows[:, None], idx].permute(0, 2, 1)


def pushforward_step(model: MPPDE, data: Trajectories, rows: torch.Tensor, n_unroll: int,
                     generator: torch.Generator) -> torch.Tensor:
    """One pushforward loss: random start s ∈ {K, …, nt − K − K·N} per trajectory, N no-grad unrolls, then
    sqrt of the summed squared error of the graded step. Returns the scalar loss (with grad)."""
    k = model.time_window
    nt = data.u.shape[1]
    hi = nt - k - k * n_unroll  # inclusive upper bound of s
    if hi < k:
        raise ValueError(f"n_unroll={n_unroll} does not fit nt={nt} with time_window={k}")
    s = torch.randint(k, hi + 1, (len(rows),), generator=generator)
    inp = _windows(data.u, rows, s - k, k)
    params = data.params[rows]
    with torch.no_grad():
        for _ in range(n_unroll):
            inp = model(inp, data.x, data.t[s], params)
            s = s + k
    pred = model(inp, data.x, data.t[s], params)
    target = _windows(data.u, rows, s, k)
    return torch.sqrt(((pred - target) ** 2).sum())


def train(model: MPPDE, dataset: Trajectories, steps: int | None = None, epochs: int = 20, batch_size: int = 16,
          lr: float = 1e-4, unrolling: int = 1, schedule: Literal["official", "cosine"] = "official",
          generator: torch.Generator | None = None, *, epoch_steps: int | None = None, warmup: int = 50,
          lr_min: float = 1e-5, weight_decay: float = 0.01,
          progress: Callable | None = None, check: Callable[[float, int], None] | None = None) -> list[float]:
    """Train ``model`` with AdamW and the pushforward trick; returns the loss per step.

    Args:
        dataset: training :class:`Trajectories`.
        steps: total steps (``schedule="cosine"``); with ``schedule="official"`` it defaults to
            ``epochs · epoch_steps`` where an epoch is nt passes over the loader (≈ nt·b/B steps).
        unrolling: the largest N; N_max(epoch) = min(epoch, unrolling), epoch = step // epoch_steps.
        schedule: ``"official"`` = MultiStepLR milestones [unrolling, 5, 10, 15] (in epochs) × 0.4;
            ``"cosine"`` = linear warm-up over ``warmup`` steps then cosine to ``lr_min``.
        epoch_steps: steps per pushforward "epoch" (default: official nt·⌈b/B⌉, or steps/4 with cosine).
        progress: optional wrapper of the step range (tqdm); check: ``check(loss, step)`` (divergence guard).
    """
    if schedule not in ("official", "cosine"):
        raise ValueError(f"schedule must be 'official' or 'cosine', got {schedule!r}")
    if unrolling < 0 or batch_size < 1:
        raise ValueError(f"need unrolling ≥ 0 and batch_size ≥ 1, got {unrolling}, {batch_size}")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    nt, n_traj = dataset.u.shape[1], len(dataset)
    if epoch_steps is None:
        epoch_steps = (nt * math.ceil(n_traj / batch_size) if schedule == "official"
                       else max(1, (steps or 0) // 4))
    if steps is None:
        steps = epochs * epoch_steps
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    milestones = [unrolling, 5, 10, 15]

    def lr_at(step: int) -> float:
        if schedule == "cosine":
            return warmup_cosine(step, steps, peak=lr, warmup=warmup, floor=lr_min)
        epoch = step // epoch_steps
        return lr * 0.4 ** sum(epoch >= m for m in milestones)

    perm, pos = torch.randperm(n_traj, generator=g), 0
    losses: list[float] = []
    it = progress(range(steps)) if progress is not None else range(steps)
    model.train()
    for step in it:
        if pos + batch_size > n_traj:  # next pass over the (shuffled) loader
            perm, pos = torch.randperm(n_traj, generator=g), 0
        rows = perm[pos: pos + batch_size]
        pos += batch_size
        n_max = min(step // epoch_steps, unrolling)
        n_unroll = int(torch.randint(0, n_max + 1, (1,), generator=g))
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        loss = pushforward_step(model, dataset, rows, n_unroll, g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = float(loss.detach())
        if check is not None:
            check(value, step)
        losses.append(value)
    model.eval()
    return losses


@torch.no_grad()
def rollout(model: MPPDE, u: torch.Tensor, x: torch.Tensor | None = None, t: torch.Tensor | None = None,
            params: torch.Tensor | None = None, start: int = 50) -> torch.Tensor:
    """Autoregressive rollout: true values before ``start``, then the model window by window from the true
    window [start − K, start). ``u`` ``(b, t, n)`` → ``(b, t, n)``. ``x`` defaults to i/n, ``t`` to
    ``arange(nt)·Δt``."""
    k = model.time_window
    b, nt, n = u.shape
    if start < k:
        raise ValueError(f"start={start} must be ≥ time_window={k}")
    x = torch.arange(n, dtype=u.dtype) / n if x is None else x
    t = torch.arange(nt, dtype=u.dtype) * model.dt if t is None else t
    out = u.clone()
    inp = u[:, start - k: start].permute(0, 2, 1)
    for s in range(start, nt, k):
        pred = model(inp, x, t[s].expand(b), params)  # (b, n, k)
        m = min(k, nt - s)
        out[:, s: s + m] = pred[..., :m].permute(0, 2, 1)
        inp = pred
    return out


def accumulated_error(pred: torch.Tensor | np.ndarray, true: torch.Tensor | np.ndarray,
                      start: int = 50) -> torch.Tensor:
    """Official accumulated error per trajectory: Σ_{t ≥ start} Σ_x (û − u)² / n_x, ``(b, t, n)`` → ``(b,)``."""
    pred, true = torch.as_tensor(pred, dtype=torch.float64), torch.as_tensor(true, dtype=torch.float64)
    if pred.shape != true.shape:
        raise ValueError(f"pred and true differ in shape: {tuple(pred.shape)} vs {tuple(true.shape)}")
    return ((pred[:, start:] - true[:, start:]) ** 2).sum(dim=(1, 2)) / true.shape[-1]


def window_errors(pred: torch.Tensor | np.ndarray, true: torch.Tensor | np.ndarray, start: int = 50,
                  time_window: int = 25) -> torch.Tensor:
    """Accumulated error of each output window (mean over trajectories): ``(n_windows,)``; sums to the mean
    accumulated error."""
    pred, true = torch.as_tensor(pred, dtype=torch.float64), torch.as_tensor(true, dtype=torch.float64)
    per_step = ((pred - true) ** 2).sum(dim=-1).mean(dim=0) / true.shape[-1]  # (t,)
    nt = true.shape[1]
    return torch.stack([per_step[s: min(s + time_window, nt)].sum() for s in range(start, nt, time_window)])


def persistence(u: torch.Tensor, start: int = 50) -> torch.Tensor:
    """The "repeat the last input" baseline: u^{start−1} for every later step, ``(b, t, n)``."""
    out = u.clone()
    out[:, start:] = u[:, start - 1: start]
    return out


__all__ = ["Trajectories", "accumulated_error", "persistence", "pushforward_step", "rollout", "train",
           "trajectories", "window_errors"]
