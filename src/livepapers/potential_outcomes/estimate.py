"""The tidy result every estimator returns: :class:`Estimate` (value, SE, CI, estimand, method, n used)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its uncertainty.

    Attributes:
        value: the estimate of the estimand.
        stderr: its standard error (posterior SD for Bayesian imputation).
        estimand: ``"ate"``, ``"att"``, ``"ato"``, ``"sate"``, ... (``" (trimmed)"`` when units were dropped).
        method: the estimator, e.g. ``"ipw-hajek"``.
        n_used: units that entered the estimate (after trimming / calipers / dropped strata).
        diagnostics: estimator-specific extras (weights summary, matched counts, strata table, ...).
        draws: posterior or bootstrap draws when the interval is read from them (else ``None``).
    """

    value: float
    stderr: float
    estimand: str
    method: str
    n_used: int
    diagnostics: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    draws: np.ndarray | None = field(default=None, compare=False, repr=False)

    def ci(self, alpha: float = 0.05) -> tuple[float, float]:
        """Two-sided (1 − alpha) interval: value ± z·SE, or the draws' quantiles for Bayesian imputation."""
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        if self.draws is not None and self.method.startswith("bayes"):
            lo, hi = np.quantile(self.draws, [alpha / 2, 1 - alpha / 2])
            return float(lo), float(hi)
        z = stats.norm.ppf(1 - alpha / 2)
        return self.value - z * self.stderr, self.value + z * self.stderr

    @property
    def zstat(self) -> float:
        return self.value / self.stderr if self.stderr > 0 else float("nan")

    @property
    def pvalue(self) -> float:
        """Two-sided normal p-value of value = 0."""
        return float(2 * stats.norm.sf(abs(self.zstat)))

    def summary(self, alpha: float = 0.05) -> str:
        """A statsmodels-like one-row table."""
        lo, hi = self.ci(alpha)
        pct = f"{100 * (1 - alpha):g}%"
        head = f"{'':<22}{'coef':>12}{'std err':>12}{'z':>9}{'P>|z|':>9}{pct + ' lo':>12}{pct + ' hi':>12}"
        row = (f"{self.estimand:<22}{self.value:>12.4f}{self.stderr:>12.4f}{self.zstat:>9.3f}{self.pvalue:>9.4f}"
               f"{lo:>12.4f}{hi:>12.4f}")
        bar = "=" * len(head)
        title = f"{self.method} estimate".center(len(head))
        return "\n".join([bar, title, f"No. units used: {self.n_used}", bar, head, "-" * len(head), row, bar])

    def __str__(self) -> str:
        return self.summary()
