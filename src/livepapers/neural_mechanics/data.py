"""Offline data: scikit-learn's digits (1797 x 64, 10 classes; ships with scikit-learn) and minibatch orders.

The train/test split is fixed (the same for every seed: a permutation drawn with ``split_seed``); features are
standardized with the training split's mean and standard deviation (constant pixels keep scale 1). Minibatch
order comes from a ``torch.Generator`` or an int seed (one reshuffle per epoch, full batches only), so a seed
fixes it and paired runs see identical batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from ._inputs import as_generator, check_float_dtype, check_int

__all__ = ["Digits", "load_digits_split", "minibatch_indices"]


@dataclass(frozen=True)
class Digits:
    """x_train: (n_train, 64), y_train: (n_train,), x_test: (n_test, 64), y_test: (n_test,)."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


def load_digits_split(
    *, n_train: int = 1500, split_seed: int | torch.Generator = 0, dtype: torch.dtype = torch.float64
) -> Digits:
    """Standardized digits with a fixed train split of ``n_train`` samples (the rest is the test split).

    ``split_seed`` (an int seed or a ``torch.Generator``) draws the split permutation.
    """
    from sklearn.datasets import load_digits

    check_float_dtype(dtype)
    raw = load_digits()
    x = torch.as_tensor(raw.data, dtype=dtype)
    y = torch.as_tensor(raw.target, dtype=torch.long)
    check_int(n_train, "n_train", lo=1)
    if not 0 < n_train < x.shape[0]:
        raise ValueError(f"n_train must be in (0, {x.shape[0]}), got {n_train}")
    perm = torch.randperm(x.shape[0], generator=as_generator(split_seed, "split_seed"))
    tr, te = perm[:n_train], perm[n_train:]
    mean = x[tr].mean(0)
    std = x[tr].std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    x = (x - mean) / std
    return Digits(x_train=x[tr], y_train=y[tr], x_test=x[te], y_test=y[te])


def minibatch_indices(
    n: int, *, batch_size: int, n_steps: int, generator: torch.Generator | int
) -> Iterator[Tensor]:
    """Yield ``n_steps`` index tensors of shape (batch_size,): epochs of a fresh permutation, remainder dropped.

    ``batch_size >= n`` yields the full index range every step (full-batch gradient descent). ``generator``: a
    ``torch.Generator`` or an int seed.
    """
    check_int(n, "n", lo=1)
    check_int(batch_size, "batch_size", lo=1)
    check_int(n_steps, "n_steps", lo=0)
    return _minibatches(n, batch_size, n_steps, as_generator(generator))


def _minibatches(n: int, batch_size: int, n_steps: int, generator: torch.Generator) -> Iterator[Tensor]:
    if batch_size >= n:
        full = torch.arange(n)
        for _ in range(n_steps):
            yield full
        return
    per_epoch = n // batch_size
    done = 0
    while done < n_steps:
        perm = torch.randperm(n, generator=generator)
        for b in range(per_epoch):
            if done == n_steps:
                return
            yield perm[b * batch_size : (b + 1) * batch_size]
            done += 1
