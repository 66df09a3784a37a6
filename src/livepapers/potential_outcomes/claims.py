"""The review's methodological claims (C1–C4) as the spec's pre-registered checks R1–R8 on public benchmarks.

Thresholds are the spec's (papers/potential-outcomes.md, "Checks" and "Performance anchors"), written before the
first run. Where the spec gives a reference value without a tolerance (ANCOVA/Lin SEs, naive Kang–Schafer bias
"≈ −10") the tolerance is stated here: ±1 on the SEs (as for the Neyman SE), [−12, −8] for the naive bias.
The real-data checks are deterministic (one seed suffices); the simulation checks replicate inside ``run``.
``METRICS`` declares every metric ``run`` returns; the name families come from :mod:`.metrics`.
"""

from livepapers.core.claims import AllOf, Band, Claim, Metric, Order, Ratio

from .metrics import (
    KS_ESTIMATORS,
    KS_STATS,
    LEARNERS,
    OV_LEARNERS,
    UC_ESTIMATORS,
    ks_key,
    ov_key,
    pehe_key,
    uc_key,
)

_US = "US$"  # effects on 1978 earnings (NSW)
_KG = "kg"  # weight gain 1971–1982 (NHEFS)
_BAND = "x₁ ∈ [0.5, 0.7]"  # the overlap band of the overlap-violation simulator

# every metric run() returns, in every profile (the smoke profile only has fewer replications)
METRICS: dict[str, Metric] = {
    # R1: NSW randomised experiment
    "nsw_dim": Metric("difference in means, NSW experiment", _US, None),
    "nsw_neyman_se": Metric("Neyman SE of the difference in means, NSW experiment", _US, None),
    "nsw_neyman_minus_hc2": Metric("|Neyman SE − HC2 SE of OLS on the treatment| (0 in exact arithmetic)", _US, False),
    "nsw_frt_p": Metric("Fisher randomisation test p-value of the sharp null, NSW experiment", "", None),
    "nsw_ancova": Metric("ANCOVA estimate, NSW experiment", _US, None),
    "nsw_ancova_se": Metric("HC2 SE of the ANCOVA estimate, NSW experiment", _US, None),
    "nsw_lin": Metric("Lin (2013) interacted regression estimate, NSW experiment", _US, None),
    "nsw_lin_se": Metric("HC2 SE of the Lin estimate, NSW experiment", _US, None),
    "nsw_standardization": Metric("standardisation (g-formula) estimate, NSW experiment", _US, None),
    "nsw_standardization_se": Metric("bootstrap SE of the standardisation estimate, NSW experiment", _US, None),
    "nsw_bayes": Metric("posterior mean SATE by Bayesian imputation, NSW experiment", _US, None),
    "nsw_bayes_sd": Metric("posterior SD of the SATE by Bayesian imputation, NSW experiment", _US, None),
    "nsw_min_ci_lo": Metric("lowest lower 95 % CI bound of difference in means, ANCOVA and Lin", _US, None),
    # R2: NSW treated vs CPS controls
    "cps_naive": Metric("naive difference in means, NSW treated vs CPS controls", _US, None),
    "cps_ps_llf": Metric("log-likelihood of the propensity logit, NSW + CPS", "", None),
    "cps_ps_converged": Metric("1 if the propensity logit converged, NSW + CPS (precondition of the design)", "",
                               True),
    "cps_ipw_att": Metric("Hájek IPW ATT, NSW + CPS", _US, None),
    "cps_ipw_att_se": Metric("bootstrap SE of the IPW ATT, NSW + CPS", _US, None),
    "cps_aipw_att": Metric("AIPW ATT, NSW + CPS", _US, None),
    "cps_aipw_att_se": Metric("influence-function SE of the AIPW ATT, NSW + CPS", _US, None),
    "cps_nn_att": Metric("1-NN propensity-score matching ATT, NSW + CPS", _US, None),
    "cps_nn_att_se": Metric("Abadie–Imbens SE of the matching ATT, NSW + CPS", _US, None),
    "cps_nn_unmatched": Metric("treated units without a control within the caliper, NSW + CPS", "units", None),
    "cps_subclass_att": Metric("subclassification ATT, 10 treated-decile strata, NSW + CPS", _US, None),
    "cps_subclass_att_se": Metric("SE of the 10-stratum subclassification ATT, NSW + CPS", _US, None),
    "cps_subclass_cs_att": Metric("10-stratum subclassification ATT with common support, NSW + CPS", _US, None),
    "cps_subclass5_att": Metric("subclassification ATT, 5 pooled quintiles (coarse teaching case), NSW + CPS", _US,
                                None),
    "cps_subclass5_max_smd_within": Metric("largest within-stratum |SMD|, 5 pooled quintiles, NSW + CPS", "", False),
    "cps_subclass10_max_smd_within": Metric("largest within-stratum |SMD|, 10 treated deciles, NSW + CPS", "", False),
    "cps_max_smd_before": Metric("largest |SMD| of the DW-style regressors before adjustment, NSW + CPS", "", None),
    "cps_max_smd_after": Metric("largest |SMD| of the DW-style regressors after ATT weighting, NSW + CPS", "", False),
    "cps_max_smd_after_matching": Metric("largest |SMD| of the DW-style regressors after 1-NN matching, NSW + CPS", "",
                                         False),
    "cps_ess_control": Metric("Kish effective sample size of the ATT-weighted controls, NSW + CPS", "units", True),
    "cps_share_outside": Metric("share of units with ê outside [0.1, 0.9], NSW + CPS", "", None),
    "cps_share_outside_treated": Metric("share of treated units with ê outside [0.1, 0.9], NSW + CPS", "", None),
    # R3: NHEFS
    "nhefs_unadjusted": Metric("unadjusted difference in mean weight gain, quitters vs non-quitters (NHEFS)", _KG,
                               None),
    "nhefs_ipw": Metric("Hájek IPW ATE of quitting smoking on weight gain (NHEFS)", _KG, None),
    "nhefs_ipw_se": Metric("bootstrap SE of the IPW ATE (NHEFS)", _KG, None),
    "nhefs_ipw_ht": Metric("Horvitz–Thompson IPW ATE (NHEFS)", _KG, None),
    "nhefs_weight_mean": Metric("mean inverse-probability weight 1/ê or 1/(1 − ê) (NHEFS)", "", None),
    "nhefs_weight_max": Metric("largest inverse-probability weight (NHEFS)", "", None),
    "nhefs_sw_mean": Metric("mean stabilised weight (NHEFS)", "", None),
    "nhefs_sw_max": Metric("largest stabilised weight (NHEFS)", "", None),
    "nhefs_standardization": Metric("standardisation (g-formula, pooled outcome model) ATE (NHEFS)", _KG, None),
    "nhefs_standardization_se": Metric("bootstrap SE of the standardisation ATE (NHEFS)", _KG, None),
    "nhefs_aipw": Metric("AIPW ATE with the pooled outcome model (NHEFS)", _KG, None),
    "nhefs_aipw_se": Metric("influence-function SE of the AIPW ATE (NHEFS)", _KG, None),
    "nhefs_aipw_per_arm": Metric("AIPW ATE with per-arm OLS outcome models (NHEFS)", _KG, None),
    # R4: Kang–Schafer, estimators of E[Y(1)] = 210
    **{ks_key(k, stat): Metric(f"{what} of {doc} for E[Y(1)] = 210 (Kang–Schafer)", "", better)
       for k, doc in KS_ESTIMATORS.items() for stat, (what, better) in KS_STATS.items()},
    # R5: Nie–Wager heterogeneity
    **{pehe_key("D", name): Metric(f"PEHE of the {name}, Nie–Wager setup D (mean over replications)", "", False)
       for name in LEARNERS},
    **{pehe_key("B", name): Metric(f"PEHE of the {name}, Nie–Wager setup B (contrast, no verdict)", "", False)
       for name in LEARNERS},
    "nw_d_pehe_ratio_best": Metric("PEHE of the best flexible learner / PEHE of the OLS T-learner, setup D", "",
                                   False),
    "nw_d_cf_in_range": Metric("share of causal-forest predictions within the range of τ, setup D", "", True),
    # R6: limits of ML without design
    "uc_reference_bias": Metric("omitted-variable bias of OLS on W and X under unmeasured confounding "
                                "(large-sample reference)", "", None),
    **{uc_key(k): Metric(f"bias of {doc} under unmeasured confounding (τ = 1)", "", None)
       for k, doc in UC_ESTIMATORS.items()},
    "uc_min_bias_ratio": Metric("smallest |bias| / |reference bias| over the estimators that see X only", "", None),
    "ov_share_outside": Metric("share of units with ê outside [0.1, 0.9] under the overlap violation", "", None),
    **{ov_key(k, "outside"): Metric(f"CATE RMSE of the {doc} outside the overlap band {_BAND}", "", False)
       for k, doc in OV_LEARNERS.items()},
    **{ov_key(k, "inside"): Metric(f"CATE RMSE of the {doc} inside the overlap band {_BAND}", "", False)
       for k, doc in OV_LEARNERS.items()},
    **{ov_key(k, "ratio"): Metric(f"CATE RMSE of the {doc} outside / inside the overlap band", "", None)
       for k, doc in OV_LEARNERS.items()},
    "ov_min_rmse_ratio": Metric("smaller of the T- and X-learner's outside / inside RMSE ratios", "", None),
    # R7: Darfur sensitivity analysis
    "darfur_estimate": Metric("OLS effect of being directly harmed on the peace index (Darfur)", "", None),
    "darfur_se": Metric("classical SE of the Darfur effect", "", None),
    "darfur_t": Metric("t-value of the Darfur effect", "", None),
    "darfur_dof": Metric("residual degrees of freedom of the Darfur regression", "", None),
    "darfur_r2yd_x": Metric("partial R² of the treatment with the outcome (Darfur)", "", None),
    "darfur_rv": Metric("robustness value RV_q, q = 1 (Darfur)", "", None),
    "darfur_rv_alpha": Metric("robustness value RV_q,α, q = 1, α = 0.05 (Darfur)", "", None),
    "evalue_rr2": Metric("E-value of a risk ratio of 2", "", None),
    # R8: Neyman interval
    "neyman_coverage": Metric("coverage of the Neyman 95 % interval over complete re-randomisations", "", True),
}

CLAIMS = (
    Claim(
        id="R1",
        statement="C1: in the NSW randomised experiment the difference in means is $1 794 with Neyman SE 671 "
        "(= the HC2 SE of OLS on the treatment), the Fisher randomisation test rejects the sharp null, and "
        "ANCOVA / Lin adjustment give $1 676 / $1 622 with 95 % intervals that exclude 0.",
        source="§2 (experimental thinking); NSW benchmark re-computed in the spec",
        paper_value="DiM 1 794.34 ± 671.0; FRT p ≈ 0.0045; ANCOVA 1 676.3 (SE 677.0); Lin 1 621.6 (SE 694.7)",
        check=AllOf((
            Band("nsw_dim", lo=1794.33, hi=1794.35),
            Band("nsw_neyman_se", lo=670.0, hi=672.0),
            Band("nsw_neyman_minus_hc2", hi=1e-6),
            Band("nsw_frt_p", hi=0.01),
            Band("nsw_ancova", lo=1675.3, hi=1677.3),
            Band("nsw_ancova_se", lo=676.0, hi=678.0),
            Band("nsw_lin", lo=1620.6, hi=1622.6),
            Band("nsw_lin_se", lo=693.7, hi=695.7),
            Order("nsw_min_ci_lo", ">", 0.0),
        )),
    ),
    Claim(
        id="R2",
        statement="C2: NSW treated vs CPS controls, the naive comparison is −$8 498; after an outcome-blind "
        "design stage (converged logit propensity model) IPW-ATT, AIPW-ATT, 1-NN matching and 10-stratum "
        "subclassification all land in [+500, +3 000] and ATT weighting brings max |SMD| (pooled pre-adjustment SD) "
        "from > 1 to ≤ 0.12.",
        source="§3 (design stage); LaLonde / Dehejia–Wahba benchmark re-computed in the spec",
        paper_value="naive −8 497.5; IPW-ATT 1 654, AIPW-ATT 1 496, NN 1 766, subclass. 952; max |SMD| 2.43 → 0.099",
        check=AllOf((
            Band("cps_naive", lo=-8498.5, hi=-8496.5),
            Band("cps_ps_converged", lo=1.0),
            Band("cps_ipw_att", lo=500.0, hi=3000.0),
            Band("cps_aipw_att", lo=500.0, hi=3000.0),
            Band("cps_nn_att", lo=500.0, hi=3000.0),
            Band("cps_subclass_att", lo=500.0, hi=3000.0),
            Band("cps_max_smd_before", lo=1.0),
            Band("cps_max_smd_after", hi=0.12),
        )),
    ),
    Claim(
        id="R3",
        statement="C3: on NHEFS (smoking cessation → weight gain) IPW, standardisation and AIPW agree "
        "(3.44 / 3.52 / 3.46 kg) and differ from the unadjusted 2.54 kg.",
        source="§3–4; Hernán & Robins, Causal Inference: What If, ch. 12–13",
        paper_value="unadjusted 2.54; IPW 3.44; standardisation 3.52; AIPW 3.46 (H&R: 2.5 / 3.4 / 3.5)",
        check=AllOf((
            Band("nhefs_unadjusted", lo=2.53, hi=2.55),
            Band("nhefs_ipw", lo=3.43, hi=3.45),
            Band("nhefs_standardization", lo=3.51, hi=3.53),
            Band("nhefs_aipw", lo=3.44, hi=3.48),
        )),
    ),
    Claim(
        id="R4",
        statement="C3 (double robustness): in Kang–Schafer, AIPW is nearly unbiased (|bias| < 1) when either the "
        "propensity or the outcome model is right, IPW-HT with the misspecified propensity has ≥ 2× the RMSE of "
        "AIPW with both right, and the naive mean is biased by ≈ −10.",
        source="§4 (doubly robust estimation); Kang & Schafer (2007)",
        paper_value="naive −9.9; AIPW bias +0.25 / +0.05; IPW-HT(X) RMSE 57 vs AIPW RMSE 1.20",
        check=AllOf((
            Band("ks_aipw_ps_only_bias", lo=-1.0, hi=1.0),
            Band("ks_aipw_outcome_only_bias", lo=-1.0, hi=1.0),
            Ratio("ks_ipw_ht_x_rmse", "ks_aipw_both_rmse", lo=2.0),
            Band("ks_naive_bias", lo=-12.0, hi=-8.0),
        )),
    ),
    Claim(
        id="R5",
        statement="C4: with a non-linear effect (Nie–Wager setup D) the best flexible learner (causal forest, X-, "
        "DR-, R-learner) has PEHE ≤ 0.8 × the OLS T-learner's, and the causal forest's predictions stay within "
        "the range of τ (≥ 95 %).",
        source="§5 (machine learning for heterogeneous effects)",
        paper_value="review check: best/OLS ≈ 0.62–0.70",
        check=AllOf((
            Band("nw_d_pehe_ratio_best", hi=0.8),
            Band("nw_d_cf_in_range", lo=0.95),
        )),
    ),
    Claim(
        id="R6",
        statement="C4 (limits): under unmeasured confounding every estimator that sees only X keeps ≥ 50 % of the "
        "omitted-variable bias; without overlap, > 30 % of units have ê outside [0.1, 0.9] and the T-/X-learners' "
        "CATE error outside the overlap band is ≥ 2× the error inside.",
        source="§5–6 (ML is not a substitute for design)",
        paper_value="qualitative",
        check=AllOf((
            Band("uc_min_bias_ratio", lo=0.5),
            Band("ov_share_outside", lo=0.3),
            Band("ov_min_rmse_ratio", lo=2.0),
        )),
    ),
    Claim(
        id="R7",
        statement="C4 (sensitivity): for the Darfur example the OLS effect of being directly harmed is 0.0973 "
        "(SE 0.0233, t 4.18, df 783) with robustness value 13.88 % (7.63 % at α = 0.05); E-value of RR = 2 is 3.414.",
        source="§6 (sensitivity analysis); Cinelli & Hazlett (2020); VanderWeele & Ding (2017)",
        paper_value="RV 13.9 %",
        check=AllOf((
            Band("darfur_estimate", lo=0.09732 - 5e-6, hi=0.09732 + 5e-6),
            Band("darfur_se", lo=0.02326 - 5e-6, hi=0.02326 + 5e-6),
            Band("darfur_t", lo=4.183, hi=4.185),
            Band("darfur_r2yd_x", lo=0.0218, hi=0.0220),
            Band("darfur_rv", lo=0.1387, hi=0.1389),
            Band("darfur_rv_alpha", lo=0.0762, hi=0.0764),
            Band("evalue_rr2", lo=3.413, hi=3.415),
        )),
    ),
    Claim(
        id="R8",
        statement="C1: the Neyman 95 % interval covers the sample average effect at least 93 % of the time over "
        "500 complete re-randomisations of a finite population.",
        source="§2; spec performance anchor",
        paper_value="≥ 93 % (nominal 95 %, conservative)",
        check=Band("neyman_coverage", lo=0.93),
    ),
)

# human labels for the site: the claim cards' short titles (metric labels fall back to the METRICS doc)
LABELS: dict[str, str] = {
    "R1": "A randomised experiment, analysed three ways",
    "R2": "Design before analysis: observational controls made comparable",
    "R3": "Three adjustments agree on observational data",
    "R4": "Double robustness",
    "R5": "Flexible learners for heterogeneous effects",
    "R6": "What flexible learners cannot fix: confounding and overlap",
    "R7": "Sensitivity to unmeasured confounding",
    "R8": "The Neyman interval is conservative",
}
