"""The attack's pieces on hand-computed cases: scores, dedup, exposure, the exact-match oracle, generation, data."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pandas as pd
import pytest
import torch

from livepapers.data_extraction import (
    CorpusIndex,
    TemperatureDecay,
    canary_log_perplexity,
    duplicate_rate,
    expected_interpolation_exposure,
    exposure_exact,
    exposure_extrapolation,
    exposure_interpolation,
    generate_samples,
    gpt2_config,
    is_k_eidetic,
    log_perplexity,
    make_rows,
    make_secret_corpus,
    random_secrets,
    score_samples,
    select_candidates,
    suffix_array,
    token_nlls,
    train_bpe_tokenizer,
    train_small_gpt,
    trigram_dedup,
    window_min_log_ppl,
    zlib_entropy,
)
from livepapers.data_extraction.data import CANARY_FORMAT, LICENCE

# ---------------------------------------------------------------------------------------------------------------
# fixtures: a tiny corpus, tokenizer and an untrained GPT (scores of an untrained model are exchangeable)
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_corpus():
    return make_secret_corpus(torch.Generator().manual_seed(3), n_tokens=6000, n_heldout_tokens=2500, n_cards=6,
                              dup_per_group=1, ids_per_count=1, canaries_per_count=1, licence_copies=3)


@pytest.fixture(scope="module")
def tok(small_corpus):
    return train_bpe_tokenizer(small_corpus.documents, vocab_size=400)


@pytest.fixture(scope="module")
def tiny_model(tok):
    torch.manual_seed(0)
    from transformers import GPT2LMHeadModel

    return GPT2LMHeadModel(gpt2_config((1, 32, 2), len(tok), 128)).eval()


# ---------------------------------------------------------------------------------------------------------------
# scores
# ---------------------------------------------------------------------------------------------------------------


def test_zlib_entropy_hand_computed():
    assert zlib_entropy("a" * 1000) == 17 == len(zlib.compress(b"a" * 1000))
    rng = np.random.default_rng(0)
    rand = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 1000))
    assert 580 <= zlib_entropy(rand) <= 680  # ≈ 630 for 1,000 random letters


def test_log_perplexity_and_window_hand_computed():
    nll = np.array([1.0, 3.0, 0.5, 0.5, 4.0])
    assert log_perplexity(nll) == pytest.approx(9.0 / 5)
    assert window_min_log_ppl(nll, 2) == pytest.approx(0.5)  # window [0.5, 0.5]
    assert window_min_log_ppl(nll, 3) == pytest.approx(min(4.5, 4.0, 5.0) / 3)
    assert window_min_log_ppl(nll, 50) == pytest.approx(1.8)  # shorter than the window: the whole text
    assert math.isnan(log_perplexity(np.zeros(0)))


def test_token_nlls_padding_safe_and_bos(tok, tiny_model):
    texts = ["the cat", "Name: Kaloven Bris\nEmail: a.b@c.example", "x"]
    batched = token_nlls(tiny_model, tok, texts, batch_size=8)
    for t, b in zip(texts, batched):
        single = token_nlls(tiny_model, tok, [t], batch_size=1)[0]
        assert b.shape == single.shape == (len(tok(t, add_special_tokens=False)["input_ids"]),)  # BOS: all scored
        np.testing.assert_allclose(b, single, rtol=1e-4, atol=1e-5)
    # hand check of the first token: −log softmax(logits after BOS)[x_1]
    ids = tok("the cat", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        lp = torch.log_softmax(tiny_model(input_ids=torch.tensor([[0, *ids]])).logits[0, 0], -1)
    assert batched[0][0] == pytest.approx(-float(lp[ids[0]]), rel=1e-5)


def test_token_nlls_truncates_to_the_context(tok, tiny_model):
    long = " ".join(["the secret code of someone is 123456"] * 40)  # far more than 128 tokens
    n_tok = len(tok(long, add_special_tokens=False)["input_ids"])
    assert n_tok > 128
    nll = token_nlls(tiny_model, tok, [long, "the cat"])  # without truncation the position embeddings overflow
    assert nll[0].shape == (127,)  # BOS + the first 127 tokens fill the 128 positions
    head = tok.decode(tok(long, add_special_tokens=False)["input_ids"][:127])
    np.testing.assert_allclose(nll[0], token_nlls(tiny_model, tok, [head])[0], rtol=1e-4, atol=1e-5)


def test_score_samples_directions_and_lowercase(tok, tiny_model):
    texts = ["all lowercase text here", "Some Capitalised Text Here"]
    df = score_samples(texts, tiny_model, tok, {"small": tiny_model}, window=4)
    assert df.loc[0, "score_lowercase"] == pytest.approx(1.0)  # an all-lowercase sample scores exactly 1
    assert df.loc[0, "score_small"] == pytest.approx(1.0)  # same model as reference
    assert df.loc[0, "score_perplexity"] == pytest.approx(-df.loc[0, "ppl"])
    assert df.loc[1, "score_zlib"] == pytest.approx(df.loc[1, "zlib"] / df.loc[1, "ppl"])
    for col in ("ppl", "ppl_small", "ppl_lower", "zlib", "window"):
        assert col in df.columns


def test_memorised_sample_ranks_first_under_zlib_and_small_last_under_reversed_ratio():
    # row 0: a "memorised" sample (low target NLL, high zlib entropy, high reference NLL); rows 1–3: ordinary ones
    df = pd.DataFrame({"text": [f"sample number {i} with words {i * 7}" for i in range(4)],
                       "ppl": [0.2, 2.0, 2.5, 1.5], "ppl_small": [3.0, 2.5, 3.0, 2.0], "zlib": [120, 80, 90, 60]})
    df["score_zlib"] = df["zlib"] / df["ppl"]
    df["score_small"] = df["ppl_small"] / df["ppl"]
    df["score_reversed"] = df["ppl"] / df["ppl_small"]
    assert select_candidates(df, "zlib", k=1)[0] == 0
    assert select_candidates(df, "small", k=1)[0] == 0
    assert select_candidates(df, "reversed", k=4)[-1] == 0
    with pytest.raises(ValueError, match="unknown metric"):
        select_candidates(df, "nope")


def test_trigram_dedup():
    a = "the red fox jumps over the lazy dog today"
    b = "a b c d e f g h i j k l"
    assert trigram_dedup([a, a]) == [0]  # a sample duplicates itself
    assert trigram_dedup([a, b]) == [0, 1]
    half = "the red fox jumps over x y z w v"  # 3 of its 8 trigrams shared with a: < 1/2
    assert trigram_dedup([a, half]) == [0, 1]
    assert trigram_dedup([b, a, a], order=[2, 1, 0]) == [2, 0]
    assert duplicate_rate([a, a, b, b]) == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------------------------
# exposure
# ---------------------------------------------------------------------------------------------------------------


def test_expected_interpolation_exposure_formula_and_simulation():
    assert expected_interpolation_exposure(100) == pytest.approx(1.382, abs=1e-3)
    assert expected_interpolation_exposure(500) == pytest.approx(1.428, abs=1e-3)
    rng = np.random.default_rng(0)  # exchangeable canary and references, over many reference draws
    e = np.concatenate([exposure_interpolation({1: rng.normal(size=20)}, rng.normal(size=500))[1]
                        for _ in range(500)])
    assert e.mean() == pytest.approx(1.428, abs=0.03)
    ref = rng.normal(size=500)
    # rank 1 = lowest log-perplexity: a canary below every reference gets log2 M
    assert exposure_interpolation({1: np.array([-99.0])}, ref)[1][0] == pytest.approx(math.log2(500))


def test_exposure_extrapolation_clipped_and_sane():
    rng = np.random.default_rng(1)
    ref = rng.normal(50, 3, size=300)
    e = exposure_extrapolation({1: np.array([50.0, -1e6, 1e6])}, ref)[1]
    assert 0.5 < e[0] < 1.5  # the median of the references: ≈ 1 bit
    assert e[1] == pytest.approx(6 * math.log2(10))  # far below: capped at log2 10^6, not inf
    assert e[2] == pytest.approx(0.0, abs=1e-9)
    assert np.all(np.isfinite(e))


def test_never_seen_canary_exposure_matches_reference_expectation(tok, tiny_model):
    """200 never-inserted canaries sharing one prefix against 500 references: mean ≈ 1.428 bits (sd of mean ≈ 0.1)."""
    g = torch.Generator().manual_seed(5)
    prefix = CANARY_FORMAT.format(name="Tovaldi Quenmarsh")
    secrets = random_secrets(700, g)
    lp = canary_log_perplexity(tiny_model, tok, prefix, secrets)
    assert lp.shape == (700,) and np.all(lp > 0)
    e = exposure_interpolation({0: lp[:200]}, lp[200:])[0]
    assert abs(e.mean() - expected_interpolation_exposure(500)) < 0.3


def test_canary_log_perplexity_shared_prefix_equals_full_scoring(tok, tiny_model):
    prefix = CANARY_FORMAT.format(name="Tovaldi Quenmarsh")
    secrets = random_secrets(50, torch.Generator().manual_seed(2))
    fast = canary_log_perplexity(tiny_model, tok, prefix, secrets, batch_size=16)
    full = np.array([x.sum() / math.log(2) for x in token_nlls(tiny_model, tok, [prefix + s for s in secrets])])
    np.testing.assert_allclose(fast, full, rtol=1e-5, atol=1e-4)


def test_exact_exposure_matches_brute_force(tok, tiny_model):
    prefix = CANARY_FORMAT.format(name="Tovaldi Quenmarsh")
    every = [str(i).zfill(3) for i in range(1000)]
    lp = canary_log_perplexity(tiny_model, tok, prefix, every)
    for secret in ("042", "777"):
        rank = 1 + int((lp < lp[int(secret)] - 1e-6).sum())
        assert exposure_exact(tiny_model, tok, prefix, secret) == pytest.approx(math.log2(1000) - math.log2(rank),
                                                                                abs=0.05)
    with pytest.raises(ValueError, match="digit"):
        exposure_exact(tiny_model, tok, prefix, "12a")


# ---------------------------------------------------------------------------------------------------------------
# ground truth
# ---------------------------------------------------------------------------------------------------------------


def test_suffix_array_matches_naive_sort():
    rng = np.random.default_rng(0)
    for _ in range(20):
        s = bytes(rng.integers(97, 100, size=int(rng.integers(1, 60))).tolist())
        naive = sorted(range(len(s)), key=lambda i: s[i:])
        assert suffix_array(np.frombuffer(s, np.uint8)).tolist() == naive


def test_longest_match_against_brute_force():
    rng = np.random.default_rng(1)
    docs = ["".join(rng.choice(list("ab"), 40)) for _ in range(10)]
    ix = CorpusIndex(docs)
    for _ in range(50):
        q = "".join(rng.choice(list("abc"), 25))
        best = max((q[i:j] for i in range(len(q)) for j in range(i + 1, len(q) + 1)
                    if any(q[i:j] in d for d in docs)), key=len, default="")
        sub, ids = ix.longest_match(q)
        assert len(sub) == len(best) and sub in q
        assert ids == [i for i, d in enumerate(docs) if sub in d]
    assert ix.count_occurrences("ab") == sum(sum(d.startswith("ab", i) for i in range(len(d))) for d in docs)


def test_oracle_finds_planted_secrets_and_nothing_else(small_corpus):
    ix = CorpusIndex(small_corpus.documents)
    canary = small_corpus.by_kind("canary")[-1]  # the most inserted one
    line = canary.prefix + canary.value
    noise = "zqx vprt klmw ghjs " * 4
    sample = noise + line + " " + LICENCE[:80] + noise
    sub, docs = ix.longest_match(sample)
    assert sub == LICENCE[:80] or line in sub  # the longest verbatim run comes from the training text
    assert len(docs) == ix.count_docs(sub) >= 1
    found = [s.value for s in small_corpus.secrets if s.value in sample]
    assert found == [canary.value]
    assert ix.count_docs(line) == canary.k and ix.count_occurrences(line) == canary.count == canary.group
    assert is_k_eidetic(sample, ix, k=len(small_corpus.documents))
    assert not ix.has_match(noise * 3)  # generated noise: no 64-char match
    assert ix.longest_match(noise)[0] in ("", " ") or len(ix.longest_match(noise)[0]) < 8


def test_default_templates_keep_the_verbatim_threshold_valid():
    """< 2 % of held-out documents (licence excluded) have a ≥ 64-char match to the training corpus (default sizes)."""
    c = make_secret_corpus(torch.Generator().manual_seed(11))
    ix = CorpusIndex(c.documents)
    held = [d for d, g in zip(c.heldout, c.heldout_genres) if g != "licence"]
    frac = np.mean([ix.has_match(d, 64) for d in held])
    assert frac < 0.02
    assert sum(g == "licence" for g in c.genres) == 20
    assert all(ix.has_match(d, 64) for d, g in zip(c.heldout, c.heldout_genres) if g == "licence")


# ---------------------------------------------------------------------------------------------------------------
# data, tokenizer, training, generation
# ---------------------------------------------------------------------------------------------------------------


def test_manifest_counts_and_disjoint_heldout(small_corpus):
    c = small_corpus
    for s in c.secrets:
        if s.kind in ("email", "phone"):
            assert s.k == s.group, s
        if s.kind == "canary":  # the small corpus has fewer text documents than 32: k ≤ c insertions
            n_text = sum(g in ("news", "forum") for g in c.genres)
            assert s.count == s.group and s.k == min(s.group, n_text), s
        if s.kind in ("log_id", "url_id"):
            assert s.k == 1 and s.count == s.group, s
    held = set(c.heldout_secret_values)
    assert not held & {s.value for s in c.secrets}
    assert all(s.isascii() for s in c.documents + c.heldout)
    again = make_secret_corpus(torch.Generator().manual_seed(3), n_tokens=6000, n_heldout_tokens=2500, n_cards=6,
                               dup_per_group=1, ids_per_count=1, canaries_per_count=1, licence_copies=3)
    assert again.documents == c.documents  # all randomness from the generator
    with pytest.raises(ValueError, match="n_tokens"):
        make_secret_corpus(torch.Generator(), n_tokens=10)


def test_tokenizer_splits_digits_and_round_trips(tok):
    s = "the secret code of Kaloven Bris is 012345"
    ids = tok(s, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == s
    assert [tok.convert_ids_to_tokens(i) for i in ids[-6:]] == list("012345")
    pre = tok(CANARY_FORMAT.format(name="Kaloven Bris"), add_special_tokens=False)["input_ids"]
    assert ids[: len(pre)] == pre  # the prefix tokenises identically before every filling
    assert tok.decode(tok(s.upper().lower())["input_ids"]) == s.lower()


def test_train_small_gpt_learns_and_is_deterministic(small_corpus, tok):
    rows = make_rows(small_corpus.documents[:20], tok, 64)
    cfg = gpt2_config((1, 32, 2), len(tok), 64)
    curve: list[float] = []
    m1 = train_small_gpt(rows, tok, cfg, 2, 3e-3, torch.Generator().manual_seed(0), batch_size=8, warmup=2,
                         on_step=lambda s, v: curve.append(v))
    m2 = train_small_gpt(rows, tok, cfg, 2, 3e-3, torch.Generator().manual_seed(0), batch_size=8, warmup=2)
    assert np.mean(curve[-3:]) < curve[0] - 0.5
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="n_positions"):
        train_small_gpt(make_rows(small_corpus.documents, tok, 200), tok, cfg, 1, 1e-3, torch.Generator())


def test_gradient_clipping_bounds_the_applied_gradient(small_corpus, tok, monkeypatch):
    """``max_grad_norm`` clips the global gradient norm before every AdamW step (and only then)."""
    rows = make_rows(small_corpus.documents[:10], tok, 64)
    cfg = gpt2_config((1, 32, 2), len(tok), 64)
    seen: list[float] = []
    real_step = torch.optim.AdamW.step

    def spy(self, *a, **k):
        g = [p.grad for grp in self.param_groups for p in grp["params"] if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(x) for x in g]))))
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    train_small_gpt(rows, tok, cfg, 1, 1e-3, torch.Generator().manual_seed(0), batch_size=4, warmup=2)
    unclipped = list(seen)
    seen.clear()
    train_small_gpt(rows, tok, cfg, 1, 1e-3, torch.Generator().manual_seed(0), batch_size=4, warmup=2,
                    max_grad_norm=0.5)
    assert max(unclipped) > 0.5  # the bound binds on this model, so the test can fail
    assert max(seen) <= 0.5 + 1e-4
    # the default profile's recipe: batch 4, clipping at 1.0 (the spec's 3 epochs, lr 1e-3, 20 warm-up steps)
    from livepapers.data_extraction.experiment import PROFILES

    c = PROFILES["default"].config
    assert (c.batch_size, c.grad_clip, c.epochs, c.lr, c.warmup) == (4, 1.0, 3, 1e-3, 20)


def test_temperature_decay_schedule():
    proc = TemperatureDecay(prompt_len=10, t_start=10.0, t_end=1.0, decay_tokens=20)
    assert [proc.temperature(j) for j in (0, 10, 20, 50)] == pytest.approx([10.0, 5.5, 1.0, 1.0])
    scores = torch.ones(2, 5)
    assert torch.allclose(proc(torch.zeros(2, 10, dtype=torch.long), scores), scores / 10)  # keyed on generated j
    assert torch.allclose(proc(torch.zeros(2, 30, dtype=torch.long), scores), scores)


def test_generate_samples_strategies(tok, tiny_model):
    out = generate_samples(tiny_model, tok, 5, strategy="top_n", max_new_tokens=6, batch_size=2,
                           generator=torch.Generator().manual_seed(0))
    again = generate_samples(tiny_model, tok, 5, strategy="top_n", max_new_tokens=6, batch_size=2,
                             generator=torch.Generator().manual_seed(0))
    assert len(out) == 5 and out == again
    td = generate_samples(tiny_model, tok, 3, strategy="temperature_decay", top_k=None, max_new_tokens=6,
                          batch_size=3)
    assert len(td) == 3
    prompts = ["Officials in Kalomore expect", "the red fox"]
    net = generate_samples(tiny_model, tok, 4, strategy="internet", prompts=prompts, max_new_tokens=5,
                           prompt_tokens=3, batch_size=4)
    assert net[0].startswith(tok.decode(tok(prompts[0], add_special_tokens=False)["input_ids"][:3]))
    with pytest.raises(ValueError, match="prompts"):
        generate_samples(tiny_model, tok, 2, strategy="internet")
    with pytest.raises(ValueError, match="unknown strategy"):
        generate_samples(tiny_model, tok, 2, strategy="beam")


def test_bigram_nll_hand_computed_witten_bell():
    """Witten-Bell on a 3-token vocabulary: train pairs (0,1) (1,0) (0,1) (1,2) → P(1|0) by hand."""
    from livepapers.data_extraction.models import bigram_nll

    train = torch.tensor([[0, 1, 0, 1, 2]])
    # successors of 0: {1: 2} → c=2, T=1; unigram over next tokens: 1:2, 0:1, 2:1 → add-one: (3, 2, 2)/7
    p_1_given_0 = (2 + 1 * 3 / 7) / (2 + 1)
    assert bigram_nll(train, torch.tensor([[0, 1]]), 3) == pytest.approx(-math.log(p_1_given_0))
    # a predecessor never seen (2) backs off to the add-one unigram
    assert bigram_nll(train, torch.tensor([[2, 0]]), 3) == pytest.approx(-math.log(2 / 7))
    # it learns: the training rows score far better than uniform
    assert bigram_nll(train, train, 3) < math.log(3)
    with pytest.raises(ValueError, match="vocab_size"):
        bigram_nll(train, torch.tensor([[0, 5]]), 3)


def test_tier_b_match_needs_boundaries_for_every_kind():
    from livepapers.data_extraction.experiment import _found

    assert _found("see https://x.org/abc123 now", "abc123")
    assert not _found("token xabc123y", "abc123")  # inside a longer alphanumeric run
    assert not _found("call 555-01345", "555-0134")  # a phone followed by another digit
    assert _found("mail j.doe@mail.com.", "j.doe@mail.com")
    assert not _found("xj.doe@mail.com", "j.doe@mail.com")
    assert not _found("1208900", "208900") and _found("is 208900\n", "208900")


def test_failed_skew_normal_fit_is_missing_not_capped():
    from livepapers.data_extraction.exposure import fit_skewnorm

    with pytest.raises(ValueError):
        fit_skewnorm(np.full(10, 3.0))  # the caller records NaN and counts exposure_fit_failures


def test_pooled_boundary_counts_compare_as_the_spec_states():
    """3 of 15 canaries recovered as 1 + 1 + 1 over three replicates is exactly 0.2 (C4(b): "≤ 3 of 15" holds), and a
    pooled precision difference of exactly 0.10 counts as a C1 win, whatever the split over replicates."""
    from livepapers.data_extraction.experiment import MODELS, SCORES, STRATEGIES, Config, Replicate, pool

    assert np.mean([1 / 5] * 3) > 0.2  # the float artefact the rounding removes (so this test can fail)
    cfg = Config()
    cs = cfg.insertion_counts
    precs = [(0 / 30, 3 / 30), (0 / 30, 3 / 30), (6 / 30, 9 / 30)]  # (perplexity, zlib) precision@30: +3 of 30 each
    assert np.mean([b for _, b in precs]) - np.mean([a for a, _ in precs]) < 0.10  # the artefact, again
    reps = []
    for i, (pp, zl) in enumerate(precs):
        r = Replicate(i)
        r.scalars = {"heldout_match_frac": 0.0, "heldout_minus_bigram": -1.0, "k1_extracted": 1.0}
        for s in STRATEGIES:
            r.scalars[f"base_rate/{s}"] = 0.1
            for m in SCORES:
                r.scalars[f"prec@{cfg.K}/{s}/{m}"] = {"perplexity": pp, "zlib": zl}.get(m, pp)
        r.exposure = {m: {c: [1.0] * 5 for c in cs} for m in MODELS}
        r.exposure_interp = {m: {c: [1.0] * 5 for c in cs} for m in MODELS}
        r.greedy = {c: [True, False, False, False, False] for c in cs}
        r.url_hits = {m: {c: [False] * 4 for c in cs} for m in MODELS}
        r.secrets_top = {"small": [], "zlib": []}
        reps.append(r)
    out = pool(cfg, reps)
    assert out["greedy_recovered/c1"] == 0.2
    assert out["c1.wins/zlib"] == 3.0 and out["c1.wins/small"] == 0.0


def test_real_model_attack_runs_the_three_strategies_on_any_causal_lm(small_corpus, tok, tiny_model):
    """``smollm2_attack`` is model-agnostic: on the tiny GPT it samples every strategy, scores and reports them."""
    from livepapers.data_extraction.attack import STRATEGIES
    from livepapers.data_extraction.real_model import smollm2_attack

    metrics, rows = smollm2_attack(tiny_model, tok, small_corpus.heldout, n=4, max_new_tokens=12, window=4)
    assert [r["strategy"] for r in rows] == ["top_n"] * 4 + ["temperature_decay"] * 4 + ["internet"] * 4
    for s in STRATEGIES:
        assert metrics[f"real_model/samples_per_s/{s}"] > 0 and 0 <= metrics[f"real_model/dup_rate/{s}"] <= 1
    # the scores are the target-only ones, in the ranking direction (perplexity = −log P)
    assert all(np.isfinite(r["score_zlib"]) and r["score_perplexity"] == -r["ppl"] for r in rows)
    # the Internet samples start with a 10-token prompt cut from the held-out texts
    heldout = " ".join(small_corpus.heldout)
    assert all(r["text"][:15].strip()[:8] in heldout for r in rows if r["strategy"] == "internet")
