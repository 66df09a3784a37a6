"""Map one function over configs or seeds: a local process pool by default, Ray when asked.

Every worker uses one torch thread: on a shared 2-core machine two intra-op threads per process were
measured far slower than one. ``fn`` and the items must be picklable (module-level functions).

>>> from livepapers.core import sweep
>>> sweep.map(train_one, configs)                      # local pool, one worker per core
>>> sweep.map(train_one, configs, backend="ray")       # local Ray, or address="ray://host:10001"
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

BACKENDS = ("local", "ray")


def _watch_parent(parent: int) -> None:
    """Exit this worker when the process that started it is gone (SIGKILL of the parent leaves no orphans)."""
    import time

    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(parent: int | None = None) -> None:
    import signal
    import threading

    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.setdefault("LIVEPAPERS_WORKER", "1")
    if parent is not None:  # a local pool worker (not a Ray worker, which Ray itself manages)
        # Ctrl-C reaches the whole process group: the parent decides what happens, workers print no tracebacks
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="watch-parent").start()
    import torch

    torch.set_num_threads(1)


def _call_single_threaded(fn: Callable[[T], R], item: T) -> R:
    _init_worker()
    return fn(item)


def default_workers() -> int:
    """One worker per available core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def map(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    desc: str = "",
    progress: bool = True,
) -> list[R]:
    """Apply ``fn`` to every item in parallel; results come back in the order of ``items``.

    Args:
        fn: a picklable function of one argument.
        items: the inputs (configs, seeds, tuples ...).
        backend: ``"local"`` (process pool, spawn start method) or ``"ray"``.
        workers: processes for the local pool (default: one per core; 1 runs in this process).
        address: Ray only — an existing cluster to join; default starts a local Ray.
        desc: label of the progress bar.
        progress: show a tqdm bar over finished items when on a terminal.
    """
    items = list(items)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    if address is not None and backend != "ray":
        raise ValueError("--address goes with --backend ray")
    if not items:
        return []
    if backend == "ray":
        return _map_ray(fn, items, workers=workers, address=address)
    n = min(workers or default_workers(), len(items))
    if n <= 1:
        import torch

        threads = torch.get_num_threads()
        try:
            torch.set_num_threads(1)
            return [fn(x) for x in items]
        finally:
            torch.set_num_threads(threads)
    return _map_local(fn, items, n, desc, progress)


def _map_local(fn: Callable[[T], R], items: list[T], n: int, desc: str, progress: bool) -> list[R]:
    import sys

    from tqdm.auto import tqdm

    results: list[Any] = [None] * len(items)
    ctx = mp.get_context("spawn")  # fork after torch has started threads can deadlock
    show = progress and sys.stderr.isatty() and not os.environ.get("PYTEST_CURRENT_TEST")
    pool = ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(),))
    futures = {pool.submit(fn, x): i for i, x in enumerate(items)}
    bar = tqdm(total=len(items), desc=desc or "tasks", disable=not show, leave=False)
    try:
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            bar.update(1)
    except BaseException:
        # an error or Ctrl-C: stop now, without waiting for the seeds still running
        for proc in list(getattr(pool, "_processes", {}).values()):
            if proc.is_alive():
                proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        bar.close()
    pool.shutdown(wait=True)
    return results


def _map_ray(fn: Callable[[T], R], items: list[T], *, workers: int | None, address: str | None) -> list[R]:
    try:
        import ray
    except ImportError:
        raise RuntimeError("the ray backend needs Ray: pip install 'livepapers[ray]'") from None
    started_here = False
    if not ray.is_initialized():
        if address is None:
            ray.init(num_cpus=workers or default_workers(), include_dashboard=False,
                     log_to_driver=False, configure_logging=False,
                     runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
        else:
            ray.init(address=address, log_to_driver=False)
        started_here = True
    try:
        remote = ray.remote(num_cpus=1)(_call_single_threaded)
        return ray.get([remote.remote(fn, x) for x in items])
    finally:
        if started_here and address is None:
            ray.shutdown()


__all__ = ["BACKENDS", "default_workers", "map"]
