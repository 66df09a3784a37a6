"""MMD estimators, the penalties, the permutation test, the regulariser, the stress test and the model."""

import math

import pytest
import torch

from livepapers.counterfactual_invariance import (
    BagOfEmbeddingsClassifier,
    CIRegularizer,
    RBFMixtureKernel,
    SpuriousReviews,
    conditional_mmd,
    marginal_mmd,
    mmd2,
    mmd_permutation_test,
    signature_for,
    stress_test,
    train,
)
from livepapers.counterfactual_invariance.mmd import grouped_mmd2

BW = (0.5, 1.0, 2.0, 4.0, 8.0)


def _e_kernel(delta: float, var: float) -> float:
    """E Σ_σ exp(−D²/(2σ²)) for D ~ N(delta, var)."""
    return sum(math.sqrt(s * s / (s * s + var)) * math.exp(-delta * delta / (2 * (s * s + var))) for s in BW)


def _mmd2_gauss(mu: float, s: float) -> float:
    """Population MMD² between N(0, s²) and N(mu, s²) under the mixture kernel."""
    return 2 * _e_kernel(0.0, 2 * s * s) - 2 * _e_kernel(mu, 2 * s * s)


def test_kernel_values_and_shapes():
    k = RBFMixtureKernel()
    a, b = torch.tensor([0.0, 1.0]), torch.tensor([[0.0], [2.0], [3.0]])
    K = k(a, b)
    assert K.shape == (2, 3)
    expected = sum(math.exp(-4.0 / (2 * s * s)) for s in BW)
    assert math.isclose(float(K[0, 1]), expected, rel_tol=1e-6) and math.isclose(float(K[0, 0]), 5.0)
    Kv = k(torch.randn(4, 3), torch.randn(5, 3))
    assert Kv.shape == (4, 5)
    with pytest.raises(ValueError, match="bandwidths"):
        RBFMixtureKernel(bandwidths=(1.0, -1.0))


def test_median_heuristic_scales_with_data():
    k = RBFMixtureKernel(median_heuristic=True)
    x = torch.randn(50, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(k(x, x), k(10 * x, 10 * x), rtol=1e-5, atol=1e-6)  # scale-free
    assert not torch.allclose(RBFMixtureKernel()(x, x), RBFMixtureKernel()(10 * x, 10 * x))


def test_mmd_zero_for_identical_samples():
    a = torch.randn(40, 3, generator=torch.Generator().manual_seed(1))
    assert float(mmd2(a, a)) == pytest.approx(0.0, abs=1e-6)
    assert float(mmd2(a, a + 1.0)) > 0.1


def test_unbiased_estimator_is_unbiased_and_biased_one_is_not():
    g = torch.Generator().manual_seed(2)
    reps, m, n = 400, 8, 12
    for mu in (0.0, 1.0):
        truth = _mmd2_gauss(mu, 1.0)
        ub, bi = [], []
        for _ in range(reps):
            a = torch.randn(m, generator=g, dtype=torch.float64)
            b = torch.randn(n, generator=g, dtype=torch.float64) + mu
            ub.append(float(mmd2(a, b, unbiased=True)))
            bi.append(float(mmd2(a, b)))
        ub_t, bi_t = torch.tensor(ub), torch.tensor(bi)
        se = float(ub_t.std() / math.sqrt(reps))
        assert abs(float(ub_t.mean()) - truth) < 3.5 * se, (mu, float(ub_t.mean()), truth, se)
        # negative control: the V-statistic carries a positive bias of order 1/m + 1/n
        assert float(bi_t.mean()) - truth > 6 * float(bi_t.std() / math.sqrt(reps))
    assert bool((torch.tensor(bi) >= -1e-12).all())


def test_marginal_and_conditional_mmd_are_group_sums():
    g = torch.Generator().manual_seed(3)
    h = torch.randn(60, generator=g, dtype=torch.float64)
    z = torch.randint(0, 2, (60,), generator=g)
    y = torch.randint(0, 3, (60,), generator=g)
    torch.testing.assert_close(marginal_mmd(h, z), mmd2(h[z == 0], h[z == 1]))
    per = [mmd2(h[(z == 0) & (y == c)], h[(z == 1) & (y == c)]) for c in range(3)]
    # the spec's conditional penalty is the unweighted sum over y strata (DoWhy CACM's conditional_reg)
    torch.testing.assert_close(conditional_mmd(h, z, y), sum(per))
    for unb in (True,):
        per_u = [mmd2(h[(z == 0) & (y == c)], h[(z == 1) & (y == c)], unbiased=unb) for c in range(3)]
        torch.testing.assert_close(conditional_mmd(h, z, y, unbiased=unb), sum(per_u))
        torch.testing.assert_close(marginal_mmd(h, z, unbiased=unb), mmd2(h[z == 0], h[z == 1], unbiased=unb))


def test_small_cells_contribute_zero_not_nan():
    h = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], requires_grad=True)
    z = torch.tensor([0, 0, 1, 1, 0, 1])
    y = torch.tensor([0, 0, 0, 0, 1, 1])  # stratum y=1 has one point per cell
    r = conditional_mmd(h, z, y)
    torch.testing.assert_close(r, mmd2(h[:2], h[2:4]))
    r.backward()
    assert torch.isfinite(h.grad).all() and float(h.grad[4].abs() + h.grad[5].abs()) == 0.0
    assert float(marginal_mmd(h.detach(), torch.tensor([0, 0, 0, 0, 0, 1]))) == 0.0


def test_penalty_gradient_matches_float64_gradcheck():
    g = torch.Generator().manual_seed(4)
    h = torch.randn(20, generator=g, dtype=torch.float64, requires_grad=True)
    z = torch.randint(0, 2, (20,), generator=g)
    y = torch.randint(0, 2, (20,), generator=g)
    assert torch.autograd.gradcheck(lambda t: conditional_mmd(t, z, y), (h,))
    assert torch.autograd.gradcheck(lambda t: grouped_mmd2(t, z, unbiased=True), (h,))


def test_permutation_test_matches_direct_statistic_and_has_power():
    g = torch.Generator().manual_seed(5)
    h = torch.randn(200, generator=g, dtype=torch.float64)
    z = torch.randint(0, 2, (200,), generator=g)
    y = torch.randint(0, 2, (200,), generator=g)
    stat, _ = mmd_permutation_test(h, z, n_perm=99, generator=g)
    assert stat == pytest.approx(float(mmd2(h[z == 0], h[z == 1])), rel=1e-9)
    stat_c, _ = mmd_permutation_test(h, z, y, n_perm=99, generator=g)
    assert stat_c == pytest.approx(float(conditional_mmd(h, z, y)), rel=1e-9)
    _, p_alt = mmd_permutation_test(h + 0.8 * z, z, n_perm=99, generator=g)
    assert p_alt == pytest.approx(0.01)  # the floor 1/(n_perm + 1)
    # h depends on Z only through Y: the conditional test must not reject, the marginal test must
    yy = torch.randint(0, 2, (400,), generator=g)
    zz = torch.where(torch.rand(400, generator=g) < 0.9, yy, 1 - yy)
    hh = 2.0 * yy + torch.randn(400, generator=g, dtype=torch.float64)
    assert mmd_permutation_test(hh, zz, n_perm=99, generator=g)[1] <= 0.01
    assert mmd_permutation_test(hh, zz, yy, n_perm=99, generator=g)[1] > 0.01


@pytest.mark.timeout(60)
def test_permutation_test_false_positive_rate_on_a_null():
    g = torch.Generator().manual_seed(6)
    n_tests = 400
    ps = []
    for _ in range(n_tests):
        h = torch.randn(40, generator=g, dtype=torch.float64)
        z = torch.randint(0, 2, (40,), generator=g)
        ps.append(mmd_permutation_test(h, z, n_perm=99, generator=g)[1])
    rate = sum(p <= 0.05 for p in ps) / n_tests
    assert 0.02 <= rate <= 0.09, rate  # nominal 0.05; binomial sd ≈ 0.011
    assert 0.4 < sum(ps) / n_tests < 0.6  # a null p-value is uniform


def test_regularizer_modes_and_weights():
    assert signature_for("anticausal") == "conditional" and signature_for("causal") == "marginal"
    assert signature_for("causal_selection") == "conditional"
    assert CIRegularizer(structure="causal").mode == "marginal"
    with pytest.raises(ValueError, match="exactly one"):
        CIRegularizer(structure="causal", mode="marginal")
    with pytest.raises(ValueError, match="exactly one"):
        CIRegularizer()
    with pytest.raises(ValueError, match="structure must be one of"):
        signature_for("diagonal")
    g = torch.Generator().manual_seed(7)
    h = torch.randn(64, generator=g)
    z, y = torch.randint(0, 2, (64,), generator=g), torch.randint(0, 2, (64,), generator=g)
    r = CIRegularizer(mode="conditional", lam=7.0)
    torch.testing.assert_close(r.penalty(h, y, z), 7.0 * conditional_mmd(h, z, y))
    assert torch.equal(r.sample_weights(y, z), torch.ones(64))
    # reweighting: the weighted joint of (Y, Z) factorises
    yt = torch.randint(0, 2, (5000,), generator=g)
    zt = torch.where(torch.rand(5000, generator=g) < 0.9, yt, 1 - yt)
    rw = CIRegularizer(structure="anticausal", reweight=True)
    with pytest.raises(ValueError, match="fit_weights"):
        rw.sample_weights(yt, zt)
    w = rw.fit_weights(yt, zt).sample_weights(yt, zt).double()
    joint = torch.zeros(2, 2, dtype=torch.float64).index_put_((yt, zt), w, accumulate=True)
    joint /= joint.sum()
    torch.testing.assert_close(joint, joint.sum(1, keepdim=True) * joint.sum(0, keepdim=True))


def test_stress_test_oracle_masked_baseline_is_exactly_invariant():
    gen = SpuriousReviews("anticausal")
    b = gen.sample(2000, 0.9, torch.Generator().manual_seed(8))
    torch.manual_seed(0)
    model = BagOfEmbeddingsClassifier(gen.vocab_size)
    markers = torch.tensor(gen.marker_ids[0] + gen.marker_ids[1])

    def masked(x):  # the oracle-masked baseline: marker tokens -> PAD before the model sees them
        return model.predict_proba(torch.where(torch.isin(x, markers), gen.pad_id, x))

    assert stress_test(masked, b["tokens"], b["tokens_cf"]) == {"cf_change": 0.0, "flip_rate": 0.0}
    assert stress_test(model.predict_proba, b["tokens"], b["tokens_cf"])["cf_change"] > 0  # control


def test_model_shapes_padding_and_gradients():
    torch.manual_seed(0)
    model = BagOfEmbeddingsClassifier(40, dim=8, hidden=16)
    x = torch.randint(1, 40, (5, 7))
    assert model(x).shape == (5,) and model.forward_features(x).shape == (5, 16)
    padded = torch.cat([x, torch.zeros(5, 3, dtype=torch.long)], 1)
    torch.testing.assert_close(model(padded), model(x))  # mean over non-PAD tokens
    loss = model(x).sum() + CIRegularizer(mode="marginal", lam=1.0).penalty(model(x), torch.zeros(5).long(),
                                                                             torch.tensor([0, 0, 1, 1, 1]))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_train_learns_and_penalty_reduces_cf_change():
    gen = SpuriousReviews("anticausal")
    g = torch.Generator().manual_seed(9)
    tr, te = gen.sample(2000, 0.9, g), gen.sample(1000, 0.9, g)
    out = {}
    for name, reg in (("erm", None), ("cond", CIRegularizer(structure="anticausal", lam=1.0))):
        torch.manual_seed(0)
        curve: list[dict] = []
        m = train(BagOfEmbeddingsClassifier(gen.vocab_size), tr, reg, epochs=8, generator=1,
                  callback=lambda e, s, curve=curve: curve.append(s))
        assert len(curve) == 8 and curve[-1]["step"] == 8 * 8
        out[name] = stress_test(m.predict_proba, te["tokens"], te["tokens_cf"])["cf_change"]
    assert out["erm"] > 0.2 and out["cond"] < 0.5 * out["erm"]
    with pytest.raises(ValueError, match="data needs key"):
        train(BagOfEmbeddingsClassifier(gen.vocab_size), {"tokens": tr["tokens"]})
