"""Language models, evaluation, permutation tests, the mixed model and the WALS comparison."""

import math

import numpy as np
import pytest
import torch

from livepapers.artificial_languages import (
    LSTMLM,
    TransformerLM,
    all_grammars,
    all_pairs_permutation,
    corpus_perplexity,
    fit_mixed_effects,
    fractional_factorial,
    make_stream,
    paired_permutation_test,
    sentence_logprobs,
    train_lm,
    typology_correlation,
    wals_configurations,
)
from livepapers.artificial_languages.analysis import holm
from livepapers.artificial_languages.grammar import coded_design
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


def test_sentence_logprobs_uniform_and_blocks():
    sents = [[3, 4, 5], [6, 7], [8, 9, 10, 11, 12]]
    lp = sentence_logprobs(Uniform(), sents, block=4)
    assert np.allclose(lp, [-(len(s) + 1) * math.log(V) for s in sents])  # tokens + </s>
    n = sum(len(s) + 1 for s in sents)
    assert corpus_perplexity(lp, n) == pytest.approx(V)
    m = _models()[0].eval()
    stream, _owner = make_stream(sents)
    tok = token_logprobs(m, stream, block=4)
    assert tok.shape == (len(stream) - 1,)
    assert sentence_logprobs(m, sents, block=4).sum() == pytest.approx(tok.sum())
    with pytest.raises(ValueError):
        corpus_perplexity(lp, 0)


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


def test_permutation_tests():
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    assert paired_permutation_test(a, a.copy(), 999) == 1.0
    assert paired_permutation_test(a + 1.0, a, 999) == pytest.approx(1 / 1000)
    scores = {"000000": a, "000101": a + 0.02 * rng.normal(size=200), "111111": a + 0.5 + rng.normal(size=200)}
    df = all_pairs_permutation(scores, 2000, generator=torch.Generator().manual_seed(0))
    assert len(df) == 3
    row = df[(df.a == "000000") & (df.b == "111111")].iloc[0]
    assert row.significant and row.p_adj <= 3 * row.p + 1e-12
    single = paired_permutation_test(scores["000000"], scores["000101"], 2000, torch.Generator().manual_seed(5))
    assert abs(single - df.iloc[0].p) < 0.08
    assert np.allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])


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
    ease = {g: float(i) for i, g in enumerate(all_grammars()[:16])}
    rho, p = typology_correlation(ease, 500)
    assert -1 <= rho <= 1 and 0 < p <= 1
