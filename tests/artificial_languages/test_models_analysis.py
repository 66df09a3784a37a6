"""Language models, evaluation, permutation tests, the mixed model and the WALS comparison."""

import math

import numpy as np
import pytest
import torch
from scipy import stats as st

from livepapers.artificial_languages import (
    LSTMLM,
    TransformerLM,
    all_pairs_permutation,
    corpus_perplexity,
    experiment,
    fit_mixed_effects,
    fractional_factorial,
    make_stream,
    paired_permutation_test,
    sentence_logprobs,
    train_lm,
    typology_correlation,
    wals_configurations,
)
from livepapers.artificial_languages.analysis import (
    corrected_spread,
    holm,
    seed_aware_pairs,
    seed_bootstrap_spread_diff,
    spread_noise,
    switch_effects_balanced,
)
from livepapers.artificial_languages.grammar import SWITCHES, coded_design, comp_free_key
from livepapers.artificial_languages.models import inverse_sqrt_lr, token_logprobs

V = 23


def _models():
    torch.manual_seed(0)
    return [TransformerLM(V, d_model=16, n_layers=2, n_heads=2, d_ff=32, dropout=0.0, max_len=16),
            LSTMLM(V, d_emb=8, d_hidden=12, n_layers=2, dropout=0.0)]


@pytest.mark.parametrize("k", [0, 1])
def test_causal_shapes_tied(k):
    m = _models()[k].eval()
    x = torch.randint(1, V, (3, 10))
    y = m(x)
    assert y.shape == (3, 10, V) and torch.isfinite(y).all()
    x2 = x.clone()
    x2[:, 6:] = (x2[:, 6:] + 1) % V
    assert torch.allclose(m(x2)[:, :6], y[:, :6], atol=1e-5)  # no look-ahead
    assert not torch.allclose(m(x2)[:, 6:], y[:, 6:])
    assert not any(p.shape == (V, getattr(m, "d_model", 8)) and p is not m.embed.weight for p in m.parameters())
    m.train()
    m(x).sum().backward()
    assert all(p.grad is not None for p in m.parameters())


class Uniform(torch.nn.Module):
    def forward(self, x):
        return torch.zeros(*x.shape, V)


def test_sentence_logprobs_uniform_and_owner():
    sents = [[3, 4, 5], [6, 7], [8, 9, 10, 11, 12]]
    lp = sentence_logprobs(Uniform(), sents, block=4)
    assert np.allclose(lp, [-(len(s) + 1) * math.log(V) for s in sents])  # tokens + </s>
    n = sum(len(s) + 1 for s in sents)
    assert corpus_perplexity(lp, n) == pytest.approx(V)
    m = _models()[0].eval()
    stream, _owner = make_stream(sents)
    tok = token_logprobs(m, stream, block=4)
    assert tok.shape == (len(stream) - 1,)
    # sentence i owns the targets after the previous </s> up to and including its own </s>
    ends = np.cumsum([len(s) + 1 for s in sents])
    manual = [tok[a:b].sum() for a, b in zip([0, *ends[:-1]], ends)]
    assert np.allclose(sentence_logprobs(m, sents, block=4), manual)
    with pytest.raises(ValueError):
        corpus_perplexity(lp, 0)


@pytest.mark.parametrize("k", [0, 1])
def test_token_logprobs_restart_context_every_block(k):
    torch.manual_seed(0)
    m = [TransformerLM(V, d_model=16, n_layers=2, n_heads=2, d_ff=32, dropout=0.0, max_len=32),
         LSTMLM(V, d_emb=8, d_hidden=12, n_layers=2, dropout=0.0)][k].eval()
    stream = np.random.default_rng(1).integers(1, V, size=23)  # 22 targets: 5 blocks of 4 and a last block of 2
    got = token_logprobs(m, stream, block=4)
    s = torch.as_tensor(stream)
    manual = []
    with torch.no_grad():
        for a in range(0, len(stream) - 1, 4):  # each block seen on its own: no context from earlier blocks
            b = min(a + 4, len(stream) - 1)
            lp = torch.log_softmax(m(s[None, a:b]).double(), -1)[0]
            manual += [float(lp[t, s[a + t + 1]]) for t in range(b - a)]
    assert np.allclose(got, manual, atol=1e-6)
    # negative control: one block over the whole stream gives the same first block but different later tokens
    whole = token_logprobs(m, stream, block=len(stream) - 1)
    assert np.allclose(whole[:4], got[:4], atol=1e-6)
    assert np.abs(whole[4:] - got[4:]).max() > 1e-3


def test_train_deterministic_and_learns():
    rng = np.random.default_rng(0)
    sents = [[*list(rng.choice([3, 4], 1)), 5, 6, 7] for _ in range(80)]  # mostly deterministic language
    stream, _ = make_stream(sents)
    curves = []
    for _ in range(2):
        m = _models()[0]
        curves.append(train_lm(m, stream, 40, block=16, batch=4, lr=5e-3, warmup=5,
                               generator=torch.Generator().manual_seed(1)))
    assert curves[0] == curves[1]
    assert np.mean(curves[0][-5:]) < 0.5 * curves[0][0]
    assert inverse_sqrt_lr(5, lr=1.0, warmup=15) == pytest.approx(1 / 3)
    assert inverse_sqrt_lr(60, lr=1.0, warmup=15) == pytest.approx(0.5)
    assert inverse_sqrt_lr(1, lr=5e-4, warmup=4000, init_lr=1e-7) == pytest.approx(1e-7 + (5e-4 - 1e-7) / 4000)
    assert inverse_sqrt_lr(4000, lr=5e-4, warmup=4000, init_lr=1e-7) == pytest.approx(5e-4)


def test_attention_dropout_is_its_own_knob():
    torch.manual_seed(0)
    x = torch.randint(1, V, (2, 10))
    m = TransformerLM(V, d_model=16, n_layers=1, n_heads=2, d_ff=32, dropout=0.0, max_len=16, attn_dropout=0.5)
    m.train()
    assert not torch.allclose(m(x), m(x))  # only the attention weights are dropped
    m0 = TransformerLM(V, d_model=16, n_layers=1, n_heads=2, d_ff=32, dropout=0.0, max_len=16, attn_dropout=0.0)
    m0.train()
    assert torch.allclose(m0(x), m0(x))
    paper = experiment.build_model("transformer", V, experiment.PROFILES["paper"].config)
    assert [b.attn_dropout for b in paper.blocks] == [0.1, 0.1] and paper.drop.p == 0.3
    assert experiment.PROFILES["paper"].config.warmup_init_lr == 1e-7


def test_permutation_tests():
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    assert paired_permutation_test(a, a.copy(), 999) == 1.0
    assert paired_permutation_test(a + 1.0, a, 999) == pytest.approx(1 / 1000)
    scores = {"000000": a, "000101": a + 0.1 * rng.normal(size=200), "111111": a + 0.5 + rng.normal(size=200)}
    df = all_pairs_permutation(scores, 2000, generator=torch.Generator().manual_seed(0))
    assert len(df) == 3
    row = df[(df.a == "000000") & (df.b == "111111")].iloc[0]
    assert row.significant and row.significant_adj
    assert np.allclose(df.p_adj, holm(df.p.to_numpy()))
    # the vectorised all-pairs test draws the same sign matrix as the single-pair test: identical p-values
    for r in df.itertuples():
        single = paired_permutation_test(scores[r.a], scores[r.b], 2000, torch.Generator().manual_seed(0))
        assert single == r.p, (r.a, r.b)
    assert np.allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    assert np.allclose(holm([0.04, 0.001, 0.5, 0.02]), [0.08, 0.004, 0.5, 0.06])


def test_permutation_p_uniform_under_null():
    rng = np.random.default_rng(2)
    ps = np.array([paired_permutation_test(rng.normal(size=40), rng.normal(size=40), 499,
                                           torch.Generator().manual_seed(k)) for k in range(400)])
    assert 0.02 <= np.mean(ps <= 0.05) <= 0.09
    assert 0.42 <= np.mean(ps <= 0.5) <= 0.58
    assert st.kstest(ps, "uniform").pvalue > 1e-3
    # and it has power against a shift of 0.8 SD
    shifted = [paired_permutation_test(rng.normal(size=40) + 0.8, rng.normal(size=40), 499) for _ in range(20)]
    assert np.mean(np.array(shifted) <= 0.05) > 0.8


def test_mixed_model_recovers_effects():
    rng = np.random.default_rng(0)
    grammars = fractional_factorial()
    beta = np.array([0.5, -1.0, 0.0, 0.0, 2.0, 0.0])
    C = coded_design(grammars)
    u = rng.normal(20, 5, size=300)  # sentence difficulty, shared across languages
    scores = {g: u + 10 + C[i] @ beta + rng.normal(0, 1, 300) for i, g in enumerate(grammars)}
    res = fit_mixed_effects(scores)
    est = np.array([res.params[s] for s in ("S", "VP", "Comp", "PP", "NP", "Rel")])
    assert np.allclose(est, beta, atol=0.1)
    with pytest.raises(ValueError, match="aliased"):
        fit_mixed_effects(scores, interactions=True)
    with pytest.raises(ValueError, match="aliased"):
        fit_mixed_effects({g: scores[g] for g in grammars[:4]})


def test_wals_configurations():
    c = wals_configurations()
    assert sum(c.values()) == 477
    assert c.most_common(3) == [("01111", 167), ("00000", 73), ("11111", 64)]
    assert c["00011"] == 57 and c["01101"] == 31
    with pytest.raises(ValueError, match="unknown source"):
        wals_configurations("NOPE")


def test_typology_correlation():
    counts = {"00000": 100, "01101": 30, "11111": 10, "00010": 1}
    gs = ["000000", "011101", "111111", "000010"]
    rho, p = typology_correlation(dict(zip(gs, [4.0, 3.0, 2.0, 1.0])), 999, counts=counts)
    assert rho == pytest.approx(1.0) and p < 0.1
    rho, p = typology_correlation(dict(zip(gs, [1.0, 2.0, 3.0, 4.0])), 999, counts=counts)
    assert rho == pytest.approx(-1.0) and p > 0.9
    # ρ is Spearman's with average ranks for the many tied counts
    c = wals_configurations()
    ease = {g: float(i) for i, g in enumerate(fractional_factorial())}
    rho, _ = typology_correlation(ease, 99, counts=c)
    x = np.log1p([c.get(comp_free_key(g), 0) for g in ease])
    assert rho == pytest.approx(st.spearmanr(list(ease.values()), x).statistic)


def test_typology_p_uniform_under_null():
    """Random ease over the 16 design languages with the real (heavily tied) WALS counts: the one-sided
    permutation p is uniform, so P(p <= 0.05) is about 0.05."""
    c = wals_configurations()
    rng = np.random.default_rng(3)
    gs = fractional_factorial()
    ps = np.array([typology_correlation(dict(zip(gs, rng.normal(size=16))), 499, counts=c,
                                        generator=torch.Generator().manual_seed(k))[1] for k in range(300)])
    assert 0.015 <= np.mean(ps <= 0.05) <= 0.095
    assert 0.42 <= np.mean(ps <= 0.5) <= 0.58


def test_switch_effects_balanced_equals_mixed_model():
    rng = np.random.default_rng(4)
    grammars = fractional_factorial()
    beta = np.array([0.3, -0.2, 0.0, 0.1, 0.5, -0.4])
    C = coded_design(grammars)
    u = rng.normal(20, 5, size=200)
    scores = {g: u + C[i] @ beta + rng.normal(0, 2, 200) for i, g in enumerate(grammars)}
    res = fit_mixed_effects(scores)
    mm = np.array([res.params[s] for s in SWITCHES])
    assert np.allclose(switch_effects_balanced(scores), mm, atol=1e-5)
    with pytest.raises(ValueError, match="balanced"):
        switch_effects_balanced({g: scores[g] for g in ("000000", "011101", "111111", "100010")})


def test_spread_noise_and_corrected_spread():
    rng = np.random.default_rng(5)
    G, R, true_sd, sigma = 2000, 3, 0.1, 0.1
    L = rng.normal(0, true_sd, (G, 1)) + rng.normal(0, sigma, (G, R))
    spread, noise = spread_noise(L)
    assert noise == pytest.approx(sigma, rel=0.03)
    assert spread == pytest.approx(math.sqrt(true_sd ** 2 + sigma ** 2 / R), rel=0.04)  # inflated by σ²/R
    assert corrected_spread(spread, noise, R) == pytest.approx(true_sd, rel=0.05)
    assert corrected_spread(0.01, 0.1, 3) == 0.0
    assert math.isnan(spread_noise(L[:, :1])[1]) and math.isnan(corrected_spread(spread, float("nan"), 1))


def test_seed_bootstrap_spread_diff():
    rng = np.random.default_rng(6)
    noise = rng.normal(0, 0.05, (16, 3))
    same = seed_bootstrap_spread_diff(noise, noise)
    assert same["n"] == 27 * 27 and same["diff"] == 0.0
    assert same["lo"] == pytest.approx(-same["hi"]) and same["lo"] < 0 < same["hi"]  # antisymmetric, straddles 0
    assert 0.3 < same["p_pos"] < 0.5  # the 27 resample pairs (i, i) tie at 0, the rest split evenly
    big = np.linspace(-0.5, 0.5, 16)[:, None] + rng.normal(0, 0.01, (16, 3))
    sure = seed_bootstrap_spread_diff(big, noise)
    assert sure["lo"] > 0 and sure["p_pos"] == 1.0
    assert sure["diff"] == pytest.approx(np.std(big.mean(1), ddof=1) - np.std(noise.mean(1), ddof=1))
    many = seed_bootstrap_spread_diff(rng.normal(size=(16, 8)), rng.normal(size=(16, 8)), n_boot=500)
    assert many["n"] == 500  # 8^8 resamples: random bootstrap instead of enumeration


def test_seed_aware_pairs():
    rng = np.random.default_rng(7)
    dev = np.array([-0.05, 0.0, 0.05])  # seed deviations: pooled noise exactly 0.05, means exactly the group values
    two_groups = np.r_[np.zeros(8), np.ones(8)][:, None] + dev
    assert seed_aware_pairs(two_groups) == 64  # exactly the 8 × 8 cross-group pairs
    thr = 1.96 * 0.05 * math.sqrt(2 / 3)
    assert seed_aware_pairs(np.array([0.0, thr * 1.01, 3 * thr])[:, None] + dev) == 3
    assert seed_aware_pairs(np.array([0.0, thr * 0.99, 3 * thr])[:, None] + dev) == 2  # (0, 0.99 thr) is not
    null = [seed_aware_pairs(rng.normal(0, 0.1, (16, 3))) for _ in range(50)]
    assert 0.01 < np.mean(null) / 120 < 0.12  # about 5 % of pairs under the null
