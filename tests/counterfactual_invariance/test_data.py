"""SpuriousReviews: the spec's reference values (≥ 2×10⁵ samples, ±0.01) and exact counterfactual pairs."""

import math

import pytest
import torch

from livepapers.counterfactual_invariance import SpuriousReviews, accuracy, stress_test

N = 200_000
# spec, "Exact reference values": the train-distribution (γ = 0.9) Bayes predictor at γ_test = 0.1 ... 0.9
ANTI_FULL = {0.1: 0.5324, 0.3: 0.6319, 0.5: 0.7313, 0.7: 0.8308, 0.9: 0.9303}


@pytest.mark.timeout(60)
def test_anticausal_reference_values():
    gen = SpuriousReviews("anticausal")
    g = torch.Generator().manual_seed(0)
    for gamma, ref in ANTI_FULL.items():
        b = gen.sample(N, gamma, g)
        assert abs(accuracy(gen.bayes_content_proba(b["tokens"]), b["y"]) - 0.8386) < 0.01, gamma
        full = lambda x: gen.bayes_full_proba(x, 0.9)  # noqa: E731
        assert abs(accuracy(full(b["tokens"]), b["y"]) - ref) < 0.01, gamma
        if gamma == 0.9:
            st = stress_test(full, b["tokens"], b["tokens_cf"])
            assert abs(st["cf_change"] - 0.4636) < 0.01
            assert stress_test(gen.bayes_content_proba, b["tokens"], b["tokens_cf"])["cf_change"] == 0.0


@pytest.mark.timeout(60)
def test_causal_reference_values():
    gen = SpuriousReviews("causal", a_u=2.5)
    g = torch.Generator().manual_seed(1)
    for rho, ref_full in ((0.1, 0.554), (0.9, 0.834)):
        b = gen.sample(N, rho, g)
        assert abs(accuracy(gen.bayes_content_proba(b["tokens"]), b["y"]) - 0.736) < 0.01, rho
        assert abs(accuracy(gen.bayes_full_proba(b["tokens"], 0.9), b["y"]) - ref_full) < 0.01, rho
        # Z = U w.p. ρ; U is independent of the text
        assert abs(float((b["z"] == b["u"]).double().mean()) - rho) < 0.005


def test_negative_control_a_u_changes_the_ceiling():
    """The references are not satisfied by any generator: the draft's a_U = 1.5 gives a higher CI ceiling."""
    gen = SpuriousReviews("causal", a_u=1.5)
    b = gen.sample(50_000, 0.9, torch.Generator().manual_seed(2))
    assert accuracy(gen.bayes_content_proba(b["tokens"]), b["y"]) > 0.78


@pytest.mark.parametrize("structure", ["anticausal", "causal"])
def test_counterfactual_pairs_are_exact(structure):
    gen = SpuriousReviews(structure)
    b = gen.sample(3000, 0.7, torch.Generator().manual_seed(3))
    x, xcf, z = b["tokens"], b["tokens_cf"], b["z"]
    assert x.shape == (3000, 24) and x.dtype == torch.long
    differ = x != xcf
    markers = torch.tensor(sorted(gen.marker_ids[0] + gen.marker_ids[1]))
    assert bool(torch.isin(x[differ], markers).all()), "counterfactuals differ only in markers"
    assert torch.equal(gen.swap_markers(x), xcf) and torch.equal(gen.swap_markers(xcf), x)
    unmarked = torch.tensor([gen.vocab.index(w) for w in ("the", "a", "and")])
    assert not bool(torch.isin(x, unmarked).any()), "markable words always carry their Z-variant"
    zo = gen.observed_z(x)
    seen = zo >= 0
    assert torch.equal(zo[seen], z[seen]) and torch.equal(gen.observed_z(xcf)[seen], 1 - z[seen])
    assert abs(float((~seen).double().mean()) - 0.82**24) < 0.006  # P(no marker) ≈ 0.009
    assert bool((x != gen.pad_id).all())


def test_anticausal_association_and_slots():
    gen = SpuriousReviews("anticausal")
    b = gen.sample(20_000, 0.3, torch.Generator().manual_seed(4))
    assert abs(float((b["z"] == b["y"]).double().mean()) - 0.3) < 0.015
    n_pos, n_neg = gen.counts(b["tokens"])
    assert abs(float((n_pos + n_neg).double().mean()) - 24 * 0.25) < 0.05
    # the Bayes logit is (n_pos − n_neg) log(7/3)
    lg = gen.bayes_content_logit(b["tokens"])
    torch.testing.assert_close(lg, (n_pos - n_neg).double() * math.log(7 / 3))


def test_sampling_is_deterministic_and_seed_dependent():
    gen = SpuriousReviews("causal")
    a = gen.sample(100, 0.9, torch.Generator().manual_seed(5))
    b = gen.sample(100, 0.9, torch.Generator().manual_seed(5))
    c = gen.sample(100, 0.9, torch.Generator().manual_seed(6))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["tokens"], c["tokens"])
    from_int = gen.sample(10, 0.5, 7)["tokens"]
    assert torch.equal(from_int, gen.sample(10, 0.5, torch.Generator().manual_seed(7))["tokens"])


def test_bad_inputs_one_line_errors():
    with pytest.raises(ValueError, match="structure must be one of"):
        SpuriousReviews("sideways")
    gen = SpuriousReviews("anticausal")
    with pytest.raises(ValueError, match="association"):
        gen.sample(10, 1.5, 0)
    with pytest.raises(ValueError, match="n must be"):
        gen.sample(0, 0.5, 0)
    with pytest.raises(ValueError, match="train_association"):
        gen.bayes_full_proba(torch.zeros(2, 24, dtype=torch.long), 1.0)
