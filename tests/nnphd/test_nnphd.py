"""NNPhD: the λ = 1 phase transition with an oracle split, the model contract, and short training runs."""

import pytest
import torch
from torch import nn

from livepapers.nnphd import (
    DampedOscillator2D,
    LagrangianNN,
    MLPDynamics,
    NNPhD,
    UniversalApproximatorNet,
    fit,
    phase_transition_sweep,
)

F64 = torch.float64


class TrueLagrangian(nn.Module):
    def __init__(self, system):
        super().__init__()
        self.system = system

    def forward(self, x):
        return self.system.lagrangian(x[:, :2], x[:, 2:])


class OracleUAN(nn.Module):
    """UAN replaced by α · a_nc,true(q, q̇)."""

    def __init__(self, system, alpha=0.5):
        super().__init__()
        self.system = system
        self.alpha = nn.Parameter(torch.tensor(float(alpha), dtype=F64))

    def forward(self, q, qdot, t=None):
        return self.alpha * self.system.nc_acceleration(q, qdot)


def _oracle(lam, norm="l2", alpha=0.5, n=256):
    osc = DampedOscillator2D(gamma=0.5)
    data = osc.sample(n, torch.Generator().manual_seed(0))
    lnn = LagrangianNN.from_module(TrueLagrangian(osc), 2, ridge=0.0)  # frozen: no parameters
    model = NNPhD(dim=2, lnn=lnn, uan=OracleUAN(osc, alpha), lam=lam, norm=norm)
    return model, data


def _squared_loss(model, d):
    out = model(d["q"], d["qdot"])
    return (d["a"] - out["a"]).pow(2).sum(-1).mean() + model.lam * out["a_nc"].pow(2).sum(-1).mean()


@pytest.mark.parametrize("norm", ["l2", "l1"])
@pytest.mark.parametrize("lam,expected", [(0.9, 1.0), (1.1, 0.0), (0.5, 1.0), (1.5, 0.0)])
def test_oracle_grid_argmin_jumps_at_lambda_one(lam, expected, norm):
    model, d = _oracle(lam, norm)
    alphas = torch.linspace(-0.5, 1.5, 201, dtype=F64)
    losses = []
    with torch.no_grad():
        for a in alphas:
            model.uan.alpha.fill_(float(a))
            losses.append(float(model.loss(d["q"], d["qdot"], d["a"])[0]))
    assert float(alphas[int(torch.tensor(losses).argmin())]) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("lam", [0.9, 1.1])
def test_oracle_squared_norm_gives_smooth_shrinkage(lam):
    """With squared norms the optimum is α = 1/(1 + λ): no jump — the unsquared test above can tell."""
    model, d = _oracle(lam)
    alphas = torch.linspace(-0.5, 1.5, 201, dtype=F64)
    losses = []
    with torch.no_grad():
        for a in alphas:
            model.uan.alpha.fill_(float(a))
            losses.append(float(_squared_loss(model, d)))
    best = float(alphas[int(torch.tensor(losses).argmin())])
    assert best == pytest.approx(1 / (1 + lam), abs=0.006)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("lam,expected,squared", [(0.9, 1.0, False), (1.1, 0.0, False), (0.9, 1 / 1.9, True)])
def test_oracle_gradient_descent(lam, expected, squared):
    """Gradient descent with step c/k on α (the loss is piecewise linear: constant steps would oscillate)."""
    model, d = _oracle(lam, n=128)
    for k in range(1, 401):
        model.uan.alpha.grad = None
        loss = _squared_loss(model, d) if squared else model.loss(d["q"], d["qdot"], d["a"])[0]
        loss.backward()
        with torch.no_grad():
            model.uan.alpha -= (0.5 if squared else 3.0 / k) * model.uan.alpha.grad
    assert float(model.uan.alpha) == pytest.approx(expected, abs=0.02)


def test_forward_contract_and_loss_decomposition():
    torch.manual_seed(0)
    model = NNPhD(dim=2, lnn=LagrangianNN(dim=2, hidden=(16, 16)), uan=UniversalApproximatorNet(dim=2, hidden=(16,)),
                  lam=0.7)
    d = DampedOscillator2D().sample(32, torch.Generator().manual_seed(1))
    out = model(d["q"], d["qdot"])
    assert set(out) == {"a", "a_c", "a_nc"}
    assert all(v.shape == (32, 2) and v.dtype == F64 for v in out.values())
    torch.testing.assert_close(out["a"], out["a_c"] + out["a_nc"])
    total, l_pred, l_reg = model.loss(d["q"], d["qdot"], d["a"])
    torch.testing.assert_close(l_pred, (d["a"] - out["a"]).norm(dim=-1).mean())
    torch.testing.assert_close(l_reg, out["a_nc"].norm(dim=-1).mean())
    torch.testing.assert_close(total, l_pred + 0.7 * l_reg)
    det = model.detect(d["q"], d["qdot"])
    assert det.shape == (32,)
    torch.testing.assert_close(det, out["a_nc"].norm(dim=-1))


def test_uan_starts_small_and_takes_time():
    torch.manual_seed(0)
    small = UniversalApproximatorNet(dim=2, hidden=(32, 32))
    torch.manual_seed(0)
    full = UniversalApproximatorNet(dim=2, hidden=(32, 32), last_layer_scale=1.0)
    q = torch.randn(16, 2, dtype=F64)
    torch.testing.assert_close(small(q, q), 0.1 * full(q, q))
    timed = UniversalApproximatorNet(dim=2, hidden=(8,), time_input=True)
    a, b = timed(q, q, torch.zeros(16, dtype=F64)), timed(q, q, torch.ones(16, dtype=F64))
    assert a.shape == (16, 2) and not torch.allclose(a, b)
    torch.testing.assert_close(timed(q, q, 1.0), b)


def test_baselines_share_the_contract():
    torch.manual_seed(0)
    d = DampedOscillator2D().sample(16, torch.Generator().manual_seed(1))
    for model in (MLPDynamics(dim=2, hidden=(8, 8)), LagrangianNN(dim=2, hidden=(8, 8))):
        out = model(d["q"], d["qdot"])
        assert out["a"].shape == (16, 2)
        total, _l_pred, l_reg = model.loss(d["q"], d["qdot"], d["a"])
        torch.testing.assert_close(total, (d["a"] - out["a"]).norm(dim=-1).mean())
        assert float(l_reg) == 0.0


@pytest.mark.timeout(60)
def test_short_training_decreases_loss_and_is_deterministic():
    d = DampedOscillator2D().sample(512, torch.Generator().manual_seed(0))

    def train(seed):
        torch.manual_seed(0)
        model = NNPhD(dim=2, lnn=LagrangianNN(dim=2, hidden=(16, 16)), uan=UniversalApproximatorNet(dim=2,
                      hidden=(16, 16)), lam=0.5)
        steps = []
        hist = fit(model, d, 100, lr=3e-3, batch_size=128, generator=torch.Generator().manual_seed(seed),
                   callback=lambda k, losses: steps.append(k))
        assert steps == list(range(100)) and len(hist["loss"]) == 100
        return hist["loss"]

    h1, h2, h3 = train(1), train(1), train(2)
    assert sum(h1[-10:]) < 0.7 * sum(h1[:10])
    assert h1 == h2 and h1 != h3


@pytest.mark.timeout(60)
def test_phase_transition_sweep_runs_through_core_sweep_in_order():
    table = phase_transition_sweep(DampedOscillator2D(), [1.5, 0.5], 20, torch.Generator().manual_seed(0),
                                   n_samples=128, hidden=(8, 8), batch_size=64, workers=1)
    assert [r["lam"] for r in table] == [1.5, 0.5]
    assert all(r["l_pred"] >= 0 and r["l_reg"] >= 0 for r in table)
    with pytest.raises(ValueError, match="lams"):
        phase_transition_sweep(DampedOscillator2D(), [], 1, torch.Generator())
