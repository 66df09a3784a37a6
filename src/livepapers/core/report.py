"""Reports: one run -> ``report.md``; all runs -> ``site/`` (the live digest); README results blocks.

Everything here reads run folders; no number is typed in by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livepapers.core import registry
from livepapers.core.runs import atomic_write_text, read_json, read_status

VERDICT_MARK = {"holds": "✅ holds", "fails": "❌ fails", "inconclusive": "⚠️ inconclusive",
                "not_checkable": "⛔ not checkable"}
RESULTS_START, RESULTS_END = "<!-- results:start -->", "<!-- results:end -->"


@dataclass
class RunRecord:
    """What a run folder says about itself (tolerant of killed runs with missing files)."""

    folder: Path
    slug: str
    profile: str
    status: str
    config: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    verdicts: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    seconds: float | None = None
    figures: list[dict] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def custom(self) -> list[str]:
        """How this run departs from its profile as registered: ``--set`` overrides, another seed count."""
        out = [f"--set {o}" for o in self.config.get("overrides", [])]
        planned, seeds = self.config.get("profile_n_seeds"), self.config.get("seeds", [])
        if isinstance(planned, int) and len(seeds) != planned:
            out.append(f"--seeds {len(seeds)} (profile: {planned})")
        return out

    @property
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(VERDICT_MARK, 0)
        for v in self.verdicts:
            out[v["status"]] = out.get(v["status"], 0) + 1
        return out


class BadRunFolder(ValueError):
    """A run folder with a malformed file: the message names the file."""


def _maybe_json(path: Path, default: Any, kind: type = dict) -> Any:
    """The JSON in ``path``; ``default`` when it does not exist; :class:`BadRunFolder` when it is malformed."""
    if not path.exists():
        return default
    try:
        obj = read_json(path)
    except (OSError, ValueError) as e:  # JSONDecodeError, UnicodeDecodeError
        raise BadRunFolder(f"{path}: unreadable ({type(e).__name__})") from None
    if not isinstance(obj, kind):
        raise BadRunFolder(f"{path}: expected a JSON {kind.__name__}, found {type(obj).__name__}")
    return obj


def _verdict_ok(v: Any) -> bool:
    if not (isinstance(v, dict) and isinstance(v.get("claim_id"), str) and v.get("status") in VERDICT_MARK
            and all(isinstance(v.get(k, ""), str) for k in ("measured", "expected", "reason"))
            and "measured" in v and "expected" in v):
        return False
    pre = v.get("preconditions", [])
    return isinstance(pre, list) and all(isinstance(p, dict) and isinstance(p.get("check"), str)
                                         and isinstance(p.get("status"), str) for p in pre)


def load_run(folder: str | Path) -> RunRecord:
    """What a run folder says about itself; :class:`BadRunFolder` (naming the file) when a file is malformed."""
    folder = Path(folder)
    cfg = _maybe_json(folder / "config.json", {})
    claims = _maybe_json(folder / "claims.json", {})
    metrics = _maybe_json(folder / "metrics.json", {})
    figures = _maybe_json(folder / "figures.json", [], list)
    verdicts = claims.get("verdicts", [])
    if not isinstance(verdicts, list) or not all(_verdict_ok(v) for v in verdicts):
        raise BadRunFolder(f"{folder / 'claims.json'}: a verdict without a claim_id, a known status, its "
                           "measured/expected text or well-formed preconditions")
    if not all(isinstance(f, dict) and isinstance(f.get("file"), str) for f in figures):
        raise BadRunFolder(f"{folder / 'figures.json'}: a figure without a file name")
    figures = [f for f in figures if (folder / f["file"]).exists()]
    seconds = (metrics.get("seconds") or {}).get("wall") if isinstance(metrics.get("seconds"), dict) else None
    return RunRecord(folder=folder, slug=cfg.get("slug", folder.parent.name),
                     profile=cfg.get("profile", "?"), status=read_status(folder), config=cfg,
                     env=_maybe_json(folder / "env.json", {}), verdicts=verdicts,
                     summary=metrics.get("summary", {}), seconds=seconds, figures=figures)


_WARNED: set[str] = set()


def find_runs(root: str | Path, slug: str | None = None) -> list[RunRecord]:
    """All run folders under ``root`` (optionally one paper's), oldest first.

    A folder with a malformed file is skipped with a one-line warning on stderr naming the file, so one bad
    folder never takes ``list``, ``report`` or the site down.
    """
    import sys

    root = Path(root)
    if not root.exists():
        return []
    dirs = [root / slug] if slug else sorted(p for p in root.iterdir() if p.is_dir())
    runs = []
    for d in dirs:
        if not d.is_dir():
            continue
        for f in sorted(d.iterdir()):
            if not (f.is_dir() and (f / "config.json").exists()):
                continue
            try:
                runs.append(load_run(f))
            except BadRunFolder as e:
                if str(e) not in _WARNED:
                    _WARNED.add(str(e))
                    print(f"livepapers: warning: skipping run {f.name}: {e}", file=sys.stderr)
    return runs


def latest_run(root: str | Path, slug: str, profile: str | None = "default",
               complete_only: bool = True, as_profiled: bool = True) -> RunRecord | None:
    """The newest run of ``profile``: complete (or diverged) and, by default, run as the profile stands.

    A run made with ``--set`` overrides or another seed count than the profile's is a custom run: it is listed
    in the history, labelled, but never stands as the profile's result (``as_profiled=False`` admits it).
    """
    runs = [r for r in find_runs(root, slug)
            if (profile is None or r.profile == profile)
            and (not complete_only or r.status in ("complete", "diverged"))
            and (not as_profiled or not r.custom)]
    return runs[-1] if runs else None


def readme_section(readme: Path, heading: str) -> str:
    """The text under ``## <heading>`` of a paper README, up to the next ``## ``."""
    if not readme.exists():
        return ""
    text = readme.read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(heading)}[^\n]*\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    return m.group(1).strip() if m else ""


def _md_cell(s: Any) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _precondition_text(pre: dict) -> str:
    mark = {"holds": "met", "fails": "NOT met"}.get(pre["status"], "undecided")
    measured = pre.get("measured") if pre.get("measured") not in (None, "", "—") else pre.get("reason", "")
    return f"{pre['check']}: {mark} ({measured})"


def claims_table_md(paper: registry.Paper, run: RunRecord) -> str:
    """Markdown table: id, statement, paper value, measured, check, preconditions, verdict (+ reasons below)."""
    by_id = {v["claim_id"]: v for v in run.verdicts}
    lines = ["| claim | statement | paper | measured (mean ± sd, n) | check | preconditions | verdict |",
             "|---|---|---|---|---|---|---|"]
    notes = []
    for c in paper.claims:
        v = by_id.get(c.id)
        if v is None:
            lines.append(f"| {c.id} | {_md_cell(c.statement)} | {_md_cell(c.paper_value)} | — | — | — | not run |")
            continue
        pre = "<br>".join(_md_cell(_precondition_text(p)) for p in v.get("preconditions", [])) or "—"
        basis = " (once-per-run measurement, over its repeats)" if v.get("basis") == "repeats" else ""
        lines.append(f"| {c.id} | {_md_cell(c.statement)} | {_md_cell(c.paper_value)} | {_md_cell(v['measured'])}"
                     f"{basis} | {_md_cell(v['expected'])} | {pre} | {VERDICT_MARK.get(v['status'], v['status'])} |")
        if v.get("reason"):
            notes.append(f"- **{c.id}** ({v['status']}): {v['reason']}")
    return "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "")


def _run_line(run: RunRecord) -> str:
    env = run.env
    rev = (env.get("git_revision") or "unknown")[:10] + (" (dirty)" if env.get("git_dirty") else "")
    secs = f", {run.seconds:.0f} s wall" if run.seconds is not None else ""
    seeds = run.config.get("seeds", [])
    custom = f" — custom run: {', '.join(run.custom)}" if run.custom else ""
    return (f"run `{run.name}` — profile `{run.profile}`, seeds {seeds}, status **{run.status}**{secs}; "
            f"git {rev}; torch {env.get('torch', '?')}, {env.get('cpu', '?')}{custom}")


def _claim_metrics(paper: registry.Paper) -> list[tuple[str, Any]]:
    """``(name, Metric)`` of every declared metric the claims or their preconditions read, in claim order."""
    declared = paper.metrics or {}
    names = dict.fromkeys(n for c in paper.claims for n in c.all_metrics)
    return [(n, declared[n]) for n in names if n in declared]


def _direction(m: Any) -> str:
    return {True: "higher is better", False: "lower is better"}.get(m.higher_is_better, "—")


def metrics_legend_md(paper: registry.Paper) -> str:
    """Markdown table: what each metric the claims read measures (its declared ``doc``), unit and direction."""
    rows = _claim_metrics(paper)
    if not rows:
        return ""
    lines = ["| metric | what it measures | unit | direction |", "|---|---|---|---|"]
    lines += [f"| `{n}` | {_md_cell(m.doc)} | {_md_cell(m.unit or '—')} | {_direction(m)} |" for n, m in rows]
    return "\n".join(lines)


def write_run_report(folder: str | Path) -> Path:
    """Write ``report.md`` of one run folder from its JSON files."""
    run = load_run(folder)
    paper = registry.get(run.slug)
    info = paper.info
    parts = [f"# {info.title} — reproduction", "",
             f"{info.authors} ({info.year}). {info.venue} arXiv:{info.arxiv}".strip(), "",
             _run_line(run), "", "## Claims", "", claims_table_md(paper, run), ""]
    legend = metrics_legend_md(paper)
    if legend:
        parts += ["## Metrics the claims read", "", legend, ""]
    if run.figures:
        parts += ["## Figures", ""]
        for f in run.figures:
            parts += [f"![{f.get('caption') or f['file']}]({f['file']})", "",
                      f"*{f.get('caption') or f['file']}*", ""]
    dev = readme_section(paper.readme, "Deviations")
    if dev:
        parts += ["## Deviations from the paper", "", dev, ""]
    status = _maybe_json(Path(folder) / "status.json", {})
    if status.get("messages"):
        parts += ["## Problems", ""] + [f"- {m}" for m in status["messages"]] + [""]
    path = Path(folder) / "report.md"
    atomic_write_text(path, "\n".join(parts))
    return path


def readme_results_block(paper: registry.Paper, run: RunRecord) -> str:
    return "\n".join([RESULTS_START,
                      "<!-- generated by `livepapers report --readme` from the latest default run; do not edit -->",
                      "", _run_line(run), "", claims_table_md(paper, run), "", RESULTS_END])


def update_readme(slug: str, runs_root: str | Path = "runs") -> Path | None:
    """Fill the README's results markers from the latest complete default run; None if there is none."""
    paper = registry.get(slug)
    run = latest_run(runs_root, slug, "default")
    readme = paper.readme
    if run is None or not readme.exists():
        return None
    text = readme.read_text(encoding="utf-8")
    if RESULTS_START not in text or RESULTS_END not in text:
        raise ValueError(f"{readme} has no {RESULTS_START} … {RESULTS_END} markers")
    head, rest = text.split(RESULTS_START, 1)
    _, tail = rest.split(RESULTS_END, 1)
    readme.write_text(head + readme_results_block(paper, run) + tail, encoding="utf-8")
    return readme


# ------------------------------------------------------------------------------------------------
# the static site: livepapers.core.website (Jinja2 templates, claim plots, the digest table)
# ------------------------------------------------------------------------------------------------

TIERS = ("default", "extended")  # evidence tiers shown side by side on the site


def build_site(runs_root: str | Path = "runs", out: str | Path = "site", benchmarks: str | Path | None = None) -> Path:
    """Write the live digest (``out/index.html``, a page per paper): :func:`livepapers.core.website.build_site`."""
    from livepapers.core.website import build_site as _build

    return _build(runs_root, out, benchmarks)
