"""C4 and the grammar: parallel corpora, switches, analytic length and spectral radius, designs, file format."""

import itertools
from collections import Counter

import numpy as np
import pytest
import torch

from livepapers.artificial_languages import (
    SWITCHES,
    BaseGrammar,
    Tree,
    all_grammars,
    design_resolution,
    expected_length,
    fractional_factorial,
    grammar_from_file,
    grammar_to_file,
    linearize,
    make_parallel_corpus,
    make_splits,
    permute,
    spectral_radius,
)
from livepapers.artificial_languages.analysis import mixed_design
from livepapers.artificial_languages.grammar import VERB_PRETERMINALS, comp_free_key


@pytest.fixture(scope="module")
def grammar():
    return BaseGrammar(lexicon_scale=0.25)


@pytest.fixture(scope="module")
def trees(grammar):
    return grammar.sample(120, torch.Generator().manual_seed(3))


def _leaves(t):
    return [t] if isinstance(t, str) else [w for c in t.children for w in _leaves(c)]


def test_parallel_corpora_share_trees(trees):
    corpus = make_parallel_corpus(trees, all_grammars())
    assert len(corpus) == 64
    base = corpus["000000"]
    for _g, sents in corpus.items():
        for s, b in zip(sents, base):
            assert Counter(s) == Counter(b) and len(s) == len(b) and s[-1] == "."
    # not trivially equal: languages really differ in order
    assert sum(a != b for a, b in zip(corpus["000000"], corpus["111111"])) > len(trees) // 2


def test_base_order_and_involution(trees):
    rng = np.random.default_rng(0)
    for t in trees:
        assert linearize(t, "000000") == [*_leaves(t), "."]
        s = "".join(rng.choice(["0", "1"], 6))
        p = permute(t, s)
        assert permute(p, s) == t
        assert linearize(t, s) == [*_leaves(p), "."]
        assert linearize(t, tuple(int(c) for c in s)) == linearize(t, s)


def _node(grammar, lhs, *children):
    """A tree node whose switch mark is read from the grammar's rule lhs -> labels of children."""
    rhs = tuple(c if isinstance(c, str) else c.label for c in children)
    rules = [r for r in grammar.rules if r.lhs == lhs and r.rhs == rhs]
    if not rules:  # a preterminal with its word
        assert len(children) == 1 and isinstance(children[0], str) and children[0] in grammar.lexicon.get(lhs, [])
        return Tree(lhs, children, 0)
    return Tree(lhs, children, rules[0].switch)


def test_reference_transitive_clause(grammar):
    n = lambda *a: _node(grammar, *a)  # noqa: E731
    verb = grammar.lexicon["TVerb_Past_S"][0]
    subj = n("NP_Subj_S", n("NP_S", n("Pronoun_S", "bo")), n("Subj", "sub"))
    obj = n("NP_Obj", n("NP_S", n("Pronoun_S", "se")), n("Obj", "ob"))
    t = n("ROOT", n("S", subj, n("VP_S", n("VP_Past_S", obj, n("TVerb_Past_S", verb)))))
    assert linearize(t, "000000") == ["bo", "sub", "se", "ob", verb, "."]
    assert linearize(t, "011101") == ["bo", "sub", verb, "se", "ob", "."]
    assert linearize(t, "111111") == [verb, "se", "ob", "bo", "sub", "."]
    # negative control: 111111 is not the string reverse of 000000 (particles never move)
    assert linearize(t, "111111")[:-1] != linearize(t, "000000")[:-1][::-1]


EXPECTED_FAMILIES = {
    1: {("S", ("NP_Subj_S", "VP_S")), ("S", ("NP_Subj_P", "VP_P"))},
    2: {(f"VP_{t}_{n}", ("NP_Obj", f"TVerb_{t}_{n}")) for t in ("Past", "Pres") for n in "SP"}
    | {(f"VP_Comp_{t}_{n}", ("S_Comp", f"Verb_Comp_{t}_{n}")) for t in ("Past", "Pres") for n in "SP"},
    3: {("S_Comp", ("S", "Comp"))},
    4: {("NP_S", ("PP", "NP_S")), ("NP_P", ("PP", "NP_P")), ("PP", ("NP_S", "Prep")), ("PP", ("NP_P", "Prep"))},
    5: {("NP_S", ("Adj", "Noun_S")), ("NP_P", ("Adj", "Noun_P"))},
    6: {("NP_S", ("VP_S", "Rel", "Noun_S")), ("NP_P", ("VP_P", "Rel", "Noun_P"))},
}


def test_switch_families(grammar):
    for k in range(1, 7):
        got = {(r.lhs, r.rhs) for r in grammar.rules if r.switch == k}
        assert got == EXPECTED_FAMILIES[k], SWITCHES[k - 1]


def _diff_nodes(a, b, out):
    """Walk a tree and its permutation in parallel; record the switch of every node whose children were reversed."""
    if isinstance(a, str):
        assert a == b
        return
    assert a.label == b.label and a.switch == b.switch
    la = [c if isinstance(c, str) else c.label for c in a.children]
    lb = [c if isinstance(c, str) else c.label for c in b.children]
    if la != lb:
        assert lb == la[::-1], (la, lb)
        out.append(a.switch)
        pairs = zip(a.children, b.children[::-1])
    else:
        pairs = zip(a.children, b.children)
    for x, y in pairs:
        _diff_nodes(x, y, out)


def test_each_switch_reorders_exactly_its_constituents(trees):
    for k in range(1, 7):
        s = "".join("1" if j == k else "0" for j in range(1, 7))
        touched: list[int] = []
        changed = 0
        n_marked = 0
        for t in trees:
            p = permute(t, s)
            _diff_nodes(t, p, touched)
            n_marked += sum(1 for x in _nodes(t) if x.switch == k)
            changed += linearize(t, s) != linearize(t, "000000")
        assert set(touched) == {k}, (SWITCHES[k - 1], set(touched))
        assert len(touched) == n_marked  # every node of the family, and only those
        assert changed > 0


def test_single_switch_phrases(grammar):
    n = lambda *a: _node(grammar, *a)  # noqa: E731
    adj, noun = grammar.lexicon["Adj"][0], grammar.lexicon["Noun_S"][0]
    np_adj = n("NP_S", n("Adj", adj), n("Noun_S", noun))
    assert linearize(np_adj, "000010")[:-1] == [noun, adj] and linearize(np_adj, "111101")[:-1] == [adj, noun]
    pp = n("PP", n("NP_S", n("Pronoun_S", "bo")), n("Prep", "ca"))
    np_pp = n("NP_S", pp, n("NP_S", n("Noun_S", noun)))
    assert linearize(np_pp, "000000")[:-1] == ["bo", "ca", noun]
    assert linearize(np_pp, "000100")[:-1] == [noun, "ca", "bo"]  # both PP families flip together


def test_expected_length_and_spectral_radius():
    for scale in (1.0, 0.25):
        g = BaseGrammar(lexicon_scale=scale)
        assert expected_length(g) == pytest.approx(10.77, abs=0.01)
        assert spectral_radius(g) == pytest.approx(0.881, abs=0.001)
    g = BaseGrammar(lexicon_scale=0.25)
    trees = g.sample(20_000, torch.Generator().manual_seed(0))
    mean = np.mean([len(t.words()) for t in trees])
    assert abs(mean - 10.77) < 0.3
    # the two coordination probabilities are the official ones
    p = {(r.lhs, r.rhs): r.weight / sum(q.weight for q in g.rules if q.lhs == r.lhs) for r in g.rules}
    assert p[("Adj", ("Adj", "CC", "Adj"))] == pytest.approx(1 / 43)
    for v in VERB_PRETERMINALS:
        assert p[(v, (v, "CC", v))] == pytest.approx(0.2 / 113.2)


def test_raw_coordination_weights_change_the_grammar():
    """Negative control for lexicon scaling (spec §1, "Notes"): keeping the raw weights (1 per Adj rule including
    Adj -> Adj CC Adj, 0.2 for each verb coordination, 1 per verb word) on the 0.25-scaled lexicon raises
    P(Adj coordination) from 1/43 to 1/11 and changes the expected length to 10.91 words. The sampling check
    (|mean − 10.77| < 0.3) cannot see this, so the analytic value is the guard."""
    g = BaseGrammar(lexicon_scale=0.25)

    def raw(r):
        if r.lhs == "Adj":
            return r._replace(weight=1.0)
        if r.lhs in VERB_PRETERMINALS:
            return r._replace(weight=0.2 if r.rhs == (r.lhs, "CC", r.lhs) else 1.0)
        return r

    rg = BaseGrammar.from_rules([raw(r) for r in g.rules])
    assert spectral_radius(rg) < 1  # still a proper, sub-critical grammar (not a blow-up)
    assert abs(expected_length(rg) - 10.77) > 0.1
    assert expected_length(rg) == pytest.approx(10.912, abs=0.01)


def test_lexicon(grammar):
    lex = grammar.lexicon
    sizes = (len(lex["Noun_S"]), len(lex["Adj"]), len(lex["IVerb_Pres_P"]), len(lex["Verb_Comp_Past_S"]))
    assert sizes == (40, 10, 28, 6)
    words = [w for ws in lex.values() for w in ws]
    assert len(words) == len(set(words))
    assert len(grammar.vocabulary) == len(set(words)) + 1
    for s, p in zip(lex["Noun_S"], lex["Noun_P"]):
        assert p in (s + "s", s + "es")
    for ps, pp in zip(lex["TVerb_Past_S"], lex["TVerb_Past_P"]):
        assert pp == ps + "a"
    assert BaseGrammar(lexicon_scale=0.25).lexicon == lex  # deterministic


def test_fractional_design_resolution():
    d = fractional_factorial()
    assert d == ["000000", "000101", "001011", "001110", "010011", "010110", "011000", "011101", "100010",
                 "100111", "101001", "101100", "110001", "110100", "111010", "111111"]
    assert design_resolution(d) == 4
    assert design_resolution(all_grammars()) == float("inf")
    assert design_resolution(["000000", "111111", "010101"]) < 4
    X, _names = mixed_design(d, interactions=True)
    main, fi = X[:, 1:7], X[:, 7:]
    assert np.allclose(main.T @ main, 16 * np.eye(6))
    assert np.allclose(main.T @ fi, 0) and np.allclose(X[:, 0] @ main, 0)
    assert np.linalg.matrix_rank(X) == 14
    assert len({comp_free_key(g) for g in d}) == 16
    assert len(set(all_grammars())) == 64
    with pytest.raises(ValueError, match="resolution"):
        fractional_factorial(5)


def test_bad_switches():
    t = Tree("X", ("a",), 0)
    for bad in ("01", "0000002", (0, 1, 2, 0, 0, 0), 5):
        with pytest.raises(ValueError, match="switches"):
            linearize(t, bad)


def test_grammar_file_roundtrip(tmp_path, grammar):
    p = grammar_to_file(grammar, tmp_path / "g.gr")
    g2 = grammar_from_file(p)
    assert [(r.lhs, r.rhs, r.switch) for r in g2.rules] == [(r.lhs, r.rhs, r.switch) for r in grammar.rules]
    assert expected_length(g2) == pytest.approx(expected_length(grammar))
    official = tmp_path / "official.gr"
    official.write_text("1\tROOT\tS\n\n1\tS\tNP VP\t1\n1\tNP\tbo\n1\tVP\tran\n", encoding="utf-8")
    g3 = grammar_from_file(official)
    t = g3.sample(1, torch.Generator().manual_seed(0))[0]
    assert linearize(t, "100000") == ["ran", "bo", "."]
    (tmp_path / "bad.gr").write_text("x\tROOT\tS\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.gr:1"):
        grammar_from_file(tmp_path / "bad.gr")
    with pytest.raises(FileNotFoundError):
        grammar_from_file(tmp_path / "missing.gr")


def test_splits():
    sp = make_splits(100_000)
    assert len(sp) == 10 and sp[1]["train"] == range(10_000, 18_000)
    assert sp[1]["test"] == range(18_000, 19_000) and sp[1]["dev"] == range(19_000, 20_000)
    one = make_splits(4000, 1, (0.75, 0.125, 0.125))[0]
    assert (one["train"], one["test"], one["dev"]) == (range(0, 3000), range(3000, 3500), range(3500, 4000))
    with pytest.raises(ValueError):
        make_splits(10, 2, (0.5, 0.5, 0.5))


def test_rejection_of_long_derivations():
    g = BaseGrammar(lexicon_scale=0.25)
    trees = g.sample(300, torch.Generator().manual_seed(1), max_expansions=30)
    assert g.rejected > 0
    assert all(sum(1 for _ in itertools.chain(_nodes(t))) <= 30 for t in trees)


def _nodes(t):
    if isinstance(t, str):
        return
    yield t
    for c in t.children:
        yield from _nodes(c)
