"""Compiled, bit-parallel inference of a discretised logic gate network (NeurIPS 2022, §"compiled inference").

After training every neuron is its argmax gate, so the network is a Boolean circuit. Samples are packed 64 to a
machine word (bit ``s`` of word ``w`` = sample ``64·w + s``, :func:`.bits.pack_bits`), each gate becomes one bitwise
expression on whole words, and a class score is the number of ones in its output group, counted with bit-sliced
(carry-save) adders.

Backends of :class:`CompiledLogicNet`:
- ``'c'``, ``kernel='straight'`` (default): the network written out as straight-line C, one statement per gate
  (``o[j] = i[a] & ~i[b];``, the approach of the official ``difflogic`` compiler), split into functions of
  :data:`CHUNK_GATES` statements so that compile time stays linear in the number of gates, with the last layer fused
  into one carry-save adder per class. Words are ``uint64_t`` (64 samples) or, when the CPU has 256-bit integer
  vectors, a GCC vector of 4 ``uint64_t`` (256 samples per operation; vector extensions, no intrinsics).
- ``'c'``, ``kernel='generic'`` (the baseline): one small C interpreter of the gate tables (opcode, a, b) that loops
  over gates outside and over a block of words inside, so the opcode switch is amortised; its compile time does not
  depend on the network.
- ``'numpy'``: the same bit-parallel algorithm with numpy ``uint64`` arrays (fallback when no compiler works).

C code is compiled with the system compiler on :meth:`CompiledLogicNet.compile` (never at import) into a per-user
cache folder (never into the source tree) and loaded with ``ctypes``. A cached library is used only when its bytes
match the SHA-256 recorded when it was built and it loads; a truncated or overwritten entry is rebuilt (numpy, with a
warning, if that fails).

This module depends on :mod:`.logic` and :mod:`.bits` (never the other way round) and is the only module of the
package that writes files or runs a subprocess.
"""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import math
import os
import platform
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ._inputs import check_positive
from .bits import PackBitsTensor, np_layer, pack_bits, unpack_counts
from .logic import GroupSum, LogicLayer

__all__ = ["CHUNK_GATES", "GATE_C", "WORD_BITS", "CompiledLogicNet", "PackBitsTensor", "compiled_inference_checks",
           "native_macros", "pack_bits", "pick_word_bits", "straight_line_source", "throughput"]

BLOCK_WORDS = 16  # words per block inside the kernel (1,024 samples)

_C_KERNEL = r"""
/* livepapers.diff_algorithms: generic bit-parallel logic-gate-network kernel (generated, compiled at run time). */
#include <stdint.h>
#include <string.h>
#define BW %(bw)d
typedef uint64_t w_t;

static void gate(uint8_t op, const w_t *restrict A, const w_t *restrict B, w_t *restrict Y) {
    int k;
    switch (op) {
    case 0:  for (k = 0; k < BW; k++) Y[k] = 0; break;                 /* FALSE */
    case 1:  for (k = 0; k < BW; k++) Y[k] = A[k] & B[k]; break;        /* A AND B */
    case 2:  for (k = 0; k < BW; k++) Y[k] = A[k] & ~B[k]; break;       /* A AND NOT B */
    case 3:  for (k = 0; k < BW; k++) Y[k] = A[k]; break;               /* A */
    case 4:  for (k = 0; k < BW; k++) Y[k] = ~A[k] & B[k]; break;       /* NOT A AND B */
    case 5:  for (k = 0; k < BW; k++) Y[k] = B[k]; break;               /* B */
    case 6:  for (k = 0; k < BW; k++) Y[k] = A[k] ^ B[k]; break;        /* XOR */
    case 7:  for (k = 0; k < BW; k++) Y[k] = A[k] | B[k]; break;        /* OR */
    case 8:  for (k = 0; k < BW; k++) Y[k] = ~(A[k] | B[k]); break;     /* NOR */
    case 9:  for (k = 0; k < BW; k++) Y[k] = ~(A[k] ^ B[k]); break;     /* XNOR */
    case 10: for (k = 0; k < BW; k++) Y[k] = ~B[k]; break;              /* NOT B */
    case 11: for (k = 0; k < BW; k++) Y[k] = A[k] | ~B[k]; break;       /* B => A */
    case 12: for (k = 0; k < BW; k++) Y[k] = ~A[k]; break;              /* NOT A */
    case 13: for (k = 0; k < BW; k++) Y[k] = ~A[k] | B[k]; break;       /* A => B */
    case 14: for (k = 0; k < BW; k++) Y[k] = ~(A[k] & B[k]); break;     /* NAND */
    default: for (k = 0; k < BW; k++) Y[k] = ~(w_t)0; break;            /* TRUE */
    }
}

/* x: (in_dim, n_words) packed inputs; counts: (n_samples, n_classes) int32;
   work: 2*max_width*BW + 32*BW words. Returns 0. */
int lp_logic_forward(const w_t *x, int64_t n_words, int64_t n_samples, int32_t in_dim, int32_t n_layers,
                     const int32_t *widths, const uint8_t *ops, const int32_t *ai, const int32_t *bi,
                     int32_t n_classes, int32_t *counts, w_t *work, int32_t max_width) {
    w_t *buf0 = work, *buf1 = work + (int64_t)max_width * BW, *cnt = work + 2 * (int64_t)max_width * BW;
    int32_t out_width = widths[n_layers - 1];
    int32_t group = out_width / n_classes;
    int nbits = 1;
    while ((1 << nbits) <= group) nbits++;
    for (int64_t w0 = 0; w0 < n_words; w0 += BW) {
        int64_t nw = n_words - w0 < BW ? n_words - w0 : BW;
        for (int32_t i = 0; i < in_dim; i++) {
            w_t *dst = buf0 + (int64_t)i * BW;
            const w_t *src = x + (int64_t)i * n_words + w0;
            int64_t k;
            for (k = 0; k < nw; k++) dst[k] = src[k];
            for (; k < BW; k++) dst[k] = 0;
        }
        w_t *cur = buf0, *nxt = buf1;
        int64_t g0 = 0;
        for (int32_t l = 0; l < n_layers; l++) {
            int32_t width = widths[l];
            for (int32_t j = 0; j < width; j++)
                gate(ops[g0 + j], cur + (int64_t)ai[g0 + j] * BW, cur + (int64_t)bi[g0 + j] * BW,
                     nxt + (int64_t)j * BW);
            g0 += width;
            w_t *t = cur; cur = nxt; nxt = t;
        }
        /* GroupSum: bit-sliced ripple counters, one per class */
        for (int32_t c = 0; c < n_classes; c++) {
            memset(cnt, 0, sizeof(w_t) * 32 * BW);
            for (int32_t j = c * group; j < (c + 1) * group; j++) {
                const w_t *v = cur + (int64_t)j * BW;
                for (int k = 0; k < BW; k++) {
                    w_t carry = v[k];
                    for (int t = 0; carry && t < nbits; t++) {
                        w_t tmp = cnt[t * BW + k] & carry;
                        cnt[t * BW + k] ^= carry;
                        carry = tmp;
                    }
                }
            }
            for (int64_t k = 0; k < nw; k++) {
                for (int s = 0; s < 64; s++) {
                    int64_t sample = (w0 + k) * 64 + s;
                    if (sample >= n_samples) break;
                    int32_t total = 0;
                    for (int t = 0; t < nbits; t++) total |= (int32_t)((cnt[t * BW + k] >> s) & 1u) << t;
                    counts[sample * n_classes + c] = total;
                }
            }
        }
    }
    return 0;
}
"""


# ------------------------------------------------------------------------------------------------
# straight-line code: one C expression per gate (the approach of the official difflogic compiler)
# ------------------------------------------------------------------------------------------------

GATE_C = ("ZERO", "{a} & {b}", "{a} & ~{b}", "{a}", "~{a} & {b}", "{b}", "{a} ^ {b}", "{a} | {b}", "~({a} | {b})",
          "~({a} ^ {b})", "~{b}", "{a} | ~{b}", "~{a}", "~{a} | {b}", "~({a} & {b})", "ONES")
"""The 16 gates (official id order) as C expressions on words ``a`` and ``b``; the same as :data:`GATE_WORD_OPS`."""

CHUNK_GATES = 256  # gate statements per generated C function (keeps the compiler's per-function work small)
BLOCK_CODE = 4  # words each chunk of code runs over before the next chunk (its code then comes from the L1i cache)
WORD_BITS = (64, 256)  # 64: uint64_t words; 256: GCC vector extension, 4 x uint64_t (no intrinsics)

_STRAIGHT_HEAD = r"""/* straight-line logic gate net generated by livepapers: %(gates)d gates, %(bits)d-bit words */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
%(word)s
#define LANES %(lanes)d            /* uint64_t lanes per word */
#define ZERO ((W){0})
#define ONES (~ZERO)
enum { IN_DIM = %(in_dim)d, MAX_WIDTH = %(max_width)d, N_CLASSES = %(n_classes)d, N_PLANES = %(n_planes)d,
       BLOCKS = %(blocks)d };     /* words run through each chunk of code before the next chunk */
static const uint64_t SPREAD[256] = {%(spread)s};  /* byte b -> 8 bytes, byte j = bit j of b */
"""

_STRAIGHT_DRIVER = r"""
/* x: (IN_DIM, n_words) packed inputs (bit s of x[i][w] = input i of sample 64w+s); counts: (n_samples, N_CLASSES).
   Returns 0, or -1 when the work buffer cannot be allocated. */
int lp_logic_net(const uint64_t *restrict x, int64_t n_words, int64_t n_samples, int32_t *restrict counts) {
    size_t bytes = sizeof(W) * (size_t)BLOCKS * (IN_DIM + 2 * MAX_WIDTH + N_CLASSES * N_PLANES);
    W *buf = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!buf) return -1;
    W *xin = buf, *b0 = xin + BLOCKS * IN_DIM, *b1 = b0 + BLOCKS * MAX_WIDTH, *cnt = b1 + BLOCKS * MAX_WIDTH;
    for (int64_t w0 = 0; w0 < n_words; w0 += LANES * BLOCKS) {
        int64_t left = n_words - w0;
        int nb = left >= LANES * BLOCKS ? BLOCKS : (int)((left + LANES - 1) / LANES);
        for (int32_t i = 0; i < IN_DIM; i++) {
            const uint64_t *s = x + (int64_t)i * n_words + w0;
            for (int k = 0; k < nb; k++) {
                uint64_t *d = (uint64_t *)&xin[k * IN_DIM + i];
                for (int64_t l = 0; l < LANES; l++) d[l] = k * LANES + l < left ? s[k * LANES + l] : 0;
            }
        }
        network(xin, b0, b1, cnt, nb);
        /* class counts from the bit planes: count of sample s = sum_t 2^t * (bit s of plane t), 8 samples at a time:
           SPREAD turns a byte of a plane into one 0/1 byte per sample, added in byte lanes (planes 0-7 into lo,
           8-15 into hi: no lane exceeds 255) */
        for (int k = 0; k < nb; k++)
            for (int32_t c = 0; c < N_CLASSES; c++) {
                const uint64_t *pl = (const uint64_t *)&cnt[(k * N_CLASSES + c) * N_PLANES];
                for (int64_t l = 0; l < LANES && (k * LANES + l) < left; l++) {
                    int64_t base = (w0 + k * LANES + l) * 64;
                    for (int q = 0; q < 8 && base + 8 * q < n_samples; q++) {
                        uint64_t lo = 0, hi = 0;
                        for (int t = 0; t < N_PLANES && t < 8; t++)
                            lo += SPREAD[(pl[t * LANES + l] >> (8 * q)) & 255u] << t;
                        for (int t = 8; t < N_PLANES; t++)
                            hi += SPREAD[(pl[t * LANES + l] >> (8 * q)) & 255u] << (t - 8);
                        int64_t s0 = base + 8 * q;
                        for (int j = 0; j < 8 && s0 + j < n_samples; j++)
                            counts[(s0 + j) * N_CLASSES + c] = (int32_t)(((lo >> (8 * j)) & 255u)
                                                                        | (((hi >> (8 * j)) & 255u) << 8));
                    }
                }
            }
    }
    free(buf);
    return 0;
}
"""


_SPREAD = ", ".join(f"0x{sum(((b >> j) & 1) << (8 * j) for j in range(8)):016x}u" for b in range(256))


def _gate_expr(op: int, a: str, b: str) -> str:
    return GATE_C[op].format(a=a, b=b)


def _adder(terms, emit, fresh) -> list[str]:
    """Bit-sliced population count of the words ``terms`` (an iterable of C variable names, each emitted just before
    it is yielded) with carry-save (full) adders, streamed so that at most two words per bit weight are live; emits
    C statements and returns the count's bit planes, least significant first."""
    levels: list[list[str]] = []

    def push(level: int, v: str) -> None:
        while True:
            if level == len(levels):
                levels.append([])
            lv = levels[level]
            if len(lv) < 2:
                lv.append(v)
                return
            a, b = lv.pop(), lv.pop()
            x, s, c = fresh(), fresh(), fresh()
            # full adder: s = a ⊕ b ⊕ v (weight 2^level), c = maj(a, b, v) (weight 2^(level+1))
            emit(f"W {x} = {a} ^ {b}; W {s} = {x} ^ {v}; W {c} = ({a} & {b}) | ({x} & {v});")
            lv.append(s)
            level, v = level + 1, c

    for t in terms:
        push(0, t)
    planes = []
    level = 0
    while level < len(levels):
        lv = levels[level]
        while len(lv) > 1:  # half adder
            a, b = lv.pop(), lv.pop()
            s, c = fresh(), fresh()
            emit(f"W {s} = {a} ^ {b}; W {c} = {a} & {b};")
            lv.append(s)
            push(level + 1, c)
        planes.append(lv[0] if lv else "ZERO")
        level += 1
    return planes


_READS_A = tuple(op not in (0, 5, 10, 15) for op in range(16))  # gates whose expression reads input a
_READS_B = tuple(op not in (0, 3, 12, 15) for op in range(16))  # ... and input b


def _locality_order(layers: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_classes: int
                    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The same circuit with the gates of every layer renumbered so that the code reads its inputs in ascending order
    of the smaller index read (one of a gate's two loads then streams through the previous layer; the other stays
    random). Hidden layers are reordered freely, the next layer's wiring is remapped; gates of the last layer move
    only within their class group (a GroupSum does not depend on the order inside a group)."""
    out = []
    pos = None  # old index of the previous layer's gate -> its new position
    for li, (a, b, ops) in enumerate(layers):
        if pos is not None:
            a, b = pos[a], pos[b]
        ra = np.array(_READS_A)[ops]
        rb = np.array(_READS_B)[ops]
        big = np.iinfo(np.int64).max // 4
        first = np.minimum(np.where(ra, a, big), np.where(rb, b, big)).astype(np.int64)
        second = np.maximum(np.where(ra, a, -1), np.where(rb, b, -1)).astype(np.int64)
        if li == len(layers) - 1:
            group = len(ops) // n_classes
            order = np.lexsort((second, first, np.arange(len(ops)) // group))
        else:
            order = np.lexsort((second, first))
        a, b, ops = a[order], b[order], ops[order]
        pos = np.empty(len(order), dtype=np.int64)
        pos[order] = np.arange(len(order))
        out.append((a.astype(np.int64), b.astype(np.int64), ops))
    return out


def straight_line_source(in_dim: int, layers: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_classes: int, *,
                         word_bits: int = 64, chunk: int | None = None, blocks: int | None = None) -> str:
    """C source of a network as straight-line code: one statement per gate, ``o[j] = i[a] OP i[b];``.

    The statements are split into functions of at most ``chunk`` gates (default :data:`CHUNK_GATES`), so that the
    compiler's work stays linear in the number of gates, and each function is run over ``blocks`` words (default
    :data:`BLOCK_CODE`) before the next one, so that its code is fetched from the instruction cache, not from memory,
    for all but the first. Gates are renumbered layer by layer for locality of the reads (:func:`_locality_order`;
    same circuit). The last layer is fused with one carry-save adder per class (GroupSum), written as bit planes.
    Words are ``uint64_t`` (``word_bits=64``) or a 256-bit GCC vector of 4 ``uint64_t`` (no intrinsics; the compiler
    picks the instructions). Entry point ``lp_logic_net`` (see :data:`_STRAIGHT_DRIVER`)."""
    if word_bits not in WORD_BITS:
        raise ValueError(f"word_bits must be one of {WORD_BITS}, got {word_bits}")
    chunk = CHUNK_GATES if chunk is None else chunk
    blocks = BLOCK_CODE if blocks is None else blocks
    if chunk < 1 or blocks < 1:
        raise ValueError(f"chunk and blocks must be >= 1, got chunk={chunk}, blocks={blocks}")
    layers = _locality_order(layers, n_classes)
    lanes = word_bits // 64
    word = ("typedef uint64_t W;" if lanes == 1 else
            f"typedef uint64_t W __attribute__((vector_size({8 * lanes})));  /* GCC vector extension */")
    body: list[str] = []
    calls: list[str] = []
    n_fn = 0

    def run(fn: str, src: str, dst: str, dst_stride: str) -> str:
        stride = "IN_DIM" if src == "xin" else "MAX_WIDTH"
        return f"    for (int k = 0; k < nb; k++) {fn}({src} + k * {stride}, {dst} + k * {dst_stride});"

    # hidden layers: ping-pong between the buffers b0 and b1 (layer 0 reads the inputs xin)
    for li, (a, b, ops) in enumerate(layers[:-1]):
        src, dst = ("xin" if li == 0 else ("b0" if li % 2 else "b1")), ("b0" if li % 2 == 0 else "b1")
        for j0 in range(0, len(ops), chunk):
            body.append(f"static void f{n_fn}(const W *restrict i, W *restrict o) {{")
            body += [f"    o[{j}] = {_gate_expr(int(ops[j]), f'i[{a[j]}]', f'i[{b[j]}]')};"
                     for j in range(j0, min(j0 + chunk, len(ops)))]
            body.append("}")
            calls.append(run(f"f{n_fn}", src, dst, "MAX_WIDTH"))
            n_fn += 1
    # last layer + GroupSum: per class, its gates feed a carry-save adder; the count's bit planes go to cnt
    a, b, ops = layers[-1]
    src = "xin" if len(layers) == 1 else ("b0" if (len(layers) - 2) % 2 == 0 else "b1")
    group = len(ops) // n_classes
    n_planes = group.bit_length()
    if n_planes > 16:
        raise ValueError(f"groups of at most 65,535 gates per class are supported, got {group}")
    for c in range(n_classes):
        lines: list[str] = []
        counter = iter(range(1 << 62))

        def fresh(counter=counter) -> str:
            return f"t{next(counter)}"

        def terms(c=c, lines=lines, fresh=fresh):  # each gate of the group, emitted as it enters the adder
            for j in range(c * group, (c + 1) * group):
                t = fresh()
                lines.append(f"W {t} = {_gate_expr(int(ops[j]), f'i[{a[j]}]', f'i[{b[j]}]')};")
                yield t

        planes = _adder(terms(), lines.append, fresh)
        if len(planes) > n_planes:  # cannot happen: the count of `group` bits has bit_length(group) bits
            raise AssertionError("adder produced too many planes")
        planes += ["ZERO"] * (n_planes - len(planes))
        lines += [f"p[{t}] = {v};" for t, v in enumerate(planes)]
        body.append(f"static void g{c}(const W *restrict i, W *restrict p) {{")
        body += ["    " + ln for ln in lines]
        body.append("}")
        calls.append(run(f"g{c}", src, f"cnt + {c * n_planes}", "N_CLASSES * N_PLANES"))
    max_width = max([len(o) for _, _, o in layers[:-1]] + [1])
    head = _STRAIGHT_HEAD % {"gates": sum(len(o) for _, _, o in layers), "bits": word_bits, "word": word,
                             "lanes": lanes, "in_dim": in_dim, "max_width": max_width, "n_classes": n_classes,
                             "n_planes": n_planes, "blocks": blocks, "spread": _SPREAD}
    network = ["static void network(const W *xin, W *b0, W *b1, W *cnt, int nb) {", *calls,
               "    (void)b0; (void)b1;", "}"]
    return "\n".join([head, *body, *network]) + "\n" + _STRAIGHT_DRIVER


# ------------------------------------------------------------------------------------------------
# compiled network
# ------------------------------------------------------------------------------------------------


def _cache_dir() -> Path:
    root = os.environ.get("LIVEPAPERS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "livepapers")
    return Path(root) / "difflogic_kernels"


_RECORD = ".sha256"  # next to each cached library: "<sha256 of its bytes> <size>", written when it was built
_LOADED: dict[str, ctypes.CDLL] = {}  # sha256 -> the library loaded from those bytes in this process


def _record_of(lib_path: Path) -> Path:
    return lib_path.with_name(lib_path.name + _RECORD)


def _verified_bytes(lib_path: Path) -> bytes | None:
    """The cached library's bytes if they still have the size and content hash recorded when it was built."""
    try:
        recorded = _record_of(lib_path).read_text().split()
        data = lib_path.read_bytes()
    except (OSError, UnicodeDecodeError):
        return None
    return data if recorded == [hashlib.sha256(data).hexdigest(), str(len(data))] else None


def _open_private(data: bytes, folder: Path, symbol: str) -> ctypes.CDLL:
    """dlopen a private copy of the library ``data``, removed at once (the mapping outlives the file): nothing written
    to the cache later, in place or not, can change a library this process has mapped (a library truncated under
    its mapping dies of SIGBUS, at the latest when the process exits)."""
    try:
        tmp = tempfile.mkdtemp(dir=folder)
    except OSError:  # a read-only cache folder: the system's temporary folder
        tmp = tempfile.mkdtemp()
    try:
        path = Path(tmp) / "kernel.so"
        path.write_bytes(data)
        lib = ctypes.CDLL(str(path))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    getattr(lib, symbol)  # AttributeError when the entry point is missing
    return lib


def _load_cached(lib_path: Path, symbol: str) -> ctypes.CDLL | None:
    """The verified cache entry, loaded (once per content per process); None if it is missing, corrupt or does not
    load here (another machine's build in a shared cache)."""
    data = _verified_bytes(lib_path)
    if data is None:
        return None
    sha = hashlib.sha256(data).hexdigest()
    if sha not in _LOADED:
        try:
            _LOADED[sha] = _open_private(data, lib_path.parent, symbol)
        except (OSError, AttributeError):
            return None
    return _LOADED[sha]


def _build(compiler: str, flags: list[str], src: str, lib_path: Path, symbol: str) -> ctypes.CDLL:
    """Compile into a private folder, load the result, then publish it and its content record into the cache
    atomically (concurrent workers may build the same kernel)."""
    lib_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=lib_path.parent) as tmp:
        c_file, out = Path(tmp) / "kernel.c", Path(tmp) / "kernel.so"
        c_file.write_text(src)
        res = subprocess.run([compiler, *flags, "-o", str(out), str(c_file)], capture_output=True, text=True,
                             timeout=120)
        if res.returncode != 0:
            raise RuntimeError(res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "failed")
        data = out.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        lib = _open_private(data, Path(tmp), symbol)
        record = Path(tmp) / "record"
        record.write_text(f"{sha} {len(data)}\n")
        os.replace(out, lib_path)
        os.replace(record, _record_of(lib_path))
    _LOADED[sha] = lib
    return lib


_NATIVE: dict[str, str | None] = {}  # compiler path -> its predefined macros for -march=native (None: unsupported)


def native_macros(compiler: str) -> str | None:
    """The compiler's predefined macros when targeting this CPU (``-march=native -dM -E``), or None when it does not
    support that; cached per process."""
    if compiler not in _NATIVE:
        try:
            res = subprocess.run([compiler, "-march=native", "-dM", "-E", "-x", "c", os.devnull], capture_output=True,
                                 text=True, timeout=30)
            _NATIVE[compiler] = res.stdout if res.returncode == 0 and res.stdout else None
        except (OSError, subprocess.SubprocessError):
            _NATIVE[compiler] = None
    return _NATIVE[compiler]


def pick_word_bits(macros: str | None) -> int:
    """The word width the straight-line code uses on this CPU: 256 when it has 256-bit integer vectors (AVX2) or
    128-bit ones the compiler pairs up (NEON, SSE2 is not enough to beat 64-bit words by much), else 64."""
    if macros is None:
        return 64
    defined = {ln.split()[1] for ln in macros.splitlines() if ln.startswith("#define ") and len(ln.split()) > 1}
    return 256 if {"__AVX2__", "__ARM_NEON"} & defined else 64


class CompiledLogicNet:
    """Bit-parallel inference of a trained logic gate network (its argmax gates).

    Args:
        model: a module whose :class:`LogicLayer` s form a chain (in registration order), followed by a
            :class:`GroupSum` giving the number of classes.
        num_bits: bits per word of the straight-line code: 64 (``uint64_t``), 256 (GCC vector extension) or None
            (chosen at :meth:`compile` from what the CPU supports: 256 with AVX2 or NEON, else 64). The generic
            kernel and the numpy backend use 64.
        backend: ``'c'`` (compiled by :meth:`compile`) or ``'numpy'``.
        cpu_compiler: the C compiler to call (``'gcc'``, ``'cc'``, ``'clang'``), found on ``PATH``.
        kernel: ``'straight'`` (one C statement per gate, compiled for this network) or ``'generic'`` (one small
            interpreter of the gate tables, compiled once per machine; the baseline).

    ``net(x_bool (B, in_dim)) -> counts (B, C) int32``; the PyTorch eval-mode scores are ``counts / τ``.
    """

    def __init__(self, model: torch.nn.Module, *, num_bits: int | None = None, backend: str = "c",
                 cpu_compiler: str = "gcc", kernel: str = "straight") -> None:
        if backend not in ("c", "numpy"):
            raise ValueError(f"unknown backend {backend!r}; allowed: 'c', 'numpy'")
        if kernel not in ("straight", "generic"):
            raise ValueError(f"unknown kernel {kernel!r}; allowed: 'straight', 'generic'")
        if num_bits is not None and num_bits not in WORD_BITS:
            raise ValueError(f"num_bits must be 64, 256 or None (auto), got {num_bits}")
        if num_bits == 256 and (backend == "numpy" or kernel == "generic"):
            raise ValueError(f"num_bits=256 needs the straight-line C code (backend='c', kernel='straight'); the "
                             f"{'numpy backend' if backend == 'numpy' else 'generic kernel'} uses 64-bit words")
        layers = [m for m in model.modules() if isinstance(m, LogicLayer)]
        sums = [m for m in model.modules() if isinstance(m, GroupSum)]
        if not layers or len(sums) != 1:
            raise ValueError(f"model must hold LogicLayers and exactly one GroupSum; found {len(layers)} "
                             f"LogicLayers and {len(sums)} GroupSums")
        for prev, nxt in itertools.pairwise(layers):
            if prev.out_dim != nxt.in_dim:
                raise ValueError(f"LogicLayers do not chain: out_dim {prev.out_dim} -> in_dim {nxt.in_dim}")
        self.in_dim = layers[0].in_dim
        self.n_classes = sums[0].k
        if layers[-1].out_dim % self.n_classes:
            raise ValueError(f"last width {layers[-1].out_dim} not divisible by {self.n_classes} classes")
        with torch.no_grad():
            self.layers = [(lay.a_idx.cpu().numpy().astype(np.int32), lay.b_idx.cpu().numpy().astype(np.int32),
                            lay.gate_ids().cpu().numpy().astype(np.uint8)) for lay in layers]
        self.backend = backend
        self.kernel = kernel
        self.num_bits = num_bits
        self.cpu_compiler = cpu_compiler
        self.word_bits: int | None = 64 if kernel == "generic" or backend == "numpy" else num_bits  # set by compile()
        self.compile_seconds = float("nan")  # of the last compile() (0 when the cache had the library)
        self._lib = None
        self._fn = None
        self._tables: tuple | None = None

    # -- structure
    def gate_count(self) -> int:
        return int(sum(len(ops) for _, _, ops in self.layers))

    def prune(self) -> CompiledLogicNet:
        """Drop gates that reach no output (and ignore inputs of constant / one-input gates); in place. The outputs do
        not change; straight-line code compiled before keeps running the unpruned circuit until :meth:`compile` is
        called again (the generic kernel and numpy use the pruned tables at once)."""
        uses_a = np.array([op not in (0, 5, 10, 15) for op in range(16)])  # gates that read A
        uses_b = np.array([op not in (0, 3, 12, 15) for op in range(16)])  # gates that read B
        needed = np.ones(len(self.layers[-1][2]), dtype=bool)
        new_layers = []
        for li in reversed(range(len(self.layers))):
            a, b, ops = self.layers[li]
            keep = np.nonzero(needed)[0]
            a, b, ops = a[keep], b[keep], ops[keep]
            # remap the *next* layer's indices once this layer's kept gates are known
            if new_layers:
                remap = np.full(len(needed), -1, dtype=np.int64)
                remap[keep] = np.arange(len(keep))
                na, nb, nops = new_layers[0]
                new_layers[0] = (remap[na].astype(np.int32), remap[nb].astype(np.int32), nops)
            prev_width = self.in_dim if li == 0 else len(self.layers[li - 1][2])
            if li > 0:
                needed = np.zeros(prev_width, dtype=bool)
                needed[a[uses_a[ops]]] = True
                needed[b[uses_b[ops]]] = True
                # inputs a gate ignores are pointed at 0, a kept wire (or the layer is empty -> keep wire 0)
                if not needed.any():
                    needed[0] = True
                first = int(np.nonzero(needed)[0][0])
                a = np.where(uses_a[ops], a, first).astype(np.int32)
                b = np.where(uses_b[ops], b, first).astype(np.int32)
            new_layers.insert(0, (a, b, ops))
        self.layers = new_layers
        self._tables = None
        return self

    # -- C backend
    def _word_bits(self, macros: str | None) -> int:
        if self.kernel == "generic":
            return 64
        return self.num_bits if self.num_bits is not None else pick_word_bits(macros)

    def get_c_code(self, word_bits: int | None = None) -> str:
        """The C source: the straight-line code of this network (``word_bits`` 64 or 256; default ``num_bits``, or 64
        when that is left to :meth:`compile`), or the generic kernel (the gate tables are passed to it at call time)."""
        if self.kernel == "generic":
            return _C_KERNEL % {"bw": BLOCK_WORDS}
        bits = word_bits or self.num_bits or 64
        return straight_line_source(self.in_dim, self.layers, self.n_classes, word_bits=bits)

    def compile(self, opt_level: int = 1, *, verbose: bool = False) -> CompiledLogicNet:
        """Compile (or reuse from the cache) the C code; falls back to numpy with a warning if that fails.

        The straight-line code's word width is chosen here (``num_bits=None``): 256-bit vectors when the compiler,
        targeting this CPU (``-march=native``), has AVX2 or NEON, else 64-bit words; ``-march=native`` is passed only
        for the vector code and only when the compiler accepts it. A cache entry is reused only if it matches the
        content hash recorded when it was built and loads; otherwise it is rebuilt (one compiler call).
        ``compile_seconds`` records the time taken (0 for a cache hit). ``opt_level``: gcc's ``-O`` level.
        """
        if self.backend != "c":
            return self
        if opt_level not in (0, 1, 2, 3):
            raise ValueError(f"opt_level must be 0..3, got {opt_level}")
        t0 = time.perf_counter()
        compiler = shutil.which(self.cpu_compiler)
        if compiler is None:
            warnings.warn(f"C compiler {self.cpu_compiler!r} not found; using the numpy backend", stacklevel=2)
            self.backend = "numpy"
            return self
        macros = native_macros(compiler) if self.kernel == "straight" else None
        bits = self._word_bits(macros)
        src = self.get_c_code(bits)
        flags = [f"-O{opt_level}", "-shared", "-fPIC", "-std=gnu11", "-fno-strict-aliasing"]
        if bits > 64 and macros is not None:
            flags.append("-march=native")
        symbol = "lp_logic_net" if self.kernel == "straight" else "lp_logic_forward"
        cpu = hashlib.sha256((macros or "").encode()).hexdigest()
        key = hashlib.sha256((src + " ".join(flags) + compiler + platform.machine() + cpu).encode()).hexdigest()[:16]
        lib_path = _cache_dir() / f"logic_{'net' if self.kernel == 'straight' else 'kernel'}_{key}.so"
        # a cache entry is used only if its bytes match the hash recorded at build time and it loads; otherwise
        # (truncated, overwritten, another machine's build in a shared cache) it is rebuilt
        existed = lib_path.exists()
        lib = _load_cached(lib_path, symbol)
        built = lib is None
        if lib is None:
            try:
                lib = _build(compiler, flags, src, lib_path, symbol)
            except (OSError, AttributeError, RuntimeError, subprocess.TimeoutExpired) as e:
                what = (f"the cached logic kernel {lib_path.name} is unusable and rebuilding it with "
                        f"{self.cpu_compiler!r} failed" if existed else
                        f"compiling the logic kernel with {self.cpu_compiler!r} failed")
                warnings.warn(f"{what} ({' '.join(str(e).split())}); using the numpy backend", stacklevel=2)
                self.backend = "numpy"
                return self
            if verbose and existed:
                print(f"logic kernel: rebuilt the unusable cache entry {lib_path}")
        self._lib = lib
        fn = getattr(lib, symbol)
        fn.restype = ctypes.c_int
        if self.kernel == "straight":
            fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
        else:
            fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int32, ctypes.c_int32,
                           ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32,
                           ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32]
        self._fn = fn
        self.word_bits = bits
        self.compile_seconds = time.perf_counter() - t0 if built else 0.0
        if verbose:
            print(f"logic {self.kernel} code, {bits}-bit words: {lib_path} ({self.compile_seconds:.2f} s)")
        return self

    def _get_tables(self) -> tuple:
        if self._tables is None:
            widths = np.array([len(ops) for _, _, ops in self.layers], dtype=np.int32)
            ops = np.ascontiguousarray(np.concatenate([o for _, _, o in self.layers]).astype(np.uint8))
            ai = np.ascontiguousarray(np.concatenate([a for a, _, _ in self.layers]).astype(np.int32))
            bi = np.ascontiguousarray(np.concatenate([b for _, b, _ in self.layers]).astype(np.int32))
            max_width = int(max(widths.max(), self.in_dim))
            self._tables = (widths, ops, ai, bi, max_width)
        return self._tables

    # -- inference
    def forward_packed(self, packed: np.ndarray, batch_size: int) -> np.ndarray:
        """Counts ``(batch_size, C)`` int32 from inputs already packed, ``(in_dim, n_words)`` uint64."""
        packed = np.ascontiguousarray(packed, dtype=np.uint64)
        if packed.ndim != 2 or packed.shape[0] != self.in_dim or packed.shape[1] * 64 < batch_size:
            raise ValueError(f"packed inputs must be (in_dim={self.in_dim}, ≥{-(-batch_size // 64)}) uint64, got "
                             f"{packed.shape}")
        if self.backend == "c" and self._fn is None:
            raise RuntimeError("call .compile() before using the 'c' backend (or pass backend='numpy')")
        if self.backend == "numpy":
            vals = packed
            for a, b, ops in self.layers:
                vals = np_layer(vals, a, b, ops)
            return unpack_counts(vals, batch_size, self.n_classes)
        counts = np.zeros((batch_size, self.n_classes), dtype=np.int32)
        if self.kernel == "straight":
            if self._fn(packed.ctypes.data, packed.shape[1], batch_size, counts.ctypes.data):
                raise MemoryError("the compiled logic net could not allocate its work buffer")
            return counts
        widths, ops, ai, bi, max_width = self._get_tables()
        work = np.empty(2 * max_width * BLOCK_WORDS + 32 * BLOCK_WORDS, dtype=np.uint64)
        self._fn(packed.ctypes.data, packed.shape[1], batch_size, self.in_dim, len(widths), widths.ctypes.data,
                 ops.ctypes.data, ai.ctypes.data, bi.ctypes.data, self.n_classes, counts.ctypes.data,
                 work.ctypes.data, max_width)
        return counts

    def __call__(self, x_bool: np.ndarray | Tensor) -> np.ndarray:
        """``x_bool: (B, in_dim)`` Booleans (or {0,1} values; ``> 0.5`` is 1) -> counts ``(B, C)`` int32."""
        arr = x_bool.detach().cpu().numpy() if isinstance(x_bool, Tensor) else np.asarray(x_bool)
        if arr.ndim != 2 or arr.shape[1] != self.in_dim:
            raise ValueError(f"expected inputs of shape (batch, {self.in_dim}), got {arr.shape}")
        arr = arr if arr.dtype == bool else arr > 0.5
        return self.forward_packed(pack_bits(arr), arr.shape[0])


def throughput(net: CompiledLogicNet, xb: np.ndarray, *, repeats: int) -> dict[str, float]:
    """Samples per CPU second of ``net`` on the Boolean batch ``xb (B, in_dim)``: the best of ``repeats`` timed calls
    after one warm-up, on pre-packed inputs (``samples_per_s``; C backend only, else NaN) and end to end from
    Booleans (``samples_per_s_end_to_end``)."""
    packed = pack_bits(xb)
    net.forward_packed(packed, len(xb))  # warm-up
    best = best_e2e = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        net.forward_packed(packed, len(xb))
        best = min(best, time.process_time() - t)
        t = time.process_time()
        net(xb)
        best_e2e = min(best_e2e, time.process_time() - t)
    return {"samples_per_s": len(xb) / max(best, 1e-9) if net.backend == "c" else float("nan"),
            "samples_per_s_end_to_end": len(xb) / max(best_e2e, 1e-9)}


def compiled_inference_checks(model: torch.nn.Module, x: Tensor, *, tau: float, opt_level: int, bench_batch: int,
                              bench_repeats: int) -> dict[str, float]:
    """R4's compiled inference of a trained ``model`` (its last :class:`GroupSum` with temperature ``tau``) on the
    0/1 inputs ``x (B, in_dim)``: exactness of every backend (straight-line C at the word width chosen for this CPU,
    the generic kernel, numpy) against the eval-mode scores (``compiled_mismatch``: rows that differ, summed over
    the backends), compile time, word width and gate counts (before and after :meth:`CompiledLogicNet.prune`), and
    throughput (:func:`throughput` on ``x`` tiled to ``bench_batch`` rows, for the straight-line code and the generic
    kernel; PyTorch eval mode on 4,096 of them)."""
    check_positive(tau, "tau")
    out: dict[str, float] = {}
    model.eval()
    with torch.no_grad():
        ref = torch.round(model(x) * tau).to(torch.int32).numpy()
    xbool = x.numpy() > 0.5
    net = CompiledLogicNet(model).compile(opt_level=opt_level)
    out["compile_time_s"] = net.compile_seconds if net.backend == "c" else float("nan")
    out["compiled_backend_is_c"] = float(net.backend == "c")
    out["compiled_word_bits"] = float(net.word_bits or 64)
    out["compiled_gates"] = float(net.gate_count())
    generic = CompiledLogicNet(model, kernel="generic").compile(opt_level=2)
    np_net = CompiledLogicNet(model, backend="numpy")
    out["compiled_mismatch"] = float(sum((n(xbool) != ref).any(1).sum() for n in (net, generic, np_net)))
    reps = math.ceil(bench_batch / len(x))
    xb = np.tile(xbool, (reps, 1))[:bench_batch]
    speed = throughput(net, xb, repeats=bench_repeats)
    out["compiled_samples_per_s"] = speed["samples_per_s"]
    out["compiled_samples_per_s_end_to_end"] = speed["samples_per_s_end_to_end"]
    out["compiled_generic_samples_per_s"] = throughput(generic, xb, repeats=bench_repeats)["samples_per_s"]
    t = time.process_time()
    with torch.no_grad():
        model(torch.from_numpy(xb[:4096].astype(np.float32)))
    out["torch_eval_samples_per_s"] = 4096 / max(time.process_time() - t, 1e-9)
    net.prune()
    out["compiled_gates_pruned"] = float(net.gate_count())
    return out
