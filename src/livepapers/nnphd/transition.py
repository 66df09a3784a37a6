r"""The λ sweep of NNPhD's phase transition (one NNPhD per λ), mapped through ``livepapers.core.sweep`` so it
runs in local worker processes or on Ray, and the λ where the order parameter collapses.

For $\lambda < 1$ the UAN absorbs the whole non-conservative residual ($\ell_{pred} \approx 0$,
$\ell_{reg} = \mathbb{E}\lVert r^* \rVert$); for $\lambda > 1$ it switches off ($\ell_{reg} = 0$,
$\ell_{pred} = \mathbb{E}\lVert r^* \rVert$); see :mod:`livepapers.nnphd.modules` for the argument.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from livepapers.core import sweep
from livepapers.nnphd.modules import LagrangianNN, NNPhD, UniversalApproximatorNet
from livepapers.nnphd.training import fit

__all__ = ["half_crossing", "phase_transition_sweep"]


@dataclass(frozen=True)
class _Task:
    data: dict
    lam: float
    steps: int
    seed: int
    hidden: tuple[int, ...]
    batch_size: int
    lr: float
    lr_min: float
    norm: str
    ridge: float
    init: str
    test: dict | None = None


def _train_one(task: _Task) -> dict[str, float]:
    r"""Train one NNPhD at ``task.lam`` and evaluate $\ell_{pred}$, $\ell_{reg}$ on the whole data set."""
    t0 = time.process_time()
    d = task.data["q"].shape[1]
    with torch.random.fork_rng():
        torch.manual_seed(task.seed)  # same initialization for every λ (paired across the sweep)
        model = NNPhD(
            dim=d,
            lnn=LagrangianNN(dim=d, hidden=task.hidden, ridge=task.ridge, init=task.init),
            uan=UniversalApproximatorNet(dim=d, hidden=task.hidden),
            lam=task.lam,
            norm=task.norm,
        )
    gen = torch.Generator().manual_seed(task.seed + 1)
    hist = fit(model, task.data, task.steps, lr=task.lr, lr_min=task.lr_min, batch_size=task.batch_size,
               generator=gen)
    with torch.no_grad():
        total, l_pred, l_reg = model.loss(task.data["q"], task.data["qdot"], task.data["a"])
    extra = {}
    if task.test is not None:  # the LNN's relative RMS error of the conservative acceleration on held-out states
        with torch.no_grad():
            err = model.lnn.acceleration(task.test["q"], task.test["qdot"]) - task.test["a_c"]
        extra["lnn_rel_err"] = float(err.pow(2).sum(-1).mean().sqrt() / task.test["a_c"].pow(2).sum(-1).mean().sqrt())
    return {
        **extra,
        "lam": task.lam,
        "l_pred": float(l_pred),
        "l_reg": float(l_reg),
        "loss": float(total),
        "final_train_loss": hist["loss"][-1] if hist["loss"] else float("nan"),
        "cpu_s": time.process_time() - t0,
    }


def phase_transition_sweep(
    system,
    lams: Sequence[float],
    steps: int,
    generator: torch.Generator,
    *,
    data: dict[str, torch.Tensor] | None = None,
    n_samples: int = 4096,
    hidden: Sequence[int] = (64, 64),
    batch_size: int = 256,
    lr: float = 1e-3,
    lr_min: float = 1e-5,
    norm: str = "l2",
    ridge: float = 1e-6,
    init: str = "standard",
    backend: str = "local",
    workers: int | None = None,
    test: dict[str, torch.Tensor] | None = None,
) -> list[dict[str, float]]:
    r"""Train one NNPhD per λ and return the table ``[{"lam", "l_pred", "l_reg", "loss", ...}, ...]``
    (in the order of ``lams``; $\ell$ values on the whole data set after training).

    Args:
        system: a simulator with ``sample(n, generator)`` (e.g. :class:`DampedOscillator2D`); ignored when
            ``data`` is given.
        lams: the λ grid.
        steps: optimizer steps per λ.
        generator: draws the data (if ``data`` is None) and then one seed shared by every λ (same
            initialization and minibatch order across the sweep).
        data: ``{"q", "qdot", "a"}`` tensors ``(n, d)``, to reuse a data set.
        test: held-out ``{"q", "qdot", "a_c"}``; each row then also has ``lnn_rel_err``, the LNN's relative RMS
            error of the conservative acceleration on them.
        backend, workers: passed to ``livepapers.core.sweep.map`` (``workers=1`` runs in this process;
            ``backend="ray"`` runs on Ray).
    """
    if len(lams) == 0:
        raise ValueError("lams must hold at least one λ value, got an empty sequence")
    if data is None:
        data = system.sample(n_samples, generator)
    data = {k: data[k] for k in ("q", "qdot", "a")}
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    tasks = [
        _Task(data=data, lam=float(lam), steps=int(steps), seed=seed, hidden=tuple(int(h) for h in hidden),
              batch_size=batch_size, lr=lr, lr_min=lr_min, norm=norm, ridge=ridge, init=init,
              test=None if test is None else {k: test[k] for k in ("q", "qdot", "a_c")})
        for lam in lams
    ]
    return sweep.map(_train_one, tasks, backend=backend, workers=workers, desc="λ sweep")


def half_crossing(lams: np.ndarray, reg: np.ndarray, plateau: float) -> float:
    r"""The λ where $\ell_{reg}$ first falls to half its low-λ plateau, $\ell_{reg}(\lambda) = \tfrac12
    \bar\ell_{reg}$, by linear interpolation between grid points (``lams`` increasing).

    No crossing within the grid -> the largest λ; already below half at the first point -> the smallest λ.
    """
    half = 0.5 * plateau
    if reg[0] <= half:
        return float(lams[0])
    for k in range(1, len(lams)):
        if reg[k] <= half:
            return float(lams[k - 1] + (half - reg[k - 1]) * (lams[k] - lams[k - 1]) / (reg[k] - reg[k - 1]))
    return float(lams[-1])
