"""GenDR: CDF values, T-conorm axioms, boundary distances, gradients, SoftRas equivalence, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from livepapers.diff_algorithms.rendering import (
    DISTRIBUTIONS,
    T_CONORMS,
    GenDR,
    iou_loss,
    pixel_centres,
    signed_distance,
)

KNOWN_CDF = {  # F(1) for the closed forms of the spec
    "uniform": 1.0, "cubic_hermite": 1.0, "wigner_semicircle": 1.0, "gaussian": 0.8413447460685429,
    "laplace": 1 - 0.5 * math.exp(-1), "logistic": 1 / (1 + math.exp(-1)),
    "hyperbolic_secant": 2 / math.pi * math.atan(math.tanh(0.5)) + 0.5, "cauchy": 0.75, "reciprocal": 0.75,
    "gumbel_max": math.exp(-math.exp(-1)), "gumbel_min": 1 - math.exp(-math.e), "heaviside": 1.0,
}


@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_distribution_cdfs(name):
    F = DISTRIBUTIONS[name]
    u = torch.linspace(-50, 50, 20_001, dtype=torch.float64)
    c = F(u)
    assert (c[1:] >= c[:-1] - 1e-15).all(), "a CDF is non-decreasing"
    assert float(c[0]) < 0.02 and float(c[-1]) > 0.98 and ((c >= 0) & (c <= 1)).all()
    assert abs(float(F(torch.tensor(1.0, dtype=torch.float64))) - KNOWN_CDF[name]) < 1e-12
    if name not in ("gumbel_max", "gumbel_min", "heaviside"):  # point symmetric about 0
        torch.testing.assert_close(F(u) + F(-u), torch.ones_like(u), atol=1e-12, rtol=0)
    half = {"uniform": 0.75, "cubic_hermite": 0.84375, "reciprocal": 0.5 + 0.5 / 3}
    if name in half:
        assert abs(float(F(torch.tensor(0.5, dtype=torch.float64))) - half[name]) < 1e-12
    if name in ("uniform", "cubic_hermite", "wigner_semicircle"):  # finite support
        assert float(F(torch.tensor(-1.0001, dtype=torch.float64))) == 0.0


@pytest.mark.parametrize("name", list(T_CONORMS))
def test_t_conorm_axioms(name):
    fold = T_CONORMS[name]
    g = torch.linspace(0.01, 0.99, 25, dtype=torch.float64)
    a, b = torch.meshgrid(g, g, indexing="ij")
    ab = fold(a, b, None)
    tol = 1e-5
    torch.testing.assert_close(ab, fold(b, a, None), atol=tol, rtol=0)  # commutative
    torch.testing.assert_close(fold(g, torch.zeros_like(g), None), g, atol=tol, rtol=0)  # identity 0
    torch.testing.assert_close(fold(g, torch.ones_like(g), None), torch.ones_like(g), atol=tol, rtol=0)  # absorbing 1
    assert (ab[1:] >= ab[:-1] - tol).all() and (ab[:, 1:] >= ab[:, :-1] - tol).all()  # monotone
    c = g.flip(0)[:, None].expand_as(a)
    torch.testing.assert_close(fold(fold(a, b, None), c, None), fold(a, fold(b, c, None), None), atol=1e-4, rtol=0)
    assert (ab >= torch.maximum(a, b) - tol).all()  # every T-conorm is ≥ max


def test_t_conorm_known_values():
    a, b = torch.tensor(0.5, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64)
    assert float(T_CONORMS["probabilistic"](a, b, None)) == 0.75
    assert abs(float(T_CONORMS["einstein"](a, b, None)) - 0.8) < 1e-12
    assert float(T_CONORMS["max"](a, b, None)) == 0.5
    assert abs(float(T_CONORMS["yager"](a, b, 2.0)) - math.sqrt(0.5)) < 1e-6
    # Hamacher with p = 1 is the probabilistic sum
    assert abs(float(T_CONORMS["hamacher"](a, b, 1.0)) - 0.75) < 1e-12


def test_boundary_distance_known_answers_and_gradcheck():
    tri = torch.tensor([[[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]]], dtype=torch.float64)
    p = torch.tensor([[0.2, 0.1], [2.0, 0.0], [-1.0, -1.0], [0.5, 0.5], [0.5, -0.3]], dtype=torch.float64)
    d2, inside = signed_distance(tri, p)
    torch.testing.assert_close(d2[0, 0], torch.tensor([0.01, 1.0, 2.0, 0.0, 0.09], dtype=torch.float64))
    assert inside[0, 0].tolist() == [True, False, False, False, False]
    tri_cw = tri.flip(2)  # orientation does not matter
    torch.testing.assert_close(signed_distance(tri_cw, p)[0], d2)
    tri_r = (torch.rand(2, 3, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) - 0.5)
    pts = pixel_centres(6, 6, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: signed_distance(t, pts)[0], (tri_r.requires_grad_(True),))


def test_pixel_centres_convention():
    c = pixel_centres(4, 8)
    torch.testing.assert_close(c[0], torch.tensor([-7 / 8, 3 / 4]))  # row 0 is the top
    torch.testing.assert_close(c[-1], torch.tensor([7 / 8, -3 / 4]))


def test_silhouette_hard_and_soft():
    tri = torch.tensor([[[[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5]], [[-0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]]])
    hard = GenDR(image_size=32, dist_func="heaviside")(tri)
    assert hard.sum() == 16 * 16 - 0 or abs(float(hard.sum()) - 256) <= 16  # a 1×1 square of a 2×2 image
    soft = GenDR(image_size=32, dist_func="uniform", dist_scale=0.01)(tri)
    assert float(soft[0, 16, 16]) == 1.0 and float(soft[0, 0, 0]) == 0.0
    v = tri.clone().requires_grad_(True)
    loss = iou_loss(GenDR(image_size=32, dist_func="heaviside")(v), torch.zeros(1, 32, 32) + 0.5).sum()
    assert float(torch.autograd.grad(loss, v)[0].abs().max()) == 0.0  # hard rasteriser: exactly zero gradient
    v = tri.clone().requires_grad_(True)
    loss = iou_loss(GenDR(image_size=32, dist_func="cauchy", dist_scale=0.02)(v), torch.zeros(1, 32, 32) + 0.5)
    assert float(torch.autograd.grad(loss.sum(), v)[0].abs().max()) > 0


def test_far_field_gradient_depends_on_the_tails():
    tri = torch.tensor([[[[0.7, 0.7], [0.9, 0.7], [0.8, 0.9]]]])
    target = torch.zeros(1, 32, 32)
    target[:, 20:28, 4:12] = 1.0  # far from the triangle
    grads = {}
    for dist in ("uniform", "cauchy", "logistic"):
        v = tri.clone().requires_grad_(True)
        loss = iou_loss(GenDR(image_size=32, dist_func=dist, dist_scale=0.02)(v), target).sum()
        grads[dist] = float(torch.autograd.grad(loss, v)[0].abs().max())
    assert grads["uniform"] == 0.0 and grads["cauchy"] > 0


def test_softras_equivalence():
    from livepapers.diff_algorithms.rendering import softras_equivalence_error

    assert softras_equivalence_error(torch.Generator().manual_seed(0)) < 1e-6


def test_bad_input():
    with pytest.raises(ValueError, match="unknown dist_func"):
        GenDR(dist_func="student")
    with pytest.raises(ValueError, match="unknown aggr_alpha_func"):
        GenDR(aggr_alpha_func="sum")
    with pytest.raises(ValueError, match="outside the range"):
        GenDR(aggr_alpha_func="yager", aggr_alpha_t_conorm_p=-1.0)
    with pytest.raises(ValueError, match=r"\(batch, faces, 3, 2\)"):
        GenDR()(torch.zeros(2, 3, 2))
