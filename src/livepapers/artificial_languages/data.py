"""Corpora: the official grammar file format, parallel corpora over many languages, splits and token streams.

Every language of a parallel corpus is a deterministic reordering of the same trees, so line ``i`` has the same
multiset of words (and the same length) in every language; token streams built in the same sentence order
therefore put every sentence at the same positions in every language.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from .grammar import END, BaseGrammar, Rule, Tree, linearize, switch_name

EOS = "</s>"  # end-of-sentence token joining the sentences of a stream (fairseq's </s>)


def grammar_from_file(path: str | Path) -> BaseGrammar:
    """Read a grammar in the official format: ``weight TAB lhs TAB rhs [TAB switch]`` per line (blank lines and
    ``#`` comments ignored); ``rhs`` is space-separated, ``switch`` 1..6. Loads the official ``base-grammar.gr``."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"grammar file not found: {p}")
    rules = []
    for k, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.rstrip("\n").split("\t")
        if len(parts) not in (3, 4):
            raise ValueError(f"{p}:{k}: expected 'weight<TAB>lhs<TAB>rhs[<TAB>switch]', got {line!r}")
        try:
            w = float(parts[0])
            sw = int(parts[3]) if len(parts) == 4 and parts[3].strip() else 0
        except ValueError:
            raise ValueError(f"{p}:{k}: weight must be a number and switch an int, got {line!r}") from None
        rules.append(Rule(parts[1].strip(), tuple(parts[2].split()), w, sw))
    return BaseGrammar.from_rules(rules)


def grammar_to_file(grammar: BaseGrammar, path: str | Path) -> Path:
    """Write ``grammar`` in the official format (round-trips through :func:`grammar_from_file`)."""
    lines = []
    for r in grammar.rules:
        cols = [repr(float(r.weight)), r.lhs, " ".join(r.rhs)] + ([str(r.switch)] if r.switch else [])
        lines.append("\t".join(cols))
    p = Path(path)
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def make_parallel_corpus(trees: Sequence[Tree], grammars: Iterable[str]) -> dict[str, list[list[str]]]:
    """``{language: [sentence tokens]}``: every tree linearised under every language (line i = tree i)."""
    names = [switch_name(g) for g in grammars]
    return {g: [linearize(t, g) for t in trees] for g in names}


def make_splits(n_sentences: int, n_splits: int = 10, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
                ) -> list[dict[str, range]]:
    """Contiguous splits of ``n_sentences`` lines: split ``s`` takes the ``s``-th block of ``n/n_splits`` lines;
    within it the first ``fractions[0]`` is train, then **test**, then dev (the official order)."""
    if n_splits < 1 or n_sentences < n_splits:
        raise ValueError(f"need 1 <= n_splits <= n_sentences, got n_splits={n_splits}, n_sentences={n_sentences}")
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    size = n_sentences // n_splits
    out = []
    for s in range(n_splits):
        a = s * size
        n_tr, n_te = round(fractions[0] * size), round(fractions[1] * size)
        out.append({"train": range(a, a + n_tr), "test": range(a + n_tr, a + n_tr + n_te),
                    "dev": range(a + n_tr + n_te, a + size)})
    return out


class Vocabulary:
    """Word <-> id, identical for every language of a grammar (ids: ``</s>`` = 0, then sorted words)."""

    def __init__(self, words: Iterable[str]) -> None:
        ws = sorted(set(words) - {EOS})
        self.itos = [EOS, *ws]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def of(cls, grammar: BaseGrammar) -> Vocabulary:
        return cls(grammar.vocabulary)

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def eos(self) -> int:
        return 0

    def encode(self, sentence: Sequence[str]) -> list[int]:
        try:
            return [self.stoi[w] for w in sentence]
        except KeyError as e:
            raise ValueError(f"word {e.args[0]!r} is not in the vocabulary") from None


def encode_corpus(trees: Sequence[Tree], grammars: Sequence[str], vocab: Vocabulary
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(tokens, lengths)``: ``tokens[g]`` is language ``g``'s sentences (with ``.``) concatenated as ids,
    ``(G, Σ lengths)`` int32; ``lengths[i]`` the token count of sentence ``i`` (the same in every language)."""
    lengths = np.array([len(t.words()) + 1 for t in trees], dtype=np.int64)
    toks = np.empty((len(grammars), int(lengths.sum())), dtype=np.int32)
    stoi = vocab.stoi
    for gi, g in enumerate(grammars):
        row: list[int] = []
        for t in trees:
            row.extend(stoi[w] for w in linearize(t, g))
        toks[gi] = row
    return toks, lengths


def unigram_perplexity(stream: np.ndarray) -> float:
    """``exp(H)`` of the empirical unigram distribution of a token stream (the same for every language)."""
    counts = np.bincount(np.asarray(stream))
    p = counts[counts > 0] / counts.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def corpus_stats(trees: Sequence[Tree]) -> Mapping[str, float]:
    """Mean / median / max sentence length in words (without the final ``.``)."""
    L = np.array([len(t.words()) for t in trees], dtype=float)
    return {"mean": float(L.mean()), "median": float(np.median(L)), "max": float(L.max())}


__all__ = ["END", "EOS", "Vocabulary", "corpus_stats", "encode_corpus", "grammar_from_file", "grammar_to_file",
           "make_parallel_corpus", "make_splits", "unigram_perplexity"]
