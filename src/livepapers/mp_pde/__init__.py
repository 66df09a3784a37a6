"""MP-PDE — Message Passing Neural PDE Solvers (Brandstetter, Worrall & Welling, ICLR 2022).

An autoregressive neural solver: grid points are graph nodes, a message-passing GNN plays the spatial stencil, a
1-D CNN decoder emits the next K steps at once (temporal bundling), and training unrolls the model on its own
outputs without gradient (the pushforward trick). Here with our vectorised WENO5 + SSP-RK3 reference solver and
two data pipelines: the paper's (``official``) and a consistent finite-volume one (``fv``).
"""

from livepapers.core.registry import PaperInfo
from livepapers.mp_pde.benchmark import speed_accuracy_benchmark, time_rollout, time_weno
from livepapers.mp_pde.data import (
    block_average,
    generate_dataset,
    model_params,
    official_downsample,
    official_grid,
    sample_params,
)
from livepapers.mp_pde.equations import CombinedEquation, Forcing, SampledForcing, weno5_solve
from livepapers.mp_pde.modules import MPPDE, GNNLayer, Swish, build_graph, decoder_shape
from livepapers.mp_pde.training import (
    Trajectories,
    accumulated_error,
    persistence,
    pushforward_step,
    rollout,
    train,
    trajectories,
    window_errors,
)

PAPER = PaperInfo(
    slug="mp-pde",
    title="Message Passing Neural PDE Solvers",
    authors="Johannes Brandstetter, Daniel E. Worrall, Max Welling",
    year=2022,
    arxiv="2202.03376",
    venue="ICLR 2022 (spotlight)",
    bibtex=(
        "@inproceedings{brandstetter2022message,\n"
        "  title     = {Message Passing Neural {PDE} Solvers},\n"
        "  author    = {Brandstetter, Johannes and Worrall, Daniel E. and Welling, Max},\n"
        "  booktitle = {International Conference on Learning Representations},\n"
        "  year      = {2022},\n"
        "  eprint    = {2202.03376},\n"
        "  archivePrefix = {arXiv}\n"
        "}"
    ),
    digest_item="001_8ea5c627ad57d3e7.txt #6",
    summary=(
        "A message-passing GNN with a temporal-bundling CNN decoder and the pushforward trick solves 1-D "
        "Burgers-type PDEs autoregressively; we re-run its comparison with WENO5 both under the paper's data "
        "pipeline and against a consistently set-up WENO5, and time both at matched accuracy."
    ),
    tags=("pde", "gnn", "scientific-ml", "neural-solver"),
)

__all__ = [
    "MPPDE",
    "PAPER",
    "CombinedEquation",
    "Forcing",
    "GNNLayer",
    "SampledForcing",
    "Swish",
    "Trajectories",
    "accumulated_error",
    "block_average",
    "build_graph",
    "decoder_shape",
    "generate_dataset",
    "model_params",
    "official_downsample",
    "official_grid",
    "persistence",
    "pushforward_step",
    "rollout",
    "sample_params",
    "speed_accuracy_benchmark",
    "time_rollout",
    "time_weno",
    "train",
    "trajectories",
    "weno5_solve",
    "window_errors",
]
