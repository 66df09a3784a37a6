"""Argument checks of the public API: one clear ``ValueError`` naming the argument, never a raw torch error.

The checks on a forward pass read shapes and dtypes only; token inputs add one reduction whose result is fetched
together with the padding test the encoder needs anyway (one device sync, as before).

Seeds: a function that draws random numbers takes its ``generator`` as an ``int`` seed or a ``torch.Generator``
(:func:`as_generator`): a generator is used as is (its state advances), an int ``s`` means
``torch.Generator().manual_seed(s)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from livepapers.core.inputs import as_generator, as_seed, check_positive  # noqa: F401 (this package's checks, shared)


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def check_float(x: Tensor, dtype: torch.dtype, name: str = "x") -> None:
    """``x`` is floating and of the module's ``dtype`` (any floating dtype under ``torch.autocast``)."""
    if not x.is_floating_point() or (x.dtype != dtype and not torch.is_autocast_enabled(x.device.type)):
        hint = (f" (convert the input with .to(torch.{_name(dtype)}) or the module with .to(torch.{_name(x.dtype)}))"
                if x.is_floating_point() else "")
        raise ValueError(f"{name}: expected a floating tensor of the module's dtype ({_name(dtype)}); got "
                         f"{_name(x.dtype)}{hint}")


def check_not_empty(x: Tensor, name: str = "x", *, sequence: bool = True) -> None:
    """A batch of at least one sequence (``x.shape[0]``) of length at least one (``x.shape[1]``, if ``sequence``)."""
    if x.shape[0] == 0:
        raise ValueError(f"{name}: empty batch (0 sequences); pass at least one")
    if sequence and x.shape[1] == 0:
        raise ValueError(f"{name}: empty sequence (length 0); pass at least one position")


def check_token_dtype(x: Tensor, vocab_size: int, name: str = "x") -> None:
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"{name}: expected integer token ids (torch.long) for vocab_size={vocab_size}; got "
                         f"{_name(x.dtype)}")


def token_padding_mask(x: Tensor, vocab_size: int, padding_idx: int, name: str = "x") -> Tensor | None:
    """Refuse token ids outside ``[0, vocab_size)``; the padding mask ``x == padding_idx``, or None without padding."""
    mask = x.eq(padding_idx)
    lo, hi = torch.aminmax(x)
    lo, hi, any_pad = torch.stack([lo, hi, mask.any().to(lo.dtype)]).tolist()  # one sync
    if lo < 0 or hi >= vocab_size:
        raise ValueError(f"{name}: token ids must be in [0, {vocab_size}) (vocab_size={vocab_size}); got ids from "
                         f"{lo} to {hi}")
    return mask if any_pad else None
