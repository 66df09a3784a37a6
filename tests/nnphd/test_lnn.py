"""LagrangianNN: Euler–Lagrange accelerations against closed forms, Hessian routes, invariants."""

import math

import pytest
import torch
from torch import nn

from livepapers.nnphd import DampedDoublePendulum, DampedOscillator2D, LagrangianNN
from livepapers.nnphd.modules import embed_angles

F64 = torch.float64


class AnalyticLagrangian(nn.Module):
    """Wraps a simulator's closed-form L(q, q̇) as a module of x = (q, q̇)."""

    def __init__(self, system, dim=2):
        super().__init__()
        self.system, self.dim = system, dim

    def forward(self, x):
        return self.system.lagrangian(x[:, : self.dim], x[:, self.dim :])


def _states(n, scale=2.0, seed=0, dim=2):
    g = torch.Generator().manual_seed(seed)
    q = scale * (2 * torch.rand(n, dim, generator=g, dtype=F64) - 1)
    v = scale * (2 * torch.rand(n, dim, generator=g, dtype=F64) - 1)
    return q, v


@pytest.mark.parametrize("backend", ["autograd", "func"])
def test_analytic_double_pendulum_matches_closed_form(backend):
    pend = DampedDoublePendulum(gamma=0.0)
    lnn = LagrangianNN.from_module(AnalyticLagrangian(pend), 2, ridge=0.0)
    q, v = _states(256)
    a = lnn.acceleration(q, v, backend=backend)
    ref = pend.conservative_acceleration(q, v)
    assert (a - ref).abs().max() < 1e-8


def test_transposed_mixed_hessian_is_wrong():
    """Negative control: using Jᵀ (∂²L/∂q_i∂q̇_j) instead of J gives O(1) errors on the double pendulum."""
    pend = DampedDoublePendulum(gamma=0.0)
    lnn = LagrangianNN.from_module(AnalyticLagrangian(pend), 2, ridge=0.0)
    q, v = _states(256)
    gq, jac, hess = lnn.euler_lagrange_terms(q, v)
    ref = pend.conservative_acceleration(q, v)
    right = torch.linalg.solve(hess, gq - torch.einsum("bij,bj->bi", jac, v))
    wrong = torch.linalg.solve(hess, gq - torch.einsum("bji,bj->bi", jac, v))
    assert (right - ref).abs().max() < 1e-8
    assert (wrong - ref).abs().max() > 0.5


def test_oscillator_lagrangian_gives_minus_grad_v():
    osc = DampedOscillator2D()
    lnn = LagrangianNN.from_module(AnalyticLagrangian(osc), 2, ridge=0.0)
    q, v = _states(64, 1.5)
    torch.testing.assert_close(lnn.acceleration(q, v), osc.conservative_acceleration(q, v), atol=1e-12, rtol=0)


def test_ridge_bias_is_small_and_relative():
    """ε = 1e-6 biases the double pendulum's accelerations by ≈ ε/λ_min(H) in relative terms."""
    pend = DampedDoublePendulum(gamma=0.0)
    lnn = LagrangianNN.from_module(AnalyticLagrangian(pend), 2, ridge=1e-6)
    q, v = _states(128)
    ref = pend.conservative_acceleration(q, v)
    rel = ((lnn.acceleration(q, v) - ref).norm(dim=-1) / ref.norm(dim=-1)).max()
    assert 1e-9 < rel < 1e-5


@pytest.mark.parametrize("dim,embedding", [(2, None), (3, "wrap"), (2, "sincos")])
def test_batched_autograd_and_torch_func_hessians_agree(dim, embedding):
    torch.manual_seed(0)
    lnn = LagrangianNN(dim=dim, hidden=(32, 32), angle_embedding=embedding)
    q, v = _states(16, dim=dim)
    g1, j1, h1 = lnn.euler_lagrange_terms(q, v)
    g2, j2, h2 = lnn.euler_lagrange_terms_func(q, v)
    for a, b in ((g1, g2), (j1, j2), (h1, h2)):
        assert (a - b).abs().max() < 1e-10
    # H is symmetric; J is not, and both routes agree on which index is the velocity one
    torch.testing.assert_close(h1, h1.transpose(1, 2), atol=1e-12, rtol=0)
    assert (j1 - j1.transpose(1, 2)).abs().max() > 1e-6


def test_lnn_dynamics_conserve_own_energy():
    """dE_L/dt = ∇_q E·q̇ + ∇_q̇ E·a_c = 0 for a random network (ridge 0); a transposed J would break it."""
    torch.manual_seed(1)
    lnn = LagrangianNN(dim=2, hidden=(32, 32), ridge=0.0)
    q, v = _states(32, 1.0)
    q.requires_grad_(True)
    v.requires_grad_(True)
    e = lnn.energy(q, v)
    gq, gv = torch.autograd.grad(e.sum(), (q, v))
    a = lnn.acceleration(q.detach(), v.detach())
    de_dt = (gq * v).sum(-1) + (gv * a).sum(-1)
    scale = (gq * v).sum(-1).abs() + (gv * a).sum(-1).abs()
    assert (de_dt.abs() / scale).max() < 1e-8


def test_energy_of_analytic_pendulum_is_t_plus_v():
    pend = DampedDoublePendulum(gamma=0.0)
    lnn = LagrangianNN.from_module(AnalyticLagrangian(pend), 2, ridge=0.0)
    q, v = _states(32)
    torch.testing.assert_close(lnn.energy(q, v), pend.energy(q, v), atol=1e-12, rtol=0)


def test_parameter_gradients_are_finite_and_nonzero():
    torch.manual_seed(0)
    lnn = LagrangianNN(dim=2, hidden=(16, 16))
    q, v = _states(64, 1.0)
    lnn.acceleration(q, v).pow(2).sum().backward()
    *params, (last_bias_name, last_bias) = lnn.named_parameters()
    # a constant added to L changes nothing in the Euler–Lagrange equations: the output bias gets no gradient
    assert last_bias_name.endswith("bias") and (last_bias.grad is None or (last_bias.grad == 0).all())
    for name, p in params:
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().max() > 0, name


def test_no_grad_inference_matches_and_is_detached():
    torch.manual_seed(0)
    lnn = LagrangianNN(dim=2, hidden=(16, 16))
    q, v = _states(8)
    a = lnn.acceleration(q, v)
    with torch.no_grad():
        b = lnn.acceleration(q, v)
    assert a.requires_grad and not b.requires_grad
    torch.testing.assert_close(a.detach(), b, atol=1e-13, rtol=0)


def test_wrap_embedding_is_minus_pi_to_pi_with_unit_derivative():
    q = torch.tensor([[0.0, math.pi], [-math.pi, 3 * math.pi / 2], [2 * math.pi + 0.1, -0.1]], dtype=F64)
    w = embed_angles(q, "wrap")
    assert (w > -math.pi).all() and (w <= math.pi + 1e-12).all()
    torch.testing.assert_close(torch.cos(w), torch.cos(q))
    torch.testing.assert_close(torch.sin(w), torch.sin(q))
    assert w[0, 0] == 0.0  # the hanging-down position is not at the cut
    qq = q.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(embed_angles(qq, "wrap").sum(), qq)
    assert (g == 1).all()


def test_wrapped_lnn_is_2pi_periodic_in_q():
    torch.manual_seed(0)
    lnn = LagrangianNN(dim=2, hidden=(16, 16), angle_embedding="wrap")
    q, v = _states(16, 1.0)
    torch.testing.assert_close(lnn.acceleration(q, v), lnn.acceleration(q + 2 * math.pi, v), atol=1e-9, rtol=1e-9)


def test_cranmer_init_scheme():
    torch.manual_seed(0)
    lnn = LagrangianNN(dim=2, hidden=(128, 128), init="cranmer")
    linears = [m for m in lnn.net.module if isinstance(m, nn.Linear)]
    assert all((lin.bias == 0).all() for lin in linears)
    stds = [float(lin.weight.detach().std()) for lin in linears]
    assert stds[0] == pytest.approx(2.2 / math.sqrt(128), rel=0.1)
    assert stds[1] == pytest.approx(0.58 / math.sqrt(128), rel=0.1)
    assert float(linears[2].weight.detach().pow(2).mean().sqrt()) == pytest.approx(math.sqrt(128), rel=0.3)


def test_relu_is_rejected_and_ridge_zero_accepted():
    with pytest.raises(ValueError, match="activation"):
        LagrangianNN(dim=2, activation="relu")
    assert LagrangianNN(dim=2, ridge=0).ridge == 0.0
    with pytest.raises(ValueError, match="ridge"):
        LagrangianNN(dim=2, ridge=-1.0)


@pytest.mark.parametrize("activation,embedding,hidden", [("softplus", None, (32, 32)), ("tanh", "wrap", (16, 16, 16))])
def test_analytic_route_matches_autograd_and_func(activation, embedding, hidden):
    """The closed-form MLP derivatives give the same accelerations and parameter gradients as autograd."""
    torch.manual_seed(0)
    lnn = LagrangianNN(dim=3, hidden=hidden, activation=activation, angle_embedding=embedding)
    q, v = _states(32, dim=3)
    accs = {b: lnn.acceleration(q, v, backend=b) for b in ("analytic", "autograd", "func")}
    scale = accs["autograd"].abs().max()
    for b in ("analytic", "func"):
        assert (accs[b] - accs["autograd"]).abs().max() < 1e-10 * scale
    params = list(lnn.parameters())
    g_an = torch.autograd.grad(accs["analytic"].pow(2).sum(), params, allow_unused=True, materialize_grads=True)
    g_ag = torch.autograd.grad(accs["autograd"].pow(2).sum(), params, allow_unused=True, materialize_grads=True)
    for a, b in zip(g_an, g_ag):
        torch.testing.assert_close(a, b, atol=1e-9 * (1 + float(b.abs().max())), rtol=1e-9)
    assert lnn.acceleration(q, v).shape == (32, 3)  # "auto" picks the analytic route here


def test_analytic_route_refuses_what_it_cannot_do():
    lnn = LagrangianNN(dim=2, hidden=(8,), angle_embedding="sincos")
    with pytest.raises(ValueError, match="analytic"):
        lnn.acceleration(*_states(4), backend="analytic")
    wrapped = LagrangianNN.from_module(AnalyticLagrangian(DampedOscillator2D()), 2)
    with pytest.raises(ValueError, match="analytic"):
        wrapped.acceleration(*_states(4), backend="analytic")
