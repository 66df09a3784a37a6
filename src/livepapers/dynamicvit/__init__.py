"""DynamicViT (Rao et al., NeurIPS 2021): dynamic token sparsification for vision transformers.

>>> from livepapers.dynamicvit import deit_small_dynamic
>>> model = deit_small_dynamic(rho=0.7).eval()   # keeps 137 / 96 / 67 of 196 patch tokens
"""

from livepapers.core.registry import PaperInfo

from .checkpoint import load_timm_deit_state_dict
from .complexity import count_flops, count_flops_traced
from .modules import (
    Attention,
    Block,
    ConvStem,
    DistillDiffPruningLoss,
    PredictorLG,
    VisionTransformerDiffPruning,
    VisionTransformerTeacher,
    batch_index_select,
    deit_base_dynamic,
    deit_base_teacher,
    deit_small_dynamic,
    deit_small_teacher,
    gumbel_softmax_hard,
    kept_counts,
    make_token_ratio,
    masked_softmax,
)
from .throughput import measure_throughput

PAPER = PaperInfo(
    slug="dynamicvit",
    title="DynamicViT: Efficient Vision Transformers with Dynamic Token Sparsification",
    authors="Yongming Rao, Wenliang Zhao, Benlin Liu, Jiwen Lu, Jie Zhou, Cho-Jui Hsieh",
    year=2021,
    arxiv="2106.02034",
    venue="NeurIPS 2021",
    bibtex=(
        "@inproceedings{rao2021dynamicvit,\n"
        "  title={DynamicViT: Efficient Vision Transformers with Dynamic Token Sparsification},\n"
        "  author={Rao, Yongming and Zhao, Wenliang and Liu, Benlin and Lu, Jiwen and Zhou, Jie and "
        "Hsieh, Cho-Jui},\n"
        "  booktitle={Advances in Neural Information Processing Systems (NeurIPS)},\n"
        "  year={2021}\n"
        "}"
    ),
    digest_item="000_6ffecd67807843f8.txt #5",
    summary=(
        "Small prediction modules drop the least informative patch tokens of a pretrained ViT at a few "
        "stages, per image; training masks attention with Gumbel-softmax decisions, inference gathers the "
        "kept tokens. With 3 stages at keep ratio 0.7 DeiT-S needs 35% fewer FLOPs for -0.5% top-1."
    ),
    tags=("vision", "transformers", "efficiency", "token-pruning"),
)

__all__ = [
    "PAPER",
    "Attention",
    "Block",
    "ConvStem",
    "DistillDiffPruningLoss",
    "PredictorLG",
    "VisionTransformerDiffPruning",
    "VisionTransformerTeacher",
    "batch_index_select",
    "count_flops",
    "count_flops_traced",
    "deit_base_dynamic",
    "deit_base_teacher",
    "deit_small_dynamic",
    "deit_small_teacher",
    "gumbel_softmax_hard",
    "kept_counts",
    "load_timm_deit_state_dict",
    "make_token_ratio",
    "masked_softmax",
    "measure_throughput",
]
