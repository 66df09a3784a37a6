"""The paper contract as generated checks, run for every registered paper (``tests/test_contract.py``).

Like timm's one parametrised test over every registered model, or scikit-learn's ``parametrize_with_checks``:
a paper's own tests keep only its exact values and invariants; what every paper must satisfy lives here once.

>>> from livepapers.testing import check_paper
>>> for name, check in check_paper("mega"):
...     check()          # raises AssertionError with the reason
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from livepapers.core import registry
from livepapers.core.cache import source_hash
from livepapers.core.config import apply_overrides, to_dict
from livepapers.core.runs import as_float

REQUIRED_PROFILES = ("smoke", "default", "paper")
README_SECTIONS = ("Usage", "Parameters", "Claims tested", "Results", "Deviations", "Not checkable offline", "BibTeX")
SMOKE_SECONDS = 20.0

_SMOKE: dict[str, dict[str, Any]] = {}


def _fields(config: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            yield from _fields(v, f"{prefix}{f.name}.")
        else:
            yield prefix + f.name, v


def _as_cli(v: Any) -> str:
    if isinstance(v, tuple):
        return ",".join(_as_cli(x) for x in v)
    if v is None:
        return "none"
    return repr(v) if isinstance(v, float) else str(v)


def smoke_runs(slug: str) -> dict[str, Any]:
    """The smoke profile run twice with the same seed (cached per process): metrics, measured repeats, seconds."""
    package = registry.PAPERS.get(slug, "")
    code = source_hash(Path(registry.get(slug).module.__file__).parent)
    key = f"{slug}:{package}:{code}"  # an edited and reloaded paper is run again
    if key not in _SMOKE:
        import time

        from livepapers.core.reproduce import reproduce

        out = []
        with tempfile.TemporaryDirectory(prefix=f"contract-{slug}-") as tmp:
            for k in range(2):
                t0 = time.perf_counter()
                # the second run prepares afresh, so a prepare() that differs run to run is caught too
                folder = reproduce(slug, profile="smoke", out=Path(tmp) / str(k), workers=1, verbose=False,
                                   fresh=k == 1)
                seconds = time.perf_counter() - t0
                m = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
                m = _floats(m)  # NaN/inf are stored as strings in JSON
                status = json.loads((folder / "status.json").read_text(encoding="utf-8"))["status"]
                out.append({"per_seed": m["per_seed"], "measured": (m.get("measured") or {}).get("repeats", []),
                            "seconds": seconds, "status": status})
        _SMOKE[key] = {"first": out[0], "second": out[1]}
    return _SMOKE[key]


def _floats(m: dict[str, Any]) -> dict[str, Any]:
    out = dict(m)
    out["per_seed"] = [{k: as_float(v) for k, v in d.items()} for d in m.get("per_seed", [])]
    if isinstance(m.get("measured"), dict):
        out["measured"] = {**m["measured"], "repeats": [{k: as_float(v) for k, v in d.items()}
                                                        for d in m["measured"].get("repeats", [])]}
    return out


def _produced(run: dict[str, Any]) -> set[str]:
    return {k for d in (*run["per_seed"], *run["measured"]) for k in d}


def check_paper(slug: str) -> Iterator[tuple[str, Callable[[], None]]]:
    """``(name, check)`` pairs: the contract of one registered paper, each check raising on a break."""
    paper = registry.get(slug)

    def profiles() -> None:
        missing = [p for p in REQUIRED_PROFILES if p not in paper.profiles]
        assert not missing, f"{slug}: profiles {missing} missing (need {', '.join(REQUIRED_PROFILES)})"
        default = paper.profile("default").config
        assert default == type(default)(), f"{slug}: PROFILES['default'].config must equal Config()"
        for name, prof in paper.profiles.items():
            assert type(prof.config) is type(default), f"{slug}: profile {name!r} is not a {type(default).__name__}"

    def settable() -> None:
        cfg = paper.profile("default").config
        for key, value in _fields(cfg):
            got = apply_overrides(cfg, [f"{key}={_as_cli(value)}"])
            assert to_dict(got) == to_dict(cfg), f"{slug}: --set {key}={_as_cli(value)} does not round-trip"

    def claims_unique() -> None:
        ids = [c.id for c in paper.claims]
        assert len(ids) == len(set(ids)), f"{slug}: duplicate claim ids {ids}"
        assert ids, f"{slug}: no claims"

    def metrics_declared() -> None:
        assert paper.metrics is not None, f"{slug}: claims.py declares no METRICS"
        try:
            _ = paper.claims  # raises when a claim or precondition reads an undeclared metric
        except ImportError as e:
            raise AssertionError(str(e)) from None

    def smoke_produces_claim_metrics() -> None:
        run = smoke_runs(slug)["first"]
        assert run["status"] == "complete", f"{slug}: smoke run ended {run['status']}"
        produced = _produced(run)
        elsewhere = {k for k, m in (paper.metrics or {}).items() if not m.produced_in("smoke")}
        for c in paper.claims:
            missing = sorted(set(c.all_metrics) - produced - elsewhere)
            assert not missing, f"{slug}: {c.id} reads {missing}, which the smoke run does not return"
        for d in (*run["per_seed"], *run["measured"]):
            bad = sorted(k for k, v in d.items() if not math.isfinite(v))
            needed = {n for c in paper.claims for n in c.all_metrics}
            assert not (set(bad) & needed), f"{slug}: claim metrics not finite in smoke: {sorted(set(bad) & needed)}"

    def declared_equals_produced() -> None:
        assert paper.metrics is not None, f"{slug}: claims.py declares no METRICS"
        produced = _produced(smoke_runs(slug)["first"])
        undeclared = sorted(produced - set(paper.metrics))
        assert not undeclared, f"{slug}: run() returns undeclared metrics: {undeclared[:20]}"
        expected = {k for k, m in paper.metrics.items() if m.produced_in("smoke")}
        missing = sorted(expected - produced)
        assert not missing, f"{slug}: declared metrics the smoke run does not return: {missing[:20]}"

    def same_seed_same_metrics() -> None:
        runs = smoke_runs(slug)
        machine = {k for k, m in (paper.metrics or {}).items() if m.machine}
        for a, b in zip(runs["first"]["per_seed"], runs["second"]["per_seed"]):
            diff = sorted(k for k in set(a) | set(b) if k not in machine
                          and not (a.get(k) == b.get(k) or (_nan(a.get(k)) and _nan(b.get(k)))))
            assert not diff, f"{slug}: same seed, different metrics: {diff[:10]} (declare machine=True for timings)"

    def smoke_is_fast() -> None:
        secs = smoke_runs(slug)["second"]["seconds"]  # imports warm, prepare run afresh
        # the budget is 20 s on an idle core; the suite runs two workers at once, so allow twice that here
        assert secs <= 2 * SMOKE_SECONDS, f"{slug}: smoke took {secs:.0f} s (budget {SMOKE_SECONDS:.0f} s, idle)"

    def readme() -> None:
        text = paper.readme.read_text(encoding="utf-8")
        heads = re.findall(r"^## (.+?)\s*$", text, flags=re.M)
        missing = [s for s in README_SECTIONS if not any(h.startswith(s) for h in heads)]
        assert not missing, f"{slug}: README lacks sections {missing}"
        start, end = text.find("<!-- results:start -->"), text.find("<!-- results:end -->")
        assert 0 <= start < end, f"{slug}: README needs <!-- results:start --> … <!-- results:end -->"

    def readme_usage_runs() -> None:
        text = paper.readme.read_text(encoding="utf-8")
        block = re.search(r"## Usage\s*\n.*?```python\n(.*?)```", text, re.S)
        assert block is not None, f"{slug}: README has no ```python block under ## Usage"
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(block.group(1), str(paper.readme), "exec"), {"__name__": f"readme_{slug}"})

    for fn in (profiles, settable, claims_unique, metrics_declared, smoke_produces_claim_metrics,
               declared_equals_produced, same_seed_same_metrics, smoke_is_fast, readme, readme_usage_runs):
        yield fn.__name__, fn


def _nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


CHECKS = ("profiles", "settable", "claims_unique", "metrics_declared", "smoke_produces_claim_metrics",
          "declared_equals_produced", "same_seed_same_metrics", "smoke_is_fast", "readme", "readme_usage_runs")

__all__ = ["CHECKS", "check_paper", "smoke_runs"]
