"""Counterfactual invariance to spurious correlations (Veitch, D'Amour, Yadlowsky, Eisenstein; NeurIPS 2021).

A predictor f is counterfactually invariant (CI) to an attribute Z if f(X(z)) = f(X(z')) — it passes every stress
test that changes only Z. Counterfactuals are rarely available, so the paper enforces an observable signature of CI
(Theorem 3.2) with an MMD penalty, and which one depends on the causal structure: f(X) ⊥ Z | Y for anti-causal data
(Y → X), f(X) ⊥ Z for causal data with confounding (X → Y). Here: the Gaussian-mixture MMD estimators, the marginal
and conditional penalties (``CIRegularizer``), the stress test, the MMD permutation test, a bag-of-embeddings
classifier with its training loop, and the ``SpuriousReviews`` generator with exact counterfactual pairs and exact
Bayes predictors (``livepapers.counterfactual_invariance.data``).
"""

from livepapers.core.registry import PaperInfo

from . import data
from .data import SpuriousReviews
from .mmd import RBFMixtureKernel, conditional_mmd, marginal_mmd, mmd2, mmd_permutation_test
from .models import BagOfEmbeddingsClassifier, train
from .regularizer import CIRegularizer, signature_for
from .stress import accuracy, stress_test

PAPER = PaperInfo(
    slug="counterfactual-invariance",
    title="Counterfactual Invariance to Spurious Correlations: Why and How to Pass Stress Tests",
    authors="V Veitch, A D'Amour, S Yadlowsky, J Eisenstein",
    year=2021,
    arxiv="2106.00545",
    venue="NeurIPS 2021",
    bibtex="@inproceedings{veitch2021counterfactual,\n  title={Counterfactual Invariance to Spurious Correlations: "
    "Why and How to Pass Stress Tests},\n  author={Veitch, Victor and D'Amour, Alexander and Yadlowsky, Steve and "
    "Eisenstein, Jacob},\n  booktitle={Advances in Neural Information Processing Systems},\n  year={2021}\n}",
    digest_item="000_6ffecd67807843f8.txt #3",
    summary="Passing a stress test is counterfactual invariance; its observable signature depends on the causal "
    "direction (conditional MMD for anti-causal data, marginal MMD for causal confounded data), and the matched "
    "penalty buys invariance and robustness to shifts of the Y–Z association. Here: the penalties, the stress test, "
    "and a synthetic review generator with exact counterfactuals and exact Bayes ceilings.",
    tags=("causality", "robustness", "regularization", "nlp"),
)

__all__ = [
    "PAPER",
    "BagOfEmbeddingsClassifier",
    "CIRegularizer",
    "RBFMixtureKernel",
    "SpuriousReviews",
    "accuracy",
    "conditional_mmd",
    "data",
    "marginal_mmd",
    "mmd2",
    "mmd_permutation_test",
    "signature_for",
    "stress_test",
    "train",
]
