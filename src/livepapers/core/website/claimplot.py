"""Claim plots: every check of a claim (each part of an AllOf or AnyOf, and each precondition) on its own number line.

A part's per-seed statistics are recomputed from the run's per-seed metrics with the claim's own check, so the
plot shows exactly what was judged: the seeds as dots, the mean with its 95 % t-interval (seed rule ``mean``) or
the median (``median``), the passing region shaded, thresholds as lines; a log axis where the values span
decades. Failing parts come first. :func:`claim_parts` is the data, :func:`draw` the SVG (matplotlib).
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from livepapers.core.claims import (
    AllOf,
    AnyOf,
    AtLeast,
    Band,
    Claim,
    Order,
    Ratio,
    Slope,
    _fmt,
    _judge_simple,
    _stat_or_none,
    describe_rule,
)
from livepapers.core.stats import mean_interval

STATUS_RANK = {"fails": 0, "inconclusive": 1, "holds": 2}
COLOR = {"holds": "#1a7f37", "fails": "#cf222e", "inconclusive": "#9a6700"}
WORDS = {"holds": "passes", "fails": "FAILS", "inconclusive": "undecided"}

Labeller = Callable[[str], str]


@dataclass
class Part:
    """One simple check of a claim, ready to draw (values in display units)."""

    label: str  # what is on the axis, in words
    expectation: str  # what it should be, in words
    describe: str  # the check as the engine writes it
    role: str  # "claim", "alternative" (a member of an AnyOf: one of them must pass) or "precondition"
    status: str  # holds | fails | inconclusive
    reason: str = ""
    values: list[float] = field(default_factory=list)  # per seed (or per repeat)
    passes: list[bool] = field(default_factory=list)  # whether each value passes the check on its own
    centre: float | None = None  # the judged value: mean or median
    lo: float | None = None  # 95 % interval of the mean
    hi: float | None = None
    region: tuple[float | None, float | None] = (None, None)  # the passing region (None: open)
    rule: str = "mean"
    log: bool = False
    unit: str = ""

    @property
    def title(self) -> str:
        role = {"precondition": "precondition · ", "alternative": "one alternative · "}.get(self.role, "")
        return f"{role}{self.label}"


def _op_name(x: object, label: Labeller) -> str:
    return label(x) if isinstance(x, str) else _fmt(float(x))


def _shape(check: Band | Order | Ratio | Slope, label: Labeller) -> tuple[str, str, float, tuple]:
    """``(axis label, expectation in words, offset added to the statistic, passing region)`` of one check."""
    if isinstance(check, Order):
        a = label(check.a)
        offset = 0.0 if isinstance(check.b, str) else float(check.b)
        b = label(check.b) if isinstance(check.b, str) else None
        m = check.margin
        edge = (m if check.op.startswith(">") else -m) + offset
        region = (edge, None) if check.op.startswith(">") else (None, edge)
        verb = {">": "greater than", ">=": "at least", "<": "smaller than", "<=": "at most"}[check.op]
        if b is None:  # a against a number: show a itself
            return a, f"should be {verb} {_fmt(edge)}", offset, region
        by = f" by {'more than ' if check.op in '<>' else 'at least '}{_fmt(m)}" if m else ""
        return f"{a} − {b}", f"{a} should be {verb.replace('at least', 'above').replace('at most', 'below')} " \
                            f"{b}{by}", 0.0, region
    lo, hi = check.lo, check.hi
    if isinstance(check, Ratio):
        axis = f"{_op_name(check.num, label)} / {_op_name(check.den, label)}"
    elif isinstance(check, Slope):
        ys = [y for y in check.y if isinstance(y, str)]
        axis = f"{check.name} (log–log)" + (f" of {label(ys[0])} …" if ys and check.name == "slope" else "")
    else:
        axis = label(check.metric)
    if lo is not None and hi is not None:
        a, b = _pair(lo, hi)
        words = f"should lie between {a} and {b}"
    elif lo is not None:
        words = f"should be at least {_fmt(lo)}"
    else:
        words = f"should be at most {_fmt(hi)}"
    return axis, words, 0.0, (lo, hi)


def _pair(lo: float, hi: float) -> tuple[str, str]:
    """Both bounds with enough digits to tell them apart (a band 1794.33–1794.35 is not "1794 to 1794")."""
    a, b = _fmt(lo), _fmt(hi)
    digits = 5
    while a == b and digits < 12:
        a, b = f"{lo:.{digits}g}", f"{hi:.{digits}g}"
        digits += 1
    return a, b


def _unit(check: Band | Order | Ratio | Slope, units: Mapping[str, str]) -> str:
    if isinstance(check, Band):
        return units.get(check.metric, "")
    if isinstance(check, Order) and isinstance(check.a, str):
        return units.get(check.a, "")
    return ""


def _wants_log(numbers: Sequence[float]) -> bool:
    xs = [x for x in numbers if x is not None and math.isfinite(x)]
    return bool(xs) and min(xs) > 0 and max(xs) / min(xs) >= 100


def part_of(check: Band | Order | Ratio | Slope, per_seed: Sequence[Mapping[str, float]], over_seeds: object,
            label: Labeller, units: Mapping[str, str] | None = None, role: str = "claim") -> Part:
    """One simple check judged on the per-seed metrics as the engine judges it, with what the plot needs."""
    status, _, reason, _ = _judge_simple(check, per_seed, over_seeds)
    axis, words, offset, region = _shape(check, label)
    stats = [s for s, _ in (_stat_or_none(check, m) for m in per_seed) if s is not None]
    values = [s + offset for s in stats]
    part = Part(label=axis, expectation=words, describe=check.describe(), role=role, status=status, reason=reason,
                values=values, passes=[check.passes(s) for s in stats], region=region,
                unit=_unit(check, units or {}),
                rule=describe_rule(over_seeds) if isinstance(over_seeds, AtLeast) else str(over_seeds))
    if values and over_seeds in ("mean", "median"):  # "every" and AtLeast judge each seed: no summary drawn
        if over_seeds == "median":
            part.centre = float(np.median(values))
        else:
            part.centre, part.lo, part.hi = mean_interval(values)
            if len(values) == 1:
                part.lo = part.hi = None
    part.log = _wants_log([*values, *(x for x in region if x is not None)])
    return part


def _leaves(check: object, in_any: bool = False) -> list[tuple[Band | Order | Ratio | Slope, bool]]:
    """The simple checks of a check's tree, each with whether it sits inside an AnyOf."""
    if isinstance(check, (AllOf, AnyOf)):
        return [x for c in check.checks for x in _leaves(c, in_any or isinstance(check, AnyOf))]
    return [(check, in_any)]


def claim_parts(claim: Claim, per_seed: Sequence[Mapping[str, float]], label: Labeller | None = None,
                units: Mapping[str, str] | None = None) -> list[Part]:
    """Every simple check of ``claim`` (the parts of its AllOf / AnyOf, nested, then its preconditions), failing
    ones first; a part inside an AnyOf has the role "alternative"."""
    if claim.check is None:
        return []
    label = label or (lambda n: n)
    own = _leaves(claim.check)
    pre = [c for r in claim.requires for c, _ in _leaves(r)]
    parts = [part_of(c, per_seed, claim.over_seeds, label, units, role="alternative" if alt else "claim")
             for c, alt in own]
    parts += [part_of(c, per_seed, claim.over_seeds, label, units, role="precondition") for c in pre]
    return sorted(parts, key=lambda p: STATUS_RANK.get(p.status, 1))  # stable: the claim's order within a status


# ------------------------------------------------------------------------------------------------------------------
# drawing
# ------------------------------------------------------------------------------------------------------------------


def _limits(p: Part) -> tuple[float, float]:
    xs = [x for x in (*p.values, p.lo, p.hi, *p.region) if x is not None and math.isfinite(x)]
    if p.log:
        xs = [x for x in xs if x > 0]
    if not xs:
        return (0.1, 10.0) if p.log else (-1.0, 1.0)
    lo, hi = min(xs), max(xs)
    if p.log:
        llo, lhi = math.log10(lo), math.log10(hi)
        pad = max(0.15 * (lhi - llo), 0.3)
        return 10 ** (llo - pad), 10 ** (lhi + pad)
    span = hi - lo or max(abs(hi), 1.0) * 0.5
    pad = 0.12 * span
    return lo - pad, hi + pad


def _wrap(s: str, width: int = 96) -> str:
    return "\n".join(textwrap.wrap(s, width)) or s


def _centre(p: Part) -> str:
    """The judged value, with as many digits as the band's bounds need."""
    lo, hi = p.region
    if lo is not None and hi is not None and p.centre is not None:
        digits = max(len(x.replace("-", "").replace(".", "")) for x in _pair(lo, hi))
        return f"{p.centre:.{max(digits, 4)}g}"
    return _fmt(p.centre)


def _short(s: str, width: int) -> str:
    return s if len(s) <= width else s[: width - 1] + "…"


def draw(parts: Sequence[Part], *, width_in: float = 7.6) -> str:
    """The parts as one SVG (text kept as text); each part is a ``<g id="part-<i>-<status>">`` group with its
    ``pass-region-<i>``, ``seeds-<i>`` and ``interval-<i>`` elements, so tests and readers can find them."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    n = max(len(parts), 1)
    head_in, axis_in, tick_in, top_in = 0.5, 0.42, 0.3, 0.08  # per row: titles, the number line, its tick labels
    row_in = head_in + axis_in + tick_in
    height = top_in + n * row_in
    fig = Figure(figsize=(width_in, height))
    fig.patch.set_alpha(0.0)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "livepapers", "font.size": 8.5,
                                "font.family": "DejaVu Sans", "axes.edgecolor": "#57606a",
                                "xtick.color": "#24292f", "axes.labelcolor": "#24292f"}):
        for i, p in enumerate(parts):
            bottom = height - top_in - i * row_in - head_in - axis_in
            ax = fig.add_axes((0.03, bottom / height, 0.94, axis_in / height))
            ax.set_gid(f"part-{i}-{p.status}")
            color = COLOR.get(p.status, "#57606a")
            if p.log:
                ax.set_xscale("log")
            xmin, xmax = _limits(p)
            ax.set_xlim(xmin, xmax)
            ax.set_ylim(-1, 1)
            if not p.log:
                ax.ticklabel_format(axis="x", useOffset=False)
            ax.set_yticks([])
            for s in ("left", "right", "top"):
                ax.spines[s].set_visible(False)
            rlo, rhi = p.region
            span = ax.axvspan(rlo if rlo is not None else xmin, rhi if rhi is not None else xmax,
                              color="#2da44e", alpha=0.16, lw=0)
            span.set_gid(f"pass-region-{i}")
            for t in (rlo, rhi):
                if t is not None and xmin <= t <= xmax:
                    ax.axvline(t, color="#1a7f37", lw=1.2, ls="--")
            if p.values:
                k = len(p.values)
                ys = np.linspace(-0.55, 0.55, k) if k > 1 else np.zeros(1)
                if p.centre is None:  # each seed judged on its own: colour it by its own outcome
                    colors = [COLOR["holds"] if ok else COLOR["fails"] for ok in p.passes] or color
                    size = 34
                else:
                    colors, size = color, 22
                seeds = ax.scatter(p.values, ys, s=size, c=colors, alpha=0.8, edgecolors="white", linewidths=0.6,
                                   zorder=3)
                seeds.set_gid(f"seeds-{i}")
            if p.centre is not None:
                if p.lo is not None and p.hi is not None and p.hi > p.lo:
                    lo = p.lo if not (p.log and p.lo <= 0) else xmin  # a log axis cannot show a bound <= 0
                    (ci,) = ax.plot([lo, p.hi], [0, 0], color="#24292f", lw=2.2, solid_capstyle="butt", zorder=4)
                    ci.set_gid(f"interval-{i}")
                    for e in (lo, p.hi):
                        ax.plot([e, e], [-0.25, 0.25], color="#24292f", lw=1.4, zorder=4)
                (c,) = ax.plot([p.centre], [0], marker="D", ms=6.5, color=color, mec="#24292f", mew=0.8, zorder=5)
                c.set_gid(f"centre-{i}")
            elif not p.values:
                ax.text(0.5, 0, "no per-seed values in this run", transform=ax.transAxes, ha="center", va="center",
                        color="#57606a", style="italic")
            what = "median" if p.rule == "median" else "mean" if len(p.values) > 1 else "value"
            judged = "" if p.centre is None else f"{what} {_centre(p)}{(' ' + p.unit) if p.unit else ''}"
            if p.lo is not None and p.hi is not None and p.hi > p.lo:
                judged += f", 95 % interval [{_fmt(p.lo)}, {_fmt(p.hi)}]"
            head = f"{WORDS.get(p.status, p.status)}  ·  {_short(p.title, 88)}"
            ax.text(0, 1 + 0.27 / axis_in, head, transform=ax.transAxes, fontsize=9, color=color, fontweight="bold",
                    va="bottom")
            if p.centre is None and p.values:
                judged = f"{sum(p.passes)} of {len(p.values)} {'repeats' if p.rule == 'repeats' else 'seeds'} pass"
            sub = f"{p.expectation}" + (f"  ·  {judged}" if judged else "") + f"  ·  n = {len(p.values)}"
            ax.text(0, 1 + 0.06 / axis_in, _short(sub, 124), transform=ax.transAxes, fontsize=7.8, color="#57606a",
                    va="bottom")
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return buf.getvalue()
