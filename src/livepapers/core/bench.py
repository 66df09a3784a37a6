"""Measuring helpers for ``benchmarks/``: timing (torch.utils.benchmark), FLOPs, peak memory, JSON out.

Absolute times on shared cores are reported, never asserted; benchmarks compare against a baseline
measured in the same run and report ratios.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils import benchmark as tbench
from torch.utils.flop_counter import FlopCounterMode

from livepapers.core.runs import atomic_write_json, env_info, source_root


def time_fn(fn: Callable[[], Any], *, label: str = "", sub_label: str = "", description: str = "",
            min_run_time: float = 0.5, num_threads: int = 1, warmup: int = 2) -> dict[str, float]:
    """Median and IQR seconds per call of ``fn()`` (``blocked_autorange`` after ``warmup`` calls)."""
    for _ in range(warmup):
        fn()
    timer = tbench.Timer(stmt="fn()", globals={"fn": fn}, num_threads=num_threads, label=label,
                         sub_label=sub_label, description=description)
    m = timer.blocked_autorange(min_run_time=min_run_time)
    return {"median_s": float(m.median), "iqr_s": float(m.iqr), "runs": len(m.times), "measurement": m}


class CpuTimer:
    """CPU seconds of this process (``time.process_time``) over a ``with`` block: ``with CpuTimer() as t: ...``
    then ``t.seconds``. CPU time, not wall time, so a loaded shared machine inflates it far less."""

    def __enter__(self) -> CpuTimer:
        import time

        self._t0 = time.process_time()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: Any) -> None:
        import time

        self.seconds = time.process_time() - self._t0


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call of ``fn()`` by ``torch.utils.flop_counter`` (2 per multiply-add, not MACs)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def _rss_child(fn: Callable[[], Any], conn: Any, setup: Callable[[], Any] | None) -> None:
    try:
        torch.set_num_threads(1)
        arg = setup() if setup is not None else None
        before = _current_rss_bytes()  # after setup: what setup builds is not counted
        out = fn(arg) if setup is not None else fn()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
        conn.send(("ok", max(0, peak - before), out))
    except BaseException as e:  # report, never hang the parent
        conn.send(("error", f"{type(e).__name__}: {e}", None))
    finally:
        conn.close()


def _current_rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_memory(fn: Callable[..., Any], *, setup: Callable[[], Any] | None = None,
                timeout: float = 600.0) -> tuple[float, Any]:
    """``(MiB, result)``: the peak resident memory added by one call of ``fn``, measured in a forked child.

    The child starts with the parent's memory, so the figure is the growth of the high-water mark during
    ``fn`` (allocator caches included). With ``setup``, the child first builds ``x = setup()`` (a model, an
    input), which is not counted, then calls ``fn(x)``. ``fn``'s result comes back (it must be picklable).
    A child that raises, dies (segfault, OOM kill) or runs past ``timeout`` seconds raises ``RuntimeError``.
    Linux only; ``fn`` runs single-threaded.
    """
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_rss_child, args=(fn, child, setup))
    p.start()
    child.close()  # only the child holds the sending end: its death closes the pipe (EOF, no hang)
    try:
        if not parent.poll(timeout):
            p.kill()
            raise RuntimeError(f"peak_memory: the measured call ran past {timeout:.0f} s")
        try:
            status, value, out = parent.recv()
        except EOFError:
            raise RuntimeError(f"peak_memory: the measuring child died (exit code {p.exitcode})") from None
    finally:
        p.join(5)
        parent.close()
    if status != "ok":
        raise RuntimeError(f"peak_memory: the measured call failed: {value}")
    return value / 2**20, out


def peak_memory_mb(fn: Callable[[], Any], *, timeout: float = 600.0) -> float:
    """Peak resident memory added by one call of ``fn()``, in MiB (see :func:`peak_memory`)."""
    return peak_memory(fn, timeout=timeout)[0]


def results_path(name: str) -> Path:
    return source_root() / "benchmarks" / "results" / f"{name}.json"


def write_results(name: str, results: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the machine's description beside the numbers."""
    env = env_info()
    env.pop("command", None)
    path = results_path(name)
    atomic_write_json(path, {"benchmark": name, "env": env, "results": results})
    return path
