r"""DynamicViT: dynamic token sparsification for plain vision transformers.

Rao et al., "DynamicViT: Efficient Vision Transformers with Dynamic Token Sparsification",
NeurIPS 2021 (arXiv 2106.02034). Conventions follow the official code (raoyongming/DynamicViT).

Before a few transformer blocks (``pruning_loc``, default before blocks 3, 6, 9) a small prediction
module scores every surviving patch token from its own feature and a mask-weighted mean of all
surviving tokens (``PredictorLG``, paper Eq. 4-6). Channel 0 of its log-softmax output $\pi$ is KEEP,
channel 1 is DROP.

Training (fixed shapes, differentiable; straight-through, $\hat D_0 = 1$):

$$\hat D_s = \text{GumbelSoftmax}_{hard}(\pi_s, \tau = 1)_{:,0} \odot \hat D_{s-1}, \qquad
P = [1_{cls}; \hat D_s]$$

($P$ is the policy used by the next blocks) and attention masking (paper Eq. 9-10)

$$A_{ij} = \frac{\exp(a_{ij} - m_i) G_{ij}}{\sum_k \exp(a_{ik} - m_i) G_{ik}}, \qquad G_{ij} = P_j \ (i \ne j),
\quad G_{ii} = 1,$$

so kept tokens and cls never read dropped tokens.

Inference (real pruning): keep the $K_s = \lfloor N \rho_s \rfloor$ highest keep-scores among the
surviving tokens ($N$ = the ORIGINAL number of patches) and gather them; later blocks run on the
shorter sequence.

Objective (paper Eq. 11-15, weights of the DeiT recipe):

$$\mathcal L = \mathcal L_{cls} + 0.5\, \mathrm{KL}(p_{teacher} \,\|\, p_{student}) + 0.5\, \mathcal L_{distill}
+ 2\, \mathcal L_{ratio}, \qquad \mathcal L_{ratio} = \frac1S \sum_s \frac1B \sum_b \Big(\rho_s - \frac1N
\sum_i \hat D_{s,b,i}\Big)^2, \quad \rho_s = \rho^s \text{ (cumulative)}.$$

Shape legend (einops letters): b batch, n tokens incl. cls, m spatial tokens (n - 1), c channels,
h heads, d head dim (c / h), k kept tokens, s stages, t three (q, k, v).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ._inputs import as_generator, check_images, check_positive

__all__ = [
    "Attention",
    "Block",
    "ConvStem",
    "DistillDiffPruningLoss",
    "PredictorLG",
    "VisionTransformerDiffPruning",
    "VisionTransformerTeacher",
    "batch_index_select",
    "deit_base_dynamic",
    "deit_base_teacher",
    "deit_small_dynamic",
    "deit_small_teacher",
    "gumbel_softmax_hard",
    "make_token_ratio",
    "masked_softmax",
]


# ----------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------


def make_token_ratio(rho: float, stages: int = 3) -> tuple[float, ...]:
    r"""Cumulative keep ratios $(\rho, \rho^2, \dots, \rho^S)$ (``S = stages``) w.r.t. the original token count.

    ``make_token_ratio(0.7)`` -> ``(0.7, 0.49, 0.343)`` (up to float rounding).
    """
    if not (0.0 < float(rho) <= 1.0):
        raise ValueError(f"rho must be in (0, 1], got {rho}")
    if int(stages) < 1:
        raise ValueError(f"stages must be >= 1, got {stages}")
    return tuple(float(rho) ** (s + 1) for s in range(int(stages)))


def kept_counts(num_patches: int, token_ratio: Sequence[float]) -> tuple[int, ...]:
    r"""Tokens kept after each stage at inference: $K_s = \lfloor N \rho_s \rfloor$ (``token_ratio[s]``) with $N$
    the ORIGINAL count.

    N = 196, rho = 0.7 -> (137, 96, 67); N = 64, rho = 0.7 -> (44, 31, 21).
    """
    return tuple(int(num_patches * r) for r in token_ratio)


def batch_index_select(x: Tensor, idx: Tensor) -> Tensor:
    """Per-sample gather along the token axis.

    Args:
        x: (b, n, c) or (b, n).
        idx: (b, k) long indices into ``n``.
    Returns:
        (b, k, c) or (b, k): ``out[b, j] = x[b, idx[b, j]]``.
    """
    if idx.dim() != 2 or idx.shape[0] != x.shape[0]:
        raise ValueError(f"idx must be (b, k) with b = {x.shape[0]}, got shape {tuple(idx.shape)}")
    if x.dim() == 2:
        return x.gather(1, idx)
    if x.dim() == 3:
        return x.gather(1, idx.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
    raise ValueError(f"x must be (b, n) or (b, n, c), got shape {tuple(x.shape)}")


def gumbel_softmax_hard(logits: Tensor, tau: float = 1.0, generator: torch.Generator | int | None = None) -> Tensor:
    r"""Hard Gumbel-softmax with straight-through gradients (same maths as ``F.gumbel_softmax(hard=True)``).

    $y = \mathrm{onehot}(\arg\max(\ell + g)) - \mathrm{sg}(y_{soft}) + y_{soft}$,
    $y_{soft} = \mathrm{softmax}((\ell + g) / \tau)$, $g = -\log e$, $e \sim \mathrm{Exp}(1)$ ($\ell$ = ``logits``).
    Takes an optional generator so paired runs share the noise.

    Args:
        logits: (..., classes) unnormalised log-probabilities.
        tau: the temperature, > 0.
        generator: an int seed or a ``torch.Generator`` for the noise (None: torch's global generator).
    Returns:
        (..., classes) one-hot in the forward pass, gradient of ``y_soft`` in the backward pass.
    """
    check_positive(tau, "tau")
    generator = None if generator is None else as_generator(generator)
    e = torch.empty_like(logits).exponential_(generator=generator)
    g = -e.log()
    y_soft = ((logits + g) / tau).softmax(dim=-1)
    index = y_soft.argmax(dim=-1, keepdim=True)
    y_hard = torch.zeros_like(logits).scatter_(-1, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


def masked_softmax(attn_logits: Tensor, policy: Tensor, eps: float = 1e-6) -> Tensor:
    r"""Attention-masking softmax (paper Eq. 9-10, official ``softmax_with_policy``).

    $G_{ij} = P_j$ for $i \ne j$ and $G_{ii} = 1$ (a token always sees itself; queries are never
    masked). With $E_{ij} = \exp(a_{ij} - m_i) G_{ij}$, $m_i = \max_k a_{ik}$ over ALL keys, the output is the
    official guarded form $(E_{ij} + \epsilon / n) / (\sum_k E_{ik} + \epsilon)$, computed in (at least) float32.

    The max runs over all keys, as in the official code, on purpose: it bounds the gradient with respect to a
    dropped key's $G_{ij}$ (the path by which the task losses reach the predictors through the straight-through
    decisions) by $\exp(a_{ij} - m_i) / (\sum_k E_{ik} + \epsilon) \le 1 / \epsilon$. A max over the visible keys
    only (this module before v2's fix) gives the same forward up to the eps term but an unbounded gradient
    $\exp(a_{ij} - m^{vis}_i)$; measured on the task model, predictor gradient norms of 1e9-1e11 instead of
    1e3-1e4, whose spikes froze Adam's predictor updates (README, History).

    Args:
        attn_logits: (b, h, n, n) logits $a = Q K^\top \cdot$ ``scale``.
        policy: (b, n, 1) or (b, n), 1 = keep, 0 = drop (cls at index 0 should be 1).
        eps: the official guard, 1e-6.
    Returns:
        (b, h, n, n) attention weights in the dtype of ``attn_logits``.
    """
    if attn_logits.dim() != 4 or attn_logits.shape[-1] != attn_logits.shape[-2]:
        raise ValueError(f"attn_logits must be (b, h, n, n), got shape {tuple(attn_logits.shape)}")
    b, _, n, _ = attn_logits.shape
    if policy.dim() == 3 and policy.shape[-1] == 1:
        policy = policy[..., 0]
    if policy.shape != (b, n):
        raise ValueError(f"policy must be (b, n) or (b, n, 1) = ({b}, {n}[, 1]), got {tuple(policy.shape)}")
    dtype = torch.promote_types(attn_logits.dtype, torch.float32)  # at least float32, as the official code
    eye = torch.eye(n, dtype=dtype, device=attn_logits.device)
    p = policy.to(dtype)[:, None, None, :]  # b 1 1 n
    g = p + (1.0 - p) * eye  # b 1 n n: G_ij = P_j off the diagonal, 1 on it
    a = attn_logits.to(dtype)
    m = a.amax(dim=-1, keepdim=True)  # the official max over all keys (see the docstring)
    e = (a - m).exp() * g
    out = (e + eps / n) / (e.sum(dim=-1, keepdim=True) + eps)
    return out.to(attn_logits.dtype)


# ----------------------------------------------------------------------------------------------
# backbone (plain DeiT / ViT, timm parameter names so timm state dicts load directly)
# ----------------------------------------------------------------------------------------------


class DropPath(nn.Module):
    """Stochastic depth per sample (identity at rate 0 or in eval mode)."""

    def __init__(self, *, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x: Tensor) -> Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep


class PatchEmbed(nn.Module):
    """Conv patch embedding, kernel = stride = patch: (b, in_chans, H, W) -> (b, N, c)."""

    def __init__(self, *, img_size: int, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        if img_size % patch_size != 0:
            raise ValueError(f"img_size {img_size} must be divisible by patch_size {patch_size}")
        self.img_size, self.patch_size, self.in_chans = img_size, patch_size, in_chans
        self.grid_size = img_size // patch_size
        self.num_patches = self.grid_size**2
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, in_chans=self.in_chans, img_size=self.img_size, dtype=self.proj.weight.dtype)
        return rearrange(self.proj(x), "b c gh gw -> b (gh gw) c")


class ConvStem(nn.Module):
    r"""Convolutional stem (LV-ViT style; Revision 2 of our spec for the offline task) in place of the linear patch
    embedding: $k = \log_2 p$ times [conv 3x3, stride 2 -> BatchNorm -> GELU], widths
    $C / 2^{k-1}, \dots, C / 2, C$ (C = 64, p = 8: 1 -> 16 -> 32 -> 64), so each token still covers a p x p patch
    and $N = (H / p)^2$ is unchanged.

    (b, in_chans, H, W) -> (b, N, c). Same attributes as :class:`PatchEmbed` (``img_size``, ``patch_size``,
    ``in_chans``, ``grid_size``, ``num_patches``).
    """

    def __init__(self, *, img_size: int, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        if img_size % patch_size != 0:
            raise ValueError(f"img_size {img_size} must be divisible by patch_size {patch_size}")
        k = int(patch_size).bit_length() - 1
        if patch_size < 2 or 2**k != patch_size:
            raise ValueError(f"a conv stem needs patch_size a power of 2 (>= 2), got {patch_size}")
        if embed_dim % 2 ** (k - 1) != 0:
            raise ValueError(f"embed_dim {embed_dim} must be divisible by {2 ** (k - 1)} for a conv stem of {k} layers")
        self.img_size, self.patch_size, self.in_chans = img_size, patch_size, in_chans
        self.grid_size = img_size // patch_size
        self.num_patches = self.grid_size**2
        widths = [in_chans] + [embed_dim // 2 ** (k - 1 - i) for i in range(k)]
        layers: list[nn.Module] = []
        for c_in, c_out in pairwise(widths):
            layers += [nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.GELU()]
        self.convs = nn.Sequential(*layers)

    @property
    def widths(self) -> tuple[int, ...]:
        """Channels from the input to the last conv: (in_chans, C / 2^(k-1), ..., C)."""
        convs = [m for m in self.convs if isinstance(m, nn.Conv2d)]
        return (convs[0].in_channels, *(c.out_channels for c in convs))

    def forward(self, x: Tensor) -> Tensor:
        check_images(x, in_chans=self.in_chans, img_size=self.img_size, dtype=self.convs[0].weight.dtype)
        return rearrange(self.convs(x), "b c gh gw -> b (gh gw) c")


STEMS: dict[str, type[nn.Module]] = {"patch": PatchEmbed, "conv": ConvStem}


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2 with hidden = mlp_ratio * dim."""

    def __init__(self, *, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    """Multi-head self-attention with optional attention masking (``policy``).

    ``policy=None``: ordinary softmax. ``policy`` (b, n, 1): ``masked_softmax`` (training-time pruning).
    """

    def __init__(self, *, dim: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"dim {dim} must be divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, policy: Tensor | None = None) -> Tensor:
        """x: (b, n, c); policy: (b, n, 1) or None. Returns (b, n, c)."""
        q, k, v = rearrange(self.qkv(x), "b n (t h d) -> t b h n d", t=3, h=self.num_heads)
        if policy is None:
            # softmax(q k^T * scale) v, fused (same maths; ~1e-7 rounding differences from the unfused form)
            out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        else:
            attn = (q @ k.transpose(-2, -1)) * self.scale  # b h n n
            out = masked_softmax(attn, policy) @ v
        out = rearrange(out, "b h n d -> b n (h d)")
        return self.proj(out)


class Block(nn.Module):
    r"""Pre-norm transformer block: $x \leftarrow x + \mathrm{Attn}(\mathrm{LN}(x))$,
    $x \leftarrow x + \mathrm{MLP}(\mathrm{LN}(x))$ (LN eps 1e-6)."""

    def __init__(
        self,
        *,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim=dim, num_heads=num_heads, qkv_bias=qkv_bias)
        self.drop_path = DropPath(drop_prob=drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim=dim, hidden=int(dim * mlp_ratio))

    def forward(self, x: Tensor, policy: Tensor | None = None) -> Tensor:
        """x: (b, n, c); policy: (b, n, 1) or None. Returns (b, n, c)."""
        x = x + self.drop_path(self.attn(self.norm1(x), policy=policy))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PredictorLG(nn.Module):
    r"""Prediction module with local and global features (official ``PredictorLG``, paper Eq. 4-6).

    $z = \mathrm{GELU}(\mathrm{Linear}(\mathrm{LN}(x)))$; $z^{local} = z_{:, :c/2}$;
    $z^{global} = \sum_i \hat D_i z_{i, c/2:} / \sum_i \hat D_i$ (mask-weighted mean over surviving tokens);
    $\pi = \mathrm{LogSoftmax}(\mathrm{MLP}([z^{local}, z^{global}]))$ with MLP $c \to c/2 \to c/4 \to 2$
    (GELUs between).
    ``pi[..., 0]`` = log p(keep), ``pi[..., 1]`` = log p(drop).
    """

    def __init__(self, *, embed_dim: int) -> None:
        super().__init__()
        if embed_dim % 4 != 0:
            raise ValueError(f"embed_dim must be divisible by 4, got {embed_dim}")
        c = embed_dim
        self.in_conv = nn.Sequential(nn.LayerNorm(c), nn.Linear(c, c), nn.GELU())
        self.out_conv = nn.Sequential(
            nn.Linear(c, c // 2),
            nn.GELU(),
            nn.Linear(c // 2, c // 4),
            nn.GELU(),
            nn.Linear(c // 4, 2),
            nn.LogSoftmax(dim=-1),
        )

    def forward(self, x: Tensor, prev_decision: Tensor) -> Tensor:
        """x: (b, m, c) spatial tokens; prev_decision: (b, m, 1) in {0, 1}. Returns (b, m, 2) log-probs."""
        if prev_decision.dim() == 2:
            prev_decision = prev_decision.unsqueeze(-1)
        if prev_decision.shape != (*x.shape[:2], 1):
            raise ValueError(
                f"prev_decision must be (b, m, 1) = {(*x.shape[:2], 1)}, got {tuple(prev_decision.shape)}"
            )
        z = self.in_conv(x)
        half = z.shape[-1] // 2
        z_local, z_rest = z[..., :half], z[..., half:]
        # z_global = sum_i D_i z_i / sum_i D_i  (divide by the number of SURVIVING tokens, not by m);
        # the clamp only matters when a sample has no survivor left (official code: 0/0 = NaN)
        denom = prev_decision.sum(dim=1, keepdim=True).clamp(min=1e-6)
        z_global = (z_rest * prev_decision).sum(dim=1, keepdim=True) / denom
        h = torch.cat([z_local, z_global.expand(-1, z.shape[1], -1)], dim=-1)
        return self.out_conv(h)


def _check_pruning(depth: int, pruning_loc: Sequence[int], token_ratio: Sequence[float]) -> None:
    locs = [int(i) for i in pruning_loc]
    if len(locs) == 0:
        raise ValueError("pruning_loc must name at least one block")
    if any(not 0 <= i < depth for i in locs) or any(b <= a for a, b in pairwise(locs)):
        raise ValueError(f"pruning_loc must be strictly increasing block indices in [0, {depth}), got {locs}")
    ratios = [float(r) for r in token_ratio]
    if len(ratios) != len(locs):
        raise ValueError(f"token_ratio needs one value per pruning stage ({len(locs)}), got {len(ratios)}")
    if any(not 0.0 < r <= 1.0 for r in ratios):
        raise ValueError(f"token_ratio values must be in (0, 1], got {tuple(ratios)}")
    if any(b > a for a, b in pairwise(ratios)):
        raise ValueError(f"token_ratio must be non-increasing (cumulative keep ratios), got {tuple(ratios)}")


class _ViTBase(nn.Module):
    """Shared DeiT backbone: patch embed, cls token, position embedding, blocks, final LN, head."""

    def __init__(
        self,
        *,
        img_size: int,
        patch_size: int,
        in_chans: int,
        num_classes: int,
        embed_dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float,
        qkv_bias: bool,
        drop_path_rate: float,
        stem: str = "patch",
    ) -> None:
        super().__init__()
        for name, v in (("img_size", img_size), ("patch_size", patch_size), ("in_chans", in_chans),
                        ("num_classes", num_classes), ("embed_dim", embed_dim), ("depth", depth),
                        ("num_heads", num_heads)):
            if int(v) < 1:
                raise ValueError(f"{name} must be a positive integer, got {v}")
        self.num_classes = num_classes
        self.num_features = self.embed_dim = embed_dim
        self.depth = depth
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {', '.join(map(repr, STEMS))}, got {stem!r}")
        self.stem = stem
        self.patch_embed = STEMS[stem](
            img_size=img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim
        )
        self.num_patches = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.num_patches + 1, embed_dim))
        dpr = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(
            Block(dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_path=p)
            for p in dpr
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _embed(self, x: Tensor) -> Tensor:
        """(b, in_chans, H, W) -> (b, 1 + N, c) with cls token and position embedding."""
        x = self.patch_embed(x)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        return torch.cat([cls, x], dim=1) + self.pos_embed


class VisionTransformerTeacher(_ViTBase):
    """Dense DeiT/ViT; ``forward`` returns ``(logits (b, classes), token_features (b, N, c))``.

    ``token_features`` are the spatial tokens after the final LayerNorm (used for token distillation).
    """

    def __init__(
        self,
        *,
        img_size: int = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.0,
        stem: str = "patch",
    ) -> None:
        super().__init__(img_size=img_size, patch_size=patch_size, in_chans=in_chans,
                         num_classes=num_classes, embed_dim=embed_dim, depth=depth, num_heads=num_heads,
                         mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_path_rate=drop_path_rate, stem=stem)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self._embed(x)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        return self.head(x[:, 0]), x[:, 1:]


class VisionTransformerDiffPruning(_ViTBase):
    """DeiT/ViT with DynamicViT token sparsification.

    Args:
        img_size, patch_size, in_chans, num_classes, embed_dim, depth, num_heads, mlp_ratio, qkv_bias,
            drop_path_rate: the DeiT backbone (DeiT-S: embed_dim 384, num_heads 6; DeiT-B: 768, 12).
        pruning_loc: 0-based block indices BEFORE which a prediction module runs (DeiT: 3, 6, 9).
        token_ratio: cumulative keep ratios w.r.t. the original N, e.g. (rho, rho^2, rho^3).
        distill: training forward also returns token features and the final decision.
        stem: ``"patch"`` (the DeiT linear patch embedding, default) or ``"conv"`` (:class:`ConvStem`, LV-ViT style).

    Forward:
        ``.train()``: ``(logits, token_features (b, N, c), final_decision (b, N, 1), stage_decisions)``
        if ``distill`` else ``(logits, stage_decisions)``; ``stage_decisions[s]`` is (b, N), cumulative.
        ``.eval()``: ``logits``; with ``return_keep_indices=True`` also a list of (b, K_s) LongTensors of
        kept ORIGINAL patch indices in 0..N-1 (composed across stages).

    ``token_scores`` (b, N), optional: a non-learned selection that replaces the predictors (used by
    static baselines): at every stage the ``K_s`` surviving tokens with the highest score are kept
    (as a mask in training, as a gather at inference).
    """

    def __init__(
        self,
        *,
        img_size: int = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.0,
        pruning_loc: Sequence[int] = (3, 6, 9),
        token_ratio: Sequence[float] = (0.7, 0.49, 0.343),
        distill: bool = True,
        stem: str = "patch",
    ) -> None:
        _check_pruning(int(depth), pruning_loc, token_ratio)
        super().__init__(img_size=img_size, patch_size=patch_size, in_chans=in_chans,
                         num_classes=num_classes, embed_dim=embed_dim, depth=depth, num_heads=num_heads,
                         mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_path_rate=drop_path_rate, stem=stem)
        self.pruning_loc = tuple(int(i) for i in pruning_loc)
        self.distill = bool(distill)
        self.score_predictor = nn.ModuleList(PredictorLG(embed_dim=embed_dim) for _ in self.pruning_loc)
        self.set_token_ratio(token_ratio)
        for m in self.score_predictor.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def set_token_ratio(self, token_ratio: Sequence[float]) -> None:
        """Change the cumulative keep ratios (e.g. to evaluate a trained model at another rho)."""
        _check_pruning(self.depth, self.pruning_loc, token_ratio)
        counts = kept_counts(self.num_patches, token_ratio)
        if min(counts) < 1:
            raise ValueError(f"token_ratio {tuple(token_ratio)} keeps no token of N = {self.num_patches}")
        self.token_ratio = tuple(float(r) for r in token_ratio)
        self.keep_counts = counts

    def forward(
        self,
        x: Tensor,
        *,
        return_keep_indices: bool = False,
        token_scores: Tensor | None = None,
        generator: torch.Generator | int | None = None,
    ):
        """``x``: (b, in_chans, img_size, img_size) in the model's dtype; ``generator`` (training only): an int seed
        or a ``torch.Generator`` for the Gumbel noise of every stage."""
        x = self._embed(x)  # b n c, n = N + 1 (checks the images first)
        b = x.shape[0]
        generator = None if generator is None else as_generator(generator)
        n_sp = self.num_patches
        if token_scores is not None and token_scores.shape != (b, n_sp):
            raise ValueError(f"token_scores must be (b, N) = ({b}, {n_sp}), got {tuple(token_scores.shape)}")
        if self.training:
            if return_keep_indices:
                raise ValueError("return_keep_indices needs eval mode (training returns stage decisions)")
            return self._forward_train(x, token_scores, generator)
        return self._forward_eval(x, token_scores, return_keep_indices)

    def _forward_train(self, x: Tensor, token_scores: Tensor | None, generator: torch.Generator | None):
        b, n, _ = x.shape
        prev = x.new_ones(b, n - 1, 1)  # D_0 = 1
        # before the first stage P = 1: the official code calls the masked softmax with an all-ones policy,
        # which equals the plain softmax up to the eps term; the plain softmax is used here (cheaper)
        policy: Tensor | None = None
        decisions: list[Tensor] = []
        stage = 0
        for i, blk in enumerate(self.blocks):
            if stage < len(self.pruning_loc) and i == self.pruning_loc[stage]:
                if token_scores is None:
                    log_pi = self.score_predictor[stage](x[:, 1:], prev)  # b m 2
                    # D_s = GumbelSoftmax_hard(pi_s)[..., keep] * D_{s-1}  (no revival of dropped tokens)
                    keep = gumbel_softmax_hard(log_pi, tau=1.0, generator=generator)[..., 0:1] * prev
                else:
                    # static selection: the K_s best-scored tokens (nested because scores are fixed)
                    top = token_scores.topk(self.keep_counts[stage], dim=1).indices
                    keep = torch.zeros_like(token_scores).scatter_(1, top, 1.0).unsqueeze(-1) * prev
                decisions.append(keep.reshape(b, n - 1))
                policy = torch.cat([x.new_ones(b, 1, 1), keep], dim=1)
                prev = keep
                stage += 1
            x = blk(x, policy=policy)
        x = self.norm(x)
        logits = self.head(x[:, 0])
        if self.distill:
            return logits, x[:, 1:], prev.detach(), decisions
        return logits, decisions

    def _forward_eval(self, x: Tensor, token_scores: Tensor | None, return_keep_indices: bool):
        b = x.shape[0]
        orig = torch.arange(self.num_patches, device=x.device).expand(b, -1)  # b m: original patch index
        prev = x.new_ones(b, self.num_patches, 1)
        kept: list[Tensor] = []
        stage = 0
        for i, blk in enumerate(self.blocks):
            if stage < len(self.pruning_loc) and i == self.pruning_loc[stage]:
                if token_scores is None:
                    score = self.score_predictor[stage](x[:, 1:], prev)[..., 0]  # b m: log p(keep)
                else:
                    score = batch_index_select(token_scores, orig)
                # keep the K_s = int(N * ratio_s) best tokens (N original), descending score; cls first
                idx = score.topk(self.keep_counts[stage], dim=1, sorted=True).indices  # b k (current list)
                x = torch.cat([x[:, :1], batch_index_select(x[:, 1:], idx)], dim=1)
                prev = prev.new_ones(b, idx.shape[1], 1)
                orig = batch_index_select(orig, idx)  # orig_s = orig_{s-1}.gather(idx_s)
                kept.append(orig)
                stage += 1
            x = blk(x)
        x = self.norm(x)
        logits = self.head(x[:, 0])
        if return_keep_indices:
            return logits, kept
        return logits


# ----------------------------------------------------------------------------------------------
# losses
# ----------------------------------------------------------------------------------------------


class DistillDiffPruningLoss(nn.Module):
    r"""DynamicViT objective (official ``DistillDiffPruningLoss``, paper Eq. 11-15).

    $\mathcal L = w_{clf} \mathcal L_{cls} + w_{ratio} \mathcal L_{ratio} + w_{distill} (\mathcal L_{KL} +
    \mathcal L_{distill})$, with $\mathcal L_{ratio} = \frac1S \sum_s \frac1B \sum_b (\rho_s - \frac1N \sum_i
    \hat D_{s,b,i})^2$ ($\rho_s$ = ``keep_ratio[s]``), $\mathcal L_{KL} = \mathrm{KL}(p_{teacher} \| p_{student})$
    (batchmean), and $\mathcal L_{distill}$ the MSE between student and teacher final-LN spatial tokens over
    tokens with final decision > 0.5 (0 if none is kept).

    The teacher is frozen and always run in eval mode under ``no_grad`` on the same inputs.
    ``forward(inputs, outputs, labels)`` -> ``(loss, parts)`` with parts cls / ratio / kl / distill / total.
    """

    def __init__(
        self,
        teacher: nn.Module,
        base_criterion: nn.Module,
        ratio_weight: float = 2.0,
        distill_weight: float = 0.5,
        keep_ratio: Sequence[float] = (0.7, 0.49, 0.343),
        clf_weight: float = 1.0,
        mse_token: bool = True,
    ) -> None:
        super().__init__()
        ratios = tuple(float(r) for r in keep_ratio)
        if not ratios or any(not 0.0 < r <= 1.0 for r in ratios):
            raise ValueError(f"keep_ratio values must be in (0, 1], got {ratios}")
        self.teacher = teacher
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.teacher.eval()
        self.base_criterion = base_criterion
        self.ratio_weight, self.distill_weight, self.clf_weight = ratio_weight, distill_weight, clf_weight
        self.keep_ratio = ratios
        self.mse_token = mse_token

    def train(self, mode: bool = True) -> DistillDiffPruningLoss:
        super().train(mode)
        self.teacher.eval()  # the teacher is never put in training mode
        return self

    @staticmethod
    def ratio_loss(stage_decisions: Sequence[Tensor], keep_ratio: Sequence[float]) -> Tensor:
        r"""$\frac1S \sum_s \frac1B \sum_b (\rho_s - \frac1N \sum_i \hat D_{s,b,i})^2$; decisions (b, N) or
        (b, N, 1)."""
        if len(stage_decisions) != len(keep_ratio):
            raise ValueError(f"got {len(stage_decisions)} stage decisions for {len(keep_ratio)} keep ratios")
        total = stage_decisions[0].new_zeros(())
        for d, r in zip(stage_decisions, keep_ratio):
            frac = d.reshape(d.shape[0], -1).mean(dim=1)  # b
            total = total + ((frac - r) ** 2).mean()
        return total / len(stage_decisions)

    @staticmethod
    def kl_loss(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        r"""$\mathrm{KL}(p_t \| p_s) = \frac1B \sum_b \sum_c p_t (\log p_t - \log p_s)$ from logits (b, classes)."""
        return F.kl_div(F.log_softmax(student_logits, dim=-1), F.log_softmax(teacher_logits, dim=-1),
                        reduction="batchmean", log_target=True)

    def token_loss(self, student_tokens: Tensor, teacher_tokens: Tensor, final_decision: Tensor) -> Tensor:
        """Token distillation on kept tokens (b, N, c) x2, decision (b, N, 1); 0 if no token is kept."""
        b, m, c = student_tokens.shape
        if final_decision.numel() != b * m:
            raise ValueError(f"final_decision must have b*N = {b * m} entries, got {final_decision.numel()}")
        keep = final_decision.reshape(b * m) > 0.5
        if not bool(keep.any()):
            return student_tokens.new_zeros(())
        s = student_tokens.reshape(b * m, c)[keep]
        t = teacher_tokens.reshape(b * m, c)[keep]
        if self.mse_token:
            return ((s - t) ** 2).mean()
        return self.kl_loss(s, t)

    def forward(self, inputs: Tensor, outputs: Sequence, labels: Tensor) -> tuple[Tensor, dict[str, float]]:
        if len(outputs) != 4:
            raise ValueError(
                "outputs must be (logits, token_features, final_decision, stage_decisions) "
                f"from a distill=True model in training mode, got {len(outputs)} items"
            )
        logits, tokens, final_decision, decisions = outputs
        cls_loss = self.base_criterion(logits, labels)
        ratio = self.ratio_loss(decisions, self.keep_ratio) if self.ratio_weight else logits.new_zeros(())
        with torch.no_grad():
            self.teacher.eval()
            t_logits, t_tokens = self.teacher(inputs)
        kl = self.kl_loss(logits, t_logits)
        distill = self.token_loss(tokens, t_tokens, final_decision)
        loss = (self.clf_weight * cls_loss + self.ratio_weight * ratio
                + self.distill_weight * kl + self.distill_weight * distill)
        parts = {name: float(v.detach()) for name, v in
                 (("cls", cls_loss), ("ratio", ratio), ("kl", kl), ("distill", distill), ("total", loss))}
        return loss, parts


# ----------------------------------------------------------------------------------------------
# named variants
# ----------------------------------------------------------------------------------------------

_DEIT_S = dict(embed_dim=384, depth=12, num_heads=6, mlp_ratio=4.0, qkv_bias=True)
_DEIT_B = dict(embed_dim=768, depth=12, num_heads=12, mlp_ratio=4.0, qkv_bias=True)


def deit_small_dynamic(rho: float = 0.7, **kwargs) -> VisionTransformerDiffPruning:
    """DynamicViT-DeiT-S: 224², patch 16, C 384, 12 blocks, 6 heads, pruning before blocks 3, 6, 9."""
    cfg = {**_DEIT_S, "pruning_loc": (3, 6, 9), "token_ratio": make_token_ratio(rho, 3), **kwargs}
    return VisionTransformerDiffPruning(**cfg)


def deit_base_dynamic(rho: float = 0.7, **kwargs) -> VisionTransformerDiffPruning:
    """DynamicViT-DeiT-B: 224², patch 16, C 768, 12 blocks, 12 heads, pruning before blocks 3, 6, 9."""
    cfg = {**_DEIT_B, "pruning_loc": (3, 6, 9), "token_ratio": make_token_ratio(rho, 3), **kwargs}
    return VisionTransformerDiffPruning(**cfg)


def deit_small_teacher(**kwargs) -> VisionTransformerTeacher:
    """Dense DeiT-S (the teacher / baseline of DynamicViT-DeiT-S)."""
    return VisionTransformerTeacher(**{**_DEIT_S, **kwargs})


def deit_base_teacher(**kwargs) -> VisionTransformerTeacher:
    """Dense DeiT-B."""
    return VisionTransformerTeacher(**{**_DEIT_B, **kwargs})
