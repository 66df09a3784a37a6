"""Training cost of one block vs sequence length: Mega (full), Mega-chunk and a Transformer (paper §4.1, C3).

One forward + backward of one block at batch ``batch``: ``repeats`` timed calls after one warm-up (each
call's time is returned; ``time_s`` is their minimum); peak memory = ``ru_maxrss`` at the end minus the
resident size before the first call (the model and input already built), in a FRESH process per (model,
length) so high-water marks of earlier measurements cannot hide it. Used by the experiment's ``measure``
(C3) and ``benchmarks/bench_mega.py``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from .baseline import TransformerBlock
from .modules import MegaEncoderLayer

__all__ = ["BlockSpec", "make_block", "measure_block", "measure_block_forked", "measure_block_subprocess"]

KINDS = ("mega", "mega_chunk", "transformer")


@dataclass(frozen=True)
class BlockSpec:
    """One block of the efficiency comparison (defaults: the paper's Text-task block, d = 128)."""

    dim: int = 128
    zdim: int = 64
    hdim: int = 256
    ndim: int = 16
    ffn_dim: int = 256
    heads: int = 8
    chunk_size: int = 128
    attention: str = "softmax"
    norm: str = "scalenorm"


def make_block(kind: str, length: int, spec: BlockSpec) -> nn.Module:
    """'mega' (full attention), 'mega_chunk' (chunk ``spec.chunk_size``) or 'transformer' (explicit attention)."""
    if kind == "transformer":
        return TransformerBlock(dim=spec.dim, heads=spec.heads, ffn_dim=spec.ffn_dim)
    if kind not in KINDS:
        raise ValueError(f"unknown block kind {kind!r}; known: {', '.join(KINDS)}")
    return MegaEncoderLayer(embedding_dim=spec.dim, hidden_dim=spec.hdim, ffn_hidden_dim=spec.ffn_dim,
                            z_dim=spec.zdim, n_dim=spec.ndim,
                            chunk_size=spec.chunk_size if kind == "mega_chunk" else -1,
                            attention_activation=spec.attention, norm_type=spec.norm, prenorm=False,
                            max_positions=max(length, 1))


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def measure_block(kind: str, length: int, *, batch: int = 2, spec: BlockSpec = BlockSpec(), repeats: int = 2,
                  threads: int = 1, seed: int = 0) -> dict[str, Any]:
    """Forward + backward of one block in THIS process: ``{"time_s", "wall_s", "peak_mb", "times_s", "walls_s"}``.

    ``time_s`` is process CPU time (robust on shared cores with one thread), ``wall_s`` wall-clock time, both
    the minimum over the ``repeats`` timed calls; ``times_s`` / ``walls_s`` list every timed call in order.
    ``peak_mb`` (the high-water mark over the warm-up and all timed calls) is only meaningful in a fresh
    process (see :func:`measure_block_forked`).
    """
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    block = make_block(kind, length, spec)
    x = torch.randn(batch, length, spec.dim)
    before = _rss_bytes()

    def fwd_bwd() -> None:
        block.zero_grad(set_to_none=True)
        block(x).square().mean().backward()

    fwd_bwd()  # warm-up
    times, walls = [], []
    for _ in range(repeats):
        t0, w0 = time.process_time(), time.perf_counter()
        fwd_bwd()
        times.append(time.process_time() - t0)
        walls.append(time.perf_counter() - w0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    return {"time_s": min(times), "wall_s": min(walls), "peak_mb": max(peak, 0) / 2**20, "times_s": times,
            "walls_s": walls}


def measure_block_subprocess(kind: str, length: int, *, batch: int = 2, spec: BlockSpec = BlockSpec(),
                             repeats: int = 2, threads: int = 1, timeout: float = 600.0) -> dict[str, Any]:
    """:func:`measure_block` in a fresh Python process; adds ``cpu_s`` (the child's CPU seconds).

    A child that fails or times out gives NaN values and an ``error`` flag of 1.
    """
    args = json.dumps({"kind": kind, "length": length, "batch": batch, "spec": asdict(spec), "repeats": repeats,
                       "threads": threads})
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    code = "import sys; from livepapers.mega.efficiency import _child; _child(sys.argv[1])"
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    nan = float("nan")
    try:
        out = subprocess.run([sys.executable, "-c", code, args], capture_output=True, text=True, timeout=timeout,
                             env=env, check=False)
        res = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None
    except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError):
        res = None
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    if res is None:
        return {"time_s": nan, "peak_mb": nan, "times_s": [nan] * repeats, "cpu_s": cpu, "error": 1.0}
    return {**res, "cpu_s": cpu, "error": 0.0}


def _forked_child(conn: Any, kind: str, length: int, kwargs: dict[str, Any]) -> None:
    try:
        conn.send(measure_block(kind, length, **kwargs))
    except BaseException as e:  # report, never hang the parent
        conn.send({"error_message": f"{type(e).__name__}: {e}"})
    finally:
        conn.close()


def measure_block_forked(kind: str, length: int, *, batch: int = 2, spec: BlockSpec = BlockSpec(),
                         repeats: int = 2, threads: int = 1, timeout: float = 600.0) -> dict[str, Any]:
    """:func:`measure_block` in a forked child (Linux): the kernel resets the child's RSS high-water mark to
    its current RSS at fork, so ``peak_mb`` is the growth during this measurement only. Cheaper than a
    fresh interpreter (no torch import). Failure or timeout gives NaN values and ``error`` = 1.
    """
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    kwargs = {"batch": batch, "spec": spec, "repeats": repeats, "threads": threads}
    p = ctx.Process(target=_forked_child, args=(child, kind, length, kwargs))
    p.start()
    child.close()
    res: dict[str, Any] | None = None
    if parent.poll(timeout):
        try:
            res = parent.recv()
        except EOFError:
            res = None
    if p.is_alive():
        p.kill()
    p.join()
    nan = float("nan")
    if not res or "error_message" in res:
        return {"time_s": nan, "wall_s": nan, "peak_mb": nan, "times_s": [nan] * repeats, "walls_s": [nan] * repeats,
                "error": 1.0}
    return {**res, "error": 0.0}


def _child(arg: str) -> None:
    a = json.loads(arg)
    res = measure_block(a["kind"], a["length"], batch=a["batch"], spec=BlockSpec(**a["spec"]), repeats=a["repeats"],
                        threads=a["threads"])
    print(json.dumps(res), flush=True)
