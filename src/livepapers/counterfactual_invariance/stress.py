"""Stress test and accuracy (spec, "Stress-test and OOD evaluation").

CF-change = (1/n) Σ_i |p_θ(x_i(1)) − p_θ(x_i(0))| with p_θ = P̂(Y=1 | x); flip rate = fraction of i whose predicted
class differs between x_i(0) and x_i(1). Counterfactual pairs are used only here, never in training.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def stress_test(predict_proba: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, x_cf: torch.Tensor
                ) -> dict[str, float]:
    """``{"cf_change", "flip_rate"}`` of a predictor on inputs ``x`` (n, L) and their counterfactuals ``x_cf``.

    ``predict_proba(tokens) -> (n,)`` is P(Y=1 | x).
    """
    if x.shape != x_cf.shape:
        raise ValueError(f"x and x_cf need the same shape, got {tuple(x.shape)} and {tuple(x_cf.shape)}")
    with torch.no_grad():
        p, q = predict_proba(x).double(), predict_proba(x_cf).double()
    return {"cf_change": float((p - q).abs().mean()), "flip_rate": float(((p > 0.5) != (q > 0.5)).double().mean())}


def accuracy(p: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of probabilities p (n,) on labels y (n,): predict 1 iff p > ½; an exact tie p = ½ counts ½."""
    p = p.double()
    hit = ((p > 0.5).long() == y.long()).double()
    return float(torch.where(p == 0.5, torch.full_like(hit, 0.5), hit).mean())


__all__ = ["accuracy", "stress_test"]
