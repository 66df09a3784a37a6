"""Bit-parallel evaluation of discretised logic gate networks with numpy (NeurIPS 2022, "compiled inference").

Samples are packed 64 to a ``uint64`` word: bit ``s`` of word ``w`` holds sample ``64·w + s``, so one bitwise
operation evaluates a gate on 64 samples at once, and a class score is the number of ones in its output group.
This module holds the packing, the 16 gates as numpy word operations, and :class:`PackBitsTensor`, which lets an
eval-mode PyTorch model run on packed bits. It imports only numpy and torch (no files, no subprocesses); the
compiled C backends live in :mod:`.compiled`, which builds on this module and on :mod:`.logic`.

Shapes: ``B`` samples, ``D`` features, ``k`` gates of a layer, ``n_words = ⌈B/64⌉``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["GATE_WORD_OPS", "PackBitsTensor", "np_layer", "pack_bits", "unpack_counts"]


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


def unpack_counts(words: np.ndarray, batch: int, n_classes: int) -> np.ndarray:
    """``words: (k, n_words)`` output bits -> per-sample counts of each of ``n_classes`` groups, ``(batch, C)``."""
    k, n_words = words.shape
    bits = np.unpackbits(np.ascontiguousarray(words).view(np.uint8).reshape(k, n_words, 8), axis=-1,
                         bitorder="little").reshape(k, n_words * 64)[:, :batch]
    return bits.reshape(n_classes, k // n_classes, batch).sum(1, dtype=np.int32).T.copy()


GATE_WORD_OPS = (
    lambda a, b: np.zeros_like(a), lambda a, b: a & b, lambda a, b: a & ~b, lambda a, b: a.copy(),
    lambda a, b: ~a & b, lambda a, b: b.copy(), lambda a, b: a ^ b, lambda a, b: a | b,
    lambda a, b: ~(a | b), lambda a, b: ~(a ^ b), lambda a, b: ~b, lambda a, b: a | ~b,
    lambda a, b: ~a, lambda a, b: ~a | b, lambda a, b: ~(a & b), lambda a, b: ~np.zeros_like(a),
)
"""The 16 gates (official id order) as operations on packed words; the C backends emit the same expressions."""


def np_layer(vals: np.ndarray, a_idx: np.ndarray, b_idx: np.ndarray, ops: np.ndarray) -> np.ndarray:
    """One layer on packed words: ``vals: (i, n_words)`` -> ``(k, n_words)``, gates grouped by opcode."""
    out = np.empty((len(ops), vals.shape[1]), dtype=vals.dtype)
    for op in np.unique(ops):
        sel = np.nonzero(ops == op)[0]
        out[sel] = GATE_WORD_OPS[int(op)](vals[a_idx[sel]], vals[b_idx[sel]])
    return out


class PackBitsTensor:
    """A batch of Boolean inputs packed 64 samples per ``int64`` word, ``t: (features, n_words)`` (CPU).

    Feed it to a model in eval mode (``model(PackBitsTensor(x))``): each ``LogicLayer`` runs its argmax gates
    bitwise and ``GroupSum`` returns ``counts / τ`` of shape ``(batch, C)``.
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
        out = np_layer(self.t.numpy().view(np.uint64), a_idx.cpu().numpy(), b_idx.cpu().numpy(), ops.cpu().numpy())
        return PackBitsTensor(out.view(np.int64), batch_size=self.batch_size, packed=True)

    def group_sum(self, k: int) -> Tensor:
        """Per-sample number of ones in each of ``k`` contiguous groups, ``(batch, k)`` int32."""
        if self.t.shape[0] % k:
            raise ValueError(f"GroupSum(k={k}) needs a width divisible by k, got {self.t.shape[0]}")
        return torch.from_numpy(unpack_counts(self.t.numpy().view(np.uint64), self.batch_size, k))

    def unpack(self) -> Tensor:
        """``(batch, features)`` bool."""
        words = self.t.numpy().view(np.uint64)
        k, n_words = words.shape
        bits = np.unpackbits(np.ascontiguousarray(words).view(np.uint8).reshape(k, n_words, 8), axis=-1,
                             bitorder="little").reshape(k, n_words * 64)
        return torch.from_numpy(bits[:, : self.batch_size].T.astype(bool))
