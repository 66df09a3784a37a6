"""The headline claims C1–C5 of "Knowledge Neurons in Pretrained Transformers", with the spec's thresholds.

Thresholds: /work/shared/papers/knowledge-neurons.md, "Checks". Relative changes are in percent. Preconditions
(issue 21, per seed): (1) the MLM learned its facts (top-1 ≥ 90 % on the training templates; C1–C5); (2) there
are neurons to study (≥ 60 of the 120 analysed facts have a refined knowledge neuron; C1, C3, C4, C5 — C5 erases
the relation's most frequent knowledge neurons, so it needs them too); (3) every intervention was undone exactly
(weights checksum after = before, no hook left; C1, C3, C4, C5). Gates (1) and (2) are per-seed indicators, so
one seed that misses makes the claim inconclusive.
"""

from __future__ import annotations

from livepapers.core.claims import AllOf, Band, Check, Claim, Metric, Order

METRICS: dict[str, Metric] = {
    # sanity gates
    "gate.train_top1": Metric("top-1 accuracy of the gold object on the training templates 1–4 (all 720 facts)", "%",
                              True),
    "gate.heldout_top1": Metric("top-1 accuracy on the never-trained template 5 (reported; spec expects ≥ 60 %)",
                                "%", True),
    "gate.train_ok": Metric("1 if this seed's training top-1 ≥ 90 % (gate of C1–C5)", "", True),
    "gate.kn_facts": Metric("analysed facts with at least one refined knowledge neuron (of 120)", "", True),
    "gate.kn_facts_ok": Metric("1 if ≥ 60 analysed facts have a refined knowledge neuron (gate of C1, C3–C5)",
                               "", True),
    "gate.interventions": Metric("interventions checked (suppress, amplify, edit, erase)", "", None),
    "gate.restore_mismatches": Metric("interventions after which the weights checksum differed or a hook was left "
                                      "(gate of C1, C3, C4, C5)", "", False),
    "train.final_loss": Metric("MLM training loss, mean of the last epoch", "", False),
    # C1
    "c1.suppress_drop": Metric("relative drop of P(gold) when the knowledge neurons are zeroed (ratio of means, "
                               "mean over relations)", "%", True),
    "c1.suppress_drop_random": Metric("the same with matched random neurons (same per-layer counts)", "%", None),
    "c1.suppress_drop_other": Metric("the same neurons applied to a random fact of another relation", "%", None),
    "c1.suppress_drop_baseline": Metric("relative drop with the activation-baseline neurons", "%", None),
    "c1.amplify_gain": Metric("relative rise of P(gold) when the knowledge neurons are doubled", "%", True),
    "c1.amplify_gain_random": Metric("the same with matched random neurons", "%", None),
    "c1.amplify_gain_other": Metric("the same neurons doubled on a fact of another relation", "%", None),
    "c1.amplify_gain_baseline": Metric("relative rise with the activation-baseline neurons", "%", None),
    "c1.amplify_gain_lowp": Metric("relative rise from doubling, prompts with P(gold) < 0.9 before", "%", True),
    "c1.amplify_gain_random_lowp": Metric("matched random neurons doubled, prompts with P(gold) < 0.9", "%", None),
    "c1.lowp_prompts": Metric("prompts with P(gold) < 0.9 among the facts with knowledge neurons", "", None),
    "c1.suppress_margin_random": Metric("suppression drop − 3 × matched-random drop", "pts", True),
    "c1.amplify_margin_random": Metric("amplification rise − 3 × matched-random rise", "pts", True),
    "c1.other_margin_suppress": Metric("|own drop| / 3 − |other-relation change| (suppress)", "pts", True),
    "c1.other_margin_amplify": Metric("|own rise| / 3 − |other-relation change| (amplify)", "pts", True),
    # C2
    "c2.kn_per_fact": Metric("refined knowledge neurons per analysed fact", "", None),
    "c2.top_half_frac": Metric("share of knowledge neurons in the top half of the layers (3–4 of 4)", "", True),
    "c2.top_layer_frac": Metric("share of knowledge neurons in the last layer", "", None),
    "c2.p_final_mean": Metric("final adaptive p, mean over relations", "", None),
    "c2.base_per_fact": Metric("activation-baseline refined neurons per analysed fact", "", None),
    "c2.base_top_half_frac": Metric("share of activation-baseline neurons in the top half of the layers", "", None),
    # C3
    "c3.act_t1": Metric("mean knowledge-neuron activation at [MASK] on texts stating the fact (T1)", "", None),
    "c3.act_t2": Metric("the same on texts with the head only (T2)", "", None),
    "c3.act_t3": Metric("the same on random texts (T3)", "", None),
    "c3.d_mean": Metric("mean over facts of act_T1 − act_T2", "", True),
    "c3.e_mean": Metric("mean over facts of act_T1 − act_T3", "", True),
    "c3.d_z": Metric("mean(d) / SE(d) over this seed's facts", "", True),
    "c3.e_z": Metric("mean(e) / SE(e) over this seed's facts", "", True),
    "c3.n_facts": Metric("facts entering C3 (those with knowledge neurons)", "", None),
    # C4
    "c4.c2": Metric("c2 chosen on the selection facts by success@1 (ties: smaller)", "", None),
    "c4.n_edits": Metric("update facts edited (predicted correctly and with neurons left after the filter)", "",
                         None),
    "c4.n_skipped": Metric("update facts skipped (wrong prediction or no neuron left)", "", None),
    "c4.success1": Metric("edit success@1 (argmax becomes o') with knowledge neurons", "%", True),
    "c4.success5": Metric("edit success@5 with knowledge neurons", "%", True),
    "c4.original_changed": Metric("edits after which the argmax is no longer o", "%", None),
    "c4.mrr_before": Metric("reciprocal rank of o' before the edit (mean)", "", None),
    "c4.mrr_after": Metric("reciprocal rank of o' after the edit (mean)", "", None),
    "c4.random_success1": Metric("edit success@1 with matched random neurons (same c1, c2)", "%", False),
    "c4.random_success5": Metric("edit success@5 with matched random neurons", "%", False),
    "c4.random_original_changed": Metric("random-neuron edits after which the argmax is no longer o", "%", None),
    "c4.intra_ppl_increase": Metric("perplexity increase on 5 other facts of the same relation", "%", False),
    "c4.inter_ppl_increase": Metric("perplexity increase on 5 facts of other relations", "%", False),
    "c4.random_intra_ppl_increase": Metric("intra-relation perplexity increase, random-neuron edits", "%", None),
    "c4.random_inter_ppl_increase": Metric("inter-relation perplexity increase, random-neuron edits", "%", None),
    # C5
    "c5.n_erased": Metric("relations erased (those with knowledge neurons)", "", None),
    "c5.ppl_increase_erased": Metric("perplexity increase of the erased relation's prompts (mean over erasures)",
                                     "%", True),
    "c5.ppl_increase_other": Metric("mean perplexity increase of the other relations (mean over erasures)", "%",
                                    False),
    "c5.acc_drop_pts": Metric("top-1 accuracy drop of the erased relation (mean over erasures)", "pts", True),
    "c5.acc_drop_other_pts": Metric("top-1 accuracy drop of the other relations (mean)", "pts", False),
    "c5.margin_other": Metric("erased increase − 5 × other relations' increase", "pts", True),
    # timings
    **{f"time.{k}": Metric(f"seconds spent on {k}", "s", None, machine=True)
       for k in ("train", "attribution", "c1", "c3", "c4", "c5")},
}

TRAINED: tuple[Check, ...] = (Band("gate.train_ok", lo=1),)
HAS_NEURONS: tuple[Check, ...] = (Band("gate.kn_facts_ok", lo=1),)
RESTORED: tuple[Check, ...] = (Band("gate.restore_mismatches", hi=0),)
EDITED: tuple[Check, ...] = (Band("c4.n_edits", lo=1),)  # a success rate needs at least one qualifying edit

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="C1",
        statement="Zeroing a fact's knowledge neurons lowers the correct answer's probability and doubling them raises "
        "it, far more than matched random neurons, and the same neurons barely move facts of other relations.",
        source="Figures 3–5, §4.3",
        paper_value="suppress −29.03 %, amplify +31.17 % (BERT-base, PARAREL)",
        check=AllOf((
            Band("c1.suppress_drop", lo=15.0),
            Band("c1.suppress_margin_random", lo=0.0),
            Order("c1.amplify_gain", ">", 0.0),
            Band("c1.amplify_margin_random", lo=0.0),
            Band("c1.other_margin_suppress", lo=0.0),
            Band("c1.other_margin_amplify", lo=0.0),
        )),
        requires=TRAINED + HAS_NEURONS + RESTORED,
    ),
    Claim(
        id="C2",
        statement="The refining yields a few knowledge neurons per fact (2–5), mostly in the upper layers.",
        source="§4.2, Figure 2",
        paper_value="4.13 neurons per fact, concentrated in the topmost layers",
        check=AllOf((Band("c2.kn_per_fact", lo=2.0, hi=5.0), Band("c2.top_half_frac", lo=0.5))),
        requires=TRAINED,
    ),
    Claim(
        id="C3",
        statement="Knowledge neurons fire more on texts that express their fact than on head-only texts or random "
        "texts.",
        source="Table 4, §4.4",
        paper_value="mean activation 0.485 (head + tail), 0.019 (head only), −0.018 (random)",
        check=AllOf((
            Band("c3.d_z", lo=3.0),
            Band("c3.e_z", lo=3.0),
            Order("c3.d_mean", ">", 0.0),
            Order("c3.e_mean", ">", 0.0),
        )),
        over_seeds="every",
        requires=TRAINED + HAS_NEURONS + RESTORED,
    ),
    Claim(
        id="C4",
        statement="Editing the value slots of a fact's knowledge neurons updates the fact in a sizeable share of "
        "cases, random neurons almost never, with little perplexity change on other relations.",
        source="Table 5, §5.1",
        paper_value="success 34.4 % vs 0.0 % for random neurons; small side effects",
        check=AllOf((
            Band("c4.success1", lo=15.0),
            Band("c4.random_success1", hi=2.0),
            Band("c4.inter_ppl_increase", hi=20.0),
        )),
        requires=TRAINED + HAS_NEURONS + RESTORED + EDITED,
    ),
    Claim(
        id="C5",
        statement="Zeroing the value slots of a relation's 20 most frequent knowledge neurons raises that relation's "
        "perplexity a lot and lowers its accuracy, while other relations change little.",
        source="Table 6, §5.2",
        paper_value="erased relations' perplexity up ≈ 37–141 %; other relations a few %",
        check=AllOf((
            Band("c5.ppl_increase_erased", lo=50.0),
            Band("c5.margin_other", lo=0.0),
            Band("c5.acc_drop_pts", lo=20.0),
        )),
        requires=TRAINED + HAS_NEURONS + RESTORED,
    ),
)

LABELS: dict[str, str] = {
    "C1": "Suppress / amplify",
    "C2": "Count and layers",
    "C3": "Selective activation",
    "C4": "Fact update",
    "C5": "Relation erase",
}

__all__ = ["CLAIMS", "LABELS", "METRICS"]
