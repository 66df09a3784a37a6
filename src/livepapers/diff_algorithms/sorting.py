r"""Differentiable sorting networks (Petersen et al., ICML 2021) with monotonic sigmoids (ICLR 2022).

A sorting network is a fixed list of layers of disjoint conditional swaps ``(i, j)``, ``i < j``. Each swap is
relaxed (thesis §0): with $a$ on wire ``i``, $b$ on wire ``j`` and $\alpha = f(\beta (b - a))$,
$\mathrm{min}_f = \alpha a + (1-\alpha) b$ and $\mathrm{max}_f = (1-\alpha) a + \alpha b$,
and the soft permutation $P$ (inputs in rows, ranks in columns, ``sorted = x @ P``) updates the two columns
$P_{:, i} \gets \alpha P_{:, i} + (1-\alpha) P_{:, j}$, $P_{:, j} \gets (1-\alpha) P_{:, i} + \alpha P_{:, j}$.

Both updates have the same shape on either wire $w$ of a pair with partner $p(w)$:
$x_w \gets \gamma_w x_w + (1 - \gamma_w) x_{p(w)}$ with $\gamma = \alpha$ for an ordinary comparator,
$\gamma = 1 - \alpha$ for a reversed one (max to the lower wire, official bitonic network) and $\gamma = 1$ for a wire
the layer does not touch. This module stores every layer as its ``partner`` index vector plus a flag per wire, so a
layer costs $O(n)$ for the values and $O(n^2)$ for $P$ (the official code multiplies dense $n \times n$ matrices:
$O(n^3)$ per layer).

Shapes: ``b`` batch, ``n`` wires/items, ``L`` layers. ``x: (b, n)``, ``P: (b, n, n)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from livepapers.core.stats import max_or_nan, min_or_nan

from ._inputs import as_generator, check_finite, check_positive

__all__ = [
    "MONOTONE",
    "RANKING_METRICS",
    "SIGMOIDS",
    "WORST_SWAP_ERROR",
    "DiffSortNet",
    "DigitScorer",
    "SortingNetwork",
    "bitonic_network",
    "hard_sort",
    "monotonicity_checks",
    "odd_even_network",
    "perm_bce_loss",
    "ranking_metrics",
    "scorer_ranking_metrics",
    "sort",
    "swap_error",
    "swap_error_checks",
]

# ------------------------------------------------------------------------------------------------
# sigmoids f with f(v) + f(-v) = 1; v = β·x (the names are diffsort 0.2's `distribution=` values)
# ------------------------------------------------------------------------------------------------


def _logistic(x: Tensor, steepness: float, art_lambda: float) -> Tensor:
    # f(v) = 1 / (1 + e^{-v})
    return torch.sigmoid(steepness * x)


def _logistic_phi(x: Tensor, steepness: float, art_lambda: float) -> Tensor:
    # ART (ICML'21): f = σ(β·x / (|x| + 1e-10)^λ); the 1e-10 sits inside the power as in the official code
    return torch.sigmoid(steepness * x / (x.abs() + 1e-10) ** art_lambda)


def _gaussian(x: Tensor, steepness: float, art_lambda: float) -> Tensor:
    # f(v) = Φ(v) = ½ (1 + erf(v / √2))
    return 0.5 * (1.0 + torch.erf(steepness * x / math.sqrt(2.0)))


def _reciprocal(x: Tensor, steepness: float, art_lambda: float) -> Tensor:
    # f(v) = ½ (v / (2 + |v|) + 1)   (diffsort's form; GenDR uses 1 + |v|)
    v = steepness * x
    return 0.5 * (v / (2.0 + v.abs()) + 1.0)


def _cauchy(x: Tensor, steepness: float, art_lambda: float) -> Tensor:
    # f(v) = ½ + arctan(v) / π
    return 0.5 + torch.atan(steepness * x) / math.pi


def _optimal(x: Tensor, steepness: float, art_lambda: float) -> Tensor:
    # f(v) = v + ½ for |v| ≤ ¼;  1 − 1/(16 v) for v > ¼;  −1/(16 v) for v < −¼   (ICLR'22, smallest error bound)
    v = steepness * x
    safe = torch.where(v.abs() > 0.25, v, torch.ones_like(v))  # keeps the unused branch finite (and its grad)
    tail = torch.where(v > 0, 1.0 - 1.0 / (16.0 * safe), -1.0 / (16.0 * safe))
    return torch.where(v.abs() <= 0.25, v + 0.5, tail)


SIGMOIDS: dict[str, Callable[[Tensor, float, float], Tensor]] = {
    "logistic": _logistic,
    "logistic_phi": _logistic_phi,
    "gaussian": _gaussian,
    "reciprocal": _reciprocal,
    "cauchy": _cauchy,
    "optimal": _optimal,
}
"""name -> ``f(x, steepness, art_lambda)``, the relaxed indicator of ``x ≥ 0`` (``x = b − a``)."""

MONOTONE = ("cauchy", "reciprocal", "optimal")


def _check_distribution(distribution: str) -> Callable[[Tensor, float, float], Tensor]:
    if distribution not in SIGMOIDS:
        raise ValueError(f"unknown distribution {distribution!r}; allowed: {', '.join(SIGMOIDS)}")
    return SIGMOIDS[distribution]


def swap_error(x: Tensor, *, steepness: float, distribution: str, art_lambda: float = 0.25) -> Tensor:
    r"""Error of the relaxed min of two values $x$ apart: $|x| \, f(-\beta |x|)$ (ICLR'22; the same for max).

    For ART the formula is applied to the ART sigmoid itself: $|x| \, \sigma(-\beta |x|^{1-\lambda})$.
    """
    f = _check_distribution(distribution)
    check_positive(steepness, "steepness")
    check_finite(art_lambda, "art_lambda")
    ax = x.abs()
    return ax * f(-ax, steepness, art_lambda)


# ------------------------------------------------------------------------------------------------
# networks as index pairs
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SortingNetwork:
    """A sorting network on ``n`` wires held as index vectors (never dense matrices).

    Attributes:
        n: number of wires.
        partner: ``(L, n)`` long; ``partner[l, w]`` is the wire compared with ``w`` in layer ``l`` (``w`` itself
            when the layer does not touch ``w``).
        reverse: ``(L, n)`` bool; True on both wires of a comparator that puts the max on the lower wire.
        kind: ``'odd_even'`` or ``'bitonic'``.
    """

    n: int
    partner: Tensor
    reverse: Tensor
    kind: str

    @property
    def depth(self) -> int:
        return int(self.partner.shape[0])

    def pairs(self) -> list[list[tuple[int, int]]]:
        """The comparators of every layer as ``(i, j)`` with ``i < j``."""
        out = []
        for row in self.partner.tolist():
            out.append([(i, j) for i, j in enumerate(row) if i < j])
        return out

    def comparator_count(self) -> int:
        return int((self.partner != torch.arange(self.n)).sum()) // 2


def _from_layers(n: int, layers: list[list[tuple[int, int, bool]]], kind: str) -> SortingNetwork:
    partner = torch.arange(n).repeat(len(layers), 1)
    reverse = torch.zeros(len(layers), n, dtype=torch.bool)
    for l, comps in enumerate(layers):
        for i, j, rev in comps:
            partner[l, i], partner[l, j] = j, i
            reverse[l, i] = reverse[l, j] = rev
    return SortingNetwork(n=n, partner=partner, reverse=reverse, kind=kind)


def _check_size(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise ValueError(f"size must be an int >= 2, got {n!r}")


def odd_even_network(n: int) -> SortingNetwork:
    """Odd-even transposition network: ``n`` layers; layer ``l`` compares ``(i, i+1)``, ``i = l mod 2, +2, …``."""
    _check_size(n)
    layers = [[(i, i + 1, False) for i in range(l % 2, n - 1, 2)] for l in range(n)]
    return _from_layers(n, layers, "odd_even")


def bitonic_network(n: int) -> SortingNetwork:
    r"""Bitonic sorting network with $k(k+1)/2$ layers, $k = \lceil \log_2 n \rceil$.

    ``n = 2^k``: exactly the official ``diffsort`` network (block ``b``, sub-layer ``s``, stride ``m = 2^(b−s)``,
    comparator reversed when ``(ix // 2^(b+1))`` is odd).
    Other ``n``: the *flip* form on ``2^k`` wires (every comparator puts the min on its lower wire; first layer of
    block ``b`` compares ``(base + i, base + s − 1 − i)``, ``s = 2^(b+1)``, then strides ``s/4, …, 1``), with the
    virtual wires on top (``≥ n``, acting as ``+∞``) so every comparator touching them is deleted. The official
    virtual-wire construction does not sort for n ∈ {22, 38, 42–46, 54, …} and is deliberately not used.
    """
    _check_size(n)
    k = max(1, math.ceil(math.log2(n)))
    n2 = 2**k
    layers: list[list[tuple[int, int, bool]]] = []
    if n2 == n:
        for b in range(k):
            for s in range(b + 1):
                m = 2 ** (b - s)
                comps = []
                for i in range(0, n, 2 * m):
                    for ix in range(i, i + m):
                        comps.append((ix, ix + m, (ix // 2 ** (b + 1)) % 2 == 1))
                layers.append(comps)
        return _from_layers(n, layers, "bitonic")
    for b in range(k):
        s = 2 ** (b + 1)
        comps = [(base + i, base + s - 1 - i, False) for base in range(0, n2, s) for i in range(s // 2)]
        layers.append([c for c in comps if c[1] < n])
        m = s // 4
        while m >= 1:
            comps = [(ix, ix + m, False) for i in range(0, n2, 2 * m) for ix in range(i, i + m)]
            layers.append([c for c in comps if c[1] < n])
            m //= 2
    return _from_layers(n, layers, "bitonic")


def _network(kind: str, n: int) -> SortingNetwork:
    if kind == "odd_even":
        return odd_even_network(n)
    if kind == "bitonic":
        return bitonic_network(n)
    raise ValueError(f"unknown sorting_network_type {kind!r}; allowed: 'odd_even', 'bitonic'")


# ------------------------------------------------------------------------------------------------
# soft permutation: custom autograd with √L checkpoints (memory (L/c + c)·b·n² instead of L·b·n²)
# ------------------------------------------------------------------------------------------------


def _apply_layer_(pt: Tensor, gamma: Tensor, partner: Tensor, buf: Tensor) -> Tensor:
    r"""In place on ``pt: (b, n_wires, n_in)`` ($= P^\top$): row $w \leftarrow \gamma_w \, \text{row}_w + (1 - \gamma_w)
    \, \text{row}_{p(w)}$.

    Rows are contiguous, so the partner gather is a row copy; ``buf`` is a preallocated scratch tensor (fresh
    32 MB allocations per layer cost more than the arithmetic at n = 1024).
    """
    torch.index_select(pt, 1, partner, out=buf)
    return pt.lerp_(buf, (1.0 - gamma).unsqueeze(-1))  # pt + (1−γ)(pp − pt) = γ·pt + (1−γ)·pp


class _PermutationFn(torch.autograd.Function):
    r"""$P^\top = M_L^\top \cdots M_1^\top I$ from the per-layer coefficients ``gammas: (L, b, n)``; returns
    ``Pᵀ: (b, n, n)``.

    Memory: checkpoints every $c = \lceil \sqrt{L} \rceil$ layers plus one recomputed segment,
    $(L/c + c + 3) \, b n^2$ floats, instead of the $L b n^2$ plain autograd would keep.
    """

    @staticmethod
    def forward(ctx, gammas: Tensor, partner: Tensor) -> Tensor:  # type: ignore[override]
        L, b, n = gammas.shape
        every = max(1, math.ceil(math.sqrt(L)))
        pt = torch.eye(n, dtype=gammas.dtype, device=gammas.device).expand(b, n, n).contiguous()
        buf = torch.empty_like(pt)
        checkpoints = []
        for l in range(L):
            if l % every == 0:
                checkpoints.append(pt.clone())
            _apply_layer_(pt, gammas[l], partner[l], buf)
        ctx.every = every
        ctx.save_for_backward(gammas, partner, *checkpoints)
        return pt

    @staticmethod
    def backward(ctx, grad_pt: Tensor):  # type: ignore[override]
        gammas, partner, *checkpoints = ctx.saved_tensors
        L, _b, _n = gammas.shape
        every = ctx.every
        grad_gammas = torch.zeros_like(gammas)
        g = grad_pt.clone(memory_format=torch.contiguous_format)
        buf = torch.empty_like(g)
        seg_inputs = [torch.empty_like(g) for _ in range(min(every, L))]
        for seg in reversed(range(len(checkpoints))):
            start, stop = seg * every, min(L, (seg + 1) * every)
            seg_inputs[0].copy_(checkpoints[seg])
            for l in range(start, stop - 1):
                i = l - start
                _apply_layer_(seg_inputs[i + 1].copy_(seg_inputs[i]), gammas[l], partner[l], buf)
            for l in reversed(range(start, stop)):
                pin = seg_inputs[l - start]
                gam = gammas[l].unsqueeze(-1)
                # ∂/∂γ_w = Σ_r G[w, r] · (Pin[w, r] − Pin[p(w), r])
                torch.index_select(pin, 1, partner[l], out=buf)
                torch.sub(pin, buf, out=buf)
                grad_gammas[l] = buf.mul_(g).sum(-1)
                # ∂/∂Pin[v] = γ_v G[v] + (1 − γ_{p(v)}) G[p(v)]   (p is an involution)
                torch.index_select(g, 1, partner[l], out=buf)
                g.mul_(gam).addcmul_(buf, (1.0 - gam).index_select(1, partner[l]))
        return grad_gammas, None


# ------------------------------------------------------------------------------------------------
# the relaxed sort
# ------------------------------------------------------------------------------------------------


def sort(network: SortingNetwork, x: Tensor, steepness: float = 10.0, art_lambda: float = 0.25,
         distribution: str = "cauchy", *, return_permutation: bool = True) -> tuple[Tensor, Tensor | None]:
    """Relaxed sort of ``x: (b, n)`` ascending through ``network``.

    Returns:
        ``(sorted (b, n), P (b, n, n))`` with ``sorted = x @ P`` (P: inputs in rows, ranks in columns); ``P`` is
        ``None`` when ``return_permutation=False`` (values only, ``O(n)`` per layer).
    """
    f = _check_distribution(distribution)
    if x.dim() != 2 or x.shape[1] != network.n:
        raise ValueError(f"x must have shape (batch, {network.n}), got {tuple(x.shape)}")
    check_positive(steepness, "steepness")
    check_finite(art_lambda, "art_lambda")
    partner = network.partner.to(x.device)
    reverse = network.reverse.to(x.device)
    idx = torch.arange(network.n, device=x.device)
    gammas = []
    for l in range(network.depth):
        p = partner[l]
        xp = x[:, p]
        active = p != idx
        lower = idx < p
        # α = f(β·(b − a)) with a the value on the lower wire of the pair
        diff = torch.where(lower, xp - x, x - xp)
        alpha = f(diff, steepness, art_lambda)
        gamma = torch.where(reverse[l], 1.0 - alpha, alpha)
        gamma = torch.where(active, gamma, torch.ones_like(gamma))
        # new_w = γ_w·x_w + (1 − γ_w)·x_{p(w)}  (soft min on the lower wire, soft max on the upper one)
        x = xp + gamma * (x - xp)
        gammas.append(gamma)
    if not return_permutation:
        return x, None
    pt = _PermutationFn.apply(torch.stack(gammas), partner)
    return x, pt.transpose(1, 2)


def hard_sort(network: SortingNetwork, x: Tensor) -> Tensor:
    r"""The network with exact comparators (the $\beta \to \infty$ limit): ``x: (b, n) -> (b, n)``."""
    if x.dim() != 2 or x.shape[1] != network.n:
        raise ValueError(f"x must have shape (batch, {network.n}), got {tuple(x.shape)}")
    idx = torch.arange(network.n, device=x.device)
    for l in range(network.depth):
        p = network.partner[l].to(x.device)
        xp = x[:, p]
        lo, hi = torch.minimum(x, xp), torch.maximum(x, xp)
        take_min = (idx < p) ^ network.reverse[l].to(x.device)
        x = torch.where(p == idx, x, torch.where(take_min, lo, hi))
    return x


class DiffSortNet(nn.Module):
    r"""Differentiable sorting network (``diffsort.DiffSortNet`` conventions: ascending, ``sorted = x @ P``).

    Args:
        sorting_network_type: ``'odd_even'`` or ``'bitonic'``.
        size: number of items ``n`` (any ``n ≥ 2``; bitonic for non-powers of two uses the corrected network).
        steepness: $\beta$, the inverse temperature of the relaxation.
        art_lambda: $\lambda$ of the activation replacement trick (``distribution='logistic_phi'`` only).
        distribution: one of :data:`SIGMOIDS` (``'cauchy'`` is the default of diffsort ≥ 0.2).
        device: where the index tensors live.
    """

    def __init__(self, sorting_network_type: str, size: int, *, steepness: float = 10.0, art_lambda: float = 0.25,
                 distribution: str = "cauchy", device: str | torch.device = "cpu") -> None:
        super().__init__()
        _check_distribution(distribution)
        check_positive(steepness, "steepness")
        check_finite(art_lambda, "art_lambda")
        self.network = _network(sorting_network_type, size)
        self.sorting_network_type = sorting_network_type
        self.size = size
        self.steepness = float(steepness)
        self.art_lambda = float(art_lambda)
        self.distribution = distribution
        self.network = SortingNetwork(n=size, partner=self.network.partner.to(device),
                                      reverse=self.network.reverse.to(device), kind=sorting_network_type)

    def forward(self, x: Tensor, *, return_permutation: bool = True) -> tuple[Tensor, Tensor | None]:
        """``x: (b, n) -> (sorted (b, n), P (b, n, n) or None)``."""
        return sort(self.network, x, self.steepness, self.art_lambda, self.distribution,
                    return_permutation=return_permutation)

    def soft_rank(self, x: Tensor) -> Tensor:
        """Expected rank of each input (0 = smallest): ``P @ arange(n)``, shape ``(b, n)``."""
        _, p = self.forward(x)
        return p @ torch.arange(self.size, dtype=p.dtype, device=p.device)

    def extra_repr(self) -> str:
        return (f"{self.sorting_network_type}, size={self.size}, steepness={self.steepness}, "
                f"distribution={self.distribution!r}")


# ------------------------------------------------------------------------------------------------
# loss and metrics
# ------------------------------------------------------------------------------------------------


def target_permutation(targets: Tensor) -> Tensor:
    """``Q: (b, n, n)`` with ``Q[i, j] = 1`` iff item ``i`` has rank ``j`` in the true order (same orientation as P)."""
    order = targets.argsort(dim=-1)  # order[j] = item at rank j
    n = targets.shape[-1]
    return torch.nn.functional.one_hot(order, n).transpose(-2, -1).to(targets.dtype if targets.is_floating_point()
                                                                      else torch.float32)


def perm_bce_loss(P: Tensor, targets: Tensor) -> Tensor:
    """Mean binary cross-entropy between ``P: (b, n, n)`` and the true permutation of ``targets: (b, n)``."""
    if P.dim() != 3 or P.shape[0] != targets.shape[0] or P.shape[1:] != (targets.shape[1], targets.shape[1]):
        raise ValueError(f"P must be (b, n, n) matching targets (b, n); got {tuple(P.shape)}, {tuple(targets.shape)}")
    q = target_permutation(targets).to(P.dtype)
    return torch.nn.functional.binary_cross_entropy(P.clamp(0.0, 1.0), q)


RANKING_METRICS = ("em", "ew", "em5")
"""The keys of :func:`ranking_metrics`."""


@torch.no_grad()
def ranking_metrics(scores: Tensor, targets: Tensor) -> dict[str, float]:
    """Exact match ``em`` (whole ranking right), element-wise ``ew``, ``em5`` (first 5 items) of ``(b, n)`` scores."""
    if scores.shape != targets.shape or scores.dim() != 2:
        raise ValueError(f"scores and targets must both be (b, n); got {tuple(scores.shape)}, {tuple(targets.shape)}")
    rank_pred = scores.argsort(-1).argsort(-1)
    rank_true = targets.argsort(-1).argsort(-1)
    eq = rank_pred == rank_true
    k = min(5, scores.shape[1])
    rp5 = scores[:, :k].argsort(-1).argsort(-1)
    rt5 = targets[:, :k].argsort(-1).argsort(-1)
    return {"em": float(eq.all(-1).float().mean()), "ew": float(eq.float().mean()),
            "em5": float((rp5 == rt5).all(-1).float().mean())}


# ------------------------------------------------------------------------------------------------
# the thesis' experiments: the 4-digit scorer, and the analytic checks of monotonicity and error bounds (R2)
# ------------------------------------------------------------------------------------------------


class DigitScorer(nn.Module):
    """The scorer CNN of the 4-digit ranking experiments: conv(1→32, 3×3)–ReLU–pool–conv(32→64, 3×3)–ReLU–pool–
    FC(1024→64)–ReLU–FC(64→1); ``(b, 8, 32) -> (b,)``."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 2 * 8, 64), nn.ReLU(), nn.Linear(64, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.unsqueeze(1)).squeeze(-1)


@torch.no_grad()
def scorer_ranking_metrics(model: DigitScorer, x: Tensor, v: Tensor) -> dict[str, float]:
    """:func:`ranking_metrics` of ``model``'s scores on the sets ``x (b, n, 8, 32)`` with true values ``v (b, n)``."""
    b, n = v.shape
    scores = torch.cat([model(chunk.reshape(-1, 8, 32)) for chunk in x.split(200)]).reshape(b, n)
    return ranking_metrics(scores, v)


WORST_SWAP_ERROR = {"logistic": 0.2785, "gaussian": 0.1700, "cauchy": 1 / math.pi, "reciprocal": 1.0,
                    "optimal": 1 / 16}
r"""$\sup_u u f(-u)$ (the per-swap error bound times $\beta$) from the spec's "Why error bounded"."""


def monotonicity_checks(*, sizes: tuple[int, ...], n_inputs: int, scales: tuple[float, ...], steepness: float,
                        generator: torch.Generator | int) -> dict[str, float]:
    r"""R2 in float64, for every sigmoid, odd-even and bitonic network and size: the smallest Jacobian entry
    $\partial y_j / \partial x_i$ (``jac_min_<sigmoid>``; ``jac_min_monotone`` over :data:`MONOTONE`,
    ``jac_min_nonmonotone_max`` the largest minimum of the others), and the largest deviation of $P$ from doubly
    stochastic (``perm_stochastic_err``) and of $x P$ from the sorted output (``perm_xp_err``).
    ``generator``: an int seed or a ``torch.Generator`` for the random inputs."""
    check_positive(steepness, "steepness")
    generator = as_generator(generator)
    out: dict[str, float] = {}
    jac_min: dict[str, float] = {}
    stoch_err = xp_err = 0.0
    for dist in SIGMOIDS:
        lo = math.inf
        for kind in ("odd_even", "bitonic"):
            for n in sizes:
                sorter = DiffSortNet(kind, n, steepness=steepness, distribution=dist)
                x = torch.cat([s * torch.randn(n_inputs, n, generator=generator, dtype=torch.float64)
                               for s in scales]).requires_grad_(True)
                y, P = sorter(x)
                # Jacobian ∂sorted_j/∂x_i (samples are independent, so one backward per output j)
                jac = torch.stack([torch.autograd.grad(y[:, j].sum(), x, retain_graph=True)[0] for j in range(n)], 1)
                lo = min_or_nan(lo, float(jac.min()))
                with torch.no_grad():
                    stoch_err = max_or_nan(stoch_err, float((P.sum(1) - 1).abs().max()),
                                           float((P.sum(2) - 1).abs().max()))
                    xp_err = max_or_nan(xp_err, float((torch.einsum("bi,bij->bj", x, P) - y).abs().max()))
        jac_min[dist] = lo
        out[f"jac_min_{dist}"] = lo
    out["jac_min_monotone"] = min_or_nan(jac_min[d] for d in MONOTONE)
    # every non-monotone sigmoid must show some entry < −1e−3: the largest of their minima
    out["jac_min_nonmonotone_max"] = max_or_nan(jac_min[d] for d in SIGMOIDS if d not in MONOTONE)
    out["perm_stochastic_err"] = stoch_err
    out["perm_xp_err"] = xp_err
    return out


def swap_error_checks(*, steepness: float) -> dict[str, float]:
    r"""R2's error bounds: a 2-wire network against the closed form $|x| f(-\beta |x|)$ (``swap_err_formula_dev``),
    and the sup of $\beta \cdot$ error over $\beta |x| \in [0, 10^4]$ (``swap_err_sup_<sigmoid>``) against
    :data:`WORST_SWAP_ERROR` (largest relative deviation: ``swap_err_bound_rel_dev``)."""
    check_positive(steepness, "steepness")
    out: dict[str, float] = {}
    beta = steepness
    sorter2 = {d: DiffSortNet("odd_even", 2, steepness=beta, distribution=d) for d in WORST_SWAP_ERROR}
    a = torch.zeros(2000, dtype=torch.float64)
    b = torch.logspace(-4, 3, 2000, dtype=torch.float64) / beta
    formula_dev = 0.0
    rel_dev = 0.0
    grid = torch.cat([torch.linspace(0, 10, 200_001, dtype=torch.float64),
                      torch.logspace(1, 4, 100_001, dtype=torch.float64)]) / beta
    for d, worst in WORST_SWAP_ERROR.items():
        with torch.no_grad():
            y, _ = sorter2[d](torch.stack([b, a], 1), return_permutation=False)
            err = (y[:, 0] - torch.minimum(a, b)).abs()
            formula_dev = max_or_nan(formula_dev,
                                     float((err - swap_error(b, steepness=beta, distribution=d)).abs().max()))
            sup = float(swap_error(grid, steepness=beta, distribution=d).max()) * beta
        out[f"swap_err_sup_{d}"] = sup
        rel_dev = max_or_nan(rel_dev, abs(sup / worst - 1))
    out["swap_err_formula_dev"] = formula_dev
    out["swap_err_bound_rel_dev"] = rel_dev
    return out
