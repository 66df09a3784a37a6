"""On Neural Differential Equations (Kidger, DPhil thesis, 2022): neural ODEs/CDEs/SDEs and the numerics behind them.

* Neural CDEs for irregular, partially observed series: interpolation schemes (linear, rectilinear, Hermite cubic
  with backward differences, natural cubic), ``cdeint`` on torchdiffeq, :class:`NeuralCDE` and the GRU-Δt, GRU-D and
  ODE-RNN baselines.
* Reversible Heun (one vector-field evaluation per step, algebraically reversible) with its exact adjoint
  (:func:`sdeint_reversible`), and the Brownian Interval (exact, repeatable Brownian increments).
* Neural SDEs: SDE-GAN (SDE generator, neural-CDE discriminator, clipping + LipSwish or gradient penalty) and
  latent SDEs; :class:`NeuralODE` with seminorm adjoints.
"""

from livepapers.core.registry import PaperInfo

from . import data
from .baselines import GRUD, ODERNN, GRUDelta
from .brownian import BrownianInterval, VirtualBrownianTree
from .cde import CDEFunc, NeuralCDE, NeuralODE, cdeint, intensity_channels
from .gan import CDEDiscriminator, LipSwish, SDEGenerator, train_sde_gan
from .interpolation import (
    CubicSpline,
    LinearInterpolation,
    hermite_cubic_coefficients_with_backward_differences,
    linear_interpolation_coeffs,
    natural_cubic_coeffs,
)
from .latent import LatentSDE, train_latent_sde
from .sde import parasitic_root, sdeint, sdeint_reversible

__all__ = [
    "GRUD",
    "ODERNN",
    "PAPER",
    "BrownianInterval",
    "CDEDiscriminator",
    "CDEFunc",
    "CubicSpline",
    "GRUDelta",
    "LatentSDE",
    "LinearInterpolation",
    "LipSwish",
    "NeuralCDE",
    "NeuralODE",
    "SDEGenerator",
    "VirtualBrownianTree",
    "cdeint",
    "data",
    "hermite_cubic_coefficients_with_backward_differences",
    "intensity_channels",
    "linear_interpolation_coeffs",
    "natural_cubic_coeffs",
    "parasitic_root",
    "sdeint",
    "sdeint_reversible",
    "train_latent_sde",
    "train_sde_gan",
]

PAPER = PaperInfo(
    slug="neural-des",
    title="On Neural Differential Equations",
    authors="P Kidger",
    year=2022,
    arxiv="2202.02435",
    venue="DPhil thesis, University of Oxford",
    bibtex="@phdthesis{kidger2022neural,\n  title={On Neural Differential Equations},\n  author={Kidger, Patrick},\n"
    "  school={University of Oxford},\n  year={2022},\n  eprint={2202.02435},\n  archivePrefix={arXiv}\n}",
    digest_item="001_8ea5c627ad57d3e7.txt #4",
    summary="Neural ODEs, CDEs and SDEs and their numerics: neural CDEs classify irregular, partially observed series; "
    "reversible Heun gives exact, memory-light SDE gradients at one evaluation per step; the Brownian Interval "
    "samples and re-samples Brownian motion exactly and fast; clipping replaces gradient penalty in SDE-GANs; "
    "seminorms cut adjoint cost. Here: all of it from scratch on torchdiffeq, checked offline.",
    tags=("differential equations", "time series", "SDE", "numerics"),
)
