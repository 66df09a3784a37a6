"""The C4 diagnostic (gradient of the score gap vs the edit direction) and the relation-generic filter of §7."""

import pytest
import torch

from livepapers.knowledge_neurons import (
    KnowledgeNeurons,
    relation_generic,
    score_gap_alignment,
    score_gap_gradients,
    weights_checksum,
)
from livepapers.knowledge_neurons.experiment import Config

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "alice", "was", "born", "in", "paris", "rome", "oslo"]
PROMPT = "alice was born in [MASK] ."


def _kn(seed: int = 0) -> KnowledgeNeurons:
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    tok = BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})
    cfg = BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=24, max_position_embeddings=16, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0)
    torch.manual_seed(seed)
    return KnowledgeNeurons(BertForMaskedLM(cfg).double().eval(), tok)


def _gap(kn: KnowledgeNeurons, layer: int | None = None, delta: torch.Tensor | None = None) -> float:
    """z_rome − z_paris at [MASK], optionally with ``delta`` added to layer ``layer``'s FFN output there."""
    handles = []
    if delta is not None:
        pos = int(kn.encode(PROMPT)[2][0])

        def hook(_m, _i, out):
            out = out.clone()
            out[0, pos] += delta
            return out

        handles.append(kn.layers[layer].output.dense.register_forward_hook(hook))
    try:
        lg = kn.mask_logits(PROMPT)[0]
    finally:
        for h in handles:
            h.remove()
    return float(lg[kn.token_id("rome")] - lg[kn.token_id("paris")])


def test_gradients_match_finite_differences_and_leave_model_unchanged():
    kn = _kn()
    digest = weights_checksum(kn.model)
    g = score_gap_gradients(kn, PROMPT, "paris", "rome")
    assert g.shape == (kn.n_layers + 1, 16)
    d = torch.randn(16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    eps = 1e-5
    for layer in range(kn.n_layers):
        fd = (_gap(kn, layer, eps * d) - _gap(kn, layer, -eps * d)) / (2 * eps)
        assert abs(fd - float(g[layer] @ d)) <= 1e-6 * max(1.0, abs(fd)), (layer, fd, float(g[layer] @ d))
        assert abs(fd) > 1e-4  # not vacuous
    assert weights_checksum(kn.model) == digest
    assert all(p.grad is None for p in kn.model.parameters())
    assert not any(m._forward_hooks for m in kn.model.modules())


def test_final_hidden_alignment_is_one_through_an_identity_head():
    """Tied decoder and an identity head transform: logits = h Eᵀ + b, so ∂(z_o' − z_o)/∂h = e(o') − e(o)."""
    kn = _kn()
    cos = score_gap_alignment(kn, PROMPT, "paris", "rome")
    assert cos.shape == (kn.n_layers + 1,)
    assert (cos.abs() <= 1 + 1e-9).all()
    assert float(cos[-1]) < 0.999  # the real head (dense + GELU + LayerNorm) bends the direction
    kn.model.cls.predictions.transform = torch.nn.Identity()
    cos = score_gap_alignment(kn, PROMPT, "paris", "rome")
    assert float(cos[-1]) == pytest.approx(1.0, abs=1e-12)


def test_relation_generic_spec_and_official():
    """N = 20 facts: the spec drops a neuron in ≥ 3 sets (> 2); official select_kn (1 + count > 2) in ≥ 2."""
    a, b, c = (3, 1), (3, 2), (2, 7)
    sets = [[a, b, c], [a, b], [a]] + [[] for _ in range(17)]
    assert relation_generic(sets, 0.1) == {a}
    assert relation_generic(sets, 0.1, official=True) == {a, b}
    assert relation_generic(sets[:3], 0.5) == {a, b}  # N = 3: > 1.5
    with pytest.raises(ValueError, match="generic_filter"):
        Config(generic_filter="select_kn")
