r"""The counterfactual-invariance regulariser: the MMD penalty matched to the causal structure (paper §3).

Training objective per minibatch of size B (spec, "Regulariser"):

$$L(\theta) = \tfrac1B \sum_i w_i\, \mathrm{CE}(f_\theta(x_i), y_i) + \lambda R,\qquad
  R \in \{R_\text{marg}, R_\text{cond}\}$$

Theorem 3.2's signatures of a CI predictor decide R: anti-causal (Y → X) ⇒ f(X) ⊥ Z | Y (conditional);
causal with confounding only ⇒ f(X) ⊥ Z (marginal); causal with selection only (and Y ⊥ X | X_z^⊥, Z) ⇒ f(X) ⊥ Z | Y
(conditional). ``reweight=True`` sets ``w_i = P̂(y_i) P̂(z_i) / P̂(y_i, z_i)`` (training-set frequencies), the
distribution in which Y ⊥ Z; only the CE term is weighted.
"""

from __future__ import annotations

import torch

from livepapers.core.inputs import check_finite

from .mmd import RBFMixtureKernel, conditional_mmd, marginal_mmd

SIGNATURES = {"anticausal": "conditional", "causal": "marginal", "causal_selection": "conditional"}
MODES = ("marginal", "conditional")


def signature_for(structure: str) -> str:
    """The observable signature of CI for a causal structure: ``"marginal"`` or ``"conditional"`` (Thm 3.2)."""
    if structure not in SIGNATURES:
        raise ValueError(f"structure must be one of {', '.join(SIGNATURES)}, got {structure!r}")
    return SIGNATURES[structure]


class CIRegularizer:
    """λ·MMD² penalty enforcing the CI signature of a causal structure (or an explicit mode).

    Args:
        structure: ``"anticausal"`` | ``"causal"`` | ``"causal_selection"`` (picks the mode by Theorem 3.2).
        mode: ``"marginal"`` | ``"conditional"`` — exactly one of ``structure`` / ``mode``.
        lam: λ, the penalty weight.
        kernel: the MMD kernel (default: Gaussian mixture σ ∈ (0.5, 1, 2, 4, 8)).
        on: ``"logits"`` (default: the classifier's output) or ``"representation"`` (the penultimate φ(x));
            informational — the caller passes the matching tensor to :meth:`penalty`.
        reweight: weight the CE term by ``P̂(y)P̂(z)/P̂(y, z)`` (call :meth:`fit_weights` first).
        unbiased: use the U-statistic MMD² (clamped at 0 in the penalty).

    Attribute ``mode`` is the resolved ``"marginal"`` / ``"conditional"`` (DoWhy CACM: unconditional /
    conditional).
    """

    def __init__(self, structure: str | None = None, mode: str | None = None, lam: float = 1.0,
                 kernel: RBFMixtureKernel | None = None, on: str = "logits", reweight: bool = False,
                 unbiased: bool = False) -> None:
        if (structure is None) == (mode is None):
            raise ValueError("give exactly one of structure= or mode=")
        if mode is not None and mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if on not in ("logits", "representation"):
            raise ValueError(f"on must be 'logits' or 'representation', got {on!r}")
        self.structure = structure
        self.mode = signature_for(structure) if structure is not None else mode
        self.lam = check_finite(lam, "lam")
        if self.lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam!r}")
        self.kernel = RBFMixtureKernel() if kernel is None else kernel
        self.on = on
        self.reweight = bool(reweight)
        self.unbiased = bool(unbiased)
        self._w: torch.Tensor | None = None  # (K, 2) table of weights by (y, z)

    def __repr__(self) -> str:
        return (f"CIRegularizer(mode={self.mode!r}, lam={self.lam}, kernel={self.kernel!r}, on={self.on!r}, "
                f"reweight={self.reweight})")

    def raw(self, h: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """R (not multiplied by λ): h (b,) or (b, d), y (b,), z (b,)."""
        if self.mode == "marginal":
            r = marginal_mmd(h, z, self.kernel, self.unbiased)
        else:
            r = conditional_mmd(h, z, y, self.kernel, self.unbiased)
        return r.clamp_min(0) if self.unbiased else r

    def penalty(self, h: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """λ·R for one minibatch (0-dim tensor); uses the true labels y, never predictions."""
        return self.lam * self.raw(h, y, z)

    def fit_weights(self, y_train: torch.Tensor, z_train: torch.Tensor) -> CIRegularizer:
        """Estimate ``w(y, z) = P̂(y) P̂(z) / P̂(y, z)`` from training labels (y in [0, K), z binary)."""
        y, z = y_train.long(), z_train.long()
        k = int(y.max()) + 1
        joint = torch.zeros(k, 2, dtype=torch.float64)
        joint.index_put_((y, z), torch.ones(len(y), dtype=torch.float64), accumulate=True)
        joint /= joint.sum()
        py, pz = joint.sum(1, keepdim=True), joint.sum(0, keepdim=True)
        self._w = torch.where(joint > 0, py * pz / joint.clamp_min(1e-300), torch.zeros_like(joint)).float()
        return self

    def sample_weights(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """w_i per example (b,): ones unless ``reweight``."""
        if not self.reweight:
            return torch.ones(y.shape[0])
        if self._w is None:
            raise ValueError("reweight=True needs fit_weights(y_train, z_train) first")
        return self._w[y.long(), z.long()]


__all__ = ["MODES", "SIGNATURES", "CIRegularizer", "signature_for"]
