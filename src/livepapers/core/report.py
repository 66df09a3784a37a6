"""Reports: one run -> ``report.md``; all runs -> ``site/`` (the live digest); README results blocks.

Everything here reads run folders; no number is typed in by hand.
"""

from __future__ import annotations

import html
import re
import shutil
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
# the static site
# ------------------------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
th{background:#f3f3f3}.holds{background:#d8f5d8}.fails{background:#f9d0d0}.inconclusive{background:#fff1c2}
.not_checkable{background:#e6e6e6}.incomplete,.running,.failed,.diverged{color:#a00;font-weight:bold}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}figure{margin:1em 0}code{background:#f4f4f4}
.small{font-size:13px;color:#555}
"""


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{body}</body></html>\n")


def _e(s: Any) -> str:
    return html.escape(str(s))


TIERS = ("default", "extended")  # evidence tiers shown side by side on the site


def _cell(c: Any, v: dict | None, tier: str) -> str:
    st = v["status"] if v else "none"
    tip = c.statement + (f" — measured: {v['measured']}" if v else "") + (f" — {v['reason']}" if v and v.get("reason")
                                                                          else "")
    return f"<td class='{st}' title='{_e(tip)}'>{c.id}: {_e(st if v else '—')}</td>"


def build_site(runs_root: str | Path = "runs", out: str | Path = "site") -> Path:
    """Write ``out/index.html`` (verdict matrix, default and extended tiers) and one page per paper.

    The page opens from file://. For each paper the latest complete run of each evidence tier is shown,
    each row labelled with its tier; a paper with no extended run shows its default row only.
    """
    runs_root, out = Path(runs_root), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    papers, rows = [], []
    for p in registry.all_papers():
        err = p.load_error()
        if err is None:
            papers.append(p)
        else:  # one broken package must not take the digest of the others down with it
            rows.append(f"<tr><td>{_e(p.slug)}</td><td class='failed' colspan='99'>cannot import: {_e(err)}</td></tr>")
    max_claims = max((len(p.claims) for p in papers), default=0)
    for p in papers:
        info = p.info
        tiers = {t: latest_run(runs_root, p.slug, t) for t in TIERS}
        shown = [t for t in TIERS if t == "default" or tiers[t] is not None]
        for i, tier in enumerate(shown):
            run = tiers[tier]
            by_id = {v["claim_id"]: v for v in (run.verdicts if run else [])}
            cells = [_cell(c, by_id.get(c.id), tier) for c in p.claims]
            cells += ["<td></td>"] * (max_claims - len(p.claims))
            state = (f"<span class='{run.status}'>{run.status}</span> {_e(run.name)}" if run
                     else f"no {tier} run yet")
            head = (f"<td rowspan='{len(shown)}'><a href='{p.slug}/index.html'>{_e(info.title)}</a><br>"
                    f"<span class='small'>{_e(p.slug)} · {_e(info.digest_item)}</span></td>") if i == 0 else ""
            rows.append(f"<tr>{head}<td class='small'>{tier}</td>{''.join(cells)}<td class='small'>{state}</td></tr>")
        _paper_page(p, runs_root, out / p.slug)
    head = "".join(f"<th>claim {i + 1}</th>" for i in range(max_claims))
    body = ("<h1>livepapers — the live digest</h1><p>Latest complete <code>default</code> run of every paper, and "
            "beside it the latest <code>extended</code> run where a paper has one (more compute, ≤ 60 min); each "
            "cell is a claim's verdict, computed from the run's metrics.</p>"
            f"<table><tr><th>paper</th><th>tier</th>{head}<th>latest run</th></tr>{''.join(rows)}</table>")
    (out / "index.html").write_text(_page("livepapers", body), encoding="utf-8")
    return out / "index.html"


def _claims_table_html(p: registry.Paper, run: RunRecord) -> str:
    by_id = {v["claim_id"]: v for v in run.verdicts}
    rows = ["<table><tr><th>claim</th><th>statement</th><th>paper</th><th>measured</th><th>check</th>"
            "<th>preconditions</th><th>verdict</th></tr>"]
    for c in p.claims:
        v = by_id.get(c.id, {})
        st = v.get("status", "none")
        reason = f"<br><span class='small'>{_e(v['reason'])}</span>" if v.get("reason") else ""
        pre = "<br>".join(f"<span class='{q['status']}'>{_e(_precondition_text(q))}</span>"
                          for q in v.get("preconditions", [])) or "—"
        rows.append(f"<tr><td>{c.id}</td><td>{_e(c.statement)}</td><td>{_e(c.paper_value)}</td>"
                    f"<td>{_e(v.get('measured', '—'))}</td><td>{_e(v.get('expected', '—'))}</td>"
                    f"<td class='small'>{pre}</td><td class='{st}'>{_e(st)}{reason}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _metrics_legend_html(p: registry.Paper) -> str:
    rows = _claim_metrics(p)
    if not rows:
        return ""
    body = "".join(f"<tr><td><code>{_e(n)}</code></td><td>{_e(m.doc)}</td><td>{_e(m.unit or '—')}</td>"
                   f"<td>{_direction(m)}</td></tr>" for n, m in rows)
    return ("<details><summary>What the claims' metrics measure</summary><table><tr><th>metric</th>"
            f"<th>what it measures</th><th>unit</th><th>direction</th></tr>{body}</table></details>")


def _paper_page(p: registry.Paper, runs_root: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    info = p.info
    runs = find_runs(runs_root, p.slug)
    body = [f"<p><a href='../index.html'>← all papers</a></p><h1>{_e(info.title)}</h1>",
            f"<p>{_e(info.authors)} ({info.year}). {_e(info.venue)} "
            + (f"<a href='{_e(info.url)}'>arXiv:{_e(info.arxiv)}</a>" if info.arxiv else "")
            + f"<br><span class='small'>digest item: {_e(info.digest_item)}</span></p>",
            f"<p>{_e(info.summary)}</p>"]
    latest = None
    for tier in TIERS:
        run = latest_run(runs_root, p.slug, tier)
        if run is None:
            continue
        latest = latest or run
        body.append(f"<h2>Latest {tier} run</h2><p class='small'>{_e(_run_line(run))}</p>"
                    + _claims_table_html(p, run) + _metrics_legend_html(p))
        figdir = out / run.name
        for f in run.figures:
            figdir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(run.folder / f["file"], figdir / f["file"])
            body.append(f"<figure><img src='{_e(run.name)}/{_e(f['file'])}'><figcaption>"
                        f"{_e(f.get('caption') or f['file'])}</figcaption></figure>")
    if latest is None:
        body.append("<p>No complete default run yet: <code>livepapers reproduce "
                    f"{_e(p.slug)}</code>.</p>")
    body.append("<h2>Run history</h2><table><tr><th>run</th><th>profile</th><th>status</th><th>verdicts</th>"
                "<th>wall</th></tr>")
    for r in reversed(runs):
        counts = ", ".join(f"{k} {n}" for k, n in r.counts.items() if n)
        if r.custom:
            counts += f" (custom: {', '.join(r.custom)})"
        secs = f"{r.seconds:.0f} s" if r.seconds is not None else "—"
        body.append(f"<tr><td>{_e(r.name)}</td><td>{_e(r.profile)}</td><td class='{r.status}'>{_e(r.status)}</td>"
                    f"<td>{_e(counts or '—')}</td><td>{secs}</td></tr>")
    body.append("</table>")
    (out / "index.html").write_text(_page(info.title, "".join(body)), encoding="utf-8")
