"""The cache of ``prepare`` outputs: work shared by the seeds, reused across reproduces.

A paper's ``experiment.prepare(config, ctx)`` writes into ``ctx.folder`` (the run's ``shared/``). While it
runs, the config it receives records which fields it reads (nested fields by dotted path); the output is then
stored under the cache root with a manifest of those fields and their values, the paper's source hash and the
seed. A later reproduce whose config has the same values for exactly those fields, with unchanged paper code,
copies the stored output instead of running ``prepare`` again. The cache lives in a user cache folder
(``$LIVEPAPERS_CACHE``, else ``$XDG_CACHE_HOME/livepapers``, else ``~/.cache/livepapers``), never in the
source tree; ``--fresh`` ignores it (and replaces the entry).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from livepapers.core.config import to_dict

_TRACKED: dict[type, type] = {}


def cache_root() -> Path:
    """Where prepared outputs are kept (created on first store)."""
    env = os.environ.get("LIVEPAPERS_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "livepapers"


def _tracked_class(cls: type) -> type:
    if cls not in _TRACKED:
        names = frozenset(f.name for f in dataclasses.fields(cls))

        def __getattribute__(self: Any, name: str) -> Any:
            value = object.__getattribute__(self, name)
            if name in names or name == "__dict__":
                state = object.__getattribute__(self, "__dict__").get("_lp_track")
                if state is not None:
                    reads, prefix = state
                    if name == "__dict__":  # vars(cfg): everything is read
                        _read_all(self, prefix, reads)
                    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
                        return _wrap(value, f"{prefix}{name}.", reads)
                    else:
                        reads.add(prefix + name)
            return value

        def _plain(self: Any) -> Any:
            """A plain (untracked) copy; every field counts as read (a copy may be read anywhere)."""
            state = object.__getattribute__(self, "__dict__").get("_lp_track")
            if state is not None:
                _read_all(self, state[1], state[0])
            return dataclasses.replace(_untracked(self))

        def __eq__(self: Any, other: Any) -> bool:
            return _plain(self) == (_plain(other) if type(other) in _TRACKED.values() else other)

        _TRACKED[cls] = type(cls.__name__, (cls,), {
            "__getattribute__": __getattribute__, "__module__": cls.__module__, "__eq__": __eq__,
            "__hash__": cls.__hash__, "__deepcopy__": lambda self, memo: copy.deepcopy(_plain(self), memo),
            "__copy__": lambda self: _plain(self), "__reduce__": lambda self: _plain(self).__reduce__()})
    return _TRACKED[cls]


def _untracked(obj: Any) -> Any:
    """The same field values in an instance of the original (untracked) class."""
    base = type(obj).__mro__[1] if type(obj) in _TRACKED.values() else type(obj)
    plain = object.__new__(base)
    for k, v in object.__getattribute__(obj, "__dict__").items():
        if k != "_lp_track":
            object.__setattr__(plain, k, _untracked(v) if type(v) in _TRACKED.values() else v)
    return plain


def _read_all(obj: Any, prefix: str, reads: set[str]) -> None:
    for f in dataclasses.fields(obj):
        v = object.__getattribute__(obj, f.name)
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            _read_all(v, f"{prefix}{f.name}.", reads)
        else:
            reads.add(prefix + f.name)


def _wrap(config: Any, prefix: str, reads: set[str]) -> Any:
    obj = copy.copy(_untracked(config))
    object.__setattr__(obj, "__class__", _tracked_class(type(config)))
    object.__setattr__(obj, "_lp_track", (reads, prefix))
    return obj


def track_reads(config: Any) -> tuple[Any, set[str]]:
    """A copy of the dataclass ``config`` that records the dotted names of the fields read from it.

    The copy is an instance of a subclass of the config's class (``isinstance`` and ``dataclasses`` work);
    anything that reads every field (``asdict``, ``replace``) records every field, which is safe.
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"track_reads needs a dataclass instance, got {type(config).__name__}")
    reads: set[str] = set()
    return _wrap(config, "", reads), reads


def field_value(config: Any, dotted: str) -> Any:
    obj = config
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return to_dict(obj)


def source_hash(*dirs: Path) -> str:
    """Hash of every file under ``dirs`` (the paper package and the core it calls; caches skipped): changed code
    or data never reuses an old preparation."""
    h = hashlib.sha256()
    for d in dirs:
        d = Path(d)
        for f in sorted(d.rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts and f.suffix not in (".pyc", ".md"):
                h.update(f"{d.name}/{f.relative_to(d).as_posix()}".encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _entries(slug: str) -> list[Path]:
    d = cache_root() / slug
    return sorted(p for p in d.iterdir() if (p / "manifest.json").exists()) if d.is_dir() else []


def lookup(slug: str, config: Any, *, code: str, seed: int, profile: str = "") -> Path | None:
    """The stored output whose recorded fields all equal ``config``'s, for this code, seed and profile; else None."""
    for entry in _entries(slug):
        try:
            man = json.loads((entry / "manifest.json").read_text(encoding="utf-8"))
            if man.get("code") != code or man.get("seed") != seed or man.get("profile", "") != profile:
                continue
            if all(field_value(config, k) == v for k, v in man["fields"].items()):
                return entry / "data"
        except (OSError, ValueError, KeyError, AttributeError):
            continue  # an unreadable or stale entry is a miss
    return None


def store(slug: str, config: Any, reads: set[str], source: Path, *, code: str, seed: int, profile: str = "",
          replace: bool = False) -> Path:
    """Copy the prepared folder ``source`` into the cache under a manifest of the fields read.

    An entry that already exists (another reproduce stored the same preparation) is kept unless ``replace``; a
    replaced entry is first renamed aside, so a reader copying from it never sees it half-deleted.
    """
    fields = {k: field_value(config, k) for k in sorted(reads)}
    key = hashlib.sha256(json.dumps([code, seed, profile, fields], sort_keys=True, default=str).encode()
                         ).hexdigest()[:20]
    root = cache_root() / slug
    root.mkdir(parents=True, exist_ok=True)
    final = root / key
    if final.exists() and not replace:
        return final
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    try:
        shutil.copytree(source, tmp / "data")
        (tmp / "manifest.json").write_text(json.dumps({"code": code, "seed": seed, "profile": profile,
                                                       "fields": fields}, indent=2, default=str), encoding="utf-8")
        if final.exists():
            old = Path(tempfile.mkdtemp(dir=root, prefix=".old-"))
            os.replace(final, old / "entry")
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:  # another reproduce stored it in the meantime: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


__all__ = ["cache_root", "lookup", "source_hash", "store", "track_reads"]
