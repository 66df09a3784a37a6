r"""Kernel MMD estimators, the marginal and conditional CI penalties, and the MMD permutation test.

Legend: m, n sample sizes of the two groups; b batch; d feature size; P permutations; G groups.

Gaussian mixture kernel (spec default S = (0.5, 1, 2, 4, 8)):

$$k(a, b) = \sum_{\sigma \in S} \exp\!\big(-\lVert a - b\rVert^2 / (2\sigma^2)\big)$$

Biased (V-statistic) MMD² between A = {a_i}ᵐ and B = {b_j}ⁿ, always ≥ 0:

$$\widehat{\mathrm{MMD}}^2 = \tfrac{1}{m^2}\sum_{i,i'} k(a_i,a_{i'}) + \tfrac{1}{n^2}\sum_{j,j'} k(b_j,b_{j'})
   - \tfrac{2}{mn}\sum_{i,j} k(a_i,b_j) = v^\top K v,\quad v = (\tfrac1m \mathbf 1_A, -\tfrac1n \mathbf 1_B)$$

The unbiased U-statistic drops the diagonal terms (÷ m(m−1), n(n−1)). Penalties (paper §3, Theorem 3.2's
signatures): marginal ``R_marg = MMD²({h : z=0}, {h : z=1})`` for f(X) ⊥ Z; conditional
``R_cond = Σ_y MMD²({h : z=0, y}, {h : z=1, y})`` (an *unweighted* sum over strata, as DoWhy CACM's
``conditional_reg``) for f(X) ⊥ Z | Y. A stratum whose two cells do not both hold ≥ 2 points contributes 0.

Every group statistic here is the quadratic form ``vᵀ K v`` on one kernel matrix K of the whole batch, so the
penalty costs one b×b kernel and the permutation test evaluates all P permutations as ``diag(Vᵀ K V)`` with a
(n × P) matrix V of signed weights — never rebuilding K.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from livepapers.core.inputs import as_generator

DEFAULT_BANDWIDTHS = (0.5, 1.0, 2.0, 4.0, 8.0)
MEDIAN_FACTORS = (0.5, 1.0, 2.0)


def _as_2d(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 1:
        return x[:, None]
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape (m,) or (m, d), got {tuple(x.shape)}")
    return x


class RBFMixtureKernel:
    """Sum of Gaussian kernels ``k(a, b) = Σ_σ exp(−‖a − b‖² / (2σ²))``.

    Args:
        bandwidths: the σ's of the mixture (spec default (0.5, 1, 2, 4, 8)).
        median_heuristic: if True, S = median pairwise distance of the points given (detached) × (0.5, 1, 2),
            recomputed at every call (the points of both arguments together).
    """

    def __init__(self, bandwidths: Sequence[float] = DEFAULT_BANDWIDTHS, median_heuristic: bool = False) -> None:
        bw = tuple(float(s) for s in bandwidths)
        if not bw or any(not (s > 0) for s in bw):
            raise ValueError(f"bandwidths must be a non-empty sequence of numbers > 0, got {bandwidths!r}")
        self.bandwidths = bw
        self.median_heuristic = bool(median_heuristic)

    def __repr__(self) -> str:
        if self.median_heuristic:
            return "RBFMixtureKernel(median_heuristic=True)"
        return f"RBFMixtureKernel(bandwidths={self.bandwidths})"

    def sigmas(self, d2: torch.Tensor) -> tuple[float, ...]:
        """The bandwidths for a *self* matrix of squared distances ``d2`` (m, m): the fixed ones, or the median of
        the m(m−1)/2 distinct pairwise distances (detached) × (0.5, 1, 2)."""
        if not self.median_heuristic:
            return self.bandwidths
        m = d2.shape[0]
        iu = torch.triu_indices(m, m, offset=1)
        dist = d2.detach()[iu[0], iu[1]].clamp_min(0).sqrt()
        med = float(dist.median()) if dist.numel() else 1.0
        med = med if med > 0 else 1.0
        return tuple(med * f for f in MEDIAN_FACTORS)

    def from_sqdist(self, d2: torch.Tensor, sigmas: tuple[float, ...] | None = None) -> torch.Tensor:
        """Kernel values from a self matrix of squared distances (m, m) (or any ``d2`` when ``sigmas`` given)."""
        sig = self.sigmas(d2) if sigmas is None else sigmas
        return sum(torch.exp(-d2 / (2.0 * s * s)) for s in sig)

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Gram matrix: a (m,) or (m, d), b (n,) or (n, d) -> (m, n). With the median heuristic the bandwidth
        comes from the pairwise distances of all m + n points."""
        a2, b2 = _as_2d(a, "a"), _as_2d(b, "b")
        if a2.shape[1] != b2.shape[1]:
            raise ValueError(f"a and b need the same feature size, got {a2.shape[1]} and {b2.shape[1]}")
        sig = None
        if self.median_heuristic:
            x = torch.cat([a2, b2])
            sig = self.sigmas(sqdist(x, x))
        return self.from_sqdist(sqdist(a2, b2), sig if sig is not None else self.bandwidths)


def sqdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (m, d) × (n, d) -> (m, n); exact differences for d = 1."""
    if a.shape[1] == 1:
        return (a - b.T) ** 2
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def _kernel(kernel: RBFMixtureKernel | None) -> RBFMixtureKernel:
    return RBFMixtureKernel() if kernel is None else kernel


def mmd2(a: torch.Tensor, b: torch.Tensor, kernel: RBFMixtureKernel | None = None,
         unbiased: bool = False) -> torch.Tensor:
    """MMD² between samples ``a`` (m,) or (m, d) and ``b`` (n,) or (n, d); a 0-dim tensor.

    Biased V-statistic by default (≥ 0); ``unbiased=True`` drops the diagonal terms (needs m, n ≥ 2; may be < 0).
    """
    a2, b2 = _as_2d(a, "a"), _as_2d(b, "b")
    m, n = a2.shape[0], b2.shape[0]
    if m < 1 or n < 1:
        raise ValueError(f"mmd2 needs non-empty samples, got sizes {m} and {n}")
    if unbiased and (m < 2 or n < 2):
        raise ValueError(f"unbiased mmd2 needs at least 2 points per sample, got {m} and {n}")
    k = _kernel(kernel)
    x = torch.cat([a2, b2])
    K = k.from_sqdist(sqdist(x, x))
    kaa, kbb, kab = K[:m, :m], K[m:, m:], K[:m, m:]
    if unbiased:
        saa = (kaa.sum() - kaa.diagonal().sum()) / (m * (m - 1))
        sbb = (kbb.sum() - kbb.diagonal().sum()) / (n * (n - 1))
    else:
        saa, sbb = kaa.sum() / (m * m), kbb.sum() / (n * n)
    return saa + sbb - 2.0 * kab.sum() / (m * n)


def group_weights(z: torch.Tensor, cells: torch.Tensor, n_cells: int, dtype: torch.dtype = torch.float32
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Signed weights for the MMD² of each cell: ``+1/m`` for z = 1, ``−1/n`` for z = 0 within the cell.

    Args:
        z: (b,) binary attribute; cells: (b,) cell index in [0, n_cells).
    Returns:
        V (b, n_cells) and ``valid`` (n_cells,) bool: both halves of the cell hold ≥ 2 points.
    """
    onehot = torch.nn.functional.one_hot(cells, n_cells).to(dtype)  # (b, G)
    z1 = (z == 1).to(dtype)[:, None]
    n1 = (onehot * z1).sum(0)
    n0 = (onehot * (1 - z1)).sum(0)
    valid = (n1 >= 2) & (n0 >= 2)
    V = onehot * (z1 / n1.clamp_min(1) - (1 - z1) / n0.clamp_min(1))
    return V, valid


def _quadratic(K: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """diag(Vᵀ K V): one MMD² (biased) per column of V. K (b, b), V (b, G) -> (G,)."""
    return (V * (K @ V)).sum(0)


def _unbiased_correction(K: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """U-statistic version of diag(Vᵀ K V): drop the diagonal and rescale the within-half sums, (G,)."""
    # within-half sums without the diagonal: Σ_{i≠i'} w_i w_i' k = vᵀKv − Σ_i w_i² k_ii, then ×m/(m−1)
    pos, neg = V.clamp_min(0), (-V).clamp_min(0)
    diag = K.diagonal()[:, None]
    m = torch.where(pos.sum(0) > 0, 1.0 / pos.max(0).values.clamp_min(1e-30), torch.zeros_like(pos[0]))
    n = torch.where(neg.sum(0) > 0, 1.0 / neg.max(0).values.clamp_min(1e-30), torch.zeros_like(neg[0]))
    saa = ((pos * (K @ pos)).sum(0) - (pos * pos * diag).sum(0)) * m / (m - 1).clamp_min(1)
    sbb = ((neg * (K @ neg)).sum(0) - (neg * neg * diag).sum(0)) * n / (n - 1).clamp_min(1)
    sab = (pos * (K @ neg)).sum(0)
    return saa + sbb - 2.0 * sab


def grouped_mmd2(h: torch.Tensor, z: torch.Tensor, cells: torch.Tensor | None = None, n_cells: int = 1,
                 kernel: RBFMixtureKernel | None = None, unbiased: bool = False) -> torch.Tensor:
    """Σ over cells of MMD²({h : z=0, cell}, {h : z=1, cell}), cells with < 2 points per half counting 0.

    One kernel matrix of the whole batch; h (b,) or (b, d), z (b,), cells (b,) in [0, n_cells) or None (one cell).
    """
    h2 = _as_2d(h, "h")
    if z.shape[0] != h2.shape[0]:
        raise ValueError(f"z must have one entry per row of h, got {z.shape[0]} and {h2.shape[0]}")
    if cells is None:
        cells = torch.zeros_like(z)
    K = _kernel(kernel).from_sqdist(sqdist(h2, h2))
    V, valid = group_weights(z, cells, n_cells, K.dtype)
    per = _unbiased_correction(K, V) if unbiased else _quadratic(K, V)
    return torch.where(valid, per, torch.zeros_like(per)).sum()


def _check_binary(x: torch.Tensor, name: str, n: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 1 or x.shape[0] != n:
        raise ValueError(f"{name} must be a 1-D tensor with {n} entries, got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    x = x.long()
    if x.numel() and not bool(((x == 0) | (x == 1)).all()):
        raise ValueError(f"{name} must be binary (0/1)")
    return x


def marginal_mmd(h: torch.Tensor, z: torch.Tensor, kernel: RBFMixtureKernel | None = None,
                 unbiased: bool = False) -> torch.Tensor:
    """R_marg = MMD²({h_i : z_i = 0}, {h_i : z_i = 1}); h (b,) or (b, d), z (b,) binary. 0 if a half has < 2."""
    n = _as_2d(h, "h").shape[0]
    z = _check_binary(z, "z", n)
    return grouped_mmd2(h, z, None, 1, kernel, unbiased)


def conditional_mmd(h: torch.Tensor, z: torch.Tensor, y: torch.Tensor, kernel: RBFMixtureKernel | None = None,
                    unbiased: bool = False) -> torch.Tensor:
    """R_cond = Σ_y MMD²({h_i : z_i = 0, y_i = y}, {h_i : z_i = 1, y_i = y}) (unweighted sum over y).

    h (b,) or (b, d), z (b,) binary, y (b,) integer labels in [0, K). A stratum whose two cells do not both hold
    ≥ 2 points contributes 0.
    """
    n = _as_2d(h, "h").shape[0]
    z = _check_binary(z, "z", n)
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.shape[0] != n:
        raise ValueError(f"y must be a 1-D tensor with {n} entries")
    y = y.long()
    if y.numel() and int(y.min()) < 0:
        raise ValueError("y must hold class indices >= 0")
    k = int(y.max()) + 1 if y.numel() else 1
    return grouped_mmd2(h, z, y, k, kernel, unbiased)


def mmd_permutation_test(h: torch.Tensor, z: torch.Tensor, y: torch.Tensor | None = None, n_perm: int = 500,
                         kernel: RBFMixtureKernel | None = None,
                         generator: torch.Generator | int | None = None) -> tuple[float, float]:
    """Permutation test of h ⊥ Z (``y=None``) or h ⊥ Z | Y (z permuted within each y stratum).

    Statistic: the biased MMD² (summed over y strata for the conditional test). Each stratum's kernel matrix is
    built once; all permutations are evaluated as quadratic forms ``diag(Vᵀ K V)``.

    Returns:
        ``(stat, p)`` with ``p = (1 + #{perm stat ≥ observed}) / (n_perm + 1)``.
    """
    h2 = _as_2d(h, "h").detach().double()
    n = h2.shape[0]
    z = _check_binary(z, "z", n)
    if not isinstance(n_perm, int) or n_perm < 1:
        raise ValueError(f"n_perm must be an int >= 1, got {n_perm!r}")
    g = as_generator(0 if generator is None else generator)
    k = _kernel(kernel)
    if y is None:
        strata = [torch.arange(n)]
    else:
        if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.shape[0] != n:
            raise ValueError(f"y must be a 1-D tensor with {n} entries")
        strata = [torch.nonzero(y == c).flatten() for c in torch.unique(y)]
    obs = 0.0
    perm_stats = torch.zeros(n_perm, dtype=torch.float64)
    for idx in strata:
        zs = z[idx]
        n1, n0 = int((zs == 1).sum()), int((zs == 0).sum())
        if n1 < 2 or n0 < 2:
            continue
        hs = h2[idx]
        K = k.from_sqdist(sqdist(hs, hs))  # (m, m), built once
        # columns: the observed labels, then n_perm permutations of them (within this stratum)
        keys = torch.rand(n_perm, idx.numel(), generator=g, dtype=torch.float64)
        perms = zs[keys.argsort(dim=1)]  # (P, m)
        Z = torch.cat([zs[None], perms]).T.double()  # (m, P+1)
        V = Z / n1 - (1 - Z) / n0
        stats = _quadratic(K, V)
        obs += float(stats[0])
        perm_stats += stats[1:]
    p = (1.0 + float((perm_stats >= obs - 1e-12 * max(abs(obs), 1.0)).sum())) / (n_perm + 1)
    return obs, p


__all__ = ["DEFAULT_BANDWIDTHS", "RBFMixtureKernel", "conditional_mmd", "grouped_mmd2", "marginal_mmd",
           "mmd2", "mmd_permutation_test", "sqdist"]
