"""The analytic targets of the reproduction (G1–G4, the uniform law of E9); random ones take a generator."""

from __future__ import annotations

import math

import torch

from .targets import Gaussian, GaussianMixture, UniformInterval


def g1_gaussian(d: int = 1, mu: float = 0.0, s2: float = 1.0) -> Gaussian:
    """G1: ``N(mu 1, s2 I_d)``."""
    return Gaussian(torch.full((d,), float(mu), dtype=torch.float64), float(s2))


def g2_bimodal(sep: float = 4.0, std: float = 0.5, w_right: float = 0.8) -> GaussianMixture:
    """G2: ``0.2 N(-4, 0.5^2) + 0.8 N(4, 0.5^2)`` (1-D; ``sep`` = distance of each mode from 0)."""
    return GaussianMixture([1 - w_right, w_right], [[-sep], [sep]], [std ** 2, std ** 2])


def g3_ring(k: int = 8, radius: float = 4.0, std: float = 0.3) -> GaussianMixture:
    """G3: ring of ``k`` equal isotropic Gaussians (2-D)."""
    ang = 2 * math.pi * torch.arange(k, dtype=torch.float64) / k
    means = radius * torch.stack([torch.cos(ang), torch.sin(ang)], 1)
    return GaussianMixture(torch.ones(k), means, torch.full((k,), std ** 2))


def g4_hypercube(d: int, generator: torch.Generator, std: float = 0.5, norm: float = 3.0) -> GaussianMixture:
    """G4: 4 equal isotropic Gaussians (std 0.5) with means ``3 sigma_k / sqrt(d)``, ``sigma_k in {+-1}^d`` drawn
    from ``generator`` (so ``||mu_k|| = 3``)."""
    signs = torch.randint(0, 2, (4, d), generator=generator).to(torch.float64) * 2 - 1
    return GaussianMixture(torch.ones(4), norm * signs / math.sqrt(d), torch.full((4,), std ** 2))


def uniform_interval(a: float = -1.0, b: float = 1.0) -> UniformInterval:
    """E9's target: uniform on ``[a, b]`` (no smoothness)."""
    return UniformInterval(a, b)
