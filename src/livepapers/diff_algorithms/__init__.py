"""Learning with Differentiable Algorithms (Petersen, PhD thesis 2022): differentiable sorting networks, deep
differentiable logic gate networks with compiled inference, and the generalized differentiable renderer GenDR.

Sub-modules: :mod:`.sorting`, :mod:`.logic` (+ :mod:`.bits` for packed bits, :mod:`.compiled` for C inference, which
depends on :mod:`.logic`), :mod:`.rendering`.
"""

from livepapers.core.registry import PaperInfo

from . import bits, compiled, logic, rendering, sorting
from .compiled import CompiledLogicNet, PackBitsTensor
from .logic import GroupSum, LogicLayer, bin_op_s
from .rendering import DISTRIBUTIONS, T_CONORMS, GenDR, iou_loss
from .sorting import SIGMOIDS, DiffSortNet, bitonic_network, odd_even_network, perm_bce_loss, ranking_metrics, sort

PAPER = PaperInfo(
    slug="diff-algorithms",
    title="Learning with Differentiable Algorithms",
    authors="Felix Petersen",
    year=2022,
    arxiv="2209.00616",
    venue="PhD thesis, University of Konstanz",
    bibtex=(
        "@phdthesis{petersen2022learning,\n"
        "  title={Learning with Differentiable Algorithms},\n"
        "  author={Petersen, Felix},\n"
        "  school={University of Konstanz},\n"
        "  year={2022},\n"
        "  eprint={2209.00616},\n"
        "  archivePrefix={arXiv}\n"
        "}"
    ),
    digest_item="003_25fba04581528bc5.txt #1",
    summary="Relaxes the hard decisions inside algorithms (comparisons, swaps, logic gates, rasterisation) into "
            "closed-form expectations so networks can be trained through them. Covers differentiable sorting "
            "networks, logic gate networks that compile to bit-parallel circuits, and a generalized soft renderer.",
    tags=("differentiable-algorithms", "sorting", "logic", "rendering"),
)

__all__ = [
    "DISTRIBUTIONS",
    "PAPER",
    "SIGMOIDS",
    "T_CONORMS",
    "CompiledLogicNet",
    "DiffSortNet",
    "GenDR",
    "GroupSum",
    "LogicLayer",
    "PackBitsTensor",
    "bin_op_s",
    "bitonic_network",
    "bits",
    "compiled",
    "iou_loss",
    "logic",
    "odd_even_network",
    "perm_bce_loss",
    "ranking_metrics",
    "rendering",
    "sort",
    "sorting",
]
