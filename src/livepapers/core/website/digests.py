"""The digest table: the five source digests, item by item (``digests.toml`` beside this module).

Every item carries its digest, number, title, authors, year and arXiv id; an item implemented by a registered paper
names its ``slug``, and :func:`mismatches` lists where the table and that paper's ``PAPER`` record disagree.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Item:
    """One numbered item of a digest."""

    digest: str  # seed file name, e.g. "002_2b11fbe35f2f8327.txt"
    n: int
    title: str
    authors: str
    year: int
    arxiv: str = ""
    url: str = ""
    summary: str = ""
    slug: str = ""

    @property
    def link(self) -> str:
        """The paper's arXiv abstract page, else its ``url``."""
        return f"https://arxiv.org/abs/{self.arxiv}" if self.arxiv else self.url

    @property
    def ref(self) -> str:
        """The ``PaperInfo.digest_item`` form: ``"<file> #<n>"``."""
        return f"{self.digest} #{self.n}"


@dataclass(frozen=True)
class Digest:
    file: str
    name: str
    source: str
    items: tuple[Item, ...]


_FIELDS = {"n", "title", "authors", "year", "arxiv", "url", "summary", "slug"}


@cache
def load() -> tuple[Digest, ...]:
    """The digests in file order; ``ValueError`` naming the item for a malformed entry."""
    text = resources.files(__package__).joinpath("digests.toml").read_text(encoding="utf-8")
    out = []
    for d in tomllib.loads(text)["digest"]:
        items = []
        for raw in d.get("item", []):
            extra = set(raw) - _FIELDS
            if extra or not {"n", "title", "authors", "year"} <= set(raw):
                raise ValueError(f"digests.toml: {d['file']} item {raw.get('n')}: fields must be {sorted(_FIELDS)} "
                                 f"(n, title, authors, year required); got {sorted(raw)}")
            items.append(Item(digest=d["file"], **raw))
        out.append(Digest(file=d["file"], name=d["name"], source=d.get("source", ""), items=tuple(items)))
    return tuple(out)


def items() -> list[Item]:
    return [it for d in load() for it in d.items]


def mismatches(info: object) -> list[str]:
    """Where the table disagrees with one paper's ``PAPER`` record (empty: they agree), in words."""
    slug = info.slug
    mine = [it for it in items() if it.slug == slug]
    if len(mine) != 1:
        return [f"{slug}: {len(mine)} items of the digest table name this slug (expected 1)"]
    it = mine[0]
    out = []
    for name, ours, theirs in (("title", it.title, info.title), ("authors", it.authors, info.authors),
                               ("year", it.year, info.year), ("arxiv", it.arxiv, info.arxiv),
                               ("digest_item", it.ref, info.digest_item)):
        if ours != theirs:
            out.append(f"{slug}: {name} in the digest table {ours!r} != PAPER.{name} {theirs!r}")
    return out
