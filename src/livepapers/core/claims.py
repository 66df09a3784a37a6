"""Claims and verdicts: a paper's headline claims as pre-registered checks on run metrics.

A :class:`Claim` names the metric(s) it reads and a *check* on the shape of the result:

* :class:`Band` — a level within a band, ``lo <= x <= hi``;
* :class:`Order` — an ordering, ``a < b - margin`` (or ``>``, ``<=``, ``>=``); ``b`` may be a number;
* :class:`Ratio` — ``lo <= a / b <= hi``;
* :class:`Slope` — the least-squares slope of ``log|y|`` against ``log|x|`` within ``[lo, hi]``;
* :class:`AllOf` — several checks that must all hold;
* :class:`AnyOf` — alternatives of which at least one must hold (the spec's "A **or** B").

``AllOf`` and ``AnyOf`` nest (an ``AnyOf`` inside an ``AllOf`` and the other way round). Each member is judged
on its own with the claim's seed rule, then combined in three-valued logic: ``AllOf`` holds if every member
holds and fails if one fails; ``AnyOf`` holds if one member holds and fails if every member fails; otherwise
``inconclusive``. A disjunction is therefore never judged on a per-seed "A or B" statistic (that would let A pass
on some seeds and B on the others while neither holds on the seed means).

:func:`evaluate` turns a list of per-seed metric dicts (one dict per paired seed) into one
:class:`Verdict` per claim. Each check computes a *statistic* per seed (the value, the difference, the
ratio, the slope) and compares it with its threshold:

* ``over_seeds="every"``: ``holds`` if every seed passes, ``fails`` if every seed fails, otherwise
  ``inconclusive``;
* ``over_seeds="mean"``: the seed mean of the statistic with its t-interval
  ``mean ± t(0.975, n-1) · sd / sqrt(n)``: ``holds`` if the whole interval passes, ``fails`` if the
  whole interval fails, ``inconclusive`` if it straddles the threshold. With one seed the value itself
  is judged;
* ``over_seeds="median"``: the median of the per-seed statistics is judged as a value;
* ``over_seeds=AtLeast(k)``: ``holds`` when at least ``k`` seeds pass, ``fails`` when they cannot. A seed
  passes when every part of the check (and every precondition) passes on it together; with an ``AnyOf`` each
  alternative is counted on its own (``AllOf(x, AnyOf(a, b))`` = ``x and a`` or ``x and b``, each needing ``k``
  seeds).

A claim may declare *preconditions* (``requires=``): checks on sanity metrics judged with the claim's own
seed rule before the claim; unless all hold, the verdict is ``inconclusive`` with the reason in words and the
claim's own measurement still reported.

A missing or non-finite metric makes the verdict ``inconclusive`` and names the metric. A claim with
``check=None`` is ``not_checkable`` with its stated reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from livepapers.core.stats import fit_loglog_slope, mean_interval, t_quantile  # noqa: F401 (re-exported)

Status = Literal["holds", "fails", "inconclusive", "not_checkable"]
STATUSES: tuple[str, ...] = ("holds", "fails", "inconclusive", "not_checkable")
Number = float | int
Operand = str | Number

class MissingMetric(LookupError):
    """A check reads a metric that is absent or not finite."""


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return str(x)
    ax = abs(x)
    if ax != 0 and (ax < 1e-3 or ax >= 1e5):
        return f"{x:.3g}"
    return f"{x:.4g}"


def _value(metrics: Mapping[str, float], operand: Operand) -> float:
    if isinstance(operand, (int, float)) and not isinstance(operand, bool):
        return float(operand)
    if operand not in metrics:
        raise MissingMetric(f"metric {operand!r} missing")
    v = metrics[operand]
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise MissingMetric(f"metric {operand!r} is not a number ({v!r})") from None
    if not math.isfinite(v):
        raise MissingMetric(f"metric {operand!r} is {v}")
    return v


# ---------------------------------------------------------------------------------------------
# checks: each has .metrics (names read), .statistic(metrics) -> float, .passes(stat) -> bool,
# .describe() -> str (the expectation in words), .label (what the statistic is)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """``lo <= metric <= hi`` (either bound may be omitted)."""

    metric: str
    lo: float | None = None
    hi: float | None = None

    def __post_init__(self) -> None:
        if self.lo is None and self.hi is None:
            raise ValueError(f"Band({self.metric!r}) needs lo or hi")
        if self.lo is not None and self.hi is not None and self.lo > self.hi:
            raise ValueError(f"Band({self.metric!r}): lo={self.lo} > hi={self.hi}")

    @property
    def metrics(self) -> tuple[str, ...]:
        return (self.metric,)

    @property
    def label(self) -> str:
        return self.metric

    def statistic(self, m: Mapping[str, float]) -> float:
        return _value(m, self.metric)

    def passes(self, s: float) -> bool:
        return (self.lo is None or s >= self.lo) and (self.hi is None or s <= self.hi)

    def describe(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f"{_fmt(self.lo)} ≤ {self.metric} ≤ {_fmt(self.hi)}"
        if self.lo is not None:
            return f"{self.metric} ≥ {_fmt(self.lo)}"
        return f"{self.metric} ≤ {_fmt(self.hi)}"


_OPS = {"<": lambda d, mg: d < -mg, "<=": lambda d, mg: d <= -mg,
        ">": lambda d, mg: d > mg, ">=": lambda d, mg: d >= mg}


@dataclass(frozen=True)
class Order:
    """An ordering ``a op b`` with a margin: ``a < b - margin``, ``a > b + margin``, ...

    The statistic is the paired difference ``a - b`` per seed.
    """

    a: str
    op: Literal["<", "<=", ">", ">="]
    b: Operand
    margin: float = 0.0

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"Order op must be one of {sorted(_OPS)}, got {self.op!r}")
        if self.margin < 0:
            raise ValueError(f"Order margin must be >= 0, got {self.margin}")

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(x for x in (self.a, self.b) if isinstance(x, str))

    @property
    def label(self) -> str:
        if not isinstance(self.b, str) and float(self.b) == 0.0:
            return self.a  # a − 0 is a itself
        return f"{self.a} − {self.b if isinstance(self.b, str) else _fmt(float(self.b))}"

    def statistic(self, m: Mapping[str, float]) -> float:
        return _value(m, self.a) - _value(m, self.b)

    def passes(self, s: float) -> bool:
        return bool(_OPS[self.op](s, self.margin))

    def describe(self) -> str:
        b = self.b if isinstance(self.b, str) else _fmt(float(self.b))
        if self.margin:
            sign = "-" if self.op.startswith("<") else "+"
            return f"{self.a} {self.op} {b} {sign} {_fmt(self.margin)}"
        return f"{self.a} {self.op} {b}"


@dataclass(frozen=True)
class Ratio:
    """``lo <= a / b <= hi``; the statistic is the paired ratio per seed."""

    num: Operand
    den: Operand
    lo: float | None = None
    hi: float | None = None

    def __post_init__(self) -> None:
        if self.lo is None and self.hi is None:
            raise ValueError(f"Ratio({self.num!r}/{self.den!r}) needs lo or hi")

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(x for x in (self.num, self.den) if isinstance(x, str))

    @property
    def label(self) -> str:
        return f"{self.num} / {self.den}"

    def statistic(self, m: Mapping[str, float]) -> float:
        den = _value(m, self.den)
        if den == 0:
            raise MissingMetric(f"ratio denominator {self.den!r} is 0")
        return _value(m, self.num) / den

    def passes(self, s: float) -> bool:
        return (self.lo is None or s >= self.lo) and (self.hi is None or s <= self.hi)

    def describe(self) -> str:
        r = f"{self.num} / {self.den}"
        if self.lo is not None and self.hi is not None:
            return f"{_fmt(self.lo)} ≤ {r} ≤ {_fmt(self.hi)}"
        if self.lo is not None:
            return f"{r} ≥ {_fmt(self.lo)}"
        return f"{r} ≤ {_fmt(self.hi)}"


@dataclass(frozen=True)
class Slope:
    """Fitted log–log slope: least squares of ``log|y_i|`` on ``log|x_i|`` within ``[lo, hi]``.

    ``x`` and ``y`` are equal-length tuples whose items are metric names or numbers (e.g. the step
    sizes of a sweep as numbers, the measured errors as metric names).
    """

    x: tuple[Operand, ...]
    y: tuple[Operand, ...]
    lo: float | None = None
    hi: float | None = None
    name: str = "slope"

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y) or len(self.x) < 2:
            raise ValueError(f"Slope needs x and y of equal length >= 2, got {len(self.x)} and {len(self.y)}")
        if self.lo is None and self.hi is None:
            raise ValueError("Slope needs lo or hi")

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(v for v in (*self.x, *self.y) if isinstance(v, str))

    @property
    def label(self) -> str:
        return self.name

    def statistic(self, m: Mapping[str, float]) -> float:
        xs = np.array([_value(m, v) for v in self.x])
        ys = np.array([_value(m, v) for v in self.y])
        if np.any(xs == 0) or np.any(ys == 0):
            raise MissingMetric(f"{self.name}: a value is 0, log undefined")
        return fit_loglog_slope(xs, ys)

    def passes(self, s: float) -> bool:
        return (self.lo is None or s >= self.lo) and (self.hi is None or s <= self.hi)

    def describe(self) -> str:
        ys = self.y[0] if isinstance(self.y[0], str) else "y"
        what = f"log–log {self.name} of {ys}…"
        if self.lo is not None and self.hi is not None:
            return f"{_fmt(self.lo)} ≤ {what} ≤ {_fmt(self.hi)}"
        return f"{what} ≥ {_fmt(self.lo)}" if self.lo is not None else f"{what} ≤ {_fmt(self.hi)}"


def _member(c: Check, outer: type) -> str:
    """A member's description inside a combination: a combination of the other kind in parentheses."""
    return f"({c.describe()})" if isinstance(c, (AllOf, AnyOf)) and not isinstance(c, outer) else c.describe()


def _check_members(kind: str, checks: object) -> None:
    if not isinstance(checks, tuple) or not checks:
        raise ValueError(f"{kind} needs a non-empty tuple of checks, got {checks!r}")
    bad = [c for c in checks if not isinstance(c, (Band, Order, Ratio, Slope, AllOf, AnyOf))]
    if bad:
        raise ValueError(f"{kind} members must be Band, Order, Ratio, Slope, AllOf or AnyOf, got {bad[0]!r}")


@dataclass(frozen=True)
class AllOf:
    """Several checks that must all hold (each judged on its own, then combined: fails if one fails)."""

    checks: tuple[Check, ...]

    def __post_init__(self) -> None:
        _check_members("AllOf", self.checks)

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for c in self.checks for n in c.metrics))

    def describe(self) -> str:
        return " and ".join(_member(c, AllOf) for c in self.checks)


@dataclass(frozen=True)
class AnyOf:
    """Alternatives of which at least one must hold (the spec's "A or B").

    Each member is judged on its own with the claim's seed rule, then combined: ``holds`` if any member holds,
    ``fails`` if every member fails, otherwise ``inconclusive``.
    """

    checks: tuple[Check, ...]

    def __post_init__(self) -> None:
        _check_members("AnyOf", self.checks)

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for c in self.checks for n in c.metrics))

    def describe(self) -> str:
        return " or ".join(_member(c, AnyOf) for c in self.checks)


Check = Band | Order | Ratio | Slope | AllOf | AnyOf
Simple = Band | Order | Ratio | Slope


def _nodes(check: Check) -> tuple[Check, ...]:
    """Every node of a check's tree: itself, then its members' nodes (depth first)."""
    if isinstance(check, (AllOf, AnyOf)):
        return (check, *(n for c in check.checks for n in _nodes(c)))
    return (check,)


@dataclass(frozen=True)
class Metric:
    """A declared metric: what ``run()`` (or ``measure()``) returns under a name, declared once per paper.

    ``METRICS = {name: Metric(doc, unit, higher_is_better)}`` sits beside ``CLAIMS``; claims and preconditions
    may read declared metrics only, and the reports use ``doc`` as the label.

    Attributes:
        doc: what it measures, in a few words ("test accuracy of the dense teacher").
        unit: "", "%", "s", "MB", "FLOPs" ...
        higher_is_better: the direction (None for diagnostics with no direction, e.g. a slope).
        machine: True for what depends on the machine and its load (times, memory, throughput): exempt from the
            same-seed-same-value contract check.
        profiles: the profiles whose runs return it (None: every profile), e.g. ``("extended",)``.
    """

    doc: str
    unit: str = ""
    higher_is_better: bool | None = None
    machine: bool = False
    profiles: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.doc.strip():
            raise ValueError("Metric needs a doc (what it measures)")
        if self.profiles is not None and not isinstance(self.profiles, tuple):
            raise ValueError(f"Metric profiles must be a tuple of profile names, got {self.profiles!r}")

    def produced_in(self, profile: str) -> bool:
        """Whether a run of ``profile`` returns this metric (``profiles=None``: every profile)."""
        return self.profiles is None or profile in self.profiles


def profiles_where(profiles: Mapping[str, Any], produced: Any) -> tuple[str, ...] | None:
    """For ``Metric(profiles=...)``: the names of the profiles whose config makes ``produced(config)`` true,
    or None when every profile does (``profiles`` is the paper's ``PROFILES``)."""
    names = tuple(name for name, prof in profiles.items() if produced(getattr(prof, "config", prof)))
    return None if len(names) == len(profiles) else names


def check_declared(claims: Sequence[Claim], metrics: Mapping[str, Metric]) -> None:
    """Raise ``ValueError`` naming every claim or precondition that reads an undeclared metric."""
    bad = {c.id: sorted(set(c.all_metrics) - set(metrics)) for c in claims}
    bad = {k: v for k, v in bad.items() if v}
    if bad:
        raise ValueError("claims read undeclared metrics (add them to METRICS): "
                         + "; ".join(f"{k}: {', '.join(v)}" for k, v in bad.items()))


@dataclass(frozen=True)
class AtLeast:
    """``over_seeds=AtLeast(k)``: holds when at least ``k`` seeds pass, fails when they cannot.

    Seeds whose metric is missing count as undecided: ``holds`` once ``k`` seeds pass, ``fails`` once
    ``k`` can no longer be reached even if every undecided seed passed, ``inconclusive`` between; a run with
    fewer than ``k`` seeds is ``inconclusive``.
    """

    k: int

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"AtLeast needs k >= 1, got {self.k!r}")

    def __str__(self) -> str:
        return f"at least {self.k} seeds"


OverSeeds = Literal["mean", "every", "median"] | AtLeast
_RULES = ("mean", "every", "median")


def describe_rule(over_seeds: OverSeeds) -> str:
    """The seed rule in words, for reports."""
    if isinstance(over_seeds, AtLeast):
        return str(over_seeds)
    return {"mean": "95 % t-interval of the seed mean", "every": "every seed",
            "median": "median over seeds"}[over_seeds]


@dataclass(frozen=True)
class Claim:
    """One headline claim of a paper, with a pre-registered check.

    Attributes:
        id: the spec's claim id (``C1``, ``R3``, ``M1b``).
        statement: one sentence, in our words.
        source: where the paper shows it (table / figure / section).
        paper_value: what the paper reports, as text.
        check: the check on run metrics, or ``None`` when not checkable offline.
        over_seeds: how the per-seed statistics are combined: ``"mean"`` (t-interval of the seed mean),
            ``"every"`` (each seed must pass), ``"median"`` (the median is judged) or ``AtLeast(k)``.
        requires: preconditions — checks on sanity metrics (the model learned, the solver converged) that
            the claim presupposes, pre-registered like the threshold and judged with the same ``over_seeds``
            rule. Unless every one holds the claim is ``inconclusive`` ("precondition not met: …"), with
            its own measured values still reported. The claim's own check never moves here.
        not_checkable: why the claim cannot be checked here (required when ``check`` is None).
        weight: relative importance, for summaries.
    """

    id: str
    statement: str
    source: str
    paper_value: str
    check: Check | None
    over_seeds: OverSeeds = "mean"
    requires: tuple[Check, ...] = ()
    not_checkable: str = ""
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.over_seeds, AtLeast) or self.over_seeds in _RULES):
            raise ValueError(f"Claim {self.id}: over_seeds must be one of {', '.join(_RULES)} or AtLeast(k), "
                             f"got {self.over_seeds!r}")
        if self.check is None and not self.not_checkable:
            raise ValueError(f"Claim {self.id}: a claim without a check needs a not_checkable reason")
        if not isinstance(self.requires, tuple):
            raise ValueError(f"Claim {self.id}: requires must be a tuple of checks, got {type(self.requires).__name__}")
        if self.check is None and self.requires:
            raise ValueError(f"Claim {self.id}: a not-checkable claim has no preconditions")
        parts = set() if self.check is None else set(_nodes(self.check))
        for r in self.requires:
            if any(c in parts for c in _nodes(r)):
                raise ValueError(f"Claim {self.id}: its own check (or a part of it) cannot be a precondition")

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics the claim's own check reads."""
        return () if self.check is None else self.check.metrics

    @property
    def required_metrics(self) -> tuple[str, ...]:
        """The metrics its preconditions read."""
        return tuple(dict.fromkeys(n for r in self.requires for n in r.metrics))

    @property
    def all_metrics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.metrics, *self.required_metrics)))


@dataclass(frozen=True)
class Verdict:
    """The outcome of one claim on one run.

    ``preconditions`` holds one dict per precondition: ``{"check", "status", "measured", "reason"}``;
    ``basis`` says what the values are over: ``"seeds"`` or ``"repeats"`` (a once-per-run measurement).
    """

    claim_id: str
    status: Status
    measured: str
    expected: str
    reason: str = ""
    n_seeds: int = 0
    values: tuple[float, ...] = field(default=())
    preconditions: tuple[dict, ...] = field(default=())
    basis: str = "seeds"

    def to_dict(self) -> dict:
        return {"claim_id": self.claim_id, "status": self.status, "measured": self.measured,
                "expected": self.expected, "reason": self.reason, "n_seeds": self.n_seeds,
                "values": list(self.values), "preconditions": [dict(p) for p in self.preconditions],
                "basis": self.basis}

    @classmethod
    def from_dict(cls, d: Mapping) -> Verdict:
        return cls(d["claim_id"], d["status"], d.get("measured", ""), d.get("expected", ""),
                   d.get("reason", ""), int(d.get("n_seeds", 0)), tuple(d.get("values", ())),
                   tuple(d.get("preconditions", ())), d.get("basis", "seeds"))


def _stat_or_none(check: Band | Order | Ratio | Slope, m: Mapping[str, float]) -> tuple[float | None, str]:
    try:
        return check.statistic(m), ""
    except MissingMetric as e:
        return None, str(e)


def _judge_simple(check: Band | Order | Ratio | Slope, per_seed: Sequence[Mapping[str, float]],
                  over_seeds: OverSeeds) -> tuple[Status, str, str, tuple[float, ...]]:
    """``(status, measured, reason, per-seed statistics)`` of one simple check under a seed rule."""
    pairs = [_stat_or_none(check, m) for m in per_seed]
    known = [s for s, _ in pairs if s is not None]
    missing = [why for s, why in pairs if s is None]
    n = len(pairs)
    label = check.label
    if isinstance(over_seeds, AtLeast):
        k = over_seeds.k
        p = sum(check.passes(s) for s in known)
        measured = (f"{label}: {p} of {n} seeds pass" + (f" ({len(missing)} undecided)" if missing else "")
                    + (f"; mean {_fmt(float(np.mean(known)))}" if known else ""))
        if n < k:
            return "inconclusive", measured, f"only {n} seeds run, {k} needed", tuple(known)
        if p >= k:
            return "holds", measured, "", tuple(known)
        if p + len(missing) < k:
            return "fails", measured, "", tuple(known)
        return "inconclusive", measured, "; ".join(dict.fromkeys(missing)), tuple(known)
    if missing:
        return "inconclusive", "—", "; ".join(dict.fromkeys(missing)), ()
    stats = known
    arr = np.asarray(stats, float)
    mean = float(arr.mean())
    sd = float(arr.std(ddof=1)) if n > 1 and np.ptp(arr) > 0 else 0.0  # equal values: exactly 0, not 1e-17
    spread = f" ± {_fmt(sd)} (n={n})" if n > 1 else " (n=1)"
    passes = [check.passes(s) for s in stats]
    if over_seeds == "median":
        med = float(np.median(arr))
        measured = f"median {label} = {_fmt(med)}" + (f", mean {_fmt(mean)}{spread}" if n > 1 else " (n=1)")
        return ("holds" if check.passes(med) else "fails"), measured, "", tuple(stats)
    measured = f"{label} = {_fmt(mean)}{spread}"
    if over_seeds == "every":
        if all(passes):
            return "holds", measured, "", tuple(stats)
        if not any(passes):
            return "fails", measured, "", tuple(stats)
        return "inconclusive", measured, f"{sum(passes)} of {n} seeds pass", tuple(stats)
    if n == 1:
        return ("holds" if passes[0] else "fails"), measured, "", tuple(stats)
    _, lo, hi = mean_interval(arr)
    lo_ok, hi_ok, mid_ok = check.passes(lo), check.passes(hi), check.passes(mean)
    if lo_ok and hi_ok and mid_ok:
        return "holds", measured, "", tuple(stats)
    band_lo, band_hi = getattr(check, "lo", None), getattr(check, "hi", None)
    covers_band = band_lo is not None and band_hi is not None and lo <= band_lo and hi >= band_hi
    if not (lo_ok or hi_ok or mid_ok) and not covers_band:  # the interval lies wholly outside the pass region
        return "fails", measured, "", tuple(stats)
    return ("inconclusive", measured,
            f"95% interval of the mean [{_fmt(lo)}, {_fmt(hi)}] straddles the threshold", tuple(stats))


def _judge(check: Check, per_seed: Sequence[Mapping[str, float]], over_seeds: OverSeeds
           ) -> tuple[Status, str, str, tuple[float, ...]]:
    """One check (simple, AllOf or AnyOf, nested) → ``(status, measured, reason, values)``; every member is judged
    on its own with the seed rule, then combined in three-valued logic."""
    if not isinstance(check, (AllOf, AnyOf)):
        return _judge_simple(check, per_seed, over_seeds)
    checks = check.checks
    parts = [_judge(c, per_seed, over_seeds) for c in checks]
    if len(parts) == 1:
        return parts[0]
    statuses = [p[0] for p in parts]
    measured = "; ".join(p[1] for p in parts)
    if isinstance(check, AnyOf):
        if any(s == "holds" for s in statuses):
            status: Status = "holds"
        elif all(s == "fails" for s in statuses):
            status = "fails"
        else:
            status = "inconclusive"
        reasons = [f"{'passes' if p[0] == 'holds' else p[0]}: {_member(c, AnyOf)}" + (f" ({p[2]})" if p[2] else "")
                   for c, p in zip(checks, parts)]
        if status == "fails":
            reasons = ["every alternative fails", *reasons]
        return status, measured, "; ".join(reasons), ()
    if all(s == "holds" for s in statuses):
        status = "holds"
    elif any(s == "fails" for s in statuses):
        status = "fails"
    else:
        status = "inconclusive"
    reasons = [f"{_member(c, AllOf)}: {p[2]}" if p[2] else p[2]
               for c, p in zip(checks, parts) if p[2] or p[0] != "holds"]
    failing = [_member(c, AllOf) for c, p in zip(checks, parts) if p[0] == "fails"]
    if failing:
        reasons = [f"fails: {f}" for f in failing] + [r for r in reasons if "fails:" not in r]
    return status, measured, "; ".join(dict.fromkeys(r for r in reasons if r)), ()


def _simple_checks(check: Check) -> tuple[Simple, ...]:
    """Every simple check in a check's tree (AllOf and AnyOf members, nested), in order."""
    return tuple(c for c in _nodes(check) if not isinstance(c, (AllOf, AnyOf)))


def _alternatives(check: Check) -> list[tuple[Simple, ...]]:
    """The check as alternatives of conjunctions (disjunctive normal form): ``AllOf(x, AnyOf(a, b))`` →
    ``[(x, a), (x, b)]``; a check without AnyOf is one alternative, its simple checks."""
    if isinstance(check, AnyOf):
        return [alt for c in check.checks for alt in _alternatives(c)]
    if isinstance(check, AllOf):
        alts: list[tuple[Simple, ...]] = [()]
        for c in check.checks:
            alts = [a + b for a in alts for b in _alternatives(c)]
        return alts
    return [(check,)]


def _seed_outcome(checks: Check | Sequence[Check], m: Mapping[str, float]) -> bool | None:
    """On one seed: True if the check passes, False if it fails, None if undecided (a metric missing). A sequence
    of checks is their conjunction; AllOf / AnyOf are combined in three-valued logic."""
    if isinstance(checks, AnyOf):
        outs = [_seed_outcome(c, m) for c in checks.checks]
        return True if any(o is True for o in outs) else (None if any(o is None for o in outs) else False)
    members = checks.checks if isinstance(checks, AllOf) else checks
    if isinstance(members, (Band, Order, Ratio, Slope)):
        s, _ = _stat_or_none(members, m)
        return None if s is None else bool(members.passes(s))
    undecided = False
    for c in members:
        out = _seed_outcome(c, m)
        if out is False:
            return False
        undecided |= out is None
    return None if undecided else True


def _at_least_jointly(claim: Claim, per_seed: Sequence[Mapping[str, float]], k: int) -> tuple[Status, str]:
    """``AtLeast(k)`` over whole seeds: a seed counts when its preconditions and every part of the check pass
    on it together (never a part on one seed and another part, or the precondition, on others). With an AnyOf
    each alternative (a conjunction, see :func:`_alternatives`) is counted on its own, then combined: holds if
    one alternative holds, fails if every one fails."""
    alts = _alternatives(claim.check)
    outs = [_at_least_one(claim.requires, own, per_seed, k) for own in alts]
    if len(outs) == 1:
        return outs[0]
    statuses = [o[0] for o in outs]
    words = [f"{' and '.join(c.describe() for c in own)}: {st}" + (f" ({why})" if why else "")
             for own, (st, why) in zip(alts, outs)]
    if "holds" in statuses:
        return "holds", "; ".join(words)
    if all(st == "fails" for st in statuses):
        return "fails", "every alternative fails: " + "; ".join(words)
    return "inconclusive", "; ".join(words)


def _at_least_one(requires: Sequence[Check], own: Sequence[Simple], per_seed: Sequence[Mapping[str, float]],
                  k: int) -> tuple[Status, str]:
    n = len(per_seed)
    if n < k:
        return "inconclusive", f"only {n} seeds run, {k} needed"
    joint = claim_fail = pre_unmet = 0
    for m in per_seed:
        pre_ok = _seed_outcome(tuple(requires), m) if requires else True
        own_ok = _seed_outcome(own, m)
        if pre_ok is True and own_ok is True:
            joint += 1
        elif pre_ok is True and own_ok is False:
            claim_fail += 1
        elif pre_ok is not True:
            pre_unmet += 1
    if joint >= k:
        return "holds", f"{joint} of {n} seeds pass (with their preconditions)" if requires else ""
    if n - claim_fail < k:
        return "fails", f"{claim_fail} of {n} seeds fail the claim with its preconditions met"
    if pre_unmet:
        return "inconclusive", (f"precondition not met on {pre_unmet} of {n} seeds: {joint} seeds pass with it, "
                                f"{k} needed")
    return "inconclusive", f"{joint} of {n} seeds pass, {n - joint - claim_fail} undecided, {k} needed"


def evaluate_claim(claim: Claim, metrics_per_seed: Sequence[Mapping[str, float]], *, basis: str = "seeds"
                   ) -> Verdict:
    """Judge one claim on the metrics of ``n`` paired seeds (one dict per seed), preconditions first."""
    if claim.check is None:
        return Verdict(claim.id, "not_checkable", "—", "—", claim.not_checkable)
    expected = claim.check.describe()
    n = len(metrics_per_seed)
    if n == 0:
        return Verdict(claim.id, "inconclusive", "—", expected, "no metrics (the run produced none)", basis=basis)
    pre = []
    for r in claim.requires:
        st, meas, why, _ = _judge(r, metrics_per_seed, claim.over_seeds)
        pre.append({"check": r.describe(), "status": st, "measured": meas, "reason": why})
    status, measured, reason, values = _judge(claim.check, metrics_per_seed, claim.over_seeds)
    if isinstance(claim.over_seeds, AtLeast):  # count seeds on which everything passes together
        status, reason = _at_least_jointly(claim, metrics_per_seed, claim.over_seeds.k)
        if status != "inconclusive" or "precondition" in reason:
            return Verdict(claim.id, status, measured, expected, reason, n, values, tuple(pre), basis)
    unmet = [p for p in pre if p["status"] != "holds"]
    if unmet:
        words = []
        for p in unmet:
            what = "not met" if p["status"] == "fails" else "not established"
            detail = p["measured"] if p["measured"] != "—" else p["reason"]
            words.append(f"precondition {what}: {p['check']} (measured {detail})")
        would = f"the claim's own check alone: {status}" + (f" ({reason})" if reason else "")
        reason = "; ".join([*words, would])
        status = "inconclusive"
    return Verdict(claim.id, status, measured, expected, reason, n, values, tuple(pre), basis)


def evaluate(claims: Sequence[Claim], metrics_per_seed: Sequence[Mapping[str, float]],
             measured: Sequence[Mapping[str, float]] = ()) -> list[Verdict]:
    """Judge every claim on the per-seed metrics of one run (seeds are paired across metrics).

    ``measured``: the repeats of a once-per-run measurement (``experiment.measure``); a claim that reads
    only measured metrics is judged over those repeats instead of the seeds. A claim that mixes both kinds
    is an error of the paper.
    """
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate claim ids: {ids}")
    measured_names = {k for m in measured for k in m}
    out = []
    for c in claims:
        names = set(c.all_metrics)
        on_repeats = bool(names) and names <= measured_names
        if names & measured_names and not on_repeats:
            raise ValueError(f"claim {c.id} mixes measured metrics {sorted(names & measured_names)} with per-seed "
                             f"metrics {sorted(names - measured_names)}")
        out.append(evaluate_claim(c, measured, basis="repeats") if on_repeats else evaluate_claim(c, metrics_per_seed))
    return out


def count_statuses(verdicts: Sequence[Verdict | Mapping]) -> dict[str, int]:
    """``{"holds": k, "fails": k, ...}`` over verdict objects or their dicts."""
    out = dict.fromkeys(STATUSES, 0)
    for v in verdicts:
        s = v.status if isinstance(v, Verdict) else v["status"]
        out[s] = out.get(s, 0) + 1
    return out


def aggregate_metrics(metrics_per_seed: Sequence[Mapping[str, float]]) -> dict[str, dict]:
    """Per metric: the per-seed values, their mean, median and sd (NaN where a seed lacks the metric)."""
    names = list(dict.fromkeys(k for m in metrics_per_seed for k in m))
    out: dict[str, dict] = {}
    for k in names:
        vals = [float(m.get(k, float("nan"))) for m in metrics_per_seed]
        arr = np.asarray(vals, float)
        finite = arr[np.isfinite(arr)]
        complete = finite.size == arr.size and arr.size > 0
        mean = float(finite.mean()) if complete else float("nan")
        median = float(np.median(finite)) if complete else float("nan")
        sd = (float(finite.std(ddof=1)) if arr.size > 1 and np.ptp(finite) > 0 else 0.0) if complete else float("nan")
        out[k] = {"mean": mean, "median": median, "sd": sd, "n": len(vals), "values": vals}
    return out
