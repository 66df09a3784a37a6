"""KnowledgeNeurons on a tiny random BertForMaskedLM (HF default init, std 0.02) in float64: IG completeness,
one-batch ≡ per-layer IG, interventions that leave the model bit-identical, edits confined to their columns."""

import pytest
import torch

from livepapers.knowledge_neurons import (
    KnowledgeNeurons,
    coarse_neurons,
    refine_neurons,
    refine_relation_from_coarse,
    riemann_alphas,
    weights_checksum,
)

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "alice", "bob", "was", "born", "in", "paris", "rome",
         "oslo", "lima", "the", "city", "of", "speaks", "french", "dutch"]
PROMPT = "alice was born in [MASK] ."


@pytest.fixture(scope="module")
def kn():
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    tok = BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})
    cfg = BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                     intermediate_size=24, max_position_embeddings=16)
    torch.manual_seed(0)
    model = BertForMaskedLM(cfg).double().eval()
    return KnowledgeNeurons(model, tok)


def _p_gold(kn, prompt=PROMPT, gold="paris"):
    return kn.gold_probs(prompt, gold)[0][0]


@pytest.mark.parametrize("rule", ["left", "right", "linspace"])
def test_ig_completeness_at_m200(kn, rule):
    """Σ_i Attr_i of one layer → P(w̄) − P(that layer's [MASK]-position vector = 0) (spec: within max(5 %, 1e-6))."""
    scores = kn.get_scores(PROMPT, "paris", steps=200, riemann=rule)
    for layer in range(kn.n_layers):
        full = _p_gold(kn)
        with kn.intervene([(layer, i) for i in range(kn.d_ff)], "suppress"):
            zero = _p_gold(kn)
        diff = float(full - zero)
        err = abs(float(scores[layer].sum()) - diff)
        assert err <= max(0.05 * abs(diff), 1e-6), (rule, layer, float(scores[layer].sum()), diff)
        assert abs(diff) > 1e-6  # the check is not vacuous: the layer matters


def test_ig_error_shrinks_with_m(kn):
    """The left-sum error is O(1/m): larger at m = 5 than at m = 200 (a negative control for the test above)."""
    full = _p_gold(kn)
    with kn.intervene([(1, i) for i in range(kn.d_ff)], "suppress"):
        diff = float(full - _p_gold(kn))
    e5 = abs(float(kn.get_scores(PROMPT, "paris", steps=5)[1].sum()) - diff)
    e200 = abs(float(kn.get_scores(PROMPT, "paris", steps=200)[1].sum()) - diff)
    assert e200 < e5 / 5


def test_one_batch_equals_per_layer_and_chunked(kn):
    one = kn.get_scores(PROMPT, "rome", steps=20)
    per_layer = kn.get_scores(PROMPT, "rome", steps=20, batch_size=20)  # official: one forward per layer
    chunked = kn.get_scores(PROMPT, "rome", steps=20, batch_size=7)
    torch.testing.assert_close(one, per_layer, atol=1e-6, rtol=0)
    torch.testing.assert_close(one, chunked, atol=1e-6, rtol=0)
    only = kn.get_scores(PROMPT, "rome", steps=20, layers=[2])
    torch.testing.assert_close(only[2], one[2], atol=1e-6, rtol=0)
    assert only[:2].abs().sum() == 0


def test_riemann_points():
    torch.testing.assert_close(riemann_alphas(4, "left"), torch.tensor([0.0, 0.25, 0.5, 0.75]))
    torch.testing.assert_close(riemann_alphas(4, "right"), torch.tensor([0.25, 0.5, 0.75, 1.0]))
    torch.testing.assert_close(riemann_alphas(3, "linspace"), torch.tensor([0.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match="riemann"):
        riemann_alphas(4, "middle")


def test_max_activations_are_the_mask_activations(kn):
    acts = kn.mask_activations([PROMPT])[0]
    torch.testing.assert_close(kn.get_scores(PROMPT, "paris", attribution_method="max_activations"), acts)


def test_suppress_empty_is_noop_and_amplify_moves(kn):
    out = kn.suppress_knowledge([PROMPT, "bob speaks [MASK] ."], ["paris", "dutch"], [])
    assert torch.equal(out["before_prob"], out["after_prob"])
    out = kn.enhance_knowledge(PROMPT, "paris", [(2, 3), (1, 5)])
    assert not torch.equal(out["before_prob"], out["after_prob"])


def test_intervention_only_at_mask_position(kn):
    """Patching a prompt's [MASK] leaves a text without [MASK] in the same batch untouched."""
    neurons = [(0, i) for i in range(kn.d_ff)]
    ids, am, _ = kn.encode([PROMPT])
    plain = kn.tokenizer(["alice was born in paris ."], return_tensors="pt")
    with torch.no_grad():
        ref = kn.model(**plain).logits
        with kn.intervene(neurons, "suppress"):
            out = kn.model(**plain).logits
            masked = kn.model(input_ids=ids, attention_mask=am).logits
    assert torch.equal(ref, out)
    assert not torch.equal(masked, kn.model(input_ids=ids, attention_mask=am).logits)


def test_hooks_removed_on_exception(kn):
    ref = kn.mask_logits(PROMPT)
    with pytest.raises(RuntimeError, match="boom"):
        with kn.intervene([(0, 1), (2, 2)], "suppress"):
            raise RuntimeError("boom")
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in kn.model.modules())
    assert torch.equal(ref, kn.mask_logits(PROMPT))
    with pytest.raises(ValueError, match=r"single token|vocabulary"):
        kn.get_scores(PROMPT, "zanzibar")
    assert all(not m._forward_hooks for m in kn.model.modules())


def test_edit_changes_only_columns_of_s_and_undo_is_bit_exact(kn):
    before = {k: v.clone() for k, v in kn.model.state_dict().items()}
    digest = weights_checksum(kn.model)
    S = [(0, 3), (2, 7), (2, 11)]
    res = kn.edit_knowledge(PROMPT, "rome", S, c1=1.0, c2=4.0, undo=False, ground_truth="paris")
    after = kn.model.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert sorted(changed) == ["bert.encoder.layer.0.output.dense.weight", "bert.encoder.layer.2.output.dense.weight"]
    for layer in (0, 2):
        name = f"bert.encoder.layer.{layer}.output.dense.weight"
        cols = (before[name] != after[name]).any(0).nonzero().flatten().tolist()
        assert cols == sorted(i for l_, i in S if l_ == layer)
    assert weights_checksum(kn.model) != digest
    res.undo.restore()
    assert weights_checksum(kn.model) == digest
    assert all(torch.equal(before[k], v) for k, v in kn.model.state_dict().items())
    res = kn.edit_knowledge(PROMPT, "rome", S, c2=4.0)  # undo=True: restored before returning
    assert weights_checksum(kn.model) == digest
    assert set(res.metrics) >= {"success1", "success5", "rank_before", "rank_after", "original_changed"}


def test_edit_norm_scaling(kn):
    """v ← v − λ1 e(o) + λ2 e(o'), λ = c‖v‖/‖e‖ (official) or the raw c (EleutherAI)."""
    w = kn.value_slots(1)
    v = w[:, 4].clone()
    emb = kn.word_embeddings
    e_o, e_t = emb[kn.token_id("paris")], emb[kn.token_id("rome")]
    res = kn.edit_knowledge(PROMPT, "rome", [(1, 4)], c1=1.0, c2=2.0, undo=False, ground_truth="paris")
    want = v - v.norm() / e_o.norm() * e_o + 2.0 * v.norm() / e_t.norm() * e_t
    torch.testing.assert_close(w[:, 4], want)
    res.undo.restore()
    res = kn.edit_knowledge(PROMPT, "rome", [(1, 4)], c1=2.0, c2=2.0, norm_scaled=False, undo=False,
                            ground_truth="paris")
    torch.testing.assert_close(w[:, 4], v - 2 * e_o + 2 * e_t)
    res.undo.restore()
    assert torch.equal(w[:, 4], v)


def test_erase_zero_and_unk_with_exact_undo(kn):
    digest = weights_checksum(kn.model)
    S = [(1, 2), (2, 5)]
    metrics, handle = kn.erase_knowledge(S, "zero", undo=False, prompts=[PROMPT], ground_truths=["paris"])
    assert kn.value_slots(1)[:, 2].abs().sum() == 0 and kn.value_slots(2)[:, 5].abs().sum() == 0
    assert set(metrics) == {"acc_before", "ppl_before", "acc_after", "ppl_after"}
    handle.restore()
    assert weights_checksum(kn.model) == digest
    _, handle = kn.erase_knowledge(S, "unk", undo=False)
    torch.testing.assert_close(kn.value_slots(2)[:, 5], kn.word_embeddings[kn.tokenizer.unk_token_id])
    handle.restore()
    kn.erase_knowledge(S, "zero", undo=True)
    assert weights_checksum(kn.model) == digest


def test_coarse_threshold_is_relative_to_global_max():
    s = torch.tensor([[1.0, 0.2, 0.19], [0.5, -1.0, 0.0]])
    assert coarse_neurons(s, 0.2) == [(0, 0), (0, 1), (1, 0)]  # >= (official)
    assert coarse_neurons(s, 0.2, strict=True) == [(0, 0), (1, 0)]
    assert coarse_neurons(s, None, threshold=0.45) == [(0, 0), (1, 0)]
    with pytest.raises(ValueError, match="exactly one"):
        coarse_neurons(s, 0.2, threshold=0.1)


def test_refining_levels_min_prompts_and_adaptive_p():
    a, b, c = (3, 1), (3, 2), (2, 9)
    bag = [[a, b, c], [a, b], [a, b], [a, c], [a]]  # counts: a 5, b 3, c 2
    assert refine_neurons(bag, p=0.7) == [a]  # max(3.5, 3) -> 4 prompts
    assert refine_neurons(bag, p=0.7 - 0.05 - 0.05) == [a, b]  # p = 0.6 -> 3 prompts (rounded, not 3.0000000004)
    assert refine_neurons(bag, p=0.85) == [a]  # 5 prompts
    assert refine_neurons(bag[:2], p=0.1) == []  # fewer than 3 prompts: none (official min 3)
    assert refine_neurons(bag, p=0.6, negative=[[b], [b]]) == [a]
    sets, p = refine_relation_from_coarse({0: bag, 1: bag}, p0=0.7)
    assert p == 0.6 and sets[0] == [a, b]  # 1 neuron at p = 0.7/0.65, 2 at p = 0.6: in [2, 5], stop
    sets, p = refine_relation_from_coarse({0: bag}, p0=0.7, max_iter=1)
    assert p == 0.7 and sets[0] == [a]


def test_bad_input_is_one_line(kn):
    with pytest.raises(ValueError, match="exactly one"):
        kn.encode("alice was born in paris .")
    with pytest.raises(ValueError, match="mode"):
        with kn.intervene([(0, 0)], "double"):
            pass
    with pytest.raises(ValueError, match="out of range"):
        with kn.intervene([(9, 0)], "suppress"):
            pass
    with pytest.raises(ValueError, match="model_type"):
        KnowledgeNeurons(kn.model, kn.tokenizer, model_type="gpt2")
