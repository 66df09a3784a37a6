r"""The three toy models of the offline reproduction, as ``nn.Sequential`` chains (float64 by default).

* ``mlp_relu``: 64 -> 128 -> ReLU -> 128 -> ReLU -> 10 (256 rescale + 129 translation groups).
* ``mlp_bn``: 64 -> 128 -> BN -> ReLU -> 128 -> BN -> ReLU -> 10 (256 scale + 256 rescale + 129 translation).
* ``cnn_bn``: 1x8x8 -> conv3x3(16) -> BN -> ReLU -> conv3x3(32) -> BN -> ReLU -> global avg-pool -> linear(10)
  (48 scale + 48 rescale + 33 translation), a miniature of VGG's conv blocks.

Every BatchNorm uses ``bn_eps`` (default 1e-30): PyTorch refuses $\epsilon = 0$ in train mode, and $\epsilon$
breaks the scale symmetry at relative order $\epsilon / \sigma^2$ (1e-5 with the default eps). Parameters are drawn
from the given generator with PyTorch's default bounds ($U(-1/\sqrt{n_{in}}, 1/\sqrt{n_{in}})$, $n_{in}$ the fan-in,
for weights and biases; BatchNorm $\gamma = 1$, $\beta = 0$), so a seed fixes the initialization without touching
the global RNG.
``generator`` is a ``torch.Generator`` or an int seed.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._inputs import as_generator, check_float_dtype

__all__ = ["MODELS", "cnn_bn", "make_model", "mlp_bn", "mlp_relu"]


def _init_(model: nn.Module, generator: torch.Generator) -> nn.Module:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in)
                m.weight.copy_(torch.empty_like(m.weight).uniform_(-bound, bound, generator=generator))
                if m.bias is not None:
                    m.bias.copy_(torch.empty_like(m.bias).uniform_(-bound, bound, generator=generator))
    return model


def mlp_relu(
    *, generator: torch.Generator | int, dim_in: int = 64, width: int = 128, num_classes: int = 10,
    dtype: torch.dtype = torch.float64,
) -> nn.Sequential:
    """64 -> width -> ReLU -> width -> ReLU -> num_classes (input x: (b, dim_in))."""
    generator = as_generator(generator)
    check_float_dtype(dtype)
    model = nn.Sequential(
        nn.Linear(dim_in, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, num_classes)
    ).to(dtype)
    return _init_(model, generator)


def mlp_bn(
    *, generator: torch.Generator | int, dim_in: int = 64, width: int = 128, num_classes: int = 10,
    bn_eps: float = 1e-30, dtype: torch.dtype = torch.float64,
) -> nn.Sequential:
    """64 -> width -> BN -> ReLU -> width -> BN -> ReLU -> num_classes (input x: (b, dim_in))."""
    generator = as_generator(generator)
    check_float_dtype(dtype)
    model = nn.Sequential(
        nn.Linear(dim_in, width), nn.BatchNorm1d(width, eps=bn_eps), nn.ReLU(),
        nn.Linear(width, width), nn.BatchNorm1d(width, eps=bn_eps), nn.ReLU(),
        nn.Linear(width, num_classes),
    ).to(dtype)
    return _init_(model, generator)


def cnn_bn(
    *, generator: torch.Generator | int, side: int = 8, channels: tuple[int, int] = (16, 32), num_classes: int = 10,
    bn_eps: float = 1e-30, dtype: torch.dtype = torch.float64,
) -> nn.Sequential:
    """(b, side*side) -> 1 x side x side -> conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> ReLU -> avg-pool -> linear."""
    generator = as_generator(generator)
    check_float_dtype(dtype)
    c1, c2 = channels
    model = nn.Sequential(
        nn.Unflatten(1, (1, side, side)),
        nn.Conv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1, eps=bn_eps), nn.ReLU(),
        nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2, eps=bn_eps), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(c2, num_classes),
    ).to(dtype)
    return _init_(model, generator)


MODELS = {"mlp_relu": mlp_relu, "mlp_bn": mlp_bn, "cnn_bn": cnn_bn}


def make_model(name: str, *, generator: torch.Generator | int, bn_eps: float = 1e-30,
               dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """Build one of ``MODELS`` by name ("mlp_relu", "mlp_bn", "cnn_bn")."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}")
    generator = as_generator(generator)
    if name == "mlp_relu":
        return mlp_relu(generator=generator, dtype=dtype)
    return MODELS[name](generator=generator, bn_eps=bn_eps, dtype=dtype)
