"""Extracting Training Data from Large Language Models (Carlini et al., USENIX Security 2021): the attack and its
ground truth, on small GPTs trained here on a generated corpus with planted secrets.

The attack (1) samples many texts from a causal LM (top-n, decaying temperature, or prompts from a held-out
"Internet" scrape), (2) ranks them by membership scores that flag text the model finds unexpectedly likely — raw
perplexity ``−log P_T`` or the comparisons ``log P_S / log P_T`` (a smaller model), ``Z / log P_T`` (zlib bytes),
``log P_low / log P_T`` (lower-cased text) and the minimum sliding-window perplexity — (3) deduplicates by word
trigrams and (4) verifies the top candidates against the training text (here exactly, with a suffix array). The
Secret Sharer exposure ``log2|R| − log2 rank`` grades the memorisation of planted canaries. Every function works
with any Hugging Face causal LM and tokenizer loaded from a local path.
"""

from livepapers.core.registry import PaperInfo

from . import data
from .attack import STRATEGIES, TemperatureDecay, cut_prompts, generate_samples, greedy_complete
from .data import LICENCE, Secret, SecretCorpus, make_secret_corpus
from .exposure import (
    canary_log_perplexity,
    expected_interpolation_exposure,
    exposure_exact,
    exposure_extrapolation,
    exposure_interpolation,
    fit_skewnorm,
    random_secrets,
)
from .index import CorpusIndex, is_k_eidetic, suffix_array
from .metrics import (
    SCORES,
    duplicate_rate,
    log_perplexity,
    score_samples,
    select_candidates,
    token_nlls,
    trigram_dedup,
    window_min_log_ppl,
    zlib_entropy,
)
from .models import gpt2_config, make_rows, train_bpe_tokenizer, train_small_gpt

PAPER = PaperInfo(
    slug="data-extraction",
    title="Extracting Training Data from Large Language Models",
    authors="N Carlini, F Tramèr, E Wallace, M Jagielski, A Herbert-Voss, K Lee, A Roberts, T Brown, D Song, "
    "Ú Erlingsson, A Oprea, C Raffel",
    year=2021,
    arxiv="2012.07805",
    venue="USENIX Security 2021",
    bibtex="@inproceedings{carlini2021extracting,\n  title={Extracting Training Data from Large Language Models},\n"
    "  author={Carlini, Nicholas and Tram{\\`e}r, Florian and Wallace, Eric and Jagielski, Matthew and "
    "Herbert-Voss, Ariel and Lee, Katherine and Roberts, Adam and Brown, Tom and Song, Dawn and Erlingsson, "
    "{\\'U}lfar and Oprea, Alina and Raffel, Colin},\n  booktitle={30th USENIX Security Symposium},\n"
    "  pages={2633--2650},\n  year={2021}\n}",
    digest_item="002_2b11fbe35f2f8327.txt #4",
    summary="Sampling from a language model and ranking the samples by comparison membership scores (zlib, a "
    "smaller model, lower-casing, sliding window) extracts verbatim training text, even text seen in one document. "
    "Here: the full attack, exact ground truth and Secret Sharer exposure on GPTs trained on a corpus with planted "
    "secrets of known duplication counts.",
    tags=("privacy", "language models", "memorization"),
)

__all__ = [
    "LICENCE",
    "PAPER",
    "SCORES",
    "STRATEGIES",
    "CorpusIndex",
    "Secret",
    "SecretCorpus",
    "TemperatureDecay",
    "canary_log_perplexity",
    "cut_prompts",
    "data",
    "duplicate_rate",
    "expected_interpolation_exposure",
    "exposure_exact",
    "exposure_extrapolation",
    "exposure_interpolation",
    "fit_skewnorm",
    "generate_samples",
    "gpt2_config",
    "greedy_complete",
    "is_k_eidetic",
    "log_perplexity",
    "make_rows",
    "make_secret_corpus",
    "random_secrets",
    "score_samples",
    "select_candidates",
    "suffix_array",
    "token_nlls",
    "train_bpe_tokenizer",
    "train_small_gpt",
    "trigram_dedup",
    "window_min_log_ppl",
    "zlib_entropy",
]
