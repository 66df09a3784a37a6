"""One reproduce: profile config -> ``run()`` per seed -> metrics -> claims -> verdicts -> report.

The data flows one way; nothing here knows any paper.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livepapers.core import registry, sweep
from livepapers.core.claims import Verdict, aggregate_metrics, count_statuses, evaluate
from livepapers.core.config import apply_overrides, to_dict
from livepapers.core.runs import (
    Diverged,
    RunContext,
    atomic_write_json,
    create_run_folder,
    env_info,
    seed_everything,
    write_status,
)


@dataclass(frozen=True)
class SeedTask:
    slug: str
    config: Any
    seed: int
    folder: str
    profile: str
    position: int
    verbose: bool


def run_seed(task: SeedTask) -> dict[str, Any]:
    """Run one seed in this process (a pool or Ray worker): ``{"status", "metrics", "message", "seconds"}``."""
    paper = registry.get(task.slug)
    seed_everything(task.seed)
    ctx = RunContext(task.folder, seed=task.seed, config=task.config, profile=task.profile,
                     slug=task.slug, verbose=task.verbose, position=task.position)
    t0 = time.perf_counter()
    status, message, metrics = "complete", "", {}
    try:
        out = paper.experiment.run(task.config, ctx)
        if not isinstance(out, dict):
            raise TypeError(f"{task.slug}.experiment.run must return dict[str, float], got {type(out).__name__}")
        metrics = {str(k): float(v) for k, v in out.items()}
    except Diverged as e:
        status, message = "diverged", str(e)
        ctx.log(f"DIVERGED: {e}")
    except Exception as e:  # keep the folder and the traceback; the caller decides what to raise
        status, message = "failed", f"{type(e).__name__}: {e}"
        ctx.log("FAILED:\n" + traceback.format_exc())
    seconds = time.perf_counter() - t0
    ctx.save_json("metrics.json", metrics)
    return {"seed": task.seed, "status": status, "message": message, "metrics": metrics, "seconds": seconds}


def demote_to_inconclusive(v: Verdict, profile: str) -> Verdict:
    """A profile too small to be evidence (``config.evidence = False``): keep the measurement, judge nothing."""
    if v.status in ("holds", "fails"):
        why = f"profile {profile!r} is too small to count as evidence (would be: {v.status})"
        return dataclasses.replace(v, status="inconclusive", reason="; ".join(r for r in (why, v.reason) if r))
    return v


class RunFailed(RuntimeError):
    def __init__(self, folder: Path, message: str) -> None:
        super().__init__(f"{message} (run folder kept: {folder})")
        self.folder = folder


def resolve_config(slug: str, profile: str, overrides: list[str] | None = None) -> Any:
    """The profile's config with ``--set`` overrides applied (raises on unknown keys / bad values)."""
    paper = registry.get(slug)
    return apply_overrides(paper.profile(profile), overrides or [])


def reproduce(slug: str, *, profile: str = "default", seeds: int | None = None, seed: int = 0,
              overrides: list[str] | None = None, out: str | Path = "runs", backend: str = "local",
              address: str | None = None, workers: int | None = None, verbose: bool = True) -> Path:
    """Run ``slug``'s profile over ``seeds`` paired seeds (``seed, seed+1, ...``) and write a run folder.

    Returns the run folder. Diverged seeds leave the run ``diverged`` (claims inconclusive); a seed
    that raises leaves it ``failed`` and raises :class:`RunFailed` after the report is written.
    """
    from livepapers.core.report import write_run_report

    paper = registry.get(slug)
    config = resolve_config(slug, profile, overrides)
    n = int(seeds) if seeds is not None else paper.n_seeds(config)
    if n < 1:
        raise ValueError(f"--seeds must be >= 1, got {n}")
    folder = create_run_folder(out, slug, profile, seed, n)
    write_status(folder, "running", slug=slug, profile=profile)
    atomic_write_json(folder / "config.json", {"slug": slug, "profile": profile, "seeds": list(range(seed, seed + n)),
                                               "overrides": list(overrides or []), "config": to_dict(config)})
    atomic_write_json(folder / "env.json", {**env_info(seed), "n_seeds": n, "backend": backend})
    tasks = [SeedTask(slug, config, s, str(folder / f"seed-{s}"), profile, k + 1, verbose)  # bar 0: the sweep
             for k, s in enumerate(range(seed, seed + n))]
    t0 = time.perf_counter()
    try:
        results = sweep.map(run_seed, tasks, backend=backend, address=address, workers=workers,
                            desc=f"{slug} seeds")
    except BaseException as e:
        write_status(folder, "failed", slug=slug, profile=profile, message=f"{type(e).__name__}: {e}")
        raise
    wall = time.perf_counter() - t0
    _collect(folder, results)
    per_seed = [r["metrics"] for r in results]
    verdicts = evaluate(paper.claims, per_seed)
    if not getattr(config, "evidence", True):
        verdicts = [demote_to_inconclusive(v, profile) for v in verdicts]
    atomic_write_json(folder / "metrics.json", {"seeds": [r["seed"] for r in results],
                                                "per_seed": per_seed, "summary": aggregate_metrics(per_seed),
                                                "seconds": {"wall": wall, "per_seed": [r["seconds"] for r in results]}})
    atomic_write_json(folder / "claims.json", {"verdicts": [v.to_dict() for v in verdicts],
                                               "counts": count_statuses(verdicts)})
    statuses = [r["status"] for r in results]
    final = "failed" if "failed" in statuses else "diverged" if "diverged" in statuses else "complete"
    messages = [f"seed {r['seed']}: {r['message']}" for r in results if r["message"]]
    write_status(folder, final, slug=slug, profile=profile, seconds=wall, messages=messages)
    write_run_report(folder)
    if final == "failed":
        raise RunFailed(folder, "; ".join(messages))
    return folder


def _collect(folder: Path, results: list[dict]) -> None:
    """Top-level log.txt from the seeds' logs; the first seed's figures beside the report."""
    lines = []
    for r in results:
        log = folder / f"seed-{r['seed']}" / "log.txt"
        if log.exists():
            lines.append(log.read_text(encoding="utf-8"))
    (folder / "log.txt").write_text("".join(lines), encoding="utf-8")
    first = folder / f"seed-{results[0]['seed']}"
    for png in sorted(first.glob("*.png")):
        shutil.copy2(png, folder / png.name)
    if (first / "figures.json").exists():
        shutil.copy2(first / "figures.json", folder / "figures.json")
