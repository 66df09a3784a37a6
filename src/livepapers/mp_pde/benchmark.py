"""Speed–accuracy benchmark: MP-PDE rollouts against our vectorised WENO5 solver at several resolutions.

Both sides are timed on the same device and batch as wall time per trajectory; the caller fixes the thread count.
:func:`time_interleaved` is the protocol of the reproduction (C5): one untimed warm-up call of every timed thing,
then ``repeats`` rounds in which the things are called one after the other (alternating, order reversed every other
round), best (minimum) per thing — so a burst of load on a shared machine hits every solver alike instead of one
of them. WENO5 is timed for the whole solve t = 0 … T (the computation its accumulated error comes from; spec: "249
steps") and, for comparison, over the rollout's span only (``start`` − 1 … nt − 1, from the block-averaged
reference state; fv convention); MP-PDE for the rollout of steps start … nt − 1 from the true window before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from livepapers.mp_pde.data import block_average, labels, solve
from livepapers.mp_pde.equations import CombinedEquation, weno5_solve
from livepapers.mp_pde.modules import MPPDE
from livepapers.mp_pde.training import Trajectories, accumulated_error, rollout


def time_interleaved(fns: dict[str, Callable[[], object]], repeats: int = 7,
                     warmup: bool = True) -> dict[str, float]:
    """Best-of-``repeats`` wall seconds per call of each ``fns[name]()``, the calls alternating: after one untimed
    warm-up call of each (``warmup``), round r calls every function once, in the given order for even r and in
    reverse for odd r."""
    if repeats < 1:
        raise ValueError(f"repeats must be ≥ 1, got {repeats}")
    names = list(fns)
    if warmup:
        for name in names:
            fns[name]()
    best = dict.fromkeys(names, float("inf"))
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            fns[name]()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def _best(fn, repeats: int, warmup: bool = True) -> float:
    return time_interleaved({"fn": fn}, max(repeats, 1), warmup)["fn"]


def weno_call(dataset: dict, nx: int, *, split: str = "test", batch: int = 32, weno_eps: float = 1e-6,
              start: int | None = None) -> tuple[Callable[[], np.ndarray], int]:
    """(call, b): ``call()`` solves the first ``b = min(batch, len)`` trajectories of ``dataset[split]`` at ``nx``
    under the data set's convention and returns ``(b, t, nx)``. ``start=None``: the whole solve from t = 0;
    ``start=s``: only the rollout's span, from the block-averaged reference (``dataset[split]["u_ref"]``) at stored
    step s − 1 to the end, ``(b, nt − s + 1, nx)`` (fv convention only)."""
    part = dataset[split]
    b = min(batch, len(part["params"]))
    f = part["forcing"].subset(np.arange(b))
    p = part["params"][:b]
    t = np.asarray(dataset["t"])
    if start is None:
        return (lambda: solve(f, p, t, nx, dataset["convention"], weno_eps)), b
    if dataset["convention"] != "fv":
        raise ValueError("WENO5 over the rollout span is defined for the fv convention only")
    if not 1 <= start < len(t):
        raise ValueError(f"start must be in [1, nt), got {start}")
    u0 = block_average(np.asarray(part["u_ref"][:b, start - 1], dtype=np.float64), nx)
    eq = CombinedEquation(alpha=p[:, 0], beta=p[:, 1], gamma=p[:, 2], L=f.L)
    cells = f.on_cells(nx)
    return (lambda: weno5_solve(u0, cells, eq, t[start - 1:], dx=f.L / nx, weno_eps=weno_eps)), b


def rollout_call(model: MPPDE, data: Trajectories, *, batch: int = 32,
                 start: int = 50) -> tuple[Callable[[], torch.Tensor], int]:
    """(call, b): ``call()`` rolls the model out on the first ``b`` trajectories from ``start``, ``(b, t, n)``."""
    b = min(batch, len(data))
    u, p = data.u[:b], data.params[:b]
    model.eval()

    def go() -> torch.Tensor:
        return rollout(model, u, data.x, data.t, p, start=start)  # no-grad inside

    return go, b


def time_weno(dataset: dict, nx: int, *, split: str = "test", batch: int = 32, repeats: int = 3,
              weno_eps: float = 1e-6, warmup: bool = True) -> tuple[float, np.ndarray]:
    """(ms per trajectory, solution ``(b, t, nx)``) of the WENO5 solve of the first ``batch`` trajectories of
    ``dataset[split]`` at ``nx`` under the data set's convention, best of ``repeats`` (``warmup=False``: no
    untimed first call). For comparing solvers use :func:`time_interleaved` on :func:`weno_call`s."""
    call, b = weno_call(dataset, nx, split=split, batch=batch, weno_eps=weno_eps)
    out: dict = {}
    sec = _best(lambda: out.__setitem__("u", call()), repeats, warmup)
    return 1e3 * sec / b, out["u"]


def time_rollout(model: MPPDE, data: Trajectories, *, batch: int = 32, repeats: int = 3,
                 start: int = 50) -> tuple[float, torch.Tensor]:
    """(ms per trajectory, rollout ``(b, t, n)``) of the model on the first ``batch`` trajectories, best of
    ``repeats`` after a warm-up call."""
    call, b = rollout_call(model, data, batch=batch, start=start)
    out: dict = {}
    sec = _best(lambda: out.__setitem__("u", call()), repeats)
    return 1e3 * sec / b, out["u"]


def speed_accuracy_benchmark(model: MPPDE, dataset: dict, weno_nx: tuple[int, ...] = (40, 50, 100, 200), *,
                             data: Trajectories | None = None, batch: int = 32, repeats: int = 7,
                             start: int = 50) -> list[dict]:
    """Rows ``{"method", "nx", "ms_per_traj", "acc_err"}``: WENO5 at each ``weno_nx`` (accumulated error against
    the data set's labels at that nx, from the reference) and MP-PDE on ``data`` (required: the
    Trajectories the model is scored on, e.g. official-convention labels of the same PDEs). Timed interleaved
    (:func:`time_interleaved`), best of ``repeats``."""
    if data is None:
        raise ValueError("speed_accuracy_benchmark needs data= (the Trajectories the model is evaluated on)")
    part = dataset["test"]
    calls, sizes, outs = {}, {}, {}

    def keep(name: str, call: Callable) -> Callable[[], None]:
        return lambda: outs.__setitem__(name, call())

    for nx in weno_nx:
        call, sizes[nx] = weno_call(dataset, nx, batch=batch)
        calls[nx] = keep(nx, call)
    call, sizes["mppde"] = rollout_call(model, data, batch=batch, start=start)
    calls["mppde"] = keep("mppde", call)
    sec = time_interleaved(calls, repeats)
    rows = []
    for nx in weno_nx:
        u = outs[nx]
        lab = labels(part["u_ref"][: u.shape[0]], nx, dataset["convention"])
        rows.append({"method": "WENO5", "nx": nx, "ms_per_traj": 1e3 * sec[nx] / sizes[nx],
                     "acc_err": float(accumulated_error(u, lab, start).mean())})
    pred = outs["mppde"]
    rows.append({"method": "MP-PDE", "nx": data.u.shape[-1], "ms_per_traj": 1e3 * sec["mppde"] / sizes["mppde"],
                 "acc_err": float(accumulated_error(pred, data.u[: pred.shape[0]], start).mean())})
    return rows


__all__ = ["rollout_call", "speed_accuracy_benchmark", "time_interleaved", "time_rollout", "time_weno", "weno_call"]
