"""Reversible Heun (parity with torchsde, reconstruction, exact adjoint, order, stability) and the Brownian Interval."""

import math

import numpy as np
import pytest
import torch
import torchsde

from livepapers.neural_des import BrownianInterval, VirtualBrownianTree, parasitic_root, sdeint, sdeint_reversible
from livepapers.neural_des.lab import RandomNeuralSDE, c2_convergence
from livepapers.neural_des.sde import CountingSDE, reversible_heun_final_state, reversible_heun_reconstruct


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _setup(batch=8, steps=50, dt=0.02, seed=0):
    torch.manual_seed(seed)
    sde = RandomNeuralSDE(width=16)
    y0 = torch.randn(batch, 4, generator=torch.Generator().manual_seed(seed))
    ts = torch.tensor([0.0, steps * dt / 2, steps * dt])
    bm = BrownianInterval(0.0, steps * dt, (batch, 3), dtype=torch.float64, entropy=seed, dt=dt)
    return sde, y0, ts, bm, dt


def test_reversible_heun_matches_torchsde():
    sde, y0, ts, _, dt = _setup(steps=64, dt=2**-6)  # step times exact in binary: both libraries query the same W
    bm = torchsde.BrownianInterval(0.0, float(ts[-1]), size=(8, 3), dtype=torch.float64, entropy=3)
    with torch.no_grad():
        ours = sdeint(sde, y0, ts, bm, dt=dt)
        theirs = torchsde.sdeint(sde, y0, ts, bm=bm, method="reversible_heun", dt=dt)
        mid = sdeint(sde, y0, ts, bm, method="midpoint", dt=dt)
        mid_ts = torchsde.sdeint(sde, y0, ts, bm=bm, method="midpoint", dt=dt)
    torch.testing.assert_close(ours, theirs, atol=1e-10, rtol=0)
    torch.testing.assert_close(mid, mid_ts, atol=1e-10, rtol=0)


def test_reconstruction_and_evaluation_counts():
    sde, y0, ts, bm, dt = _setup(steps=400, dt=0.01)
    state, times = reversible_heun_final_state(sde, y0, ts, bm, dt)
    y_rec, z_rec, _, _ = reversible_heun_reconstruct(sde, state, times, bm)
    assert float((y_rec - y0).abs().max()) < 1e-12
    assert float((z_rec - y0).abs().max()) < 1e-12
    c = CountingSDE(sde)
    with torch.no_grad():
        sdeint(c, y0, ts, bm, dt=dt)
        assert c.nfe == 400 + 1
        c.nfe = 0
        sdeint(c, y0, ts, bm, method="midpoint", dt=dt)
        assert c.nfe == 2 * 400


@pytest.mark.parametrize("noise", ["general", "diagonal"])
def test_reversible_adjoint_equals_backprop(noise):
    sde, y0, ts, bm, dt = _setup()
    if noise == "diagonal":
        class Diag(torch.nn.Module):
            sde_type, noise_type = "stratonovich", "diagonal"

            def __init__(self):
                super().__init__()
                self.inner = sde

            def f_and_g(self, t, y):
                f, g = self.inner.f_and_g(t, y)
                return f, g[..., 0] * torch.sin(y)

        sde = Diag()
        bm = BrownianInterval(0.0, float(ts[-1]), (8, 4), dtype=torch.float64, entropy=1, dt=dt)
    params = list(sde.parameters())
    w = torch.randn(3, 8, 4, generator=torch.Generator().manual_seed(9))
    grads = []
    for solve in (lambda y: sdeint(sde, y, ts, bm, dt=dt), lambda y: sdeint_reversible(sde, y, ts, bm, dt)):
        y = y0.clone().requires_grad_(True)
        loss = (solve(y) * w).sum()  # observations at every output time
        grads.append(torch.autograd.grad(loss, [y, *params]))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    # negative control: backprop through a midpoint solve gives different gradients
    y = y0.clone().requires_grad_(True)
    g_mid = torch.autograd.grad((sdeint(sde, y, ts, bm, method="midpoint", dt=dt) * w).sum(), [y])[0]
    assert float((g_mid - grads[0][0]).abs().max()) > 1e-6


def test_strong_order_on_ou_and_gbm():
    r = c2_convergence(0, paths=1000, fine=1024, ks=(8, 16, 32, 64))
    dts = np.log([1 / 8, 1 / 16, 1 / 32, 1 / 64])
    ou = np.polyfit(dts, np.log([r[f"c2d.ou.rmse.k{k}"] for k in (8, 16, 32, 64)]), 1)[0]
    gbm = np.polyfit(dts, np.log([r[f"c2d.gbm.rmse.k{k}"] for k in (8, 16, 32, 64)]), 1)[0]
    assert 0.85 < ou < 1.15
    assert gbm > 0.4


def test_linear_stability_parasitic_root():
    class Lin(torch.nn.Module):
        sde_type, noise_type = "stratonovich", "diagonal"

        def f_and_g(self, t, y):
            return -y, torch.zeros_like(y)

    dt = 0.1  # μ = λΔt = −0.1
    ys, zs = sdeint(Lin(), torch.ones(1, 1), torch.arange(0, 41) * dt, torch.zeros(40, 1, 1), dt=dt, return_aux=True)
    gap = (ys - zs).abs()[:, 0, 0]
    gap = gap + 1e-300
    growth = float((gap[40] / gap[30]) ** (1 / 10))
    assert abs(parasitic_root(-0.1) - 1.105) < 1e-3
    assert abs(growth - parasitic_root(-0.1)) < 5e-3


def test_brownian_interval_exact_and_brownian():
    bi = BrownianInterval(0.0, 1.0, (2000, 2), dtype=torch.float64, entropy=5, dt=0.01)
    grid = [k / 100 for k in range(101)]
    inc = torch.stack([bi(grid[k], grid[k + 1]) for k in range(100)])
    again = torch.stack([bi(grid[k], grid[k + 1]) for k in reversed(range(100))]).flip(0)
    assert torch.equal(inc, again)  # same query → bit-identical, whatever the order
    assert float((inc.sum(0) - bi(0.0, 1.0)).abs().max()) < 1e-12
    assert float((bi(0.13, 0.5) + bi(0.5, 0.77) - bi(0.13, 0.77)).abs().max()) < 1e-12
    z = (inc / 0.1).flatten()
    assert abs(float(z.mean())) < 0.01 and abs(float(z.var()) - 1) < 0.02
    assert bi.max_cache_len <= bi.cache_size
    other = BrownianInterval(0.0, 1.0, (2000, 2), dtype=torch.float64, entropy=6, dt=0.01)
    assert not torch.equal(other(0.0, 0.01), inc[0])
    with pytest.raises(ValueError, match="query"):
        bi(0.5, 1.5)


def test_brownian_interval_without_dt_and_vbt():
    bi = BrownianInterval(0.0, 1.0, (500,), dtype=torch.float64, entropy=1)
    inc = torch.stack([bi(k / 200, (k + 1) / 200) for k in range(200)])
    assert abs(float((inc / math.sqrt(1 / 200)).var()) - 1) < 0.05
    v = VirtualBrownianTree(0.0, 1.0, (4000,), tol=1e-4, entropy=2, dtype=torch.float64)
    w = v(0.3, 0.7)
    assert abs(float(w.var()) - 0.4) < 0.04
    torch.testing.assert_close(v(0.3, 0.5) + v(0.5, 0.7), w, atol=1e-12, rtol=0)
