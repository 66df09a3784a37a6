"""``livepapers list | show | reproduce | report | bench``.

Bad input gets one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from livepapers.core import registry
from livepapers.core.config import ConfigError, to_dict

EXIT_USAGE = 2


class UsageError(Exception):
    """A user mistake: printed as one line, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="livepapers", description="ML papers as modules plus claim-by-claim "
                                 "reproductions.")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="{list,show,reproduce,report,bench}")

    p = sub.add_parser("list", help="papers with their latest verdict counts")
    p.add_argument("--runs", default="runs", help="runs folder (default: runs)")

    p = sub.add_parser("show", help="a paper's reference, profiles and claims")
    p.add_argument("slug")

    p = sub.add_parser("reproduce", help="re-run a paper's claims and write a run folder")
    p.add_argument("slugs", nargs="*", metavar="slug")
    p.add_argument("--all", action="store_true", help="every registered paper")
    p.add_argument("--profile", default="default", help="smoke | default | extended | paper (default: default)")
    p.add_argument("--seeds", type=int, default=None, help="number of paired seeds (default: the profile's)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (dotted path), repeatable")
    p.add_argument("--out", default="runs", help="runs folder (default: runs)")
    p.add_argument("--site", default="site", help="where to rebuild the digest site (default: site)")
    p.add_argument("--no-site", action="store_true", help="do not rebuild the site afterwards")
    p.add_argument("--backend", default="local", choices=["local", "ray"], help="seed parallelism")
    p.add_argument("--address", default=None, help="Ray cluster address (with --backend ray)")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per core)")
    p.add_argument("--fresh", action="store_true", help="run the paper's prepare step even if the cache has it")
    p.add_argument("--nproc", type=int, default=None, metavar="N",
                   help="train each seed data-parallel on N processes per node (torch.distributed.run)")
    p.add_argument("--nnodes", type=int, default=1, metavar="M", help="nodes, with --nproc (default 1)")
    p.add_argument("--rdzv-endpoint", default=None, metavar="HOST:PORT", help="rendezvous, with --nnodes > 1")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("report", help="rebuild the live digest (site/index.html) from the run folders")
    p.add_argument("--runs", default="runs", help="the run folders (default: runs)")
    p.add_argument("--out", "--site", dest="out", default="site", help="the site folder (default: site)")
    p.add_argument("--benchmarks", default=None, metavar="DIR",
                   help="benchmark results <pkg>.json (default: benchmarks/results of the source checkout)")
    p.add_argument("--readme", action="store_true",
                   help="also fill each paper README's results block from its latest default run")

    p = sub.add_parser("bench", help="run benchmarks/bench_<slug>.py (writes benchmarks/results/)")
    p.add_argument("slugs", nargs="*", metavar="slug")
    return ap


def _paper(slug: str) -> registry.Paper:
    try:
        return registry.get(slug)
    except registry.UnknownPaper as e:
        raise UsageError(str(e)) from None


def _cmd_list(args: argparse.Namespace) -> int:
    from livepapers.core.report import latest_run

    rows = []
    for p in registry.all_papers():
        err = p.load_error()
        if err is not None:
            rows.append((p.slug, "(cannot import)", "", err))
            continue
        run = latest_run(args.runs, p.slug, None, as_profiled=False)
        if run is None:
            counts = "no runs"
        else:
            c = run.counts
            custom = ", custom" if run.custom else ""
            counts = (f"{c['holds']} hold, {c['fails']} fail, {c['inconclusive']} inconclusive, "
                      f"{c['not_checkable']} n/c ({run.profile}{custom})")
        rows.append((p.slug, p.info.title, p.info.digest_item, counts))
    w = max(len(r[0]) for r in rows)
    for slug, title, seed, counts in rows:
        print(f"{slug:<{w}}  {title}\n{'':<{w}}  digest {seed} · latest: {counts}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from livepapers.core.claims import describe_rule

    p = _paper(args.slug)
    info = p.info
    print(f"{info.title}\n{info.authors} ({info.year}) {info.venue} arXiv:{info.arxiv}\ndigest: {info.digest_item}")
    if info.summary:
        print(f"\n{info.summary}")
    print("\nprofiles:")
    for name, prof in p.profiles.items():
        extra = "" if prof.evidence else ", not evidence"
        print(f"  {name:<8} {prof.n_seeds} seed{'s' if prof.n_seeds > 1 else ''}{extra}  {to_dict(prof.config)}")
    print("\nclaims:")
    for c in p.claims:
        check = c.check.describe() if c.check is not None else f"not checkable: {c.not_checkable}"
        print(f"  {c.id}  {c.statement}\n      paper ({c.source}): {c.paper_value}\n      check: {check}"
              + (f" ({describe_rule(c.over_seeds)})" if c.check is not None else ""))
        for r in c.requires:
            print(f"      requires: {r.describe()}")
    return 0


def _check_writable(out: str) -> None:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise UsageError(f"cannot write the output folder {out!r}: it is a file")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise UsageError(f"cannot write the output folder {out!r}")


_LAUNCH_FLAGS = ("--nproc", "--nnodes", "--rdzv-endpoint")


def _strip_launch_flags(argv: list[str]) -> list[str]:
    """``argv`` without ``--nproc/--nnodes/--rdzv-endpoint`` (and their values), for the launched ranks."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in _LAUNCH_FLAGS:
            skip = True
            continue
        if a.split("=", 1)[0] in _LAUNCH_FLAGS:
            continue
        out.append(a)
    return out


def _print_verdicts(run: Any) -> None:
    c = run.counts
    print(f"{run.slug}: {run.status}; {c['holds']} hold, {c['fails']} fail, {c['inconclusive']} inconclusive, "
          f"{c['not_checkable']} not checkable")
    for v in run.verdicts:
        print(f"  {v['claim_id']:<4} {v['status']:<13} {v['measured']}")
        for pre in v.get("preconditions", []):
            mark = "met" if pre["status"] == "holds" else "NOT MET" if pre["status"] == "fails" else "undecided"
            print(f"       requires {pre['check']}: {mark} ({pre['measured']})")


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from livepapers.core import dist
    from livepapers.core.report import build_site, load_run
    from livepapers.core.reproduce import Interrupted, RunFailed, reproduce, resolve_profile, seed_plan

    if args.all and args.slugs:
        raise UsageError("give slugs or --all, not both")
    slugs = registry.slugs() if args.all else args.slugs
    if not slugs:
        raise UsageError("name a paper (livepapers list) or use --all")
    papers = [_paper(s) for s in slugs]
    profiles = {}
    for p in papers:  # validate everything before the first run starts
        try:
            profiles[p.slug] = resolve_profile(p.slug, args.profile, args.overrides)
        except (registry.UnknownProfile, ConfigError) as e:
            raise UsageError(str(e)) from None
    for p in papers:
        needs = profiles[p.slug].needs
        if needs:
            raise UsageError(f"{p.slug}: profile {args.profile!r} cannot run here: {needs}")
    if args.seeds is not None and args.seeds < 1:
        raise UsageError(f"--seeds must be >= 1, got {args.seeds}")
    if not 0 <= args.seed < 2**31 - 1000:
        raise UsageError(f"--seed must be in [0, {2**31 - 1000}), got {args.seed}")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if args.address and args.backend != "ray":
        raise UsageError("--address goes with --backend ray")
    if args.nproc is not None and args.nproc < 1:
        raise UsageError(f"--nproc must be >= 1, got {args.nproc}")
    if args.nnodes < 1:
        raise UsageError(f"--nnodes must be >= 1, got {args.nnodes}")
    if (args.nnodes > 1 or args.rdzv_endpoint) and args.nproc is None:
        raise UsageError("--nnodes and --rdzv-endpoint go with --nproc")
    if args.nnodes > 1 and not args.rdzv_endpoint:
        raise UsageError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT")
    _check_writable(args.out)
    if not args.no_site:
        _check_writable(args.site)
    if args.nproc is not None and "LOCAL_RANK" not in os.environ:  # not yet inside torchrun: launch it
        launch = {"nproc": args.nproc, "nnodes": args.nnodes, "rdzv_endpoint": args.rdzv_endpoint}
        try:
            dist.torchrun_command([], **launch)
        except ValueError as e:
            raise UsageError(str(e)) from None
        print(f"launching {args.nproc} process{'es' if args.nproc > 1 else ''} per node on {args.nnodes} "
              f"node{'s' if args.nnodes > 1 else ''} through torch.distributed.run", file=sys.stderr)
        return dist.launch(_strip_launch_flags(args.argv), **launch)
    main_rank = dist.init_from_env().is_main
    failed = 0
    for p in papers:
        prof = profiles[p.slug]
        n = args.seeds if args.seeds is not None else prof.n_seeds
        if main_rank and not args.quiet:
            print(f"{p.slug} ({args.profile}): {seed_plan(n, args.workers, prof.threads).describe()}", file=sys.stderr)
        try:
            folder = reproduce(p.slug, profile=args.profile, seeds=args.seeds, seed=args.seed,
                               overrides=args.overrides, out=args.out, backend=args.backend,
                               address=args.address, workers=args.workers, verbose=not args.quiet,
                               fresh=args.fresh)
        except RunFailed as e:
            print(f"livepapers: {p.slug} failed: {e}", file=sys.stderr)
            failed += 1
            continue
        except Interrupted as e:
            print(f"livepapers: {p.slug} {e}", file=sys.stderr)
            return 130
        except Exception as e:  # one paper's error never skips the papers after it
            if not main_rank or dist.world_size() > 1:
                raise  # under torchrun the ranks must stay in step: stop them all
            print(f"livepapers: {p.slug} failed: {type(e).__name__}: {e}", file=sys.stderr)
            failed += 1
            continue
        if not main_rank:
            continue
        run = load_run(folder)
        _print_verdicts(run)
        if run.status != "complete":
            from livepapers.core.runs import read_json

            for msg in read_json(folder / "status.json").get("messages", []):
                print(f"  problem: {msg}", file=sys.stderr)
        print(f"run folder: {folder}\nreport:     {folder / 'report.md'}")
    if main_rank and not args.no_site:
        index = build_site(args.out, args.site)
        print(f"site:       {index}")
    return 1 if failed else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from livepapers.core.report import build_site, update_readme

    _check_writable(args.out)
    if args.benchmarks is not None and not Path(args.benchmarks).is_dir():
        raise UsageError(f"--benchmarks {args.benchmarks}: not a folder")
    index = build_site(args.runs, args.out, args.benchmarks)
    print(f"site: {index}")
    if args.readme:
        for slug in registry.slugs():
            path = update_readme(slug, args.runs)
            print(f"{slug}: " + (f"README results updated ({path})" if path else "no complete default run"))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from livepapers.core.runs import source_root

    slugs = args.slugs or registry.slugs()
    root = source_root()
    code = 0
    for slug in slugs:
        p = _paper(slug)
        script = root / "benchmarks" / f"bench_{p.package.rsplit('.', 1)[-1]}.py"
        if not script.exists():
            raise UsageError(f"no benchmark script {script} (benchmarks run from a source checkout)")
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        print(f"== {slug}: {script.relative_to(root)}", flush=True)
        code |= subprocess.run([sys.executable, str(script)], cwd=root, env=env).returncode
    return code


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.argv = argv
    if getattr(args, "quiet", False):
        os.environ["LIVEPAPERS_QUIET"] = "1"
    handlers = {"list": _cmd_list, "show": _cmd_show, "reproduce": _cmd_reproduce, "report": _cmd_report,
                "bench": _cmd_bench}
    try:
        return handlers[args.cmd](args)
    except UsageError as e:
        print(f"livepapers: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("livepapers: interrupted (the run folder is kept and marked interrupted)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
