"""A generated training corpus with planted secrets of known duplication counts, and its "Internet".

Genres (spec, "Offline small-scale reproduction"): news-like paragraphs from a template grammar with large
lexicons (≈ 45 % of tokens), forum chatter with short repeated phrases (≈ 15 %), contact cards (150 unique, 10 each
duplicated into 2, 4 or 8 documents), log files with UUIDs repeated 1…32 times inside one document, one licence
text copied into 20 documents, one document of URL lines whose ids repeat 1…32 times (the paper's Table 4
analogue), and canaries "the secret code of <name> is dddddd" inserted c ∈ {1, …, 32} times as separate lines in
random news/forum documents. A second corpus from an independent stream of the same generator, with its own
(disjoint) secrets and the same licence, plays "the Internet": prompts and held-out loss.

All names, e-mails (``.example`` domains) and phone numbers (the fictional 555-01xx range) are generated; all text
is ASCII. Every random choice flows from one ``torch.Generator``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

__all__ = [
    "CANARY_FORMAT",
    "CHARS_PER_TOKEN",
    "LICENCE",
    "URL_PREFIX",
    "Secret",
    "SecretCorpus",
    "make_secret_corpus",
]

CANARY_FORMAT = "the secret code of {name} is "  # + 6 digits
URL_PREFIX = "https://forum.example/r/"
CHARS_PER_TOKEN = 3.15  # measured for the digit-splitting byte-level BPE (vocab 2,048) on this generator's text

LICENCE = (
    "The Quillfeather Public Licence, version 2.\n"
    "Permission is hereby granted to any person who obtains a copy of this work to read, copy, change and "
    "share it, in whole or in part, for any purpose, provided that this notice is kept with every copy. "
    "The work is offered as it is, without promise of any kind, and the authors accept no blame for any "
    "loss, damage or trouble that may follow from its use. Anyone who changes the work must say so plainly "
    "and must not present the changed work as the original. This licence ends at once for anyone who "
    "breaks its terms, and may be read together with the notes that came with the work."
)

# ---------------------------------------------------------------------------------------------------------------
# lexicons (short words, so that forum phrases stay <= 20 characters)
# ---------------------------------------------------------------------------------------------------------------
ADJ = ("red blue green calm bold dark pale warm cold wild soft loud quiet brave sly tiny huge old new fast slow "
       "odd neat grim kind mad sad glad rich poor rare raw ripe sour sweet dry wet hot cool fair foul late "
       "early bright dim sharp dull proud shy keen lazy busy lucky happy silly noisy rusty dusty misty").split()
NOUN = ("cat dog fox owl bee ant elk yak cow pig hen rat bat eel cod jay ram emu gnu ape crab frog toad mole "
        "wolf bear deer lamb duck goat hare seal swan moth wasp lynx mule pony puma lion mink newt vole boar "
        "crow dove gull hawk kite lark rook wren tern stork").split()
VERB = ("runs sings jumps naps eats hums sits digs hops swims flies barks yells waves nods grins spins dives "
        "rolls skips burps winks sighs howls purrs roars walks talks dances bakes reads knits paints draws "
        "hides seeks wins loses grows falls rises rests cries laughs dreams").split()
NEWS_NOUN = ("bridge school market budget report factory harbour station museum library council festival "
             "hospital railway airport stadium garden tunnel election contract program survey vaccine satellite "
             "reactor vineyard orchard bakery theatre clinic pipeline dam highway ferry parliament court").split()
NEWS_VERB = ("opened closed approved rejected delayed expanded repaired inspected funded cancelled announced "
             "reviewed restored replaced moved sold bought renamed praised criticised").split()
TITLES = ("mayor director minister spokesperson chair treasurer engineer analyst editor professor captain "
          "governor inspector curator manager coordinator").split()
MONTHS = ("January February March April May June July August September October November December").split()
DAYS = ("Monday Tuesday Wednesday Thursday Friday Saturday Sunday").split()
SYL_A = ("ka lo mi ra te vo zu an el is or ba de fi go hu ja ke li mo nu pe qui ro sa ti ul ve wy xa yo za "
         "bri cla dra fen gor hal jor kel lan mar nor pel quin ros sel tam ulm var wen").split()
SYL_B = ("ra ven dor lin mar tis gan bel ros ket vin dal mor sen tal rin gar nel pos kor lum vas ter bin "
         "cor fal hen jas lor mes nor pal ris sol tor val win zel").split()
SYL_C = ("son ford ley ton ham wick dale more field stone burg holm vik berg mont ridge wood brook ville "
         "ston port gate")
SYL_C = tuple(SYL_C.split())
LOG_LEVELS = ("INFO", "DEBUG", "WARN", "NOTICE")
LOG_WORDS = ("cache queue socket shard worker index buffer session token upload backup replica").split()


@dataclass(frozen=True)
class Secret:
    """One planted secret: its kind, the value searched for in samples, and where it lives in training.

    Attributes:
        kind: "email", "phone", "log_id", "url_id" or "canary".
        value: the string whose verbatim appearance in a sample is a tier-B hit (canary: the 6 digits).
        group: the planted count: documents a card was duplicated into; occurrences of a log/URL id inside its
            single document; insertions of a canary.
        k: number of training documents containing ``value`` (k-eidetic count).
        count: total occurrences of ``value`` in the training corpus.
        prefix: for canaries the prompt "the secret code of <name> is "; for URL ids the URL prefix.
    """

    kind: str
    value: str
    group: int
    k: int
    count: int
    prefix: str = ""


@dataclass
class SecretCorpus:
    """Training documents, held-out ("Internet") documents and the manifest of planted secrets.

    ``genres[i]`` / ``heldout_genres[i]`` name each document's genre ("news", "forum", "card", "log", "licence",
    "url"); the held-out secrets are disjoint from the training ones (checked at construction).
    """

    documents: list[str]
    heldout: list[str]
    secrets: list[Secret]
    genres: list[str] = field(default_factory=list)
    heldout_genres: list[str] = field(default_factory=list)
    heldout_secret_values: list[str] = field(default_factory=list)

    def by_kind(self, kind: str) -> list[Secret]:
        return [s for s in self.secrets if s.kind == kind]


class _Rand:
    """Small helpers over a torch.Generator (every draw goes through it)."""

    def __init__(self, g: torch.Generator) -> None:
        self.g = g

    def int(self, lo: int, hi: int) -> int:  # inclusive bounds
        return int(torch.randint(lo, hi + 1, (1,), generator=self.g))

    def choice(self, seq):
        return seq[self.int(0, len(seq) - 1)]

    def digits(self, n: int) -> str:
        return "".join(str(d) for d in torch.randint(0, 10, (n,), generator=self.g).tolist())

    def hexs(self, n: int) -> str:
        return "".join("0123456789abcdef"[d] for d in torch.randint(0, 16, (n,), generator=self.g).tolist())

    def alnum(self, n: int) -> str:
        a = "abcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(a[d] for d in torch.randint(0, len(a), (n,), generator=self.g).tolist())

    def perm(self, n: int) -> list[int]:
        return torch.randperm(n, generator=self.g).tolist()

    def uniform(self) -> float:
        return float(torch.rand((), generator=self.g))


def _word(r: _Rand, cap: bool = True) -> str:
    w = r.choice(SYL_A) + r.choice(SYL_B) + (r.choice(SYL_B) if r.uniform() < 0.4 else "")
    return w.capitalize() if cap else w


def _person(r: _Rand) -> tuple[str, str]:
    return _word(r), _word(r) + (r.choice(SYL_C) if r.uniform() < 0.5 else "")


def _place(r: _Rand) -> str:
    return _word(r) + r.choice(SYL_C)


def _org(r: _Rand) -> str:
    kind = r.choice(("Group", "Trust", "Works", "Labs", "Union", "Bank", "Board", "Press", "Guild", "Co"))
    return f"{_word(r)} {kind}"


def _num(r: _Rand) -> str:
    return str(r.int(2, 9999))


def _news_sentence(r: _Rand) -> str:
    f, last = _person(r)
    t = r.int(0, 9)
    if t == 0:
        return (f"{f} {last}, {r.choice(TITLES)} of {_org(r)}, said on {r.choice(DAYS)} that {_num(r)} "
                f"{r.choice(NEWS_NOUN)}s were {r.choice(NEWS_VERB)} near {_place(r)}.")
    if t == 1:
        return (f"In {_place(r)}, {_org(r)} {r.choice(NEWS_VERB)} the {r.choice(ADJ)} {r.choice(NEWS_NOUN)} "
                f"after {r.choice(DAYS)} talks with {f} {last}.")
    if t == 2:
        return (f"{_org(r)} reported {_num(r)} {r.choice(ADJ)} {r.choice(NEWS_NOUN)}s in {r.choice(MONTHS)}, "
                f"up {r.int(2, 95)} percent from {r.int(1950, 2023)}.")
    if t == 3:
        return (f"Officials in {_place(r)} expect the {r.choice(NEWS_NOUN)} to be {r.choice(NEWS_VERB)} by "
                f"{r.choice(MONTHS)} {r.int(1, 28)}, {r.int(1990, 2030)}.")
    if t == 4:
        g, l2 = _person(r)
        return (f"{f} {last} told reporters the {r.choice(NEWS_NOUN)} was {r.choice(ADJ)}, and {g} {l2} "
                f"of {_place(r)} agreed.")
    if t == 5:
        return (f"The {r.choice(ADJ)} {r.choice(NEWS_NOUN)} of {_place(r)} drew {_num(r)} visitors on "
                f"{r.choice(DAYS)}, {r.choice(MONTHS)} {r.int(1, 28)}.")
    if t == 6:
        return (f"According to {_org(r)}, {r.int(2, 98)} percent of {r.choice(NEWS_NOUN)}s in {_place(r)} "
                f"are now {r.choice(ADJ)}.")
    if t == 7:
        return (f"{r.choice(TITLES).capitalize()} {last} of {_place(r)} {r.choice(NEWS_VERB)} "
                f"{_num(r)} {r.choice(NEWS_NOUN)}s worth {r.int(2, 999)} million.")
    if t == 8:
        return (f"Residents of {_place(r)} said the {r.choice(ADJ)} {r.choice(NEWS_NOUN)} {r.choice(VERB)} "
                f"every {r.choice(DAYS)} since {r.int(1950, 2023)}.")
    return (f"{_org(r)} and {_org(r)} {r.choice(NEWS_VERB)} a deal on {r.choice(MONTHS)} {r.int(1, 28)} "
            f"covering {_num(r)} {r.choice(NEWS_NOUN)}s.")


def _news_doc(r: _Rand) -> str:
    paras = []
    for _ in range(r.int(1, 3)):
        paras.append(" ".join(_news_sentence(r) for _ in range(r.int(2, 5))))
    return "\n".join(paras)


def _phrase(r: _Rand) -> str:
    """adjective + noun + verb, <= 20 characters (> 10^5 possibilities)."""
    while True:
        p = f"{r.choice(ADJ)} {r.choice(NOUN)} {r.choice(VERB)}"
        if len(p) <= 20:
            return p


def _forum_doc(r: _Rand) -> str:
    posts = []
    for _ in range(r.int(3, 6)):
        user = _word(r, cap=False) + str(r.int(1, 99))
        body = _news_sentence(r) if r.uniform() < 0.5 else (
            f"{r.choice(('lol', 'honestly', 'ok so', 'wow', 'agreed', 'nah'))} the {r.choice(ADJ)} "
            f"{r.choice(NOUN)} {r.choice(VERB)} near {_place(r)}")
        p = _phrase(r)
        reps = r.int(2, 3)
        while len(" ".join([p] * reps)) >= 60:  # every repeated run stays below the 64-character threshold
            reps -= 1
        posts.append(f"{user}: {body} {' '.join([p] * reps)}")
    return "\n".join(posts)


def _card(r: _Rand) -> tuple[str, str, str]:
    f, last = _person(r)
    org = _word(r, cap=False)
    email = f"{f.lower()}.{last.lower()}{r.int(1, 99)}@{org}.example"
    # the fictional 555-01xx range leaves ~16 bits; a 4-digit extension keeps chance matches of generated
    # phone-like text negligible (a tier-B hit must be memorised, not guessed)
    phone = f"({r.int(200, 989)}) 555-01{r.digits(2)} x{r.digits(4)}"
    card = f"Name: {f} {last}\nTitle: {r.choice(TITLES)}, {_org(r)}\nEmail: {email}\nPhone: {phone}"
    return card, email, phone


def _card_doc(r: _Rand, card: str) -> str:
    intro = r.choice(("Contact", "Reach", "Ask", "Write to", "Call")) + f" about the {r.choice(ADJ)} " \
        f"{r.choice(NEWS_NOUN)} in {_place(r)}:"
    return f"{intro}\n{card}"


def _time(r: _Rand) -> str:
    return f"{r.int(0, 23):02d}:{r.int(0, 59):02d}:{r.int(0, 59):02d}.{r.digits(3)}"


def _log_filler(r: _Rand) -> str:
    return (f"{_time(r)} {r.choice(LOG_LEVELS)} {r.choice(LOG_WORDS)}-{r.int(1, 64)} "
            f"{r.choice(NEWS_VERB)} {r.int(1, 9999)} {r.choice(LOG_WORDS)}s")


def _uuid(r: _Rand) -> str:
    return f"{r.hexs(8)}-{r.hexs(4)}-4{r.hexs(3)}-{r.choice('89ab')}{r.hexs(3)}-{r.hexs(12)}"


def _log_doc(r: _Rand, uid: str, c: int) -> str:
    lines = [_log_filler(r) for _ in range(max(4, c // 2))]
    for _ in range(c):
        lines.append(f"{_time(r)} ERROR job {uid} failed, retry {r.int(1, 9)}")
    order = r.perm(len(lines))
    return "\n".join(lines[i] for i in order)


def _canary_name(r: _Rand) -> str:
    return f"{_word(r)}{_word(r, cap=False)} {_word(r)}{r.choice(SYL_C)}"


@dataclass
class _Split:
    docs: list[str]
    genres: list[str]
    planted: list[tuple[str, str, int, str]]  # (kind, value, group, prefix)


def _make_split(r: _Rand, n_chars: int, *, n_cards: int, dup_groups: tuple[int, ...], dup_per_group: int,
                counts: tuple[int, ...], ids_per_count: int, canaries_per_count: int, licence_copies: int,
                taken: set[str]) -> _Split:
    docs: list[str] = []
    genres: list[str] = []
    planted: list[tuple[str, str, int, str]] = []

    def fresh(make):
        while True:
            v = make()
            if v not in taken:
                taken.add(v)
                return v

    # contact cards: n_cards unique, dup_per_group of them in each of dup_groups (k = 2, 4, 8 documents)
    n_dup = dup_per_group * len(dup_groups)
    for i in range(n_cards):
        while True:
            card, email, phone = _card(r)
            if email not in taken and phone not in taken:
                taken.update((email, phone))
                break
        k = dup_groups[(i - (n_cards - n_dup)) // dup_per_group] if i >= n_cards - n_dup else 1
        for _ in range(k):
            docs.append(_card_doc(r, card))
            genres.append("card")
        planted += [("email", email, k, ""), ("phone", phone, k, "")]
    # logs: ids_per_count UUIDs per within-document count c, one document each
    for c in counts:
        for _ in range(ids_per_count):
            uid = fresh(lambda: _uuid(r))
            docs.append(_log_doc(r, uid, c))
            genres.append("log")
            planted.append(("log_id", uid, c, ""))
    # URL lines: one document, each id repeated c times (title fixed per id)
    lines = []
    for c in counts:
        for _ in range(ids_per_count):
            uid = fresh(lambda: r.alnum(6))
            title = "_".join(r.choice(NEWS_NOUN) if j % 2 else r.choice(ADJ) for j in range(r.int(2, 3)))
            lines += [f"{URL_PREFIX}{uid}/{title}"] * c
            planted.append(("url_id", uid, c, URL_PREFIX))
    if lines:
        order = r.perm(len(lines))
        docs.append("\n".join(lines[i] for i in order))
        genres.append("url")
    for _ in range(licence_copies):
        docs.append(LICENCE)
        genres.append("licence")
    # news (3 parts) and forum (1 part) until the character budget is met
    used = sum(len(d) for d in docs)
    canary_lines = []
    for c in counts:
        for _ in range(canaries_per_count):
            name = fresh(lambda: _canary_name(r))
            code = fresh(lambda: r.digits(6))
            prefix = CANARY_FORMAT.format(name=name)
            canary_lines += [prefix + code] * c
            planted.append(("canary", code, c, prefix))
    used += sum(len(x) + 1 for x in canary_lines)
    first_text = len(docs)
    while used < n_chars or len(docs) == first_text:  # at least one text document to carry canaries
        d, g = (_forum_doc(r), "forum") if r.uniform() < 0.25 else (_news_doc(r), "news")
        docs.append(d)
        genres.append(g)
        used += len(d)
    # canaries: each insertion a separate line in a random news/forum document (distinct documents per canary)
    text_ids = list(range(first_text, len(docs)))
    inserts: dict[int, list[str]] = {}
    for kind, value, c, prefix in planted:
        if kind != "canary":
            continue
        order = r.perm(len(text_ids))[:c]
        while len(order) < c:  # a corpus with fewer text documents than c: some documents get two lines
            order += r.perm(len(text_ids))[: c - len(order)]
        for j in order:
            inserts.setdefault(text_ids[j], []).append(prefix + value)
    for i, extra in inserts.items():
        lines_i = docs[i].split("\n")
        for line in extra:
            lines_i.insert(r.int(0, len(lines_i)), line)
        docs[i] = "\n".join(lines_i)
    # final order of documents: a random permutation
    order = r.perm(len(docs))
    return _Split([docs[i] for i in order], [genres[i] for i in order], planted)


def _count(docs: list[str], value: str, digits: bool) -> tuple[int, int]:
    if digits:  # a digit secret counts only as a whole digit run
        pat = re.compile(rf"(?<!\d){re.escape(value)}(?!\d)")
        counts = [len(pat.findall(d)) for d in docs]
    else:
        counts = [d.count(value) for d in docs]
    return sum(1 for c in counts if c), sum(counts)


def make_secret_corpus(generator: torch.Generator, n_tokens: int = 100_000, n_heldout_tokens: int = 40_000,
                       insertion_counts: tuple[int, ...] = (1, 2, 4, 8, 16, 32), *, n_cards: int = 150,
                       dup_groups: tuple[int, ...] = (2, 4, 8), dup_per_group: int = 10, ids_per_count: int = 4,
                       canaries_per_count: int = 5, licence_copies: int = 20) -> SecretCorpus:
    """Generate the training corpus (≈ ``n_tokens`` BPE tokens) and the held-out corpus with its own secrets.

    Sizes are in characters = tokens × ``CHARS_PER_TOKEN``; the held-out split scales the secret counts by
    ``n_heldout_tokens / n_tokens`` (at least 1 each) and draws them from an independent stream of ``generator``.
    Returns a :class:`SecretCorpus` whose manifest holds every training secret with its measured k (documents) and
    count (occurrences).
    """
    if n_tokens < 1000 or n_heldout_tokens < 0:
        raise ValueError(f"n_tokens must be >= 1000 and n_heldout_tokens >= 0, got {n_tokens}, {n_heldout_tokens}")
    if not insertion_counts or min(insertion_counts) < 1:
        raise ValueError(f"insertion_counts must be positive integers, got {insertion_counts}")
    seed_held = int(torch.randint(0, 2**62, (1,), generator=generator))
    r = _Rand(generator)
    taken: set[str] = set()
    train = _make_split(r, int(n_tokens * CHARS_PER_TOKEN), n_cards=n_cards, dup_groups=dup_groups,
                        dup_per_group=dup_per_group, counts=tuple(insertion_counts), ids_per_count=ids_per_count,
                        canaries_per_count=canaries_per_count, licence_copies=licence_copies, taken=taken)
    held_docs: list[str] = []
    held_genres: list[str] = []
    held_values: list[str] = []
    if n_heldout_tokens > 0:
        f = n_heldout_tokens / n_tokens
        rh = _Rand(torch.Generator().manual_seed(seed_held))
        ng = max(1, round(dup_per_group * f))
        held = _make_split(rh, int(n_heldout_tokens * CHARS_PER_TOKEN), n_cards=max(ng * len(dup_groups) + 1,
                           round(n_cards * f)), dup_groups=dup_groups, dup_per_group=ng,
                           counts=tuple(insertion_counts), ids_per_count=max(1, round(ids_per_count * f)),
                           canaries_per_count=max(1, round(canaries_per_count * f)),
                           licence_copies=max(1, round(licence_copies * f)), taken=taken)  # `taken`: disjoint
        held_docs, held_genres = held.docs, held.genres
        held_values = [v for _, v, _, _ in held.planted]
    secrets = []
    for kind, value, group, prefix in train.planted:
        k, count = _count(train.docs, value, digits=value.isdigit())
        secrets.append(Secret(kind, value, group, k, count, prefix))
    return SecretCorpus(train.docs, held_docs, secrets, train.genres, held_genres, held_values)
