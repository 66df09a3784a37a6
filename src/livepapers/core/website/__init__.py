"""The live digest: ``site/index.html`` (the five digests, every item with its verdicts) and one page per paper.

Static HTML from Jinja2 templates (``templates/``) and one stylesheet (``style.css``); it opens from file://, needs
no network and runs no JavaScript. Plots are SVG files drawn with matplotlib beside the pages:

* claims: every check of every claim on a number line (:mod:`.claimplot`), from the run's per-seed metrics;
* benchmarks: ``benchmarks/results/<pkg>.json`` as charts and tables (:mod:`.benchplot`).

Human labels for metrics come from an optional ``LABELS`` dict beside ``CLAIMS`` (claim ids may be keys too: the
claim card's short title), falling back to the metric's declared ``doc``, then to its name.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from livepapers.core import registry
from livepapers.core.report import (
    RunRecord,
    _maybe_json,
    _precondition_text,
    find_runs,
    latest_run,
    readme_section,
)
from livepapers.core.runs import atomic_write_text, source_root
from livepapers.core.website import benchplot, claimplot, digests, markdown

TIERS = ("default", "extended")  # evidence tiers shown side by side
STATUS_WORDS = {"holds": "holds", "fails": "fails", "inconclusive": "inconclusive", "not_checkable": "not checkable",
                "none": "not run"}
HISTORY_MAX = 15  # runs shown in a paper's history table


# ------------------------------------------------------------------------------------------------------------------
# labels
# ------------------------------------------------------------------------------------------------------------------


def labels_of(paper: registry.Paper) -> dict[str, str]:
    """The paper's ``LABELS`` (name -> human words) beside its claims; {} when it declares none."""
    raw = getattr(paper.claims_module, "LABELS", None) or {}
    return {str(k): str(v) for k, v in dict(raw).items()}


def labeller(paper: registry.Paper) -> Callable[[str], str]:
    """``name -> label``: ``LABELS[name]``, else the declared ``Metric.doc``, else the name itself."""
    labels, metrics = labels_of(paper), paper.metrics or {}

    def label(name: str) -> str:
        if name in labels:
            return labels[name]
        m = metrics.get(name)
        return m.doc if m is not None and getattr(m, "doc", "") else name

    return label


def claim_title(paper: registry.Paper, claim: Any) -> str:
    """A claim card's short title: ``LABELS[claim id]``, else the claim's source in the paper."""
    return labels_of(paper).get(claim.id) or claim.source or claim.id


# ------------------------------------------------------------------------------------------------------------------
# what the templates get
# ------------------------------------------------------------------------------------------------------------------


@dataclass
class Strip:
    """Verdict counts of one run (a tier's latest)."""

    tier: str
    run: RunRecord | None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _strip(tier: str, run: RunRecord | None) -> Strip:
    return Strip(tier, run, run.counts if run else {})


def _run_date(run: RunRecord) -> str:
    t = run.env.get("time_utc") if isinstance(run.env, dict) else None
    if isinstance(t, str) and len(t) >= 16:
        return t[:16].replace("T", " ")
    m = re.match(r"(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)", run.name)
    return f"{m[1]}-{m[2]}-{m[3]} {m[4]}:{m[5]}" if m else "?"


def _rev(run: RunRecord) -> str:
    rev = str(run.env.get("git_revision") or "unknown")[:10]
    return rev + (" (dirty)" if run.env.get("git_dirty") else "")


def _per_seed(run: RunRecord, basis: str) -> list[dict]:
    """The per-seed metric dicts of a run (``basis="repeats"``: the once-per-run measurement's repeats)."""
    try:
        metrics = _maybe_json(run.folder / "metrics.json", {})
    except ValueError:
        return []
    if basis == "repeats":
        rows = (metrics.get("measured") or {}).get("repeats", []) if isinstance(metrics.get("measured"), dict) else []
    else:
        rows = metrics.get("per_seed", [])
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


@dataclass
class Card:
    """One claim on a paper page."""

    id: str
    title: str
    statement: str
    source: str
    paper_value: str
    rule: str
    verdicts: list[tuple[str, dict | None]]  # (tier, verdict dict) per shown tier
    plots: list[tuple[str, str]] = field(default_factory=list)  # (tier, relative path of the SVG)
    parts: list[claimplot.Part] = field(default_factory=list)  # of the first tier's run
    not_checkable: str = ""
    preconditions: list[dict] = field(default_factory=list)
    expected: str = ""  # the check, metric names replaced by their labels (or a count, for long AllOfs)
    reason: str = ""  # the verdict's reason, metric names replaced by their labels

    @property
    def status(self) -> str:
        v = self.verdicts[0][1] if self.verdicts else None
        return v["status"] if v else "none"

    @property
    def verdict(self) -> dict:
        return (self.verdicts[0][1] if self.verdicts else None) or {}


def words(text: str, names: Any, label: Callable[[str], str]) -> str:
    """``text`` with every metric name in ``names`` replaced by its label in quotes (longest names first)."""
    for n in sorted(set(names), key=len, reverse=True):
        lab = label(n)
        if lab != n and n in text:
            text = re.sub(rf"(?<![\w]){re.escape(n)}(?![\w])", lambda _m, lab=lab: f"“{lab}”", text)
    return text


def _cards(paper: registry.Paper, runs: list[RunRecord], out: Path, label: Callable[[str], str]) -> list[Card]:
    from livepapers.core.claims import AllOf, AnyOf, describe_rule

    units = {n: m.unit for n, m in (paper.metrics or {}).items()}
    cards = []
    plot_dir = out / "plots"
    for c in paper.claims:
        vs = [(r.profile, next((v for v in r.verdicts if v["claim_id"] == c.id), None)) for r in runs]
        card = Card(id=c.id, title=claim_title(paper, c), statement=c.statement, source=c.source,
                    paper_value=c.paper_value, rule=describe_rule(c.over_seeds) if c.check else "",
                    verdicts=vs, not_checkable=c.not_checkable if c.check is None else "")
        first = vs[0][1] if vs else None
        names = c.all_metrics
        card.preconditions = [dict(p, text=words(_precondition_text(p), names, label))
                              for p in (first or {}).get("preconditions", [])]
        if first:
            card.reason = words(first.get("reason", ""), names, label)
            flat = isinstance(c.check, AllOf) and not any(isinstance(x, (AllOf, AnyOf)) for x in c.check.checks)
            n_parts = len(c.check.checks) if flat else 1  # a nested and/or is written out, never counted
            card.expected = (f"{n_parts} checks, every one must pass (each drawn below)" if n_parts > 3
                             else words(first.get("expected", ""), names, label))
        for run, (tier, v) in zip(runs, vs):
            if c.check is None or v is None:
                continue
            per_seed = _per_seed(run, v.get("basis", "seeds"))
            if not per_seed:
                continue
            parts = claimplot.claim_parts(c, per_seed, label, units)
            if not parts:
                continue
            plot_dir.mkdir(parents=True, exist_ok=True)
            name = f"{tier}-{re.sub(r'[^A-Za-z0-9_-]', '_', c.id)}.svg"
            (plot_dir / name).write_text(claimplot.draw(parts), encoding="utf-8")
            card.plots.append((tier, f"plots/{name}"))
            if not card.parts:
                card.parts = parts
        cards.append(card)
    return cards


@dataclass
class HistoryRow:
    run: RunRecord
    date: str
    rev: str
    cells: list[str]  # status per claim, in claim order ("none" where the run has no verdict)


def _history(paper: registry.Paper, runs: list[RunRecord]) -> list[HistoryRow]:
    rows = []
    for r in reversed(runs):
        by_id = {v["claim_id"]: v["status"] for v in r.verdicts}
        rows.append(HistoryRow(r, _run_date(r), _rev(r), [by_id.get(c.id, "none") for c in paper.claims]))
    return rows


def _equations(readme: Path) -> tuple[str, list[list[str]]]:
    """The README's "Equations → code" section: its text before the table, and the table's rows (header first)."""
    sec = readme_section(readme, "Equations")
    if not sec:
        return "", []
    intro = sec.split("\n|", 1)[0] if "\n|" in sec else ("" if sec.lstrip().startswith("|") else sec)
    return intro.strip(), markdown.parse_table(sec)


def _copy_figures(run: RunRecord, out: Path) -> list[dict]:
    figs = []
    for f in run.figures:
        dest = out / run.name / f["file"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(run.folder / f["file"], dest)
        figs.append({"src": f"{run.name}/{f['file']}", "caption": f.get("caption") or f["file"]})
    return figs


# ------------------------------------------------------------------------------------------------------------------
# rendering
# ------------------------------------------------------------------------------------------------------------------


@cache
def _env() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("livepapers.core.website", "templates"), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["md"] = markdown.render
    env.filters["mdi"] = markdown.inline
    env.globals["WORDS"] = STATUS_WORDS
    return env


def _render(template: str, path: Path, **ctx: Any) -> None:
    ctx.setdefault("generated", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    atomic_write_text(path, _env().get_template(template).render(**ctx))


def _paper_page(p: registry.Paper, runs_root: Path, out: Path, bench_dir: Path | None,
                item: digests.Item | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "plots", ignore_errors=True)  # plots of an earlier build may name claims that are gone
    label = labeller(p)
    tiers = [r for r in (latest_run(runs_root, p.slug, t) for t in TIERS) if r is not None]
    cards = _cards(p, tiers, out, label)
    figures = [(r, _copy_figures(r, out)) for r in tiers]
    all_runs = find_runs(runs_root, p.slug)
    history = _history(p, all_runs)
    bench = None
    if bench_dir is not None:
        stem = p.package.rsplit(".", 1)[-1]
        bench = benchplot.load(bench_dir / f"{stem}.json", stem)
        if bench is not None:
            for i, (_title, svg) in enumerate(bench.charts):
                (out / f"bench-{i}.svg").write_text(svg, encoding="utf-8")
    intro, eq_rows = _equations(p.readme)
    legend = [(n, label(n), m) for n, m in ((n, (p.metrics or {}).get(n)) for n in
                                            dict.fromkeys(x for c in p.claims for x in c.all_metrics)) if m]
    _render("paper.html", out / "index.html", paper=p, info=p.info, item=item, cards=cards, tiers=tiers,
            strips=[_strip(r.profile, r) for r in tiers], figures=figures, history=history[:HISTORY_MAX],
            n_history=len(history), claims=p.claims, bench=bench, eq_intro=intro, eq_rows=eq_rows,
            deviations=readme_section(p.readme, "Deviations"),
            not_checkable=readme_section(p.readme, "Not checkable offline"),
            legend=legend, run_line=_run_summary, root="../")


def _run_summary(run: RunRecord) -> str:
    secs = f", {run.seconds:.0f} s wall" if run.seconds is not None else ""
    seeds = run.config.get("seeds", [])
    custom = f"; custom run: {', '.join(run.custom)}" if run.custom else ""
    return (f"{run.name}: profile {run.profile}, {len(seeds)} seed{'s' if len(seeds) != 1 else ''}, {run.status}"
            f"{secs}; git {_rev(run)}; {_run_date(run)} UTC{custom}")


def build_site(runs_root: str | Path = "runs", out: str | Path = "site", benchmarks: str | Path | None = None) -> Path:
    """Write ``out/index.html`` (the digests, each item with its verdict strip), ``out/style.css`` and one page per
    registered paper (``out/<slug>/index.html`` with its plots and figures). ``benchmarks``: the folder of
    ``<pkg>.json`` benchmark results (default: ``benchmarks/results`` of the source checkout, when there is one).
    A paper that cannot be imported is listed with its error; it never takes the others down."""
    runs_root, out = Path(runs_root), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bench_dir = Path(benchmarks) if benchmarks is not None else source_root() / "benchmarks" / "results"
    css = resources.files(__package__).joinpath("style.css").read_text(encoding="utf-8")
    atomic_write_text(out / "style.css", css)
    table = {it.slug: it for it in digests.items() if it.slug}
    papers: dict[str, registry.Paper] = {}
    errors: dict[str, str] = {}
    for p in registry.all_papers():
        err = p.load_error()
        if err is None:
            papers[p.slug] = p
        else:
            errors[p.slug] = err
    strips: dict[str, list[Strip]] = {}
    for slug, p in papers.items():
        tiers = {t: latest_run(runs_root, slug, t) for t in TIERS}
        strips[slug] = [_strip(t, r) for t, r in tiers.items() if t == "default" or r is not None]
        _paper_page(p, runs_root, out / slug, bench_dir if bench_dir.is_dir() else None, table.get(slug))
    totals = {"papers": len(papers), "claims": 0, **dict.fromkeys(STATUS_WORDS, 0)}
    for s in strips.values():
        if s[0].run is not None:
            totals["claims"] += s[0].total
            for k, n in s[0].counts.items():
                totals[k] = totals.get(k, 0) + n
    totals["with_runs"] = sum(1 for s in strips.values() if s[0].run is not None)
    in_table = set(table)
    others = [papers[s] for s in papers if s not in in_table]
    _render("index.html", out / "index.html", digests=digests.load(), papers=papers, errors=errors, strips=strips,
            totals=totals, others=others, table_slugs=in_table, root="")
    return out / "index.html"
