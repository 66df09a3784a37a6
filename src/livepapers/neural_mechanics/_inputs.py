"""Argument checks shared by the public API: one clear ``ValueError`` naming the argument, never a raw torch error.

Seeds: every function that draws random numbers takes ``generator`` as an ``int`` seed or a ``torch.Generator``
(:func:`as_generator`); a given generator is used as is, an int ``s`` means ``torch.Generator().manual_seed(s)``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from livepapers.core.inputs import as_generator  # noqa: F401 (this package's checks, shared)


def check_float_dtype(dtype: Any, name: str = "dtype") -> torch.dtype:
    """A floating-point ``torch.dtype`` (float64 is what the exact checks need)."""
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"{name} must be a floating-point torch.dtype (e.g. torch.float64), got {dtype}")
    return dtype


def check_real(value: Any, name: str) -> None:
    """``value`` is a real number (int, float, numpy or 0-dim tensor scalar), not a string, None or a bool."""
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise ValueError(f"{name} must be a real number, got {value!r}")
    if isinstance(value, Tensor) and value.numel() == 1 and not value.is_complex():
        return
    if not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {type(value).__name__}")


def check_int(value: Any, name: str, *, lo: int) -> int:
    """``value`` is an integer >= ``lo`` (a float such as 2.5 is refused, not floored)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < lo:
        raise ValueError(f"{name} must be >= {lo} (an integer), got {value!r}")
    return int(value)


def as_float_array(x: Any, name: str) -> np.ndarray:
    """``x`` (numpy array, nested list or torch tensor on any device) as a float64 numpy array."""
    if isinstance(x, Tensor):
        x = x.detach().cpu()
        if x.is_complex():
            raise ValueError(f"{name} must be real, got a {x.dtype} tensor")
        x = x.numpy()
    if np.iscomplexobj(x):
        raise ValueError(f"{name} must be real, got complex values")
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of real numbers, got {type(x).__name__}") from None


def check_input_matches(model: nn.Module, x: Any, name: str) -> None:
    """``x`` is a tensor with the dtype and device of the model's floating-point parameters."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    p = next((p for p in model.parameters() if p.is_floating_point()), None)
    if p is None:
        return
    if x.dtype != p.dtype:
        raise ValueError(f"{name} has dtype {x.dtype}, the model's parameters {p.dtype}: cast one of them "
                         f"(e.g. x.to({p.dtype}))")
    if x.device != p.device:
        raise ValueError(f"{name} is on {x.device}, the model's parameters on {p.device}")

