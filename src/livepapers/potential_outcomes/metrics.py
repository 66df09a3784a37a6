"""Metric names of the reproduction, shared by ``experiment.run`` (which returns them) and ``claims.METRICS`` (which
declares them): one definition of every name family.

Families: ``ks_<estimator>_<bias|rmse>`` (R4), ``nw_<setup>_pehe_<learner>`` (R5), ``uc_bias_<estimator>`` (R6,
unmeasured confounding), ``ov_<learner>_rmse_<outside|inside|ratio>`` (R6, overlap violation).
"""

from __future__ import annotations

# R4: the Kang–Schafer estimators of E[Y(1)] = 210, in the order of the CSV: key -> what it is
KS_ESTIMATORS = {
    "naive": "the mean of the observed (treated) outcomes",
    "aipw_both": "AIPW with the right propensity and outcome models (on Z)",
    "aipw_ps_only": "AIPW with the right propensity model only (outcome model on X)",
    "aipw_outcome_only": "AIPW with the right outcome model only (propensity model on X)",
    "aipw_none": "AIPW with both models misspecified (on X)",
    "ipw_ht_x": "Horvitz–Thompson IPW with the misspecified propensity model (on X)",
    "ipw_hajek_x": "Hájek IPW with the misspecified propensity model (on X)",
}
KS_STATS = {"bias": ("bias", None), "rmse": ("RMSE", False)}  # statistic -> (in words, higher_is_better)

# R5: the CATE learners (names as in the CSV and figure) -> metric key; Nie–Wager setups D (claim) and B (contrast)
LEARNERS = {"T-learner (OLS)": "t_ols", "X-learner": "x", "DR-learner": "dr", "R-learner": "r",
            "causal forest": "cf"}
HTE_SETUPS = ("D", "B")

# R6: estimators of the ATE under unmeasured confounding (they see X only), and the learners under an overlap violation
UC_ESTIMATORS = {
    "ols": "OLS of Y on W and X",
    "ipw": "Hájek IPW (logit propensity)",
    "aipw_gbm": "AIPW with boosted outcome models",
    "causal_forest": "the causal forest's mean CATE",
}
OV_LEARNERS = {"T": "T-learner", "X": "X-learner"}
OV_STATS = ("outside", "inside", "ratio")  # CATE RMSE outside / inside the overlap band, and their ratio


def ks_key(estimator: str, stat: str) -> str:
    """``ks_<estimator>_<bias|rmse>``: ``ks_aipw_both_rmse``."""
    return f"ks_{estimator}_{stat}"


def pehe_key(setup: str, learner: str) -> str:
    """``nw_<setup>_pehe_<key>`` for a learner named as in :data:`LEARNERS`: ``nw_d_pehe_cf``."""
    return f"nw_{setup.lower()}_pehe_{LEARNERS[learner]}"


def uc_key(estimator: str) -> str:
    """``uc_bias_<estimator>``: ``uc_bias_aipw_gbm``."""
    return f"uc_bias_{estimator}"


def ov_key(learner: str, stat: str) -> str:
    """``ov_<t|x>_rmse_<outside|inside|ratio>``: ``ov_x_rmse_ratio``."""
    return f"ov_{learner.lower()}_rmse_{stat}"
