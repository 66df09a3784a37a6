"""Metric names of DynamicViT's reproduction, shared by the experiment, its helpers and the claims."""

from __future__ import annotations

VARIANTS = ("dynamic", "random_keep", "fixed_centre")
FLOPS_TABLE_RHOS = (0.5, 0.7, 0.8, 0.9)  # keep ratios of the DeiT-S FLOP metrics (C1)


def flops_metric(rho: float) -> str:
    """The metric of DeiT-S GFLOPs at keep ratio ``rho``: ``flops_rho07_g`` for 0.7."""
    return f"flops_rho{round(10 * rho):02d}_g"


def variant_metric(stat: str, variant: str) -> str:
    """``stat`` ("acc", "recall", "final_loss") of fine-tune ``variant`` (one of ``VARIANTS``)."""
    return f"{stat}_{variant}"


def keep_frac_metric(stage: int) -> str:
    """Mean kept fraction after pruning stage ``stage`` (1-based) of DynamicViT's last training steps."""
    return f"keep_frac_stage{stage}"
