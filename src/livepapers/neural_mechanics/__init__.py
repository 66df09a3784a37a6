"""Neural Mechanics (Kunin et al., ICLR 2021): symmetries, broken conservation laws and their exact dynamics.

Public API: symmetry detection and geometry checks (:mod:`.symmetries`), an SGD that records what the
predictions need plus a per-neuron tracker (:mod:`.optim`), closed-form and exact predictions (:mod:`.predict`),
and the toy models of the offline reproduction (:mod:`.models`).
"""

from livepapers.core.registry import PaperInfo

from .models import cnn_bn, make_model, mlp_bn, mlp_relu
from .optim import SymmetryTracker, TrackedSGD
from .predict import (
    damping_regime,
    homogeneous_factor,
    impulse_response,
    oscillator_constants,
    predict_exact_discrete,
    predict_gradient_flow,
    predict_modified_flow,
    predict_momentum,
    predict_weight_decay,
    run_max_relative_error,
)
from .symmetries import (
    ParamSlice,
    SymmetryGroup,
    check_gradient_geometry,
    check_hessian_geometry,
    find_symmetries,
    quantities,
    quantity,
)

PAPER = PaperInfo(
    slug="neural-mechanics",
    title="Neural Mechanics: Symmetry and Broken Conservation Laws in Deep Learning Dynamics",
    authors="Daniel Kunin, Javier Sagastuy-Brena, Surya Ganguli, Daniel L. K. Yamins, Hidenori Tanaka",
    year=2021,
    arxiv="2012.04728",
    venue="ICLR 2021",
    bibtex=(
        "@inproceedings{kunin2021neural,\n"
        "  title={Neural Mechanics: Symmetry and Broken Conservation Laws in Deep Learning Dynamics},\n"
        "  author={Kunin, Daniel and Sagastuy-Brena, Javier and Ganguli, Surya and Yamins, Daniel L. K. and "
        "Tanaka, Hidenori},\n"
        "  booktitle={International Conference on Learning Representations},\n"
        "  year={2021}\n"
        "}"
    ),
    digest_item="002_2b11fbe35f2f8327.txt #1",
    summary=(
        "Translation, scale and rescale symmetries make gradients orthogonal to their generators and give "
        "per-neuron quantities conserved under gradient flow. Weight decay, momentum, finite learning rates and "
        "minibatch noise break those laws in ways predicted exactly, with no fitted parameters."
    ),
    tags=("optimization", "theory", "training-dynamics"),
)

__all__ = [
    "PAPER",
    "ParamSlice",
    "SymmetryGroup",
    "SymmetryTracker",
    "TrackedSGD",
    "check_gradient_geometry",
    "check_hessian_geometry",
    "cnn_bn",
    "damping_regime",
    "find_symmetries",
    "homogeneous_factor",
    "impulse_response",
    "make_model",
    "mlp_bn",
    "mlp_relu",
    "oscillator_constants",
    "predict_exact_discrete",
    "predict_gradient_flow",
    "predict_modified_flow",
    "predict_momentum",
    "predict_weight_decay",
    "quantities",
    "quantity",
    "run_max_relative_error",
]
