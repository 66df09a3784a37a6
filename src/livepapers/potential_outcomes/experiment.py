"""Reproduction of the review's methodological claims on public benchmarks (spec: papers/potential-outcomes.md).

R1 NSW experiment (DiM, FRT, ANCOVA, Lin) · R2 NSW treated vs CPS controls (design stage, weighting, AIPW,
matching, subclassification, balance) · R3 NHEFS (IPW, standardisation, AIPW) · R4 Kang–Schafer double robustness ·
R5 Nie–Wager heterogeneity (meta-learners, causal forest) · R6 limits (unmeasured confounding, overlap violation) ·
R7 Darfur sensitivity (robustness value, E-value) · R8 coverage of the Neyman interval. ``run`` handles one seed;
the real-data parts are deterministic, the simulations draw from generators seeded by ``ctx.seed``.

Where the time goes (default profile, one thread): R5 ≈ 60 %, R6 ≈ 30 %, R2 ≈ 7 %, the rest < 5 %. The learner and
estimator fits of R5 and R6 are independent given their data and seeds, so ``run`` hands them to
``torch.get_num_threads()`` single-thread worker processes (a spawn process pool) that work while this process runs
the other checks; the data are drawn here, so the metrics are identical whatever the number of workers.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
import torch
from sklearn.linear_model import LinearRegression
from threadpoolctl import threadpool_limits

from livepapers.core.config import Profile
from livepapers.core.runs import RunContext

from . import data
from .design import PropensityModel, balance_table, balancing_weights, effective_sample_size, overlap_summary
from .estimators import (
    AIPW,
    IPW,
    BayesianImputation,
    DifferenceInMeans,
    PooledOutcome,
    PSMatching,
    RegressionAdjustment,
    Subclassification,
    randomization_test,
)
from .hte import CausalForest, DRLearner, RLearner, TLearner, XLearner, default_outcome_model, pehe
from .sensitivity import e_value, ovb_from_ols


@dataclass(frozen=True)
class Config:
    n_perm: int = 10_000  # Fisher randomisation test draws (R1)
    n_boot: int = 200  # bootstrap draws for standardisation / IPW SEs (spec: 200 in reproduce)
    bayes_draws: int = 1000  # posterior draws of Bayesian imputation
    coverage_reps: int = 500  # R8: re-randomisations of one finite population
    coverage_n: int = 200
    ks_reps: int = 200  # R4: Kang–Schafer replications
    ks_n: int = 1000
    hte_reps: int = 3  # R5: paired Nie–Wager replications
    hte_n: int = 2000
    hte_d: int = 6
    forest_trees: int = 200
    limits_reps: int = 3  # R6
    limits_n: int = 2000
    ovb_ref_n: int = 200_000  # draws for the reference omitted-variable bias
    figures: bool = True


# real-data parts are deterministic and the simulations replicate inside run(): one seed, both cores
PROFILES: dict[str, Profile] = {
    "smoke": Profile(Config(n_perm=2000, n_boot=20, bayes_draws=200, coverage_reps=100, ks_reps=20, hte_reps=1,
                            hte_n=500, forest_trees=20, limits_reps=1, limits_n=500, ovb_ref_n=20_000), n_seeds=1),
    "default": Profile(Config(), n_seeds=1),
    # documented only: B = 2 000 bootstrap draws, 2 000-tree forests, 1 000 Kang–Schafer replications
    "paper": Profile(Config(n_perm=200_000, n_boot=2000, ks_reps=1000, forest_trees=2000, hte_reps=10,
                            limits_reps=10), n_seeds=1),
}

NHEFS_BASE = ("sex", "race", "age", "smokeintensity", "smokeyrs", "wt71")
NHEFS_SQUARED = ("age", "smokeintensity", "smokeyrs", "wt71")


def nhefs_design(df: pd.DataFrame) -> pd.DataFrame:
    """Hernán–Robins covariates: sex, race, age, age², education (dummies), smokeintensity (+²), smokeyrs (+²),
    exercise and active (dummies), wt71 (+²)."""
    x = df[list(NHEFS_BASE) + [c for c in df.columns if c.startswith(("education_", "exercise_", "active_"))]].copy()
    for c in NHEFS_SQUARED:
        x[f"{c}2"] = x[c] ** 2
    return x


# ---------------------------------------------------------------------------------------------------------
# R1, R8: randomised experiment
# ---------------------------------------------------------------------------------------------------------


def _nsw_experiment(cfg: Config, ctx: RunContext, m: dict[str, float]) -> None:
    df = data.load_nsw("experimental")
    y, t, x = df["re78"], df["treat"], df[list(data.NSW_COVARIATES)]
    dim = DifferenceInMeans().fit(y, t).estimate_
    hc2 = sm.OLS(y.to_numpy(), sm.add_constant(t.to_numpy())).fit(cov_type="HC2")
    _, p = randomization_test(y, t, n_perm=cfg.n_perm, seed=ctx.seed)
    anc = RegressionAdjustment(method="ancova").fit(y, t, x).estimate_
    lin = RegressionAdjustment(method="lin").fit(y, t, x).estimate_
    std = RegressionAdjustment(method="standardization", n_boot=cfg.n_boot, seed=ctx.seed).fit(y, t, x).estimate_
    bayes = BayesianImputation(n_draws=cfg.bayes_draws, seed=ctx.seed).fit(y, t, x).estimate_
    m.update(nsw_dim=dim.value, nsw_neyman_se=dim.stderr, nsw_neyman_minus_hc2=abs(dim.stderr - float(hc2.bse[1])),
             nsw_frt_p=p, nsw_ancova=anc.value, nsw_ancova_se=anc.stderr, nsw_lin=lin.value, nsw_lin_se=lin.stderr,
             nsw_standardization=std.value, nsw_standardization_se=std.stderr, nsw_bayes=bayes.value,
             nsw_bayes_sd=bayes.stderr, nsw_min_ci_lo=float(np.min([e.ci()[0] for e in (dim, anc, lin)])))
    ctx.log(f"NSW experiment: DiM {dim.value:.2f} (SE {dim.stderr:.2f}), FRT p {p:.4f}, ANCOVA {anc.value:.1f}, "
            f"Lin {lin.value:.1f}")


def _coverage(cfg: Config, ctx: RunContext, m: dict[str, float]) -> None:
    """R8: one finite population with skewed, heterogeneous potential outcomes, re-randomised ``coverage_reps``
    times (complete randomisation, n₁ = n/2); coverage of the Neyman 95 % CI for the SATE."""
    rng = ctx.numpy_rng(8)
    n = cfg.coverage_n
    y0 = rng.lognormal(0.0, 1.0, n)
    y1 = y0 + 1.0 + rng.normal(0.0, 1.0, n)
    sate = float(np.mean(y1 - y0))
    hits, undefined = 0, 0
    for _ in range(cfg.coverage_reps):
        t = np.zeros(n)
        t[rng.choice(n, n // 2, replace=False)] = 1
        lo, hi = DifferenceInMeans().fit(np.where(t == 1, y1, y0), t).estimate_.ci()
        undefined += not (np.isfinite(lo) and np.isfinite(hi))
        hits += lo <= sate <= hi
    # an undefined interval is neither a hit nor a miss: coverage is undefined (NaN), not lowered
    m["neyman_coverage"] = hits / cfg.coverage_reps if not undefined else float("nan")


# ---------------------------------------------------------------------------------------------------------
# R2: NSW treated vs CPS controls
# ---------------------------------------------------------------------------------------------------------


def _nsw_cps(cfg: Config, ctx: RunContext, m: dict[str, float], benchmark: float) -> None:
    df = data.load_nsw("cps")
    y, t = df["re78"], df["treat"]
    x_raw = df[list(data.NSW_COVARIATES)]
    f = data.dw_style_features(df)
    pm = PropensityModel().fit(t, f)
    e = pm.predict(f)
    naive = DifferenceInMeans().fit(y, t).estimate_
    ipw = IPW(estimand="att", n_boot=cfg.n_boot, seed=ctx.seed).fit(y, t, f).estimate_
    aipw = AIPW(estimand="att").fit(y, t, x_raw, e=e).estimate_  # μ̂₀ = OLS on the 8 raw covariates
    match = PSMatching()
    nn = match.fit(y, t, x_raw, e=e).estimate_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sub10 = Subclassification(n_strata=10, strata_on="treated", estimand="att").fit(y, t, f, e=e).estimate_
        sub10cs = Subclassification(n_strata=10, strata_on="treated", estimand="att", common_support=True
                                    ).fit(y, t, f, e=e).estimate_
        sub5 = Subclassification(n_strata=5, estimand="att").fit(y, t, f, e=e).estimate_
    w_att = balancing_weights(e, t, estimand="att")
    bal_w = balance_table(f, t, weights=w_att)
    bal_m = balance_table(f, t, matches=match.match_weights_)
    ess = effective_sample_size(w_att, t)
    ov = overlap_summary(e, t)
    m.update(cps_naive=naive.value, cps_ps_llf=pm.llf_, cps_ps_converged=float(pm.converged_),
             cps_ipw_att=ipw.value, cps_ipw_att_se=ipw.stderr, cps_aipw_att=aipw.value, cps_aipw_att_se=aipw.stderr,
             cps_nn_att=nn.value, cps_nn_att_se=nn.stderr, cps_nn_unmatched=float(nn.diagnostics["n_unmatched"]),
             cps_subclass_att=sub10.value, cps_subclass_att_se=sub10.stderr, cps_subclass_cs_att=sub10cs.value,
             cps_subclass5_att=sub5.value, cps_subclass5_max_smd_within=sub5.diagnostics["max_abs_smd_within"],
             cps_subclass10_max_smd_within=sub10.diagnostics["max_abs_smd_within"],
             cps_max_smd_before=float(bal_w["smd_before"].abs().max(skipna=False)),  # NaN is not skipped
             cps_max_smd_after=float(bal_w["smd_after"].abs().max(skipna=False)),
             cps_max_smd_after_matching=float(bal_m["smd_after"].abs().max(skipna=False)),
             cps_ess_control=ess["control"], cps_share_outside=ov["share_outside"],
             cps_share_outside_treated=ov["share_outside_treated"])
    ests = [("naive", naive), ("IPW-ATT (Hájek)", ipw), ("AIPW-ATT", aipw), ("NN matching (AI SE)", nn),
            ("subclass. 10 (treated deciles)", sub10), ("subclass. 10 + common support", sub10cs),
            ("subclass. 5 pooled (coarse)", sub5)]
    rows = [{"method": k, "value": v.value, "se": v.stderr, "ci_lo": v.ci()[0], "ci_hi": v.ci()[1],
             "n_used": v.n_used} for k, v in ests]
    ctx.save_csv("cps_estimates", rows)
    bal = pd.DataFrame({"covariate": bal_w.index, "smd_before": bal_w["smd_before"].to_numpy(),
                        "smd_after_weighting": bal_w["smd_after"].to_numpy(),
                        "smd_after_matching": bal_m["smd_after"].to_numpy()})
    ctx.save_csv("cps_balance", bal.to_dict("records"))
    ctx.save_csv("cps_subclass5_strata_smd", sub5.diagnostics["strata_smd"].reset_index().to_dict("records"))
    ctx.log(f"NSW+CPS: naive {naive.value:.1f}, IPW-ATT {ipw.value:.1f}, AIPW-ATT {aipw.value:.1f}, "
            f"NN {nn.value:.1f}, subclass {sub10.value:.1f}; logit llf {pm.llf_:.2f}")
    if cfg.figures:
        _fig_love(ctx, bal)
        _fig_estimates(ctx, rows, benchmark)
        _fig_overlap(ctx, e, t.to_numpy(), "overlap_cps", "NSW treated vs CPS controls: estimated propensity")
        _fig_strata(ctx, sub5.diagnostics["strata_smd"], sub10.diagnostics["strata_smd"], sub5.value)


# ---------------------------------------------------------------------------------------------------------
# R3: NHEFS
# ---------------------------------------------------------------------------------------------------------


def _nhefs(cfg: Config, ctx: RunContext, m: dict[str, float]) -> None:
    df = data.load_nhefs()
    y, t = df["wt82_71"], df["qsmk"]
    x = nhefs_design(df)
    e = PropensityModel().fit(t, x).predict(x)
    po = PooledOutcome(interactions=["smokeintensity"])  # one pooled OLS on qsmk + X + qsmk×smokeintensity
    w = np.where(t == 1, 1 / e, 1 / (1 - e))
    pt = t.mean()
    sw = np.where(t == 1, pt / e, (1 - pt) / (1 - e))
    unadj = DifferenceInMeans().fit(y, t).estimate_
    ipw = IPW(n_boot=cfg.n_boot, seed=ctx.seed).fit(y, t, x).estimate_
    ht = IPW(normalized=False, n_boot=0).fit(y, t, x, e=e).estimate_
    std = RegressionAdjustment(method="standardization", outcome_model=po, n_boot=cfg.n_boot, seed=ctx.seed
                               ).fit(y, t, x).estimate_
    aipw = AIPW(outcome_model=po).fit(y, t, x, e=e).estimate_
    aipw_arms = AIPW().fit(y, t, x, e=e).estimate_
    m.update(nhefs_unadjusted=unadj.value, nhefs_ipw=ipw.value, nhefs_ipw_se=ipw.stderr, nhefs_ipw_ht=ht.value,
             nhefs_weight_mean=float(w.mean()), nhefs_weight_max=float(w.max()), nhefs_sw_mean=float(sw.mean()),
             nhefs_sw_max=float(sw.max()), nhefs_standardization=std.value, nhefs_standardization_se=std.stderr,
             nhefs_aipw=aipw.value, nhefs_aipw_se=aipw.stderr, nhefs_aipw_per_arm=aipw_arms.value)
    if cfg.figures:
        _fig_overlap(ctx, e, t.to_numpy(), "overlap_nhefs", "NHEFS: estimated propensity of quitting smoking")


# ---------------------------------------------------------------------------------------------------------
# R4: Kang–Schafer
# ---------------------------------------------------------------------------------------------------------


def _ols_predict(x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return LinearRegression().fit(x[mask], y[mask]).predict(x)


def _kang_schafer(cfg: Config, ctx: RunContext, m: dict[str, float]) -> None:
    gen = ctx.generator(4)
    res = {k: [] for k in ("naive", "aipw_both", "aipw_ps_only", "aipw_outcome_only", "aipw_none", "ipw_ht_x",
                           "ipw_hajek_x")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in ctx.progress(range(cfg.ks_reps), desc="kang-schafer"):
            s = data.kang_schafer(cfg.ks_n, gen)
            t, y = s.T, s.Y
            z, x = s.extra["Z"].to_numpy(), s.X.to_numpy()
            obs = t == 1
            e_z, e_x = PropensityModel().fit_predict(t, z), PropensityModel().fit_predict(t, x)
            mu_z, mu_x = _ols_predict(z, y, obs), _ols_predict(x, y, obs)

            def aipw_mean(mu: np.ndarray, e: np.ndarray, t: np.ndarray = t, y: np.ndarray = y) -> float:
                # E[Y(1)] by AIPW: mean(μ̂ + W(Y − μ̂)/ê)
                return float(np.mean(mu + t * (y - mu) / e))

            res["naive"].append(y[obs].mean())
            res["aipw_both"].append(aipw_mean(mu_z, e_z))
            res["aipw_ps_only"].append(aipw_mean(mu_x, e_z))
            res["aipw_outcome_only"].append(aipw_mean(mu_z, e_x))
            res["aipw_none"].append(aipw_mean(mu_x, e_x))
            res["ipw_ht_x"].append(float(np.mean(t * y / e_x)))
            res["ipw_hajek_x"].append(float(np.sum(t * y / e_x) / np.sum(t / e_x)))
    out = {}
    for k, v in res.items():
        err = np.asarray(v) - 210.0
        out[k] = (float(err.mean()), float(np.sqrt(np.mean(err**2))))
        m[f"ks_{k}_bias"] = out[k][0]
        m[f"ks_{k}_rmse"] = out[k][1]
    m["ks_naive_bias"] = out["naive"][0]
    ctx.save_csv("kang_schafer", [{"estimator": k, "bias": b, "rmse": r} for k, (b, r) in out.items()])


# ---------------------------------------------------------------------------------------------------------
# R5, R6: independent fits, in worker processes when run() has more than one core
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fit:
    """One fit of R5/R6 with its data and seed: picklable, so it runs the same in a worker process or here.

    ``kind``: ``"learner"`` (R5: ``_learners(config, seed)[name]``, returns τ̂(X)), ``"uc"`` (R6 unmeasured
    confounding: the ATE of estimator ``name``) or ``"ov"`` (R6 overlap violation: T-/X-learner ``name``, τ̂(X)).
    """

    kind: str
    name: str
    seed: int
    config: Config
    y: np.ndarray
    t: np.ndarray
    x: pd.DataFrame


# rough single-thread seconds at n = 2 000 (default profile): the longest fits are handed out first
_COST = {"causal forest": 8.0, "causal_forest": 8.0, "DR-learner": 6.0, "aipw_gbm": 5.0, "R-learner": 4.5,
         "X": 2.0, "X-learner": 1.5, "T": 1.0}


def _fit(task: _Fit) -> Any:
    """Run one :class:`_Fit` single-threaded (BLAS too, so worker and in-process results agree bit for bit)."""
    y, t, x, seed, cfg = task.y, task.t, task.x, task.seed, task.config
    with threadpool_limits(limits=1), warnings.catch_warnings():
        if task.kind == "learner":
            return _learners(cfg, seed)[task.name].fit(y, t, X=x).effect(x)
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
            return CausalForest(cfg.forest_trees, seed=seed).fit(y, t, X=x).ate(x)
    raise ValueError(f"unknown fit {task.kind}/{task.name}")


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


class _FitPool:
    """Fits submitted now and collected later.

    ``workers > 1``: a process pool (spawn) of single-thread workers that starts on the fits at once, longest first,
    while this process goes on with the other checks; ``workers == 1``: the fits run here, when collected.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> _FitPool:
        if self.workers > 1:
            self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp.get_context("spawn"),
                                            initializer=_init_worker)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=exc[0] is not None)

    def submit(self, tasks: list[_Fit]) -> Callable[[], list[Any]]:
        """Start ``tasks``; the returned function gives their results in the order of ``tasks``."""
        order = sorted(range(len(tasks)), key=lambda i: -_COST.get(tasks[i].name, 0.5))  # longest first
        if self.pool is None:
            def here() -> list[Any]:
                out: list[Any] = [None] * len(tasks)
                for i in order:
                    out[i] = _fit(tasks[i])
                return out

            return here
        futures = {i: self.pool.submit(_fit, tasks[i]) for i in order}
        return lambda: [futures[i].result() for i in range(len(tasks))]


def _run_fits(tasks: list[_Fit], ctx: RunContext, what: str, workers: int) -> list[Any]:
    """Results of ``tasks`` in their order, computed on ``workers`` single-thread processes (1: in this one)."""
    workers = max(1, min(workers, len(tasks)))
    ctx.log(f"{what}: {len(tasks)} fits on {workers} worker{'s' if workers > 1 else ''}")
    with _FitPool(workers) as pool:
        return pool.submit(tasks)()


@dataclass
class _Plan:
    """The fits of one check and what turns their results into metrics, CSVs and figures."""

    tasks: list[_Fit]
    finish: Callable[[list[Any]], None]


def _learners(cfg: Config, seed: int) -> dict[str, object]:
    return {"T-learner (OLS)": TLearner(LinearRegression()), "X-learner": XLearner(seed=seed),
            "DR-learner": DRLearner(seed=seed), "R-learner": RLearner(seed=seed),
            "causal forest": CausalForest(cfg.forest_trees, seed=seed)}


LEARNER_KEYS = {"T-learner (OLS)": "t_ols", "X-learner": "x", "DR-learner": "dr", "R-learner": "r",
                "causal forest": "cf"}


def _heterogeneity_plan(cfg: Config, ctx: RunContext, m: dict[str, float]) -> _Plan:
    # setup D, hte_reps paired replications (the claim), then setup B once (contrast, no verdict)
    sims = [("D", r, data.nie_wager("D", cfg.hte_n, cfg.hte_d, 1.0, generator=ctx.generator(50 + r)),
             ctx.seed * 1000 + r) for r in range(cfg.hte_reps)]
    sims.append(("B", 0, data.nie_wager("B", cfg.hte_n, cfg.hte_d, 1.0, generator=ctx.generator(60)),
                 ctx.seed * 1000 + 99))
    names = list(_learners(cfg, 0))
    tasks = [_Fit("learner", name, seed, cfg, s.Y, s.T, s.X) for _, _, s, seed in sims for name in names]

    def finish(results: list[Any]) -> None:
        effects = iter(results)
        rows, ratios, in_range = [], [], []
        for setup, r, s, _ in sims:
            p = {}
            for name in names:
                th = next(effects)
                p[name] = pehe(th, s.tau)  # NaN if the learner's predictions are
                rows.append({"setup": setup, "rep": r, "learner": name, "pehe": p[name],
                             "ate_error": abs(th.mean() - s.ate)})
                if setup == "D" and name == "causal forest":
                    inside = (th >= s.tau.min()) & (th <= s.tau.max())
                    in_range.append(float(np.mean(inside)) if np.isfinite(th).all() else float("nan"))
            if setup == "D":
                best = float(np.min([v for k, v in p.items() if k != "T-learner (OLS)"]))  # NaN is not skipped
                ratios.append(best / p["T-learner (OLS)"])
            else:
                for name in names:
                    m[f"nw_b_pehe_{LEARNER_KEYS[name]}"] = p[name]
        df = pd.DataFrame(rows)
        for name, g in df[df["setup"] == "D"].groupby("learner"):
            m[f"nw_d_pehe_{LEARNER_KEYS[name]}"] = float(g["pehe"].mean(skipna=False))
        m["nw_d_pehe_ratio_best"] = float(np.mean(ratios))
        m["nw_d_cf_in_range"] = float(np.mean(in_range))
        ctx.save_csv("heterogeneity_pehe", rows)
        if cfg.figures:
            _fig_pehe(ctx, df)

    return _Plan(tasks, finish)


def _limits_plan(cfg: Config, ctx: RunContext, m: dict[str, float]) -> _Plan:
    uc_names = ("ols", "ipw", "aipw_gbm", "causal_forest")
    reps, tasks = [], []
    for r in range(cfg.limits_reps):
        s = data.unmeasured_confounding(cfg.limits_n, 1.0, generator=ctx.generator(71 + r))
        o = data.overlap_violation(cfg.limits_n, generator=ctx.generator(81 + r))
        seed = ctx.seed * 1000 + r
        reps.append((s, o))
        tasks += [_Fit("uc", k, seed, cfg, s.Y, s.T, s.X) for k in uc_names]
        tasks += [_Fit("ov", k, seed, cfg, o.Y, o.T, o.X) for k in ("T", "X")]

    def finish(results_: list[Any]) -> None:
        results = iter(results_)
        big = data.unmeasured_confounding(cfg.ovb_ref_n, 1.0, generator=ctx.generator(70))
        ols = sm.OLS(big.Y, sm.add_constant(np.column_stack([big.T, big.X.to_numpy()]))).fit()
        ref_bias = float(ols.params[1] - 1.0)
        biases: dict[str, list[float]] = {k: [] for k in uc_names}
        out_rmse: dict[str, list[float]] = {"T": [], "X": []}
        in_rmse: dict[str, list[float]] = {"T": [], "X": []}
        shares = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for s, o in reps:
                for k in uc_names:
                    biases[k].append(next(results) - s.ate)
                e_hat = PropensityModel().fit_predict(o.T, o.X)
                shares.append(overlap_summary(e_hat, o.T)["share_outside"])
                band = (o.X["x1"] >= 0.5) & (o.X["x1"] <= 0.7)
                for name in ("T", "X"):
                    err = next(results) - o.tau
                    out_rmse[name].append(float(np.sqrt(np.mean(err[~band] ** 2))))
                    in_rmse[name].append(float(np.sqrt(np.mean(err[band] ** 2))))
        m["uc_reference_bias"] = ref_bias
        ratios = {}
        for k, v in biases.items():
            m[f"uc_bias_{k}"] = float(np.mean(v))
            ratios[k] = abs(float(np.mean(v))) / abs(ref_bias)
        m["uc_min_bias_ratio"] = float(np.min(list(ratios.values())))  # NaN is not skipped
        m["ov_share_outside"] = float(np.mean(shares))
        for name in ("T", "X"):
            m[f"ov_{name.lower()}_rmse_outside"] = float(np.mean(out_rmse[name]))
            m[f"ov_{name.lower()}_rmse_inside"] = float(np.mean(in_rmse[name]))
            m[f"ov_{name.lower()}_rmse_ratio"] = float(np.mean(out_rmse[name]) / np.mean(in_rmse[name]))
        m["ov_min_rmse_ratio"] = float(np.min([m["ov_t_rmse_ratio"], m["ov_x_rmse_ratio"]]))

    return _Plan(tasks, finish)


def _heterogeneity(cfg: Config, ctx: RunContext, m: dict[str, float], workers: int = 1) -> None:
    """R5 on its own (``run`` overlaps its fits with the other checks)."""
    plan = _heterogeneity_plan(cfg, ctx, m)
    plan.finish(_run_fits(plan.tasks, ctx, "R5 learners", workers))


def _limits(cfg: Config, ctx: RunContext, m: dict[str, float], workers: int = 1) -> None:
    """R6 on its own (``run`` overlaps its fits with the other checks)."""
    plan = _limits_plan(cfg, ctx, m)
    plan.finish(_run_fits(plan.tasks, ctx, "R6 fits", workers))


# ---------------------------------------------------------------------------------------------------------
# R7: Darfur
# ---------------------------------------------------------------------------------------------------------


def _darfur(cfg: Config, ctx: RunContext, m: dict[str, float]) -> None:
    df = data.load_darfur()
    cols = ["directlyharmed", "age", "farmer_dar", "herder_dar", "pastvoted", "hhsize_darfur", "female"]
    cols += [c for c in df.columns if c.startswith("village_")]
    res = sm.OLS(df["peacefactor"], sm.add_constant(df[cols])).fit()
    o = ovb_from_ols(res, "directlyharmed", q=1.0, alpha=0.05)
    m.update(darfur_estimate=o["estimate"], darfur_se=o["se"], darfur_t=o["t"], darfur_dof=o["dof"],
             darfur_r2yd_x=o["r2yd_x"], darfur_rv=o["rv_q"], darfur_rv_alpha=o["rv_qa"],
             evalue_rr2=e_value(2.0).point)


# ---------------------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------------------


def _plt():  # -> matplotlib.pyplot
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _fig_love(ctx: RunContext, bal: pd.DataFrame) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 5))
    yy = np.arange(len(bal))
    ax.scatter(bal["smd_before"].abs(), yy, label="before", marker="o")
    ax.scatter(bal["smd_after_weighting"].abs(), yy, label="ATT weighting", marker="s")
    ax.scatter(bal["smd_after_matching"].abs(), yy, label="1-NN matching", marker="^")
    ax.axvline(0.1, color="grey", ls="--", lw=1)
    ax.set_yticks(yy, bal["covariate"])
    ax.set_xlabel("|SMD| (pooled pre-adjustment SD)")
    ax.legend()
    ctx.savefig(fig, "love_plot", caption="Balance of the DW-style regressors, NSW treated vs CPS controls: "
                "|SMD| before and after ATT weighting / matching (dashed: 0.1).")


def _fig_estimates(ctx: RunContext, rows: list[dict], benchmark: float) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    yy = np.arange(len(rows))
    v = np.array([r["value"] for r in rows])
    lo = np.array([r["ci_lo"] for r in rows])
    hi = np.array([r["ci_hi"] for r in rows])
    ax.errorbar(v, yy, xerr=[v - lo, hi - v], fmt="o", capsize=3)
    ax.axvline(benchmark, color="C3", ls="--", label=f"experimental DiM {benchmark:,.0f}")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(yy, [r["method"] for r in rows])
    ax.set_xlabel("effect on 1978 earnings (US$), 95 % CI")
    ax.legend(loc="lower right")
    ctx.savefig(fig, "estimates_cps", caption="NSW treated vs CPS controls: estimates with 95 % intervals per method "
                "against the experimental benchmark.")


def _fig_overlap(ctx: RunContext, e: np.ndarray, t: np.ndarray, name: str, title: str) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(0, 1, 41)
    ax.hist(e[t == 0], bins=bins, alpha=0.6, label="control")
    ax.hist(e[t == 1], bins=bins, alpha=0.6, label="treated")
    ax.set_yscale("log")
    ax.set_xlabel("estimated propensity score")
    ax.set_title(title)
    ax.legend()
    ctx.savefig(fig, name, caption=f"{title} (counts on a log scale).")


def _fig_strata(ctx: RunContext, smd5: pd.DataFrame, smd10: pd.DataFrame, att5: float) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for tab, label, marker in ((smd5, "5 pooled quintiles (coarse)", "o"), (smd10, "10 treated deciles", "s")):
        worst = tab.abs().max(axis=1)
        ax.plot(worst.index.to_numpy() + 1, worst.to_numpy(), marker=marker, label=label)  # kept strata only
    ax.axhline(0.1, color="grey", ls="--", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("stratum (by estimated propensity; strata lacking an arm are dropped)")
    ax.set_ylabel("max |SMD| within stratum")
    ax.legend()
    ctx.savefig(fig, "subclass_balance", caption="NSW+CPS subclassification: worst within-stratum |SMD| (pooled "
                "pre-adjustment SD). Coarse strata leave residual imbalance — the teaching case: 5 pooled "
                f"quintiles give an ATT of {att5:,.0f} (spec ≈ −1 600).")


def _fig_pehe(ctx: RunContext, df: pd.DataFrame) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    g = df.groupby(["setup", "learner"])["pehe"].mean().unstack(0)
    g.plot.barh(ax=ax)
    ax.set_xlabel("PEHE (mean over replications)")
    ctx.savefig(fig, "pehe", caption="PEHE of the CATE learners on Nie–Wager setups D (claim) and B (contrast).")


# ---------------------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------------------


def run(config: Config, ctx: RunContext) -> dict[str, float]:
    """One seed: every check R1–R8; returns flat metrics (verdicts are decided by ``claims.CLAIMS``).

    The fits of R5 and R6 (independent given their data and seeds, drawn here) go to ``torch.get_num_threads()``
    single-thread worker processes, which work on them while this process runs R1–R4, R7 and R8; with one thread
    they run here, one after another. The metrics are the same either way.
    """
    workers = torch.get_num_threads()  # read before the BLAS limit below, which caps torch's OpenMP pool too
    m: dict[str, float] = {}
    # BLAS stays single-threaded in this process too: its matrices are small, and the metrics then do not depend
    # on the number of cores
    with threadpool_limits(limits=1):
        plans = {"R5 heterogeneity": _heterogeneity_plan(config, ctx, m), "R6 limits": _limits_plan(config, ctx, m)}
        tasks = [t for p in plans.values() for t in p.tasks]
        n_workers = max(1, min(workers, len(tasks)))
        ctx.log(f"R5 + R6: {len(tasks)} fits on {n_workers} worker{'s' if n_workers > 1 else ''}")
        with _FitPool(n_workers) as pool:
            collect = pool.submit(tasks)
            steps = [("R1 NSW experiment", lambda: _nsw_experiment(config, ctx, m)),
                     ("R2 NSW + CPS", lambda: _nsw_cps(config, ctx, m, m["nsw_dim"])),
                     ("R3 NHEFS", lambda: _nhefs(config, ctx, m)),
                     ("R7 Darfur", lambda: _darfur(config, ctx, m)),
                     ("R8 coverage", lambda: _coverage(config, ctx, m)),
                     ("R4 Kang-Schafer", lambda: _kang_schafer(config, ctx, m))]
            for name, step in steps:
                t0 = time.perf_counter()
                step()
                ctx.log(f"{name} done in {time.perf_counter() - t0:.1f} s")
            t0 = time.perf_counter()
            results = collect()
            ctx.log(f"R5 + R6 fits collected after a further {time.perf_counter() - t0:.1f} s")
        done = 0
        for plan in plans.values():
            plan.finish(results[done : done + len(plan.tasks)])
            done += len(plan.tasks)
    ctx.save_json("metrics_detail", m)
    return {k: float(v) for k, v in m.items()}
