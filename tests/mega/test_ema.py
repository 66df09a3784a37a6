"""The damped EMA: kernel by closed form, FFT convolution, recurrence and incremental step must agree."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from livepapers.mega import MultiHeadEMA, bidirectional_fft_conv, ema_kernel, fft_causal_conv


def _ema(d=3, ndim=4, bidirectional=False, truncation=None, seed=0) -> MultiHeadEMA:
    torch.manual_seed(seed)
    ema = MultiHeadEMA(dim=d, ndim=ndim, bidirectional=bidirectional, truncation=truncation).double()
    with torch.no_grad():  # spread the decays so short and long memories both appear
        ema.delta.normal_(0, 1.0)
        ema.alpha.normal_(0, 1.0)
    return ema


def test_kernel_hand_computed():
    # d = 1, h = 2: raw delta = 0 -> α = 0.5; raw alpha = log(1/3) -> δ = 0.25; φ = 1 − 0.125 = 0.875
    delta = torch.zeros(1, 2, 1, dtype=torch.float64)
    alpha = torch.full((1, 2, 1), math.log(1 / 3), dtype=torch.float64)
    beta = torch.tensor([[[1.0], [-1.0]]], dtype=torch.float64)
    gamma = torch.tensor([[2.0, 1.0]], dtype=torch.float64)
    k = ema_kernel(delta, alpha, beta, gamma, 3)
    s = math.sqrt(1 / 2)
    # K[t] = s·(2·0.5·1 + 1·0.5·(−1))·0.875^t = s·0.5·0.875^t
    expected = torch.tensor([[s * 0.5, s * 0.5 * 0.875, s * 0.5 * 0.875**2]], dtype=torch.float64)
    torch.testing.assert_close(k, expected, rtol=0, atol=1e-15)


def test_kernel_uses_official_naming_swap():
    # raw `delta` is the input weight α (it multiplies t = 0); raw `alpha` only enters the decay
    d, h = 1, 1
    z = torch.zeros(d, h, 1, dtype=torch.float64)
    one = torch.ones(d, h, dtype=torch.float64)
    k0 = ema_kernel(torch.full_like(z, 2.0), z, torch.ones_like(z), one, 1)
    assert float(k0) == pytest.approx(1 / (1 + math.exp(-2.0)), abs=1e-15)
    k1 = ema_kernel(z, torch.full_like(z, 5.0), torch.ones_like(z), one, 1)  # decay param does not change K[0]
    assert float(k1) == pytest.approx(0.5, abs=1e-15)


def test_kernel_no_underflow_float32():
    # φ^t via exp(t log φ): a long kernel in float32 stays close to the float64 kernel
    ema = _ema(d=4, ndim=16)
    k64 = ema.kernel(4096)
    k32 = ema.float().kernel(4096)
    assert torch.isfinite(k32).all()
    assert (k32.double() - k64).abs().max() < 1e-4


@pytest.mark.parametrize("truncation", [None, 5])
@pytest.mark.parametrize("padded", [False, True])
def test_fft_equals_recurrence_unidirectional(truncation, padded, ref_ema):
    ema = _ema(truncation=truncation)
    x = torch.randn(2, 17, 3, dtype=torch.float64)
    mask = None
    if padded:
        mask = torch.zeros(2, 17, dtype=torch.bool)
        mask[1, 12:] = True
    xz = x if mask is None else x.masked_fill(mask[..., None], 0.0)
    with torch.no_grad():
        ref = ref_ema(xz, ema.delta, ema.alpha, ema.beta, ema.gamma)
        if truncation is not None:  # truncated kernel: only lags < K
            k = ema.kernel(17)
            ref = torch.stack([sum(k[:, tau] * F.pad(xz, (0, 0, tau, 0))[:, t, :] for tau in range(k.shape[1]))
                               for t in range(17)], dim=1)
        expected = F.silu(ref + ema.omega * x)
        got = ema(x, mask)
    assert (got - expected).abs().max() < 1e-10


@pytest.mark.parametrize("truncation", [None, 6])
@pytest.mark.parametrize("padded", [False, True])
def test_fft_equals_two_recurrences_bidirectional(truncation, padded, ref_ema):
    d = 3
    ema = _ema(d=d, bidirectional=True, truncation=truncation)
    n = 19
    x = torch.randn(2, n, d, dtype=torch.float64)
    mask = None
    if padded:
        mask = torch.zeros(2, n, dtype=torch.bool)
        mask[0, 15:] = True
    xz = x if mask is None else x.masked_fill(mask[..., None], 0.0)
    with torch.no_grad():
        if truncation is None:
            # forward recurrence (rows 0..d−1) + the same recurrence (rows d..2d−1) on the reversed input
            fwd = ref_ema(xz, ema.delta[:d], ema.alpha[:d], ema.beta[:d], ema.gamma[:d])
            bwd = ref_ema(xz.flip(1), ema.delta[d:], ema.alpha[d:], ema.beta[d:], ema.gamma[d:]).flip(1)
            ref = fwd + bwd
        else:  # explicit two-sided sum with the truncated kernels
            kf, kb = ema.kernel(n).split(d)
            K = kf.shape[1]
            xp = F.pad(xz, (0, 0, K, K))
            ref = torch.stack([sum(kf[:, tau] * xp[:, K + t - tau] + kb[:, tau] * xp[:, K + t + tau]
                                   for tau in range(K)) for t in range(n)], dim=1)
        expected = F.silu(ref + ema.omega * x)
        got = ema(x, mask)
    assert (got - expected).abs().max() < 1e-10


def test_float32_matches_float64():
    ema = _ema(bidirectional=True)
    x = torch.randn(2, 64, 3, dtype=torch.float64)
    with torch.no_grad():
        y64 = ema(x)
        y32 = ema.float()(x.float())
    assert (y32.double() - y64).abs().max() < 1e-4


def test_short_fft_wraps_around(ref_ema):
    # negative control: an FFT of size n (circular convolution) must NOT match the recurrence
    ema = _ema()
    x = torch.randn(1, 32, 3, dtype=torch.float64)
    with torch.no_grad():
        k = ema.kernel(32)
        good = fft_causal_conv(x.transpose(1, 2), k)
        bad = fft_causal_conv(x.transpose(1, 2), k, n_fft=32)
        ref = ref_ema(x, ema.delta, ema.alpha, ema.beta, ema.gamma).transpose(1, 2)
        kf, kb = _ema(bidirectional=True).kernel(32).split(3)
        bgood = bidirectional_fft_conv(x.transpose(1, 2), kf, kb)
        # the two-sided output is read from 2K − 2 on, so a short FFT there cuts it short (it used to return
        # 1 of 32 samples silently): refused
        with pytest.raises(ValueError, match="cut short"):
            bidirectional_fft_conv(x.transpose(1, 2), kf, kb, n_fft=32 + 31)
    assert (good - ref).abs().max() < 1e-10
    assert (bad - ref).abs().max() > 1e-3
    assert bgood.shape == (1, 3, 32)


def test_step_equals_full_causal_pass():
    ema = _ema(d=4, ndim=3)
    x = torch.randn(2, 12, 4, dtype=torch.float64)
    with torch.no_grad():
        full = ema(x)
        state, outs = None, []
        for t in range(12):
            y, state = ema.step(x[:, t], state)
            outs.append(y)
    assert (torch.stack(outs, 1) - full).abs().max() < 1e-10


def test_unidirectional_is_causal():
    ema = _ema()
    x = torch.randn(1, 20, 3, dtype=torch.float64)
    x2 = x.clone()
    x2[:, 11:] = torch.randn(1, 9, 3, dtype=torch.float64) * 10
    with torch.no_grad():
        y, y2 = ema(x), ema(x2)
    assert torch.equal(y[:, :11], y2[:, :11]) or (y[:, :11] - y2[:, :11]).abs().max() < 1e-12
    assert (y[:, 11:] - y2[:, 11:]).abs().max() > 1e-3


def test_bidirectional_impulse_response_no_off_by_one():
    d, n, t0 = 2, 15, 7
    ema = _ema(d=d, bidirectional=True)
    with torch.no_grad():
        ema.omega.zero_()
        kf, kb = ema.kernel(n).split(d)
        x = torch.zeros(1, n, d, dtype=torch.float64)
        x[0, t0] = 1.0
        y = bidirectional_fft_conv(x.transpose(1, 2), kf, kb)[0]  # (d, n)
    torch.testing.assert_close(y[:, t0], kf[:, 0] + kb[:, 0], rtol=0, atol=1e-12)  # lag 0 gets both taps
    for tau in range(1, 5):
        torch.testing.assert_close(y[:, t0 + tau], kf[:, tau], rtol=0, atol=1e-12)
        torch.testing.assert_close(y[:, t0 - tau], kb[:, tau], rtol=0, atol=1e-12)


def test_padding_does_not_leak():
    ema = _ema(bidirectional=True)
    x = torch.randn(1, 10, 3, dtype=torch.float64)
    mask = torch.zeros(1, 10, dtype=torch.bool)
    mask[0, 7:] = True
    x2 = x.clone()
    x2[0, 7:] = 100.0
    with torch.no_grad():
        assert (ema(x, mask)[:, :7] - ema(x2, mask)[:, :7]).abs().max() < 1e-12


def test_init_follows_spec():
    torch.manual_seed(0)
    ema = MultiHeadEMA(dim=64, ndim=16, bidirectional=True)
    assert ema.delta.shape == (128, 16, 1) and ema.gamma.shape == (128, 16) and ema.omega.shape == (64,)
    signs = torch.tensor([1.0, -1.0] * 8)
    assert (ema.beta[..., 0].mean(0) - signs).abs().max() < 0.02
    assert 0.15 < float(ema.delta.detach().std()) < 0.25
    assert ema.scale == pytest.approx(0.25)


def test_bad_input():
    ema = MultiHeadEMA(dim=4, ndim=2)
    with pytest.raises(ValueError, match="dim=4"):
        ema(torch.randn(1, 5, 3))
    with pytest.raises(ValueError, match="padding_mask"):
        ema(torch.randn(2, 5, 4), torch.zeros(2, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="bidirectional"):
        MultiHeadEMA(dim=4, ndim=2, bidirectional=True).step(torch.randn(1, 4))
