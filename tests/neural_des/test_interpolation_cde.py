"""Interpolation schemes and cdeint: knots, smoothness, closed-form CDE solutions, reparameterisation invariance."""

import importlib.util
import math

import pytest
import torch
import torchdiffeq

from livepapers.neural_des import (
    CubicSpline,
    LinearInterpolation,
    NeuralODE,
    cdeint,
    hermite_cubic_coefficients_with_backward_differences,
    linear_interpolation_coeffs,
    natural_cubic_coeffs,
)
from livepapers.neural_des.baselines import rk4_step
from livepapers.neural_des.interpolation import fill_missing


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _x(n=9, c=3, b=2, seed=0):
    return torch.randn(b, n, c, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["hermite", "natural", "linear"])
def test_paths_pass_through_knots(kind):
    x = _x()
    t = torch.tensor([0.0, 0.5, 1.5, 2.0, 3.5, 4.0, 5.0, 6.5, 7.0])
    if kind == "linear":
        X = LinearInterpolation(linear_interpolation_coeffs(x, t), t)
    elif kind == "hermite":
        X = CubicSpline(hermite_cubic_coefficients_with_backward_differences(x, t), t)
    else:
        X = CubicSpline(natural_cubic_coeffs(x, t), t)
    for i, ti in enumerate(t):
        torch.testing.assert_close(X.evaluate(ti), x[:, i], atol=1e-12, rtol=0)


def _one_sided(X, s, eps=1e-7):
    return X.derivative(s - eps), X.derivative(s + eps)


def test_hermite_is_c1_and_uses_backward_differences():
    x = _x(seed=1)
    X = CubicSpline(hermite_cubic_coefficients_with_backward_differences(x))
    for k in range(1, 8):
        left, right = _one_sided(X, torch.tensor(float(k)))
        torch.testing.assert_close(left, right, atol=1e-5, rtol=0)
        # the slope at knot k is the secant of the interval before it
        torch.testing.assert_close(right, x[:, k] - x[:, k - 1], atol=1e-5, rtol=0)
    # negative control: the linear path's slope jumps at the knots
    L = LinearInterpolation(linear_interpolation_coeffs(x))
    left, right = _one_sided(L, torch.tensor(3.0))
    assert (left - right).abs().max() > 1e-2


def test_natural_spline_is_c2_with_zero_end_curvature():
    x = _x(seed=2)
    X = CubicSpline(natural_cubic_coeffs(x))
    h = 1e-5
    for k in range(1, 8):
        s = torch.tensor(float(k))
        d2l = (X.derivative(s - h) - X.derivative(s - 2 * h)) / h
        d2r = (X.derivative(s + 2 * h) - X.derivative(s + h)) / h
        torch.testing.assert_close(d2l, d2r, atol=2e-3, rtol=0)
    d2_0 = (X.derivative(torch.tensor(h)) - X.derivative(torch.tensor(0.0))) / h
    assert d2_0.abs().max() < 1e-3


def test_fill_missing_interpolates_each_channel_over_its_own_observations():
    x = torch.tensor([[[float("nan"), 1.0], [2.0, float("nan")], [float("nan"), 3.0], [4.0, float("nan")]]])
    out = fill_missing(x)
    torch.testing.assert_close(out, torch.tensor([[[2.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 3.0]]]))


def test_rectilinear_moves_time_then_values():
    x = torch.tensor([[[0.0, 1.0], [1.0, float("nan")], [2.0, 5.0]]])
    c = linear_interpolation_coeffs(x, rectilinear=0)
    expect = torch.tensor([[[0.0, 1.0], [1.0, 1.0], [1.0, 1.0], [2.0, 1.0], [2.0, 5.0]]])
    torch.testing.assert_close(c, expect)


def test_bad_inputs_have_one_line_errors():
    with pytest.raises(ValueError, match="length >= 2"):
        hermite_cubic_coefficients_with_backward_differences(torch.zeros(2, 1, 3))
    with pytest.raises(ValueError, match="strictly increasing"):
        natural_cubic_coeffs(torch.zeros(1, 3, 1), t=torch.tensor([0.0, 2.0, 1.0]))


@pytest.mark.skipif(importlib.util.find_spec("torchcde") is None, reason="torchcde (optional oracle) not installed")
def test_matches_torchcde():
    import torchcde

    x = _x(seed=3)
    for ours, theirs in ((hermite_cubic_coefficients_with_backward_differences,
                          torchcde.hermite_cubic_coefficients_with_backward_differences),
                         (natural_cubic_coeffs, torchcde.natural_cubic_coeffs)):
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-6, rtol=0)


def test_cde_with_constant_field_and_scalar_exponential():
    x = _x(n=12, c=2, b=1, seed=4)
    X = CubicSpline(hermite_cubic_coefficients_with_backward_differences(x))
    A = torch.randn(3, 2, generator=torch.Generator().manual_seed(5))
    zT = cdeint(X, lambda s, z: A.expand(1, 3, 2), torch.zeros(1, 3), X.interval)[:, -1]
    torch.testing.assert_close(zT[0], A @ (x[0, -1] - x[0, 0]), atol=1e-10, rtol=0)
    # dz = z dX (scalar) → z_T = z_0 exp(X_T − X_0) for any path
    x1 = x[..., :1]
    X1 = CubicSpline(natural_cubic_coeffs(x1))
    zT = cdeint(X1, lambda s, z: z.unsqueeze(-1), torch.full((1, 1), 2.0), X1.interval, method="dopri5",
                rtol=1e-9, atol=1e-10)[:, -1]
    assert abs(float(zT) - 2.0 * math.exp(float(x1[0, -1] - x1[0, 0]))) < 1e-6


def test_reparameterisation_invariance():
    """The same piecewise-linear curve traversed with the index or a warped time gives the same z_T."""
    x = _x(n=10, c=2, b=1, seed=6)
    torch.manual_seed(0)
    func = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.Tanh())
    f = lambda s, z: func(z).view(1, 3, 2)  # noqa: E731
    t_warp = torch.linspace(0, 1, 10) ** 2 * 7 + torch.linspace(0, 1, 10)  # a different, increasing parameter
    outs = []
    for t in (None, t_warp):
        X = LinearInterpolation(linear_interpolation_coeffs(x, t), t)
        outs.append(cdeint(X, f, torch.full((1, 3), 0.1), X.interval, method="dopri5", rtol=1e-8, atol=1e-9)[:, -1])
    torch.testing.assert_close(outs[0], outs[1], atol=1e-4, rtol=0)
    # negative control: a different curve (a natural spline in the warped parameter) changes z_T
    X = CubicSpline(natural_cubic_coeffs(x, t_warp), t_warp)
    other = cdeint(X, f, torch.full((1, 3), 0.1), X.interval, method="dopri5", rtol=1e-8, atol=1e-9)[:, -1]
    assert float((other - outs[0]).detach().abs().max()) > 1e-3


def test_rk4_step_is_torchdiffeqs_rk4():
    f = lambda t, y: torch.sin(3 * y) + t  # noqa: E731
    y0 = torch.tensor([[0.3, -1.2]])
    ours = rk4_step(f, torch.tensor(0.2), torch.tensor(0.25), y0)
    theirs = torchdiffeq.odeint(f, y0, torch.tensor([0.2, 0.45]), method="rk4", options=dict(step_size=0.25))[-1]
    torch.testing.assert_close(ours, theirs, atol=1e-14, rtol=0)


def test_neural_ode_counts_and_seminorm_gradients():
    torch.manual_seed(0)
    f = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))

    class F(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.f = f

        def forward(self, t, z):
            return self.f(z)

    grads = []
    for semi in (False, True):
        m = NeuralODE(F(), adjoint=True, seminorm=semi, rtol=1e-6, atol=1e-8)
        f.zero_grad()
        m(torch.ones(4, 2), torch.tensor([0.0, 1.0]))[-1].sum().backward()
        assert m.nfe_forward > 0 and m.nfe_backward > 0
        grads.append(torch.cat([p.grad.flatten() for p in f.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="seminorm"):
        NeuralODE(F(), seminorm=True)
