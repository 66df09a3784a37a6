"""Cluttered digits: a small offline image task with a known object location.

Source: ``sklearn.datasets.load_digits`` (1797 images, 8x8, values 0-16, 10 classes), split 80/20 by
index with a fixed seed BEFORE composing. Each sample is a 64x64 canvas: the digit upscaled x2 (nearest)
to 16x16, scaled to [0, 1], pasted at a uniform random position; 4 clutter fragments (random 4x4 crops
of other digits of the same split, intensity x0.7) at random positions; Gaussian noise N(0, 0.05^2);
then each canvas is normalised to mean 0 / std 1. The digit's ink mask (pixels >= 0.25 before noise)
gives the object patches (8x8 patches with >= 8 ink pixels) used by the localisation check.

Legend: b batch, H W canvas (64), g patch grid (8), p patch (8).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from einops import rearrange
from torch import Tensor

from ._inputs import as_generator

__all__ = ["ClutteredDigits", "ClutteredShapes", "DigitBatch", "draw_shape", "make_datasets", "object_patches"]

SHAPES = ("filled circle", "ring", "filled square", "empty square", "filled triangle", "empty triangle",
          "plus", "x-cross", "filled diamond", "empty diamond")


@dataclass(frozen=True)
class DigitBatch:
    """images (b, 1, H, W) normalised; labels (b,); ink (b, H, W) bool mask of the digit's ink."""

    images: Tensor
    labels: Tensor
    ink: Tensor


def object_patches(ink: Tensor, *, patch_size: int = 8, min_ink: int = 8) -> Tensor:
    """(b, H, W) bool ink mask -> (b, N) bool: patches (row-major, as the patch embedding) with >= min_ink."""
    counts = rearrange(ink.to(torch.int64), "b (gh p) (gw q) -> b (gh gw) (p q)", p=patch_size, q=patch_size)
    return counts.sum(-1) >= min_ink


class ClutteredDigits:
    """Generator of cluttered-digit canvases (see module docstring).

    Args:
        split: "train" or "test" (an 80/20 split of the 1797 source images by index, seed ``split_seed``).
        canvas: canvas side (64); the digit is 16x16 after x2 upscaling.
        n_clutter: clutter fragments per canvas (4); clutter_size: fragment side (4);
        clutter_intensity: fragment scale (0.7); noise_std: background noise (0.05).
    """

    def __init__(
        self,
        *,
        split: str,
        canvas: int = 64,
        n_clutter: int = 4,
        clutter_size: int = 4,
        clutter_intensity: float = 0.7,
        noise_std: float = 0.05,
        split_seed: int = 0,
        test_fraction: float = 0.2,
    ) -> None:
        from sklearn.datasets import load_digits

        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if canvas < 16:
            raise ValueError(f"canvas must be >= 16 pixels, got {canvas}")
        digits = load_digits()
        order = np.random.default_rng(split_seed).permutation(len(digits.target))
        n_test = round(test_fraction * len(order))
        idx = order[:n_test] if split == "test" else order[n_test:]
        imgs = digits.images[idx].astype(np.float32) / 16.0  # scale to [0, 1]
        imgs = imgs.repeat(2, axis=1).repeat(2, axis=2)  # x2 nearest -> 16x16
        self.source_index = torch.as_tensor(idx)
        self.digits = torch.as_tensor(imgs)  # k 16 16
        self.targets = torch.as_tensor(digits.target[idx], dtype=torch.int64)
        self.split, self.canvas = split, canvas
        self.n_clutter, self.clutter_size = n_clutter, clutter_size
        self.clutter_intensity, self.noise_std = clutter_intensity, noise_std

    def __len__(self) -> int:
        return len(self.targets)

    def sample(self, batch: int, generator: torch.Generator | int) -> DigitBatch:
        """Compose ``batch`` fresh canvases with ``generator`` (an int seed or a ``torch.Generator``; deterministic
        given its state)."""
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        generator = as_generator(generator)
        k, size, cs, h = len(self), self.digits.shape[-1], self.clutter_size, self.canvas
        src = torch.randint(0, k, (batch,), generator=generator)
        pos = torch.randint(0, h - size + 1, (batch, 2), generator=generator)
        # clutter: crops of OTHER digits of this split (offset 1..k-1 avoids the sample's own digit)
        other = (src[:, None] + torch.randint(1, k, (batch, self.n_clutter), generator=generator)) % k
        crop = torch.randint(0, size - cs + 1, (batch, self.n_clutter, 2), generator=generator)
        cpos = torch.randint(0, h - cs + 1, (batch, self.n_clutter, 2), generator=generator)
        noise = torch.randn(batch, h, h, generator=generator) * self.noise_std
        canvas = torch.zeros(batch, h, h)
        ink = torch.zeros(batch, h, h, dtype=torch.bool)
        rows = torch.arange(batch)[:, None, None]
        ar_c, ar_s = torch.arange(cs), torch.arange(size)
        # every paste is an element-wise max, so pasting all samples at once (clutter j by j, then the object)
        # gives the same canvas as pasting sample by sample
        for j in range(self.n_clutter):
            ys = (crop[:, j, 0:1] + ar_c)[:, :, None]  # b cs 1: rows of the crop in the source
            xs = (crop[:, j, 1:2] + ar_c)[:, None, :]  # b 1 cs
            frag = self.digits[other[:, j, None, None], ys, xs] * self.clutter_intensity  # b cs cs
            py = (cpos[:, j, 0:1] + ar_c)[:, :, None]
            px = (cpos[:, j, 1:2] + ar_c)[:, None, :]
            canvas[rows, py, px] = torch.maximum(canvas[rows, py, px], frag)
        d = self.digits[src]  # b size size
        py = (pos[:, 0:1] + ar_s)[:, :, None]
        px = (pos[:, 1:2] + ar_s)[:, None, :]
        canvas[rows, py, px] = torch.maximum(canvas[rows, py, px], d)
        ink[rows, py, px] = d >= 0.25
        canvas = canvas + noise
        mean = canvas.mean(dim=(1, 2), keepdim=True)
        std = canvas.std(dim=(1, 2), keepdim=True)
        images = ((canvas - mean) / std).unsqueeze(1)
        return DigitBatch(images=images, labels=self.targets[src], ink=ink)


def draw_shape(kind: int, size: int) -> Tensor:
    """(size, size) binary template of shape class ``kind`` (see ``SHAPES``), drawn on a [-1, 1]² grid."""
    if not 0 <= kind < len(SHAPES):
        raise ValueError(f"kind must be in 0..{len(SHAPES) - 1}, got {kind}")
    c = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    v, u = torch.meshgrid(c, c, indexing="ij")  # v: rows (down), u: columns
    r, box, l1 = (u**2 + v**2).sqrt(), torch.maximum(u.abs(), v.abs()), u.abs() + v.abs()
    w = 2.4 / size  # stroke half-width: about 1.2 px
    tri_out = (v <= 0.85) & (u.abs() <= (v + 0.9) / 1.75 * 0.95)
    tri_in = (v <= 0.85 - 2.5 * w) & (u.abs() <= (v + 0.9 - 4 * w) / 1.75 * 0.95)
    masks = (
        r <= 0.9,
        (r <= 0.92) & (r >= 0.92 - 2 * w),
        box <= 0.85,
        (box <= 0.88) & (box >= 0.88 - 2 * w),
        tri_out,
        tri_out & ~tri_in,
        ((u.abs() <= w) | (v.abs() <= w)) & (box <= 0.9),
        ((u - v).abs() <= 1.4 * w) | ((u + v).abs() <= 1.4 * w),
        l1 <= 0.95,
        (l1 <= 0.95) & (l1 >= 0.95 - 2.8 * w),
    )
    return masks[kind].float()


class ClutteredShapes(ClutteredDigits):
    """The spec's fallback task: 10 procedural shapes (``SHAPES``) drawn at 12-16 px on the same clutter.

    Clutter fragments are 4x4 crops of other shapes; the split only changes the default stream.
    """

    def __init__(self, *, split: str, sizes: tuple[int, ...] = (12, 13, 14, 15, 16), **kwargs) -> None:
        super().__init__(split=split, **kwargs)
        bank, labels = [], []
        for kind in range(len(SHAPES)):
            for sz in sizes:
                t = torch.zeros(16, 16)
                o = (16 - sz) // 2
                t[o:o + sz, o:o + sz] = draw_shape(kind, sz)
                bank.append(t)
                labels.append(kind)
        self.digits = torch.stack(bank)  # padded to 16x16 so the canvas code is shared
        self.targets = torch.tensor(labels, dtype=torch.int64)
        self.source_index = torch.arange(len(labels))


def make_datasets(task: str) -> tuple[ClutteredDigits, ClutteredDigits]:
    """(train, test) generators of the cluttered task: ``"digits"`` or ``"shapes"``."""
    if task == "digits":
        return ClutteredDigits(split="train"), ClutteredDigits(split="test")
    if task == "shapes":
        return ClutteredShapes(split="train"), ClutteredShapes(split="test")
    raise ValueError(f"task must be 'digits' or 'shapes', got {task!r}")
