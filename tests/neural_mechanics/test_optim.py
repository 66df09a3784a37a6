"""TrackedSGD is torch.optim.SGD bit for bit; the tracker's records satisfy the exact identities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from livepapers.neural_mechanics import (
    SymmetryTracker,
    TrackedSGD,
    find_symmetries,
    make_model,
    predict_exact_discrete,
    quantities,
    run_max_relative_error,
)


def _data(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 64, generator=g, dtype=torch.float64), torch.randint(0, 10, (n,), generator=g)


def _step(model, opt, x, y) -> None:
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    opt.step()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("foreach", [None, False])
def test_tracked_sgd_bit_identical(foreach) -> None:
    x, y = _data()
    kw = dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=1e-2)
    a = make_model("mlp_bn", generator=torch.Generator().manual_seed(0))
    b = make_model("mlp_bn", generator=torch.Generator().manual_seed(0))
    oa = torch.optim.SGD(a.parameters(), foreach=foreach, **kw)
    ob = TrackedSGD(b.parameters(), foreach=foreach, **kw)
    tr = SymmetryTracker(b, find_symmetries(b), ob)
    g = torch.Generator().manual_seed(1)
    for _ in range(100):
        idx = torch.randint(0, x.shape[0], (32,), generator=g)
        _step(a, oa, x[idx], y[idx])
        _step(b, ob, x[idx], y[idx])
        tr.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(oa.state[pa]["momentum_buffer"], ob.state[pb]["momentum_buffer"])


def test_tracked_sgd_refuses_nesterov_and_maximize() -> None:
    m = make_model("mlp_relu", generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="nesterov"):
        TrackedSGD(m.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    with pytest.raises(ValueError, match="maximize"):
        TrackedSGD(m.parameters(), lr=0.1, maximize=True)


def test_first_step_dampening_variant() -> None:
    x, y = _data(64)
    kw = dict(lr=0.05, momentum=0.9, dampening=0.5, weight_decay=1e-2)
    a = make_model("mlp_relu", generator=torch.Generator().manual_seed(0))
    b = make_model("mlp_relu", generator=torch.Generator().manual_seed(0))
    oa = TrackedSGD(a.parameters(), **kw)
    ob = TrackedSGD(b.parameters(), first_step_dampening=True, **kw)
    p0 = [p.detach().clone() for p in b.parameters()]
    _step(a, oa, x, y)
    _step(b, ob, x, y)
    for p, q, start in zip(a.parameters(), b.parameters(), p0):
        va, vb = oa.state[p]["momentum_buffer"], ob.state[q]["momentum_buffer"]
        torch.testing.assert_close(vb, 0.5 * va, rtol=0, atol=0)  # v_1 = (1 - d) g~_0 vs g~_0
        torch.testing.assert_close(q, start - 0.05 * vb)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("batch", [1, 7, 64])
def test_last_layer_column_sums_decay_exactly(batch: int) -> None:
    """S_{k+1} = (1 - eta lambda) S_k for any batch (translation symmetry + coupled weight decay)."""
    x, y = _data()
    lr, wd = 0.1, 0.05
    model = make_model("mlp_relu", generator=torch.Generator().manual_seed(2))
    opt = TrackedSGD(model.parameters(), lr=lr, weight_decay=wd)
    g = torch.Generator().manual_seed(3)
    s0 = model[4].weight.detach().sum(0).clone()
    b0 = model[4].bias.detach().sum().clone()
    for _ in range(50):
        idx = torch.randint(0, x.shape[0], (batch,), generator=g)
        _step(model, opt, x[idx], y[idx])
    a = (1 - lr * wd) ** 50
    torch.testing.assert_close(model[4].weight.detach().sum(0), a * s0, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(model[4].bias.detach().sum(), a * b0, rtol=1e-12, atol=1e-14)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "name,kw",
    [
        ("mlp_bn", dict(lr=0.1, weight_decay=5e-3)),
        ("cnn_bn", dict(lr=0.1, weight_decay=0.0)),
        ("mlp_relu", dict(lr=0.05, momentum=0.9, weight_decay=1e-2)),
        ("mlp_bn", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=1e-2)),
        ("mlp_bn", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=1e-2, first_step_dampening=True)),
    ],
)
def test_exact_discrete_recursions(name: str, kw: dict) -> None:
    """Spec item 4: the one-step recursions reproduce the measured S, N, D to round-off (20 steps)."""
    x, y = _data()
    model = make_model(name, generator=torch.Generator().manual_seed(4))
    groups = find_symmetries(model)
    opt = TrackedSGD(model.parameters(), **kw)
    tr = SymmetryTracker(model, groups, opt)
    g = torch.Generator().manual_seed(5)
    for _ in range(20):
        idx = torch.randint(0, x.shape[0], (32,), generator=g)
        _step(model, opt, x[idx], y[idx])
        tr.step()
    q = quantities(model, groups)
    for kind in tr.kinds:
        emp = tr.empirical(kind)
        np.testing.assert_allclose(emp[-1], q[kind].numpy(), rtol=1e-13, atol=1e-15)
        err = run_max_relative_error(predict_exact_discrete(tr, kind=kind), emp, tr.normalizer(kind))
        assert err.max() < 1e-11, (kind, err.max())
        if kind == "translation":
            np.testing.assert_allclose(tr.series(kind)["grad_sum"], 0.0, atol=1e-14)


def test_exact_recursion_detects_wrong_first_step() -> None:
    """With d != 0 the PyTorch and official first steps differ; using the wrong one is visible."""
    x, y = _data()
    model = make_model("mlp_bn", generator=torch.Generator().manual_seed(4))
    opt = TrackedSGD(model.parameters(), lr=0.05, momentum=0.8, dampening=0.5, weight_decay=0.05)
    tr = SymmetryTracker(model, find_symmetries(model), opt)
    for _ in range(10):
        _step(model, opt, x[:32], y[:32])
        tr.step()
    s = tr.series("scale")
    wrong = predict_exact_discrete(s["quantity"][0], kind="scale", lr=0.05, momentum=0.8, dampening=0.5,
                                   weight_decay=0.05, update_sq=s["update_sq"], first_step_dampening=True)
    assert run_max_relative_error(wrong, tr.empirical("scale")).max() > 1e-6


def test_tracker_refuses_mixed_weight_decay_and_bad_calls() -> None:
    model = make_model("mlp_bn", generator=torch.Generator().manual_seed(0))
    decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = TrackedSGD([{"params": decay, "weight_decay": 1e-3}, {"params": no_decay, "weight_decay": 0.0}], lr=0.1)
    with pytest.raises(ValueError, match="mixes optimizer settings"):
        SymmetryTracker(model, find_symmetries(model), opt)
    with pytest.raises(ValueError, match="TrackedSGD"):
        SymmetryTracker(model, find_symmetries(model), torch.optim.SGD(model.parameters(), lr=0.1))
    opt = TrackedSGD(model.parameters(), lr=0.1)
    tr = SymmetryTracker(model, find_symmetries(model), opt)
    with pytest.raises(ValueError, match="must follow"):
        tr.step()
    with pytest.raises(ValueError, match="every"):
        SymmetryTracker(model, find_symmetries(model), opt, every=0)
    x, y = _data(32)
    _step(model, opt, x, y)
    tr.step()
    opt.param_groups[0]["lr"] = 0.05
    _step(model, opt, x, y)
    with pytest.raises(ValueError, match="changed"):
        tr.step()


def test_tracker_every_subsamples() -> None:
    x, y = _data(64)
    model = make_model("mlp_relu", generator=torch.Generator().manual_seed(0))
    opt = TrackedSGD(model.parameters(), lr=0.1, weight_decay=1e-3)
    tr = SymmetryTracker(model, find_symmetries(model), opt, every=5)
    for _ in range(12):
        _step(model, opt, x, y)
        tr.step()
    assert list(tr.steps) == [0, 5, 10]
    assert tr.empirical("rescale").shape == (3, 256)
    assert predict_exact_discrete(tr, kind="rescale").shape == (3, 256)
    np.testing.assert_allclose(tr.times, [0.0, 0.5, 1.0])


def test_tracker_names_only_the_parameter_without_gradient() -> None:
    """Without momentum the error must name the parameter that got no gradient, not every tracked parameter."""
    x, y = _data(32)
    for mom in (0.0, 0.9):
        model = make_model("mlp_relu", generator=torch.Generator().manual_seed(0))
        opt = TrackedSGD(model.parameters(), lr=0.1, momentum=mom)
        tr = SymmetryTracker(model, find_symmetries(model), opt)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        model[0].bias.grad = None
        opt.step()
        with pytest.raises(ValueError, match=r"parameters \['0\.bias'\] got no gradient"):
            tr.step()


def test_tracker_refuses_non_group_items() -> None:
    model = make_model("mlp_relu", generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="SymmetryGroup objects"):
        SymmetryTracker(model, ["0.weight"], TrackedSGD(model.parameters(), lr=0.1))


def test_tracker_refuses_a_started_momentum_buffer() -> None:
    """Started after some momentum steps, the recursions' v_0 = 0 is false (they were off by ~1e-2, silently)."""
    x, y = _data(64)
    model = make_model("mlp_bn", generator=torch.Generator().manual_seed(0))
    opt = TrackedSGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-2)
    _step(model, opt, x, y)
    with pytest.raises(ValueError, match="already holds a momentum buffer"):
        SymmetryTracker(model, find_symmetries(model), opt)
    # without momentum there is no optimizer state: starting mid-training stays exact
    opt = TrackedSGD(model.parameters(), lr=0.05, weight_decay=1e-2)
    _step(model, opt, x, y)
    tr = SymmetryTracker(model, find_symmetries(model), opt)
    for _ in range(5):
        _step(model, opt, x, y)
        tr.step()
    for kind in tr.kinds:
        err = run_max_relative_error(predict_exact_discrete(tr, kind=kind), tr.empirical(kind), tr.normalizer(kind))
        assert err.max() < 1e-11, kind


@pytest.mark.parametrize("kw", [{"lr": float("nan")}, {"lr": float("inf")}, {"lr": 0.1, "momentum": 1.0},
                                {"lr": 0.1, "momentum": 1.5}, {"lr": 0.1, "momentum": float("nan")},
                                {"lr": 0.1, "dampening": 1.0}, {"lr": 0.1, "weight_decay": float("nan")}])
def test_tracked_sgd_refuses_hyperparameters_the_predictions_cannot_use(kw):
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="must be"):
        TrackedSGD(model.parameters(), **kw)
