r"""Networks of NNPhD (Liu et al., arXiv:2106.00026): a Lagrangian neural network for the conservative part,
a universal approximator network for the non-conservative part, and their sum.

Shape legend: ``b`` batch, ``d`` number of generalized coordinates (``dim``).
A state is ``(q, qdot)`` with ``q: (b, d)`` and ``qdot: (b, d)``; accelerations are ``(b, d)``.

Lagrangian neural network (Cranmer et al. 2020). For a scalar $L(q, \dot q)$ the Euler–Lagrange equations
$\frac{d}{dt} \partial L / \partial \dot q = \partial L / \partial q$ read

$$\sum_j H_{ij} \ddot q_j + \sum_j J_{ij} \dot q_j = \partial L / \partial q_i, \qquad
H_{ij} = \partial^2 L / \partial \dot q_i \partial \dot q_j, \quad
J_{ij} = \partial^2 L / \partial \dot q_i \partial q_j$$

(row index = velocity derivative, column index = position derivative), hence

$$a_c = (H + \varepsilon I)^{-1} (\nabla_q L - J \dot q)$$

($\varepsilon$ = ``ridge``, $10^{-6}$ by default; 0 allowed).

NNPhD. The observed acceleration is split in acceleration space, $\hat a = a_c + a_{nc}$, with $a_{nc}$ the output
of an unconstrained MLP (UAN), and trained on

$$\ell = \ell_{pred} + \lambda \ell_{reg}, \qquad \ell_{pred} = \tfrac1n \sum_i \lVert a_i - \hat a_i \rVert, \qquad
\ell_{reg} = \tfrac1n \sum_i \lVert a_{nc,i} \rVert \qquad \text{(unsquared norms).}$$

Why the transition sits at $\lambda = 1$ for any force: fix the LNN and let $r = a - a_c$. Point-wise,
$\min_{a_{nc}} \lVert r - a_{nc} \rVert + \lambda \lVert a_{nc} \rVert$ is attained at $a_{nc} = r$ (value
$\lambda \lVert r \rVert$) when $\lambda < 1$ — because $\lVert r - a_{nc} \rVert + \lambda \lVert a_{nc} \rVert
\ge \lambda (\lVert r - a_{nc} \rVert + \lVert a_{nc} \rVert) \ge \lambda \lVert r \rVert$ — and at $a_{nc} = 0$
(value $\lVert r \rVert$) when $\lambda > 1$ — because $\lVert r - a_{nc} \rVert + \lambda \lVert a_{nc} \rVert \ge
\lVert r - a_{nc} \rVert + \lVert a_{nc} \rVert \ge \lVert r \rVert$ (triangle inequality). At $\lambda = 1$ any
$a_{nc} = s r$, $s \in [0, 1]$, is optimal. In both phases the LNN is then left to minimise
$\mathbb{E}\lVert a - a_c \rVert$, so $\ell_{reg}$ jumps from $\mathbb{E}\lVert r^* \rVert$ to 0 and $\ell_{pred}$
from 0 to $\mathbb{E}\lVert r^* \rVert$ as $\lambda$ crosses 1. With squared norms the optimum is the smooth
shrinkage $a_{nc} = r / (1 + \lambda)$ and there is no transition (``tests/nnphd/test_nnphd.py`` checks both).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import grad as func_grad
from torch.func import hessian as func_hessian
from torch.func import vmap

__all__ = [
    "LagrangianNN",
    "MLPDynamics",
    "NNPhD",
    "TimeScaled",
    "UniversalApproximatorNet",
    "check_state",
    "embed_angles",
    "sample_norm",
]

_ACTIVATIONS = {"softplus": nn.Softplus, "tanh": nn.Tanh, "gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}
_SMOOTH = ("softplus", "tanh", "gelu", "silu")
_EMBEDDINGS = (None, "wrap", "sincos")
_NORMS = ("l2", "l1")


# ----------------------------------------------------------------------------------------------- helpers


def _shape(x: object) -> str:
    return str(tuple(x.shape)) if isinstance(x, Tensor) else type(x).__name__


def check_state(q: Tensor, qdot: Tensor, dim: int, t: Tensor | float | None = None) -> None:
    """Raise a one-line ``ValueError`` unless ``q`` and ``qdot`` are finite ``(b, dim)`` tensors (and ``t``,
    if a tensor, is finite with ``b`` entries)."""
    for name, x in (("q", q), ("qdot", qdot)):
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[-1] != dim:
            raise ValueError(f"{name} must be a tensor of shape (batch, {dim}), got {_shape(x)}")
    if q.shape != qdot.shape:
        raise ValueError(f"q and qdot must have the same shape, got q {_shape(q)} and qdot {_shape(qdot)}")
    for name, x in (("q", q), ("qdot", qdot)):
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} of shape {_shape(x)} contains non-finite values")
    if isinstance(t, Tensor):
        if t.numel() not in (1, q.shape[0]):
            raise ValueError(f"t must be a scalar or have {q.shape[0]} entries, got {_shape(t)}")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"t of shape {_shape(t)} contains non-finite values")


def embed_angles(q: Tensor, mode: str | None) -> Tensor:
    r"""Network input for the coordinates: ``None`` -> q; ``"wrap"`` -> q wrapped into $(-\pi, \pi]$;
    ``"sincos"`` -> $(\cos q, \sin q)$. ``q: (b, d)`` -> ``(b, d)`` or ``(b, 2d)``.

    The wrap is $\pi - ((\pi - q) \bmod 2\pi)$: its cut lies at $\theta = \pm\pi$ (pendulum upright), not at
    $\theta = 0$ as with the LNN reference code's ``q % 2π``. Its derivative is 1 almost everywhere, so
    derivatives w.r.t. the unwrapped q go straight through it.
    """
    if mode is None:
        return q
    if mode == "wrap":
        return math.pi - torch.remainder(math.pi - q, 2 * math.pi)
    if mode == "sincos":
        return torch.cat([torch.cos(q), torch.sin(q)], dim=-1)
    raise ValueError(f"angle_embedding must be one of {_EMBEDDINGS}, got {mode!r}")


def sample_norm(x: Tensor, norm: str) -> Tensor:
    r"""Per-sample unsquared norm of ``x: (b, d)`` -> ``(b,)``: Euclidean (``"l2"``) or $\sum_i |x_i|$ (``"l1"``)."""
    if norm == "l2":
        return torch.linalg.vector_norm(x, dim=-1)
    if norm == "l1":
        return x.abs().sum(dim=-1)
    raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")


def _check_hidden(hidden: Sequence[int]) -> tuple[int, ...]:
    hidden = tuple(int(h) for h in hidden)
    if not hidden or any(h <= 0 for h in hidden):
        raise ValueError(f"hidden must be a non-empty sequence of positive widths, got {hidden}")
    return hidden


def _mlp(n_in: int, hidden: tuple[int, ...], n_out: int, activation: str) -> nn.Sequential:
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(_ACTIVATIONS)}, got {activation!r}")
    layers: list[nn.Module] = []
    widths = (n_in, *hidden)
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b, dtype=torch.float64), _ACTIVATIONS[activation]()]
    layers.append(nn.Linear(widths[-1], n_out, dtype=torch.float64))
    return nn.Sequential(*layers)


def _as_time_column(t: Tensor | float | None, like: Tensor) -> Tensor:
    b = like.shape[0]
    if t is None:
        return torch.zeros(b, 1, dtype=like.dtype, device=like.device)
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return t.reshape(-1, 1).expand(b, 1) if t.numel() == 1 else t.reshape(b, 1)


def cranmer_init_(net: nn.Sequential) -> None:
    r"""Initialization of the LNN reference code (``custom_init`` in MilesCranmer/lagrangian_nns): biases 0;
    weights of the i-th linear layer $\sim \mathcal N(0, (c/\sqrt n)^2)$, $n = \max(\text{fan}_{in}, \text{fan}_{out})$,
    $c = 2.2$ for the first layer, $c = 0.58 i$ for hidden-to-hidden layers and $c = n$ for the output layer
    (std $= \sqrt n$ there)."""
    linears = [m for m in net if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for i, lin in enumerate(linears):
            n = max(lin.in_features, lin.out_features)
            if i == 0:
                c = 2.2
            elif i == len(linears) - 1:
                c = float(n)
            else:
                c = 0.58 * i
            lin.weight.normal_(0.0, c / math.sqrt(n))
            lin.bias.zero_()


# ----------------------------------------------------------------------------------------------- LNN


class _ScalarHead(nn.Module):
    """Adapts a user module ``f: (b, n_in) -> (b,) or (b, 1)`` to always return ``(b,)``."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: Tensor) -> Tensor:
        out = self.module(x)
        return out.reshape(x.shape[:-1])


class LagrangianNN(nn.Module):
    r"""Lagrangian neural network: a scalar $L(q, \dot q)$ whose Euler–Lagrange equations give accelerations.

    Args:
        dim: number of generalized coordinates d.
        hidden: widths of the hidden layers of the scalar MLP R^{2d} -> R.
        activation: a smooth activation ("softplus", "tanh", "gelu", "silu"). ReLU is rejected: its second
            derivative vanishes almost everywhere, so $H = \partial^2 L / \partial \dot q^2 = 0$ and the solve
            is singular.
        ridge: $\varepsilon$ in $(H + \varepsilon I)^{-1}$; 1e-6 by default, 0 allowed (exact comparisons).
        angle_embedding: None, "wrap" (q into $(-\pi, \pi]$) or "sincos" ($(\cos q, \sin q)$); applied to the network
            input only — derivatives are taken w.r.t. the unwrapped q.
        init: "standard" (PyTorch default) or "cranmer" (the LNN reference code's scheme).
        norm: the unsquared norm of :meth:`loss` when the LNN is trained alone ("l2" or "l1"; NNPhD uses its own).

    Hessian routes (``acceleration(..., backend=...)``): for the built-in softplus/tanh MLP the default is a
    closed-form forward-over-reverse pass (only first-order autograd left for training; ≈ 1.5x faster than
    the batched double backprop on one CPU thread); any other scalar network uses batched double backprop;
    ``vmap(torch.func.hessian)`` is kept as a cross-check. The tests hold all three to 1e-10.

    All computations are float64. ``acceleration`` builds a differentiable graph (mixed third derivatives for
    training) whenever gradients are enabled; under ``torch.no_grad()`` it still differentiates L w.r.t. the
    inputs but returns a detached result (cheap inference, e.g. for rollouts).
    """

    def __init__(
        self,
        *,
        dim: int,
        hidden: Sequence[int] = (128, 128),
        activation: str = "softplus",
        ridge: float = 1e-6,
        angle_embedding: str | None = None,
        init: str = "standard",
        norm: str = "l2",
    ):
        super().__init__()
        if int(dim) <= 0:
            raise ValueError(f"dim must be a positive integer, got {dim}")
        if norm not in _NORMS:
            raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
        self.norm = norm
        if activation not in _SMOOTH:
            raise ValueError(
                f"activation must be a smooth one of {_SMOOTH} (ReLU gives a zero Hessian), got {activation!r}"
            )
        if init not in ("standard", "cranmer"):
            raise ValueError(f"init must be 'standard' or 'cranmer', got {init!r}")
        self._setup(dim, ridge, angle_embedding)
        n_in = (3 if angle_embedding == "sincos" else 2) * self.dim
        net = _mlp(n_in, _check_hidden(hidden), 1, activation)
        if init == "cranmer":
            cranmer_init_(net)
        self.init = init
        self.net = _ScalarHead(net)
        # the analytic Hessian route needs the built-in MLP, an activation with closed-form σ', σ'' and an
        # embedding with unit derivative
        self._analytic = activation in ("softplus", "tanh") and angle_embedding in (None, "wrap")
        self._activation = activation

    def _setup(self, dim: int, ridge: float, angle_embedding: str | None) -> None:
        if not (math.isfinite(ridge) and ridge >= 0):
            raise ValueError(f"ridge must be a finite number >= 0, got {ridge}")
        if angle_embedding not in _EMBEDDINGS:
            raise ValueError(f"angle_embedding must be one of {_EMBEDDINGS}, got {angle_embedding!r}")
        self.dim = int(dim)
        self.ridge = float(ridge)
        self.angle_embedding = angle_embedding

    @classmethod
    def from_module(
        cls, module: nn.Module, dim: int, *, ridge: float = 1e-6, angle_embedding: str | None = None
    ) -> LagrangianNN:
        """Wrap any scalar module as a Lagrangian. ``module`` receives ``x = (embed(q), qdot)`` of shape
        ``(b, 2d)`` (``(b, 3d)`` with "sincos") and returns ``(b,)`` or ``(b, 1)``; it may be an analytic
        Lagrangian without parameters. It must treat samples independently (no batch statistics)."""
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        if int(dim) <= 0:
            raise ValueError(f"dim must be a positive integer, got {dim}")
        self._setup(dim, ridge, angle_embedding)
        self.init, self.norm = "module", "l2"
        self.net = _ScalarHead(module)
        self._analytic, self._activation = False, ""
        return self

    # -- the scalar -------------------------------------------------------------------------------------
    def _lagrangian_x(self, x: Tensor) -> Tensor:
        """$L$ on the raw state ``x = (q, qdot)``: ``(b, 2d)`` -> ``(b,)`` (the embedding is applied here)."""
        d = self.dim
        return self.net(torch.cat([embed_angles(x[..., :d], self.angle_embedding), x[..., d:]], dim=-1))

    def lagrangian(self, q: Tensor, qdot: Tensor) -> Tensor:
        r"""$L(q, \dot q)$: ``(b, d), (b, d)`` -> ``(b,)``."""
        check_state(q, qdot, self.dim)
        return self._lagrangian_x(torch.cat([q, qdot], dim=-1))

    # -- Euler–Lagrange terms -----------------------------------------------------------------------------
    def _el_terms(self, q: Tensor, qdot: Tensor, create_graph: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        r"""Batched autograd: returns $(L, \nabla_q L, J, H)$ with shapes (b,), (b, d), (b, d, d), (b, d, d).

        $\sum_b L(s_b)$ has per-sample gradients because samples do not interact; d more backward passes of
        $\sum_b \partial L / \partial \dot q_i$ give the rows $[J_{i,:} \mid H_{i,:}]$ of every sample's Hessian at
        once.
        """
        d = self.dim
        x = torch.cat([q, qdot], dim=-1)
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        lag = self._lagrangian_x(x)
        (g,) = torch.autograd.grad(lag.sum(), x, create_graph=True)
        rows = []
        for i in range(d):
            gi = g[:, d + i]
            if gi.requires_grad:
                (row,) = torch.autograd.grad(
                    gi.sum(), x, create_graph=create_graph, retain_graph=True, materialize_grads=True
                )
            else:  # ∂L/∂q̇_i does not depend on the state at all
                row = torch.zeros_like(x)
            rows.append(row)
        hess = torch.stack(rows, dim=1)  # (b, d, 2d): rows = velocity index, columns = (q, q̇)
        return lag, g[:, :d], hess[..., :d], hess[..., d:]

    def _el_terms_analytic(self, q: Tensor, qdot: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        r"""Closed-form forward-over-reverse derivatives of the built-in MLP (same outputs as :meth:`_el_terms`).

        With $z_l = W_l h_{l-1} + b_l$, $h_l = \sigma(z_l)$, $h_0 = x = (\tilde q, \dot q)$, $L = w \cdot h_K + c$:
        reverse pass $p_K = w$, $\delta_l = p_l \odot \sigma'(z_l)$, $p_{l-1} = W_l^\top \delta_l$, $\nabla_x L = p_0$;
        its derivative along $u = e_{d+i}$ (the velocity directions): $\dot z_1 = W_1 u$,
        $\dot z_{l+1} = W_{l+1}(\sigma'(z_l) \odot \dot z_l)$,
        $\dot\delta_l = \dot p_l \odot \sigma'(z_l) + p_l \odot \sigma''(z_l) \odot \dot z_l$,
        $\dot p_{l-1} = W_l^\top \dot\delta_l$, $\dot p_K = 0$, and $\dot p_0$ = row $i$ of the Hessian
        $= [J_{i,:} \mid H_{i,:}]$. Only first-order autograd is then needed for training (the wrap has derivative 1).
        """
        d = self.dim
        linears = [m for m in self.net.module if isinstance(m, nn.Linear)]
        x = torch.cat([embed_angles(q, self.angle_embedding), qdot], dim=-1)  # (b, 2d)
        softplus = self._activation == "softplus"
        # forward: z_l and the tangents ż_l of the d velocity directions, stacked as (b, 1 + d, n_l)
        w1 = linears[0].weight
        zz = torch.cat([(x @ w1.T + linears[0].bias).unsqueeze(1),
                        w1[:, d:].T.unsqueeze(0).expand(x.shape[0], d, -1)], dim=1)
        stack = []  # per hidden layer: (z, ż, σ'(z), σ''(z))
        for lin in linears[1:]:
            z, zdot = zz[:, 0], zz[:, 1:]
            if softplus:
                s1 = torch.sigmoid(z)
                h, s2 = torch.nn.functional.softplus(z), s1 * (1 - s1)
            else:
                h = torch.tanh(z)
                s1 = 1 - h * h
                s2 = -2 * h * s1
            stack.append((zdot, s1, s2))
            hh = torch.cat([h.unsqueeze(1), s1.unsqueeze(1) * zdot], dim=1)  # (h_l, ḣ_l)
            zz = hh @ lin.weight.T
            if lin is not linears[-1]:
                zz = zz + torch.cat([lin.bias.expand(x.shape[0], 1, -1), torch.zeros_like(zz[:, 1:])], dim=1)
        lag = zz[:, 0, 0] + linears[-1].bias[0]
        # reverse pass (p_l) and its derivative (ṗ_l), stacked as (b, 1 + d, n_l); ṗ_K = 0
        p = linears[-1].weight[0].expand(x.shape[0], -1)
        pdot = None
        for k in range(len(stack) - 1, -1, -1):
            zdot, s1, s2 = stack[k]
            ddelta = (p * s2).unsqueeze(1) * zdot
            if pdot is not None:
                ddelta = ddelta + pdot * s1.unsqueeze(1)
            pp = torch.cat([(p * s1).unsqueeze(1), ddelta], dim=1) @ linears[k].weight
            p, pdot = pp[:, 0], pp[:, 1:]
        return lag, p[:, :d], pdot[..., :d], pdot[..., d:]

    def euler_lagrange_terms(self, q: Tensor, qdot: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        r"""$(\nabla_q L, J, H)$ with $J_{ij} = \partial^2 L / \partial \dot q_i \partial q_j$ and
        $H_{ij} = \partial^2 L / \partial \dot q_i \partial \dot q_j$: ``(b, d), (b, d, d), (b, d, d)``."""
        check_state(q, qdot, self.dim)
        create = torch.is_grad_enabled()
        with torch.enable_grad():
            _, gq, jac, hess = self._el_terms(q, qdot, create)
        if not create:
            gq, jac, hess = gq.detach(), jac.detach(), hess.detach()
        return gq, jac, hess

    def euler_lagrange_terms_func(self, q: Tensor, qdot: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Same as :meth:`euler_lagrange_terms` through ``vmap(torch.func.hessian)`` (a cross-check; about
        2.5x slower than batched autograd on one CPU thread)."""
        check_state(q, qdot, self.dim)
        d = self.dim

        def scalar(x1: Tensor) -> Tensor:
            return self._lagrangian_x(x1.unsqueeze(0)).squeeze(0)

        x = torch.cat([q, qdot], dim=-1)
        g = vmap(func_grad(scalar))(x)
        full = vmap(func_hessian(scalar))(x)  # (b, 2d, 2d), symmetric
        return g[:, :d], full[:, d:, :d], full[:, d:, d:]

    def _solve(self, gq: Tensor, jac: Tensor, hess: Tensor, qdot: Tensor) -> Tensor:
        # a_c = (H + εI)⁻¹ (∇_q L − J q̇)
        rhs = gq - torch.einsum("bij,bj->bi", jac, qdot)
        if self.ridge > 0:
            hess = hess + self.ridge * torch.eye(self.dim, dtype=hess.dtype, device=hess.device)
        return torch.linalg.solve(hess, rhs)

    def acceleration(self, q: Tensor, qdot: Tensor, *, backend: str = "auto") -> Tensor:
        r"""Conservative acceleration $a_c = (H + \varepsilon I)^{-1}(\nabla_q L - J \dot q)$: ``(b, d), (b, d)`` ->
        ``(b, d)``.

        ``backend``: ``"autograd"`` (batched double backprop; works for any scalar module), ``"func"``
        (``vmap(torch.func.hessian)``), ``"analytic"`` (closed-form derivatives of the built-in softplus/tanh MLP)
        or ``"auto"`` (default: "analytic" where it applies, else "autograd"). All give the same values.
        """
        check_state(q, qdot, self.dim)
        if backend not in ("auto", "autograd", "func", "analytic"):
            raise ValueError(f"backend must be 'auto', 'autograd', 'func' or 'analytic', got {backend!r}")
        if backend == "func":
            gq, jac, hess = self.euler_lagrange_terms_func(q, qdot)
            return self._solve(gq, jac, hess, qdot)
        if backend == "analytic" and not self._analytic:
            raise ValueError("backend='analytic' needs the built-in MLP with softplus/tanh and angle_embedding "
                             f"None or 'wrap', got activation={self._activation!r}, "
                             f"angle_embedding={self.angle_embedding!r}")
        if backend == "analytic" or (backend == "auto" and self._analytic):
            if torch.is_grad_enabled():
                _, gq, jac, hess = self._el_terms_analytic(q, qdot)
                return self._solve(gq, jac, hess, qdot)
            with torch.no_grad():
                _, gq, jac, hess = self._el_terms_analytic(q, qdot)
                return self._solve(gq, jac, hess, qdot)
        create = torch.is_grad_enabled()
        with torch.enable_grad():
            _, gq, jac, hess = self._el_terms(q, qdot, create)
            a = self._solve(gq, jac, hess, qdot)
        return a if create else a.detach()

    def energy(self, q: Tensor, qdot: Tensor) -> Tensor:
        r"""$E_L = \dot q \cdot \partial L / \partial \dot q - L$, conserved exactly by the LNN's own dynamics:
        ``(b, d), (b, d)`` -> ``(b,)``."""
        check_state(q, qdot, self.dim)
        create = torch.is_grad_enabled()
        with torch.enable_grad():
            x = torch.cat([q, qdot], dim=-1)
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            lag = self._lagrangian_x(x)
            (g,) = torch.autograd.grad(lag.sum(), x, create_graph=create)
            e = (qdot * g[:, self.dim :]).sum(-1) - lag
        return e if create else e.detach()

    # -- common dynamics contract ------------------------------------------------------------------------
    def forward(self, q: Tensor, qdot: Tensor, t: Tensor | float | None = None) -> dict[str, Tensor]:
        """LNN alone as a dynamics model: ``{"a": a_c, "a_c": a_c}``, each ``(b, d)`` (``t`` ignored)."""
        a = self.acceleration(q, qdot)
        return {"a": a, "a_c": a}

    def loss(
        self, q: Tensor, qdot: Tensor, a_true: Tensor, t: Tensor | float | None = None, *, norm: str | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        r"""LNN-only baseline loss: $(\ell_{pred}, \ell_{pred}, 0)$ with
        $\ell_{pred} = \tfrac1n \sum_i \lVert a_i - a_{c,i} \rVert$ in ``norm`` (default: the LNN's ``norm``)."""
        _check_target(a_true, q)
        l_pred = sample_norm(a_true - self.acceleration(q, qdot), norm or self.norm).mean()
        return l_pred, l_pred, torch.zeros_like(l_pred)


def _check_target(a_true: Tensor, q: Tensor) -> None:
    if not isinstance(a_true, Tensor) or a_true.shape != q.shape:
        raise ValueError(f"a_true must have the shape of q {_shape(q)}, got {_shape(a_true)}")
    if not bool(torch.isfinite(a_true).all()):
        raise ValueError(f"a_true of shape {_shape(a_true)} contains non-finite values")


# ----------------------------------------------------------------------------------------------- UAN and MLP


class UniversalApproximatorNet(nn.Module):
    r"""Universal approximator network: an MLP $\mathbb R^{2d}$ (+ t) $\to \mathbb R^d$ whose output is directly
    the non-conservative acceleration $a_{nc}$.

    Args:
        dim: number of generalized coordinates d.
        hidden: hidden widths.
        activation: "tanh" (default), "softplus", "gelu", "silu" or "relu".
        time_input: also feed t (not in the paper; used for the identifiable Neptune variant B).
        last_layer_scale: the last layer's initial weights and bias are multiplied by this (0.1), so training
            starts near "no new physics" and the LNN gets the gradient signal first.
        angle_embedding: None, "wrap" or "sincos" (as in :class:`LagrangianNN`).
    """

    def __init__(
        self,
        *,
        dim: int,
        hidden: Sequence[int] = (128, 128),
        activation: str = "tanh",
        time_input: bool = False,
        last_layer_scale: float = 0.1,
        angle_embedding: str | None = None,
    ):
        super().__init__()
        if int(dim) <= 0:
            raise ValueError(f"dim must be a positive integer, got {dim}")
        if angle_embedding not in _EMBEDDINGS:
            raise ValueError(f"angle_embedding must be one of {_EMBEDDINGS}, got {angle_embedding!r}")
        self.dim, self.time_input, self.angle_embedding = int(dim), bool(time_input), angle_embedding
        n_in = (3 if angle_embedding == "sincos" else 2) * self.dim + int(self.time_input)
        self.net = _mlp(n_in, _check_hidden(hidden), self.dim, activation)
        with torch.no_grad():
            self.net[-1].weight.mul_(last_layer_scale)
            self.net[-1].bias.mul_(last_layer_scale)

    def forward(self, q: Tensor, qdot: Tensor, t: Tensor | float | None = None) -> Tensor:
        """a_nc: ``(b, d), (b, d), t: None | float | (b,)`` -> ``(b, d)``."""
        check_state(q, qdot, self.dim, t)
        parts = [embed_angles(q, self.angle_embedding), qdot]
        if self.time_input:
            if t is None:
                raise ValueError("t is required when time_input=True, got None")
            parts.append(_as_time_column(t, q))
        return self.net(torch.cat(parts, dim=-1))


class MLPDynamics(nn.Module):
    r"""Plain-NN baseline ("baseline NN" of the LNN paper): an MLP $\mathbb R^{2d} \to \mathbb R^d$ predicting
    $\ddot q$ directly, trained on the same $\ell_{pred} = \tfrac1n \sum_i \lVert a_i - \hat a_i \rVert$."""

    def __init__(
        self,
        *,
        dim: int,
        hidden: Sequence[int] = (128, 128),
        activation: str = "tanh",
        angle_embedding: str | None = None,
        norm: str = "l2",
    ):
        super().__init__()
        if norm not in _NORMS:
            raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
        self.uan = UniversalApproximatorNet(
            dim=dim, hidden=hidden, activation=activation, last_layer_scale=1.0, angle_embedding=angle_embedding
        )
        self.dim, self.norm = self.uan.dim, norm

    def forward(self, q: Tensor, qdot: Tensor, t: Tensor | float | None = None) -> dict[str, Tensor]:
        """``{"a": q̈}`` with ``q̈: (b, d)``."""
        return {"a": self.uan(q, qdot)}

    def loss(
        self, q: Tensor, qdot: Tensor, a_true: Tensor, t: Tensor | float | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        r"""$(\ell_{pred}, \ell_{pred}, 0)$."""
        _check_target(a_true, q)
        l_pred = sample_norm(a_true - self(q, qdot)["a"], self.norm).mean()
        return l_pred, l_pred, torch.zeros_like(l_pred)


# ----------------------------------------------------------------------------------------------- NNPhD


class NNPhD(nn.Module):
    r"""Neural New-Physics Detector: $\hat a = a_c(\text{LNN}) + a_{nc}(\text{UAN})$, loss
    $\ell_{pred} + \lambda \ell_{reg}$ with unsquared norms.

    Args:
        dim: number of generalized coordinates d.
        lnn: the conservative part (any :class:`LagrangianNN`); a default 2x128 softplus LNN if None.
        uan: the non-conservative part, any module ``(q, q̇, t) -> (b, d)``; a default 2x128 tanh UAN if None.
        lam: $\lambda$, the price per unit of UAN output; $\lambda < 1$ detects (UAN = whole residual),
            $\lambda > 1$ switches it off.
        norm: "l2" (per-sample Euclidean norm, default) or "l1"; the same unsquared norm in both terms.
    """

    def __init__(
        self,
        *,
        dim: int,
        lnn: LagrangianNN | None = None,
        uan: nn.Module | None = None,
        lam: float = 0.5,
        norm: str = "l2",
    ):
        super().__init__()
        if norm not in _NORMS:
            raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
        if not (math.isfinite(lam) and lam >= 0):
            raise ValueError(f"lam must be a finite number >= 0, got {lam}")
        self.lnn = lnn if lnn is not None else LagrangianNN(dim=dim)
        if self.lnn.dim != dim:
            raise ValueError(f"lnn.dim must equal dim={dim}, got {self.lnn.dim}")
        self.uan = uan if uan is not None else UniversalApproximatorNet(dim=dim)
        self.dim, self.lam, self.norm = int(dim), float(lam), norm

    def forward(self, q: Tensor, qdot: Tensor, t: Tensor | float | None = None) -> dict[str, Tensor]:
        """``{"a": a_c + a_nc, "a_c": a_c, "a_nc": a_nc}``, each ``(b, d)``."""
        check_state(q, qdot, self.dim, t)
        a_c = self.lnn.acceleration(q, qdot)
        a_nc = self.uan(q, qdot, t)
        return {"a": a_c + a_nc, "a_c": a_c, "a_nc": a_nc}

    def loss(
        self, q: Tensor, qdot: Tensor, a_true: Tensor, t: Tensor | float | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        r"""$(\ell, \ell_{pred}, \ell_{reg})$ with $\ell_{pred} = \tfrac1n \sum_i \lVert a_i - \hat a_i \rVert$,
        $\ell_{reg} = \tfrac1n \sum_i \lVert a_{nc,i} \rVert$, $\ell = \ell_{pred} + \lambda \ell_{reg}$."""
        _check_target(a_true, q)
        out = self(q, qdot, t)
        l_pred = sample_norm(a_true - out["a"], self.norm).mean()
        l_reg = sample_norm(out["a_nc"], self.norm).mean()
        return l_pred + self.lam * l_reg, l_pred, l_reg

    def detect(self, q: Tensor, qdot: Tensor, t: Tensor | float | None = None) -> Tensor:
        r"""Per-sample size of the detected new physics $\lVert a_{nc} \rVert$: ``(b,)``."""
        return sample_norm(self(q, qdot, t)["a_nc"], self.norm)


class TimeScaled(nn.Module):
    r"""A dynamics model trained in the time unit $u$ (seconds per unit, e.g. $\sqrt{l/g}$), used in seconds.

    With $t' = t/u$: $\dot q' = u \dot q$ and $\ddot q = \ddot q' / u^2$, so ``forward(q, qdot, t)`` returns the
    wrapped model's outputs at $(q, u \dot q, t/u)$ with every acceleration (``"a"``, ``"a_c"``, ``"a_nc"``) divided
    by $u^2$. Shapes as the wrapped model: ``(b, d)`` each.
    """

    def __init__(self, model: nn.Module, unit: float):
        super().__init__()
        if not (unit > 0 and math.isfinite(unit)):
            raise ValueError(f"time unit must be finite and > 0, got {unit}")
        self.model, self.unit = model, float(unit)

    def forward(self, q: Tensor, qdot: Tensor, t: Tensor | float | None = None) -> dict[str, Tensor]:
        t_in = None if t is None else t / self.unit
        out = self.model(q, qdot * self.unit, t_in)
        return {k: (v / self.unit**2 if k in ("a", "a_c", "a_nc") else v) for k, v in out.items()}
