"""Argument checks every paper's public API shares: one clear ``ValueError`` naming the argument.

Seeds: a function that draws random numbers takes its ``generator`` (or ``seed``) as an ``int`` or a
``torch.Generator`` (:func:`as_generator`): a generator is used as is (its state advances), an int ``s`` means
``torch.Generator().manual_seed(s)``. Paper-specific checks (image shapes, token ids) stay in the paper's
``_inputs.py``, which imports these.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch


def as_generator(seed: Any, name: str = "generator") -> torch.Generator:
    """``seed`` as a ``torch.Generator``: a generator is returned unchanged, an int seeds a new CPU generator."""
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return torch.Generator().manual_seed(int(seed))
    raise ValueError(f"{name} must be an int seed or a torch.Generator, got {type(seed).__name__}")


def as_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` as an int for ``torch.manual_seed``: an int is returned, a ``torch.Generator`` supplies one draw."""
    if isinstance(seed, torch.Generator):
        return int(torch.randint(0, 2**62, (1,), generator=seed))
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        return int(seed)
    raise ValueError(f"{name} must be an int seed or a torch.Generator, got {type(seed).__name__}")


def _real(value: Any, name: str) -> float:
    if isinstance(value, (bool, str, bytes)) or value is None:
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be a number, got {type(value).__name__}") from None


def check_finite(value: Any, name: str) -> float:
    """``value`` as a finite float (NaN and ±inf refused)."""
    v = _real(value, name)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return v


def check_positive(value: Any, name: str) -> float:
    """``value`` as a finite float > 0 (temperatures, steepnesses, scales, learning rates)."""
    v = _real(value, name)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def check_bounds(lo: Any, hi: Any, lo_name: str, hi_name: str) -> None:
    """``lo <= hi`` (a reversed pair is refused, naming both)."""
    if lo > hi:
        raise ValueError(f"{lo_name} ({lo}) must be <= {hi_name} ({hi})")


__all__ = ["as_generator", "as_seed", "check_bounds", "check_finite", "check_positive"]
