"""Logic gate networks: gate tables, fast form == reference, wiring, GroupSum, compiled == eval exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from livepapers.diff_algorithms import data
from livepapers.diff_algorithms.bits import pack_bits
from livepapers.diff_algorithms.compiled import CompiledLogicNet
from livepapers.diff_algorithms.logic import (
    GATE_COEFFS,
    GroupSum,
    LogicLayer,
    PackBitsTensor,
    bin_op,
    bin_op_s,
    unique_connections,
)


@pytest.mark.parametrize("gate", range(16))
def test_gate_truth_tables(gate):
    a = torch.tensor([0.0, 0.0, 1.0, 1.0])
    b = torch.tensor([0.0, 1.0, 0.0, 1.0])
    # a gate's id is its truth table on (0,0),(0,1),(1,0),(1,1), most significant bit first
    expected = torch.tensor([(gate >> (3 - r)) & 1 for r in range(4)], dtype=torch.float32)
    torch.testing.assert_close(bin_op(a, b, gate), expected)
    c = GATE_COEFFS[gate]
    torch.testing.assert_close(c[0] + c[1] * a + c[2] * b + c[3] * a * b, expected)
    # the probabilistic relaxation is the expectation under independent Bernoulli inputs
    pa, pb = torch.rand(100), torch.rand(100)
    mix = sum(expected[2 * i + j] * (pa if i else 1 - pa) * (pb if j else 1 - pb) for i in (0, 1) for j in (0, 1))
    torch.testing.assert_close(bin_op(pa, pb, gate), mix)


def test_fast_form_equals_16_term_reference():
    torch.manual_seed(0)
    fast = LogicLayer(12, 20, seed=3)
    ref = LogicLayer(12, 20, seed=3, implementation="reference")
    ref.load_state_dict(fast.state_dict())
    x = torch.rand(7, 12, requires_grad=True)
    for mode in (True, False):
        fast.train(mode)
        ref.train(mode)
        y1, y2 = fast(x), ref(x)
        torch.testing.assert_close(y1, y2, atol=1e-6, rtol=1e-6)
        if mode:
            g = torch.randn_like(y1)
            ga = torch.autograd.grad((y1 * g).sum(), (x, fast.weights))
            gb = torch.autograd.grad((y2 * g).sum(), (x, ref.weights))
            for u, v in zip(ga, gb):
                torch.testing.assert_close(u, v, atol=1e-5, rtol=1e-5)
    probs = torch.softmax(torch.randn(5, 16), -1)
    a, b = torch.rand(3, 5), torch.rand(3, 5)
    W = probs @ GATE_COEFFS
    torch.testing.assert_close(W[:, 0] + W[:, 1] * a + W[:, 2] * b + W[:, 3] * a * b, bin_op_s(a, b, probs))


def test_gradcheck_fast_gate_and_grad_factor():
    from livepapers.diff_algorithms.logic import _FastGate

    a_idx, b_idx = torch.tensor([0, 2, 5, 1, 3]), torch.tensor([1, 4, 3, 5, 0])
    x = torch.rand(4, 6, dtype=torch.float64, requires_grad=True)
    W = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, W: _FastGate.apply(x, a_idx, b_idx, W, 1.0), (x, W))
    layer = LogicLayer(6, 5, seed=1, grad_factor=2.0).double()
    plain = LogicLayer(6, 5, seed=1, grad_factor=1.0).double()
    plain.load_state_dict(layer.state_dict())
    torch.testing.assert_close(layer(x), plain(x))
    g1 = torch.autograd.grad(layer(x).sum(), x)[0]
    g2 = torch.autograd.grad(plain(x).sum(), x)[0]
    torch.testing.assert_close(g1, 2 * g2)


def test_unique_wiring():
    a, b = unique_connections(8, 12, torch.Generator().manual_seed(0))
    pairs = {tuple(sorted(p)) for p in zip(a.tolist(), b.tolist())}
    assert len(pairs) == 12 and all(i != j for i, j in pairs)
    assert set(a.tolist()) | set(b.tolist()) == set(range(8))
    with pytest.raises(ValueError, match="at most"):
        LogicLayer(17, 256, connections="unique")
    with pytest.raises(ValueError, match="2·out_dim"):
        LogicLayer(10, 4)
    with pytest.raises(ValueError, match="unknown connections"):
        LogicLayer(4, 4, connections="dense")
    l1, l2 = LogicLayer(17, 256, connections="random", seed=5), LogicLayer(17, 256, connections="random", seed=5)
    assert torch.equal(l1.a_idx, l2.a_idx) and torch.equal(l1.b_idx, l2.b_idx)
    assert "a_idx" in l1.state_dict() and "b_idx" in l1.state_dict()


def test_group_sum():
    x = torch.arange(12.0).reshape(2, 6)
    torch.testing.assert_close(GroupSum(3, tau=2.0)(x), torch.tensor([[0.5, 2.5, 4.5], [6.5, 8.5, 10.5]]))
    with pytest.raises(ValueError, match="divisible"):
        GroupSum(4)(x)


def _random_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(LogicLayer(40, 300, seed=seed), LogicLayer(300, 300, seed=seed + 1),
                         LogicLayer(300, 200, seed=seed + 2), GroupSum(5, tau=3.0)).eval()


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_compiled_equals_eval_exactly(backend):
    model = _random_net()
    x = (torch.rand(1000, 40, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    with torch.no_grad():
        ref = torch.round(model(x) * 3.0).to(torch.int32).numpy()
    net = CompiledLogicNet(model, backend=backend).compile(opt_level=1)
    for batch in (1, 63, 65, 1000):
        out = net(x[:batch].numpy().astype(bool))
        assert out.dtype == np.int32 and out.shape == (batch, 5)
        np.testing.assert_array_equal(out, ref[:batch])
    packed = PackBitsTensor(x[:65])
    torch.testing.assert_close(model(packed) * 3.0, torch.from_numpy(ref[:65]).float())
    assert torch.equal(packed.unpack(), x[:65].bool())
    gates = net.gate_count()
    net.prune()
    assert net.gate_count() <= gates
    np.testing.assert_array_equal(net(x.numpy() > 0.5), ref)


def test_missing_compiler_falls_back_to_numpy():
    net = CompiledLogicNet(_random_net(1), cpu_compiler="no-such-compiler-xyz")
    with pytest.warns(UserWarning, match="not found"):
        net.compile()
    assert net.backend == "numpy"
    x = np.random.default_rng(0).random((70, 40)) > 0.5
    assert net(x).shape == (70, 5)
    assert "lp_logic_net" in net.get_c_code()
    assert "lp_logic_forward" in CompiledLogicNet(_random_net(1), kernel="generic").get_c_code()


def test_pack_bits_layout():
    x = np.zeros((130, 2), dtype=bool)
    x[0, 0] = x[64, 1] = x[129, 0] = True
    w = pack_bits(x)
    assert w.shape == (2, 3) and w.dtype == np.uint64
    assert w[0, 0] == 1 and w[1, 1] == 1 and w[0, 2] == 2


def test_compiled_bad_input():
    with pytest.raises(ValueError, match="GroupSum"):
        CompiledLogicNet(nn.Sequential(LogicLayer(4, 4)))
    with pytest.raises(ValueError, match="backend"):
        CompiledLogicNet(_random_net(), backend="cuda")
    net = CompiledLogicNet(_random_net(), backend="numpy")
    with pytest.raises(ValueError, match=r"\(batch, 40\)"):
        net(np.zeros((3, 41), dtype=bool))


def test_monk_rules_and_data():
    x_tr, _y_tr, x_te, _y_te = data.monk(1, torch.Generator().manual_seed(0))
    assert x_te.shape == (432, 17) and x_tr.shape == (124, 17)
    assert torch.equal(x_te.sum(1), torch.full((432,), 6.0))  # one-hot per attribute
    a = np.array([[1, 1, 1, 1, 2, 1], [1, 2, 1, 1, 1, 1], [1, 2, 1, 1, 2, 1]])
    assert data.monk_rule(1, a).tolist() == [True, True, False]
    assert data.monk_rule(2, np.array([[1, 1, 2, 2, 2, 2], [1, 1, 1, 2, 2, 2]])).tolist() == [True, False]
    assert data.monk_rule(3, np.array([[1, 3, 1, 1, 3, 1], [1, 3, 1, 2, 1, 1], [1, 1, 1, 2, 4, 1]])).tolist() == [
        True, False, False]
    xd, _yd, xt, _yt = data.binary_digits(torch.Generator().manual_seed(0))
    assert xd.shape[1] == 192 and len(xd) + len(xt) == 1797 and set(xd.unique().tolist()) <= {0.0, 1.0}
