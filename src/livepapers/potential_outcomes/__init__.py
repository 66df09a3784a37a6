"""Potential outcomes toolkit (Dominici et al., HDSR 2021): design, estimation and sensitivity analysis.

Public API: the :class:`Estimate` result; estimators (:class:`DifferenceInMeans`, :func:`randomization_test`,
:class:`RegressionAdjustment`, :class:`IPW`, :class:`AIPW`, :class:`PSMatching`, :class:`Subclassification`,
:class:`BayesianImputation`); outcome-blind design tools (:class:`PropensityModel`, :func:`balance_table`,
:func:`overlap_summary`, :func:`trim`, :func:`effective_sample_size`, :func:`balancing_weights`); sensitivity
(:func:`e_value`, :func:`ovb_robustness`, :func:`ovb_bias_bound`, :func:`ovb_from_ols`, :func:`rosenbaum_bounds`);
heterogeneous effects (:class:`SLearner`, :class:`TLearner`, :class:`XLearner`, :class:`DRLearner`, :class:`RLearner`,
:class:`CausalForest`, :func:`pehe`); data loaders and simulators in :mod:`.data`.
"""

from livepapers.core.registry import PaperInfo

from . import data
from ._inputs import split_frame
from .design import (
    PropensityModel,
    balance_table,
    balancing_weights,
    effective_sample_size,
    overlap_summary,
    trim,
)
from .estimate import Estimate
from .estimators import (
    AIPW,
    IPW,
    BayesianImputation,
    DifferenceInMeans,
    PooledOutcome,
    PSMatching,
    RegressionAdjustment,
    Subclassification,
    ipw_sandwich_se,
    randomization_test,
)
from .hte import CausalForest, DRLearner, RLearner, SLearner, TLearner, XLearner, pehe
from .sensitivity import EValue, e_value, ovb_bias_bound, ovb_from_ols, ovb_robustness, rosenbaum_bounds

PAPER = PaperInfo(
    slug="potential-outcomes",
    title="From controlled to undisciplined data: estimating causal effects in the era of data science using a "
    "potential outcome framework",
    authors="Francesca Dominici, Falco J. Bargagli-Stoffi, Fabrizia Mealli",
    year=2021,
    arxiv="2012.06865",
    venue="Harvard Data Science Review 3(3)",
    bibtex="@article{dominici2021controlled,\n  title={From controlled to undisciplined data: estimating causal "
    "effects in the era of data science using a potential outcome framework},\n  author={Dominici, Francesca and "
    "Bargagli-Stoffi, Falco J. and Mealli, Fabrizia},\n  journal={Harvard Data Science Review},\n  volume={3},\n"
    "  number={3},\n  year={2021}\n}",
    digest_item="002_2b11fbe35f2f8327.txt #5",
    summary="A review of causal inference with potential outcomes: credible effects come from design (estimand, "
    "assumptions, outcome-blind balancing) before analysis and sensitivity analysis. Here: a tested toolkit of "
    "estimators, design diagnostics, sensitivity analysis and CATE learners, checked on public benchmarks.",
    tags=("causal-inference", "statistics", "review"),
)

__all__ = [
    "AIPW",
    "IPW",
    "PAPER",
    "BayesianImputation",
    "CausalForest",
    "DRLearner",
    "DifferenceInMeans",
    "EValue",
    "Estimate",
    "PSMatching",
    "PooledOutcome",
    "PropensityModel",
    "RLearner",
    "RegressionAdjustment",
    "SLearner",
    "Subclassification",
    "TLearner",
    "XLearner",
    "balance_table",
    "balancing_weights",
    "data",
    "e_value",
    "effective_sample_size",
    "ipw_sandwich_se",
    "ovb_bias_bound",
    "ovb_from_ols",
    "ovb_robustness",
    "overlap_summary",
    "pehe",
    "randomization_test",
    "rosenbaum_bounds",
    "split_frame",
    "trim",
]
