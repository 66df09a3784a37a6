r"""Mega layers: multi-dimensional damped EMA, moving-average gated attention, normalised FFN, encoder.

Ma et al., "Mega: Moving Average Equipped Gated Attention", ICLR 2023 (arXiv 2209.10655).
Conventions follow the official fairseq code (facebookresearch/mega, ``main`` branch); tensors here are
batch-first (b, n, d) (the official code is time-first).

One Mega sub-layer (paper §3.2; $X$ is the (optionally pre-normed) input, $X_{res}$ the raw input):

- $X' = \mathrm{SiLU}(\mathrm{EMA}(X) + \omega \odot X)$ (the EMA of §3.1; $X' = X$ when ``ndim = 0``)
- $V = \mathrm{SiLU}(X W_v + b_v)$, $(n, v)$ — from $X$, not $X'$
- $[U, Z_R, H_x] = X' W_{mx} + b_{mx}$, widths $d$, $z + v$, $d$
- $\varphi_u = \sigma(U)$, $[Z, \gamma] = \mathrm{SiLU}(Z_R)$: $Z$ $(n, z)$, reset gate $\gamma$ $(n, v)$
- $Q = \kappa_q \odot Z + \mu_q$, $K = \kappa_k \odot Z + \mu_k$
- $O = f(Q K^\top / \tau + b_{rel}) V$; softmax: $\tau = \sqrt{z}$; laplace / relu²: $\tau$ = number of visible keys
- $\hat H = \mathrm{SiLU}(H_x + (\gamma \odot O) W_h + b_h)$
- $Y = \varphi_u \odot \hat H + (1 - \varphi_u) \odot X_{res}$ (then $\mathrm{Norm}(Y)$ when post-norm)

Mega-chunk (§3.5) splits $Q$, $K$, $V$ into chunks of length $c$ and attends inside each chunk only.

Width names (one per concept, also in ``experiment.Config``): ``dim`` = $d$, ``zdim`` = $z$, ``hdim`` = $v$,
``ndim`` = $h$, ``ffn_dim`` = $d_{FFN}$, ``depth`` = number of blocks. The official spellings (``embed_dim``,
``embedding_dim``, ``z_dim``, ``hidden_dim``, ``n_dim``, ``ffn_hidden_dim``, ``num_layers``) are still accepted
as keywords, with a ``DeprecationWarning``.

Shape legend (einops letters): b batch, n sequence length, d model dim, h EMA dim (ndim), z shared
q/k dim, v value dim, k number of chunks, c chunk length, i/j query/key positions.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from ._inputs import check_float, check_not_empty, check_token_dtype, token_padding_mask
from .functional import (
    bidirectional_fft_conv,
    ema_kernel,
    fft_causal_conv,
    laplace_attention_fn,
    relu2,
)

__all__ = [
    "MegaConfig",
    "MegaEncoder",
    "MegaEncoderLayer",
    "MegaForSequenceClassification",
    "MovingAverageGatedAttention",
    "MultiHeadEMA",
    "NormalizedFeedForwardNetwork",
    "RMSNorm",
    "RealNumberEmbedding",
    "ScaleNorm",
    "SequenceNorm",
    "SimpleRelativePositionalBias",
    "mega_lra_aan",
    "mega_lra_cifar10",
    "mega_lra_imdb",
    "mega_lra_listop",
    "mega_lra_pf32",
    "mega_lra_pf128",
]

ATTENTION_FUNCTIONS = ("softmax", "laplace", "relu2")
NORM_TYPES = ("layernorm", "scalenorm", "batchnorm", "rmsnorm")
ACTIVATIONS = {"silu": F.silu, "gelu": F.gelu, "relu": F.relu}


# keyword names replaced by one vocabulary (see the module docstring); still accepted, with a DeprecationWarning
DEPRECATED_NAMES = {"embed_dim": "dim", "embedding_dim": "dim", "z_dim": "zdim", "hidden_dim": "hdim",
                    "n_dim": "ndim", "ffn_hidden_dim": "ffn_dim", "num_layers": "depth"}


def _current_names(owner: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        new = DEPRECATED_NAMES.get(key)
        if new is None:
            out[key] = value
            continue
        if new in kwargs:
            raise TypeError(f"{owner}: got both {new}= and its deprecated name {key}=")
        warnings.warn(f"{owner}({key}=...) is deprecated; use {new}=", DeprecationWarning, stacklevel=3)
        out[new] = value
    return out


def _accepts_deprecated_names(cls):
    """Let ``cls(...)`` take the keywords of :data:`DEPRECATED_NAMES` (mapped to the current ones, with a warning)."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **_current_names(cls.__name__, kwargs))

    cls.__init__ = __init__
    return cls


def _activation(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def _check_padding_mask(padding_mask: Tensor | None, b: int, n: int) -> None:
    if padding_mask is None:
        return
    if padding_mask.shape != (b, n):
        raise ValueError(f"padding_mask must have shape (batch, length) = ({b}, {n}), got {tuple(padding_mask.shape)}")
    if padding_mask.dtype != torch.bool:
        raise ValueError(f"padding_mask must be a bool tensor (True = padding), got {padding_mask.dtype}")


def _check_input(x: Tensor, d: int, dtype: torch.dtype, what: str = "x") -> None:
    """A non-empty (batch, length, d) floating tensor of the module's dtype (shapes and dtype only: no sync)."""
    if x.dim() != 3:
        raise ValueError(f"{what} must be (batch, length, dim), got shape {tuple(x.shape)}")
    if x.shape[-1] != d:
        raise ValueError(f"{what} has embedding size {x.shape[-1]} but the layer was built for dim={d}")
    check_float(x, dtype, what)
    check_not_empty(x, what)


# ----------------------------------------------------------------------------------------------
# normalisation
# ----------------------------------------------------------------------------------------------


class ScaleNorm(nn.Module):
    r"""ScaleNorm: $x \, g / \sqrt{\mathrm{mean}(x^2) + \epsilon}$, one learned scalar $g$ (Nguyen & Salazar, 2019).

    ``dim`` here is the axis of the mean (torch's meaning), not a width.
    """

    def __init__(self, *, dim: int = -1, eps: float = 1e-5) -> None:
        super().__init__()
        self.dim, self.eps = dim, eps
        self.scalar = nn.Parameter(torch.ones(1))

    def forward(self, x: Tensor) -> Tensor:
        mean_square = x.square().mean(dim=self.dim, keepdim=True)
        return x * torch.rsqrt(mean_square + self.eps) * self.scalar


@_accepts_deprecated_names
class RMSNorm(nn.Module):
    r"""RMSNorm: $x \odot w / \sqrt{\mathrm{mean}(x^2) + \epsilon}$ with a per-channel weight $w$ of width ``dim``."""

    def __init__(self, *, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + self.eps) * self.weight


@_accepts_deprecated_names
class SequenceNorm(nn.Module):
    """The norm the Mega encoder builds: layernorm | scalenorm | batchnorm | rmsnorm, eps 1e-5.

    BatchNorm normalises each channel over (batch, time): x (b, n, d) is permuted to (b, d, n).
    """

    def __init__(self, *, norm_type: str, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        if norm_type not in NORM_TYPES:
            raise ValueError(f"unknown norm_type {norm_type!r}; known: {', '.join(NORM_TYPES)}")
        self.norm_type = norm_type
        if norm_type == "layernorm":
            self.norm = nn.LayerNorm(dim, eps=eps)
        elif norm_type == "scalenorm":
            self.norm = ScaleNorm(eps=eps)
        elif norm_type == "rmsnorm":
            self.norm = RMSNorm(dim=dim, eps=eps)
        else:
            self.norm = nn.BatchNorm1d(dim, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        if self.norm_type == "batchnorm":
            # over (batch, time) per channel: (b, n, d) -> (b, d, n)
            return self.norm(x.transpose(1, 2)).transpose(1, 2)
        return self.norm(x)


# ----------------------------------------------------------------------------------------------
# §2 multi-dimensional damped EMA
# ----------------------------------------------------------------------------------------------


@_accepts_deprecated_names
class MultiHeadEMA(nn.Module):
    r"""Multi-dimensional damped EMA (paper §3.1, Eq. 2–3), output $X' = \mathrm{SiLU}(K * X + \omega \odot X)$.

    Parameters keep the official ``main``-branch names (paper symbols in brackets):
    ``delta`` (d', h, 1) [$\alpha = \sigma(\text{delta})$], ``alpha`` (d', h, 1) [$\delta = \sigma(\text{alpha})$],
    ``beta`` (d', h, 1) [$\beta$], ``gamma`` (d', h) [$\eta$, used times $\sqrt{1/h}$], ``omega`` (d,) [$\omega$];
    d' = d, or 2d when bidirectional (rows 0…d−1 forward, d…2d−1 backward).

    Args:
        dim: channels d.
        ndim: EMA expansion dim h (official default 2; every Mega experiment uses 16).
        bidirectional: add the same recurrence run on the time-reversed input (encoder mode).
        truncation: kernel length K = min(truncation, n); None = n.
    """

    def __init__(self, *, dim: int, ndim: int = 16, bidirectional: bool = False,
                 truncation: int | None = None) -> None:
        super().__init__()
        if dim < 1 or ndim < 1:
            raise ValueError(f"dim and ndim must be >= 1, got {dim} and {ndim}")
        if truncation is not None and truncation < 1:
            raise ValueError(f"truncation must be None or >= 1, got {truncation}")
        self.dim, self.ndim = dim, ndim
        self.bidirectional, self.truncation = bidirectional, truncation
        self.scale = math.sqrt(1.0 / ndim)
        kernel_dim = 2 * dim if bidirectional else dim
        self.delta = nn.Parameter(torch.empty(kernel_dim, ndim, 1))
        self.alpha = nn.Parameter(torch.empty(kernel_dim, ndim, 1))
        self.beta = nn.Parameter(torch.empty(kernel_dim, ndim, 1))
        self.gamma = nn.Parameter(torch.empty(kernel_dim, ndim))
        self.omega = nn.Parameter(torch.empty(dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            # a, b ~ N(0, 0.2²); β ~ N(0, 0.02²) + [1, −1, 1, −1, …] along h; η, ω ~ N(0, 1)
            nn.init.normal_(self.delta, mean=0.0, std=0.2)
            nn.init.normal_(self.alpha, mean=0.0, std=0.2)
            sign = torch.ones(self.ndim, 1)
            sign[1::2] = -1.0
            nn.init.normal_(self.beta, mean=0.0, std=0.02)
            self.beta.add_(sign)
            nn.init.normal_(self.gamma, mean=0.0, std=1.0)
            nn.init.normal_(self.omega, mean=0.0, std=1.0)

    def kernel(self, length: int) -> Tensor:
        """The EMA kernel(s) for sequence length ``length``: (d, K), or (2d, K) when bidirectional."""
        K = length if self.truncation is None else min(self.truncation, length)
        return ema_kernel(self.delta, self.alpha, self.beta, self.gamma, K)

    def forward(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        """x: (b, n, d); padding_mask: (b, n) bool, True = pad. Returns X' (b, n, d)."""
        _check_input(x, self.dim, self.omega.dtype)
        b, n, d = x.shape
        _check_padding_mask(padding_mask, b, n)
        residual = x * self.omega
        if padding_mask is not None:  # pad values must not leak into real tokens through the convolution
            x = x.masked_fill(padding_mask.unsqueeze(-1), 0.0)
        xt = rearrange(x, "b n d -> b d n")
        k = self.kernel(n)
        if self.bidirectional:
            k_fwd, k_bwd = k.split(d, dim=0)
            y = bidirectional_fft_conv(xt, k_fwd, k_bwd)
        else:
            y = fft_causal_conv(xt, k)
        return F.silu(rearrange(y, "b d n -> b n d") + residual)

    def step(self, x_t: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        r"""One step of the recurrence (incremental decoding; unidirectional only).

        $h_t = \alpha \odot \beta x_t + \phi \odot h_{t-1}$, $y_t = \mathrm{SiLU}(s \eta^\top h_t + \omega \odot x_t)$
        with $\phi = 1 - \alpha \odot \delta$ and $s = \sqrt{1/h}$.

        Args:
            x_t: (b, d) input at time t.
            state: (b, d, h) previous latent state h_{t−1}, or None (zeros).

        Returns:
            ``(y_t (b, d), h_t (b, d, h))``.
        """
        if self.bidirectional:
            raise ValueError("step() needs a unidirectional EMA (bidirectional=False); a backward EMA sees the future")
        if x_t.dim() != 2 or x_t.shape[-1] != self.dim:
            raise ValueError(f"x_t must be (batch, {self.dim}), got shape {tuple(x_t.shape)}")
        check_float(x_t, self.omega.dtype, "x_t")
        check_not_empty(x_t, "x_t", sequence=False)
        p = torch.sigmoid(self.delta).squeeze(-1)  # α: (d, h)
        q = 1.0 - p * torch.sigmoid(self.alpha).squeeze(-1)  # φ: (d, h)
        h = (p * self.beta.squeeze(-1)) * x_t.unsqueeze(-1)
        if state is not None:
            if state.shape != (x_t.shape[0], self.dim, self.ndim):
                raise ValueError(f"state must be (batch, {self.dim}, {self.ndim}), got {tuple(state.shape)}")
            h = h + q * state
        y = torch.einsum("bdh,dh->bd", h, self.gamma * self.scale)
        return F.silu(y + self.omega * x_t), h


# ----------------------------------------------------------------------------------------------
# §3 relative position bias and the gated attention
# ----------------------------------------------------------------------------------------------


class SimpleRelativePositionalBias(nn.Module):
    r"""One learned scalar per offset: $B_{ij} = w_{P - 1 + (j - i)}$, $w \in \mathbb{R}^{2P - 1}$
    ($P$ = ``max_positions``)."""

    def __init__(self, *, max_positions: int) -> None:
        super().__init__()
        if max_positions < 1:
            raise ValueError(f"max_positions must be >= 1, got {max_positions}")
        self.max_positions = max_positions
        self.rel_pos_bias = nn.Parameter(torch.empty(2 * max_positions - 1))
        nn.init.normal_(self.rel_pos_bias, mean=0.0, std=0.02)

    def forward(self, seq_len: int) -> Tensor:
        """The (seq_len, seq_len) bias matrix."""
        if seq_len > self.max_positions:
            raise ValueError(f"sequence/chunk length {seq_len} exceeds max_positions={self.max_positions}")
        pos = torch.arange(seq_len, device=self.rel_pos_bias.device)
        return self.rel_pos_bias[self.max_positions - 1 + pos[None, :] - pos[:, None]]

    def row(self, i: int, n_keys: int) -> Tensor:
        """Row i of the bias against keys 0 … n_keys−1: (n_keys,) (used for incremental decoding)."""
        pos = torch.arange(n_keys, device=self.rel_pos_bias.device)
        return self.rel_pos_bias[self.max_positions - 1 + pos - i]


@_accepts_deprecated_names
class MovingAverageGatedAttention(nn.Module):
    r"""One Mega sub-layer: EMA + single-head gated attention with shared $Z$ (paper §3.2–3.5; equations in the module
    docstring).

    Args:
        dim: $d$, model width.
        zdim: $z$, shared query/key dim.
        hdim: $v$, value / expanded dim (default $2d$ in the paper).
        ndim: EMA expansion dim $h$; 0 replaces the EMA by the identity ($X' = X$, the "no EMA" ablation).
        dropout: dropout on $X'$ and on $\hat H$.
        attention_dropout: dropout on the attention weights.
        hidden_dropout: dropout on V.
        activation: activation of $V$ and $\hat H$ ('silu').
        attention_activation: 'softmax' | 'laplace' | 'relu2'.
        bidirectional: bidirectional EMA (encoders).
        chunk_size: c for Mega-chunk; −1 = full attention. The length must be a multiple of c when
            n > c (n ≤ c is one chunk).
        truncation: EMA kernel truncation.
        norm_type: 'layernorm' | 'scalenorm' | 'batchnorm' | 'rmsnorm'.
        prenorm: normalise the input (True) or the output (False).
        rel_pos_bias: 'simple' (only option implemented; RoPE is for language modelling).
        max_positions: size of the relative bias table (set to the chunk size when chunking).
    """

    def __init__(self, *, dim: int, zdim: int, hdim: int, ndim: int = 16, dropout: float = 0.0,
                 attention_dropout: float = 0.0, hidden_dropout: float = 0.0, activation: str = "silu",
                 attention_activation: str = "softmax", bidirectional: bool = False, chunk_size: int = -1,
                 truncation: int | None = None, norm_type: str = "layernorm", prenorm: bool = True,
                 rel_pos_bias: str = "simple", max_positions: int = 1024) -> None:
        super().__init__()
        if attention_activation not in ATTENTION_FUNCTIONS:
            raise ValueError(f"unknown attention_activation {attention_activation!r}; "
                             f"known: {', '.join(ATTENTION_FUNCTIONS)}")
        if rel_pos_bias != "simple":
            raise ValueError(f"rel_pos_bias {rel_pos_bias!r} is not implemented; only 'simple'")
        if chunk_size == 0 or chunk_size < -1:
            raise ValueError(f"chunk_size must be -1 (full attention) or >= 1, got {chunk_size}")
        if min(dim, zdim, hdim) < 1 or ndim < 0:
            raise ValueError(f"dim, zdim, hdim must be >= 1 and ndim >= 0, got {dim}, {zdim}, {hdim}, "
                             f"{ndim}")
        self.dim, self.zdim, self.hdim, self.ndim = dim, zdim, hdim, ndim
        self.attention_activation = attention_activation
        self.chunk_size = chunk_size
        self.prenorm = prenorm
        self.bidirectional = bidirectional
        self.act = _activation(activation)
        self.scaling = zdim ** -0.5 if attention_activation == "softmax" else None
        self.dropout = nn.Dropout(dropout)
        self.hidden_dropout = nn.Dropout(hidden_dropout)
        self.attention_dropout = nn.Dropout(attention_dropout)
        self.move = (MultiHeadEMA(dim=dim, ndim=ndim, bidirectional=bidirectional, truncation=truncation)
                     if ndim > 0 else None)
        self.v_proj = nn.Linear(dim, hdim)
        self.mx_proj = nn.Linear(dim, zdim + hdim + 2 * dim)
        self.h_proj = nn.Linear(hdim, dim)
        # per-dimension scale κ (official name gamma) and offset μ (official name beta) for [Q; K]
        self.gamma = nn.Parameter(torch.empty(2, zdim))
        self.beta = nn.Parameter(torch.empty(2, zdim))
        self.rel_pos_bias = SimpleRelativePositionalBias(max_positions=chunk_size if chunk_size > 0 else max_positions)
        self.norm = SequenceNorm(norm_type=norm_type, dim=dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            for lin in (self.v_proj, self.mx_proj, self.h_proj):
                nn.init.normal_(lin.weight, mean=0.0, std=0.02)
                nn.init.zeros_(lin.bias)
            nn.init.normal_(self.gamma, mean=0.0, std=0.02)
            nn.init.zeros_(self.beta)

    # -- attention inside chunks -----------------------------------------------------------------
    def _attention(self, q: Tensor, k: Tensor, v: Tensor, padding_mask: Tensor | None,
                   attn_mask: Tensor | None) -> Tensor:
        """Single-head attention inside chunks.

        q, k: (b, k, c, z); v: (b, k, c, v); padding_mask: (b, k, c) bool or None; attn_mask: (c, c)
        bool (True = blocked) or None. Returns the weights (b, k, c, c).
        """
        c = q.shape[2]
        bias = self.rel_pos_bias(c)  # (c, c)
        if self.attention_activation == "softmax":
            # $\mathrm{softmax}(Q K^\top / \sqrt{z} + b_{rel})$: the code scales Q by z^-1/2
            qk = torch.einsum("bkiz,bkjz->bkij", q * self.scaling, k) + bias
            if attn_mask is not None:
                qk = qk.masked_fill(attn_mask, float("-inf"))
            if padding_mask is not None:
                qk = qk.masked_fill(padding_mask[:, :, None, :], float("-inf"))
            w = torch.softmax(qk, dim=-1)
            if attn_mask is not None or padding_mask is not None:
                w = torch.nan_to_num(w, nan=0.0)  # a query with no visible key (all-pad chunk) gets weight 0
            return w
        # laplace / relu²: f(Q Kᵀ / n_keys + b_rel), n_keys = visible non-pad keys per query (c without masks)
        visible = torch.ones(c, c, dtype=q.dtype, device=q.device)
        if attn_mask is not None:
            visible = visible * (~attn_mask).to(q.dtype)
        if padding_mask is not None:
            visible = visible * (~padding_mask).to(q.dtype)[:, :, None, :]  # (b, k, c, c)
        lengths = visible.sum(-1, keepdim=True).clamp(min=1.0)
        qk = torch.einsum("bkiz,bkjz->bkij", q, k) / lengths + bias
        fn = laplace_attention_fn if self.attention_activation == "laplace" else relu2
        w = fn(qk)
        if attn_mask is not None or padding_mask is not None:
            w = w * visible
        return w

    def forward(self, x: Tensor, padding_mask: Tensor | None = None, attn_mask: Tensor | None = None,
                need_weights: bool = False, incremental_state: dict[str, Any] | None = None
                ) -> Tensor | tuple[Tensor, Tensor]:
        """Apply the sub-layer.

        Args:
            x: (b, n, d), batch first.
            padding_mask: (b, n) bool, True = pad.
            attn_mask: (c, c) bool, True = blocked, applied inside every chunk (c = n without chunking);
                e.g. ``torch.ones(c, c, dtype=bool).triu(1)`` for causal attention.
            need_weights: also return the attention weights (b, k, c, c).
            incremental_state: a dict carried across calls for token-by-token decoding (unidirectional
                layers, x of length 1, causal attention implied; see :meth:`step`).

        Returns:
            Y (b, n, d), or (Y, weights) when ``need_weights``.
        """
        if incremental_state is not None:
            return self.step(x, incremental_state)
        _check_input(x, self.dim, self.v_proj.weight.dtype)
        b, n, d = x.shape
        _check_padding_mask(padding_mask, b, n)
        if self.chunk_size > 0 and n > self.chunk_size and n % self.chunk_size != 0:
            raise ValueError(f"sequence length {n} is not a multiple of chunk_size={self.chunk_size}; pad the input")
        c = n if (self.chunk_size < 0 or n <= self.chunk_size) else self.chunk_size
        if attn_mask is not None and (attn_mask.shape != (c, c) or attn_mask.dtype != torch.bool):
            raise ValueError(f"attn_mask must be a ({c}, {c}) bool tensor (one chunk), got "
                             f"{tuple(attn_mask.shape)} {attn_mask.dtype}")

        residual = x
        if self.prenorm:
            x = self.norm(x)
        v = self.act(self.v_proj(x))  # V from X, not X': (b, n, v)
        mx = self.move(x, padding_mask) if self.move is not None else x  # X'
        mx = self.dropout(mx)
        u, zr, hx = self.mx_proj(mx).split([d, self.zdim + self.hdim, d], dim=-1)
        u = torch.sigmoid(u)  # φ_update
        z, r = F.silu(zr).split([self.zdim, self.hdim], dim=-1)  # shared Z and reset gate γ
        # Q = κ_q ⊙ Z + μ_q, K = κ_k ⊙ Z + μ_k
        q = z * self.gamma[0] + self.beta[0]
        k = z * self.gamma[1] + self.beta[1]
        v = self.hidden_dropout(v)

        q, k, v = (rearrange(t, "b (k c) e -> b k c e", c=c) for t in (q, k, v))
        pm = None if padding_mask is None else rearrange(padding_mask, "b (k c) -> b k c", c=c)
        w = self._attention(q, k, v, pm, attn_mask)
        o = torch.einsum("bkij,bkje->bkie", self.attention_dropout(w), v)
        o = rearrange(o, "b k c e -> b (k c) e")
        # Ĥ = act(H_x + (γ ⊙ O) W_h + b_h);  Y = X_res + φ_u ⊙ (Ĥ − X_res)
        h = self.dropout(self.act(hx + self.h_proj(o * r)))
        out = torch.addcmul(residual, u, h - residual)
        if not self.prenorm:
            out = self.norm(out)
        return (out, w) if need_weights else out

    # -- incremental decoding ---------------------------------------------------------------------
    def step(self, x: Tensor, state: dict[str, Any]) -> Tensor:
        """Decode one token (b, 1, d) given ``state`` (a dict, updated in place; start with ``{}``).

        Equals the full pass with a causal ``attn_mask`` (inside chunks) on a unidirectional layer: the EMA
        runs its recurrence (state (b, d, h)) and keys/values of the current chunk are cached.
        """
        if self.bidirectional:
            raise ValueError("incremental decoding needs bidirectional=False")
        _check_input(x, self.dim, self.v_proj.weight.dtype)
        if x.shape[1] != 1:
            raise ValueError(f"incremental decoding takes one token at a time, got length {x.shape[1]}")
        if self.norm.norm_type == "batchnorm" and self.training:
            raise ValueError("incremental decoding with batchnorm needs eval mode (batch statistics over one step)")
        d = self.dim
        residual = x
        if self.prenorm:
            x = self.norm(x)
        v = self.act(self.v_proj(x))
        if self.move is not None:
            mx_t, state["ema"] = self.move.step(x[:, 0], state.get("ema"))
            mx = mx_t.unsqueeze(1)
        else:
            mx = x
        u, zr, hx = self.mx_proj(mx).split([d, self.zdim + self.hdim, d], dim=-1)
        u = torch.sigmoid(u)
        z, r = F.silu(zr).split([self.zdim, self.hdim], dim=-1)
        q = z * self.gamma[0] + self.beta[0]
        k = z * self.gamma[1] + self.beta[1]
        keys, values = state.get("keys"), state.get("values")
        if keys is None or (self.chunk_size > 0 and keys.shape[1] == self.chunk_size):  # a new chunk starts
            keys, values = k, v
        else:
            keys, values = torch.cat([keys, k], dim=1), torch.cat([values, v], dim=1)
        state["keys"], state["values"] = keys, values
        m = keys.shape[1]  # visible keys, the query is at position m − 1 of its chunk
        bias = self.rel_pos_bias.row(m - 1, m)
        if self.attention_activation == "softmax":
            w = torch.softmax(torch.einsum("biz,bjz->bij", q * self.scaling, keys) + bias, dim=-1)
        else:
            fn = laplace_attention_fn if self.attention_activation == "laplace" else relu2
            w = fn(torch.einsum("biz,bjz->bij", q, keys) / m + bias)
        o = torch.einsum("bij,bje->bie", w, values)
        h = self.act(hx + self.h_proj(o * r))
        out = torch.addcmul(residual, u, h - residual)
        if not self.prenorm:
            out = self.norm(out)
        return out


# ----------------------------------------------------------------------------------------------
# §3.4 block: gated attention + normalised FFN
# ----------------------------------------------------------------------------------------------


@_accepts_deprecated_names
class NormalizedFeedForwardNetwork(nn.Module):
    r"""$\mathrm{FFN}(x) = W_2 \, \mathrm{SiLU}(W_1 x + b_1) + b_2$ with a residual (paper §3.4): pre-norm
    $Y + \mathrm{FFN}(\mathrm{Norm}(Y))$ or post-norm $\mathrm{Norm}(\mathrm{FFN}(Y) + Y)$. Hidden dropout after
    the activation, dropout after $W_2$; hidden width ``ffn_dim``. x: (b, n, d)."""

    def __init__(self, *, dim: int, ffn_dim: int, dropout: float = 0.0, hidden_dropout: float = 0.0,
                 activation: str = "silu", norm_type: str = "layernorm", prenorm: bool = True) -> None:
        super().__init__()
        self.dim, self.prenorm = dim, prenorm
        self.act = _activation(activation)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.hidden_dropout = nn.Dropout(hidden_dropout)
        self.dropout = nn.Dropout(dropout)
        self.norm = SequenceNorm(norm_type=norm_type, dim=dim)
        with torch.no_grad():
            for lin in (self.fc1, self.fc2):
                nn.init.normal_(lin.weight, mean=0.0, std=0.02)
                nn.init.zeros_(lin.bias)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, self.dim, self.fc1.weight.dtype)
        residual = x
        if self.prenorm:
            x = self.norm(x)
        x = self.dropout(self.fc2(self.hidden_dropout(self.act(self.fc1(x)))))
        x = x + residual
        if not self.prenorm:
            x = self.norm(x)
        return x


@_accepts_deprecated_names
class MegaEncoderLayer(nn.Module):
    """Mega block for encoders: bidirectional :class:`MovingAverageGatedAttention` + normalised FFN.

    Args as the official ``MegaSentenceEncoderLayer`` (under this package's names): ``dim`` $d$, ``hdim`` $v$,
    ``ffn_dim`` $d_{FFN}$, ``zdim`` $z$, ``ndim`` $h$, ``chunk_size`` $c$ (−1 = full); ``ffn_dim=0`` drops the FFN.
    x: (b, n, d) -> (b, n, d).
    """

    def __init__(self, *, dim: int, hdim: int, ffn_dim: int, zdim: int, ndim: int = 16,
                 chunk_size: int = -1, truncation: int | None = None, dropout: float = 0.0,
                 attention_dropout: float = 0.0, hidden_dropout: float = 0.0, activation: str = "silu",
                 attention_activation: str = "softmax", norm_type: str = "layernorm", prenorm: bool = True,
                 max_positions: int = 1024) -> None:
        super().__init__()
        self.mega_layer = MovingAverageGatedAttention(
            dim=dim, zdim=zdim, hdim=hdim, ndim=ndim, dropout=dropout,
            attention_dropout=attention_dropout, hidden_dropout=hidden_dropout, activation=activation,
            attention_activation=attention_activation, bidirectional=True, chunk_size=chunk_size,
            truncation=truncation, norm_type=norm_type, prenorm=prenorm, max_positions=max_positions)
        self.nffn = (NormalizedFeedForwardNetwork(dim=dim, ffn_dim=ffn_dim,
                                                  dropout=dropout, hidden_dropout=hidden_dropout,
                                                  activation=activation, norm_type=norm_type, prenorm=prenorm)
                     if ffn_dim > 0 else None)

    def forward(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        x = self.mega_layer(x, padding_mask)
        return self.nffn(x) if self.nffn is not None else x


# ----------------------------------------------------------------------------------------------
# §4 LRA encoder and classifier
# ----------------------------------------------------------------------------------------------


@_accepts_deprecated_names
class RealNumberEmbedding(nn.Module):
    r"""$e = x w + b$ for scalar inputs (pixels), $w \sim N(0, 1)$, $b \sim N(0, 0.1^2)$. x: (b, n) -> (b, n, d)."""

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dim))
        self.bias = nn.Parameter(torch.randn(dim) * 0.1)

    def forward(self, x: Tensor) -> Tensor:
        return x.unsqueeze(-1) * self.weight + self.bias


@_accepts_deprecated_names
class MegaEncoder(nn.Module):
    """The LRA Mega encoder: embedding → Mega blocks → (final norm if pre-norm) → pooled vector.

    Token inputs (``vocab_size`` set) are padded with ``padding_idx`` up to a multiple of the chunk size;
    real-valued inputs (``vocab_size=None``, e.g. pixels) must already have a multiple of it.
    No absolute positional embeddings.

    Args:
        vocab_size: token vocabulary, or None for real-valued (b, n) inputs.
        depth, dim, hdim, ffn_dim, zdim, ndim, chunk_size, truncation,
        dropout, attention_dropout, hidden_dropout, activation, attention_activation, norm_type, prenorm:
            as :class:`MegaEncoderLayer` (ndim = 0 gives the no-EMA ablation).
        max_positions: relative-bias table size for full attention (≥ the longest sequence).
        padding_idx: PAD token id (token inputs).
        sen_rep_type: 'mp' (mean over non-pad positions) or 'cls' (first position).
    """

    def __init__(self, *, vocab_size: int | None, depth: int, dim: int, hdim: int,
                 ffn_dim: int, zdim: int, ndim: int = 16, chunk_size: int = -1,
                 truncation: int | None = None, dropout: float = 0.0, attention_dropout: float = 0.0,
                 hidden_dropout: float = 0.0, activation: str = "silu", attention_activation: str = "softmax",
                 norm_type: str = "layernorm", prenorm: bool = True, max_positions: int = 1024,
                 padding_idx: int = 0, sen_rep_type: str = "mp") -> None:
        super().__init__()
        if sen_rep_type not in ("mp", "cls"):
            raise ValueError(f"sen_rep_type must be 'mp' or 'cls', got {sen_rep_type!r}")
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if vocab_size is not None and not 0 <= padding_idx < vocab_size:
            raise ValueError(f"padding_idx must be a token id in [0, vocab_size={vocab_size}), got {padding_idx}")
        self.vocab_size, self.padding_idx = vocab_size, padding_idx
        self.dim, self.chunk_size, self.sen_rep_type = dim, chunk_size, sen_rep_type
        if vocab_size is None:
            self.embed_tokens: nn.Module = RealNumberEmbedding(dim=dim)
        else:
            self.embed_tokens = nn.Embedding(vocab_size, dim, padding_idx=padding_idx)
            with torch.no_grad():  # N(0, σ²), σ = d^-1/2; pad row zero
                nn.init.normal_(self.embed_tokens.weight, mean=0.0, std=dim ** -0.5)
                self.embed_tokens.weight[padding_idx].zero_()
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            MegaEncoderLayer(dim=dim, hdim=hdim, ffn_dim=ffn_dim,
                             zdim=zdim, ndim=ndim, chunk_size=chunk_size, truncation=truncation,
                             dropout=dropout, attention_dropout=attention_dropout, hidden_dropout=hidden_dropout,
                             activation=activation, attention_activation=attention_activation,
                             norm_type=norm_type, prenorm=prenorm, max_positions=max_positions)
            for _ in range(depth))
        self.final_norm = SequenceNorm(norm_type=norm_type, dim=dim) if prenorm else None

    def forward_features(self, x: Tensor, padding_mask: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """x: (b, n) tokens or reals -> features (b, n', d) and the padding mask (b, n') (n' ≥ n if padded).

        Token ids must be integers in ``[0, vocab_size)``; real values a floating tensor of the module's dtype; a
        ValueError naming ``x`` otherwise (and for an empty batch or sequence).
        """
        if x.dim() != 2:
            raise ValueError(f"input must be (batch, length) tokens or real values, got shape {tuple(x.shape)}")
        b, n = x.shape
        if self.vocab_size is not None:
            check_token_dtype(x, self.vocab_size)
            check_not_empty(x)
            if padding_mask is not None:
                raise ValueError("token inputs derive the padding mask from padding_idx; pass padding_mask=None")
            c = self.chunk_size
            if c > 0 and n > c and n % c != 0:  # pad tokens up to a multiple of the chunk size
                x = F.pad(x, (0, c - n % c), value=self.padding_idx)
            padding_mask = token_padding_mask(x, self.vocab_size, self.padding_idx)
        else:
            check_float(x, self.embed_tokens.weight.dtype)
            check_not_empty(x)
            _check_padding_mask(padding_mask, b, n)
            c = self.chunk_size
            if c > 0 and n > c and n % c != 0:
                raise ValueError(f"real-valued input length {n} is not a multiple of chunk_size={c}")
        h = self.embed_tokens(x)
        if padding_mask is not None:
            h = h.masked_fill(padding_mask.unsqueeze(-1), 0.0)
        h = self.dropout(h)
        for layer in self.layers:
            h = layer(h, padding_mask)
        if self.final_norm is not None:
            h = self.final_norm(h)
        if padding_mask is not None:
            h = h.masked_fill(padding_mask.unsqueeze(-1), 0.0)
        return h, padding_mask

    def forward(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        """Pooled sentence representation (b, d)."""
        h, padding_mask = self.forward_features(x, padding_mask)
        if self.sen_rep_type == "cls":
            return h[:, 0]
        if padding_mask is None:
            return h.mean(dim=1)
        lengths = (~padding_mask).sum(dim=1, keepdim=True).clamp(min=1).to(h.dtype)
        return h.sum(dim=1) / lengths


class ClassificationHead(nn.Module):
    r"""$\mathrm{Linear}(d_{in}, d_{cls})$, dropout, GELU, $\mathrm{Linear}(d_{cls}, \text{classes})$ (no bias);
    Xavier-uniform, biases 0."""

    def __init__(self, *, in_dim: int, classifier_dim: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.dense = nn.Linear(in_dim, classifier_dim)
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(classifier_dim, num_classes, bias=False)
        nn.init.xavier_uniform_(self.dense.weight)
        nn.init.zeros_(self.dense.bias)
        nn.init.xavier_uniform_(self.out_proj.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.out_proj(F.gelu(self.dropout(self.dense(x))))


@_accepts_deprecated_names
@dataclass(frozen=True)
class MegaConfig:
    """Everything :class:`MegaForSequenceClassification` needs (defaults: the ListOps row of Table 8).

    The official field names (``embedding_dim``, ``num_layers``, ...) are accepted by the constructor and readable
    as attributes, with a ``DeprecationWarning`` (see :data:`DEPRECATED_NAMES`).
    """

    num_classes: int = 10
    vocab_size: int | None = 16
    depth: int = 6
    dim: int = 80
    hdim: int = 160
    ffn_dim: int = 160
    zdim: int = 64
    ndim: int = 16
    chunk_size: int = -1
    truncation: int | None = 1024
    attention_activation: str = "softmax"
    norm_type: str = "layernorm"
    prenorm: bool = False
    dropout: float = 0.1
    attention_dropout: float = 0.0
    hidden_dropout: float = 0.0
    activation: str = "silu"
    max_positions: int = 2002
    classifier_dim: int = 160
    sen_rep_type: str = "mp"
    dual_input: bool = False
    padding_idx: int = 0


def _deprecated_attribute(old: str, new: str) -> property:
    def get(self: MegaConfig) -> Any:
        warnings.warn(f"MegaConfig.{old} is deprecated; use .{new}", DeprecationWarning, stacklevel=2)
        return getattr(self, new)

    return property(get)


for _old, _new in DEPRECATED_NAMES.items():
    if _new in {f.name for f in fields(MegaConfig)}:
        setattr(MegaConfig, _old, _deprecated_attribute(_old, _new))


class MegaForSequenceClassification(nn.Module):
    """Mega encoder + the LRA classifier head (mean pooling, GELU head). Dual input (Retrieval)
    concatenates the two pooled vectors, so the head reads 2d.

    forward(x (b, n), padding_mask=None, x2=None) -> logits (b, num_classes).
    """

    def __init__(self, config: MegaConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.encoder = MegaEncoder(
            vocab_size=c.vocab_size, depth=c.depth, dim=c.dim,
            hdim=c.hdim, ffn_dim=c.ffn_dim, zdim=c.zdim, ndim=c.ndim,
            chunk_size=c.chunk_size, truncation=c.truncation, dropout=c.dropout,
            attention_dropout=c.attention_dropout, hidden_dropout=c.hidden_dropout, activation=c.activation,
            attention_activation=c.attention_activation, norm_type=c.norm_type, prenorm=c.prenorm,
            max_positions=c.max_positions, padding_idx=c.padding_idx, sen_rep_type=c.sen_rep_type)
        self.num_classes = c.num_classes
        self.num_features = c.dim * (2 if c.dual_input else 1)
        self.classifier = ClassificationHead(in_dim=self.num_features, classifier_dim=c.classifier_dim,
                                             num_classes=c.num_classes, dropout=c.dropout)

    def forward_features(self, x: Tensor, padding_mask: Tensor | None = None, x2: Tensor | None = None) -> Tensor:
        """Pooled representation (b, num_features)."""
        if self.config.dual_input != (x2 is not None):
            raise ValueError("dual_input models take x2 (the second document); single-input models must not")
        rep = self.encoder(x, padding_mask)
        if x2 is not None:
            rep = torch.cat([rep, self.encoder(x2)], dim=-1)
        return rep

    def forward_head(self, rep: Tensor) -> Tensor:
        return self.classifier(rep)

    def forward(self, x: Tensor, padding_mask: Tensor | None = None, x2: Tensor | None = None) -> Tensor:
        return self.forward_head(self.forward_features(x, padding_mask, x2))


# ----------------------------------------------------------------------------------------------
# configs mirroring the official architecture names (paper Table 8); chunked=True gives Mega-chunk
# ----------------------------------------------------------------------------------------------


def _lra(chunked: bool, chunk: int, full_max_pos: int, **kw: Any) -> MegaConfig:
    kw.setdefault("classifier_dim", kw["hdim"])  # d_cls = v in all LRA configs
    return MegaConfig(chunk_size=chunk if chunked else -1, max_positions=full_max_pos, **kw)


def mega_lra_listop(*, chunked: bool = False, **overrides: Any) -> MegaConfig:
    """ListOps: 6 layers, d 80, FFN 160, z 64, v 160, softmax, LayerNorm post-norm, dropout 0.1.
    (vocab_size 16 = this package's ListOps vocabulary.)"""
    kw = dict(num_classes=10, vocab_size=16, depth=6, dim=80, hdim=160, ffn_dim=160,
              zdim=64, attention_activation="softmax", norm_type="layernorm", prenorm=False, dropout=0.1,
              truncation=1024)
    return _lra(chunked, 128, 2002, **{**kw, **overrides})


def mega_lra_imdb(*, chunked: bool = False, **overrides: Any) -> MegaConfig:
    """Text (byte-level IMDB, 4K): 4 layers, d 128, FFN 256, z 64, v 256, softmax, ScaleNorm post-norm."""
    kw = dict(num_classes=2, vocab_size=260, depth=4, dim=128, hdim=256, ffn_dim=256,
              zdim=64, attention_activation="softmax", norm_type="scalenorm", prenorm=False, dropout=0.1,
              truncation=1024)
    return _lra(chunked, 128, 4002, **{**kw, **overrides})


def mega_lra_aan(*, chunked: bool = False, **overrides: Any) -> MegaConfig:
    """Retrieval (AAN, two 4K documents): 6 layers, d 128, FFN 256, z 64, v 256, softmax, ScaleNorm."""
    kw = dict(num_classes=2, vocab_size=260, depth=6, dim=128, hdim=256, ffn_dim=256,
              zdim=64, attention_activation="softmax", norm_type="scalenorm", prenorm=False, dropout=0.1,
              truncation=1024, dual_input=True)
    return _lra(chunked, 128, 4002, **{**kw, **overrides})


def mega_lra_cifar10(*, chunked: bool = False, **overrides: Any) -> MegaConfig:
    """Image (grey CIFAR-10 pixels, 1024): 8 layers, d 160, FFN 320, z 96, v 320, laplace, BatchNorm pre-norm."""
    kw = dict(num_classes=10, vocab_size=None, depth=8, dim=160, hdim=320, ffn_dim=320,
              zdim=96, attention_activation="laplace", norm_type="batchnorm", prenorm=True, dropout=0.0,
              truncation=1024)
    return _lra(chunked, 128, 1024, **{**kw, **overrides})


def mega_lra_pf32(*, chunked: bool = False, **overrides: Any) -> MegaConfig:
    """Pathfinder 32×32: 6 layers, d 128, FFN 256, z 64, v 256, laplace, BatchNorm pre-norm."""
    kw = dict(num_classes=2, vocab_size=None, depth=6, dim=128, hdim=256, ffn_dim=256,
              zdim=64, attention_activation="laplace", norm_type="batchnorm", prenorm=True, dropout=0.0,
              truncation=1024)
    return _lra(chunked, 128, 1024, **{**kw, **overrides})


def mega_lra_pf128(*, chunked: bool = False, **overrides: Any) -> MegaConfig:
    """Path-X 128×128 (16K): 4 layers, d 64, FFN 128, z 32, v 128, laplace, BatchNorm pre-norm, truncation 4096,
    chunk 4096 (Mega-chunk) or 16384 (full)."""
    kw = dict(num_classes=2, vocab_size=None, depth=4, dim=64, hdim=128, ffn_dim=128,
              zdim=32, attention_activation="laplace", norm_type="batchnorm", prenorm=True, dropout=0.0,
              truncation=4096)
    return _lra(chunked, 4096, 16384, **{**kw, **overrides})
