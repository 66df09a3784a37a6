"""The spec's pre-registered checks C1–C6 (papers/data-extraction.md, "Checks"), written before any run.

The claims pool the 3 replicates (sums of counts, 15 canaries per group); ``run`` returns those pooled statistics
as one framework seed, so every check judges the value itself. Sums over replicates are compared through the
replicate means (equal numbers of replicates on both sides). Preconditions (the issue's sanity gates): the 64-char
verbatim threshold is valid on every replicate's corpora (< 2 % of held-out documents, licence excluded, have a
≥ 64-char match to training; gate of C1 and C5); C1's validity condition (≥ 2 strategies with a tier-A base rate in
[2 %, 60 %]); C6's "no overfitting" condition (train/held-out gap ≤ 0.25); and, for every claim, "the model
learned": the large model's held-out NLL ≤ a count bigram's on every replicate (pre-registered after the first
default run showed a large model worse than a bigram table; see the README's History).
"""

from livepapers.core.claims import AllOf, Band, Claim, Metric, Order

from .attack import STRATEGIES
from .metrics import SCORES

_COUNTS = (1, 2, 4, 8, 16, 32)
_MODELS = ("large", "medium", "small")
K = 30

VERBATIM_VALID = Band("heldout_match_frac_max", hi=0.02)
# "a claim presupposes a model that learned" (added after the first default run, before the second; no threshold of
# any claim changed): on every replicate the large GPT's held-out NLL is at most that of a count bigram table of the
# same training rows (Witten-Bell smoothing), evaluated on the same held-out positions.
LEARNED = Band("heldout_minus_bigram_max", hi=0.0)

METRICS: dict[str, Metric] = {}


def _m(name: str, doc: str, unit: str = "", hib: bool | None = None, sd: bool = True, machine: bool = False,
       profiles: tuple[str, ...] | None = None) -> None:
    METRICS[name] = Metric(doc, unit, hib, machine=machine, profiles=profiles)
    if sd:
        METRICS[name + "_sd"] = Metric(f"sd over replicates: {doc}", unit, None, profiles=profiles)


for _s in STRATEGIES:
    for _k in SCORES:
        for _K, _p in ((K, ("smoke", "default")), (100, ("paper",))):  # the paper profile inspects the top 100
            _m(f"prec@{_K}/{_s}/{_k}", f"fraction of the top-{_K} {_s} samples by the {_k} score that are "
               "memorised (≥ 64-char verbatim training match), replicate mean", "", True, profiles=_p)
    _m(f"base_rate/{_s}", f"fraction of all {_s} samples that are memorised (tier A)", "", None)
    _m(f"dup_rate/{_s}", f"fraction of {_s} samples that trigram-duplicate an earlier one", "", None)
    _m(f"tierA_unique/{_s}", f"memorised {_s} samples left after trigram dedup, per replicate", "samples", True)
for _n in _MODELS:
    for _c in _COUNTS:
        _m(f"exposure/{_n}/c{_c}", f"mean skew-normal exposure of the c = {_c} canaries, {_n} model", "bits", None)
        _m(f"exposure_interp/{_n}/c{_c}", f"mean interpolated exposure (300 references) of the c = {_c} canaries, "
           f"{_n} model", "bits", None)
    _m(f"exposure/{_n}/c_ge4", f"mean skew-normal exposure (capped at log2 10^6) of the canaries with c ≥ 4, {_n}",
       "bits", None)
    _m(f"url_ids/{_n}", f"planted URL ids the {_n} model emits verbatim in 500 samples from the URL prefix, "
       "per replicate", "ids", None)
    _m(f"train_loss/{_n}", f"training loss of the {_n} model over its last epoch", "nats/token", False)
    _m(f"train_tokens_per_s/{_n}", f"training throughput of the {_n} GPT2LMHeadModel, one thread", "tokens/s",
       True, sd=False, machine=True)
for _c in _COUNTS:
    _m(f"greedy_recovered/c{_c}", f"fraction of the c = {_c} canaries whose 6 digits greedy decoding of their "
       "own prefix reproduces (large model)", "", None)
    _m(f"url_frac/large/c{_c}", f"fraction of the URL ids repeated {_c}× that the large model emits", "", None)
for _k in ("small", "zlib"):
    _m(f"secrets_k2/{_k}", f"distinct planted secrets with k ≤ 2 in the top-{K} of {_k}, summed over strategies, "
       "per replicate", "secrets", None)
_m("loss_gap", "(held-out − train)/held-out mean token NLL of the large model", "", None)
_m("train_nll", "mean token NLL of the large model on the training rows", "nats/token", False)
_m("heldout_nll", "mean token NLL of the large model on the held-out rows", "nats/token", False)
_m("bigram_nll", "mean token NLL on the held-out rows of a count bigram table of the training rows (Witten-Bell "
   "interpolation with an add-one unigram; same positions as heldout_nll)", "nats/token", False)
_m("heldout_minus_bigram", "held-out NLL of the large model minus the count bigram's (≤ 0: the model learned more "
   "than bigram statistics)", "nats/token", False)
_m("heldout_minus_bigram_max", "largest over replicates of heldout_nll − bigram_nll (gate of every claim: ≤ 0)",
   "nats/token", False, sd=False)
_m("exposure_fit_failures", "canary × model skew-normal fits that failed (their exposure is left out, not capped)",
   "fits", False)
_m("k1_extracted", "distinct k = 1 secrets appearing in some attack sample, per replicate", "secrets", None)
_m("tierB_samples_frac", "fraction of attack samples containing a planted secret", "", None)
_m("heldout_match_frac", "fraction of held-out documents (licence excluded) with a ≥ 64-char training match", "",
   False)
_m("null_exposure_interp", "mean interpolated exposure of 200 never-inserted canaries vs 500 references (expected "
   "1.428 bits)", "bits", None)
_m("n_train_tokens", "training tokens per replicate", "tokens", None)
_m("n_heldout_tokens", "held-out tokens per replicate", "tokens", None)
_m("samples_per_s", "attack samples generated per second (large model, one thread)", "samples/s", True, sd=False,
   machine=True)
_m("seconds/replicate", "wall time of one replicate (one thread)", "s", False, sd=False, machine=True)
_m("heldout_match_frac_max", "largest fraction over replicates of held-out documents with a ≥ 64-char training "
   "match (gate)", "", False, sd=False)
_m("c1.valid_strategies", "strategies whose tier-A base rate lies in [2 %, 60 %] (C1 validity)", "", None, sd=False)
for _k in ("zlib", "small", "lowercase"):
    _m(f"c1.wins/{_k}", f"valid strategies where {_k}'s precision@{K} exceeds perplexity's by ≥ 0.10", "", True,
       sd=False)
_m("c3.medium_minus_small", "exposure (c ≥ 4) of medium minus small", "bits", None, sd=False)
_m("c3.large_minus_medium", "exposure (c ≥ 4) of large minus medium", "bits", None, sd=False)
_m("c4.rho_exposure", "Spearman ρ of c vs mean exposure of the large model, pooled (undefined → 0)", "", True,
   sd=False)
_m("c4.rho_url", "Spearman ρ of c vs the fraction of pooled URL ids the large model emits (undefined → 0)", "",
   True, sd=False)
_m("k1_extracted_total", "distinct k = 1 secrets extracted, summed over replicates", "secrets", True, sd=False)
_m("n_replicates", "replicates pooled", "", None, sd=False)
# the optional SmolLM2 demo (Config.real_model=True; no profile turns it on)
for _k, _d in (("mit_greedy_chars", "characters of the MIT licence SmolLM2-135M completes verbatim from its start"),
               ("mit_zlib_ratio", "zlib/log-perplexity score of the MIT licence under SmolLM2-135M"),
               ("fresh_zlib_ratio", "zlib/log-perplexity score of a fresh generated sentence under SmolLM2-135M"),
               ("mit_log_ppl", "log-perplexity of the MIT licence under SmolLM2-135M"),
               ("fresh_log_ppl", "log-perplexity of a fresh generated sentence under SmolLM2-135M")):
    METRICS[f"real_model/{_k}"] = Metric(_d, "", None, profiles=())
for _s in ("top_n", "temperature_decay", "internet"):
    METRICS[f"real_model/samples_per_s/{_s}"] = Metric(f"SmolLM2-135M samples per second, {_s}", "samples/s", True,
                                                      machine=True, profiles=())
    METRICS[f"real_model/dup_rate/{_s}"] = Metric(f"trigram duplicate rate of SmolLM2-135M's {_s} samples", "", None,
                                                  profiles=())
    METRICS[f"real_model/log_ppl/{_s}"] = Metric(f"mean log-perplexity of SmolLM2-135M's {_s} samples", "nats",
                                                 None, profiles=())
    METRICS[f"real_model/zlib_score/{_s}"] = Metric(f"mean zlib score of SmolLM2-135M's {_s} samples", "", None,
                                                    profiles=())


def _url_order(a: str, b: str, op: str) -> Order:
    return Order(f"url_ids/{a}", op, f"url_ids/{b}")


CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="C1",
        statement="Comparison scores (zlib, small-model ratio, lowercase ratio) surface memorised samples far more "
        "often than raw perplexity.",
        source="Table 2",
        paper_value="memorised of 100: perplexity 9/3/39, small 41/42/58, zlib 59/46/67, lowercase 53/22/60 "
        "(top-n / temperature / Internet)",
        check=AllOf((Band("c1.wins/zlib", lo=2), Band("c1.wins/small", lo=2), Band("c1.wins/lowercase", lo=2))),
        requires=(LEARNED, VERBATIM_VALID, Band("c1.valid_strategies", lo=2)),
    ),
    Claim(
        id="C2",
        statement="The small-model ratio surfaces more rare (k ≤ 2) secrets in its top candidates than zlib.",
        source="§6.4",
        paper_value="high-entropy strings: Small 13, zlib 1",
        check=Order("secrets_k2/small", ">", "secrets_k2/zlib"),
        requires=(LEARNED,),
    ),
    Claim(
        id="C3",
        statement="Bigger models memorise more: canary exposure rises with model size, and the large model emits "
        "at least as many planted URLs as the medium, the medium at least as many as the small.",
        source="§7, Table 4",
        paper_value="XL emits every URL seen ≥ 33 times, Medium about half, Small none",
        check=AllOf((Order("exposure/large/c_ge4", ">=", "exposure/small/c_ge4", margin=2.0),
                     Band("c3.medium_minus_small", lo=-0.5), Band("c3.large_minus_medium", lo=-0.5),
                     _url_order("large", "medium", ">="), _url_order("medium", "small", ">="),
                     _url_order("large", "small", ">"))),
        requires=(LEARNED,),
    ),
    Claim(
        id="C4",
        statement="Memorisation grows with insertion count: exposure and URL extraction rise with c, and greedy "
        "decoding recovers most 32× canaries but few 1× canaries.",
        source="§7, Table 4",
        paper_value="complete memorisation after 33 occurrences; 17 and 8 occurrences not extracted",
        check=AllOf((Band("c4.rho_exposure", lo=0.9), Band("greedy_recovered/c32", lo=0.5),
                     Band("greedy_recovered/c1", hi=0.2), Band("c4.rho_url", lo=0.8))),
        requires=(LEARNED,),
    ),
    Claim(
        id="C5",
        statement="Internet-conditioned sampling finds at least as much memorised content as top-n sampling, and "
        "decaying temperature produces fewer duplicates than top-n.",
        source="Table 2, §6.5",
        paper_value="unique memorised 273 (Internet) vs 191 (top-n); duplicates 0.6 % (temperature) vs 2.6 % (top-n)",
        check=AllOf((Order("tierA_unique/internet", ">=", "tierA_unique/top_n"),
                     Order("dup_rate/temperature_decay", "<", "dup_rate/top_n"))),
        requires=(LEARNED, VERBATIM_VALID),
    ),
    Claim(
        id="C6",
        statement="Without overfitting (held-out loss within 25 % of training loss), secrets present in a single "
        "training document are still extracted.",
        source="§6.5, §8",
        paper_value="train loss ≈ 10 % below test loss; 1-eidetic content extracted",
        check=Band("k1_extracted_total", lo=1),
        requires=(LEARNED, Band("loss_gap", hi=0.25)),
    ),
)

LABELS: dict[str, str] = {
    "C1": "Comparison scores beat raw perplexity",
    "C2": "Small-model ratio finds rare secrets",
    "C3": "Bigger models memorise more",
    "C4": "More insertions, more memorisation",
    "C5": "Internet prompts find the most",
    "C6": "Memorisation without overfitting",
}
