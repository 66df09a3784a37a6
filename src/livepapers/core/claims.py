"""Claims and verdicts: a paper's headline claims as pre-registered checks on run metrics.

A :class:`Claim` names the metric(s) it reads and a *check* on the shape of the result:

* :class:`Band` — a level within a band, ``lo <= x <= hi``;
* :class:`Order` — an ordering, ``a < b - margin`` (or ``>``, ``<=``, ``>=``); ``b`` may be a number;
* :class:`Ratio` — ``lo <= a / b <= hi``;
* :class:`Slope` — the least-squares slope of ``log|y|`` against ``log|x|`` within ``[lo, hi]``;
* :class:`AllOf` — several checks that must all hold.

:func:`evaluate` turns a list of per-seed metric dicts (one dict per paired seed) into one
:class:`Verdict` per claim. Each check computes a *statistic* per seed (the value, the difference, the
ratio, the slope) and compares it with its threshold:

* ``over_seeds="every"``: ``holds`` if every seed passes, ``fails`` if every seed fails, otherwise
  ``inconclusive``;
* ``over_seeds="mean"``: the seed mean of the statistic with its t-interval
  ``mean ± t(0.975, n-1) · sd / sqrt(n)``: ``holds`` if the whole interval passes, ``fails`` if the
  whole interval fails, ``inconclusive`` if it straddles the threshold. With one seed the value itself
  is judged.

A missing or non-finite metric makes the verdict ``inconclusive`` and names the metric. A claim with
``check=None`` is ``not_checkable`` with its stated reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Status = Literal["holds", "fails", "inconclusive", "not_checkable"]
STATUSES: tuple[str, ...] = ("holds", "fails", "inconclusive", "not_checkable")
Number = float | int
Operand = str | Number

_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
         10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}


def t_quantile(df: int) -> float:
    """Two-sided 95 % Student-t quantile ``t(0.975, df)`` (table, conservative between entries)."""
    if df < 1:
        raise ValueError(f"t_quantile needs df >= 1, got {df}")
    keys = sorted(_T975)
    for k in keys:
        if df <= k:
            return _T975[k]
    return 1.96


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


@dataclass(frozen=True)
class AllOf:
    """Several checks that must all hold (each judged on its own, then combined)."""

    checks: tuple[Check, ...]

    def __post_init__(self) -> None:
        if not self.checks:
            raise ValueError("AllOf needs at least one check")

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for c in self.checks for n in c.metrics))

    def describe(self) -> str:
        return " and ".join(c.describe() for c in self.checks)


Check = Band | Order | Ratio | Slope | AllOf


def fit_loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of ``log|y|`` against ``log|x|``."""
    lx, ly = np.log(np.abs(np.asarray(x, float))), np.log(np.abs(np.asarray(y, float)))
    lx = lx - lx.mean()
    denom = float(lx @ lx)
    if denom == 0:
        raise ValueError("fit_loglog_slope: all x are equal")
    return float(lx @ (ly - ly.mean()) / denom)


@dataclass(frozen=True)
class Claim:
    """One headline claim of a paper, with a pre-registered check.

    Attributes:
        id: ``C1`` … ``Cn``, matching the paper's spec.
        statement: one sentence, in our words.
        source: where the paper shows it (table / figure / section).
        paper_value: what the paper reports, as text.
        check: the check on run metrics, or ``None`` when not checkable offline.
        over_seeds: ``"mean"`` (t-interval of the seed mean) or ``"every"`` (each seed must pass).
        not_checkable: why the claim cannot be checked here (required when ``check`` is None).
        weight: relative importance, for summaries.
    """

    id: str
    statement: str
    source: str
    paper_value: str
    check: Check | None
    over_seeds: Literal["mean", "every"] = "mean"
    not_checkable: str = ""
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.over_seeds not in ("mean", "every"):
            raise ValueError(f"Claim {self.id}: over_seeds must be 'mean' or 'every', got {self.over_seeds!r}")
        if self.check is None and not self.not_checkable:
            raise ValueError(f"Claim {self.id}: a claim without a check needs a not_checkable reason")

    @property
    def metrics(self) -> tuple[str, ...]:
        return () if self.check is None else self.check.metrics


@dataclass(frozen=True)
class Verdict:
    """The outcome of one claim on one run."""

    claim_id: str
    status: Status
    measured: str
    expected: str
    reason: str = ""
    n_seeds: int = 0
    values: tuple[float, ...] = field(default=())

    def to_dict(self) -> dict:
        return {"claim_id": self.claim_id, "status": self.status, "measured": self.measured,
                "expected": self.expected, "reason": self.reason, "n_seeds": self.n_seeds,
                "values": list(self.values)}

    @classmethod
    def from_dict(cls, d: Mapping) -> Verdict:
        return cls(d["claim_id"], d["status"], d.get("measured", ""), d.get("expected", ""),
                   d.get("reason", ""), int(d.get("n_seeds", 0)), tuple(d.get("values", ())))


def _judge_simple(check: Band | Order | Ratio | Slope, per_seed: Sequence[Mapping[str, float]],
                  over_seeds: str) -> tuple[Status, str, str, tuple[float, ...]]:
    try:
        stats = [check.statistic(m) for m in per_seed]
    except MissingMetric as e:
        return "inconclusive", "—", str(e), ()
    n = len(stats)
    arr = np.asarray(stats, float)
    mean = float(arr.mean())
    sd = float(arr.std(ddof=1)) if n > 1 else 0.0
    label = check.label
    measured = f"{label} = {_fmt(mean)}" + (f" ± {_fmt(sd)} (n={n})" if n > 1 else " (n=1)")
    passes = [check.passes(s) for s in stats]
    if over_seeds == "every":
        if all(passes):
            return "holds", measured, "", tuple(stats)
        if not any(passes):
            return "fails", measured, "", tuple(stats)
        return "inconclusive", measured, f"{sum(passes)} of {n} seeds pass", tuple(stats)
    if n == 1:
        return ("holds" if passes[0] else "fails"), measured, "", tuple(stats)
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    lo_ok, hi_ok, mid_ok = check.passes(mean - half), check.passes(mean + half), check.passes(mean)
    if lo_ok and hi_ok and mid_ok:
        return "holds", measured, "", tuple(stats)
    if not (lo_ok or hi_ok or mid_ok):
        return "fails", measured, "", tuple(stats)
    return ("inconclusive", measured,
            f"95% interval of the mean [{_fmt(mean - half)}, {_fmt(mean + half)}] straddles the threshold",
            tuple(stats))


def evaluate_claim(claim: Claim, metrics_per_seed: Sequence[Mapping[str, float]]) -> Verdict:
    """Judge one claim on the metrics of ``n`` paired seeds (one dict per seed)."""
    if claim.check is None:
        return Verdict(claim.id, "not_checkable", "—", "—", claim.not_checkable)
    expected = claim.check.describe()
    n = len(metrics_per_seed)
    if n == 0:
        return Verdict(claim.id, "inconclusive", "—", expected, "no metrics (the run produced none)")
    checks = claim.check.checks if isinstance(claim.check, AllOf) else (claim.check,)
    parts = [_judge_simple(c, metrics_per_seed, claim.over_seeds) for c in checks]
    statuses = [p[0] for p in parts]
    if all(s == "holds" for s in statuses):
        status: Status = "holds"
    elif any(s == "fails" for s in statuses):
        status = "fails"
    else:
        status = "inconclusive"
    measured = "; ".join(p[1] for p in parts)
    reasons = [f"{c.describe()}: {p[2]}" if len(parts) > 1 and p[2] else p[2]
               for c, p in zip(checks, parts) if p[2] or (len(parts) > 1 and p[0] != "holds")]
    if len(parts) > 1:
        failing = [c.describe() for c, p in zip(checks, parts) if p[0] == "fails"]
        if failing:
            reasons = [f"fails: {f}" for f in failing] + [r for r in reasons if "fails:" not in r]
    values = parts[0][3] if len(parts) == 1 else ()
    return Verdict(claim.id, status, measured, expected, "; ".join(dict.fromkeys(r for r in reasons if r)),
                   n, values)


def evaluate(claims: Sequence[Claim], metrics_per_seed: Sequence[Mapping[str, float]]) -> list[Verdict]:
    """Judge every claim on the per-seed metrics of one run (seeds are paired across metrics)."""
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate claim ids: {ids}")
    return [evaluate_claim(c, metrics_per_seed) for c in claims]


def count_statuses(verdicts: Sequence[Verdict | Mapping]) -> dict[str, int]:
    """``{"holds": k, "fails": k, ...}`` over verdict objects or their dicts."""
    out = dict.fromkeys(STATUSES, 0)
    for v in verdicts:
        s = v.status if isinstance(v, Verdict) else v["status"]
        out[s] = out.get(s, 0) + 1
    return out


def aggregate_metrics(metrics_per_seed: Sequence[Mapping[str, float]]) -> dict[str, dict]:
    """Per metric: the per-seed values, their mean and sd (NaN where a seed lacks the metric)."""
    names = list(dict.fromkeys(k for m in metrics_per_seed for k in m))
    out: dict[str, dict] = {}
    for k in names:
        vals = [float(m.get(k, float("nan"))) for m in metrics_per_seed]
        arr = np.asarray(vals, float)
        finite = arr[np.isfinite(arr)]
        mean = float(finite.mean()) if finite.size == arr.size and arr.size else float("nan")
        sd = float(finite.std(ddof=1)) if finite.size == arr.size and arr.size > 1 else 0.0
        out[k] = {"mean": mean, "sd": sd, "n": len(vals), "values": vals}
    return out
