"""Training cost of one block vs sequence length: Mega (full), Mega-chunk and a Transformer (paper §4.1, C3).

One forward + backward of one block at batch ``batch``: one warm-up call, then ``repeats`` timed calls (CPU
seconds of one thread; every call's time is returned, ``time_s`` is their minimum). Peak memory comes from
:func:`livepapers.core.bench.peak_memory`: the calls run in a forked child (the kernel starts a forked child's
RSS high-water mark at its current RSS, so earlier measurements cannot hide it), and the peak is the growth of that
high-water mark minus what building the block and its input added.

Used by the experiment's ``measure`` (C3) and ``benchmarks/bench_mega.py``; the names of the metrics are built
here, once (:func:`metric_names`, :func:`time_key`, ...).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from livepapers.core.bench import peak_memory
from livepapers.core.stats import fit_loglog_slope

from ._inputs import as_seed
from .baseline import TransformerBlock
from .modules import MegaEncoderLayer

__all__ = ["EFF_KINDS", "BlockSpec", "derived_metrics", "make_block", "measure_block", "measure_block_forked",
           "mem_key", "metric_names", "ratio_key", "slope_key", "time_key"]

EFF_KINDS = ("mega", "mega_chunk", "transformer")


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
    if kind not in EFF_KINDS:
        raise ValueError(f"unknown block kind {kind!r}; known: {', '.join(EFF_KINDS)}")
    return MegaEncoderLayer(dim=spec.dim, hdim=spec.hdim, ffn_dim=spec.ffn_dim, zdim=spec.zdim, ndim=spec.ndim,
                            chunk_size=spec.chunk_size if kind == "mega_chunk" else -1,
                            attention_activation=spec.attention, norm_type=spec.norm, prenorm=False,
                            max_positions=max(length, 1))


def _build(kind: str, length: int, batch: int, spec: BlockSpec, seed: int) -> tuple[nn.Module, Tensor]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        block = make_block(kind, length, spec)
        x = torch.randn(batch, length, spec.dim)
    return block, x


def _timed_calls(block: nn.Module, x: Tensor, repeats: int) -> tuple[list[float], list[float]]:
    """One warm-up call of forward + backward, then ``repeats`` timed ones: (CPU seconds, wall seconds) per call."""

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
    return times, walls


def measure_block(kind: str, length: int, *, batch: int = 2, spec: BlockSpec = BlockSpec(), repeats: int = 2,
                  threads: int = 1, seed: int | torch.Generator = 0) -> dict[str, Any]:
    """Forward + backward of one block in THIS process: ``{"time_s", "wall_s", "times_s", "walls_s"}``.

    ``time_s`` is process CPU time (robust on shared cores with one thread), ``wall_s`` wall-clock time, both
    the minimum over the ``repeats`` timed calls; ``times_s`` / ``walls_s`` list every timed call in order.
    No memory: a long-lived process's high-water mark says nothing about one call (see
    :func:`measure_block_forked`). ``seed`` (block weights and input): an int or a ``torch.Generator`` (one draw).
    """
    seed = as_seed(seed)
    torch.set_num_threads(threads)
    block, x = _build(kind, length, batch, spec, seed)
    times, walls = _timed_calls(block, x, repeats)
    return {"time_s": min(times), "wall_s": min(walls), "times_s": times, "walls_s": walls}


def measure_block_forked(kind: str, length: int, *, batch: int = 2, spec: BlockSpec = BlockSpec(),
                         repeats: int = 2, threads: int = 1, seed: int | torch.Generator = 0) -> dict[str, Any]:
    """:func:`measure_block` in a forked child (Linux), with ``peak_mb`` from
    :func:`livepapers.core.bench.peak_memory`: the child's RSS growth over the warm-up and the timed calls.

    The child builds the block and its input first (``setup``, not counted), so the figure is what the calls
    add. An error, death or timeout of the child gives NaN values and ``error`` = 1. ``seed``: as
    :func:`measure_block` (a generator is drawn from here, in the parent).
    """
    seed = as_seed(seed)

    def setup() -> tuple[nn.Module, Tensor]:  # in the forked child; what it builds is not counted
        torch.set_num_threads(threads)
        return _build(kind, length, batch, spec, seed)

    try:
        peak, (times, walls) = peak_memory(lambda built: _timed_calls(*built, repeats), setup=setup)
    except RuntimeError as e:  # the child raised, died or timed out: no measurement
        nan = float("nan")
        return {"time_s": nan, "wall_s": nan, "peak_mb": nan, "times_s": [nan] * repeats,
                "walls_s": [nan] * repeats, "error": 1.0, "error_message": str(e)}
    return {"time_s": min(times), "wall_s": min(walls), "peak_mb": peak, "times_s": times, "walls_s": walls,
            "error": 0.0}


# ----------------------------------------------------------------------------------------------
# metric names of one measurement repeat, and the metrics derived from its times and peaks
# ----------------------------------------------------------------------------------------------


def time_key(kind: str, length: int) -> str:
    """CPU seconds of one forward + backward of ``kind`` at length ``length``."""
    return f"time_{kind}_L{length}"


def mem_key(kind: str, length: int) -> str:
    """Peak RSS growth (MiB) of ``kind`` at length ``length``."""
    return f"mem_{kind}_L{length}"


def slope_key(kind: str, what: str) -> str:
    """Fitted log–log slope of ``what`` ('time' | 'mem') against the length."""
    return f"{kind}_{what}_slope"


def ratio_key(kind: str, what: str, length: int) -> str:
    """Transformer time / ``kind`` time ('time') or ``kind`` memory / Transformer memory ('mem') at ``length``
    (``kind`` 'mega_chunk' has no prefix: ``time_ratio_L4096``, the spec's name)."""
    return f"{'' if kind == 'mega_chunk' else kind + '_'}{what}_ratio_L{length}"


RATIO_KINDS = ("mega_chunk", "mega")
CHUNK_TIME_SLOPE = "chunk_time_slope"  # the spec's name for slope_key("mega_chunk", "time")


def metric_names(lengths: tuple[int, ...], *, memory: bool = True) -> list[str]:
    """The metrics one repeat of ``experiment.measure`` returns for ``lengths`` (memory slopes only when forked)."""
    top = max(lengths)
    names = [time_key(k, L) for k in EFF_KINDS for L in lengths]
    names += [mem_key(k, L) for k in EFF_KINDS for L in lengths]
    names += [slope_key(k, "time") for k in EFF_KINDS]
    if memory:
        names += [slope_key(k, "mem") for k in EFF_KINDS]
    names += [ratio_key(k, w, top) for k in RATIO_KINDS for w in ("time", "mem")]
    return [*names, CHUNK_TIME_SLOPE]


def _div(a: float, b: float) -> float:
    return a / b if b != 0 and math.isfinite(b) else float("nan")


def derived_metrics(m: dict[str, float], lengths: tuple[int, ...], *, memory: bool) -> dict[str, float]:
    """Slopes of time (and memory) vs L; speed-up and memory ratio against the Transformer at the longest L."""
    out: dict[str, float] = {}
    for kind in EFF_KINDS:
        out[slope_key(kind, "time")] = fit_loglog_slope(lengths, [m[time_key(kind, L)] for L in lengths])
        if memory:
            out[slope_key(kind, "mem")] = fit_loglog_slope(lengths, [m[mem_key(kind, L)] for L in lengths])
    top = max(lengths)
    # speed-up = Transformer time / model time; memory ratio = model / Transformer
    for kind in RATIO_KINDS:
        out[ratio_key(kind, "time", top)] = _div(m[time_key("transformer", top)], m[time_key(kind, top)])
        out[ratio_key(kind, "mem", top)] = _div(m[mem_key(kind, top)], m[mem_key("transformer", top)])
    out[CHUNK_TIME_SLOPE] = out[slope_key("mega_chunk", "time")]
    return out
