"""Differentiable sorting networks: exact limits, invariants, monotonicity, error bounds, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from livepapers.diff_algorithms.sorting import (
    SIGMOIDS,
    DiffSortNet,
    bitonic_network,
    hard_sort,
    odd_even_network,
    perm_bce_loss,
    ranking_metrics,
    sort,
    swap_error,
)

KINDS = ("odd_even", "bitonic")


def _network(kind: str, n: int):
    return odd_even_network(n) if kind == "odd_even" else bitonic_network(n)


def _np_hard_sort(partner: np.ndarray, reverse: np.ndarray, x: np.ndarray) -> np.ndarray:
    idx = np.arange(x.shape[1])
    for p, rev in zip(partner, reverse):
        xp = x[:, p]
        take_min = (idx < p) ^ rev
        x = np.where(p == idx, x, np.where(take_min, np.minimum(x, xp), np.maximum(x, xp)))
    return x


def _dense_reference(network, x: torch.Tensor, f, steepness: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The official dense formulation: per layer an n×n matrix, P <- P @ M (O(n³) per layer)."""
    b, n = x.shape
    P = torch.eye(n, dtype=x.dtype).expand(b, n, n)
    for l, comps in enumerate(network.pairs()):
        M = torch.eye(n, dtype=x.dtype).repeat(b, 1, 1)
        for i, j in comps:
            alpha = f(x[:, j] - x[:, i], steepness, 0.25)
            if bool(network.reverse[l, i]):
                alpha = 1 - alpha
            M[:, i, i], M[:, j, i], M[:, i, j], M[:, j, j] = alpha, 1 - alpha, 1 - alpha, alpha
        x = (x.unsqueeze(1) @ M).squeeze(1)
        P = P @ M
    return x, P


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [3, 5, 6, 7, 12, 16, 33])
def test_hard_limit_equals_np_sort(kind, n):
    g = torch.Generator().manual_seed(n)
    x = torch.randn(64, n, generator=g, dtype=torch.float64)
    net = _network(kind, n)
    np.testing.assert_array_equal(hard_sort(net, x).numpy(), np.sort(x.numpy(), axis=1))
    # the relaxed sort approaches it as β grows (optimal sigmoid: per-swap error ≤ 1/(16β))
    y, _ = sort(net, x, steepness=1e7, distribution="optimal", return_permutation=False)
    np.testing.assert_allclose(y.numpy(), np.sort(x.numpy(), axis=1), atol=1e-5)


def test_bitonic_sorts_every_size_up_to_130():
    rng = np.random.default_rng(0)
    for n in range(2, 131):
        net = bitonic_network(n)
        k = math.ceil(math.log2(n))
        assert net.depth == k * (k + 1) // 2
        x = rng.standard_normal((n, 2000)).astype(np.float32)  # wires in rows: a comparator is two row ops
        expected = np.sort(x, axis=0)
        for comps, rev in zip(net.pairs(), net.reverse.numpy()):
            i, j = np.array(comps, dtype=np.int64).reshape(-1, 2).T
            lo, hi = np.minimum(x[i], x[j]), np.maximum(x[i], x[j])
            flip = rev[i][:, None]
            x[i], x[j] = np.where(flip, hi, lo), np.where(flip, lo, hi)
        assert np.array_equal(x, expected), f"bitonic network does not sort n={n}"


@pytest.mark.parametrize("kind", KINDS)
def test_zero_one_principle(kind):
    """All 2^n 0/1 inputs at once: wire w holds a bitset over the inputs; a comparator is (AND, OR)."""
    for n in range(2, 21):
        net = _network(kind, n)
        codes = np.arange(2**n, dtype=np.uint32)
        wires = [np.packbits(((codes >> w) & 1).astype(np.uint8)) for w in range(n)]
        for comps, rev in zip(net.pairs(), net.reverse.tolist()):
            for i, j in comps:
                lo, hi = wires[i] & wires[j], wires[i] | wires[j]
                wires[i], wires[j] = (hi, lo) if rev[i] else (lo, hi)
        for w in range(n - 1):  # sorted ascending: no input has a 1 on wire w and a 0 on wire w+1
            assert not (wires[w] & ~wires[w + 1]).any(), f"{kind} fails the 0-1 principle at n={n}"


def test_bitonic_power_of_two_is_the_official_network():
    net = bitonic_network(4)
    assert net.pairs() == [[(0, 1), (2, 3)], [(0, 2), (1, 3)], [(0, 1), (2, 3)]]
    # block 0: comparator (2, 3) is reversed (2 // 2 is odd); blocks >= 1 are all ascending for n = 4
    assert net.reverse.tolist() == [[False, False, True, True], [False] * 4, [False] * 4]


def test_odd_even_layers():
    net = odd_even_network(5)
    assert net.pairs() == [[(0, 1), (2, 3)], [(1, 2), (3, 4)]] * 2 + [[(0, 1), (2, 3)]]
    assert not net.reverse.any()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [2, 5, 8, 12])
@pytest.mark.parametrize("dist", list(SIGMOIDS))
def test_permutation_invariants_and_dense_equivalence(kind, n, dist):
    g = torch.Generator().manual_seed(7 * n)
    x = 2 * torch.randn(6, n, generator=g, dtype=torch.float64)
    net = _network(kind, n)
    y, P = sort(net, x, steepness=3.0, distribution=dist)
    torch.testing.assert_close(P.sum(1), torch.ones(6, n, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(P.sum(2), torch.ones(6, n, dtype=torch.float64), atol=1e-12, rtol=0)
    assert (P >= 0).all()
    torch.testing.assert_close(torch.einsum("bi,bij->bj", x, P), y, atol=1e-12, rtol=0)
    y_ref, P_ref = _dense_reference(net, x, SIGMOIDS[dist], 3.0)
    torch.testing.assert_close(y, y_ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(P, P_ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("dist", list(SIGMOIDS))
def test_gradcheck_relaxed_swap_and_permutation(dist):
    x = torch.tensor([[0.3, -0.2], [0.05, 0.9]], dtype=torch.float64, requires_grad=True)
    net = odd_even_network(2)
    assert torch.autograd.gradcheck(lambda x: sort(net, x, 2.0, 0.25, dist)[0], (x,))
    x5 = torch.randn(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    w = torch.randn(3, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for kind in KINDS:
        net = _network(kind, 5)
        assert torch.autograd.gradcheck(lambda x, net=net: (sort(net, x, 2.0, 0.25, dist)[1] * w).sum(), (x5,))


def _jacobian_min(kind, n, dist, x):
    x = x.clone().requires_grad_(True)
    y, _ = sort(_network(kind, n), x, 10.0, 0.25, dist, return_permutation=False)
    return min(float(torch.autograd.grad(y[:, j].sum(), x, retain_graph=True)[0].min()) for j in range(n))


@pytest.mark.parametrize("kind", KINDS)
def test_monotone_sigmoids_have_nonnegative_jacobian(kind):
    g = torch.Generator().manual_seed(3)
    for n in (4, 8, 16):
        x = torch.cat([s * torch.randn(50, n, generator=g, dtype=torch.float64) for s in (1.0, 3.0)])
        for dist in ("cauchy", "reciprocal", "optimal"):
            assert _jacobian_min(kind, n, dist, x) >= -1e-6, (dist, n)
        for dist in ("logistic", "logistic_phi", "gaussian"):
            assert _jacobian_min(kind, n, dist, x) < -1e-3, (dist, n)


@pytest.mark.parametrize(("dist", "worst"), [("logistic", 0.2785), ("gaussian", 0.1700), ("cauchy", 1 / math.pi),
                                             ("reciprocal", 1.0), ("optimal", 1 / 16)])
def test_worst_case_swap_error(dist, worst):
    beta = 10.0
    u = torch.cat([torch.linspace(0, 10, 100_001, dtype=torch.float64), torch.logspace(1, 4, 10_001,
                                                                                      dtype=torch.float64)])
    sup = float(swap_error(u / beta, steepness=beta, distribution=dist).max()) * beta
    assert abs(sup / worst - 1) < 0.01
    # the closed form is the actual error of the relaxed min of two values
    b = torch.logspace(-3, 2, 500, dtype=torch.float64)
    a = torch.zeros_like(b)
    y, _ = sort(odd_even_network(2), torch.stack([b, a], 1), beta, 0.25, dist, return_permutation=False)
    torch.testing.assert_close((y[:, 0] - 0).abs(), swap_error(b, steepness=beta, distribution=dist))


def test_art_error_is_not_scale_free():
    x = torch.logspace(-4, 2, 20_001, dtype=torch.float64)
    err = swap_error(x, steepness=10.0, distribution="logistic_phi", art_lambda=0.25)
    assert abs(float(err.max()) - 0.0146) < 0.0005
    torch.testing.assert_close(err, x * torch.sigmoid(-10 * x**0.75), rtol=1e-6, atol=1e-12)


def test_soft_rank_and_fast_path():
    s = DiffSortNet("bitonic", 6, steepness=1e4, distribution="optimal")
    x = torch.tensor([[3.0, -1.0, 2.0, 0.5, 10.0, -7.0]], dtype=torch.float64)
    torch.testing.assert_close(s.soft_rank(x), torch.tensor([[4.0, 1.0, 3.0, 2.0, 5.0, 0.0]], dtype=torch.float64),
                               atol=1e-3, rtol=0)
    y1, _P = s(x)
    y2, none = s(x, return_permutation=False)
    assert none is None
    torch.testing.assert_close(y1, y2)


def test_loss_and_metrics_known_answers():
    targets = torch.tensor([[3.0, 1.0, 2.0], [1.0, 2.0, 3.0]])
    q = torch.zeros(2, 3, 3)
    q[0, 0, 2] = q[0, 1, 0] = q[0, 2, 1] = 1
    q[1] = torch.eye(3)
    assert float(perm_bce_loss(q, targets)) < 1e-6
    assert float(perm_bce_loss(q.flip(-1), targets)) > 1.0
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.0, 2.0, 1.0]])
    m = ranking_metrics(scores, targets)
    assert m["em"] == 0.5 and abs(m["ew"] - 4 / 6) < 1e-6 and m["em5"] == 0.5


def test_bad_input():
    with pytest.raises(ValueError, match="unknown distribution"):
        DiffSortNet("odd_even", 4, distribution="sigmoid")
    with pytest.raises(ValueError, match="sorting_network_type"):
        DiffSortNet("bubble", 4)
    with pytest.raises(ValueError, match="size must be"):
        DiffSortNet("bitonic", 1)
    with pytest.raises(ValueError, match="steepness"):
        DiffSortNet("bitonic", 4, steepness=0.0)
    with pytest.raises(ValueError, match=r"shape \(batch, 4\)"):
        DiffSortNet("bitonic", 4)(torch.zeros(2, 5))
