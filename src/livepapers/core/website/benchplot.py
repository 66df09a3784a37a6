"""Benchmark results (``benchmarks/results/<pkg>.json``) as the plots a reader expects, plus their tables.

What to draw is data (``benchmarks.toml`` beside this module, or a ``charts`` list inside a results file); the
tables are generic: every list of records and every dict of numbers under ``results`` becomes one table.
"""

from __future__ import annotations

import fnmatch
import io
import json
import math
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from livepapers.core.stats import fit_loglog_slope


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class Bench:
    """One paper's benchmark page part: charts (SVG text), tables and the machine it ran on."""

    name: str
    machine: str
    charts: list[tuple[str, str]] = field(default_factory=list)  # (title, svg)
    tables: list[Table] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@cache
def specs() -> dict[str, list[dict]]:
    text = resources.files(__package__).joinpath("benchmarks.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return "—" if v is None else ("yes" if v else "no")
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        a = abs(v)
        return f"{v:.3g}" if a and (a < 1e-3 or a >= 1e5) else f"{v:.4g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(", ", ": "))
    return str(v)


def _at(obj: Any, path: str) -> Any:
    for k in [p for p in path.split(".") if p]:
        obj = obj[k]
    return obj


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def tables(results: dict) -> list[Table]:
    """Every list of records and every dict of scalars (or of dicts of scalars) under ``results``."""
    out: list[Table] = []
    top = {k: v for k, v in results.items() if not isinstance(v, (dict, list))}
    if top:
        out.append(Table("settings", ["name", "value"], [[k, fmt(v)] for k, v in top.items()]))

    def walk(x: Any, path: str) -> None:
        if isinstance(x, list) and x and all(isinstance(r, dict) for r in x):
            cols = [k for k in dict.fromkeys(k for r in x for k in r)
                    if not all(isinstance(r.get(k), list) for r in x if k in r)]
            out.append(Table(path, cols, [[fmt(r.get(k)) if k in r else "" for k in cols] for r in x]))
        elif isinstance(x, dict):
            if x and all(isinstance(v, dict) and not any(isinstance(w, (dict, list)) for w in v.values())
                         for v in x.values()):
                cols = list(dict.fromkeys(k for v in x.values() for k in v))
                out.append(Table(path or "results", ["", *cols],
                                 [[k, *(fmt(v.get(c)) if c in v else "" for c in cols)] for k, v in x.items()]))
                return
            scal = {k: v for k, v in x.items() if not isinstance(v, (dict, list))}
            if scal and path:
                out.append(Table(path, ["name", "value"], [[k, fmt(v)] for k, v in scal.items()]))
            for k, v in x.items():
                if isinstance(v, (dict, list)):
                    walk(v, f"{path}.{k}" if path else k)

    walk({k: v for k, v in results.items() if isinstance(v, (dict, list)) and k != "charts"}, "")
    return out


def _matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _figure(w: float = 6.4, h: float = 3.4) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h))
    return fig, fig.add_subplot(111)


def _svg(fig: Any) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "livepapers"}):
        fig.tight_layout()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return buf.getvalue()


def lines_chart(results: dict, spec: dict) -> str:
    """x against y per group (or per y column); log–log with a fitted slope per line when ``loglog``."""
    recs = [r for r in _at(results, spec["records"]) if isinstance(r, dict)]
    x, ys, group = spec["x"], list(spec["y"]), spec.get("group")
    fig, ax = _figure()
    series: dict[str, list[tuple[float, float]]] = {}
    refs: list[tuple[str, float]] = []
    for r in recs:
        for y in ys:
            if not _is_num(r.get(y)):
                continue
            name = str(r.get(group)) if group else y
            name = name if len(ys) == 1 or not group else f"{name} · {y}"
            if r.get(x) is None:
                refs.append((str(r.get(spec.get("ref_label", ""), name)), float(r[y])))
            elif _is_num(r.get(x)):
                series.setdefault(name, []).append((float(r[x]), float(r[y])))
    loglog = bool(spec.get("loglog"))
    for name, pts in series.items():
        pts.sort()
        xs, yv = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
        label = name
        if loglog and len(pts) >= 2 and np.all(xs > 0) and np.all(yv > 0):
            label += f" (slope {fit_loglog_slope(xs, yv):.2f})"
        ax.plot(xs, yv, marker="o", ms=4, lw=1.6, label=label)
    for name, v in refs:
        ax.axhline(v, color="#57606a", ls="--", lw=1.2, label=f"{name} (reference)")
    if loglog:
        from matplotlib.ticker import NullFormatter, ScalarFormatter

        ax.set_xscale("log")
        ax.set_yscale("log")
        xs_all = sorted({p[0] for pts in series.values() for p in pts})
        if 2 <= len(xs_all) <= 12:  # tick the measured x values themselves, in plain numbers
            ax.set_xticks(xs_all)
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(spec.get("xlabel", x))
    ax.set_ylabel(spec.get("ylabel", ", ".join(ys)))
    ax.grid(True, which="major", alpha=0.3)
    if series or refs:
        ax.legend(fontsize=8, frameon=False)
    return _svg(fig)


def bars_chart(results: dict, spec: dict) -> str:
    """Horizontal bars: one group per category, one bar per series."""
    cats: list[str] = []
    data: dict[str, dict[str, float]] = {}  # series -> category -> value
    if "records" in spec:
        for r in _at(results, spec["records"]):
            cat = spec.get("category", "{}").format(**r)
            base, k = cat, 1
            while cat in cats:  # two records with the same label: number the later ones
                k += 1
                cat = f"{base} ({k})"
            cats.append(cat)
            for k, v in r.items():
                if _matches(k, spec["columns"]) and _is_num(v):
                    data.setdefault(k, {})[cat] = float(v)
    elif "dict" in spec:
        d = _at(results, spec["dict"])
        for k, v in d.items():
            if _matches(k, spec["keys"]) and _is_num(v):
                cats.append(k)
                data.setdefault(spec.get("series", spec["dict"]), {})[k] = float(v)
    else:
        d = _at(results, spec.get("each", ""))
        for k, v in d.items():
            if isinstance(v, dict) and _is_num(v.get(spec["value"])):
                cats.append(k)
                data.setdefault(spec["value"], {})[k] = float(v[spec["value"]])
    if len(data) > 1:  # name the series by what tells them apart: drop the prefix they share
        names = list(data)
        cut = next((i for i, chars in enumerate(zip(*names)) if len(set(chars)) > 1), min(map(len, names)))
        cut = names[0].rfind("_", 0, cut + 1) + 1 if cut < min(map(len, names)) else 0
        data = {n[cut:] or n: v for n, v in data.items()}
    n_s = max(len(data), 1)
    fig, ax = _figure(6.4, 0.6 + 0.28 * len(cats) * n_s + 0.15 * len(cats))
    h = 0.8 / n_s
    for j, (series, vals) in enumerate(data.items()):
        idx = [i for i, c in enumerate(cats) if c in vals]
        ax.barh([i + (j - (n_s - 1) / 2) * h for i in idx], [vals[cats[i]] for i in idx], height=h * 0.92,
                label=series)
        for i in idx:
            v = vals[cats[i]]
            ax.annotate(f"{v:,.0f}" if 1e3 <= abs(v) < 1e7 else fmt(v), (v, i + (j - (n_s - 1) / 2) * h),
                        xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
    ax.set_yticks(range(len(cats)), cats, fontsize=8)
    ax.invert_yaxis()
    if spec.get("log"):
        ax.set_xscale("log")
    ax.set_xlabel(spec.get("xlabel", ""))
    ax.grid(True, axis="x", which="major", alpha=0.3)
    if len(data) > 1:
        ax.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=min(len(data), 4))
    ax.margins(x=0.15)
    return _svg(fig)


def load(path: Any, name: str) -> Bench | None:
    """The benchmark of ``name`` (a results file stem) drawn and tabulated; None when the file does not exist."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        results = doc["results"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return Bench(name, "", errors=[f"{path.name}: unreadable ({type(e).__name__})"])
    env = doc.get("env", {}) if isinstance(doc.get("env"), dict) else {}
    rev = str(env.get("git_revision") or "?")[:10] + (" (dirty)" if env.get("git_dirty") else "")
    machine = (f"{env.get('cpu', '?')}, {env.get('torch_threads', '?')} torch thread(s), torch {env.get('torch', '?')}"
               f"; git {rev}; {env.get('time_utc', '?')}")
    bench = Bench(name, machine, tables=tables(results))
    for spec in results.get("charts") or specs().get(name, []):
        draw = {"lines": lines_chart, "bars": bars_chart}.get(spec.get("kind", ""))
        try:
            if draw is None:
                raise ValueError(f"unknown chart kind {spec.get('kind')!r}")
            bench.charts.append((spec.get("title", ""), draw(results, spec)))
        except (KeyError, TypeError, ValueError, IndexError) as e:  # a results file of another shape: say so
            bench.errors.append(f"chart {spec.get('title', '?')!r}: {type(e).__name__}: {e}")
    return bench
