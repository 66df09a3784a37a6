"""A learned score: ``ScoreNet`` trained by denoising score matching, and its measurable L2 score error.

DSM (sigma_t-weighted): ``E_{t, x_0, z} || sigma_t s_theta(m_t x_0 + sigma_t z, t) + z ||^2``, ``t ~ U[t_min, T]``,
with the output parametrised as ``s_theta = -z_pred / sigma_t`` (so the loss is ``||z_pred - z||^2``).
``eps_score = sqrt( mean_k int q_{t_k}(x) ||s_theta(x, t_k) - grad ln q_{t_k}(x)||^2 dx )``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn

from .processes import OUProcess


class ScoreNet(nn.Module):
    """MLP score model: input ``[x, sin(f_i log t), cos(f_i log t)]`` (16 frequencies), ``layers`` hidden layers
    of width ``hidden`` with SiLU, output ``z_pred`` (n, d); ``forward`` returns ``s = -z_pred / sigma_t``.

    Args:
        d: data dimension.
        hidden: width (128).
        layers: number of hidden layers (3).
        n_freq: number of time frequencies (16), geometric in [0.1, 10].
    """

    def __init__(self, d: int, hidden: int = 128, layers: int = 3, n_freq: int = 16) -> None:
        super().__init__()
        if d < 1 or hidden < 1 or layers < 1:
            raise ValueError(f"ScoreNet needs d, hidden, layers >= 1, got {d}, {hidden}, {layers}")
        self.d = d
        self.register_buffer("freqs", torch.exp(torch.linspace(math.log(0.1), math.log(10.0), n_freq,
                                                               dtype=torch.float64)))
        dims = [d + 2 * n_freq] + [hidden] * layers
        mods: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            mods += [nn.Linear(a, b, dtype=torch.float64), nn.SiLU()]
        mods.append(nn.Linear(hidden, d, dtype=torch.float64))
        self.mlp = nn.Sequential(*mods)

    def z_pred(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predicted noise (n, d); x (n, d), t (n,) or scalar (forward time > 0)."""
        t = torch.as_tensor(t, dtype=torch.float64)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        arg = torch.log(t)[:, None] * self.freqs[None]
        return self.mlp(torch.cat([x, torch.sin(arg), torch.cos(arg)], dim=1))

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float64)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        sigma = torch.sqrt(-torch.expm1(-2 * t))
        return -self.z_pred(x, t) / sigma[:, None]


def dsm_loss(net: ScoreNet, x0: torch.Tensor, process: OUProcess, t_min: float, generator: torch.Generator, *,
             T: float = 6.0) -> torch.Tensor:
    """Denoising score matching on a batch x0 (n, d): ``mean ||sigma_t s_theta(x_t, t) + z||^2``."""
    n = x0.shape[0]
    t = t_min + (T - t_min) * torch.rand(n, generator=generator, dtype=torch.float64)
    z = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
    m = torch.exp(-t)[:, None]
    sigma = torch.sqrt(-torch.expm1(-2 * t))[:, None]
    xt = m * x0 + sigma * z
    return ((sigma * net(xt, t) + z) ** 2).sum(1).mean()


@torch.no_grad()
def score_table(net: ScoreNet, grid, times, chunk: int = 200_000) -> np.ndarray:
    """``s_theta(x_j, t_k)`` on a 1-D grid for every time: (len(times), G)."""
    grid = np.asarray(grid, dtype=np.float64)
    G = len(grid)
    xs = torch.from_numpy(np.tile(grid, len(times)).reshape(-1, 1))
    ts = torch.from_numpy(np.repeat(np.asarray(times, dtype=np.float64), G))
    out = torch.cat([net(xs[i:i + chunk], ts[i:i + chunk]) for i in range(0, len(xs), chunk)])
    return out.reshape(len(times), G).numpy()


@torch.no_grad()
def score_l2_error(net, q, times, grid=None, *, table: np.ndarray | None = None, n_mc: int = 20_000,
                   generator: torch.Generator | None = None) -> float:
    """``eps_score = sqrt(mean_k E_{q_{t_k}} ||s_theta(., t_k) - grad ln q_{t_k}||^2)`` (score units).

    In 1-D with ``grid``: quadrature (``table`` may hold ``s_theta`` on the grid, (len(times), G)); otherwise Monte
    Carlo with ``n_mc`` samples of each ``q_{t_k}``."""
    if grid is not None:
        grid = np.asarray(grid, dtype=np.float64)
        dx = float(grid[1] - grid[0])
        S = score_table(net, grid, times) if table is None else table
        xg = torch.from_numpy(grid.reshape(-1, 1))
        tot = 0.0
        for k, t in enumerate(times):
            qt = q.noised(float(t))
            dens = torch.exp(qt.log_prob(xg)).numpy()
            true = qt.score(xg).reshape(-1).numpy()
            tot += float((dens * (S[k] - true) ** 2).sum() * dx)
        return math.sqrt(tot / len(times))
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    tot = 0.0
    for t in times:
        qt = q.noised(float(t))
        x = qt.sample(n_mc, g)
        tot += float(((net(x, float(t)) - qt.score(x)) ** 2).sum(1).mean())
    return math.sqrt(tot / len(times))
