"""Pure tensor functions of Mega: the damped-EMA kernel, FFT convolutions, attention functions.

Ma et al., "Mega: Moving Average Equipped Gated Attention", ICLR 2023 (arXiv 2209.10655), §2–3.
Conventions follow the official fairseq code (facebookresearch/mega, ``main`` branch).

Multi-dimensional damped EMA, per channel j (paper Eq. 2–3), with h latent dimensions::

    u_t = β_j x_{t,j},   h_t = α_j ⊙ u_t + (1 − α_j ⊙ δ_j) ⊙ h_{t−1},   y_{t,j} = η_jᵀ h_t

unrolled into a causal convolution with the kernel (φ = 1 − α⊙δ, s = sqrt(1/h))::

    K_j[t] = Σ_m η_{j,m} · s · α_{j,m} β_{j,m} · φ_{j,m}^t,      t = 0 … L−1

Raw parameters carry the official ``main``-branch names, which are SWAPPED w.r.t. the paper:
paper α = sigmoid(``delta``), paper δ = sigmoid(``alpha``), β = ``beta``, η = ``gamma``.

Shape legend (einops letters): b batch, n sequence length, d channels, h EMA expansion dim (ndim),
l kernel length (K), i/j query/key positions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LAPLACE_MU",
    "LAPLACE_SIGMA",
    "bidirectional_fft_conv",
    "ema_coefficients",
    "ema_kernel",
    "fft_causal_conv",
    "laplace_attention_fn",
    "relu2",
]

# exact constants of the Laplace attention function (§3.3): matches relu² in value and slope at x = μ
LAPLACE_MU = math.sqrt(0.5)
LAPLACE_SIGMA = math.sqrt(1.0 / (4.0 * math.pi))


def ema_coefficients(delta: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
    """Paper α (input weight) and φ = 1 − α⊙δ (decay) from the RAW official parameters.

    Args:
        delta: raw ``delta``, (d, h, 1); paper α = sigmoid(delta).
        alpha: raw ``alpha``, (d, h, 1); paper δ = sigmoid(alpha).

    Returns:
        ``(p, q)``: p = α ∈ (0,1) and q = φ = 1 − α·δ ∈ (0,1), both (d, h, 1).
    """
    p = torch.sigmoid(delta)
    q = 1.0 - p * torch.sigmoid(alpha)
    return p, q


def ema_kernel(delta: Tensor, alpha: Tensor, beta: Tensor, gamma: Tensor, length: int) -> Tensor:
    """The EMA convolution kernel K[t] = Σ_m gamma·sqrt(1/h)·α·beta·φ^t for t = 0 … length−1.

    Args:
        delta, alpha, beta: raw parameters, (d, h, 1) (see the module docstring for the naming swap).
        gamma: η, (d, h).
        length: kernel length K.

    Returns:
        (d, K). φ^t is computed as exp(t·log φ) (Vandermonde), not by repeated multiplication.
    """
    if length < 1:
        raise ValueError(f"kernel length must be >= 1, got {length}")
    ndim = gamma.shape[-1]
    p, q = ema_coefficients(delta, alpha)
    t = torch.arange(length, device=delta.device, dtype=delta.dtype)
    # φ^t = exp(t · log φ): (d, h, 1) * (l,) -> (d, h, l)
    vander = torch.exp(t * torch.log(q))
    kernel = (p * beta) * vander
    # Σ_m η_m · s · (α β φ^t)_m with s = sqrt(1/h)
    return torch.einsum("dhl,dh->dl", kernel, gamma * math.sqrt(1.0 / ndim))


def fft_causal_conv(x: Tensor, k: Tensor, *, n_fft: int | None = None) -> Tensor:
    """Linear causal convolution y[t] = Σ_{0≤τ<K} k[τ]·x[t−τ] along the last axis, via FFT.

    Args:
        x: (..., d, n).
        k: (d, K) with K ≤ n.
        n_fft: FFT size; default 2n as in the official code. It must be ≥ n + K − 1 for a linear
            (not circular) convolution — a shorter size is allowed only to demonstrate wrap-around.

    Returns:
        (..., d, n).
    """
    n = x.shape[-1]
    n_fft = 2 * n if n_fft is None else n_fft
    y = torch.fft.irfft(torch.fft.rfft(x, n=n_fft) * torch.fft.rfft(k, n=n_fft), n=n_fft)
    return y[..., :n]


def bidirectional_fft_conv(x: Tensor, k_fwd: Tensor, k_bwd: Tensor, *, n_fft: int | None = None) -> Tensor:
    """Two-sided convolution y[t] = Σ_{τ<K} k_fwd[τ] x[t−τ] + Σ_{τ<K} k_bwd[τ] x[t+τ] (x = 0 outside).

    As the official code: the combined kernel of length 2K−1 is
    ``[k_bwd reversed (lags −(K−1)…−1), k_fwd[0] + k_bwd[0] (lag 0), k_fwd (lags 1…K−1)]``; the input is
    left-padded with K−1 zeros, the FFT size is 2·(n+K−1) and the output slice starts at 2K−2.

    Args:
        x: (..., d, n).
        k_fwd, k_bwd: (d, K), K ≤ n.
        n_fft: FFT size (default 2·(n+K−1)).

    Returns:
        (..., d, n).
    """
    n, K = x.shape[-1], k_fwd.shape[-1]
    # pad k_fwd on the left and reversed k_bwd on the right with K−1 zeros: both (d, 2K−1); lag 0 sums both
    k = F.pad(k_fwd, (K - 1, 0)) + F.pad(k_bwd.flip(-1), (0, K - 1))
    x = F.pad(x, (K - 1, 0))
    n_fft = 2 * (n + K - 1) if n_fft is None else n_fft
    y = torch.fft.irfft(torch.fft.rfft(x, n=n_fft) * torch.fft.rfft(k, n=n_fft), n=n_fft)
    start = 2 * K - 2
    return y[..., start:start + n]


def laplace_attention_fn(x: Tensor, mu: float = LAPLACE_MU, sigma: float = LAPLACE_SIGMA) -> Tensor:
    """Laplace attention function f(x) = 0.5·[1 + erf((x − μ) / (σ·sqrt(2)))] (paper §3.3, Eq. 15).

    With μ = sqrt(1/2) and σ = sqrt(1/(4π)) it matches relu² in value (0.5) and slope (√2) at x = μ.
    (σ is sqrt(1/(4π)) ≈ 0.2821, not sqrt(π/4).)
    """
    return 0.5 * (1.0 + torch.erf((x - mu) / (sigma * math.sqrt(2.0))))


def relu2(x: Tensor) -> Tensor:
    """Squared ReLU, f(x) = relu(x)² (So et al., 2021)."""
    return torch.square(F.relu(x))
