"""R5 and R6, the slow checks: their learner and estimator fits as picklable tasks, the process pool that runs
them, and the plans that turn the results into metrics.

A :class:`Fit` carries its data and seed, so it gives the same result in a worker process or in this one. With more
than one worker, :class:`FitPool` is a spawn process pool of single-thread workers that starts on the fits at once,
longest first, while ``experiment.run`` goes on with the other checks; with one worker the fits run here when
collected. The data are drawn by the plans in the calling process, so the results do not depend on the number of
workers.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
import torch
from sklearn.linear_model import LinearRegression
from threadpoolctl import threadpool_limits

from livepapers.core.runs import RunContext
from livepapers.core.stats import min_or_nan

from . import data, figures
from .design import PropensityModel, overlap_summary
from .estimators import AIPW, IPW, RegressionAdjustment
from .hte import CausalForest, DRLearner, RLearner, TLearner, XLearner, default_outcome_model, pehe
from .metrics import LEARNERS, OV_LEARNERS, UC_ESTIMATORS, ov_key, pehe_key, uc_key

if TYPE_CHECKING:
    from .experiment import Config


def learners(n_estimators: int, seed: int) -> dict[str, object]:
    """The CATE learners of R5, named as in ``metrics.LEARNERS`` (``n_estimators``: trees of the causal forest)."""
    return {"T-learner (OLS)": TLearner(LinearRegression()), "X-learner": XLearner(seed=seed),
            "DR-learner": DRLearner(seed=seed), "R-learner": RLearner(seed=seed),
            "causal forest": CausalForest(n_estimators, seed=seed)}


@dataclass(frozen=True)
class Fit:
    r"""One fit of R5/R6 with its data and seed.

    ``kind``: ``"learner"`` (R5: ``learners(n_estimators, seed)[name]``, returns $\hat\tau(X)$), ``"uc"`` (R6
    unmeasured confounding: the ATE of estimator ``name`` of ``metrics.UC_ESTIMATORS``) or ``"ov"`` (R6 overlap
    violation: T-/X-learner ``name``, returns $\hat\tau(X)$).
    """

    kind: str
    name: str
    seed: int
    n_estimators: int
    y: np.ndarray
    t: np.ndarray
    x: pd.DataFrame


# rough single-thread seconds at n = 2 000 (default profile): the longest fits are handed out first
COST = {"causal forest": 8.0, "causal_forest": 8.0, "DR-learner": 6.0, "aipw_gbm": 5.0, "R-learner": 4.5,
        "X": 2.0, "X-learner": 1.5, "T": 1.0}


def fit(task: Fit) -> Any:
    """Run one :class:`Fit` single-threaded (BLAS too, so worker and in-process results agree bit for bit)."""
    y, t, x, seed = task.y, task.t, task.x, task.seed
    with threadpool_limits(limits=1), warnings.catch_warnings():
        if task.kind == "learner":
            return learners(task.n_estimators, seed)[task.name].fit(y, t, X=x).effect(x)
        warnings.simplefilter("ignore", RuntimeWarning)
        if task.kind == "ov":
            return {"T": TLearner, "X": XLearner}[task.name](seed=seed).fit(y, t, X=x).effect(x)
        if task.name == "ols":
            return RegressionAdjustment(method="ancova").fit(y, t, x).estimate_.value
        if task.name == "ipw":
            return IPW(n_boot=0).fit(y, t, x).estimate_.value
        if task.name == "aipw_gbm":
            return AIPW(outcome_model=default_outcome_model(seed), seed=seed).fit(y, t, x).estimate_.value
        if task.name == "causal_forest":
            return CausalForest(task.n_estimators, seed=seed).fit(y, t, X=x).ate(x)
    raise ValueError(f"unknown fit {task.kind}/{task.name}")


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


class FitPool:
    """Fits submitted now and collected later.

    ``workers > 1``: a process pool (spawn) of single-thread workers that starts on the fits at once, longest first,
    while this process goes on with the other checks; ``workers == 1``: the fits run here, when collected.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> FitPool:
        if self.workers > 1:
            self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("spawn"),
                                            initializer=_init_worker)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=exc[0] is not None)

    def submit(self, tasks: list[Fit]) -> Callable[[], list[Any]]:
        """Start ``tasks``; the returned function gives their results in the order of ``tasks``."""
        order = sorted(range(len(tasks)), key=lambda i: -COST.get(tasks[i].name, 0.5))  # longest first
        if self.pool is None:
            def here() -> list[Any]:
                out: list[Any] = [None] * len(tasks)
                for i in order:
                    out[i] = fit(tasks[i])
                return out

            return here
        futures = {i: self.pool.submit(fit, tasks[i]) for i in order}
        return lambda: [futures[i].result() for i in range(len(tasks))]


def n_workers(workers: int, tasks: list[Fit]) -> int:
    """Workers actually used: at least one, at most one per task."""
    return max(1, min(workers, len(tasks)))


def run_fits(tasks: list[Fit], ctx: RunContext, what: str, workers: int) -> list[Any]:
    """Results of ``tasks`` in their order, computed on ``workers`` single-thread processes (1: in this one)."""
    workers = n_workers(workers, tasks)
    ctx.log(f"{what}: {len(tasks)} fits on {workers} worker{'s' if workers > 1 else ''}")
    with FitPool(workers) as pool:
        return pool.submit(tasks)()


@dataclass
class Plan:
    """The fits of one check and what turns their results into metrics, CSVs and figures."""

    tasks: list[Fit]
    finish: Callable[[list[Any]], None]


def heterogeneity_plan(cfg: Config, ctx: RunContext, m: dict[str, float]) -> Plan:
    """R5: PEHE of the CATE learners on Nie–Wager setup D (``hte_reps`` paired replications, the claim), then on
    setup B once (contrast, no verdict)."""
    sims = [("D", r, data.nie_wager("D", cfg.hte_n, cfg.hte_d, 1.0, generator=ctx.generator(50 + r)),
             ctx.seed * 1000 + r) for r in range(cfg.hte_reps)]
    sims.append(("B", 0, data.nie_wager("B", cfg.hte_n, cfg.hte_d, 1.0, generator=ctx.generator(60)),
                 ctx.seed * 1000 + 99))
    tasks = [Fit("learner", name, seed, cfg.n_estimators, s.Y, s.T, s.X) for _, _, s, seed in sims for name in LEARNERS]

    def finish(results: list[Any]) -> None:
        effects = iter(results)
        rows, ratios, in_range = [], [], []
        for setup, r, s, _ in sims:
            p = {}
            for name in LEARNERS:
                th = next(effects)
                p[name] = pehe(th, s.tau)  # NaN if the learner's predictions are
                rows.append({"setup": setup, "rep": r, "learner": name, "pehe": p[name],
                             "ate_error": abs(th.mean() - s.ate)})
                if setup == "D" and name == "causal forest":
                    inside = (th >= s.tau.min()) & (th <= s.tau.max())
                    in_range.append(float(np.mean(inside)) if np.isfinite(th).all() else float("nan"))
            if setup == "D":
                ratios.append(min_or_nan(v for k, v in p.items() if k != "T-learner (OLS)") / p["T-learner (OLS)"])
            else:
                m.update({pehe_key(setup, name): p[name] for name in LEARNERS})
        df = pd.DataFrame(rows)
        for name, g in df[df["setup"] == "D"].groupby("learner"):
            m[pehe_key("D", name)] = float(g["pehe"].mean(skipna=False))
        m["nw_d_pehe_ratio_best"] = float(np.mean(ratios))
        m["nw_d_cf_in_range"] = float(np.mean(in_range))
        ctx.save_csv("heterogeneity_pehe", rows)
        if cfg.figures:
            figures.pehe_plot(ctx, df)

    return Plan(tasks, finish)


def limits_plan(cfg: Config, ctx: RunContext, m: dict[str, float]) -> Plan:
    """R6: bias kept under unmeasured confounding; T-/X-learner error outside vs inside the overlap band."""
    reps, tasks = [], []
    for r in range(cfg.limits_reps):
        s = data.unmeasured_confounding(cfg.limits_n, 1.0, generator=ctx.generator(71 + r))
        o = data.overlap_violation(cfg.limits_n, generator=ctx.generator(81 + r))
        seed = ctx.seed * 1000 + r
        reps.append((s, o))
        tasks += [Fit("uc", k, seed, cfg.n_estimators, s.Y, s.T, s.X) for k in UC_ESTIMATORS]
        tasks += [Fit("ov", k, seed, cfg.n_estimators, o.Y, o.T, o.X) for k in OV_LEARNERS]

    def finish(results_: list[Any]) -> None:
        results = iter(results_)
        big = data.unmeasured_confounding(cfg.ovb_ref_n, 1.0, generator=ctx.generator(70))
        ols = sm.OLS(big.Y, sm.add_constant(np.column_stack([big.T, big.X.to_numpy()]))).fit()
        ref_bias = float(ols.params[1] - 1.0)
        biases: dict[str, list[float]] = {k: [] for k in UC_ESTIMATORS}
        out_rmse: dict[str, list[float]] = {k: [] for k in OV_LEARNERS}
        in_rmse: dict[str, list[float]] = {k: [] for k in OV_LEARNERS}
        shares = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for s, o in reps:
                for k in UC_ESTIMATORS:
                    biases[k].append(next(results) - s.ate)
                e_hat = PropensityModel().fit_predict(o.T, o.X)
                shares.append(overlap_summary(e_hat, o.T)["share_outside"])
                band = (o.X["x1"] >= 0.5) & (o.X["x1"] <= 0.7)
                for name in OV_LEARNERS:
                    err = next(results) - o.tau
                    out_rmse[name].append(float(np.sqrt(np.mean(err[~band] ** 2))))
                    in_rmse[name].append(float(np.sqrt(np.mean(err[band] ** 2))))
        m["uc_reference_bias"] = ref_bias
        ratios = {}
        for k, v in biases.items():
            m[uc_key(k)] = float(np.mean(v))
            ratios[k] = abs(float(np.mean(v))) / abs(ref_bias)
        m["uc_min_bias_ratio"] = min_or_nan(ratios.values())
        m["ov_share_outside"] = float(np.mean(shares))
        for name in OV_LEARNERS:
            m[ov_key(name, "outside")] = float(np.mean(out_rmse[name]))
            m[ov_key(name, "inside")] = float(np.mean(in_rmse[name]))
            m[ov_key(name, "ratio")] = float(np.mean(out_rmse[name]) / np.mean(in_rmse[name]))
        m["ov_min_rmse_ratio"] = min_or_nan(m[ov_key(name, "ratio")] for name in OV_LEARNERS)

    return Plan(tasks, finish)


__all__ = ["COST", "Fit", "FitPool", "Plan", "fit", "heterogeneity_plan", "learners", "limits_plan", "n_workers",
           "run_fits"]
