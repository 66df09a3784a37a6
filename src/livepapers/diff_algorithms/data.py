"""Offline data for the reproduction: 4-digit ``load_digits`` sets, binarised digits, MONK problems, star polygons.

Every generator takes a ``torch.Generator`` or an int seed; nothing is downloaded (``sklearn.datasets.load_digits``
ships with scikit-learn).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ._inputs import as_generator, check_bounds, check_positive

__all__ = [
    "DigitPools",
    "binary_digits",
    "digit_pools",
    "fan_triangles",
    "four_digit_sets",
    "monk",
    "pose_scene",
    "star_polygons",
]


@dataclass(frozen=True)
class DigitPools:
    """Single-digit images split into a train pool (1,200, stratified) and a test pool (597).

    ``*_images: (N, 8, 8)`` float32 in [0, 1]; ``*_labels: (N,)`` long.
    """

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor


def _stratified_split(labels: np.ndarray, n_first: int, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(first, rest)`` with ``len(first) = n_first``, class proportions kept (largest remainder)."""
    classes = np.unique(labels)
    counts = np.array([(labels == c).sum() for c in classes])
    quota = counts * n_first / len(labels)
    take = np.floor(quota).astype(int)
    for i in np.argsort(-(quota - take))[: n_first - take.sum()]:
        take[i] += 1
    first, rest = [], []
    for c, t in zip(classes, take):
        idx = np.nonzero(labels == c)[0]
        perm = idx[torch.randperm(len(idx), generator=generator).numpy()]
        first.append(perm[:t])
        rest.append(perm[t:])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(rest))


def digit_pools(generator: torch.Generator | int) -> DigitPools:
    """``load_digits`` (1,797 8×8 images, values 0..16 → /16) split 1,200 / 597, stratified (``generator``: an int
    seed or a ``torch.Generator``)."""
    generator = as_generator(generator)
    from sklearn.datasets import load_digits

    d = load_digits()
    images = torch.from_numpy(d.images.astype(np.float32) / 16.0)
    labels = d.target.astype(np.int64)
    tr, te = _stratified_split(labels, 1200, generator)
    lab = torch.from_numpy(labels)
    return DigitPools(images[tr], lab[tr], images[te], lab[te])


def four_digit_sets(images: Tensor, labels: Tensor, *, n_sets: int, set_size: int,
                    generator: torch.Generator | int) -> tuple[Tensor, Tensor]:
    r"""Sets of 4-digit items: ``(n_sets, set_size, 8, 32)`` images and ``(n_sets, set_size)`` values.

    An item is 4 digits drawn independently from the pool, side by side; its value is $\sum_i 10^{3-i} \, l_i$
    ($l_i$ the label of digit $i$).
    Sets with tied values are redrawn (ties make the exact-match metric ill-defined). ``generator``: an int seed or a
    ``torch.Generator``.
    """
    generator = as_generator(generator)
    if n_sets < 1 or set_size < 1:
        raise ValueError(f"n_sets and set_size must be >= 1, got n_sets={n_sets}, set_size={set_size}")
    out_x = torch.empty(n_sets, set_size, 8, 32)
    out_v = torch.empty(n_sets, set_size)
    place = torch.tensor([1000.0, 100.0, 10.0, 1.0])
    filled = 0
    while filled < n_sets:
        m = n_sets - filled
        idx = torch.randint(len(labels), (m, set_size, 4), generator=generator)
        vals = (labels[idx].float() * place).sum(-1)  # (m, n)
        ok = torch.tensor([len(torch.unique(v)) == set_size for v in vals])
        idx, vals = idx[ok], vals[ok]
        k = len(vals)
        # (m, n, 4, 8, 8) -> (m, n, 8, 32): the four digits side by side
        out_x[filled:filled + k] = images[idx].permute(0, 1, 3, 2, 4).reshape(k, set_size, 8, 32)
        out_v[filled:filled + k] = vals
        filled += k
    return out_x, out_v


def binary_digits(generator: torch.Generator | int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``load_digits`` binarised with 3 thresholds (``x/16 > 0.25, 0.5, 0.75`` → 192 bits), 80/20 stratified split
    (``generator``: an int seed or a ``torch.Generator``).

    Returns ``(x_train (N, 192), y_train, x_test, y_test)``; ``x`` float32 in {0, 1}.
    """
    generator = as_generator(generator)
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.data.astype(np.float32) / 16.0
    bits = np.concatenate([x > t for t in (0.25, 0.5, 0.75)], axis=1).astype(np.float32)
    y = d.target.astype(np.int64)
    tr, te = _stratified_split(y, round(0.8 * len(y)), generator)
    return (torch.from_numpy(bits[tr]), torch.from_numpy(y[tr]), torch.from_numpy(bits[te]),
            torch.from_numpy(y[te]))


MONK_DOMAINS = (3, 3, 2, 3, 4, 2)
MONK_TRAIN_SIZES = {1: 124, 2: 169, 3: 122}


def monk_rule(problem: int, a: np.ndarray) -> np.ndarray:
    """Labels of the MONK rules for attributes ``a: (N, 6)`` with values starting at 1."""
    a1, a2, _a3, a4, a5, _a6 = (a[:, i] for i in range(6))
    if problem == 1:
        return (a1 == a2) | (a5 == 1)
    if problem == 2:
        return (a == 1).sum(1) == 2
    if problem == 3:
        return ((a5 == 3) & (a4 == 1)) | ((a5 != 4) & (a2 != 3))
    raise ValueError(f"MONK problem must be 1, 2 or 3, got {problem}")


def monk(problem: int, generator: torch.Generator | int, *,
         noise: float | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """MONK-``problem`` from its rule: test = all 432 combinations, train = a random subset (124/169/122).

    Inputs are one-hot (17 bits); MONK-3's train labels get 5 % label noise (``noise`` overrides, a probability).
    ``generator``: an int seed or a ``torch.Generator``. Returns ``(x_train, y_train, x_test, y_test)``.
    """
    if problem not in MONK_TRAIN_SIZES:
        raise ValueError(f"MONK problem must be 1, 2 or 3, got {problem}")
    if noise is not None and not 0 <= noise <= 1:
        raise ValueError(f"noise must be in [0, 1] (a label-flip probability), got {noise}")
    generator = as_generator(generator)
    a = np.array(list(itertools.product(*[range(1, d + 1) for d in MONK_DOMAINS])))  # (432, 6)
    y = monk_rule(problem, a).astype(np.int64)
    x = np.concatenate([np.eye(d, dtype=np.float32)[a[:, i] - 1] for i, d in enumerate(MONK_DOMAINS)], axis=1)
    idx = torch.randperm(len(a), generator=generator)[: MONK_TRAIN_SIZES[problem]].numpy()
    y_tr = y[idx].copy()
    p = (0.05 if problem == 3 else 0.0) if noise is None else noise
    if p > 0:
        flip = torch.rand(len(idx), generator=generator).numpy() < p
        y_tr[flip] = 1 - y_tr[flip]
    return torch.from_numpy(x[idx]), torch.from_numpy(y_tr), torch.from_numpy(x), torch.from_numpy(y)


def star_polygons(n: int, generator: torch.Generator | int, *, radius: float = 0.3, min_vertices: int = 8,
                  max_vertices: int = 12) -> list[Tensor]:
    r"""``n`` star-shaped polygons around the origin, 8–12 vertices each: list of ``(V, 2)`` in NDC units.

    Vertex $v$ sits at angle $2\pi v / V$ + jitter and distance ``radius`` $\cdot \, U(0.55, 1.15)$.
    ``generator``: an int seed or a ``torch.Generator``.
    """
    generator = as_generator(generator)
    check_positive(radius, "radius")
    if min_vertices < 3:
        raise ValueError(f"min_vertices must be >= 3 (a polygon), got {min_vertices}")
    check_bounds(min_vertices, max_vertices, "min_vertices", "max_vertices")
    polys = []
    for _ in range(n):
        V = int(torch.randint(min_vertices, max_vertices + 1, (1,), generator=generator))
        ang = 2 * math.pi * (torch.arange(V) + 0.3 * (torch.rand(V, generator=generator) - 0.5)) / V
        r = radius * (0.55 + 0.6 * torch.rand(V, generator=generator))
        polys.append(torch.stack([r * torch.cos(ang), r * torch.sin(ang)], -1))
    return polys


def fan_triangles(poly: Tensor) -> Tensor:
    """Fan triangulation from the centre (0, 0) of a star polygon ``(V, 2)`` -> ``(V, 3, 2)``."""
    centre = torch.zeros_like(poly[:1]).expand(len(poly), 2)
    return torch.stack([centre, poly, poly.roll(-1, 0)], 1)


def pose_scene(n_shapes: int, offsets: tuple[float, ...], *, max_rotation_deg: float,
               generator: torch.Generator | int, radius: float = 0.3
               ) -> tuple[Tensor, Tensor, Tensor, dict[float, Tensor]]:
    r"""The R5 scene: :func:`star_polygons` of ``radius`` as fans of triangles ``tris (s, f, 3, 2)`` with a face
    ``mask (s, f)``, a true pose per shape ``(s, 3)`` (angle $\in [0, 2\pi)$, translation in $[-0.1, 0.1]^2$) and, per
    offset $D$, start poses at distance $D$ in a random direction, rotated by at most ``max_rotation_deg``.
    ``generator``: an int seed or a ``torch.Generator``. Whether a posed shape stays inside the image:
    :func:`outside_frame`."""
    g = as_generator(generator)
    polys = star_polygons(n_shapes, g, radius=radius)
    fmax = max(len(p) for p in polys)
    tris = torch.zeros(n_shapes, fmax, 3, 2)
    mask = torch.zeros(n_shapes, fmax, dtype=torch.bool)
    for i, p in enumerate(polys):
        tris[i, : len(p)] = fan_triangles(p)
        mask[i, : len(p)] = True
    true_pose = torch.stack([2 * math.pi * torch.rand(n_shapes, generator=g),
                             0.2 * (torch.rand(n_shapes, generator=g) - 0.5),
                             0.2 * (torch.rand(n_shapes, generator=g) - 0.5)], -1)
    starts = {}
    for D in offsets:
        phi = 2 * math.pi * torch.rand(n_shapes, generator=g)
        rot = math.radians(max_rotation_deg) * (2 * torch.rand(n_shapes, generator=g) - 1)
        starts[D] = true_pose + torch.stack([rot, D * torch.cos(phi), D * torch.sin(phi)], -1)
    return tris, mask, true_pose, starts


def outside_frame(verts: Tensor, mask: Tensor) -> Tensor:
    """Per shape, whether any vertex of its masked triangles ``verts (s, f, 3, 2)`` (posed, NDC) lies outside the open
    image square ``(-1, 1)^2``: ``(s,)`` bool."""
    return ((verts.abs() >= 1).any(-1).any(-1) & mask).any(-1)
