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
import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["load_timm_deit_state_dict"]

_PREDICTOR_PREFIX = "score_predictor."
# torch.save's pre-1.6 format starts with the pickled magic number 0x1950a86a20f9469cfc6c (protocol 2)
_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"
_RESAVE = "save the weights alone with torch.save(model.state_dict(), path)"


def _why_not_loadable(path: Path, error: BaseException) -> str:
    """One line saying what ``path`` is when ``torch.load(weights_only=True)`` refused it (never torch's advice to
    turn the weights-only safety off)."""
    with open(path, "rb") as f:
        head = f.read(512)
    refused = isinstance(error, pickle.UnpicklingError) and "weights only load failed" in str(error).lower()
    found = sorted(set(re.findall(r"GLOBAL ([\w.]+)", str(error))))
    if head.startswith(b"PK\x03\x04") or zipfile.is_zipfile(path) or head.startswith(_LEGACY_MAGIC):
        if refused:
            what = f" (globals: {', '.join(found)})" if found else ""
            return (f"checkpoint {path} is not a weights-only checkpoint: it holds pickled Python objects besides "
                    f"tensors{what}, which are never unpickled here; {_RESAVE}")
        return f"checkpoint {path} is damaged (a truncated or corrupted torch.save archive)"
    pickled = (f"checkpoint {path} is a plain Python pickle, not a weights-only checkpoint (arbitrary pickles are "
               f"never loaded here); {_RESAVE}")
    if head[:1] == b"\x80":  # the PROTO opcode of pickle protocols 2-5
        return pickled
    if len(head) > 10 and head[8:10] == b'{"':
        return (f"checkpoint {path} is a safetensors file; read it with safetensors.torch.load_file(path) and pass "
                "the state dict")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c.isspace() for c in text):
        return f"checkpoint {path} is a text file, not a torch checkpoint"
    # a pickle of another protocol names the globals it needs; anything else is not a pickle we can tell
    return pickled if found else f"checkpoint {path} is not a torch checkpoint (unrecognised format)"


def _load_file(path: Path) -> Any:
    if path.is_dir():
        raise ValueError(f"checkpoint {path} is a folder, not a checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"checkpoint {path} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():  # torch's note on a plain pickle's protocol, before we refuse the file
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError, KeyError... for a bad file
        raise ValueError(_why_not_loadable(path, e)) from None


def _read(sd: Mapping[str, Tensor] | str | os.PathLike) -> Mapping[str, Tensor]:
    where = ""
    if isinstance(sd, str | os.PathLike):
        where = f"checkpoint {sd}: "
        sd = _load_file(Path(sd))
    if not isinstance(sd, Mapping):
        raise ValueError(f"{where}a state dict must be a mapping of names to tensors, got {type(sd).__name__}")
    for wrapper in ("model", "state_dict"):  # DeiT / DynamicViT releases wrap the weights as {"model": ...}
        if wrapper in sd and isinstance(sd[wrapper], Mapping):
            sd = sd[wrapper]
    bad = next((k for k in sd if not isinstance(k, str)), None)
    if bad is not None:
        raise ValueError(f"{where}state dict keys must be parameter names (str); got {type(bad).__name__} key {bad!r}")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in sd.items()}


def _shape_of(sd: Mapping[str, Any]) -> str:
    """``depth D, embed_dim C, N patches, K classes`` of a DeiT state dict (``?`` where a key is missing)."""

    def dim(key: str, axis: int, minus: int = 0) -> str:
        v = sd.get(key)
        return str(v.shape[axis] - minus) if isinstance(v, Tensor) and v.dim() > abs(axis) else "?"

    blocks = [int(m.group(1)) for k in sd if (m := re.match(r"blocks\.(\d+)\.", k))]
    depth = str(max(blocks) + 1) if blocks else "?"
    return (f"depth {depth}, embed_dim {dim('cls_token', -1)}, {dim('pos_embed', 1, 1)} patches, "
            f"{dim('head.weight', 0)} classes")


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
        ValueError: the file is not a weights-only torch checkpoint (empty, text, a plain pickle, pickled objects,
            damaged), a key is not a string, a backbone key is missing, a key is unknown, or a tensor has the wrong
            shape (the message then compares the checkpoint's depth / width / patches / classes with the model's).
        FileNotFoundError: ``sd`` is a path that does not exist.
    """
    state = _read(sd)
    own = model.state_dict()
    theirs, ours = _shape_of(state), _shape_of(own)
    shapes = "" if theirs == ours else f" (checkpoint: {theirs}; model: {ours})"
    missing = [k for k in own if k not in state and not k.startswith(_PREDICTOR_PREFIX)]
    if missing:
        raise ValueError(f"state dict is missing {len(missing)} DeiT key(s): {', '.join(missing[:6])}"
                         + (" ..." if len(missing) > 6 else "") + shapes)
    unexpected = [k for k in state if k not in own]
    if unexpected:
        raise ValueError(f"state dict has {len(unexpected)} unknown key(s) for this model: "
                         f"{', '.join(unexpected[:6])}" + (" ..." if len(unexpected) > 6 else "") + shapes)
    to_load: dict[str, Tensor] = {}
    for k, v in state.items():
        if not isinstance(v, Tensor):
            raise ValueError(f"state dict entry {k!r} is not a tensor ({type(v).__name__})")
        if tuple(v.shape) != tuple(own[k].shape):
            if ignore_head and k.startswith("head."):
                continue
            raise ValueError(f"state dict entry {k!r} has shape {tuple(v.shape)}, "
                             f"the model expects {tuple(own[k].shape)}{shapes}")
        to_load[k] = v
    model.load_state_dict(to_load, strict=False)
    return [k for k in own if k not in to_load]
