"""The one list of papers: slug -> package, imported lazily on lookup.

A paper package ``livepapers.<pkg>`` holds ``PAPER`` (:class:`PaperInfo`) in its ``__init__``,
``experiment.py`` (``Config``, ``PROFILES``, ``run``) and ``claims.py`` (``CLAIMS``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

from livepapers.core.config import Profile, as_profile

PAPERS: dict[str, str] = {
    "neural-mechanics": "livepapers.neural_mechanics",
    "nnphd": "livepapers.nnphd",
    "dynamicvit": "livepapers.dynamicvit",
    "mega": "livepapers.mega",
    "diff-algorithms": "livepapers.diff_algorithms",
    "potential-outcomes": "livepapers.potential_outcomes",
}


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
    seed: str = ""
    summary: str = ""
    tags: tuple[str, ...] = ()

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

    @property
    def claims(self) -> tuple:
        return tuple(self.claims_module.CLAIMS)

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
            _ = self.module, self.experiment, self.claims_module
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
        raise UnknownPaper(f"unknown paper {slug!r}; known: {', '.join(PAPERS)}")
    return Paper(slug, PAPERS[slug])


def all_papers() -> list[Paper]:
    return [get(s) for s in PAPERS]
