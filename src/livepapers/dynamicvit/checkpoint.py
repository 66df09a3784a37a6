"""Load timm-format DeiT weights (a local file or an in-memory state dict) into our models.

Our parameter names are timm's (``cls_token``, ``pos_embed``, ``patch_embed.proj.*``,
``blocks.{i}.norm1.*``, ``blocks.{i}.attn.qkv.*``, ``blocks.{i}.attn.proj.*``, ``blocks.{i}.norm2.*``,
``blocks.{i}.mlp.fc1.*``, ``blocks.{i}.mlp.fc2.*``, ``norm.*``, ``head.*``), and the predictors use the
official DynamicViT names (``score_predictor.{s}.in_conv.*``, ``...out_conv.*``), so both a DeiT
checkpoint (predictors stay freshly initialised) and a DynamicViT checkpoint load. Files are read with
``torch.load(..., weights_only=True)`` only; nothing is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["load_timm_deit_state_dict"]

_PREDICTOR_PREFIX = "score_predictor."


def _read(sd: Mapping[str, Tensor] | str | os.PathLike) -> Mapping[str, Tensor]:
    if isinstance(sd, str | os.PathLike):
        path = Path(sd)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint file not found: {path}")
        sd = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(sd, Mapping):
        raise ValueError(f"a state dict must be a mapping of names to tensors, got {type(sd).__name__}")
    for wrapper in ("model", "state_dict"):  # DeiT / DynamicViT releases wrap the weights as {"model": ...}
        if wrapper in sd and isinstance(sd[wrapper], Mapping):
            sd = sd[wrapper]
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in sd.items()}


def load_timm_deit_state_dict(
    model: nn.Module, sd: Mapping[str, Tensor] | str | os.PathLike, *, ignore_head: bool = False
) -> list[str]:
    """Copy a timm DeiT state dict into ``model`` (a DynamicViT or teacher ViT), checking every key.

    Args:
        model: ``VisionTransformerDiffPruning`` or ``VisionTransformerTeacher`` of the checkpoint's shape.
        sd: a state dict, or a path to a ``.pth`` file holding one (optionally wrapped as ``{"model": sd}``).
        ignore_head: keep the model's own ``head`` when the checkpoint's classifier has another shape
            (fine-tuning to a different number of classes).
    Returns:
        the model keys left at their initial values (the predictors when loading a plain DeiT).
    Raises:
        ValueError: a backbone key is missing, a key is unknown, or a tensor has the wrong shape.
    """
    state = _read(sd)
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.startswith(_PREDICTOR_PREFIX)]
    if missing:
        raise ValueError(f"state dict is missing {len(missing)} DeiT key(s): {', '.join(missing[:6])}"
                         + (" ..." if len(missing) > 6 else ""))
    unexpected = [k for k in state if k not in own]
    if unexpected:
        raise ValueError(f"state dict has {len(unexpected)} unknown key(s) for this model: "
                         f"{', '.join(unexpected[:6])}" + (" ..." if len(unexpected) > 6 else ""))
    to_load: dict[str, Tensor] = {}
    for k, v in state.items():
        if not isinstance(v, Tensor):
            raise ValueError(f"state dict entry {k!r} is not a tensor ({type(v).__name__})")
        if tuple(v.shape) != tuple(own[k].shape):
            if ignore_head and k.startswith("head."):
                continue
            raise ValueError(f"state dict entry {k!r} has shape {tuple(v.shape)}, "
                             f"the model expects {tuple(own[k].shape)}")
        to_load[k] = v
    model.load_state_dict(to_load, strict=False)
    return [k for k in own if k not in to_load]
