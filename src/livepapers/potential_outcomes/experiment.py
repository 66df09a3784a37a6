"""Reproduction of the review's methodological claims on public benchmarks (spec: papers/potential-outcomes.md).

R1 NSW experiment (DiM, FRT, ANCOVA, Lin) · R2 NSW treated vs CPS controls (design stage, weighting, AIPW,
matching, subclassification, balance) · R3 NHEFS (IPW, standardisation, AIPW) · R4 Kang–Schafer double robustness ·
R5 Nie–Wager heterogeneity (meta-learners, causal forest) · R6 limits (unmeasured confounding, overlap violation) ·
R7 Darfur sensitivity (robustness value, E-value) · R8 coverage of the Neyman interval. ``run`` handles one seed;
the real-data parts are deterministic, the simulations draw from generators seeded by ``ctx.seed``.

Where the time goes (default profile, one thread): R5 ≈ 60 %, R6 ≈ 30 %, R2 ≈ 7 %, the rest < 5 %. The learner and
estimator fits of R5 and R6 are independent given their data and seeds, so ``run`` hands them to
``torch.get_num_threads()`` single-thread worker processes that work while this process runs the other checks;
the data are drawn here, so the metrics are identical whatever the number of workers. R5 and R6 live in
:mod:`.fits`, the figures in :mod:`.figures`, the metric names in :mod:`.metrics`.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
import torch
from sklearn.linear_model import LinearRegression
from threadpoolctl import threadpool_limits

from livepapers.core.config import Profile
from livepapers.core.runs import RunContext
from livepapers.core.stats import max_or_nan, min_or_nan

from . import data, figures
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
from .fits import FitPool, heterogeneity_plan, limits_plan, n_workers
from .metrics import KS_ESTIMATORS, ks_key
from .sensitivity import e_value, ovb_from_ols


@dataclass(frozen=True)
class Config:
    n_perm: int = 10_000  # Fisher randomisation test draws (R1)
    n_boot: int = 200  # bootstrap draws for standardisation / IPW SEs (spec: 200 in reproduce)
    n_draws: int = 1000  # posterior draws of Bayesian imputation
    coverage_reps: int = 500  # R8: re-randomisations of one finite population
    coverage_n: int = 200
    ks_reps: int = 200  # R4: Kang–Schafer replications
    ks_n: int = 1000
    hte_reps: int = 3  # R5: paired Nie–Wager replications
    hte_n: int = 2000
    hte_d: int = 6
    n_estimators: int = 200  # trees per causal forest (R5, R6)
    limits_reps: int = 3  # R6
    limits_n: int = 2000
    ovb_ref_n: int = 200_000  # draws for the reference omitted-variable bias
    figures: bool = True


# real-data parts are deterministic and the simulations replicate inside run(): one seed, both cores
PROFILES: dict[str, Profile] = {
    "smoke": Profile(Config(n_perm=2000, n_boot=20, n_draws=200, coverage_reps=100, ks_reps=20, hte_reps=1,
                            hte_n=500, n_estimators=20, limits_reps=1, limits_n=500, ovb_ref_n=20_000), n_seeds=1),
    "default": Profile(Config(), n_seeds=1),
    # documented only: B = 2 000 bootstrap draws, 2 000-tree forests, 1 000 Kang–Schafer replications
    "paper": Profile(Config(n_perm=200_000, n_boot=2000, ks_reps=1000, n_estimators=2000, hte_reps=10,
                            limits_reps=10), n_seeds=1),
}


def _nsw_experiment(cfg: Config, ctx: RunContext, m: dict[str, float]) -> None:
    """R1: the NSW randomised experiment."""
    df = data.load_nsw("experimental")
    y, t, x = df["re78"], df["treat"], df[list(data.NSW_COVARIATES)]
    dim = DifferenceInMeans().fit(y, t).estimate_
    hc2 = sm.OLS(y.to_numpy(), sm.add_constant(t.to_numpy())).fit(cov_type="HC2")
    _, p = randomization_test(y, t, n_perm=cfg.n_perm, seed=ctx.seed)
    anc = RegressionAdjustment(method="ancova").fit(y, t, x).estimate_
    lin = RegressionAdjustment(method="lin").fit(y, t, x).estimate_
    std = RegressionAdjustment(method="standardization", n_boot=cfg.n_boot, seed=ctx.seed).fit(y, t, x).estimate_
    bayes = BayesianImputation(n_draws=cfg.n_draws, seed=ctx.seed).fit(y, t, x).estimate_
    m.update(nsw_dim=dim.value, nsw_neyman_se=dim.stderr, nsw_neyman_minus_hc2=abs(dim.stderr - float(hc2.bse[1])),
             nsw_frt_p=p, nsw_ancova=anc.value, nsw_ancova_se=anc.stderr, nsw_lin=lin.value, nsw_lin_se=lin.stderr,
             nsw_standardization=std.value, nsw_standardization_se=std.stderr, nsw_bayes=bayes.value,
             nsw_bayes_sd=bayes.stderr, nsw_min_ci_lo=min_or_nan(e.ci()[0] for e in (dim, anc, lin)))
    ctx.log(f"NSW experiment: DiM {dim.value:.2f} (SE {dim.stderr:.2f}), FRT p {p:.4f}, ANCOVA {anc.value:.1f}, "
            f"Lin {lin.value:.1f}")


def _coverage(cfg: Config, ctx: RunContext, m: dict[str, float]) -> None:
    """R8: one finite population with skewed, heterogeneous potential outcomes, re-randomised ``coverage_reps``
    times (complete randomisation, $n_1 = n/2$); coverage of the Neyman 95 % CI for the SATE."""
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


def _nsw_cps(cfg: Config, ctx: RunContext, m: dict[str, float], benchmark: float) -> None:
    """R2: NSW treated vs CPS controls, design stage then ATT estimators; ``benchmark`` = the experimental DiM."""
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
             cps_max_smd_before=max_or_nan(bal_w["smd_before"].abs()),  # a NaN SMD is not skipped
             cps_max_smd_after=max_or_nan(bal_w["smd_after"].abs()),
             cps_max_smd_after_matching=max_or_nan(bal_m["smd_after"].abs()),
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
        figures.love_plot(ctx, bal)
        figures.estimates_plot(ctx, rows, benchmark)
        figures.overlap_plot(ctx, e, t.to_numpy(), "overlap_cps", "NSW treated vs CPS controls: estimated propensity")
        figures.strata_balance_plot(ctx, sub5.diagnostics["strata_smd"], sub10.diagnostics["strata_smd"], sub5.value)


def _nhefs(cfg: Config, ctx: RunContext, m: dict[str, float]) -> None:
    """R3: NHEFS, quitting smoking → weight gain."""
    df = data.load_nhefs()
    y, t = df["wt82_71"], df["qsmk"]
    x = data.nhefs_design(df)
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
        figures.overlap_plot(ctx, e, t.to_numpy(), "overlap_nhefs", "NHEFS: estimated propensity of quitting smoking")


def _ols_predict(x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return LinearRegression().fit(x[mask], y[mask]).predict(x)


def _kang_schafer(cfg: Config, ctx: RunContext, m: dict[str, float]) -> None:
    """R4: bias and RMSE of the estimators of $E[Y(1)] = 210$ over ``ks_reps`` Kang–Schafer samples."""
    gen = ctx.generator(4)
    res: dict[str, list[float]] = {k: [] for k in KS_ESTIMATORS}
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
    rows = []
    for k, v in res.items():
        err = np.asarray(v) - 210.0
        m[ks_key(k, "bias")], m[ks_key(k, "rmse")] = float(err.mean()), float(np.sqrt(np.mean(err**2)))
        rows.append({"estimator": k, "bias": m[ks_key(k, "bias")], "rmse": m[ks_key(k, "rmse")]})
    ctx.save_csv("kang_schafer", rows)


def _darfur(cfg: Config, ctx: RunContext, m: dict[str, float]) -> None:
    """R7: Darfur sensitivity analysis (Cinelli & Hazlett 2020) and the E-value of RR = 2."""
    df = data.load_darfur()
    res = sm.OLS(df["peacefactor"], sm.add_constant(data.darfur_design(df))).fit()
    o = ovb_from_ols(res, "directlyharmed", q=1.0, alpha=0.05)
    m.update(darfur_estimate=o["estimate"], darfur_se=o["se"], darfur_t=o["t"], darfur_dof=o["dof"],
             darfur_r2yd_x=o["r2yd_x"], darfur_rv=o["rv_q"], darfur_rv_alpha=o["rv_qa"],
             evalue_rr2=e_value(2.0).point)


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
        plans = {"R5 heterogeneity": heterogeneity_plan(config, ctx, m), "R6 limits": limits_plan(config, ctx, m)}
        tasks = [t for p in plans.values() for t in p.tasks]
        used = n_workers(workers, tasks)
        ctx.log(f"R5 + R6: {len(tasks)} fits on {used} worker{'s' if used > 1 else ''}")
        with FitPool(used) as pool:
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
