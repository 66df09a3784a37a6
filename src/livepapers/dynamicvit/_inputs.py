"""Argument checks of the public API: one clear ``ValueError`` naming the argument, never a raw torch error.

Seeds: a function that draws random numbers takes its ``generator`` as an ``int`` seed or a ``torch.Generator``
(:func:`as_generator`): a generator is used as is (its state advances), an int ``s`` means
``torch.Generator().manual_seed(s)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from livepapers.core.inputs import as_generator, check_positive  # noqa: F401 (this package's checks, shared)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def check_images(x: Any, *, in_chans: int, img_size: int, dtype: torch.dtype) -> None:
    """``x`` is a non-empty (b, in_chans, img_size, img_size) floating tensor of the model's ``dtype``.

    Only shapes and dtypes are read (no device sync). Under ``torch.autocast`` another floating dtype is accepted.
    """
    if not isinstance(x, Tensor):
        raise ValueError(f"x: expected a tensor of images, got {type(x).__name__}")
    want = f"(b, {in_chans}, {img_size}, {img_size})"
    if x.dim() != 4:
        raise ValueError(f"x: expected a batch of images {want}, got shape {tuple(x.shape)}")
    if not x.is_floating_point() or (x.dtype != dtype and not torch.is_autocast_enabled(x.device.type)):
        hint = ("convert with x.float() / 255 and normalise as in training" if not x.is_floating_point() else
                f"convert with x.to(torch.{_dtype_name(dtype)}) or the model with .to(torch.{_dtype_name(x.dtype)})")
        raise ValueError(f"x: expected a floating tensor of the model's dtype ({_dtype_name(dtype)}), normalised; "
                         f"got {_dtype_name(x.dtype)} ({hint})")
    if x.shape[0] == 0:
        raise ValueError(f"x: empty batch (0 images); expected {want} with b >= 1")
    if x.shape[1] != in_chans:
        raise ValueError(f"x: expected {in_chans} channels (in_chans), got {x.shape[1]} (shape {tuple(x.shape)})")
    if tuple(x.shape[-2:]) != (img_size, img_size):
        raise ValueError(f"x: expected {img_size}×{img_size} images (img_size), got {x.shape[-2]}×{x.shape[-1]}")
