"""Controlled score errors ``s_t(x) = grad ln q_t(x) + eps e_t(x)`` with ``E_{q_t} ||e_t||^2 = 1`` at every time.

Kinds: ``constant`` (``e = u/||u||``), ``sine`` (smooth random field ``sum_j a_j sin(w_j^T x + b_j) u_j`` rescaled
per time), ``tail_bump`` (``lambda 1[u^T x > x*_t] u`` with ``x*_t`` the ``(1 - 1/lambda^2)``-quantile of
``u^T X``, ``X ~ q_t``, so the normalisation is exact while ``||e_t||_inf = lambda``). The normalisation is with
respect to ``q_t`` (assumption A3), never the sampler's iterates: by quadrature on ``grid`` in 1-D, else by
Monte Carlo with ``n_mc`` samples of ``q_t``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .targets import GaussianMixture

KINDS = ("constant", "sine", "tail_bump")


class PerturbedScore:
    """Callable ``(x, t) -> s_t(x)``, x (n, d).

    Args:
        true_score: ``(x, t) -> grad ln q_t(x)``.
        kind: ``constant`` | ``sine`` | ``tail_bump``.
        eps: the error size ``eps`` (= the L2(q_t) norm of the error, score units).
        q: the data law (a ``GaussianMixture``), used for the ``q_t`` normalisation.
        generator: draws the random field (``sine``) and the Monte-Carlo normalisation samples.
        grid: 1-D quadrature grid (G,) for the normalisation (d = 1).
        lam: the bump height ``lambda`` (``tail_bump``).
        n_terms: number of sine terms.
        u: direction (d,), default ``(1, ..., 1)/sqrt(d)``.
    """

    def __init__(self, true_score, kind: str, eps: float, q: GaussianMixture, generator: torch.Generator | None = None,
                 *, grid=None, lam: float = 40.0, n_terms: int = 8, u=None, n_mc: int = 100_000) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if lam <= 1:
            raise ValueError(f"lam must be > 1, got {lam}")
        self.true_score, self.kind, self.eps, self.q = true_score, kind, float(eps), q
        d = q.d
        u_ = torch.ones(d, dtype=torch.float64) if u is None else torch.as_tensor(u, dtype=torch.float64)
        self.u = u_ / torch.linalg.norm(u_)
        self.lam, self.grid, self.n_mc = float(lam), None if grid is None else np.asarray(grid, dtype=np.float64), n_mc
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        if kind == "sine":
            g = self.generator
            self.a = torch.randn(n_terms, generator=g, dtype=torch.float64)
            self.w = torch.randn(n_terms, d, generator=g, dtype=torch.float64)
            self.b = 2 * math.pi * torch.rand(n_terms, generator=g, dtype=torch.float64)
            U = torch.randn(n_terms, d, generator=g, dtype=torch.float64)
            self.U = torch.ones(n_terms, 1, dtype=torch.float64) if d == 1 else U / U.norm(dim=1, keepdim=True)
        self._norm: dict[float, float] = {}
        self._thresh: dict[float, float] = {}

    def raw_field(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """The unnormalised ``e_t(x)``, (n, d)."""
        if self.kind == "constant":
            return self.u.expand(x.shape[0], -1)
        if self.kind == "sine":
            return (self.a * torch.sin(x @ self.w.T + self.b)) @ self.U
        thr = self.threshold(t)
        return self.lam * ((x @ self.u) > thr).to(torch.float64)[:, None] * self.u

    def threshold(self, t: float) -> float:
        """``x*_t``: the ``(1 - 1/lambda^2)``-quantile of ``u^T X``, ``X ~ q_t`` (bisection on the mixture CDF)."""
        if t not in self._thresh:
            proj = self.q.noised(t).projected(self.u)
            self._thresh[t] = proj.quantile_1d(1.0 - 1.0 / self.lam ** 2)
        return self._thresh[t]

    def norm(self, t: float) -> float:
        """``sqrt(E_{q_t} ||e_t^raw||^2)``: 1 for ``constant``; 1 for ``tail_bump`` in the continuum (on a 1-D
        grid its quadrature value, which differs from 1 by the cell the quantile falls in, so that the grid
        normalisation is exact too); the quadrature / Monte-Carlo value for ``sine``."""
        if self.kind == "constant" or (self.kind == "tail_bump" and (self.grid is None or self.q.d != 1)):
            return 1.0
        if t not in self._norm:
            qt = self.q.noised(t)
            if self.grid is not None and self.q.d == 1:
                xg = torch.from_numpy(self.grid.reshape(-1, 1))
                dens = torch.exp(qt.log_prob(xg))
                e = self.raw_field(xg, t)
                dx = float(self.grid[1] - self.grid[0])
                val = float((dens * (e ** 2).sum(1)).sum() * dx)
            else:
                xs = qt.sample(self.n_mc, self.generator)
                val = float((self.raw_field(xs, t) ** 2).sum(1).mean())
            self._norm[t] = math.sqrt(val)
        return self._norm[t]

    def error(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """The normalised error field ``e_t(x)``, (n, d)."""
        return self.raw_field(x, t) / self.norm(t)

    def __call__(self, x: torch.Tensor, t: float) -> torch.Tensor:
        return self.true_score(x, t) + self.eps * self.error(x, t)
