r"""GenDR, the generalized differentiable renderer (Petersen et al., CVPR 2022), as a 2-D silhouette rasteriser.

For a pixel centre $p$ and a screen-space triangle $T$, $d = \mathrm{dist}(p, \partial T)$ is the Euclidean distance
to the nearest point of the triangle's boundary and $s = +1$ inside $T$, $-1$ outside. The coverage probability is
$c_T(p) = F(s d / \tau)$ (or $F(s d^2 / \tau)$ with ``dist_squared``) for the CDF $F$ of a chosen perturbation
distribution, and the silhouette folds all triangles with a T-conorm $\bot$:
$A = \bot(\dots \bot(\bot(0, c_1), c_2) \dots, c_m)$. SoftRas is logistic $F$ on squared distance with the
probabilistic sum; the hard rasteriser is the Heaviside $F$.

Shapes: ``b`` batch, ``f`` faces, ``h × w`` image, ``q = h·w`` pixels. ``face_vertices: (b, f, 3, 2)`` in NDC
(``x`` right, ``y`` up, the image spans ``[−1, 1]²``); output ``(b, h, w)``, row 0 at the top.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ._inputs import as_generator, check_positive

__all__ = ["DISTRIBUTIONS", "T_CONORMS", "GenDR", "iou_loss", "pixel_centres", "posed", "signed_distance",
           "softras_equivalence_error"]


# ------------------------------------------------------------------------------------------------
# distributions F (CDFs; u = s·d/τ)
# ------------------------------------------------------------------------------------------------


def _uniform(u: Tensor) -> Tensor:
    return ((u + 1) / 2).clamp(0, 1)


def _cubic_hermite(u: Tensor) -> Tensor:
    y = ((u + 1) / 2).clamp(0, 1)
    return 3 * y**2 - 2 * y**3


def _wigner_semicircle(u: Tensor) -> Tensor:
    v = u.clamp(-1, 1)
    inner = 0.5 + (v * (1 - v**2).clamp_min(0).sqrt() + torch.asin(v)) / math.pi
    return torch.where(u <= -1, torch.zeros_like(u), torch.where(u >= 1, torch.ones_like(u), inner))


def _gaussian(u: Tensor) -> Tensor:
    return 0.5 * (1 + torch.erf(u / math.sqrt(2)))


def _laplace(u: Tensor) -> Tensor:
    # ½e^u (u < 0), 1 − ½e^{−u} (u ≥ 0); each branch on the side where its exponent is ≤ 0
    e = 0.5 * torch.exp(-u.abs())
    return torch.where(u < 0, e, 1 - e)


def _logistic(u: Tensor) -> Tensor:
    return torch.sigmoid(u)


def _hyperbolic_secant(u: Tensor) -> Tensor:
    return 2 / math.pi * torch.atan(torch.tanh(u / 2)) + 0.5


def _cauchy(u: Tensor) -> Tensor:
    return 0.5 + torch.atan(u) / math.pi


def _reciprocal(u: Tensor) -> Tensor:
    # GenDR's reciprocal: ½ + u / (2(1 + |u|))   (diffsort's uses 2 + |v|)
    return 0.5 + u / (2 * (1 + u.abs()))


def _gumbel_max(u: Tensor) -> Tensor:
    return torch.exp(-torch.exp(-u))


def _gumbel_min(u: Tensor) -> Tensor:
    return 1 - torch.exp(-torch.exp(u))


def _heaviside(u: Tensor) -> Tensor:
    # the hard rasteriser; "+ 0·u" keeps it in the graph so its (exactly zero) gradient can be measured
    return (u > 0).to(u.dtype) + 0 * u


DISTRIBUTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "heaviside": _heaviside,
    "uniform": _uniform,
    "cubic_hermite": _cubic_hermite,
    "wigner_semicircle": _wigner_semicircle,
    "gaussian": _gaussian,
    "laplace": _laplace,
    "logistic": _logistic,
    "hyperbolic_secant": _hyperbolic_secant,
    "cauchy": _cauchy,
    "reciprocal": _reciprocal,
    "gumbel_max": _gumbel_max,
    "gumbel_min": _gumbel_min,
}
"""name -> CDF ``F(u)``. ``'heaviside'`` is the hard rasteriser (zero gradient everywhere)."""


# ------------------------------------------------------------------------------------------------
# T-conorms ⊥(a, b); a = running value, b = new coverage, p = shape parameter
# ------------------------------------------------------------------------------------------------

_EPS = 1e-7


def _max(a: Tensor, b: Tensor, p: float | None) -> Tensor:
    return torch.maximum(a, b)


def _probabilistic(a: Tensor, b: Tensor, p: float | None) -> Tensor:
    return a + b - a * b


def _einstein(a: Tensor, b: Tensor, p: float | None) -> Tensor:
    return (a + b) / (1 + a * b)


def _hamacher(a: Tensor, b: Tensor, p: float | None) -> Tensor:
    p = 0.5 if p is None else p
    a_, b_ = 1 - a, 1 - b
    denom = (p + (1 - p) * (a_ + b_ - a_ * b_)).clamp_min(_EPS)
    return 1 - a_ * b_ / denom


def _yager(a: Tensor, b: Tensor, p: float | None) -> Tensor:
    p = 2.0 if p is None else p
    return (a.clamp_min(_EPS) ** p + b.clamp_min(_EPS) ** p).pow(1 / p).clamp(max=1)


def _aczel_alsina(a: Tensor, b: Tensor, p: float | None) -> Tensor:
    p = 2.0 if p is None else p
    # clamp a' = 1 − a away from 0 before the log (T-conorm pitfall)
    la = -torch.log((1 - a).clamp_min(_EPS))
    lb = -torch.log((1 - b).clamp_min(_EPS))
    return 1 - torch.exp(-(la.clamp_min(_EPS) ** p + lb.clamp_min(_EPS) ** p).pow(1 / p))


def _dombi(a: Tensor, b: Tensor, p: float | None) -> Tensor:
    p = 2.0 if p is None else p
    ra = a.clamp_min(_EPS) / (1 - a).clamp_min(_EPS)
    rb = b.clamp_min(_EPS) / (1 - b).clamp_min(_EPS)
    return 1 - 1 / (1 + (ra**p + rb**p).pow(1 / p))


def _schweizer_sklar(a: Tensor, b: Tensor, p: float | None) -> Tensor:
    p = -2.0 if p is None else p
    a_, b_ = (1 - a).clamp_min(_EPS), (1 - b).clamp_min(_EPS)
    return 1 - (a_**p + b_**p - 1).pow(1 / p)


def _frank(a: Tensor, b: Tensor, p: float | None) -> Tensor:
    p = 2.0 if p is None else p
    return 1 - torch.log1p((p ** (1 - a) - 1) * (p ** (1 - b) - 1) / (p - 1)) / math.log(p)


T_CONORMS: dict[str, Callable[[Tensor, Tensor, float | None], Tensor]] = {
    "max": _max,
    "probabilistic": _probabilistic,
    "einstein": _einstein,
    "hamacher": _hamacher,
    "yager": _yager,
    "aczel_alsina": _aczel_alsina,
    "dombi": _dombi,
    "schweizer_sklar": _schweizer_sklar,
    "frank": _frank,
}
"""name -> ``⊥(a, b, p)``; ``p`` is ``aggr_alpha_t_conorm_p`` (``None`` -> the conorm's default)."""

_P_RANGE = {"hamacher": (0.0, math.inf, True), "yager": (0.0, math.inf, False),
            "aczel_alsina": (0.0, math.inf, False), "dombi": (0.0, math.inf, False),
            "schweizer_sklar": (-math.inf, 0.0, False), "frank": (0.0, math.inf, False)}


# ------------------------------------------------------------------------------------------------
# geometry
# ------------------------------------------------------------------------------------------------


def pixel_centres(height: int, width: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
                  ) -> Tensor:
    r"""``(h·w, 2)`` pixel centres: column $j \to x = (2j + 1 - W) / W$, row $i \to y = -(2i + 1 - H) / H$."""
    xs = (2 * torch.arange(width, device=device, dtype=dtype) + 1 - width) / width
    ys = -(2 * torch.arange(height, device=device, dtype=dtype) + 1 - height) / height
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], -1).reshape(-1, 2)


def _edge_terms(tri: Tensor, p: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Edge ``k`` (``v_k -> v_{k+1}``) against points ``p``: ``t`` (clamped projection), ``q = w − t·e``, ``|q|²``
    and the edge function ``e × w`` (its sign says on which side of the edge the point lies), all ``(b, f, q)``."""
    v0, v1 = tri[:, :, k], tri[:, :, (k + 1) % 3]  # (b, f, 2)
    ex, ey = (v1[..., 0] - v0[..., 0]).unsqueeze(-1), (v1[..., 1] - v0[..., 1]).unsqueeze(-1)
    wx = p[:, 0] - v0[..., 0].unsqueeze(-1)
    wy = p[:, 1] - v0[..., 1].unsqueeze(-1)
    inv_ee = 1.0 / (ex * ex + ey * ey).clamp_min(1e-20)
    t = torch.addcmul(wx * ex, wy, ey).mul_(inv_ee).clamp_(0, 1)
    qx = torch.addcmul(wx, t, -ex)
    qy = torch.addcmul(wy, t, -ey)
    d2 = torch.addcmul(qx * qx, qy, qy)
    cross = (ex * wy).sub_(ey * wx)
    return t, qx, qy, d2, cross


class _BoundaryDistance2(torch.autograd.Function):
    r"""Squared distance to the triangle boundary, ``(b, f, 3, 2), (q, 2) -> (b, f, q)``, with a hand-written
    backward: for the nearest edge $(v_0, v_1)$ with projection $t$ and $q = p - v_0 - t (v_1 - v_0)$,
    $\partial d^2 / \partial v_0 = -2 q (1 - t)$ and $\partial d^2 / \partial v_1 = -2 q t$ (this also covers the
    clamped $t \in \{0, 1\}$ cases).
    Saves only the nearest edge's ``t, q`` and index (autograd through the 3-edge min keeps ~30 tensors)."""

    @staticmethod
    def forward(ctx, tri: Tensor, p: Tensor) -> Tensor:  # type: ignore[override]
        t, qx, qy, d2, c0 = _edge_terms(tri, p, 0)
        edge = torch.zeros(d2.shape, dtype=torch.long, device=d2.device)
        crosses = [c0]
        for k in (1, 2):
            tk, qxk, qyk, d2k, ck = _edge_terms(tri, p, k)
            better = d2k < d2
            d2 = torch.where(better, d2k, d2)
            t = torch.where(better, tk, t)
            qx = torch.where(better, qxk, qx)
            qy = torch.where(better, qyk, qy)
            edge.masked_fill_(better, k)
            crosses.append(ck)
        c0, c1, c2 = crosses
        inside = ((c0 > 0) & (c1 > 0) & (c2 > 0)) | ((c0 < 0) & (c1 < 0) & (c2 < 0))
        ctx.save_for_backward(t, qx, qy, edge)
        ctx.mark_non_differentiable(inside)
        return d2, inside

    @staticmethod
    def backward(ctx, g: Tensor, _g_inside: Tensor | None = None):  # type: ignore[override]
        t, qx, qy, edge = ctx.saved_tensors
        gt = g * t
        vals = torch.stack([g * qx, g * qy, gt * qx, gt * qy], 2)  # (b, f, 4, q)
        onehot = nn.functional.one_hot(edge, 3).to(g.dtype)  # (b, f, q, 3): which edge is the nearest
        sums = torch.matmul(vals, onehot).permute(2, 0, 1, 3)  # (4, b, f, 3)
        sx, sy, stx, sty = sums  # (b, f, 3): per edge Σ g·q and Σ g·q·t
        grad_v0 = -2 * torch.stack([sx - stx, sy - sty], -1)  # edge k's start vertex k
        grad_v1 = -2 * torch.stack([stx, sty], -1)  # edge k's end vertex k+1
        grad = grad_v0 + grad_v1.roll(1, dims=2)  # vertex j is the end of edge j−1
        return grad, None


def signed_distance(tri: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
    """Distance to the triangle *boundary* and inside mask.

    Args:
        tri: ``(b, f, 3, 2)`` triangles; p: ``(q, 2)`` points.
    Returns:
        ``d2 (b, f, q)`` squared distance to the nearest boundary point, ``inside (b, f, q)`` bool.
    """
    return _BoundaryDistance2.apply(tri, p)


class GenDR(nn.Module):
    r"""Generalized differentiable silhouette renderer (2-D).

    Args:
        image_size: ``H = W`` in pixels.
        dist_func: name in :data:`DISTRIBUTIONS` (``'heaviside'`` = hard rasteriser).
        dist_scale: $\tau$, in NDC units (the image spans ``[−1, 1]``).
        dist_squared: use $s d^2 / \tau$ instead of $s d / \tau$ (SoftRas).
        aggr_alpha_func: name in :data:`T_CONORMS`.
        aggr_alpha_t_conorm_p: the T-conorm's shape parameter ``p`` (``None`` -> its default).
        dist_eps: an outside pixel whose squared distance is $\ge$ ``dist_eps`` $\cdot \tau$ is culled (official
            default 1e4).
        min_coverage: fragments with coverage ``≤`` this are skipped before the T-conorm (official 1e−6).
    """

    def __init__(self, *, image_size: int = 64, dist_func: str = "uniform", dist_scale: float = 0.01,
                 dist_squared: bool = False, aggr_alpha_func: str = "probabilistic",
                 aggr_alpha_t_conorm_p: float | None = None, dist_eps: float = 1e4, min_coverage: float = 1e-6
                 ) -> None:
        super().__init__()
        if dist_func not in DISTRIBUTIONS:
            raise ValueError(f"unknown dist_func {dist_func!r}; allowed: {', '.join(DISTRIBUTIONS)}")
        if aggr_alpha_func not in T_CONORMS:
            raise ValueError(f"unknown aggr_alpha_func {aggr_alpha_func!r}; allowed: {', '.join(T_CONORMS)}")
        check_positive(dist_scale, "dist_scale")
        if not (isinstance(image_size, numbers.Integral) and image_size >= 1):
            raise ValueError(f"image_size must be an int >= 1, got {image_size!r}")
        if not dist_eps > 0:  # +inf (no culling) is allowed
            raise ValueError(f"dist_eps must be > 0 (inf: no culling), got {dist_eps}")
        if not 0 <= min_coverage < 1:
            raise ValueError(f"min_coverage must be in [0, 1), got {min_coverage}")
        p = aggr_alpha_t_conorm_p
        if p is not None and aggr_alpha_func in _P_RANGE:
            lo, hi, lo_ok = _P_RANGE[aggr_alpha_func]
            if not ((lo <= p if lo_ok else lo < p) and p < hi) or (aggr_alpha_func == "frank" and p == 1):
                raise ValueError(f"aggr_alpha_t_conorm_p={p} is outside the range of the {aggr_alpha_func} T-conorm")
        self.image_size = image_size
        self.dist_func = dist_func
        self.dist_scale = float(dist_scale)
        self.dist_squared = dist_squared
        self.aggr_alpha_func = aggr_alpha_func
        self.aggr_alpha_t_conorm_p = p
        self.dist_eps = float(dist_eps)
        self.min_coverage = float(min_coverage)
        self.register_buffer("pixels", pixel_centres(image_size, image_size), persistent=False)

    def coverage(self, face_vertices: Tensor, face_mask: Tensor | None = None) -> Tensor:
        r"""Per-triangle coverage $c_T(p) = F(s d / \tau)$: ``(b, f, 3, 2) -> (b, f, q)``."""
        if face_vertices.dim() != 4 or face_vertices.shape[-2:] != (3, 2):
            raise ValueError(f"face_vertices must be (batch, faces, 3, 2), got {tuple(face_vertices.shape)}")
        pix = self.pixels.to(face_vertices.dtype)
        d2, inside = signed_distance(face_vertices, pix)
        tau = self.dist_scale
        if self.dist_squared:
            u = torch.where(inside, d2, -d2) / tau
        else:
            d = (d2 + 1e-12).sqrt()  # the 1e-12 keeps the gradient finite on an edge
            u = torch.where(inside, d, -d) / tau
        c = DISTRIBUTIONS[self.dist_func](u)
        # culling as the official kernel: outside and d² ≥ dist_eps·τ, or coverage ≤ 1e−6
        keep = (inside | (d2 < self.dist_eps * tau)) & (c > self.min_coverage)
        if face_mask is not None:
            keep = keep & face_mask.unsqueeze(-1)
        return torch.where(keep, c, torch.zeros_like(c))

    def forward(self, face_vertices: Tensor, face_mask: Tensor | None = None) -> Tensor:
        """``face_vertices: (b, f, 3, 2)`` -> silhouettes ``(b, h, w)``; ``face_mask: (b, f)`` drops padded faces."""
        c = self.coverage(face_vertices, face_mask)
        fold = T_CONORMS[self.aggr_alpha_func]
        b = c.shape[0]
        if self.aggr_alpha_func == "probabilistic":
            alpha = 1 - torch.prod(1 - c, dim=1)  # = a + b − ab folded
        elif self.aggr_alpha_func == "max":
            alpha = c.max(dim=1).values
        else:
            alpha = torch.zeros_like(c[:, 0])
            for f in range(c.shape[1]):
                alpha = fold(alpha, c[:, f], self.aggr_alpha_t_conorm_p)
        return alpha.reshape(b, self.image_size, self.image_size)

    def extra_repr(self) -> str:
        return (f"image_size={self.image_size}, dist_func={self.dist_func!r}, dist_scale={self.dist_scale}, "
                f"aggr_alpha_func={self.aggr_alpha_func!r}")


def iou_loss(pred: Tensor, target: Tensor) -> Tensor:
    r"""Silhouette IoU loss $1 - \sum S \hat S / \sum (S + \hat S - S \hat S)$ per image, ``(b, h, w) -> (b,)``."""
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)}, {tuple(target.shape)}")
    dims = tuple(range(1, pred.dim()))
    inter = (pred * target).sum(dims)
    union = (pred + target - pred * target).sum(dims).clamp_min(1e-12)
    return 1 - inter / union


def posed(tris: Tensor, pose: Tensor) -> Tensor:
    r"""Rotate by ``pose[:, 0]`` and translate by ``pose[:, 1:]``: $v \mapsto R(\theta) v + t$,
    ``(b, f, 3, 2), (b, 3) -> (b, f, 3, 2)``."""
    c, s = torch.cos(pose[:, 0]), torch.sin(pose[:, 0])
    rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (b, 2, 2)
    return torch.einsum("bij,bfvj->bfvi", rot, tris) + pose[:, None, None, 1:]


def softras_equivalence_error(g: torch.Generator | int) -> float:
    r"""GenDR(logistic, squared distance, probabilistic sum) vs the SoftRas formula written out independently:
    $D_j(p) = \sigma(\delta_j d_j^2 / \sigma)$, $A = 1 - \prod_j (1 - D_j)$ (no culling in either); the max error.
    ``g``: an int seed or a ``torch.Generator`` for the random triangles."""
    g = as_generator(g, "g")
    sigma = 1e-2
    tri = (torch.rand(2, 4, 3, 2, generator=g, dtype=torch.float64) - 0.5) * 1.2
    r = GenDR(image_size=16, dist_func="logistic", dist_scale=sigma, dist_squared=True,
              aggr_alpha_func="probabilistic", min_coverage=0.0, dist_eps=math.inf)
    ours = r(tri)
    px = r.pixels.to(torch.float64)
    # independent reference: brute-force point-segment distances and a barycentric inside test
    a, b, c = tri[:, :, 0, None], tri[:, :, 1, None], tri[:, :, 2, None]  # (2, 4, 1, 2)
    p = px[None, None]

    def seg_d2(u: Tensor, w: Tensor) -> Tensor:
        e = w - u
        t = (((p - u) * e).sum(-1) / (e * e).sum(-1)).clamp(0, 1)
        return ((p - u - t[..., None] * e) ** 2).sum(-1)

    d2 = torch.minimum(torch.minimum(seg_d2(a, b), seg_d2(b, c)), seg_d2(c, a))
    v0, v1, v2 = c - a, b - a, p - a
    den = v0[..., 0] * v1[..., 1] - v1[..., 0] * v0[..., 1]
    l1 = (v2[..., 0] * v1[..., 1] - v1[..., 0] * v2[..., 1]) / den
    l2 = (v0[..., 0] * v2[..., 1] - v2[..., 0] * v0[..., 1]) / den
    inside = (l1 > 0) & (l2 > 0) & (l1 + l2 < 1)
    D = torch.sigmoid(torch.where(inside, 1.0, -1.0) * d2 / sigma)
    ref = (1 - torch.prod(1 - D, dim=1)).reshape(2, 16, 16)
    return float((ours - ref).abs().max())
