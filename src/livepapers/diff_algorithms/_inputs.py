"""Argument checks of the public API: one clear ``ValueError`` naming the argument, never a raw torch/numpy error.

Seeds: a function that draws random numbers takes its ``generator`` (or ``seed``) as an ``int`` or a
``torch.Generator`` (:func:`as_generator`): a generator is used as is (its state advances), an int ``s`` means
``torch.Generator().manual_seed(s)``.
"""

from __future__ import annotations

import math

from livepapers.core.config import ConfigError
from livepapers.core.inputs import as_generator, as_seed, check_bounds, check_finite, check_positive  # noqa: F401 (this package's checks, shared)


def check_config_positive(cfg: object, prefix: str, names: tuple[str, ...]) -> None:
    """Refuse a non-finite or non-positive value of the fields ``names`` (numbers or tuples of numbers) when the
    config is built, so that ``--set`` is refused before a run folder exists."""
    for name in names:
        v = getattr(cfg, name)
        if isinstance(v, tuple):
            if not v or not all(math.isfinite(x) and x > 0 for x in v):
                raise ConfigError(f"{prefix}.{name} must be finite numbers > 0, got {v}")
        elif not (math.isfinite(v) and v > 0):
            raise ConfigError(f"{prefix}.{name} must be a finite number > 0, got {v}")
