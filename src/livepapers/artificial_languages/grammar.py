r"""The base PCFG of White & Cotterell (2021) with six word-order switches, and its linearisations.

A grammar is a list of weighted rules ``A -> B C ...``; six rule families carry a *switch* ``K`` (1..6, in the
order of :data:`SWITCHES`). A language is a 6-bit string ``b_1 … b_6``: at every node expanded by a rule of
family ``K`` with ``b_K = 1`` the node's own children are read in reverse order. One set of derivation trees,
linearised under the 64 settings, gives 64 perfectly parallel corpora.

Analytic facts used as checks: with the mean matrix :math:`M_{AB} = \sum_r p_r\,\#_B(\mathrm{rhs}_r)` over the
rules ``r`` of ``A`` and the expected number of words emitted directly :math:`t_A = \sum_r p_r\,\#_{words}(r)`,
the expected sentence length is :math:`[(I - M)^{-1} t]_{ROOT}` = 10.77 words, and the grammar is sub-critical:
spectral radius :math:`\rho(M) = 0.881 < 1`.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import torch

SWITCHES: tuple[str, ...] = ("S", "VP", "Comp", "PP", "NP", "Rel")
"""Switch ``K`` (1-based) is character ``K`` of a language name: 1 = S (verb phrase vs subject), 2 = VP
(object / clause vs verb), 3 = Comp (complementizer vs clause), 4 = PP (adposition vs NP and PP vs noun),
5 = NP (adjective vs noun), 6 = Rel (relative clause vs noun). 0 = base (head-final) order, 1 = reversed."""

END = "."  # the sentence-final token appended by linearize

# function words of the official lexicon (kept at every lexicon scale)
FUNCTION_WORDS: dict[str, tuple[str, ...]] = {
    "CC": ("da",), "Comp": ("sa",), "Rel": ("rel",), "Subj": ("sub",), "Obj": ("ob",),
    "Prep": ("ca", "ma", "hi", "lu"), "Pronoun_S": ("bo", "se", "pi", "me", "ja"), "Pronoun_P": ("si", "la"),
}
# distinct content entries of the official file (lexicon_scale = 1)
LEXICON_SIZES: dict[str, int] = {"noun": 160, "adj": 42, "iverb": 112, "tverb": 112, "cverb": 22}
# coordination probabilities of the official file, held fixed when the lexicon is scaled (spec §1)
P_ADJ_COORD = 1.0 / 43.0          # Adj -> Adj CC Adj: weight 1 among 42 adjectives
P_VERB_COORD = 0.2 / 113.2        # X -> X CC X: weight 0.2 among 113 verb entries, X an I/TVerb preterminal

VERB_PRETERMINALS = tuple(f"{v}_{t}_{n}" for v in ("IVerb", "TVerb") for t in ("Past", "Pres") for n in "SP")


class Rule(NamedTuple):
    """``lhs -> rhs`` with relative ``weight`` (normalised per lhs) and ``switch`` (0 = never reordered)."""

    lhs: str
    rhs: tuple[str, ...]
    weight: float
    switch: int = 0


class Tree(NamedTuple):
    """An immutable derivation tree: the expanded symbol, its children (``Tree`` or a word) and the switch of
    the rule that expanded it (0 = none)."""

    label: str
    children: tuple
    switch: int = 0

    def words(self) -> list[str]:
        """The words in base (``000000``) order, without the final ``.``."""
        return linearize(self, (0,) * 6)[:-1]


def structural_rules() -> list[Rule]:
    """The non-lexical rules of the base grammar (spec §1 table), weights before normalisation."""
    R: list[Rule] = [Rule("ROOT", ("S",), 1.0)]
    for n in "SP":
        R.append(Rule("S", (f"NP_Subj_{n}", f"VP_{n}"), 1.0, 1))
    for n in "SP":
        R += [Rule(f"VP_{n}", (f"VP_Past_{n}",), 1.0), Rule(f"VP_{n}", (f"VP_Pres_{n}",), 1.0),
              Rule(f"VP_{n}", (f"VP_Comp_{n}",), 1.0),
              Rule(f"VP_Comp_{n}", (f"VP_Comp_Pres_{n}",), 1.0), Rule(f"VP_Comp_{n}", (f"VP_Comp_Past_{n}",), 1.0),
              Rule(f"NP_Subj_{n}", (f"NP_{n}", "Subj"), 1.0)]
        for t in ("Past", "Pres"):
            R += [Rule(f"VP_{t}_{n}", (f"IVerb_{t}_{n}",), 1.0),
                  Rule(f"VP_{t}_{n}", ("NP_Obj", f"TVerb_{t}_{n}"), 1.0, 2),
                  Rule(f"VP_Comp_{t}_{n}", ("S_Comp", f"Verb_Comp_{t}_{n}"), 1.0, 2)]
    R += [Rule("S_Comp", ("S", "Comp"), 1.0, 3),
          Rule("NP_Obj", ("NP_S", "Obj"), 1.0), Rule("NP_Obj", ("NP_P", "Obj"), 1.0)]
    for n in "SP":
        R += [Rule(f"NP_{n}", (f"Noun_{n}",), 1.0),
              Rule(f"NP_{n}", ("PP", f"NP_{n}"), 0.2, 4),
              Rule(f"NP_{n}", ("Adj", f"Noun_{n}"), 1.0, 5),
              Rule(f"NP_{n}", (f"VP_{n}", "Rel", f"Noun_{n}"), 1.0, 6),
              Rule(f"NP_{n}", (f"Pronoun_{n}",), 1.0)]
    for a, b in (("S", "S"), ("P", "P"), ("P", "S"), ("S", "P")):
        R.append(Rule("NP_P", (f"NP_{a}", "CC", f"NP_{b}"), 0.025))
    R += [Rule("PP", ("NP_S", "Prep"), 1.0, 4), Rule("PP", ("NP_P", "Prep"), 1.0, 4)]
    return R


# ------------------------------------------------------------------------------------------------
# the procedurally generated lexicon
# ------------------------------------------------------------------------------------------------

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "t", "v", "z", "br", "dr", "fl", "gr", "kr", "pl",
           "pr", "sk", "sl", "sp", "st", "str", "tr", "sh", "ch", "th", "w", "j", "bl", "cl", "fr", "gl")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "oo", "ou", "ie")
_CODAS = ("", "n", "m", "l", "r", "t", "k", "nd", "rb", "mp", "ck", "lt", "rg", "nt", "ft")


class _Draw:
    """Uniform floats from a torch.Generator, drawn in blocks (deterministic for a given generator state)."""

    def __init__(self, generator: torch.Generator, block: int = 8192) -> None:
        self.g, self.block, self.buf, self.i = generator, block, [], 0

    def __call__(self) -> float:
        if self.i >= len(self.buf):
            self.buf = torch.rand(self.block, generator=self.g, dtype=torch.float64).tolist()
            self.i = 0
        self.i += 1
        return self.buf[self.i - 1]

    def pick(self, seq: Sequence[str]) -> str:
        return seq[min(int(self() * len(seq)), len(seq) - 1)]


def _pseudo_word(draw: _Draw) -> str:
    n_syl = 2 if draw() < 0.6 else 3
    return "".join(draw.pick(_ONSETS) + draw.pick(_VOWELS) for _ in range(n_syl)) + draw.pick(_CODAS)


def _plural(word: str) -> str:
    return word + ("es" if word.endswith(("s", "sh", "ch")) else "s")


def _verb_forms(stem: str) -> dict[str, str]:
    """Past sg = stem + "ed"-like suffix, past pl = past sg + "a", present sg = stem + "s"/"es", present pl = stem."""
    past = stem + ("d" if stem.endswith("e") else "ed")
    return {"Past_S": past, "Past_P": past + "a", "Pres_S": _plural(stem), "Pres_P": stem}


def generate_lexicon(lexicon_scale: float = 1.0, generator: torch.Generator | None = None) -> dict[str, list[str]]:
    """Distinct pronounceable pseudo-words for every preterminal (spec §1 "Lexicon").

    Content lists are scaled to ``round(size · lexicon_scale)`` (at least 1) of the official distinct sizes
    (160 nouns, 42 adjectives, 112 intransitive, 112 transitive and 22 clause verbs); function words and
    pronouns are always the official ones. Every form is distinct from every other form.
    """
    if not (isinstance(lexicon_scale, (int, float)) and 0 < lexicon_scale <= 1):
        raise ValueError(f"lexicon_scale must be in (0, 1], got {lexicon_scale!r}")
    draw = _Draw(generator if generator is not None else torch.Generator().manual_seed(0), block=2048)
    used: set[str] = {w for ws in FUNCTION_WORDS.values() for w in ws} | {END}
    sizes = {k: max(1, round(v * lexicon_scale)) for k, v in LEXICON_SIZES.items()}
    lex: dict[str, list[str]] = {k: list(v) for k, v in FUNCTION_WORDS.items()}

    def fresh(forms_of) -> dict[str, str]:
        for _ in range(10_000):
            forms = forms_of(_pseudo_word(draw))
            vals = list(forms.values())
            if len(set(vals)) == len(vals) and not used.intersection(vals):
                used.update(vals)
                return forms
        raise RuntimeError("could not draw a fresh pseudo-word")  # pragma: no cover

    lex["Noun_S"], lex["Noun_P"] = [], []
    for _ in range(sizes["noun"]):
        f = fresh(lambda w: {"S": w, "P": _plural(w)})
        lex["Noun_S"].append(f["S"])
        lex["Noun_P"].append(f["P"])
    lex["Adj"] = [fresh(lambda w: {"a": w})["a"] for _ in range(sizes["adj"])]
    for key, name in (("iverb", "IVerb"), ("tverb", "TVerb"), ("cverb", "Verb_Comp")):
        for slot in ("Past_S", "Past_P", "Pres_S", "Pres_P"):
            lex[f"{name}_{slot}"] = []
        for _ in range(sizes[key]):
            f = fresh(_verb_forms)
            for slot, w in f.items():
                lex[f"{name}_{slot}"].append(w)
    return lex


def lexical_rules(lexicon: Mapping[str, Sequence[str]]) -> list[Rule]:
    """Preterminal rules with the official coordination probabilities held fixed (spec §1, "Notes").

    ``Adj -> Adj CC Adj`` gets probability 1/43 and each ``X -> X CC X`` (X an I/TVerb preterminal) 0.2/113.2;
    the rest of each preterminal's mass is shared uniformly by its words.
    """
    R: list[Rule] = []
    for pre, words in lexicon.items():
        if not words:
            raise ValueError(f"lexicon entry {pre!r} is empty")
        p_c = P_ADJ_COORD if pre == "Adj" else P_VERB_COORD if pre in VERB_PRETERMINALS else 0.0
        if p_c:
            R.append(Rule(pre, (pre, "CC", pre), p_c))
        R += [Rule(pre, (w,), (1.0 - p_c) / len(words)) for w in words]
    return R


# ------------------------------------------------------------------------------------------------
# the grammar
# ------------------------------------------------------------------------------------------------


class BaseGrammar:
    """The base PCFG (spec §1): structural rules with switch marks plus a generated lexicon.

    Args:
        lexicon: preterminal -> words; None generates one (:func:`generate_lexicon`).
        lexicon_scale: fraction of the official content-word list sizes (1 = official, 0.25 = default profile).
        generator: seeds the generated lexicon (default ``torch.Generator().manual_seed(0)``).

    Attributes:
        rules: every rule (structural then lexical), weights unnormalised.
        lexicon: preterminal -> words (empty for a grammar read with :meth:`from_rules`).
    """

    start = "ROOT"

    def __init__(self, lexicon: Mapping[str, Sequence[str]] | None = None, lexicon_scale: float = 1.0,
                 generator: torch.Generator | None = None) -> None:
        if lexicon is None:
            lexicon = generate_lexicon(lexicon_scale, generator)
        self.lexicon = {k: list(v) for k, v in lexicon.items()}
        self._set_rules(structural_rules() + lexical_rules(self.lexicon))

    @classmethod
    def from_rules(cls, rules: Iterable[Rule]) -> BaseGrammar:
        """A grammar from explicit rules (e.g. the official ``base-grammar.gr``)."""
        g = cls.__new__(cls)
        g.lexicon = {}
        g._set_rules(list(rules))
        return g

    def _set_rules(self, rules: list[Rule]) -> None:
        if not rules:
            raise ValueError("a grammar needs at least one rule")
        for r in rules:
            if not (r.weight > 0) or not r.rhs or not (0 <= r.switch <= len(SWITCHES)):
                raise ValueError(f"bad rule {r}: weight must be > 0, rhs non-empty, switch in 0..6")
        self.rules = rules
        self.nonterminals = list(dict.fromkeys(r.lhs for r in rules))
        if self.start not in self.nonterminals:
            raise ValueError(f"a grammar needs rules for {self.start!r}")
        nt = set(self.nonterminals)
        self.terminals = sorted({s for r in rules for s in r.rhs if s not in nt})
        by_lhs: dict[str, list[int]] = {}
        for i, r in enumerate(rules):
            by_lhs.setdefault(r.lhs, []).append(i)
        self._choices: dict[str, tuple[list[float], list[int]]] = {}
        self.probs = np.zeros(len(rules))
        for lhs, idx in by_lhs.items():
            w = np.array([rules[i].weight for i in idx])
            p = w / w.sum()
            self.probs[idx] = p
            self._choices[lhs] = (list(np.cumsum(p)[:-1]), idx)

    @property
    def vocabulary(self) -> list[str]:
        """Every word the grammar can emit, sorted, plus the final ``.``."""
        return [*self.terminals, END]

    def mean_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """``(M, t)``: ``M[A, B]`` expected number of B in one expansion of A; ``t[A]`` expected words emitted."""
        ix = {a: i for i, a in enumerate(self.nonterminals)}
        n = len(ix)
        M, t = np.zeros((n, n)), np.zeros(n)
        for r, p in zip(self.rules, self.probs):
            a = ix[r.lhs]
            for s in r.rhs:
                if s in ix:
                    M[a, ix[s]] += p
                else:
                    t[a] += p
        return M, t

    def sample(self, n: int, generator: torch.Generator | None = None, max_expansions: int = 400) -> list[Tree]:
        """``n`` derivation trees, top-down leftmost expansion from ROOT (spec §2).

        Derivations that need more than ``max_expansions`` expansions are rejected and resampled (the official
        sampler writes "..." for them instead).
        """
        if not (isinstance(n, int) and n >= 0):
            raise ValueError(f"n must be an int >= 0, got {n!r}")
        if max_expansions < 1:
            raise ValueError(f"max_expansions must be >= 1, got {max_expansions}")
        draw = _Draw(generator if generator is not None else torch.Generator().manual_seed(0))
        trees: list[Tree] = []
        self.rejected = 0
        while len(trees) < n:
            t = self._sample_one(draw, max_expansions)
            if t is None:
                self.rejected += 1
                if self.rejected > 100 * (n + 10):
                    raise RuntimeError(f"more than {self.rejected} rejected derivations: max_expansions too small?")
            else:
                trees.append(t)
        return trees

    def _choose(self, sym: str, draw: _Draw) -> int:
        cum, idx = self._choices[sym]
        return idx[bisect.bisect_right(cum, draw())] if cum else idx[0]

    def _sample_one(self, draw: _Draw, max_expansions: int) -> Tree | None:
        rules, choices = self.rules, self._choices
        stack = [[self._choose(self.start, draw), [], 0]]  # frames: [rule index, children, next rhs position]
        n_exp = 1
        while True:
            fr = stack[-1]
            r = rules[fr[0]]
            if fr[2] == len(r.rhs):
                node = Tree(r.lhs, tuple(fr[1]), r.switch)
                stack.pop()
                if not stack:
                    return node
                stack[-1][1].append(node)
                continue
            sym = r.rhs[fr[2]]
            fr[2] += 1
            if sym in choices:
                n_exp += 1
                if n_exp > max_expansions:
                    return None
                stack.append([self._choose(sym, draw), [], 0])
            else:
                fr[1].append(sym)


def expected_length(grammar: BaseGrammar) -> float:
    """Analytic expected number of words per sentence, ``[(I − M)^{-1} t]_ROOT`` (10.77 for the base grammar)."""
    M, t = grammar.mean_matrix()
    rho = spectral_radius(grammar)
    if rho >= 1:
        raise ValueError(f"the grammar is not sub-critical (spectral radius {rho:.3f} >= 1): infinite mean length")
    e = np.linalg.solve(np.eye(len(t)) - M, t)
    return float(e[grammar.nonterminals.index(grammar.start)])


def spectral_radius(grammar: BaseGrammar) -> float:
    """Spectral radius of the PCFG's mean matrix ``M`` (0.881 for the base grammar; < 1 = finite trees)."""
    M, _ = grammar.mean_matrix()
    return float(np.max(np.abs(np.linalg.eigvals(M))))


# ------------------------------------------------------------------------------------------------
# languages: switch settings, linearisation, designs
# ------------------------------------------------------------------------------------------------


def parse_switches(switches: str | Sequence[int | bool]) -> tuple[bool, ...]:
    """A 6-char bit string (``"011101"``) or a 6-tuple of 0/1 as six booleans (position K = switch K)."""
    if isinstance(switches, str):
        if len(switches) != 6 or set(switches) - {"0", "1"}:
            raise ValueError(f"switches must be 6 characters of 0/1 (switch K = character K), got {switches!r}")
        return tuple(c == "1" for c in switches)
    try:
        bits = tuple(switches)
    except TypeError:
        raise ValueError(f"switches must be a 6-char bit string or a 6-tuple, got {switches!r}") from None
    if len(bits) != 6 or any(b not in (0, 1, True, False) for b in bits):
        raise ValueError(f"switches must be six 0/1 values, got {switches!r}")
    return tuple(bool(b) for b in bits)


def switch_name(switches: str | Sequence[int | bool]) -> str:
    """The 6-char name of a switch setting."""
    return "".join("1" if b else "0" for b in parse_switches(switches))


def linearize(tree: Tree, switches: str | Sequence[int | bool]) -> list[str]:
    """The words of ``tree`` under a switch setting, plus the final ``.`` (iterative depth-first traversal).

    At a node whose rule carries switch ``K`` with ``b_K = 1`` its own children are visited right to left;
    descendants follow their own rules.
    """
    bits = (False, *parse_switches(switches))  # bits[0]: unmarked rules never flip
    out: list[str] = []
    stack: list = [tree]
    pop, push, extend = stack.pop, out.append, stack.extend
    while stack:
        x = pop()
        if type(x) is str:
            push(x)
        elif bits[x[2]]:
            extend(x[1])  # pushed left to right -> popped right to left: children reversed
        else:
            extend(reversed(x[1]))
    out.append(END)
    return out


def permute(tree: Tree, switches: str | Sequence[int | bool]) -> Tree:
    """The tree with the children of every switched node reversed (switch marks kept: an involution)."""
    bits = (False, *parse_switches(switches))

    def go(x):
        if type(x) is str:
            return x
        ch = tuple(go(c) for c in x.children)
        return Tree(x.label, ch[::-1] if bits[x.switch] else ch, x.switch)

    return go(tree)


def all_grammars() -> list[str]:
    """The 64 language names ``000000`` … ``111111`` (character K = switch K)."""
    return ["".join(b) for b in itertools.product("01", repeat=6)]


def fractional_factorial(resolution: int = 4) -> list[str]:
    """The 16-language 2^(6−2) design of resolution IV: bits 1–4 free, ``c5 = c1 c2 c3``, ``c6 = c2 c3 c4``
    with ``c_K = 2 b_K − 1`` (defining relation I = ABCE = BCDF = ADEF)."""
    if resolution != 4:
        raise ValueError(f"only the resolution-4 design (16 languages) is built, got resolution={resolution!r}; "
                         "all_grammars() gives the full 64")
    out = []
    for b in itertools.product((0, 1), repeat=4):
        c = [2 * x - 1 for x in b]
        c5, c6 = c[0] * c[1] * c[2], c[1] * c[2] * c[3]
        out.append("".join(map(str, b)) + ("1" if c5 > 0 else "0") + ("1" if c6 > 0 else "0"))
    return out


def coded_design(grammars: Sequence[str]) -> np.ndarray:
    """``(G, 6)`` matrix of the switches coded −1 (bit 0) / +1 (bit 1)."""
    return np.array([[1.0 if b else -1.0 for b in parse_switches(g)] for g in grammars])


def design_resolution(grammars: Sequence[str]) -> float:
    """Resolution of a two-level design: the length of the shortest word in its defining relation (a set of
    factors whose coded product is constant over the runs); ``inf`` for a full factorial."""
    X = coded_design(grammars)
    for k in range(1, 7):
        for S in itertools.combinations(range(6), k):
            prod = X[:, list(S)].prod(axis=1)
            if np.all(prod == prod[0]):
                return float(k)
    return float("inf")


def comp_free_key(grammar: str) -> str:
    """The 5-switch key (S, VP, PP, NP, Rel) of a language: the Comp bit (position 3) dropped (WALS has none)."""
    g = switch_name(grammar)
    return g[:2] + g[3:]


__all__ = ["END", "SWITCHES", "BaseGrammar", "Rule", "Tree", "all_grammars", "coded_design", "comp_free_key",
           "design_resolution", "expected_length", "fractional_factorial", "generate_lexicon", "linearize",
           "parse_switches", "permute", "spectral_radius", "structural_rules", "switch_name"]
