"""Issue 12 for the public API: dtype/device/range mistakes raise one ValueError naming the argument (not a raw
torch/numpy error), and every ``generator`` takes an int seed or a ``torch.Generator`` the same way."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from livepapers.neural_mechanics import (
    SymmetryTracker,
    TrackedSGD,
    check_gradient_geometry,
    check_hessian_geometry,
    find_symmetries,
    make_model,
    mlp_relu,
    predict_exact_discrete,
    predict_gradient_flow,
    predict_modified_flow,
    predict_momentum,
    run_max_relative_error,
)
from livepapers.neural_mechanics.data import load_digits_split, minibatch_indices


def _batch(n: int = 16, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 64, generator=g, dtype=dtype), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("name", ["mlp_relu", "mlp_bn", "cnn_bn"])
def test_int_seed_is_the_generator_seeded_with_it(name: str) -> None:
    a = make_model(name, generator=7)
    b = make_model(name, generator=torch.Generator().manual_seed(7))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert torch.equal(next(mlp_relu(generator=3).parameters()),
                       next(mlp_relu(generator=torch.Generator().manual_seed(3)).parameters()))


def test_int_seed_elsewhere() -> None:
    same = [list(minibatch_indices(100, batch_size=8, n_steps=20, generator=g))
            for g in (5, torch.Generator().manual_seed(5))]
    assert all(torch.equal(a, b) for a, b in zip(*same))
    model = make_model("mlp_bn", generator=0)
    groups, batch = find_symmetries(model), _batch()
    h_int = check_hessian_geometry(model, F.cross_entropy, batch, groups, n_individual=1, generator=4)
    h_gen = check_hessian_geometry(model, F.cross_entropy, batch, groups, n_individual=1,
                                   generator=torch.Generator().manual_seed(4))
    assert h_int == h_gen


@pytest.mark.parametrize("bad", [None, "0", 1.5, True, np.random.default_rng(0)])
def test_bad_generators_name_the_argument(bad) -> None:
    with pytest.raises(ValueError, match=r"generator must be an int seed or a torch\.Generator"):
        make_model("mlp_bn", generator=bad)
    with pytest.raises(ValueError, match=r"generator must be an int seed or a torch\.Generator"):
        minibatch_indices(10, batch_size=2, n_steps=1, generator=bad)  # refused at the call, not at next()


def test_dtype_mistakes() -> None:
    with pytest.raises(ValueError, match="dtype must be a floating-point"):
        make_model("mlp_bn", generator=0, dtype=torch.int64)
    with pytest.raises(ValueError, match="dtype must be a floating-point"):
        load_digits_split(dtype=torch.long)
    model = make_model("mlp_bn", generator=0)  # float64
    groups = find_symmetries(model)
    batch32 = _batch(dtype=torch.float32)
    with pytest.raises(ValueError, match=r"batch inputs has dtype torch.float32, the model's parameters torch.float64"):
        check_gradient_geometry(model, F.cross_entropy, batch32, groups)
    with pytest.raises(ValueError, match="batch inputs has dtype"):
        check_hessian_geometry(model, F.cross_entropy, batch32, groups)
    with pytest.raises(ValueError, match="example_input has dtype"):
        find_symmetries(model, batch32[0])
    with pytest.raises(ValueError, match=r"example_input must be a torch\.Tensor"):
        find_symmetries(model, [[0.0] * 64])


def test_integer_arguments_are_not_floored() -> None:
    model = make_model("mlp_relu", generator=0)
    groups = find_symmetries(model)
    with pytest.raises(ValueError, match=r"every must be >= 1 \(an integer\), got 2.5"):
        SymmetryTracker(model, groups, TrackedSGD(model.parameters(), lr=0.1), every=2.5)
    with pytest.raises(ValueError, match="n_individual"):
        check_hessian_geometry(model, F.cross_entropy, _batch(), groups, n_individual=1.5)
    with pytest.raises(ValueError, match="n_steps must be >= 0"):
        predict_gradient_flow(np.ones(3), n_steps=2.5)
    with pytest.raises(ValueError, match="n_steps must be >= 0"):
        predict_exact_discrete(np.ones(3), kind="translation", lr=0.1, weight_decay=0.0, n_steps=2.5)
    with pytest.raises(ValueError, match="n_steps must be >= 0"):
        minibatch_indices(10, batch_size=2, n_steps=-1, generator=0)
    with pytest.raises(ValueError, match="n_train"):
        load_digits_split(n_train=1500.0)


def test_non_numeric_hyperparameters_name_the_argument() -> None:
    q0, x = np.ones(3), np.ones((4, 3))
    with pytest.raises(ValueError, match="lr must be a real number"):
        predict_modified_flow(q0, x, kind="scale", lr="0.1", weight_decay=0.0)
    with pytest.raises(ValueError, match="momentum must be a real number"):
        predict_momentum(q0, x, kind="scale", lr=0.1, momentum="0.9", weight_decay=0.1)
    params = torch.nn.Linear(2, 2).parameters()
    with pytest.raises(ValueError, match="momentum must be a real number"):
        TrackedSGD(params, lr=0.1, momentum=None)
    with pytest.raises(ValueError, match="weight_decay must be a real number"):
        TrackedSGD(torch.nn.Linear(2, 2).parameters(), lr=0.1, weight_decay="0")


def test_array_arguments() -> None:
    q0 = torch.ones(3, requires_grad=True)  # a tensor that needs grad is read, not refused by numpy
    np.testing.assert_array_equal(predict_gradient_flow(q0, n_steps=2), np.ones((3, 3)))
    grad_sq = torch.ones(4, 3, requires_grad=True)
    np.testing.assert_array_equal(
        predict_modified_flow(q0, grad_sq, kind="scale", lr=0.1, weight_decay=0.0),
        predict_modified_flow(np.ones(3), np.ones((4, 3)), kind="scale", lr=0.1, weight_decay=0.0))
    with pytest.raises(ValueError, match="q0 must be real"):
        predict_gradient_flow(np.ones(3) + 1j, n_steps=2)
    with pytest.raises(ValueError, match="q0 must be an array of real numbers"):
        predict_gradient_flow(["a", "b"], n_steps=2)
    with pytest.raises(ValueError, match="pred must be an array of real numbers"):
        run_max_relative_error([["a"]], [[1.0]])
