"""Rank-aware helpers over ``torch.distributed``: the same training loop runs alone or under ``torchrun``.

A loop written with these helpers needs no branch for the single-process case: every helper is a no-op
(or the identity) when no process group is initialised, so one process computes exactly what it
computed before.

>>> from livepapers.core import dist
>>> info = dist.init_from_env()          # rank 0 / world 1 unless launched by torchrun
>>> for step in range(steps):
...     batch = data.sample(global_batch, g)             # the SAME global batch on every rank
...     x, y = dist.shard(batch.x), dist.shard(batch.y)  # this rank's equal, contiguous part
...     loss = F.cross_entropy(model(x), y)              # a mean over the shard
...     opt.zero_grad(); loss.backward()
...     dist.all_reduce_grads(model)                     # mean over ranks = the global-batch gradient
...     opt.step()
>>> metrics = dist.all_reduce_metrics({"loss": float(loss)})   # mean over ranks
>>> if dist.is_main(): save(metrics)

Equivalence. With the same global batch drawn on every rank (same generator), equal shards and a loss
that is a mean over the batch, the mean of the per-rank gradients equals the single-process gradient of
the global batch, so the parameters stay equal to a single-process run up to float rounding (the tests
check <= 1e-6 after a few steps). Two things need care: a loss that is not a mean over samples (e.g. a
mean over a data-dependent number of selected tokens) must be re-weighted by the global count (see
:func:`all_reduce_sum`); randomness drawn inside the model must be the global draw's rows of this rank.

``wrap_ddp`` (``DistributedDataParallel``) and ``all_reduce_grads`` (one coalesced all-reduce of the
gradients after ``backward``) give the same update; the second leaves the model unwrapped and skips
parameters without a gradient, which must be the same parameters on every rank (the same graph).

Launch contract (``livepapers reproduce <slug> --nproc N [--nnodes M --rdzv-endpoint HOST:PORT]``):

1. The CLI removes ``--nproc``, ``--nnodes`` and ``--rdzv-endpoint`` from its argv and calls
   ``launch(rest_of_argv, nproc=N, nnodes=M, rdzv_endpoint=...)``, which runs
   :func:`torchrun_command`: ``python -m torch.distributed.run --nproc-per-node N (--standalone |
   --nnodes M --rdzv-backend c10d --rdzv-endpoint HOST:PORT) -m livepapers.cli <rest_of_argv>``.
   The launcher's exit code is the CLI's.
2. torchrun starts N copies of the CLI per node with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
   ``MASTER_ADDR`` and ``MASTER_PORT`` set. Each calls :func:`init_from_env` before any training: gloo on
   CPU, nccl when CUDA is available (device ``cuda:LOCAL_RANK``).
3. Every rank runs the same experiment code (same seeds, same configs, same step counts: values a rank
   decides from its own clock must be shared with :func:`broadcast_object`) and takes part in every
   collective, so the seeds of a reproduce run one after the other inside the ranks, never in a pool of
   worker processes (those are not members of the process group).
4. Only rank 0 (:func:`is_main`) creates and writes the run folder (config, metrics, claims, figures,
   logs, report); other ranks write nothing. Metrics that are per rank are reduced with
   :func:`all_reduce_metrics` before rank 0 records them. :func:`cleanup` ends the process group.
"""

from __future__ import annotations

import functools
import gc
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

import torch
import torch.distributed as tdist
from torch import nn

__all__ = [
    "DistInfo",
    "all_reduce_grads",
    "all_reduce_mean",
    "all_reduce_metrics",
    "all_reduce_sum",
    "barrier",
    "broadcast_object",
    "cleanup",
    "info",
    "init_from_env",
    "is_distributed",
    "is_main",
    "launch",
    "local_rank",
    "main_only",
    "rank",
    "sampler",
    "shard",
    "torchrun_command",
    "unwrap",
    "world_size",
    "wrap_ddp",
]

T = TypeVar("T")
S = TypeVar("S")

@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job.

    Attributes:
        rank: global rank in ``0 .. world_size - 1``.
        world_size: number of processes in the job (1 = not distributed).
        local_rank: rank on this node (selects the CUDA device).
        device: ``cuda:<local_rank>`` when CUDA is available, else ``cpu``.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that writes the run folder."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} must be an integer") from None


def _default_device(local: int) -> torch.device:
    return torch.device("cuda", local) if torch.cuda.is_available() else torch.device("cpu")


def is_distributed() -> bool:
    """True when a process group with more than one process is initialised."""
    return tdist.is_available() and tdist.is_initialized() and tdist.get_world_size() > 1


def rank() -> int:
    """Global rank of this process (0 without a process group)."""
    return tdist.get_rank() if tdist.is_available() and tdist.is_initialized() else 0


def world_size() -> int:
    """Number of processes in the job (1 without a process group)."""
    return tdist.get_world_size() if tdist.is_available() and tdist.is_initialized() else 1


def local_rank() -> int:
    """Rank on this node (``LOCAL_RANK`` under torchrun; 0 without a process group)."""
    return _env_int("LOCAL_RANK", 0) if is_distributed() else 0


def is_main() -> bool:
    """True on rank 0 (and in a single process): the rank that writes files and shows progress."""
    return rank() == 0


def info() -> DistInfo:
    """The current :class:`DistInfo` (after :func:`init_from_env`, or rank 0 / world 1 without it)."""
    local = local_rank()
    return DistInfo(rank=rank(), world_size=world_size(), local_rank=local, device=_default_device(local))


def init_from_env(backend: str | None = None) -> DistInfo:
    """Join the process group described by torchrun's environment; a no-op in a single process.

    Reads ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (and ``MASTER_ADDR`` / ``MASTER_PORT`` through
    ``init_method="env://"``). When ``WORLD_SIZE > 1`` and no process group exists yet, initialises one
    with ``backend`` (default: ``"nccl"`` when CUDA is available, else ``"gloo"``) and, on CUDA, selects
    device ``cuda:LOCAL_RANK``. An already initialised group (e.g. by Ray Train) is used as it is.
    Without torchrun's variables this returns rank 0 / world 1 and changes nothing.

    Args:
        backend: force a ``torch.distributed`` backend ("gloo", "nccl", ...).
    Returns:
        The :class:`DistInfo` of this process.
    """
    if tdist.is_available() and tdist.is_initialized():
        return info()
    world = _env_int("WORLD_SIZE", 1)
    r, local = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if world < 1:
        raise ValueError(f"WORLD_SIZE must be >= 1, got {world}")
    if not 0 <= r < world:
        raise ValueError(f"RANK must be in [0, {world}) for WORLD_SIZE={world}, got {r}")
    if world == 1:
        return DistInfo(rank=0, world_size=1, local_rank=0, device=_default_device(0))
    if not tdist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
    missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k)]
    if missing:
        raise ValueError(f"WORLD_SIZE={world} needs {' and '.join(missing)} in the environment "
                         "(launch with torchrun / `livepapers reproduce --nproc N`)")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    device = torch.device("cpu")
    if backend == "nccl":
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    tdist.init_process_group(backend=backend, init_method="env://", rank=r, world_size=world)
    return DistInfo(rank=r, world_size=world, local_rank=local, device=device)


def cleanup() -> None:
    """Destroy the process group if one is initialised (safe to call in a single process).

    A garbage collection runs first: objects in reference cycles that still hold the group (a
    ``DistributedDataParallel`` wrapper's reducer, for one) are freed while the group is alive. Without it they
    were finalised at interpreter exit, after the group was destroyed, and a gloo rank could abort in teardown
    ("terminate called without an active exception", exit -6) after finishing its work: 5 of 15 two-process
    runs of ``tests/core/test_dist.py``'s worker on a loaded machine, 0 of 20 with the collection.
    """
    if tdist.is_available() and tdist.is_initialized():
        gc.collect()
        tdist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if is_distributed():
        tdist.barrier()


def _comm_device() -> torch.device:
    """Device collectives run on: the current CUDA device for nccl, the CPU otherwise."""
    if tdist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


@overload
def all_reduce_sum(x: float) -> float: ...
@overload
def all_reduce_sum(x: torch.Tensor) -> torch.Tensor: ...
def all_reduce_sum(x: float | torch.Tensor) -> float | torch.Tensor:
    """Sum over ranks (identity in a single process); a float comes back as a float (summed in float64).

    A tensor is returned as a new tensor on its own device and dtype; the input is left unchanged.
    """
    if not is_distributed():
        return x
    if isinstance(x, torch.Tensor):
        t = x.detach().to(_comm_device(), copy=True)
        tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
        return t.to(x.device)
    t = torch.tensor(float(x), dtype=torch.float64, device=_comm_device())
    tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
    return float(t)


@overload
def all_reduce_mean(x: float) -> float: ...
@overload
def all_reduce_mean(x: torch.Tensor) -> torch.Tensor: ...
def all_reduce_mean(x: float | torch.Tensor) -> float | torch.Tensor:
    """Mean over ranks (identity in a single process); see :func:`all_reduce_sum`."""
    if not is_distributed():
        return x
    total = all_reduce_sum(x)
    return total / world_size()


def all_reduce_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """Mean of each metric over ranks in one collective (a copy of ``metrics`` in a single process).

    Every rank must pass the same keys. Values are averaged in float64. For per-rank means over equal
    shards the result is the global-batch mean.
    """
    if not is_distributed():
        return {k: float(v) for k, v in metrics.items()}
    keys = sorted(metrics)
    t = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=_comm_device())
    tdist.all_reduce(t, op=tdist.ReduceOp.SUM)
    t = (t / world_size()).cpu()
    return {k: float(v) for k, v in zip(keys, t.tolist())}


def all_reduce_grads(model_or_params: nn.Module | Iterable[nn.Parameter]) -> None:
    """Replace every ``.grad`` by its mean over ranks, in one coalesced all-reduce (no-op alone).

    Call after ``backward()`` and before ``optimizer.step()``. Parameters whose ``.grad`` is None are
    skipped (the optimizer skips them too); they must be the same parameters on every rank.
    """
    if not is_distributed():
        return
    params = model_or_params.parameters() if isinstance(model_or_params, nn.Module) else model_or_params
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    by_dtype: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    for g in grads:
        by_dtype.setdefault((g.dtype, g.device), []).append(g)
    world = world_size()
    for group in by_dtype.values():
        flat = torch.cat([g.reshape(-1) for g in group]).to(_comm_device())
        tdist.all_reduce(flat, op=tdist.ReduceOp.SUM)
        flat = (flat / world).to(group[0].device)
        offset = 0
        for g in group:
            n = g.numel()
            g.copy_(flat[offset:offset + n].view_as(g))
            offset += n


def broadcast_object(obj: T, src: int = 0) -> T:
    """Rank ``src``'s ``obj`` on every rank (picklable objects; identity in a single process).

    Use it for values a rank decides on its own (timings, step counts calibrated from a clock) that must
    agree across ranks.
    """
    if not is_distributed():
        return obj
    box = [obj]
    tdist.broadcast_object_list(box, src=src, device=_comm_device() if tdist.get_backend() == "nccl" else None)
    return box[0]


@overload
def shard(batch: torch.Tensor, *, dim: int = 0) -> torch.Tensor: ...
@overload
def shard(batch: Sequence[S], *, dim: int = 0) -> Sequence[S]: ...
def shard(batch: torch.Tensor | Sequence[S], *, dim: int = 0) -> torch.Tensor | Sequence[S]:
    """This rank's equal, contiguous part of a global batch (the whole batch in a single process).

    Rank ``r`` of ``W`` gets items ``[r * B / W, (r + 1) * B / W)`` along ``dim`` (a tensor; a view) or of
    the sequence (a list, range or tuple of indices). Contiguous parts keep the rank's rows in the same
    place as in a single-process draw, which lets randomness drawn per row be matched.

    Raises:
        ValueError: when the batch size is not divisible by the world size.
    """
    world = world_size()
    if world == 1:
        return batch
    size = batch.shape[dim] if isinstance(batch, torch.Tensor) else len(batch)
    if size % world != 0:
        raise ValueError(f"global batch {size} is not divisible by the world size {world}; "
                         f"use a multiple of {world}")
    per = size // world
    start = rank() * per
    if isinstance(batch, torch.Tensor):
        return batch.narrow(dim, start, per)
    return batch[start:start + per]


def sampler(dataset: Any, *, shuffle: bool = True, seed: int = 0,
            drop_last: bool = False) -> torch.utils.data.DistributedSampler | None:
    """A ``DistributedSampler`` over ``dataset`` when distributed, else None (the DataLoader default).

    Pass it as ``DataLoader(dataset, sampler=s, shuffle=(s is None and shuffle))`` and call
    ``s.set_epoch(epoch)`` at every epoch so the shuffle changes.
    """
    if not is_distributed():
        return None
    return torch.utils.data.DistributedSampler(dataset, num_replicas=world_size(), rank=rank(),
                                               shuffle=shuffle, seed=seed, drop_last=drop_last)


def wrap_ddp(model: nn.Module, **ddp_kwargs: Any) -> nn.Module:
    """``DistributedDataParallel(model)`` when distributed, else ``model`` itself.

    On CUDA the model is placed on ``cuda:LOCAL_RANK`` and ``device_ids`` set. Extra keyword arguments go
    to DDP (e.g. ``find_unused_parameters=True`` when some parameters get no gradient in a step).
    """
    if not is_distributed():
        return model
    if tdist.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
        model = model.to(device)
        ddp_kwargs.setdefault("device_ids", [device.index])
    return nn.parallel.DistributedDataParallel(model, **ddp_kwargs)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` wrapper (``model`` itself otherwise)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def main_only(fn: Callable[..., T]) -> Callable[..., T | None]:
    """Decorator: run ``fn`` on rank 0 only; other ranks skip it and get None (no barrier)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T | None:
        return fn(*args, **kwargs) if is_main() else None

    return wrapper


# ------------------------------------------------------------------------------------------------
# launching
# ------------------------------------------------------------------------------------------------


def _check_endpoint(endpoint: str) -> None:
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"rdzv endpoint must be HOST:PORT (port 1-65535), got {endpoint!r}")


def torchrun_command(argv: Sequence[str], *, nproc: int, nnodes: int = 1, rdzv_endpoint: str | None = None,
                     target: Sequence[str] = ("-m", "livepapers.cli")) -> list[str]:
    """The ``torch.distributed.run`` command that starts ``nproc`` copies of the CLI on this node.

    ``[sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", N, <rendezvous>, *target,
    *argv]`` with ``<rendezvous>`` = ``--standalone`` for one node without an endpoint, else ``--nnodes
    M --rdzv-backend c10d --rdzv-endpoint HOST:PORT`` (run the same command on every node).

    Args:
        argv: the CLI arguments for every process, without ``--nproc/--nnodes/--rdzv-endpoint``.
        nproc: processes on this node (>= 1).
        nnodes: nodes in the job (>= 1); more than one needs ``rdzv_endpoint``.
        rdzv_endpoint: ``HOST:PORT`` of the c10d rendezvous (a host all nodes reach).
        target: what each process runs (``("-m", "module")`` or ``("script.py",)``); the CLI by default.
    """
    if int(nproc) < 1:
        raise ValueError(f"--nproc must be >= 1, got {nproc}")
    if int(nnodes) < 1:
        raise ValueError(f"--nnodes must be >= 1, got {nnodes}")
    if int(nnodes) > 1 and not rdzv_endpoint:
        raise ValueError(f"--nnodes {nnodes} needs --rdzv-endpoint HOST:PORT (a host every node reaches)")
    if not target:
        raise ValueError("target must name a module ('-m', name) or a script")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(int(nproc))]
    if rdzv_endpoint:
        _check_endpoint(rdzv_endpoint)
        cmd += ["--nnodes", str(int(nnodes)), "--rdzv-backend", "c10d", "--rdzv-endpoint", rdzv_endpoint]
    else:
        cmd += ["--standalone"]
    return [*cmd, *target, *argv]


def launch(argv: Sequence[str], *, nproc: int, nnodes: int = 1, rdzv_endpoint: str | None = None,
           target: Sequence[str] = ("-m", "livepapers.cli"), env: Mapping[str, str] | None = None,
           timeout: float | None = None) -> int:
    """Run :func:`torchrun_command` in a subprocess and return its exit code.

    Args:
        argv, nproc, nnodes, rdzv_endpoint, target: as in :func:`torchrun_command`.
        env: extra environment variables for the launched processes (added to this process's).
        timeout: seconds before the launcher is killed (``subprocess.TimeoutExpired`` is raised).
    """
    cmd = torchrun_command(argv, nproc=nproc, nnodes=nnodes, rdzv_endpoint=rdzv_endpoint, target=target)
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(cmd, env=full_env, timeout=timeout, check=False).returncode
