"""The papers: slug -> package, found through package entry points and imported lazily on lookup.

A paper package registers itself in its distribution's metadata (``pyproject.toml``)::

    [project.entry-points."livepapers.papers"]
    mega = "livepapers.mega"

so adding a paper touches no core file, and a third-party package can add its own papers the same way.
:func:`register` adds one at run time (tests, notebooks). The package holds ``PAPER`` (:class:`PaperInfo`)
in its ``__init__``, ``experiment.py`` (``Config``, ``PROFILES``, ``run``) and ``claims.py`` (``CLAIMS``,
``METRICS``).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

from livepapers.core.config import Profile, as_profile

GROUP = "livepapers.papers"


def _discover() -> dict[str, str]:
    """slug -> package from the installed entry points of group ``livepapers.papers``."""
    return {ep.name: ep.value for ep in importlib.metadata.entry_points(group=GROUP)}


PAPERS: dict[str, str] = _discover()


def register(slug: str, package: str) -> None:
    """Register ``package`` (an importable module path) under ``slug`` for this process."""
    if not slug or not package:
        raise ValueError("register needs a slug and a package")
    PAPERS[slug] = package


@contextlib.contextmanager
def registered(slug: str, package: str) -> Iterator[str]:
    """Register a paper for the duration of a ``with`` block (tests); restores the previous entry."""
    before = PAPERS.get(slug)
    register(slug, package)
    try:
        yield slug
    finally:
        if before is None:
            PAPERS.pop(slug, None)
        else:
            PAPERS[slug] = before


class UnknownPaper(KeyError):
    """Raised for a slug that is not registered; the message lists the known slugs."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0])


class UnknownProfile(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class PaperInfo:
    """Bibliographic metadata of one paper; lives in the paper's ``__init__``."""

    slug: str
    title: str
    authors: str
    year: int
    arxiv: str = ""
    venue: str = ""
    bibtex: str = ""
    summary: str = ""
    tags: tuple[str, ...] = ()
    digest_item: str = ""  # the digest and item number it comes from, e.g. "002_2b11fbe35f2f8327.txt #1"

    @property
    def url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv}" if self.arxiv else ""


class Paper:
    """A registered paper; its modules are imported on first use."""

    def __init__(self, slug: str, package: str) -> None:
        self.slug = slug
        self.package = package

    def __repr__(self) -> str:
        return f"Paper({self.slug!r})"

    @cached_property
    def module(self) -> ModuleType:
        return importlib.import_module(self.package)

    @cached_property
    def experiment(self) -> ModuleType:
        return importlib.import_module(self.package + ".experiment")

    @cached_property
    def claims_module(self) -> ModuleType:
        return importlib.import_module(self.package + ".claims")

    @property
    def info(self) -> PaperInfo:
        return self.module.PAPER

    @cached_property
    def claims(self) -> tuple:
        """``CLAIMS``, checked against ``METRICS`` (a claim reading an undeclared metric is an import error)."""
        claims = tuple(self.claims_module.CLAIMS)
        metrics = self.metrics
        if metrics is not None:
            from livepapers.core.claims import check_declared

            try:
                check_declared(claims, metrics)
            except ValueError as e:
                raise ImportError(f"{self.package}.claims: {e}") from None
        return claims

    @property
    def metrics(self) -> dict[str, Any] | None:
        """``METRICS`` (name -> Metric) declared beside the claims, or None for a paper that has none yet."""
        m = getattr(self.claims_module, "METRICS", None)
        return None if m is None else dict(m)

    @property
    def profiles(self) -> dict[str, Profile]:
        """Profile name -> :class:`Profile` (config, seeds, evidence, threads)."""
        return {name: as_profile(v) for name, v in self.experiment.PROFILES.items()}

    def profile(self, name: str) -> Profile:
        profiles = self.profiles
        if name not in profiles:
            raise UnknownProfile(f"unknown profile {name!r} for {self.slug}; known: {', '.join(profiles)}")
        return profiles[name]

    @property
    def prepare(self) -> Any:
        """``experiment.prepare(config, ctx) -> Path`` (work shared by the seeds), or None."""
        return getattr(self.experiment, "prepare", None)

    @property
    def measure(self) -> Any:
        """``experiment.measure(config, ctx) -> list[dict]`` (a once-per-run measurement), or None."""
        return getattr(self.experiment, "measure", None)

    def load_error(self) -> str | None:
        """None if the package, its experiment and its claims import; else the error, in one line."""
        try:
            _ = self.module, self.experiment, self.claims_module, self.claims
        except Exception as e:  # any import-time failure of a paper package
            return f"{type(e).__name__}: {e}"
        return None

    @property
    def readme(self) -> Path:
        return Path(self.module.__file__).with_name("README.md")


def slugs() -> list[str]:
    """Every registered slug, in registry order."""
    return list(PAPERS)


def get(slug: str) -> Paper:
    """The paper registered under ``slug``; unknown slugs raise :class:`UnknownPaper`."""
    if slug not in PAPERS:
        known = ", ".join(PAPERS) or "none (is livepapers installed? pip install -e .)"
        raise UnknownPaper(f"unknown paper {slug!r}; known: {known}")
    return Paper(slug, PAPERS[slug])


def all_papers() -> list[Paper]:
    return [get(s) for s in PAPERS]
