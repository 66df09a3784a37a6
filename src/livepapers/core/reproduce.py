"""One reproduce: profile -> prepare (once) -> measure (once) -> ``run()`` per seed -> claims -> report.

The data flows one way; nothing here knows any paper.

* ``experiment.prepare(config, ctx) -> Path`` (optional): work every seed would repeat (a teacher, a data
  set). It runs once, before the seeds, with both cores, writing into ``<run>/shared/``; each seed reads it
  as ``ctx.shared``. Its output is cached across reproduces (:mod:`livepapers.core.cache`).
* ``experiment.measure(config, ctx) -> list[dict[str, float]]`` (optional): a measurement that is not
  per-seed (timings, FLOPs), run once on an otherwise idle machine, one dict per repeat; claims that read
  only its metrics are judged over the repeats.
* The seeds run as single-thread processes, ``workers`` at a time; a profile of one seed runs in this process
  with one torch thread per worker.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from livepapers.core import cache, dist, registry, sweep
from livepapers.core.claims import Verdict, aggregate_metrics, count_statuses, evaluate
from livepapers.core.config import Profile, apply_overrides, to_dict
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
class SeedPlan:
    """How the seeds of a reproduce are laid on the cores."""

    n_seeds: int
    workers: int
    threads: int

    @property
    def rounds(self) -> int:
        return math.ceil(self.n_seeds / self.workers)

    def describe(self) -> str:
        if self.workers == 1:
            return (f"{self.n_seeds} seed{'s' if self.n_seeds > 1 else ''} in this process, "
                    f"{self.threads} torch thread{'s' if self.threads > 1 else ''}")
        return f"{self.n_seeds} seeds on {self.workers} workers, {self.rounds} round{'s' if self.rounds > 1 else ''}"


def seed_plan(n_seeds: int, workers: int | None = None, threads: int | None = None) -> SeedPlan:
    """``n_seeds`` over ``workers`` processes (default: one per core); one seed gets every core as threads."""
    if n_seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {n_seeds}")
    cores = workers or sweep.default_workers()
    if cores < 1:
        raise ValueError(f"--workers must be >= 1, got {cores}")
    w = min(cores, n_seeds)
    t = threads if threads is not None else (cores if w == 1 else 1)
    return SeedPlan(n_seeds, w, t)


@dataclass(frozen=True)
class SeedTask:
    slug: str
    config: Any
    seed: int
    folder: str
    profile: str
    position: int
    verbose: bool
    shared: str | None = None
    threads: int = 1


def run_seed(task: SeedTask) -> dict[str, Any]:
    """Run one seed in this process (a pool or Ray worker): ``{"status", "metrics", "message", "seconds"}``."""
    paper = registry.get(task.slug)
    seed_everything(task.seed, threads=task.threads)
    ctx = RunContext(task.folder, seed=task.seed, config=task.config, profile=task.profile,
                     slug=task.slug, verbose=task.verbose, position=task.position, shared=task.shared)
    t0 = time.perf_counter()
    status, message, metrics = "complete", "", {}
    try:
        with threadpool_limits(limits=task.threads):  # BLAS/OpenMP threads follow torch's
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
    """A profile too small to be evidence (``Profile.evidence = False``): keep the measurement, judge nothing."""
    if v.status in ("holds", "fails"):
        why = f"profile {profile!r} is too small to count as evidence (would be: {v.status})"
        return dataclasses.replace(v, status="inconclusive", reason="; ".join(r for r in (why, v.reason) if r))
    return v


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a reproduce: the folder is kept, marked ``interrupted``, with the seeds that finished."""

    def __init__(self, folder: Path, finished: list[int]) -> None:
        super().__init__(f"interrupted; run folder kept: {folder}; seeds that finished: {finished or 'none'}")
        self.folder, self.finished = folder, finished


def finished_seeds(folder: Path) -> list[int]:
    """Seeds of a run folder whose ``run()`` returned (their ``seed-<s>/metrics.json`` is written last)."""
    return sorted(int(p.parent.name.split("-", 1)[1]) for p in Path(folder).glob("seed-*/metrics.json"))


class RunFailed(RuntimeError):
    def __init__(self, folder: Path, message: str) -> None:
        super().__init__(f"{message} (run folder kept: {folder})")
        self.folder = folder


def resolve_profile(slug: str, profile: str, overrides: list[str] | None = None) -> Profile:
    """The profile with ``--set`` overrides applied to its config (raises on unknown keys / bad values)."""
    prof = registry.get(slug).profile(profile)
    return prof.with_config(apply_overrides(prof.config, overrides or []))


def resolve_config(slug: str, profile: str, overrides: list[str] | None = None) -> Any:
    """The profile's config with ``--set`` overrides applied (raises on unknown keys / bad values)."""
    return resolve_profile(slug, profile, overrides).config


def _log(verbose: bool, msg: str) -> None:
    if verbose:
        print(msg, file=sys.stderr, flush=True)


def _prepare(paper: registry.Paper, config: Any, folder: Path, *, seed: int, profile: str, threads: int,
             fresh: bool, verbose: bool) -> dict[str, Any]:
    """Run or reuse ``prepare`` into ``folder/shared``; returns what happened, for env.json."""
    shared = folder / "shared"
    code = cache.source_hash(Path(paper.module.__file__).parent, Path(cache.__file__).parent)
    hit = None if fresh else cache.lookup(paper.slug, config, code=code, seed=seed, profile=profile)
    # under torchrun rank 0 decides, so that every rank takes part in a prepare that trains data-parallel
    if not dist.broadcast_object(hit is not None):
        hit = None
    elif hit is None:
        raise RuntimeError(f"rank {dist.rank()}: rank 0 found prepare's output in its cache but this rank does not; "
                           "share LIVEPAPERS_CACHE between the nodes or pass --fresh")
    t0 = time.perf_counter()
    if hit is not None:
        shutil.copytree(hit, shared)
        _log(verbose, f"{paper.slug}: prepare reused from the cache ({hit.parent})")
        return {"cache": "hit", "entry": str(hit.parent), "seconds": time.perf_counter() - t0}
    _log(verbose, f"{paper.slug}: prepare (once, shared by the seeds){' --fresh' if fresh else ''}")
    seed_everything(seed, threads=threads)
    tracked, reads = cache.track_reads(config)
    ctx = RunContext(shared, seed=seed, config=tracked, profile=profile, slug=paper.slug, verbose=verbose,
                     shared=shared)  # ctx.config is the tracked one too: reads through it count
    with threadpool_limits(limits=threads):
        paper.prepare(tracked, ctx)
    if not dist.is_main():
        return {"cache": "miss", "seconds": time.perf_counter() - t0}
    entry = cache.store(paper.slug, config, reads, shared, code=code, seed=seed, profile=profile, replace=fresh)
    return {"cache": "fresh" if fresh else "miss", "entry": str(entry), "fields": sorted(reads),
            "seconds": time.perf_counter() - t0}


def _measure(paper: registry.Paper, config: Any, folder: Path, *, seed: int, profile: str, shared: Path | None,
             verbose: bool) -> list[dict[str, float]]:
    repeats = None
    if dist.is_main():  # under torchrun only rank 0 times, so the timings are not taken under the other ranks' load
        _log(verbose, f"{paper.slug}: measure (once per run, one thread)")
        seed_everything(seed, threads=1)
        ctx = RunContext(folder / "measure", seed=seed, config=config, profile=profile, slug=paper.slug,
                         verbose=verbose, shared=shared)
        with threadpool_limits(limits=1):
            out = paper.measure(config, ctx)
        if not isinstance(out, list) or not out or not all(isinstance(r, dict) for r in out):
            raise TypeError(f"{paper.slug}.experiment.measure must return a non-empty list of dicts (one per repeat)")
        repeats = [{str(k): float(v) for k, v in r.items()} for r in out]
        ctx.save_json("metrics.json", repeats)
    return dist.broadcast_object(repeats)


def reproduce(slug: str, *, profile: str = "default", seeds: int | None = None, seed: int = 0,
              overrides: list[str] | None = None, out: str | Path = "runs", backend: str = "local",
              address: str | None = None, workers: int | None = None, verbose: bool = True,
              fresh: bool = False) -> Path:
    """Run ``slug``'s profile over ``seeds`` paired seeds (``seed, seed+1, ...``) and write a run folder.

    Returns the run folder. Diverged seeds leave the run ``diverged`` (claims inconclusive); a seed
    that raises leaves it ``failed`` and raises :class:`RunFailed` after the report is written.
    ``fresh=True`` runs ``prepare`` even when the cache has its output. Under torchrun (``--nproc``) every
    rank runs every seed; only rank 0 writes ``out``, the others a temporary folder removed afterwards.
    """
    rank = dist.init_from_env()  # rank 0 of 1 unless launched by torchrun (--nproc)
    if rank.world_size > 1 and not rank.is_main:
        tmp = tempfile.mkdtemp(prefix=f"livepapers-rank{rank.rank}-")
        try:
            return _reproduce(slug, profile=profile, seeds=seeds, seed=seed, overrides=overrides, out=tmp,
                              backend=backend, address=address, workers=workers, verbose=False, fresh=fresh)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return _reproduce(slug, profile=profile, seeds=seeds, seed=seed, overrides=overrides, out=out, backend=backend,
                      address=address, workers=workers, verbose=verbose, fresh=fresh)


def _reproduce(slug: str, *, profile: str, seeds: int | None, seed: int, overrides: list[str] | None,
               out: str | Path, backend: str, address: str | None, workers: int | None, verbose: bool,
               fresh: bool) -> Path:
    from livepapers.core.report import write_run_report

    paper = registry.get(slug)
    prof = resolve_profile(slug, profile, overrides)
    config = prof.config
    n = int(seeds) if seeds is not None else prof.n_seeds
    if dist.world_size() > 1:  # every rank trains every seed together: seeds run one after another
        if backend != "local":
            raise ValueError("--nproc runs the seeds inside the torchrun ranks; it does not combine with --backend ray")
        workers = 1
    plan = seed_plan(n, workers, prof.threads)
    folder = create_run_folder(out, slug, profile, seed, n)
    write_status(folder, "running", slug=slug, profile=profile)
    atomic_write_json(folder / "config.json", {"slug": slug, "profile": profile, "seeds": list(range(seed, seed + n)),
                                               "overrides": list(overrides or []), "config": to_dict(config),
                                               "evidence": prof.evidence, "profile_n_seeds": prof.n_seeds})
    env = {**env_info(seed), "n_seeds": n, "backend": backend, "plan": plan.describe(),
           "workers": plan.workers, "threads_per_seed": plan.threads}
    atomic_write_json(folder / "env.json", env)
    t0 = time.perf_counter()
    measured: list[dict[str, float]] = []
    shared: Path | None = None
    try:
        if paper.prepare is not None:
            env["prepare"] = _prepare(paper, config, folder, seed=seed, profile=profile,
                                      threads=workers or sweep.default_workers(), fresh=fresh, verbose=verbose)
            shared = folder / "shared"
            atomic_write_json(folder / "env.json", env)
        if paper.measure is not None:
            measured = _measure(paper, config, folder, seed=seed, profile=profile, shared=shared, verbose=verbose)
        tasks = [SeedTask(slug, config, s, str(folder / f"seed-{s}"), profile, k + 1, verbose,  # bar 0: the sweep
                          None if shared is None else str(shared), plan.threads)
                 for k, s in enumerate(range(seed, seed + n))]
        if plan.workers == 1 and backend == "local":
            results = [run_seed(t) for t in tasks]
        else:
            results = sweep.map(run_seed, tasks, backend=backend, address=address, workers=plan.workers,
                                desc=f"{slug} seeds")
    except KeyboardInterrupt:
        done = finished_seeds(folder)
        write_status(folder, "interrupted", slug=slug, profile=profile, finished_seeds=done,
                     messages=[f"interrupted; seeds that finished: {done or 'none'}"])
        raise Interrupted(folder, done) from None
    except BaseException as e:
        write_status(folder, "failed", slug=slug, profile=profile, message=f"{type(e).__name__}: {e}")
        if isinstance(e, Exception):
            (folder / "log.txt").write_text("FAILED before the seeds finished:\n" + traceback.format_exc(),
                                            encoding="utf-8")
        raise
    wall = time.perf_counter() - t0
    _collect(folder, results)
    per_seed = [r["metrics"] for r in results]
    verdicts = evaluate(paper.claims, per_seed, measured)
    if not prof.evidence:
        verdicts = [demote_to_inconclusive(v, profile) for v in verdicts]
    metrics = {"seeds": [r["seed"] for r in results], "per_seed": per_seed, "summary": aggregate_metrics(per_seed),
               "seconds": {"wall": wall, "per_seed": [r["seconds"] for r in results]}}
    if measured:
        metrics["measured"] = {"repeats": measured, "summary": aggregate_metrics(measured)}
    atomic_write_json(folder / "metrics.json", metrics)
    atomic_write_json(folder / "claims.json", {"verdicts": [v.to_dict() for v in verdicts],
                                               "counts": count_statuses(verdicts)})
    statuses = [r["status"] for r in results]
    final = "failed" if "failed" in statuses else "diverged" if "diverged" in statuses else "complete"
    messages = [f"seed {r['seed']}: {r['message']}" for r in results if r["message"]]
    if final == "complete" and not any(per_seed) and not measured:
        final = "failed"  # a run that measured nothing is not a result (e.g. every part switched off by --set)
        messages.append("the run returned no metrics")
    write_status(folder, final, slug=slug, profile=profile, seconds=wall, messages=messages)
    if dist.is_main():
        write_run_report(folder)
    if final == "failed":
        raise RunFailed(folder, "; ".join(messages))
    return folder


def _collect(folder: Path, results: list[dict]) -> None:
    """Top-level log.txt from the seeds' logs; the first seed's figures beside the report."""
    lines = []
    for sub in ["shared", "measure"] + [f"seed-{r['seed']}" for r in results]:
        log = folder / sub / "log.txt"
        if log.exists():
            lines.append(log.read_text(encoding="utf-8"))
    (folder / "log.txt").write_text("".join(lines), encoding="utf-8")
    figures = []
    for sub in ["shared", "measure", f"seed-{results[0]['seed']}"]:
        src = folder / sub
        idx = src / "figures.json"
        if not idx.exists():
            continue
        for f in json.loads(idx.read_text(encoding="utf-8")):
            if (src / f["file"]).exists():
                shutil.copy2(src / f["file"], folder / f["file"])
                figures.append(f)
    if figures:
        atomic_write_json(folder / "figures.json", figures)
