"""Argument checks of the public API: one clear ``ValueError`` naming the argument, never a raw torch/numpy error.

Seeds: a function that draws random numbers takes its ``generator`` (or ``seed``) as an ``int`` or a
``torch.Generator`` (:func:`as_generator`): a generator is used as is (its state advances), an int ``s`` means
``torch.Generator().manual_seed(s)``.
"""

from __future__ import annotations

from livepapers.core.inputs import as_generator, as_seed, check_bounds, check_finite, check_positive  # noqa: F401 (this package's checks, shared)











