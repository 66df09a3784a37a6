"""Sampling is as easy as learning the score (Chen, Chewi, Li, Li, Salim, Zhang; ICLR 2023): a checkable lab.

DDPM's reverse SDE discretised by the exponential integrator samples any law with finite second moment and
Lipschitz scores to TV ``≲ √KL(q‖γ^d)·e^{−T} + (L√(dh) + L m₂ h)√T + ε_score√T`` (Theorem 2). Here: OU and CLD
forward processes with exact marginals, analytic targets with closed-form scores at every t, the samplers
(DDPM-EI, Euler–Maruyama, probability-flow Heun, CLD-EI, ULA), closed-form outputs for Gaussian targets, exact
1-D density propagation, controlled score errors, a DSM-trained ScoreNet, and the metrics (TV, KL, W2, mode
weights, the Girsanov path divergence).
"""

from livepapers.core.registry import PaperInfo

from . import data
from .errors import PerturbedScore
from .learning import ScoreNet, dsm_loss, score_l2_error, score_table
from .metrics import (
    girsanov_path_kl,
    kl_gaussian,
    kl_path_gaussian_exact,
    mode_weights,
    theorem2_rhs,
    tv_density,
    tv_histogram,
    w2_1d_density,
    w2_empirical,
    w2_gaussian,
)
from .processes import CLDProcess, OUProcess, sigma_h, van_loan
from .samplers import (
    cld_ei,
    cld_ei_gaussian_closed_form,
    ddpm_ei,
    ddpm_ei_gaussian_closed_form,
    ddpm_em,
    ei_density_1d,
    prob_flow_heun,
    ula,
    ula_density_1d,
)
from .targets import Gaussian, GaussianMixture, UniformInterval

PAPER = PaperInfo(
    slug="sgm-theory",
    title="Sampling is as easy as learning the score: theory for diffusion models with minimal data assumptions",
    authors="S Chen, S Chewi, J Li, Y Li, A Salim, A R. Zhang",
    year=2022,
    arxiv="2209.11215",
    venue="ICLR 2023",
    bibtex="@inproceedings{chen2023sampling,\n  title={Sampling is as easy as learning the score: theory for "
    "diffusion models with minimal data assumptions},\n  author={Chen, Sitan and Chewi, Sinho and Li, Jerry and "
    "Li, Yuanzhi and Salim, Adil and Zhang, Anru R.},\n  booktitle={International Conference on Learning "
    "Representations},\n  year={2023}\n}",
    digest_item="004_ae42a3c06c86c834.txt #3",
    summary="If the learned score is accurate in mean square along the noising process, DDPM samples any law with "
    "finite second moment and Lipschitz scores to TV accuracy ε in polynomially many steps, with no "
    "log-concavity. Here: exact samplers, analytic targets and controlled score errors that measure the bound's "
    "terms (step size, dimension, horizon, score error, CLD).",
    tags=("diffusion", "theory", "sampling"),
)

__all__ = [
    "PAPER",
    "CLDProcess",
    "Gaussian",
    "GaussianMixture",
    "OUProcess",
    "PerturbedScore",
    "ScoreNet",
    "UniformInterval",
    "cld_ei",
    "cld_ei_gaussian_closed_form",
    "data",
    "ddpm_ei",
    "ddpm_ei_gaussian_closed_form",
    "ddpm_em",
    "dsm_loss",
    "ei_density_1d",
    "girsanov_path_kl",
    "kl_gaussian",
    "kl_path_gaussian_exact",
    "mode_weights",
    "prob_flow_heun",
    "score_l2_error",
    "score_table",
    "sigma_h",
    "theorem2_rhs",
    "tv_density",
    "tv_histogram",
    "ula",
    "ula_density_1d",
    "van_loan",
    "w2_1d_density",
    "w2_empirical",
    "w2_gaussian",
]
