"""``livepapers list | show | reproduce | report | bench``.

Bad input gets one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

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
    p.add_argument("--profile", default="default", help="smoke | default | paper (default: default)")
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
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("report", help="rebuild site/index.html from the run folders")
    p.add_argument("--runs", default="runs")
    p.add_argument("--out", default="site")
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
        run = latest_run(args.runs, p.slug, None)
        if run is None:
            counts = "no runs"
        else:
            c = run.counts
            counts = (f"{c['holds']} hold, {c['fails']} fail, {c['inconclusive']} inconclusive, "
                      f"{c['not_checkable']} n/c ({run.profile})")
        rows.append((p.slug, p.info.title, p.info.seed, counts))
    w = max(len(r[0]) for r in rows)
    for slug, title, seed, counts in rows:
        print(f"{slug:<{w}}  {title}\n{'':<{w}}  digest {seed} · latest: {counts}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    p = _paper(args.slug)
    info = p.info
    print(f"{info.title}\n{info.authors} ({info.year}) {info.venue} arXiv:{info.arxiv}\ndigest: {info.seed}")
    if info.summary:
        print(f"\n{info.summary}")
    print("\nprofiles:")
    for name, cfg in p.profiles.items():
        print(f"  {name:<8} n_seeds={p.n_seeds(cfg)}  {to_dict(cfg)}")
    print("\nclaims:")
    for c in p.claims:
        check = c.check.describe() if c.check is not None else f"not checkable: {c.not_checkable}"
        print(f"  {c.id}  {c.statement}\n      paper ({c.source}): {c.paper_value}\n      check: {check}")
    return 0


def _check_writable(out: str) -> None:
    path = Path(out)
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise UsageError(f"cannot write the output folder {out!r}")


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from livepapers.core.report import build_site
    from livepapers.core.reproduce import RunFailed, reproduce, resolve_config

    if args.all and args.slugs:
        raise UsageError("give slugs or --all, not both")
    slugs = registry.slugs() if args.all else args.slugs
    if not slugs:
        raise UsageError("name a paper (livepapers list) or use --all")
    papers = [_paper(s) for s in slugs]
    for p in papers:  # validate everything before the first run starts
        try:
            resolve_config(p.slug, args.profile, args.overrides)
        except registry.UnknownProfile as e:
            raise UsageError(str(e)) from None
        except ConfigError as e:
            raise UsageError(str(e)) from None
    if args.seeds is not None and args.seeds < 1:
        raise UsageError(f"--seeds must be >= 1, got {args.seeds}")
    if args.address and args.backend != "ray":
        raise UsageError("--address goes with --backend ray")
    _check_writable(args.out)
    failed = 0
    for p in papers:
        try:
            folder = reproduce(p.slug, profile=args.profile, seeds=args.seeds, seed=args.seed,
                               overrides=args.overrides, out=args.out, backend=args.backend,
                               address=args.address, workers=args.workers, verbose=not args.quiet)
        except RunFailed as e:
            print(f"livepapers: {p.slug} failed: {e}", file=sys.stderr)
            failed += 1
            continue
        except OSError as e:
            raise UsageError(str(e)) from None
        from livepapers.core.report import load_run

        run = load_run(folder)
        c = run.counts
        print(f"{p.slug}: {run.status}; {c['holds']} hold, {c['fails']} fail, {c['inconclusive']} inconclusive, "
              f"{c['not_checkable']} not checkable")
        for v in run.verdicts:
            print(f"  {v['claim_id']:<4} {v['status']:<13} {v['measured']}")
        if run.status != "complete":
            from livepapers.core.runs import read_json

            for msg in read_json(folder / "status.json").get("messages", []):
                print(f"  problem: {msg}", file=sys.stderr)
        print(f"run folder: {folder}\nreport:     {folder / 'report.md'}")
    if not args.no_site:
        index = build_site(args.out, args.site)
        print(f"site:       {index}")
    return 1 if failed else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from livepapers.core.report import build_site, update_readme

    index = build_site(args.runs, args.out)
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
    args = _parser().parse_args(argv)
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
        print("livepapers: interrupted (the run folder is kept and marked incomplete)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
