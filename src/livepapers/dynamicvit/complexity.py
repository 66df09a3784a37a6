r"""Analytic and traced cost of DynamicViT (multiply-accumulates, the paper's and fvcore's "FLOPs").

Per block with $n$ tokens (cls included) and $C$ channels:

$$12 n C^2 + 2 n^2 C \qquad (\text{qkv } 3 n C^2,\ \text{proj } n C^2,\ \text{MLP } 8 n C^2;\ Q K^\top
\text{ and } A V: 2 n^2 C).$$

Patch embedding $N (c_{in} p^2) C$ (linear, DeiT) or, for the conv stem,
$\sum_l (H / 2^l)^2 \cdot 9\, c_{l-1} c_l$ over its $\log_2 p$ stride-2 3x3 convolutions (BatchNorm and GELU
not counted, like LayerNorm); predictor on $n'$ spatial tokens $n' (C^2 + C \cdot C/2 + C/2 \cdot C/4 +
2 \cdot C/4)$; head $C \cdot$ classes. LayerNorm is excluded by default (fvcore adds $5 n C$ per LayerNorm).
DeiT-S: 4.599 G dense, 2.981 G at $\rho = 0.7$ (token counts 197 / 138 / 97 / 68 per 3-block group).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from .modules import _ViTBase, kept_counts, make_token_ratio

__all__ = ["DEIT_S", "count_flops", "count_flops_traced"]

DEIT_S = dict(embed_dim=384, depth=12, num_heads=6, pruning_loc=(3, 6, 9))  # the paper's DeiT-S (C1's FLOPs)
_DEFAULTS = dict(img_size=224, patch_size=16, in_chans=3, num_classes=1000, embed_dim=768, depth=12,
                 mlp_ratio=4.0, pruning_loc=(3, 6, 9), stem="patch")


def _cfg_of(model_cfg: Mapping[str, Any] | nn.Module) -> dict[str, Any]:
    if isinstance(model_cfg, _ViTBase):
        m = model_cfg
        pe = m.patch_embed
        cfg = dict(img_size=pe.img_size, patch_size=pe.patch_size, in_chans=pe.in_chans,
                   num_classes=m.num_classes, embed_dim=m.embed_dim, depth=m.depth,
                   mlp_ratio=m.blocks[0].mlp.fc1.out_features / m.embed_dim,
                   pruning_loc=getattr(m, "pruning_loc", _DEFAULTS["pruning_loc"]), stem=m.stem)
        return cfg
    if not isinstance(model_cfg, Mapping):
        raise ValueError(f"model_cfg must be a mapping of model arguments or a DeiT model, got {type(model_cfg)}")
    unknown = set(model_cfg) - set(_DEFAULTS) - {"num_heads", "qkv_bias", "drop_path_rate", "token_ratio",
                                                  "distill"}
    if unknown:
        raise ValueError(f"model_cfg has unknown keys {sorted(unknown)}")
    return {**_DEFAULTS, **{k: v for k, v in model_cfg.items() if k in _DEFAULTS}}


def _embed_flops(cfg: Mapping[str, Any]) -> float:
    """Multiply-adds of the patch embedding (linear) or of the conv stem (3x3 stride-2 convolutions)."""
    c, p, img, c_in = int(cfg["embed_dim"]), int(cfg["patch_size"]), int(cfg["img_size"]), int(cfg["in_chans"])
    if cfg["stem"] == "patch":
        return (img // p) ** 2 * (c_in * p * p) * c
    if cfg["stem"] != "conv":
        raise ValueError(f"stem must be 'patch' or 'conv', got {cfg['stem']!r}")
    k = p.bit_length() - 1
    widths = [c_in] + [c // 2 ** (k - 1 - i) for i in range(k)]
    total, side = 0, img
    for a, b in pairwise(widths):
        side = (side + 1) // 2  # 3x3, stride 2, padding 1
        total += side * side * 9 * a * b
    return total


def count_flops(
    model_cfg: Mapping[str, Any] | nn.Module, rho: float | None, *, include_layernorm: bool = False
) -> float:
    """Multiply-accumulates of one image's inference forward.

    Args:
        model_cfg: constructor arguments (``img_size, patch_size, in_chans, num_classes, embed_dim, depth,
            mlp_ratio, pruning_loc, stem``; missing ones take the DeiT defaults) or a model.
        rho: keep ratio per stage (cumulative ``rho^s``), predictors included; ``None`` = the dense model
            without predictors.
        include_layernorm: add fvcore's ``5 n C`` per LayerNorm.
    Returns:
        the count (not in G): e.g. 4.599e9 for dense DeiT-S.
    """
    cfg = _cfg_of(model_cfg)
    c, depth = int(cfg["embed_dim"]), int(cfg["depth"])
    p = int(cfg["patch_size"])
    n_sp = (int(cfg["img_size"]) // p) ** 2
    hidden = int(c * float(cfg["mlp_ratio"]))
    ln = 5 * c if include_layernorm else 0

    def block(n: int) -> float:
        # qkv 3nC^2 + proj nC^2 + MLP 2nC*hidden (= 8nC^2 at ratio 4) + QK^T, AV 2n^2C (+ 2 LayerNorms)
        return 4 * n * c * c + 2 * n * c * hidden + 2 * n * n * c + 2 * n * ln

    def predictor(m: int) -> float:
        return m * (c * c + c * (c // 2) + (c // 2) * (c // 4) + 2 * (c // 4)) + m * ln

    total = _embed_flops(cfg) + c * int(cfg["num_classes"])
    if rho is None:
        counts_at: dict[int, int] = {}
    else:
        locs = tuple(int(i) for i in cfg["pruning_loc"])
        ratios = make_token_ratio(rho, len(locs))
        counts_at = dict(zip(locs, kept_counts(n_sp, ratios)))
    m = n_sp
    for i in range(depth):
        if i in counts_at:
            total += predictor(m)
            m = counts_at[i]
        total += block(m + 1)
    return float(total + (m + 1) * ln)


def _sdpa_cpu_flops(query: torch.Size, key: torch.Size, value: torch.Size, *args: Any, out_shape: Any = None,
                    **kwargs: Any) -> int:
    """torch's own SDPA formula (``flop_counter.sdpa_flop_count``, registered there for the GPU kernels only) for
    the fused CPU kernel that ``F.scaled_dot_product_attention`` dispatches to on CPU."""
    return sdpa_flop_count(query, key, value)  # the counter passes shapes


_CPU_SDPA = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flops}


@torch.no_grad()
def count_flops_traced(model: nn.Module, *, batch: int = 1) -> float:
    """Multiply-accumulates per image counted by ``torch.utils.flop_counter`` in eval mode.

    FlopCounterMode counts 2 FLOPs per multiply-add, so its total is halved; it skips LayerNorm, softmax
    and GELU, so it matches ``count_flops(..., include_layernorm=False)``. The fused CPU attention kernel (dense
    blocks) is counted with torch's own SDPA formula, which torch registers for the GPU kernels only.
    """
    if not isinstance(model, _ViTBase):
        raise ValueError(f"model must be a DynamicViT or teacher ViT, got {type(model).__name__}")
    was_training = model.training
    model.eval()
    pe = model.patch_embed
    x = torch.zeros(batch, pe.in_chans, pe.img_size, pe.img_size)
    try:
        with FlopCounterMode(display=False, custom_mapping=_CPU_SDPA) as counter:
            model(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / 2 / batch
