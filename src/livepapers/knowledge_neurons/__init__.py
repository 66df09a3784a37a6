"""Knowledge neurons in pretrained transformers (Dai, Dong, Hao, Sui, Chang, Wei; ACL 2022).

The FFN of a transformer layer is a key–value memory; integrated gradients over its intermediate neurons at the
[MASK] position find the *knowledge neurons* of a relational fact, which can be suppressed, amplified, edited
(update a fact) and erased (forget a relation) without fine-tuning. :class:`KnowledgeNeurons` works on any
Hugging Face ``BertForMaskedLM``; the reproduction trains a small BERT on a generated knowledge base.
"""

from livepapers.core.registry import PaperInfo

from . import data
from .data import Fact, KnowledgeBase, build_tokenizer, make_knowledge_base
from .diagnostics import score_gap_alignment, score_gap_gradients
from .neurons import (
    EditResult,
    KnowledgeNeurons,
    WeightUndo,
    coarse_neurons,
    refine_neurons,
    refine_relation_from_coarse,
    relation_generic,
    riemann_alphas,
    weights_checksum,
)
from .training import load_mlm, model_config, template_accuracy, train_mlm

PAPER = PaperInfo(
    slug="knowledge-neurons",
    title="Knowledge Neurons in Pretrained Transformers",
    authors="D Dai, L Dong, Y Hao, Z Sui, B Chang, F Wei",
    year=2022,
    arxiv="2104.08696",
    venue="ACL 2022",
    bibtex="@inproceedings{dai2022knowledge,\n  title={Knowledge Neurons in Pretrained Transformers},\n  "
    "author={Dai, Damai and Dong, Li and Hao, Yaru and Sui, Zhifang and Chang, Baobao and Wei, Furu},\n  "
    "booktitle={Proceedings of the 60th Annual Meeting of the Association for Computational Linguistics},\n  "
    "pages={8493--8502},\n  year={2022}\n}",
    digest_item="003_25fba04581528bc5.txt #2",
    summary="Integrated gradients over the FFN intermediate neurons at [MASK] locate a few knowledge neurons per "
    "fact; zeroing or doubling them moves the fact's probability, they fire on text expressing the fact, and "
    "editing their value slots updates a fact or erases a relation. Here: a small BERT trained on a generated "
    "knowledge base, with matched-random and other-relation controls and bit-exact weight restores.",
    tags=("interpretability", "transformers", "knowledge editing"),
)

__all__ = [
    "PAPER",
    "EditResult",
    "Fact",
    "KnowledgeBase",
    "KnowledgeNeurons",
    "WeightUndo",
    "build_tokenizer",
    "coarse_neurons",
    "data",
    "load_mlm",
    "make_knowledge_base",
    "model_config",
    "refine_neurons",
    "refine_relation_from_coarse",
    "relation_generic",
    "riemann_alphas",
    "score_gap_alignment",
    "score_gap_gradients",
    "template_accuracy",
    "train_mlm",
    "weights_checksum",
]
