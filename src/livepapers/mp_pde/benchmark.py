"""Speed–accuracy benchmark: MP-PDE rollouts against our vectorised WENO5 solver at several resolutions.

Both sides are timed on the same device and batch, after a warm-up call, as wall time per trajectory (best of
``repeats``); the caller fixes the thread count. WENO5 is timed for the whole solve t = 0 … T (the computation its
accumulated error comes from), MP-PDE for the rollout of steps start … nt − 1 from the true window before it.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from livepapers.mp_pde.data import labels, solve
from livepapers.mp_pde.modules import MPPDE
from livepapers.mp_pde.training import Trajectories, accumulated_error, rollout


def _best(fn, repeats: int, warmup: bool = True) -> float:
    if warmup or repeats < 1:
        fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def time_weno(dataset: dict, nx: int, *, split: str = "test", batch: int = 32, repeats: int = 3,
              weno_eps: float = 1e-6, warmup: bool = True) -> tuple[float, np.ndarray]:
    """(ms per trajectory, solution ``(b, t, nx)``) of the WENO5 solve of the first ``batch`` trajectories of
    ``dataset[split]`` at ``nx`` under the data set's convention (``warmup=False``: no untimed first call, for
    when the same solve has just run)."""
    part = dataset[split]
    b = min(batch, len(part["params"]))
    f = part["forcing"].subset(np.arange(b))
    p = part["params"][:b]
    out: dict = {}

    def go() -> None:
        out["u"] = solve(f, p, dataset["t"], nx, dataset["convention"], weno_eps)

    return 1e3 * _best(go, repeats, warmup) / b, out["u"]


def time_rollout(model: MPPDE, data: Trajectories, *, batch: int = 32, repeats: int = 3,
                 start: int = 50) -> tuple[float, torch.Tensor]:
    """(ms per trajectory, rollout ``(b, t, n)``) of the model on the first ``batch`` trajectories."""
    b = min(batch, len(data))
    u, p = data.u[:b], data.params[:b]
    out: dict = {}

    def go() -> None:
        out["u"] = rollout(model, u, data.x, data.t, p, start=start)

    model.eval()
    return 1e3 * _best(go, repeats) / b, out["u"]


def speed_accuracy_benchmark(model: MPPDE, dataset: dict, weno_nx: tuple[int, ...] = (40, 50, 100, 200), *,
                             data: Trajectories | None = None, batch: int = 32, repeats: int = 3,
                             start: int = 50) -> list[dict]:
    """Rows ``{"method", "nx", "ms_per_traj", "acc_err"}``: WENO5 at each ``weno_nx`` (accumulated error against
    the data set's labels at that nx, from the reference) and MP-PDE on ``data`` (required: the
    Trajectories the model is scored on, e.g. official-convention labels of the same PDEs)."""
    if data is None:
        raise ValueError("speed_accuracy_benchmark needs data= (the Trajectories the model is evaluated on)")
    rows = []
    part = dataset["test"]
    for nx in weno_nx:
        ms, u = time_weno(dataset, nx, batch=batch, repeats=repeats)
        lab = labels(part["u_ref"][: u.shape[0]], nx, dataset["convention"])
        rows.append({"method": "WENO5", "nx": nx, "ms_per_traj": ms,
                     "acc_err": float(accumulated_error(u, lab, start).mean())})
    ms, pred = time_rollout(model, data, batch=batch, repeats=repeats, start=start)
    rows.append({"method": "MP-PDE", "nx": data.u.shape[-1], "ms_per_traj": ms,
                 "acc_err": float(accumulated_error(pred, data.u[: pred.shape[0]], start).mean())})
    return rows


__all__ = ["speed_accuracy_benchmark", "time_rollout", "time_weno"]
