"""Compiled, bit-parallel inference of a discretised logic gate network (NeurIPS 2022, §"compiled inference").

After training every neuron is its argmax gate, so the network is a Boolean circuit. Samples are packed 64 to a
machine word (bit ``s`` of word ``w`` = sample ``64·w + s``), each gate becomes one bitwise expression on whole
words, and a class score is the number of ones in its output group, counted with bit-sliced adders.

Backends:
- ``'c'``: one small generic C kernel (loops over gates outside and over a block of words inside, so the opcode
  switch is amortised), generated here, compiled with the system compiler on :meth:`CompiledLogicNet.compile` into
  a per-user cache folder (never into the source tree, never at import) and loaded with ``ctypes``. The gate
  tables are passed as arrays, so compile time does not grow with the network (the official code emits one C line
  per gate: minutes at -O1 for 48K gates). A cached library is used only when its bytes match the SHA-256 recorded
  when it was built and it loads; a truncated or overwritten entry is rebuilt (numpy, with a warning, if that fails).
- ``'numpy'``: the same bit-parallel algorithm with numpy ``uint64`` arrays (fallback when no compiler works).

This is the only module of the package that writes files or runs a subprocess.
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

__all__ = ["CompiledLogicNet", "PackBitsTensor", "compiled_inference_checks", "pack_bits", "throughput"]

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
# packing
# ------------------------------------------------------------------------------------------------


def pack_bits(x_bool: np.ndarray) -> np.ndarray:
    """``(B, D)`` Booleans -> ``(D, ⌈B/64⌉)`` uint64, bit ``s`` of word ``w`` holding sample ``64·w + s``."""
    x = np.asarray(x_bool)
    if x.ndim != 2:
        raise ValueError(f"expected a (batch, features) array, got shape {x.shape}")
    B, D = x.shape
    n_words = max(1, -(-B // 64))
    padded = np.zeros((n_words * 64, D), dtype=np.uint8)
    padded[:B] = x != 0
    bytes_ = np.packbits(padded.T.reshape(D, n_words, 64), axis=-1, bitorder="little")  # (D, n_words, 8)
    return np.ascontiguousarray(bytes_).view("<u8").reshape(D, n_words)


def _unpack_counts(words: np.ndarray, batch: int, n_classes: int) -> np.ndarray:
    """``words: (k, n_words)`` output bits -> per-sample counts of each of ``n_classes`` groups, ``(batch, C)``."""
    k, n_words = words.shape
    bits = np.unpackbits(np.ascontiguousarray(words).view(np.uint8).reshape(k, n_words, 8), axis=-1,
                         bitorder="little").reshape(k, n_words * 64)[:, :batch]
    return bits.reshape(n_classes, k // n_classes, batch).sum(1, dtype=np.int32).T.copy()


_NP_OPS = (
    lambda a, b: np.zeros_like(a), lambda a, b: a & b, lambda a, b: a & ~b, lambda a, b: a.copy(),
    lambda a, b: ~a & b, lambda a, b: b.copy(), lambda a, b: a ^ b, lambda a, b: a | b,
    lambda a, b: ~(a | b), lambda a, b: ~(a ^ b), lambda a, b: ~b, lambda a, b: a | ~b,
    lambda a, b: ~a, lambda a, b: ~a | b, lambda a, b: ~(a & b), lambda a, b: ~np.zeros_like(a),
)


def _np_layer(vals: np.ndarray, a_idx: np.ndarray, b_idx: np.ndarray, ops: np.ndarray) -> np.ndarray:
    """One layer on packed words: ``vals: (i, n_words)`` -> ``(k, n_words)``, gates grouped by opcode."""
    out = np.empty((len(ops), vals.shape[1]), dtype=vals.dtype)
    for op in np.unique(ops):
        sel = np.nonzero(ops == op)[0]
        out[sel] = _NP_OPS[int(op)](vals[a_idx[sel]], vals[b_idx[sel]])
    return out


class PackBitsTensor:
    """A batch of Boolean inputs packed 64 samples per ``int64`` word, ``t: (features, n_words)`` (CPU).

    Feed it to a model in eval mode (``model(PackBitsTensor(x))``): each :class:`LogicLayer` runs its argmax gates
    bitwise and :class:`GroupSum` returns ``counts / τ`` of shape ``(batch, C)``.
    """

    def __init__(self, x: Tensor | np.ndarray, *, batch_size: int | None = None, packed: bool = False) -> None:
        if packed:
            if batch_size is None:
                raise ValueError("packed=True needs batch_size")
            self.t = torch.as_tensor(np.asarray(x)).view(torch.int64) if isinstance(x, np.ndarray) else x
            self.batch_size = int(batch_size)
            return
        arr = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
        arr = arr > 0.5 if arr.dtype != bool else arr
        self.batch_size = arr.shape[0]
        self.t = torch.from_numpy(pack_bits(arr).view(np.int64))

    def apply_layer(self, a_idx: Tensor, b_idx: Tensor, ops: Tensor) -> PackBitsTensor:
        out = _np_layer(self.t.numpy().view(np.uint64), a_idx.cpu().numpy(), b_idx.cpu().numpy(), ops.cpu().numpy())
        return PackBitsTensor(out.view(np.int64), batch_size=self.batch_size, packed=True)

    def group_sum(self, k: int) -> Tensor:
        """Per-sample number of ones in each of ``k`` contiguous groups, ``(batch, k)`` int32."""
        if self.t.shape[0] % k:
            raise ValueError(f"GroupSum(k={k}) needs a width divisible by k, got {self.t.shape[0]}")
        return torch.from_numpy(_unpack_counts(self.t.numpy().view(np.uint64), self.batch_size, k))

    def unpack(self) -> Tensor:
        """``(batch, features)`` bool."""
        words = self.t.numpy().view(np.uint64)
        k, n_words = words.shape
        bits = np.unpackbits(np.ascontiguousarray(words).view(np.uint8).reshape(k, n_words, 8), axis=-1,
                             bitorder="little").reshape(k, n_words * 64)
        return torch.from_numpy(bits[:, : self.batch_size].T.astype(bool))


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


def _open_private(data: bytes, folder: Path) -> ctypes.CDLL:
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
    lib.lp_logic_forward  # noqa: B018  (AttributeError when the symbol is missing)
    return lib


def _load_cached(lib_path: Path) -> ctypes.CDLL | None:
    """The verified cache entry, loaded (once per content per process); None if it is missing, corrupt or does not
    load here (another machine's build in a shared cache)."""
    data = _verified_bytes(lib_path)
    if data is None:
        return None
    sha = hashlib.sha256(data).hexdigest()
    if sha not in _LOADED:
        try:
            _LOADED[sha] = _open_private(data, lib_path.parent)
        except (OSError, AttributeError):
            return None
    return _LOADED[sha]


def _build(compiler: str, flags: list[str], src: str, lib_path: Path) -> ctypes.CDLL:
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
        lib = _open_private(data, Path(tmp))
        record = Path(tmp) / "record"
        record.write_text(f"{sha} {len(data)}\n")
        os.replace(out, lib_path)
        os.replace(record, _record_of(lib_path))
    _LOADED[sha] = lib
    return lib


class CompiledLogicNet:
    """Bit-parallel inference of a trained logic gate network (its argmax gates).

    Args:
        model: a module whose :class:`LogicLayer` s form a chain (in registration order), followed by a
            :class:`GroupSum` giving the number of classes.
        num_bits: samples per word; only 64 is supported.
        backend: ``'c'`` (generic kernel compiled by :meth:`compile`) or ``'numpy'``.
        cpu_compiler: the C compiler to call (``'gcc'``, ``'cc'``, ``'clang'``).

    ``net(x_bool (B, in_dim)) -> counts (B, C) int32``; the PyTorch eval-mode scores are ``counts / τ``.
    """

    def __init__(self, model: torch.nn.Module, *, num_bits: int = 64, backend: str = "c",
                 cpu_compiler: str = "gcc") -> None:
        from .logic import GroupSum, LogicLayer

        if num_bits != 64:
            raise ValueError(f"num_bits must be 64 (one uint64 word per 64 samples), got {num_bits}")
        if backend not in ("c", "numpy"):
            raise ValueError(f"unknown backend {backend!r}; allowed: 'c', 'numpy'")
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
        self.cpu_compiler = cpu_compiler
        self._lib = None
        self._fn = None
        self._tables: tuple | None = None

    # -- structure
    def gate_count(self) -> int:
        return int(sum(len(ops) for _, _, ops in self.layers))

    def prune(self) -> CompiledLogicNet:
        """Drop gates that reach no output (and ignore inputs of constant / one-input gates); in place."""
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
    def get_c_code(self) -> str:
        """The C source of the generic kernel (gate tables are passed to it as arrays at call time)."""
        return _C_KERNEL % {"bw": BLOCK_WORDS}

    def compile(self, opt_level: int = 1, *, verbose: bool = False) -> CompiledLogicNet:
        """Compile (or reuse from the cache) the C kernel; falls back to numpy with a warning if that fails.

        A cache entry is reused only if it matches the content hash recorded when it was built and loads; otherwise
        it is rebuilt in place (one compiler call).
        """
        if self.backend != "c":
            return self
        if opt_level not in (0, 1, 2, 3):
            raise ValueError(f"opt_level must be 0..3, got {opt_level}")
        compiler = shutil.which(self.cpu_compiler)
        if compiler is None:
            warnings.warn(f"C compiler {self.cpu_compiler!r} not found; using the numpy backend", stacklevel=2)
            self.backend = "numpy"
            return self
        src = self.get_c_code()
        flags = [f"-O{opt_level}", "-shared", "-fPIC", "-std=c99"]
        key = hashlib.sha256((src + " ".join(flags) + compiler + platform.machine()).encode()).hexdigest()[:16]
        lib_path = _cache_dir() / f"logic_kernel_{key}.so"
        # a cache entry is used only if its bytes match the hash recorded at build time and it loads; otherwise
        # (truncated, overwritten, another machine's build in a shared cache) it is rebuilt
        existed = lib_path.exists()
        lib = _load_cached(lib_path)
        if lib is None:
            try:
                lib = _build(compiler, flags, src, lib_path)
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
        fn = self._lib.lp_logic_forward
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int32, ctypes.c_int32,
                       ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32,
                       ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32]
        self._fn = fn
        if verbose:
            print(f"logic kernel: {lib_path}")
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
                vals = _np_layer(vals, a, b, ops)
            return _unpack_counts(vals, batch_size, self.n_classes)
        widths, ops, ai, bi, max_width = self._get_tables()
        counts = np.zeros((batch_size, self.n_classes), dtype=np.int32)
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
    0/1 inputs ``x (B, in_dim)``: exactness of both backends against the eval-mode scores (``compiled_mismatch``:
    rows that differ), compile time and gate counts (before and after :meth:`CompiledLogicNet.prune`), and
    throughput (:func:`throughput` on ``x`` tiled to ``bench_batch`` rows; PyTorch eval mode on 4,096 of them)."""
    check_positive(tau, "tau")
    out: dict[str, float] = {}
    model.eval()
    with torch.no_grad():
        ref = torch.round(model(x) * tau).to(torch.int32).numpy()
    net = CompiledLogicNet(model)
    tc = time.perf_counter()
    net.compile(opt_level=opt_level)
    out["compile_time_s"] = time.perf_counter() - tc
    out["compiled_backend_is_c"] = float(net.backend == "c")
    out["compiled_gates"] = float(net.gate_count())
    counts = net(x.numpy() > 0.5)
    np_net = CompiledLogicNet(model, backend="numpy")
    out["compiled_mismatch"] = float((counts != ref).any(1).sum() + (np_net(x.numpy() > 0.5) != ref).any(1).sum())
    reps = math.ceil(bench_batch / len(x))
    xb = np.tile(x.numpy() > 0.5, (reps, 1))[:bench_batch]
    speed = throughput(net, xb, repeats=bench_repeats)
    out["compiled_samples_per_s"] = speed["samples_per_s"]
    out["compiled_samples_per_s_end_to_end"] = speed["samples_per_s_end_to_end"]
    t = time.process_time()
    with torch.no_grad():
        model(torch.from_numpy(xb[:4096].astype(np.float32)))
    out["torch_eval_samples_per_s"] = 4096 / max(time.process_time() - t, 1e-9)
    net.prune()
    out["compiled_gates_pruned"] = float(net.gate_count())
    return out
