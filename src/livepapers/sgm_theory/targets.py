"""Analytic targets with closed-form scores of every noised marginal (float64).

Shapes: ``n`` samples, ``d`` dimensions, ``K`` mixture components.

OU forward process ``dX = -X dt + sqrt(2) dB``: ``q_t = sum_k w_k N(m_t mu_k, C_k)``, ``m_t = e^{-t}``,
``sigma_t^2 = 1 - e^{-2t}``, ``C_k = m_t^2 Sigma_k + sigma_t^2 I``, and
``grad ln q_t(x) = sum_k r_k(x) (-C_k^{-1}(x - m_t mu_k))`` with responsibilities ``r_k`` by log-sum-exp.

CLD forward process (``dX = V dt, dV = -X dt - 2V dt + 2 dB``, ``V_0 ~ N(0, I)``): each component becomes a
Gaussian on ``R^{2d}`` with mean ``e^{-t}((1+t) mu_k, -t mu_k)`` and covariance
``I_{2d} + e^{-2t} M_t (x) (Sigma_k - I)``, ``M_t = [[(1+t)^2, -t(1+t)], [-t(1+t), t^2]]``; the velocity score
is the ``v``-block of ``-C^{-1}(z - mean)`` mixed with responsibilities.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special

_LOG2PI = math.log(2 * math.pi)


def _t64(x) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float64)


def ou_coefs(t: float) -> tuple[float, float]:
    """``(m_t, sigma_t^2) = (e^{-t}, 1 - e^{-2t})`` of the OU forward process."""
    return math.exp(-t), -math.expm1(-2.0 * t)


def cld_m(t: float) -> np.ndarray:
    """``M_t = [[(1+t)^2, -t(1+t)], [-t(1+t), t^2]]`` (CLD covariance growth of the data part)."""
    return np.array([[(1 + t) ** 2, -t * (1 + t)], [-t * (1 + t), t * t]])


class GaussianMixture:
    """``q = sum_k w_k N(mu_k, Sigma_k)`` on ``R^d``.

    Args:
        weights: (K,) positive, normalised here.
        means: (K, d).
        covs: (K,) isotropic variances, (K, d) diagonal variances, or (K, d, d) full covariances.
    """

    def __init__(self, weights, means, covs) -> None:
        w = _t64(weights).reshape(-1)
        mu = _t64(means)
        if mu.ndim == 1:
            mu = mu[:, None]
        K, d = mu.shape
        if w.shape[0] != K:
            raise ValueError(f"weights has {w.shape[0]} entries but means has {K} components")
        if torch.any(w <= 0):
            raise ValueError("mixture weights must be positive")
        c = _t64(covs)
        if c.ndim == 1 or (c.ndim == 2 and d == 1 and c.shape == (K, 1)):
            c = c.reshape(K, 1).expand(K, d).clone()
        if c.ndim == 2:
            if c.shape != (K, d):
                raise ValueError(f"diagonal covs must have shape ({K}, {d}), got {tuple(c.shape)}")
            if torch.any(c <= 0):
                raise ValueError("variances must be positive")
            self.var, self.cov = c, None
        elif c.ndim == 3:
            if c.shape != (K, d, d):
                raise ValueError(f"full covs must have shape ({K}, {d}, {d}), got {tuple(c.shape)}")
            self.var, self.cov = None, c
        else:
            raise ValueError(f"covs must be (K,), (K, d) or (K, d, d), got shape {tuple(c.shape)}")
        self.weights = w / w.sum()
        self.means = mu
        self.K, self.d = K, d

    # ---- basic ---------------------------------------------------------------------------------------------
    @property
    def diagonal(self) -> bool:
        return self.var is not None

    def full_covs(self) -> torch.Tensor:
        """(K, d, d) covariances."""
        return torch.diag_embed(self.var) if self.diagonal else self.cov

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` samples, (n, d)."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.d, generator=generator, dtype=torch.float64)
        if self.diagonal:
            return self.means[k] + z * self.var[k].sqrt()
        chol = torch.linalg.cholesky(self.cov)
        return self.means[k] + torch.einsum("nij,nj->ni", chol[k], z)

    def _comp_logp_and_grad(self, x: torch.Tensor, means: torch.Tensor, var=None, cov=None):
        """Per-component log-density (n, K) and ``-C^{-1}(x - mean)`` (n, K, d)."""
        diff = x[:, None, :] - means[None]  # (n, K, d)
        if var is not None:
            g = -diff / var[None]
            logp = -0.5 * ((diff * diff) / var[None]).sum(-1) - 0.5 * torch.log(var).sum(-1)[None]
        else:
            chol = torch.linalg.cholesky(cov)  # (K, d, d)
            sol = torch.cholesky_solve(diff.permute(1, 2, 0), chol)  # (K, d, n)
            g = -sol.permute(2, 0, 1)
            logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
            logp = -0.5 * (diff * (-g)).sum(-1) - 0.5 * logdet[None]
        logp = logp - 0.5 * self.d * _LOG2PI + torch.log(self.weights)[None]
        return logp, g

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``ln q(x)``, x (n, d) -> (n,)."""
        logp, _ = self._comp_logp_and_grad(_t64(x), self.means, self.var, self.cov)
        return torch.logsumexp(logp, dim=1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """``grad ln q(x)``, (n, d)."""
        logp, g = self._comp_logp_and_grad(_t64(x), self.means, self.var, self.cov)
        r = torch.softmax(logp, dim=1)
        return (r[..., None] * g).sum(1)

    # ---- OU marginals ----------------------------------------------------------------------------------------
    def noised(self, t: float, process: str = "ou") -> GaussianMixture:
        """The OU marginal ``q_t`` (a mixture again)."""
        if process != "ou":
            raise ValueError(f"noised() supports process='ou' only, got {process!r}")
        m, s2 = ou_coefs(t)
        if self.diagonal:
            return GaussianMixture(self.weights, m * self.means, m * m * self.var + s2)
        eye = torch.eye(self.d, dtype=torch.float64)
        return GaussianMixture(self.weights, m * self.means, m * m * self.cov + s2 * eye)

    def score_t(self, x: torch.Tensor, t: float, process: str = "ou") -> torch.Tensor:
        """``grad ln q_t(x)`` of the OU marginal, x (n, d) -> (n, d)."""
        return self.noised(t, process).score(x)

    def log_prob_t(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """``ln q_t(x)``, (n,)."""
        return self.noised(t).log_prob(x)

    # ---- CLD marginals ---------------------------------------------------------------------------------------
    def _cld_params(self, t: float):
        e = math.exp(-t)
        mean_x = e * (1 + t) * self.means
        mean_v = -e * t * self.means
        Mt = cld_m(t) * math.exp(-2 * t)
        return mean_x, mean_v, Mt

    def cld_log_prob_t(self, x: torch.Tensor, v: torch.Tensor, t: float) -> torch.Tensor:
        """Log-density of the CLD marginal at ``(x, v)``, (n,)."""
        logp, _ = self._cld_terms(_t64(x), _t64(v), t)
        return torch.logsumexp(logp, dim=1)

    def _cld_terms(self, x: torch.Tensor, v: torch.Tensor, t: float):
        mean_x, mean_v, Mt = self._cld_params(t)
        dx = x[:, None, :] - mean_x[None]
        dv = v[:, None, :] - mean_v[None]
        if self.diagonal:
            a = self.var - 1.0  # (K, d)
            cxx = 1 + Mt[0, 0] * a
            cxv = Mt[0, 1] * a
            cvv = 1 + Mt[1, 1] * a
            det = cxx * cvv - cxv * cxv
            ixx, ixv, ivv = cvv / det, -cxv / det, cxx / det
            gx = -(ixx[None] * dx + ixv[None] * dv)
            gv = -(ixv[None] * dx + ivv[None] * dv)
            quad = -(dx * gx + dv * gv).sum(-1)
            logp = -0.5 * quad - 0.5 * torch.log(det).sum(-1)[None]
        else:
            d = self.d
            eye = torch.eye(d, dtype=torch.float64)
            Mt_t = _t64(Mt)
            C = torch.eye(2 * d, dtype=torch.float64)[None] + torch.stack(
                [torch.kron(Mt_t, self.cov[k] - eye) for k in range(self.K)])
            chol = torch.linalg.cholesky(C)
            z = torch.cat([dx, dv], dim=-1)  # (n, K, 2d)
            sol = torch.cholesky_solve(z.permute(1, 2, 0), chol).permute(2, 0, 1)
            gx, gv = -sol[..., :d], -sol[..., d:]
            logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
            logp = -0.5 * (z * sol).sum(-1) - 0.5 * logdet[None]
        logp = logp - self.d * _LOG2PI + torch.log(self.weights)[None]
        return logp, (gx, gv)

    def velocity_score_t(self, x: torch.Tensor, v: torch.Tensor, t: float) -> torch.Tensor:
        """``grad_v ln q_t(x, v)`` of the CLD marginal, (n, d)."""
        logp, (_, gv) = self._cld_terms(_t64(x), _t64(v), t)
        r = torch.softmax(logp, dim=1)
        return (r[..., None] * gv).sum(1)

    # ---- summaries -------------------------------------------------------------------------------------------
    def cdf(self, x) -> np.ndarray:
        """CDF of a 1-D mixture at x (numpy)."""
        if self.d != 1:
            raise ValueError(f"cdf() needs d = 1, got d = {self.d}")
        x = np.asarray(x, dtype=np.float64)
        mu = self.means[:, 0].numpy()
        sd = np.sqrt(self.full_covs()[:, 0, 0].numpy())
        w = self.weights.numpy()
        return (w * special.ndtr((x[..., None] - mu) / sd)).sum(-1)

    def density_1d(self, x) -> np.ndarray:
        """Density of a 1-D mixture on points x (numpy)."""
        x = np.asarray(x, dtype=np.float64)
        return np.exp(self.log_prob(torch.from_numpy(x.reshape(-1, 1))).numpy()).reshape(x.shape)

    def quantile_1d(self, u: float, tol: float = 1e-13) -> float:
        """The u-quantile of a 1-D mixture by bisection on its CDF."""
        mu = self.means[:, 0].numpy()
        sd = np.sqrt(self.full_covs()[:, 0, 0].numpy())
        lo, hi = float((mu - 40 * sd).min()), float((mu + 40 * sd).max())
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if self.cdf(mid) < u:
                lo = mid
            else:
                hi = mid
            if hi - lo < tol:
                break
        return 0.5 * (lo + hi)

    def second_moment(self) -> float:
        """``m_2^2 = E ||X||^2``."""
        tr = torch.diagonal(self.full_covs(), dim1=-2, dim2=-1).sum(-1)
        return float((self.weights * ((self.means ** 2).sum(-1) + tr)).sum())

    def lipschitz_bound(self) -> float:
        """An upper bound on the Lipschitz constant of ``grad ln q``:
        ``max_k 1/lambda_min(Sigma_k) + D^2 / lambda_min^2`` (D the largest distance between means); exact
        ``1/s^2`` for one isotropic Gaussian."""
        lam = torch.linalg.eigvalsh(self.full_covs()).min()
        D = torch.cdist(self.means, self.means).max()
        return float(1.0 / lam + D * D / (lam * lam))

    def projected(self, u: torch.Tensor) -> GaussianMixture:
        """The 1-D law of ``u^T X``."""
        u = _t64(u).reshape(-1)
        var = torch.einsum("i,kij,j->k", u, self.full_covs(), u)
        return GaussianMixture(self.weights, (self.means @ u)[:, None], var)


class Gaussian(GaussianMixture):
    """``N(mean, cov)``; ``cov`` a scalar (isotropic), a (d,) diagonal or a (d, d) matrix."""

    def __init__(self, mean, cov) -> None:
        mean = _t64(mean).reshape(1, -1)
        cov = _t64(cov)
        d = mean.shape[1]
        if cov.ndim == 0:
            cov = cov.reshape(1, 1).expand(1, d).clone()
        elif cov.ndim == 1:
            cov = cov.reshape(1, d)
        else:
            cov = cov.reshape(1, d, d)
        super().__init__([1.0], mean, cov)

    def kl_to_standard(self) -> float:
        """``KL(q || gamma^d)`` in closed form."""
        S = self.full_covs()[0]
        mu = self.means[0]
        return float(0.5 * (torch.trace(S) + mu @ mu - self.d - torch.logdet(S)))


class UniformInterval:
    """Uniform law on ``[a, b]`` (1-D); OU marginals ``q_t(x) = (Phi(a') - Phi(b'))/(m_t (b - a))`` with
    ``a' = (x - m_t a)/sigma_t``, ``b' = (x - m_t b)/sigma_t``; scores in log space (``log_ndtr``)."""

    def __init__(self, a: float = -1.0, b: float = 1.0) -> None:
        if not b > a:
            raise ValueError(f"UniformInterval needs a < b, got [{a}, {b}]")
        self.a, self.b, self.d = float(a), float(b), 1

    def _logdiff(self, x: np.ndarray, t: float):
        m, s2 = ou_coefs(t)
        s = math.sqrt(s2)
        u = (x - m * self.a) / s  # Phi(u) - Phi(w), u > w
        w = (x - m * self.b) / s
        # Phi(u) - Phi(w) = Phi(-w) - Phi(-u): use the side whose values are small, in log space
        flip = w > 0
        hi = np.where(flip, -w, u)
        lo = np.where(flip, -u, w)
        lhi, llo = special.log_ndtr(hi), special.log_ndtr(lo)
        logD = lhi + np.log1p(-np.exp(np.minimum(llo - lhi, 0.0)))
        return logD, u, w, s, m

    def log_prob_t_np(self, x, t: float) -> np.ndarray:
        """``ln q_t(x)`` for t > 0 (numpy)."""
        x = np.asarray(x, dtype=np.float64)
        logD, _, _, _, m = self._logdiff(x, t)
        return logD - math.log(m * (self.b - self.a))

    def density_t(self, x, t: float) -> np.ndarray:
        """``q_t(x)`` for t > 0; ``t = 0`` gives the uniform density."""
        x = np.asarray(x, dtype=np.float64)
        if t == 0:
            return ((x >= self.a) & (x <= self.b)) / (self.b - self.a)
        return np.exp(self.log_prob_t_np(x, t))

    def score_t(self, x: torch.Tensor, t: float, process: str = "ou") -> torch.Tensor:
        """``d/dx ln q_t(x)`` for t > 0: ``(phi(u) - phi(w)) / (sigma_t (Phi(u) - Phi(w)))``; x (n, 1)."""
        if t <= 0:
            raise ValueError("the score of a uniform law is undefined at t = 0")
        xn = _t64(x).numpy().reshape(-1)
        logD, u, w, s, _ = self._logdiff(xn, t)
        lphi_u = -0.5 * u * u - 0.5 * _LOG2PI
        lphi_w = -0.5 * w * w - 0.5 * _LOG2PI
        sc = (np.exp(lphi_u - logD) - np.exp(lphi_w - logD)) / s
        return torch.from_numpy(sc.reshape(-1, 1))

    def second_moment(self) -> float:
        return (self.a ** 2 + self.a * self.b + self.b ** 2) / 3.0

    def quantile(self, u) -> np.ndarray:
        return self.a + (self.b - self.a) * np.asarray(u)
