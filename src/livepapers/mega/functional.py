r"""Pure tensor functions of Mega: the damped-EMA kernel, FFT convolutions, attention functions.

Ma et al., "Mega: Moving Average Equipped Gated Attention", ICLR 2023 (arXiv 2209.10655), §2–3.
Conventions follow the official fairseq code (facebookresearch/mega, ``main`` branch).

Multi-dimensional damped EMA, per channel $j$ (paper §3.1, Eq. 2–3), with $h$ latent dimensions:
$u_t = \beta_j x_{t,j}$, $h_t = \alpha_j \odot u_t + (1 - \alpha_j \odot \delta_j) \odot h_{t-1}$,
$y_{t,j} = \eta_j^\top h_t$, unrolled into a causal convolution with the kernel
($\phi = 1 - \alpha \odot \delta$, $s = \sqrt{1/h}$)
$K_j[t] = \sum_m \eta_{j,m} \, s \, \alpha_{j,m} \beta_{j,m} \, \phi_{j,m}^t$, $t = 0 \dots L-1$.

Raw parameters carry the official ``main``-branch names, which are SWAPPED w.r.t. the paper:
paper $\alpha = \sigma(\text{delta})$, paper $\delta = \sigma(\text{alpha})$, $\beta$ = ``beta``, $\eta$ = ``gamma``.

Shape legend (einops letters): b batch, n sequence length, d channels, h EMA expansion dim (ndim),
l kernel length (K), i/j query/key positions.
"""

from __future__ import annotations

import math
import numbers

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
    "laplace_match_errors",
    "relu2",
]

# exact constants of the Laplace attention function (§3.3): matches relu² in value and slope at x = μ
LAPLACE_MU = math.sqrt(0.5)
LAPLACE_SIGMA = math.sqrt(1.0 / (4.0 * math.pi))


def ema_coefficients(delta: Tensor, alpha: Tensor) -> tuple[Tensor, Tensor]:
    r"""Paper $\alpha$ (input weight) and $\phi = 1 - \alpha \odot \delta$ (decay) from the RAW official parameters.

    Args:
        delta: raw ``delta``, (d, h, 1); paper $\alpha = \sigma(\text{delta})$.
        alpha: raw ``alpha``, (d, h, 1); paper $\delta = \sigma(\text{alpha})$.

    Returns:
        ``(p, q)``: $p = \alpha \in (0, 1)$ and $q = \phi = 1 - \alpha \delta \in (0, 1)$, both (d, h, 1).
    """
    p = torch.sigmoid(delta)
    q = 1.0 - p * torch.sigmoid(alpha)
    return p, q


def ema_kernel(delta: Tensor, alpha: Tensor, beta: Tensor, gamma: Tensor, length: int) -> Tensor:
    r"""The EMA convolution kernel $K[t] = \sum_m \eta_m \sqrt{1/h} \, \alpha_m \beta_m \phi_m^t$ for
    $t = 0 \dots$ ``length`` $- 1$ (paper §3.1).

    Args:
        delta, alpha, beta: raw parameters, (d, h, 1) (see the module docstring for the naming swap).
        gamma: $\eta$, (d, h).
        length: kernel length K.

    Returns:
        (d, K). $\phi^t$ is computed as $\exp(t \log \phi)$ (Vandermonde), not by repeated multiplication.
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


def _check_kernel(x: Tensor, k: Tensor, name: str) -> None:
    if x.dim() < 2 or k.dim() != 2 or k.shape[0] != x.shape[-2]:
        raise ValueError(f"{name} has {k.shape[0] if k.dim() == 2 else '?'} channels but x has "
                         f"{x.shape[-2] if x.dim() >= 2 else '?'} ({name}: (d, K), x: (..., d, n)); got shapes "
                         f"{tuple(k.shape)} and {tuple(x.shape)}")


def _check_n_fft(n_fft: object, needed: int, what: str) -> int:
    """An FFT size long enough for the whole output (a shorter one silently returns fewer samples)."""
    if not isinstance(n_fft, numbers.Integral) or isinstance(n_fft, bool) or n_fft < 1:
        raise ValueError(f"n_fft must be an int >= 1, got {n_fft!r}")
    if n_fft < needed:
        raise ValueError(f"n_fft={n_fft} is shorter than {what}: the output would be cut short (omit n_fft for "
                         f"the linear convolution)")
    return int(n_fft)


def fft_causal_conv(x: Tensor, k: Tensor, *, n_fft: int | None = None) -> Tensor:
    r"""Linear causal convolution $y[t] = \sum_{0 \le \tau < K} k[\tau] \, x[t - \tau]$ along the last axis, via FFT.

    Args:
        x: (..., d, n).
        k: (d, K) with $K \le n$.
        n_fft: FFT size; default $2n$ as in the official code. It must be $\ge n + K - 1$ for a linear
            (not circular) convolution — a size in $[n, n + K - 1)$ is allowed only to demonstrate wrap-around;
            shorter than the input ($< n$) is refused.

    Returns:
        (..., d, n).
    """
    n = x.shape[-1]
    _check_kernel(x, k, "k")
    n_fft = 2 * n if n_fft is None else _check_n_fft(n_fft, n, f"the input (length {n})")
    y = torch.fft.irfft(torch.fft.rfft(x, n=n_fft) * torch.fft.rfft(k, n=n_fft), n=n_fft)
    return y[..., :n]


def bidirectional_fft_conv(x: Tensor, k_fwd: Tensor, k_bwd: Tensor, *, n_fft: int | None = None) -> Tensor:
    r"""Two-sided convolution $y[t] = \sum_{\tau < K} k_{fwd}[\tau] \, x[t - \tau] + \sum_{\tau < K} k_{bwd}[\tau] \,
    x[t + \tau]$ ($x = 0$ outside).

    As the official code: the combined kernel of length $2K - 1$ is
    ``[k_bwd reversed (lags −(K−1)…−1), k_fwd[0] + k_bwd[0] (lag 0), k_fwd (lags 1…K−1)]``; the input is
    left-padded with $K - 1$ zeros, the FFT size is $2 (n + K - 1)$ and the output slice starts at $2K - 2$.

    Args:
        x: (..., d, n).
        k_fwd, k_bwd: (d, K), $K \le n$.
        n_fft: FFT size (default $2 (n + K - 1)$); at least $n + 2K - 2$, the end of the output slice (every such
            size gives the exact linear result; a shorter one would cut the output short and is refused).

    Returns:
        (..., d, n).
    """
    _check_kernel(x, k_fwd, "k_fwd")
    if k_bwd.shape != k_fwd.shape:
        raise ValueError(f"k_bwd must have the shape of k_fwd (d, K) = {tuple(k_fwd.shape)}, got {tuple(k_bwd.shape)}")
    n, K = x.shape[-1], k_fwd.shape[-1]
    if n_fft is not None:  # the output is read from 2K − 2 on: a shorter FFT cuts it short (it never wraps)
        _check_n_fft(n_fft, n + 2 * K - 2, f"n + 2K − 2 = {n + 2 * K - 2} (the output starts at 2K − 2)")
    # pad k_fwd on the left and reversed k_bwd on the right with K−1 zeros: both (d, 2K−1); lag 0 sums both
    k = F.pad(k_fwd, (K - 1, 0)) + F.pad(k_bwd.flip(-1), (0, K - 1))
    x = F.pad(x, (K - 1, 0))
    n_fft = 2 * (n + K - 1) if n_fft is None else n_fft
    y = torch.fft.irfft(torch.fft.rfft(x, n=n_fft) * torch.fft.rfft(k, n=n_fft), n=n_fft)
    start = 2 * K - 2
    return y[..., start:start + n]


def laplace_attention_fn(x: Tensor, mu: float = LAPLACE_MU, sigma: float = LAPLACE_SIGMA) -> Tensor:
    r"""Laplace attention function (paper §3.3, Eq. 15):
    $f(x) = \tfrac12 \left[1 + \mathrm{erf}\left(\frac{x - \mu}{\sigma \sqrt 2}\right)\right]$.

    With $\mu = \sqrt{1/2}$ and $\sigma = \sqrt{1/(4\pi)}$ it matches relu² in value (0.5) and slope ($\sqrt 2$) at
    $x = \mu$. ($\sigma$ is $\sqrt{1/(4\pi)} \approx 0.2821$, not $\sqrt{\pi/4}$.)
    """
    return 0.5 * (1.0 + torch.erf((x - mu) / (sigma * math.sqrt(2.0))))


def relu2(x: Tensor) -> Tensor:
    r"""Squared ReLU, $f(x) = \mathrm{relu}(x)^2$ (So et al., 2021)."""
    return torch.square(F.relu(x))


def laplace_match_errors() -> dict[str, float]:
    r"""How far the Laplace function is from relu² at $\mu$ (float64, exact constants), the C6 check.

    Returns ``laplace_value_err`` $= |f(\mu) - \mathrm{relu}^2(\mu)|$, ``laplace_slope_err`` $= |f'(\mu) - 2\mu|$ and
    ``laplace_slope_vs_formula_err`` $= |f'(\mu) - 1 / (\sigma \sqrt{2\pi})|$.
    """
    mu = torch.tensor(LAPLACE_MU, dtype=torch.float64, requires_grad=True)
    f = laplace_attention_fn(mu)
    (df,) = torch.autograd.grad(f, mu)
    f, mu = f.detach(), mu.detach()
    return {"laplace_value_err": abs(float(f) - float(relu2(mu))),
            "laplace_slope_err": abs(float(df) - 2.0 * LAPLACE_MU),
            "laplace_slope_vs_formula_err": abs(float(df) - 1.0 / (LAPLACE_SIGMA * math.sqrt(2 * math.pi)))}
