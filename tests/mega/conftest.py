"""Shared helpers for the Mega tests: one torch thread, a float64 EMA with non-trivial random parameters."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def reference_ema(x: torch.Tensor, delta, alpha, beta, gamma) -> torch.Tensor:
    """The paper's recurrence, step by step: h_t = α β x_t + (1 − α δ) h_{t−1}, y_t = sqrt(1/h) ηᵀ h_t.

    x: (b, n, d); raw official parameters (d, h, 1) / (d, h). Returns (b, n, d) (no ω, no SiLU).
    """
    b, n, d = x.shape
    ndim = gamma.shape[-1]
    a = torch.sigmoid(delta)[..., 0]  # paper α = sigmoid(raw delta)
    dd = torch.sigmoid(alpha)[..., 0]  # paper δ = sigmoid(raw alpha)
    h = torch.zeros(b, d, ndim, dtype=x.dtype)
    ys = []
    for t in range(n):
        h = a * beta[..., 0] * x[:, t, :, None] + (1 - a * dd) * h
        ys.append((h * gamma).sum(-1) * ndim ** -0.5)
    return torch.stack(ys, dim=1)


@pytest.fixture
def ref_ema():
    """The step-by-step reference recurrence (see :func:`reference_ema`)."""
    return reference_ema
