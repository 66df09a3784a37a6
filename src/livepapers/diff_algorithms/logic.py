r"""Deep differentiable logic gate networks (Petersen et al., NeurIPS 2022).

Each neuron reads two inputs $a, b \in [0, 1]$ through a fixed random wiring and holds $w \in \mathbb{R}^{16}$; its
output is the expectation of the 16 binary Boolean functions under $p = \mathrm{softmax}(w)$ with probabilistic logic,
$y = \sum_{i=0}^{15} p_i \, g_i(a, b)$ with $g_i = c_{i0} + c_{i1} a + c_{i2} b + c_{i3} ab$,
so with the fixed table $C \in \mathbb{R}^{16 \times 4}$ a layer computes $W = \mathrm{softmax}(w) \, C$ and
$y = W_0 + W_1 a + W_2 b + W_3 ab$ (the "fast 4-coefficient form", ~4× cheaper than the 16-term sum
:func:`bin_op_s`). In eval mode each neuron uses its argmax gate, and with Boolean inputs the network is an exact
Boolean circuit. ``GroupSum`` turns the last layer's ``k`` outputs into ``C`` class scores
$z_c = \frac{1}{\tau} \sum_{j \in \text{group } c} y_j$.

Shapes: ``b`` batch, ``i`` input features, ``k`` neurons. ``x: (b, i) -> (b, k)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._inputs import as_generator, check_finite, check_positive
from .bits import PackBitsTensor

__all__ = [
    "GATE_COEFFS",
    "GATE_NAMES",
    "GroupSum",
    "LogicLayer",
    "PackBitsTensor",
    "bin_op",
    "bin_op_s",
    "binarize",
    "logic_accuracy",
    "make_logic_net",
    "random_connections",
    "unique_connections",
]

GATE_NAMES = ("FALSE", "AND", "A_AND_NOT_B", "A", "NOT_A_AND_B", "B", "XOR", "OR", "NOR", "XNOR", "NOT_B",
              "A_OR_NOT_B", "NOT_A", "NOT_A_OR_B", "NAND", "TRUE")
"""The official ``difflogic`` gate ids 0..15 (a gate's id is its truth table on (0,0),(0,1),(1,0),(1,1), MSB first)."""

# (c0, c1, c2, c3): g = c0 + c1·a + c2·b + c3·a·b   (table of §2, official id order)
GATE_COEFFS = torch.tensor([
    [0, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, -1], [0, 1, 0, 0],
    [0, 0, 1, -1], [0, 0, 1, 0], [0, 1, 1, -2], [0, 1, 1, -1],
    [1, -1, -1, 1], [1, -1, -1, 2], [1, 0, -1, 0], [1, 0, -1, 1],
    [1, -1, 0, 0], [1, -1, 0, 1], [1, 0, 0, -1], [1, 0, 0, 0],
], dtype=torch.float32)


def bin_op(a: Tensor, b: Tensor, i: int) -> Tensor:
    """Probabilistic relaxation of gate ``i`` written out as in the paper's table (reference form)."""
    ab = a * b
    ops = (
        lambda: torch.zeros_like(a), lambda: ab, lambda: a - ab, lambda: a,
        lambda: b - ab, lambda: b, lambda: a + b - 2 * ab, lambda: a + b - ab,
        lambda: 1 - (a + b - ab), lambda: 1 - (a + b - 2 * ab), lambda: 1 - b, lambda: 1 - b + ab,
        lambda: 1 - a, lambda: 1 - a + ab, lambda: 1 - ab, lambda: torch.ones_like(a),
    )
    if not 0 <= i < 16:
        raise ValueError(f"gate id must be in 0..15, got {i}")
    return ops[i]()


def bin_op_s(a: Tensor, b: Tensor, probs: Tensor) -> Tensor:
    r"""Reference 16-term form $\sum_i p_i \, g_i(a, b)$; ``a, b: (b, k)``, ``probs: (k, 16)`` -> ``(b, k)``."""
    if probs.shape[-1] != 16:
        raise ValueError(f"probs must end in 16 gate probabilities, got shape {tuple(probs.shape)}")
    out = torch.zeros_like(a)
    for i in range(16):
        out = out + probs[..., i] * bin_op(a, b, i)
    return out


class _FastGate(torch.autograd.Function):
    r"""$y = W_0 + W_1 a + W_2 b + W_3 a b$ with ``a = x[:, a_idx]``, ``b = x[:, b_idx]: (b, k)`` and ``W: (4, k)``.

    Saves only ``a, b, W``. The gathers use ``index_select`` and the input gradient ``index_add_`` (advanced
    indexing and its scatter backward are ~10× slower on CPU). ``grad_factor`` multiplies the input gradient.
    """

    @staticmethod
    def forward(ctx, x: Tensor, a_idx: Tensor, b_idx: Tensor, W: Tensor, grad_factor: float) -> Tensor:  # type: ignore[override]
        a = x.index_select(1, a_idx)
        b = x.index_select(1, b_idx)
        w0, w1, w2, w3 = W
        ctx.save_for_backward(a, b, W, a_idx, b_idx)
        ctx.in_dim, ctx.grad_factor = x.shape[1], grad_factor
        return torch.addcmul(w0, w1, a).addcmul_(b, torch.addcmul(w2, w3, a))

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        a, b, W, a_idx, b_idx = ctx.saved_tensors
        _w0, w1, w2, w3 = W
        grad_x = grad_W = None
        if ctx.needs_input_grad[0]:
            # ∂y/∂a = W1 + W3·b,  ∂y/∂b = W2 + W3·a
            ga = g * torch.addcmul(w1, w3, b)
            gb = g * torch.addcmul(w2, w3, a)
            grad_x = torch.zeros(g.shape[0], ctx.in_dim, dtype=g.dtype, device=g.device)
            grad_x.index_add_(1, a_idx, ga).index_add_(1, b_idx, gb)
            if ctx.grad_factor != 1.0:
                grad_x.mul_(ctx.grad_factor)
        if ctx.needs_input_grad[3]:
            # ∂y/∂W = [1, a, b, ab]
            ga_ = g * a
            grad_W = torch.stack([g.sum(0), ga_.sum(0), (g * b).sum(0), (ga_ * b).sum(0)])
        return grad_x, None, None, grad_W, None


def _scale_grad(x: Tensor, factor: float) -> Tensor:
    """Identity in the forward pass, gradient × ``factor`` in the backward pass."""
    return x * factor + x.detach() * (1.0 - factor)


def unique_connections(in_dim: int, out_dim: int,
                       generator: torch.Generator | int | None = None) -> tuple[Tensor, Tensor]:
    """Official ``'unique'`` wiring: pairs (0,1),(2,3),…, then (1,2),(3,4),…, then (i,i+2), (i,i+3), …

    The first ``out_dim`` pairs are taken and permuted with one random permutation; no pair repeats.
    ``generator``: an int seed or a ``torch.Generator`` (None: torch's global generator).
    """
    generator = None if generator is None else as_generator(generator)
    max_pairs = in_dim * (in_dim - 1) // 2
    if out_dim > max_pairs:
        raise ValueError(f"connections='unique' allows at most in_dim·(in_dim−1)/2 = {max_pairs} neurons for "
                         f"in_dim={in_dim}, got out_dim={out_dim}; use connections='random'")
    a = list(range(0, in_dim - 1, 2))
    b = [i + 1 for i in a]
    if len(a) < out_dim:
        a += list(range(1, in_dim - 1, 2))
        b += [i + 1 for i in range(1, in_dim - 1, 2)]
    offset = 2
    while len(a) < out_dim and offset < in_dim:
        a += list(range(in_dim - offset))
        b += list(range(offset, in_dim))
        offset += 1
    a_t, b_t = torch.tensor(a[:out_dim]), torch.tensor(b[:out_dim])
    perm = torch.randperm(out_dim, generator=generator)
    return a_t[perm], b_t[perm]


def random_connections(in_dim: int, out_dim: int,
                       generator: torch.Generator | int | None = None) -> tuple[Tensor, Tensor]:
    """Official ``'random'`` wiring: ``c = randperm(2·out) mod in``; ``c = randperm(in)[c]``;
    ``a, b = c.reshape(2, out)``. ``generator``: an int seed or a ``torch.Generator`` (None: torch's global one)."""
    generator = None if generator is None else as_generator(generator)
    c = torch.randperm(2 * out_dim, generator=generator) % in_dim
    c = torch.randperm(in_dim, generator=generator)[c]
    a, b = c.reshape(2, out_dim)
    return a.contiguous(), b.contiguous()


def binarize(x: Tensor) -> Tensor:
    """The one threshold used everywhere (eval, compiled, packed): ``x > 0.5``."""
    return (x > 0.5).to(torch.float32)


class LogicLayer(nn.Module):
    """A layer of ``out_dim`` differentiable 2-input logic gates with fixed wiring.

    Args:
        in_dim: number of inputs ``i``.
        out_dim: number of neurons ``k`` (needs ``2·out_dim ≥ in_dim``).
        grad_factor: multiplier on the gradient w.r.t. the layer input (≈ 1–2 for deep nets).
        connections: ``'unique'`` (official experiments) or ``'random'`` (difflogic's class default).
        seed: an int seed or a ``torch.Generator`` (drawn from, in place) for the wiring and the initial weights
            (the wiring is a buffer, saved in the ``state_dict``); None draws a seed from torch's global generator.
        implementation: ``'fast'`` (4-coefficient form) or ``'reference'`` (16-term sum, for benchmarks/tests).
    """

    def __init__(self, in_dim: int, out_dim: int, *, grad_factor: float = 1.0, connections: str = "unique",
                 seed: int | torch.Generator | None = None, implementation: str = "fast") -> None:
        super().__init__()
        if in_dim < 1 or out_dim < 1:
            raise ValueError(f"in_dim and out_dim must be >= 1, got in_dim={in_dim}, out_dim={out_dim}")
        if 2 * out_dim < in_dim:
            raise ValueError(f"LogicLayer needs 2·out_dim >= in_dim to use every input; got in_dim={in_dim}, "
                             f"out_dim={out_dim}")
        if connections not in ("unique", "random"):
            raise ValueError(f"unknown connections {connections!r}; allowed: 'unique', 'random'")
        if implementation not in ("fast", "reference"):
            raise ValueError(f"unknown implementation {implementation!r}; allowed: 'fast', 'reference'")
        gen = as_generator(int(torch.randint(0, 2**62, (1,))) if seed is None else seed, "seed")
        make = unique_connections if connections == "unique" else random_connections
        a, b = make(in_dim, out_dim, gen)
        self.in_dim, self.out_dim = in_dim, out_dim
        self.grad_factor = check_finite(grad_factor, "grad_factor")
        self.connections = connections
        self.implementation = implementation
        self.register_buffer("a_idx", a.long())
        self.register_buffer("b_idx", b.long())
        self.register_buffer("coeffs", GATE_COEFFS.clone(), persistent=False)
        # w ~ N(0, 1) per neuron and gate
        self.weights = nn.Parameter(torch.randn(out_dim, 16, generator=gen))

    def gate_ids(self) -> Tensor:
        """Argmax gate of each neuron, ``(k,)`` long (what eval mode and the compiled net use)."""
        return self.weights.argmax(-1)

    def forward(self, x: Tensor) -> Tensor:
        """``x: (b, in_dim)`` in [0, 1] -> ``(b, out_dim)``; eval mode uses the argmax gate of each neuron."""
        if isinstance(x, PackBitsTensor):
            return x.apply_layer(self.a_idx, self.b_idx, self.gate_ids())
        if x.dim() != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"LogicLayer expects x of shape (batch, {self.in_dim}), got {tuple(x.shape)}")
        if self.training:
            probs = torch.softmax(self.weights, dim=-1)
        else:
            probs = nn.functional.one_hot(self.gate_ids(), 16).to(x.dtype)
        if self.implementation == "reference":
            a, b = x[:, self.a_idx], x[:, self.b_idx]
            if self.grad_factor != 1.0 and x.requires_grad:
                a = _scale_grad(a, self.grad_factor)
                b = _scale_grad(b, self.grad_factor)
            return bin_op_s(a, b, probs)
        W = (probs @ self.coeffs.to(probs.dtype)).t().contiguous()  # (4, k): W = softmax(w) @ C
        return _FastGate.apply(x, self.a_idx, self.b_idx, W, self.grad_factor)

    def extra_repr(self) -> str:
        return f"{self.in_dim}, {self.out_dim}, connections={self.connections!r}, grad_factor={self.grad_factor}"


class GroupSum(nn.Module):
    r"""Class scores from the last layer: $z_c = \frac{1}{\tau} \sum_{j \in \text{group } c} y_j$ over ``k``
    contiguous groups.

    Args:
        k: number of classes ``C`` (the input width must be divisible by it).
        tau: the temperature $\tau$.
    """

    def __init__(self, k: int, tau: float = 1.0) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"GroupSum needs k >= 1, got k={k}")
        self.k, self.tau = int(k), check_positive(tau, "tau")

    def forward(self, x: Tensor) -> Tensor:
        """``x: (b, k·g) -> (b, k)``."""
        if isinstance(x, PackBitsTensor):
            return x.group_sum(self.k).to(torch.float32) / self.tau
        if x.shape[-1] % self.k:
            raise ValueError(f"GroupSum(k={self.k}) needs a width divisible by k, got {x.shape[-1]}")
        return x.reshape(*x.shape[:-1], self.k, x.shape[-1] // self.k).sum(-1) / self.tau

    def extra_repr(self) -> str:
        return f"k={self.k}, tau={self.tau}"


def make_logic_net(in_dim: int, width: int, depth: int, num_classes: int, tau: float, connections: str,
                   seed: int | torch.Generator) -> nn.Sequential:
    """``depth`` :class:`LogicLayer` s of ``width`` gates and a :class:`GroupSum` over ``num_classes`` groups with
    temperature ``tau``. ``seed``: an int (layer ``i`` is seeded with ``seed + i``) or a ``torch.Generator`` (every
    layer draws from it in turn)."""
    check_positive(tau, "tau")
    if not isinstance(seed, torch.Generator):
        as_generator(seed, "seed")  # the type check
    seeds = [seed] * depth if isinstance(seed, torch.Generator) else [seed + i for i in range(depth)]
    layers: list[nn.Module] = [LogicLayer(in_dim, width, connections=connections, seed=seeds[0])]
    layers += [LogicLayer(width, width, connections=connections, seed=seeds[i + 1]) for i in range(depth - 1)]
    return nn.Sequential(*layers, GroupSum(num_classes, tau))


@torch.no_grad()
def logic_accuracy(model: nn.Module, x: Tensor, y: Tensor, *, discrete: bool) -> float:
    """Accuracy on Boolean inputs, in train mode (soft gates) or eval mode (argmax gates); leaves train mode on."""
    model.train(not discrete)
    acc = float((model(x).argmax(-1) == y).float().mean())
    model.train()
    return acc

