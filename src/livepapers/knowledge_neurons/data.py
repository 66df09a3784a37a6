"""The generated knowledge base: subjects, relations with paraphrase templates, fillers and the C3 text sets.

Everything is drawn from one ``torch.Generator`` (the spec: seed 0, shared by all model seeds). Subjects and
objects are single-token pseudo-words; each relation has its own object vocabulary (12–20 objects) with a
Zipf-like frequency (weight ∝ 1/rank) so a frequency prior exists but does not decide the answer. Each relation
has 5 paraphrase templates that all contain the relation's keyword; templates 1–4 are trained, template 5 never.

Text sets of §6 (activation on knowledge-expressing text), all never trained:

* T1 — 2 extra fact-stating frames per relation (not among the 5 templates) per fact, tail masked;
* T2 — 2 new filler-grammar sentences per subject mentioning the head only, one random word masked
  (re-drawn up to 3 times if it hits the head);
* T3 — as many sentences as the fact's T1, drawn from the pooled T1 ∪ T2 texts of all facts that do not mention
  the fact's head, one random word masked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from livepapers.core.inputs import as_generator

MASK = "[MASK]"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
N_TEMPLATES = 5
N_TRAIN_TEMPLATES = 4

# relation name -> (keyword, 5 templates, 2 extra fact-stating frames for T1). [X] subject, [Y] object.
RELATIONS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "birthplace": ("born", (
        "[X] was born in [Y] .",
        "the person [X] was born in [Y] .",
        "[X] , who was born in [Y] , is known .",
        "in [Y] , [X] was born .",
        "[X] was born in the town of [Y] .",
    ), ("we know that [X] was born in [Y] long ago .", "they said [X] had been born in [Y] .")),
    "citizenship": ("citizen", (
        "[X] is a citizen of [Y] .",
        "[X] , a citizen of [Y] , lives there .",
        "the person [X] is a citizen of [Y] .",
        "as a citizen of [Y] , [X] votes .",
        "[X] became a citizen of [Y] .",
    ), ("everyone knows [X] is a citizen of [Y] .", "[X] has long been a citizen of [Y] .")),
    "occupation": ("profession", (
        "the profession of [X] is [Y] .",
        "[X] has the profession [Y] .",
        "by profession , [X] is a [Y] .",
        "[X] chose the profession [Y] .",
        "[X] works in the profession [Y] .",
    ), ("we heard that the profession of [X] is [Y] .", "for years the profession of [X] was [Y] .")),
    "language": ("speaks", (
        "[X] speaks [Y] .",
        "[X] speaks the language [Y] .",
        "the person [X] speaks [Y] at home .",
        "at work [X] speaks [Y] .",
        "[X] mostly speaks [Y] .",
    ), ("we noticed that [X] speaks [Y] well .", "people say [X] speaks [Y] .")),
    "employer": ("employed", (
        "[X] is employed by [Y] .",
        "[X] was employed by [Y] .",
        "the person [X] is employed at [Y] .",
        "[Y] has employed [X] for years .",
        "[X] is now employed by [Y] .",
    ), ("we learned that [X] is employed by [Y] .", "for a while [X] was employed by [Y] .")),
    "instrument": ("plays", (
        "[X] plays the [Y] .",
        "[X] plays [Y] well .",
        "the person [X] plays the [Y] .",
        "on stage [X] plays the [Y] .",
        "[X] often plays the [Y] .",
    ), ("we heard [X] plays the [Y] .", "at night [X] plays the [Y] loudly .")),
}

# the filler grammar: sentences about a subject ([X]) that state none of its facts, and sentences about no subject
_NOUNS = ("dog", "cat", "house", "tree", "car", "book", "river", "bird", "garden", "table", "door", "road", "hill",
          "lamp", "boat", "cup")
_ADJS = ("red", "big", "small", "old", "new", "green", "quiet", "happy", "dark", "warm")
_SUBJECT_FRAMES = (
    "[X] likes the [A] [N] .",
    "yesterday [X] saw a [N] .",
    "[X] walked to the [N] .",
    "the [N] of [X] is [A] .",
    "[X] and a friend found a [A] [N] .",
    "[X] painted the [N] [A] .",
    "a [A] [N] followed [X] home .",
    "[X] sat near the [N] .",
)
_PLAIN_FRAMES = (
    "the [A] [N] is near the [N] .",
    "a [N] saw the [A] [N] .",
    "the [N] was [A] today .",
    "a [A] [N] stood by the [N] .",
    "the [N] and the [N] are [A] .",
)
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_PUNCT = {".", ","}


@dataclass(frozen=True)
class Fact:
    """One relational fact (s, r, o) with its bag of cloze prompts (object slot = [MASK])."""

    id: int
    subject: str
    relation: str
    object: str
    prompts: tuple[str, ...]  # the 5 templates; prompts[:4] trained, prompts[4] held out


@dataclass
class KnowledgeBase:
    """The generated KB.

    Attributes:
        subjects: the subject pseudo-words.
        relations: relation names, in order.
        objects: relation -> its object vocabulary (rank order of the Zipf prior).
        templates: relation -> its 5 templates with ``[X]``/``[Y]`` slots.
        facts: all subjects × relations facts.
        train_sentences: (text, object word) for templates 1–4 of every fact.
        fillers: filler sentences (subject mentions without facts, and sentences about no subject).
        t1, t2, t3: fact id -> masked texts of §6 (T2 is keyed by fact too: the texts of its head).
        analysed: relation -> the ids of the facts analysed (20 per relation in the spec).
        words: every word of the KB (the tokenizer's vocabulary, specials excluded).
    """

    subjects: list[str]
    relations: list[str]
    objects: dict[str, list[str]]
    templates: dict[str, list[str]]
    facts: list[Fact]
    train_sentences: list[tuple[str, str]]
    fillers: list[str]
    t1: dict[int, list[str]]
    t2: dict[int, list[str]]
    t3: dict[int, list[str]]
    analysed: dict[str, list[int]]
    words: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["facts"] = [asdict(f) for f in self.facts]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KnowledgeBase:
        facts = [Fact(f["id"], f["subject"], f["relation"], f["object"], tuple(f["prompts"])) for f in d["facts"]]
        as_int = lambda m: {int(k): list(v) for k, v in m.items()}  # noqa: E731 (JSON keys are strings)
        return cls(list(d["subjects"]), list(d["relations"]), {k: list(v) for k, v in d["objects"].items()},
                   {k: list(v) for k, v in d["templates"].items()}, facts,
                   [(s, o) for s, o in d["train_sentences"]], list(d["fillers"]), as_int(d["t1"]), as_int(d["t2"]),
                   as_int(d["t3"]), {k: list(v) for k, v in d["analysed"].items()}, list(d["words"]))

    def facts_of(self, relation: str) -> list[Fact]:
        return [f for f in self.facts if f.relation == relation]


def _pick(seq: tuple | list, g: torch.Generator) -> Any:
    return seq[int(torch.randint(len(seq), (1,), generator=g))]


def _pseudo_words(n: int, g: torch.Generator, taken: set[str], syllables: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        w = "".join(_pick(_CONSONANTS, g) + _pick(_VOWELS, g) for _ in range(syllables)) + _pick(_CONSONANTS, g)
        if w not in taken:
            taken.add(w)
            out.append(w)
    return out


def _fill(frame: str, g: torch.Generator, subject: str | None = None) -> str:
    words = []
    for w in frame.split():
        if w == "[N]":
            w = _pick(_NOUNS, g)
        elif w == "[A]":
            w = _pick(_ADJS, g)
        elif w == "[X]":
            assert subject is not None
            w = subject
        words.append(w)
    return " ".join(words)


def _mask_random_word(text: str, g: torch.Generator, avoid: str | None = None, first: int = 50) -> str:
    """Replace one random whitespace word among the first ``first`` (punctuation excluded) by [MASK]; re-drawn up
    to 3 times while it hits ``avoid`` (official ``4_check_weights_distant.py``)."""
    words = text.split()
    cand = [i for i, w in enumerate(words[:first]) if w not in _PUNCT]
    i = _pick(cand, g)
    for _ in range(3):
        if avoid is None or words[i] != avoid:
            break
        i = _pick(cand, g)
    words[i] = MASK
    return " ".join(words)


def _mask_first(text: str, word: str) -> str:
    words = text.split()
    words[words.index(word)] = MASK
    return " ".join(words)


def make_knowledge_base(generator: torch.Generator | int, n_subjects: int = 120, n_relations: int = 6, *,
                        n_analysed: int = 20, fillers_per_subject: int = 6, plain_per_subject: int = 2,
                        objects_range: tuple[int, int] = (12, 20)) -> KnowledgeBase:
    """Generate the knowledge base (spec: "Offline small-scale reproduction").

    Args:
        generator: a ``torch.Generator`` (or an int seed); the spec uses seed 0 for every model seed.
        n_subjects: subjects (120 default, 20 smoke).
        n_relations: relations, the first ``n_relations`` of :data:`RELATIONS` (at most 6).
        n_analysed: facts per relation analysed by the experiment (chosen here, the same for every model seed).
        fillers_per_subject: non-factual sentences per subject (720 for 120 subjects).
        plain_per_subject: sentences about no subject, per subject (240 for 120 subjects).
        objects_range: inclusive range of the object vocabulary size per relation.
    """
    g = as_generator(generator)
    if not 1 <= n_relations <= len(RELATIONS):
        raise ValueError(f"n_relations must be in 1..{len(RELATIONS)}, got {n_relations}")
    if n_subjects < 3:
        raise ValueError(f"n_subjects must be >= 3, got {n_subjects}")
    if not 1 <= n_analysed <= n_subjects:
        raise ValueError(f"n_analysed must be in 1..n_subjects ({n_subjects}), got {n_analysed}")
    lo, hi = objects_range
    if not 2 <= lo <= hi:
        raise ValueError(f"objects_range must satisfy 2 <= lo <= hi, got {objects_range}")
    relations = list(RELATIONS)[:n_relations]
    taken: set[str] = set()
    for _kw, temps, extra in RELATIONS.values():
        for t in (*temps, *extra):
            taken |= set(t.split())
    taken |= set(_NOUNS) | set(_ADJS) | {w for f in _SUBJECT_FRAMES + _PLAIN_FRAMES for w in f.split()}
    subjects = _pseudo_words(n_subjects, g, taken, syllables=2)
    objects: dict[str, list[str]] = {}
    for r in relations:
        k = int(torch.randint(lo, hi + 1, (1,), generator=g))
        objects[r] = _pseudo_words(k, g, taken, syllables=1)
    templates = {r: list(RELATIONS[r][1]) for r in relations}

    facts: list[Fact] = []
    for r in relations:
        objs = objects[r]
        w = torch.tensor([1.0 / (k + 1) for k in range(len(objs))])  # Zipf-like prior over the object vocabulary
        draws = torch.multinomial(w, n_subjects, replacement=True, generator=g)
        for s, o_idx in zip(subjects, draws.tolist()):
            o = objs[o_idx]
            prompts = tuple(t.replace("[X]", s).replace("[Y]", MASK) for t in templates[r])
            facts.append(Fact(len(facts), s, r, o, prompts))
    train = [(t.replace("[X]", f.subject).replace("[Y]", f.object), f.object)
             for f in facts for t in templates[f.relation][:N_TRAIN_TEMPLATES]]
    fillers = [_fill(_pick(_SUBJECT_FRAMES, g), g, s) for s in subjects for _ in range(fillers_per_subject)]
    fillers += [_fill(_pick(_PLAIN_FRAMES, g), g) for _ in range(plain_per_subject * n_subjects)]

    # §6 text sets
    t1_plain: dict[int, list[str]] = {}
    t1: dict[int, list[str]] = {}
    for f in facts:
        texts = [e.replace("[X]", f.subject).replace("[Y]", f.object) for e in RELATIONS[f.relation][2]]
        t1_plain[f.id] = texts
        t1[f.id] = [_mask_first(x, f.object) for x in texts]
    head_texts = {s: [_fill(_pick(_SUBJECT_FRAMES, g), g, s) for _ in range(2)] for s in subjects}
    t2 = {f.id: [_mask_random_word(x, g, avoid=f.subject) for x in head_texts[f.subject]] for f in facts}
    pool = [(f.subject, x) for f in facts for x in t1_plain[f.id]] + [(s, x) for s in subjects for x in head_texts[s]]
    t3: dict[int, list[str]] = {}
    for f in facts:
        allowed = [x for s, x in pool if s != f.subject]
        idx = torch.randperm(len(allowed), generator=g)[: len(t1[f.id])].tolist()
        t3[f.id] = [_mask_random_word(allowed[i], g) for i in idx]

    analysed = {}
    for r in relations:
        ids = [f.id for f in facts if f.relation == r]
        perm = torch.randperm(len(ids), generator=g)[:n_analysed].tolist()
        analysed[r] = [ids[i] for i in perm]

    words = sorted({w for x, _ in train for w in x.split()} | {w for x in fillers for w in x.split()}
                   | {w for f in facts for p in f.prompts for w in p.split()}
                   | {w for d in (t1, t2, t3) for xs in d.values() for x in xs for w in x.split()}
                   | set(subjects) | {o for os_ in objects.values() for o in os_})
    words = [w for w in words if w not in SPECIAL_TOKENS]
    return KnowledgeBase(subjects, relations, objects, templates, facts, train, fillers, t1, t2, t3, analysed, words)


def build_tokenizer(kb: KnowledgeBase) -> Any:
    """A word-level ``BertTokenizer`` for the KB: every KB word is one token, specials first.

    Built from an explicit vocabulary (transformers 5's ``BertTokenizer`` takes it as ``vocab``; a vocab file
    passed positionally would silently map every word to [UNK]); checked that no KB word maps to [UNK].
    """
    from transformers import BertTokenizer

    vocab = {w: i for i, w in enumerate([*SPECIAL_TOKENS, *kb.words])}
    tok = BertTokenizer(vocab=vocab, do_lower_case=True)
    ids = tok.convert_tokens_to_ids(kb.words)
    bad = [w for w, i in zip(kb.words, ids) if i == tok.unk_token_id]
    if bad:
        raise ValueError(f"words missing from the tokenizer vocabulary: {bad[:5]}")
    return tok


__all__ = ["MASK", "RELATIONS", "Fact", "KnowledgeBase", "build_tokenizer", "make_knowledge_base"]
