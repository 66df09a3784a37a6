"""Symmetry finder, per-group quantities and the gradient / Hessian geometry (C1), with negative controls."""

from __future__ import annotations

import collections
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from livepapers.neural_mechanics import (
    ParamSlice,
    SymmetryGroup,
    check_gradient_geometry,
    check_hessian_geometry,
    find_symmetries,
    make_model,
    quantities,
    quantity,
)

EXPECTED = {
    "mlp_relu": {"rescale": 256, "translation": 129},
    "mlp_bn": {"scale": 256, "rescale": 256, "translation": 129},
    "cnn_bn": {"scale": 48, "rescale": 48, "translation": 33},
}


def _batch(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 64, generator=g, dtype=torch.float64), torch.randint(0, 10, (n,), generator=g)


def _model(name: str, seed: int = 0, **kw) -> nn.Sequential:
    return make_model(name, generator=torch.Generator().manual_seed(seed), **kw)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_group_counts(name: str) -> None:
    groups = find_symmetries(_model(name))
    assert dict(collections.Counter(g.kind for g in groups)) == EXPECTED[name]


def test_group_structure_mlp_bn() -> None:
    groups = find_symmetries(_model("mlp_bn"))
    scale0 = next(g for g in groups if g.kind == "scale" and g.index == 5)
    assert scale0.members == (ParamSlice("0.weight", 0, 5, 6), ParamSlice("0.bias", 0, 5, 6))
    resc = next(g for g in groups if g.kind == "rescale" and g.name == "1->3" and g.index == 7)
    assert resc.incoming == (ParamSlice("1.weight", 0, 7, 8), ParamSlice("1.bias", 0, 7, 8))
    assert resc.outgoing == (ParamSlice("3.weight", 1, 7, 8),)
    # translation groups are columns of the last layer (not rows) plus its bias vector
    trans = [g for g in groups if g.kind == "translation"]
    assert trans[3].members == (ParamSlice("6.weight", 1, 3, 4),)
    assert trans[-1].members == (ParamSlice("6.bias", None, 0, 1),)


def test_quantities_match_loops() -> None:
    model = _model("cnn_bn", seed=3)
    groups = find_symmetries(model)
    q = quantities(model, groups)
    p = dict(model.named_parameters())
    # scale channel 4 of conv1: ||W_c||^2 + b_c^2
    n4 = p["1.weight"][4].pow(2).sum() + p["1.bias"][4] ** 2
    assert torch.allclose(q["scale"][4], n4)
    # rescale BN2 channel 9 -> linear column 9 (through the average pool): gamma^2 + beta^2 - ||W[:, 9]||^2
    idx = [i for i, g in enumerate(g for g in groups if g.kind == "rescale") if g.name == "5->9" and g.index == 9]
    d = p["5.weight"][9] ** 2 + p["5.bias"][9] ** 2 - p["9.weight"][:, 9].pow(2).sum()
    assert torch.allclose(q["rescale"][idx[0]], d)
    # translation: column sums, and the bias sum
    assert torch.allclose(q["translation"][:32], p["9.weight"].sum(0))
    assert torch.allclose(q["translation"][32], p["9.bias"].sum())
    g0 = next(g for g in groups if g.kind == "scale")
    assert torch.allclose(quantity(model, g0), q["scale"][0])


def test_flatten_without_pooling_needs_example_input() -> None:
    model = nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(4 * 16, 10),
    ).double()
    with pytest.raises(ValueError, match="example_input"):
        find_symmetries(model)
    groups = find_symmetries(model, example_input=torch.randn(2, 64, dtype=torch.float64))
    resc = [g for g in groups if g.kind == "rescale"]
    assert len(resc) == 4 and resc[1].outgoing == (ParamSlice("5.weight", 1, 16, 32),)
    x, y = _batch()
    assert check_gradient_geometry(model, F.cross_entropy, (x, y), groups)["max_normalized"] < 1e-12


def test_finder_refuses_unknown_modules_and_bad_endings() -> None:
    with pytest.raises(ValueError, match="does not understand"):
        find_symmetries(nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2)))
    with pytest.raises(ValueError, match=r"must be nn\.Linear"):
        find_symmetries(nn.Sequential(nn.Linear(4, 4), nn.ReLU()))
    with pytest.raises(ValueError, match=r"nn\.Sequential"):
        find_symmetries(nn.Linear(4, 2))
    with pytest.raises(ValueError, match="kind must be"):
        SymmetryGroup(kind="rotation", name="x", index=0, members=(ParamSlice("w", 0),))


def test_finder_warns_on_default_eps() -> None:
    with pytest.warns(UserWarning, match="eps"):
        find_symmetries(_model("mlp_bn", bn_eps=1e-5))
    x, _ = _batch()
    with pytest.warns(UserWarning, match="breaks the scale symmetry"):
        groups = find_symmetries(_model("mlp_bn", bn_eps=1e-5), example_input=x)
    bounds = [g.eps_bound for g in groups if g.kind == "scale"]
    assert all(b is not None and 1e-7 < b < 1e-3 for b in bounds)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        find_symmetries(_model("mlp_bn"), example_input=x)  # eps = 1e-30: silent


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_geometry_identities_hold_in_float64(name: str) -> None:
    model = _model(name, seed=1)
    groups = find_symmetries(model)
    batch = _batch(seed=2)
    g = check_gradient_geometry(model, F.cross_entropy, batch, groups)
    assert g["max_normalized"] < 1e-13
    h = check_hessian_geometry(model, F.cross_entropy, batch, groups, n_individual=2)
    assert h["max"] < 1e-10


def test_hessian_check_detects_a_wrong_identity() -> None:
    """A group that is not a symmetry (a row of the last layer as 'translation') must show up as violated."""
    model = _model("mlp_relu")
    fake = SymmetryGroup(kind="translation", name="fake", index=0, members=(ParamSlice("4.weight", 0, 0, 1),))
    batch = _batch()
    assert check_gradient_geometry(model, F.cross_entropy, batch, [fake])["max_normalized"] > 1e-4
    assert check_hessian_geometry(model, F.cross_entropy, batch, [fake])["max"] > 1e-3


def test_negative_control_default_eps() -> None:
    with pytest.warns(UserWarning):
        model = _model("mlp_bn", seed=1, bn_eps=1e-5)
        groups = find_symmetries(model)
    batch = _batch(seed=2)
    g = check_gradient_geometry(model, F.cross_entropy, batch, groups)
    assert g["scale_normalized"] > 1e-8  # ~1e-5 relative to ||g_A|| ||theta_A||; far above the 1e-10 check
    assert g["translation_normalized"] < 1e-13 and g["rescale_normalized"] < 1e-13
    h = check_hessian_geometry(model, F.cross_entropy, batch, groups, n_individual=2)
    assert h["scale"] > 1e-7 and h["translation"] < 1e-10


def test_negative_control_eval_mode() -> None:
    model = _model("mlp_bn", seed=1)
    groups = find_symmetries(model)
    batch = _batch(seed=2)
    model(batch[0] * 3 + 1)  # move the running statistics away from their init
    model.eval()
    g = check_gradient_geometry(model, F.cross_entropy, batch, groups)
    assert g["scale_normalized"] > 1e-4
    assert g["translation_normalized"] < 1e-13
    h = check_hessian_geometry(model, F.cross_entropy, batch, groups, n_individual=2)
    assert h["scale"] > 1e-3


def test_bad_batch() -> None:
    model = _model("mlp_relu")
    with pytest.raises(ValueError, match="batch"):
        check_gradient_geometry(model, F.cross_entropy, torch.zeros(3, 64), find_symmetries(model))


@pytest.mark.timeout(60)
def test_geometry_random_architectures() -> None:
    """Property: for random chains (widths, BN or not, LeakyReLU/ReLU/Dropout) and random data the gradient
    identities hold to round-off for every detected group."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=12, deadline=None, derandomize=True)
    @given(
        widths=st.lists(st.integers(2, 9), min_size=1, max_size=3),
        bn=st.booleans(),
        act=st.sampled_from(["relu", "leaky", "dropout_relu"]),
        batch=st.integers(2, 9),
        seed=st.integers(0, 10_000),
    )
    def check(widths, bn, act, batch, seed):
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        d_in = 5
        for w in widths:
            layers.append(nn.Linear(d_in, w))
            if bn:
                layers.append(nn.BatchNorm1d(w, eps=1e-30))
            layers.extend({"relu": [nn.ReLU()], "leaky": [nn.LeakyReLU(0.1)],
                           "dropout_relu": [nn.ReLU(), nn.Dropout(0.2)]}[act])
            d_in = w
        layers.append(nn.Linear(d_in, 4))
        model = nn.Sequential(*layers).double()
        groups = find_symmetries(model)
        n_trans = d_in + 1
        assert sum(g.kind == "translation" for g in groups) == n_trans
        assert sum(g.kind == "rescale" for g in groups) == sum(widths)
        assert sum(g.kind == "scale" for g in groups) == (sum(widths) if bn else 0)
        x = torch.randn(batch, 5, dtype=torch.float64)
        y = torch.randint(0, 4, (batch,))
        torch.manual_seed(seed)  # same dropout mask in the check's forward
        out = check_gradient_geometry(model, F.cross_entropy, (x, y), groups)
        assert out["max_normalized"] < 1e-12

    check()
