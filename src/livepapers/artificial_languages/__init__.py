"""Examining the inductive bias of neural language models with artificial languages (White & Cotterell, ACL 2021).

A base PCFG with number agreement and six binary word-order switches defines 64 languages; one set of derivation
trees linearised under each switch setting gives perfectly parallel corpora whose true entropies are equal, so any
difference in held-out perplexity is the learner's inductive bias. Here: the grammar (and the official file
format), the parallel corpus generator and designs, Transformer and LSTM LMs trained on continuous streams,
per-sentence evaluation, paired permutation tests, the switch mixed model and the WALS comparison (lang2vec).
"""

from livepapers.core.registry import PaperInfo

from .analysis import (
    all_pairs_permutation,
    fit_mixed_effects,
    paired_permutation_test,
    typology_correlation,
    wals_configurations,
)
from .data import Vocabulary, grammar_from_file, grammar_to_file, make_parallel_corpus, make_splits
from .grammar import (
    SWITCHES,
    BaseGrammar,
    Rule,
    Tree,
    all_grammars,
    design_resolution,
    expected_length,
    fractional_factorial,
    linearize,
    permute,
    spectral_radius,
)
from .models import LSTMLM, TransformerLM, corpus_perplexity, make_stream, sentence_logprobs, train_lm

PAPER = PaperInfo(
    slug="artificial-languages",
    title="Examining the Inductive Bias of Neural Language Models with Artificial Languages",
    authors="J C White, R Cotterell",
    year=2021,
    arxiv="2106.01044",
    venue="ACL 2021",
    bibtex="@inproceedings{white-cotterell-2021-examining,\n  title={Examining the Inductive Bias of Neural "
    "Language Models with Artificial Languages},\n  author={White, Jennifer C. and Cotterell, Ryan},\n  "
    "booktitle={Proceedings of the 59th Annual Meeting of the Association for Computational Linguistics and the "
    "11th International Joint Conference on Natural Language Processing (Volume 1: Long Papers)},\n  "
    "pages={454--463},\n  year={2021}\n}",
    digest_item="000_6ffecd67807843f8.txt #4",
    summary="Parallel artificial languages that differ only in word order (64 settings of six switches of one PCFG) "
    "isolate a language model's inductive bias: LSTMs are nearly order-neutral, Transformers prefer some orders, and "
    "neither preference follows typological frequency. Here: the grammar, the parallel corpora, both LMs, the "
    "permutation tests, the switch mixed model and the WALS comparison at CPU scale.",
    tags=("language models", "inductive bias", "linguistics"),
)

__all__ = [
    "LSTMLM",
    "PAPER",
    "SWITCHES",
    "BaseGrammar",
    "Rule",
    "TransformerLM",
    "Tree",
    "Vocabulary",
    "all_grammars",
    "all_pairs_permutation",
    "corpus_perplexity",
    "design_resolution",
    "expected_length",
    "fit_mixed_effects",
    "fractional_factorial",
    "grammar_from_file",
    "grammar_to_file",
    "linearize",
    "make_parallel_corpus",
    "make_splits",
    "make_stream",
    "paired_permutation_test",
    "permute",
    "sentence_logprobs",
    "spectral_radius",
    "train_lm",
    "typology_correlation",
    "wals_configurations",
]
