"""Frozen-dataclass configs: dotted ``key=value`` overrides with type casting, and JSON round trips."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable
from typing import Any


class ConfigError(ValueError):
    """A bad ``--set`` override: unknown key or a value that does not cast."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def cast_value(raw: str, tp: Any, key: str) -> Any:
    """Cast the string ``raw`` to the annotated type ``tp`` (int, float, bool, str, tuples, optionals)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and raw.strip().lower() in ("none", "null"):
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return cast_value(raw, a, key)
            except ConfigError:
                continue
        raise ConfigError(f"--set {key}={raw}: expected {_type_name(tp)}")
    if origin is tuple:
        args = typing.get_args(tp)
        items = [s for s in (x.strip() for x in raw.strip("()[] ").split(",")) if s]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(cast_value(s, args[0], key) for s in items)
        if len(items) != len(args):
            raise ConfigError(f"--set {key}={raw}: expected {len(args)} comma-separated values")
        return tuple(cast_value(s, a, key) for s, a in zip(items, args))
    if tp is bool:
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ConfigError(f"--set {key}={raw}: expected bool (true/false)")
    if tp is int:
        try:
            return int(raw)
        except ValueError:
            pass
        try:
            f = float(raw)  # accept "1e3" for an int field when it is a whole number
        except ValueError:
            f = float("nan")
        if f == f and abs(f) != float("inf") and f.is_integer():
            return int(f)
        raise ConfigError(f"--set {key}={raw}: expected int")
    if tp is float:
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"--set {key}={raw}: expected float") from None
    if tp is str:
        return raw
    if typing.get_origin(tp) is typing.Literal:
        allowed = typing.get_args(tp)
        for a in allowed:
            if str(a) == raw:
                return a
        raise ConfigError(f"--set {key}={raw}: expected one of {', '.join(map(str, allowed))}")
    raise ConfigError(f"--set {key}: fields of type {_type_name(tp)} cannot be set from the command line")


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # unresolved forward references: fall back to the raw annotations
        return {f.name: f.type for f in dataclasses.fields(cls)}


def apply_overrides(config: Any, overrides: Iterable[str]) -> Any:
    """Return a copy of the frozen dataclass ``config`` with dotted ``key=value`` overrides applied.

    >>> apply_overrides(cfg, ["lr=0.1", "model.dim=64"])
    """
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        config = _set(config, key.split("."), raw, key)
    return config


def _set(obj: Any, path: list[str], raw: str, key: str) -> Any:
    if not dataclasses.is_dataclass(obj):
        raise ConfigError(f"--set {key}: {type(obj).__name__} has no fields")
    names = [f.name for f in dataclasses.fields(obj)]
    head = path[0]
    if head not in names:
        raise ConfigError(f"--set {key}: unknown key {head!r}; known: {', '.join(names)}")
    if len(path) == 1:
        value = cast_value(raw, _hints(type(obj))[head], key)
        return _replace(obj, head, value, key, raw)
    return _replace(obj, head, _set(getattr(obj, head), path[1:], raw, key), key, raw)


def _replace(obj: Any, name: str, value: Any, key: str, raw: str) -> Any:
    """``dataclasses.replace`` that turns a Config's own validation error into a one-line ConfigError."""
    try:
        return dataclasses.replace(obj, **{name: value})
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        raise ConfigError(f"--set {key}={raw}: {e}") from None


def to_dict(config: Any) -> Any:
    """A JSON-ready view of a (nested) dataclass config."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    if isinstance(config, dict):
        return {str(k): to_dict(v) for k, v in config.items()}
    return config


@dataclasses.dataclass(frozen=True)
class Profile:
    """A named scale of a paper's experiment: its ``Config`` plus what the framework needs to run it.

    Attributes:
        config: the paper's frozen-dataclass ``Config`` (the paper's knobs only).
        n_seeds: paired seeds ``reproduce`` runs by default (4 = two full rounds on 2 workers).
        evidence: False for profiles too small to count as evidence (a smoke run): every holds/fails is
            reported as inconclusive, with the measurement kept.
        threads: torch threads per seed process; ``None`` = one per worker when the profile runs one seed
            (both cores in one process), else 1.
        needs: what this profile needs that an offline CPU machine does not have ("ImageNet and a GPU");
            non-empty -> ``reproduce`` refuses it up front with this reason (exit 2, no run folder).
    """

    config: Any
    n_seeds: int = 4
    evidence: bool = True
    threads: int | None = None
    needs: str = ""

    def __post_init__(self) -> None:
        if not dataclasses.is_dataclass(self.config) or isinstance(self.config, type):
            raise TypeError(f"Profile needs a dataclass config instance, got {type(self.config).__name__}")
        if self.n_seeds < 1:
            raise ValueError(f"Profile n_seeds must be >= 1, got {self.n_seeds}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"Profile threads must be >= 1, got {self.threads}")

    def with_config(self, config: Any) -> Profile:
        return dataclasses.replace(self, config=config)


def as_profile(value: Any) -> Profile:
    """A ``PROFILES`` value as a :class:`Profile` (a bare ``Config`` gets the framework defaults)."""
    return value if isinstance(value, Profile) else Profile(value)
