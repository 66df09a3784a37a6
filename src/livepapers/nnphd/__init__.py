"""NNPhD — machine-learning non-conservative dynamics for new-physics detection (Liu et al., 2021).

A Lagrangian neural network learns the conservative part of observed accelerations; an unconstrained
"universal approximator network" learns the rest, at a price λ·‖a_nc‖. With unsquared norms the split has a
sharp phase transition at λ = 1; a non-zero UAN output below it "detects new physics".
"""

from livepapers.core.registry import PaperInfo
from livepapers.nnphd.data import (
    DampedDoublePendulum,
    DampedOscillator2D,
    Inspiral,
    UranusNeptune,
    UranusNeptuneRing,
    integrate,
    rescale_time,
)
from livepapers.nnphd.modules import (
    LagrangianNN,
    MLPDynamics,
    NNPhD,
    TimeScaled,
    UniversalApproximatorNet,
)
from livepapers.nnphd.training import fit, predict, rk4_rollout
from livepapers.nnphd.transition import phase_transition_sweep

PAPER = PaperInfo(
    slug="nnphd",
    title="Machine-Learning Non-Conservative Dynamics for New-Physics Detection",
    authors="Ziming Liu, Bohan Wang, Qi Meng, Wei Chen, Max Tegmark, Tie-Yan Liu",
    year=2021,
    arxiv="2106.00026",
    venue="Phys. Rev. E 104, 055302",
    bibtex=(
        "@article{liu2021nnphd,\n"
        "  title   = {Machine-Learning Non-Conservative Dynamics for New-Physics Detection},\n"
        "  author  = {Liu, Ziming and Wang, Bohan and Meng, Qi and Chen, Wei and Tegmark, Max and Liu, Tie-Yan},\n"
        "  journal = {Physical Review E},\n"
        "  volume  = {104},\n"
        "  pages   = {055302},\n"
        "  year    = {2021},\n"
        "  eprint  = {2106.00026},\n"
        "  archivePrefix = {arXiv}\n"
        "}"
    ),
    digest_item="000_6ffecd67807843f8.txt #1",
    summary=(
        "A Lagrangian network fits the conservative part of observed dynamics and a free network the rest, "
        "paying λ per unit of output; with unsquared norms the split switches sharply at λ = 1, and the free "
        "part below it reveals friction, an unseen planet or radiation reaction."
    ),
    tags=("physics", "lagrangian", "scientific-ml"),
)

__all__ = [
    "PAPER",
    "DampedDoublePendulum",
    "DampedOscillator2D",
    "Inspiral",
    "LagrangianNN",
    "MLPDynamics",
    "NNPhD",
    "TimeScaled",
    "UniversalApproximatorNet",
    "UranusNeptune",
    "UranusNeptuneRing",
    "fit",
    "integrate",
    "phase_transition_sweep",
    "predict",
    "rescale_time",
    "rk4_rollout",
]
