"""Forward processes with exact marginals: OU (DDPM) and critically damped Langevin (CLD).

OU: ``dX = -X dt + sqrt(2) dB``, ``X_t = e^{-t} X_0 + sqrt(1 - e^{-2t}) Z``.
CLD (paper normalisation, ``mass = 1``, ``gamma = 2``): ``dX = V dt``, ``dV = -X dt - 2V dt + 2 dB``, i.e.
``d(X, V) = A (X, V) dt + (0, 2 dB)`` with ``A = [[0, 1], [-1, -2]]`` acting blockwise,
``e^{At} = e^{-t} [[1+t, t], [-t, 1-t]]``, stationary law ``gamma^{2d}``. The CLD-EI reverse step uses
``A' = [[0, -1], [1, 2]]``, ``e^{A'h} = e^h [[1-h, -h], [h, 1+h]]`` and
``Sigma_h = 4 int_0^h e^{2r} [[r^2, -r(1+r)], [-r(1+r), (1+r)^2]] dr``.
General ``mass``/``gamma`` (Dockhorn et al.): ``A = [[0, 1/M], [-1, -gamma/M]]``, noise ``sqrt(2 gamma)`` on V,
stationary ``N(0, diag(1, M))``; their matrices come from ``scipy.linalg.expm`` and Van Loan's block exponential.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.linalg import expm


class OUProcess:
    """The OU forward process of DDPM."""

    def mean_coef(self, t: float) -> float:
        """``m_t = e^{-t}``."""
        return math.exp(-t)

    def std(self, t: float) -> float:
        """``sigma_t = sqrt(1 - e^{-2t})``."""
        return math.sqrt(-math.expm1(-2.0 * t))

    def marginal(self, x0: torch.Tensor, t: float, generator: torch.Generator) -> torch.Tensor:
        """A draw of ``X_t | X_0 = x0``, (n, d)."""
        z = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
        return self.mean_coef(t) * x0 + self.std(t) * z

    def sample_path(self, x0: torch.Tensor, times, generator: torch.Generator) -> torch.Tensor:
        """Exact path at increasing ``times`` (the first may be 0): (len(times), n, d)."""
        times = [float(t) for t in times]
        out, x, prev = [], x0.clone(), 0.0
        for t in times:
            if t < prev:
                raise ValueError("sample_path needs increasing times")
            dt = t - prev
            if dt > 0:
                x = math.exp(-dt) * x + math.sqrt(-math.expm1(-2 * dt)) * torch.randn(
                    x.shape, generator=generator, dtype=torch.float64)
            out.append(x)
            prev = t
        return torch.stack(out)


def van_loan(A: np.ndarray, Q: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """``(e^{Ah}, int_0^h e^{Ar} Q e^{A^T r} dr)`` by Van Loan's block-matrix exponential."""
    n = A.shape[0]
    blk = np.zeros((2 * n, 2 * n))
    blk[:n, :n] = -A
    blk[:n, n:] = Q
    blk[n:, n:] = A.T
    E = expm(blk * h)
    Phi = E[n:, n:].T
    return Phi, Phi @ E[:n, n:]


class CLDProcess:
    """Critically damped Langevin forward process on ``(x, v)``.

    Args:
        gamma: friction ``Gamma`` (paper normalisation: 2).
        mass: ``M`` (paper normalisation: 1; Dockhorn et al. use ``M = 0.25``, ``Gamma = 2 sqrt(M)``).
    """

    def __init__(self, gamma: float = 2.0, mass: float = 1.0) -> None:
        if gamma <= 0 or mass <= 0:
            raise ValueError(f"gamma and mass must be positive, got gamma={gamma}, mass={mass}")
        self.gamma, self.mass = float(gamma), float(mass)
        self.paper_normalisation = (self.gamma == 2.0 and self.mass == 1.0)

    @property
    def A(self) -> np.ndarray:
        """Drift matrix of the forward process (2x2, blockwise on (x, v))."""
        return np.array([[0.0, 1.0 / self.mass], [-1.0, -self.gamma / self.mass]])

    @property
    def noise(self) -> np.ndarray:
        """``B B^T`` of the forward SDE (2x2)."""
        return np.array([[0.0, 0.0], [0.0, 2.0 * self.gamma]])

    def expA(self, t: float) -> np.ndarray:
        """``e^{At}``; closed form ``e^{-t}[[1+t, t], [-t, 1-t]]`` in the paper normalisation."""
        if self.paper_normalisation:
            return math.exp(-t) * np.array([[1 + t, t], [-t, 1 - t]])
        return expm(self.A * t)

    def transition(self, h: float) -> tuple[np.ndarray, np.ndarray]:
        """``(e^{Ah}, noise covariance)`` of the exact forward step of length h (2x2 each)."""
        if self.paper_normalisation:
            E = self.expA(h)
            return E, np.eye(2) - E @ E.T
        return van_loan(self.A, self.noise, h)

    def reverse_ei(self, h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CLD-EI step (paper normalisation): ``(e^{A'h}, forcing f, Sigma_h)`` with the step
        ``z <- e^{A'h} z + f * s + N(0, Sigma_h)`` for a frozen velocity score s;
        ``f = (-4(h e^h - e^h + 1), 4 h e^h)``."""
        if not self.paper_normalisation:
            raise ValueError("reverse_ei is implemented for the paper normalisation (gamma=2, mass=1)")
        eh = math.exp(h)
        Ep = eh * np.array([[1 - h, -h], [h, 1 + h]])
        f = np.array([-4.0 * (h * eh - math.expm1(h)), 4.0 * h * eh])
        return Ep, f, sigma_h(h)

    def mean_coef(self, t: float) -> np.ndarray:
        return self.expA(t)

    def std(self, t: float) -> np.ndarray:
        """Cholesky factor of the noise covariance accumulated over [0, t] (2x2)."""
        return _chol2(self.transition(t)[1])

    def marginal(self, x0: torch.Tensor, v0: torch.Tensor, t: float, generator: torch.Generator):
        """A draw of ``(X_t, V_t) | (x0, v0)``; each (n, d)."""
        E, S = self.transition(t)
        L = _chol2(S)
        z1 = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
        z2 = torch.randn(x0.shape, generator=generator, dtype=torch.float64)
        x = E[0, 0] * x0 + E[0, 1] * v0 + L[0, 0] * z1
        v = E[1, 0] * x0 + E[1, 1] * v0 + L[1, 0] * z1 + L[1, 1] * z2
        return x, v

    def sample_path(self, x0: torch.Tensor, v0: torch.Tensor, times, generator: torch.Generator):
        """Exact path at increasing times: two tensors (len(times), n, d)."""
        xs, vs, x, v, prev = [], [], x0.clone(), v0.clone(), 0.0
        for t in times:
            if t > prev:
                x, v = self.marginal(x, v, t - prev, generator)
            xs.append(x)
            vs.append(v)
            prev = t
        return torch.stack(xs), torch.stack(vs)


def sigma_h(h: float) -> np.ndarray:
    """``Sigma_h = 4 int_0^h e^{2r} [[r^2, -r(1+r)], [-r(1+r), (1+r)^2]] dr`` in closed form (2x2).

    With ``I0 = int e^{2r}``, ``I1 = int r e^{2r}``, ``I2 = int r^2 e^{2r}`` over [0, h]:
    ``Sigma = 4 [[I2, -(I1 + I2)], [-(I1 + I2), I0 + 2 I1 + I2]]``. For small h the ``I2`` term uses its series
    (the closed form cancels to O(h^3))."""
    e2 = math.exp(2 * h)
    I0 = 0.5 * math.expm1(2 * h)
    I1 = e2 * (h / 2 - 0.25) + 0.25
    if h < 0.05:
        # r^2 e^{2r} = sum_k 2^k r^{k+2}/k!  ->  int_0^h = sum_k 2^k h^{k+3} / (k! (k+3))
        I2 = sum(2.0 ** k * h ** (k + 3) / (math.factorial(k) * (k + 3)) for k in range(20))
        I1 = sum(2.0 ** k * h ** (k + 2) / (math.factorial(k) * (k + 2)) for k in range(20))
    else:
        I2 = e2 * (h * h / 2 - h / 2 + 0.25) - 0.25
    return 4.0 * np.array([[I2, -(I1 + I2)], [-(I1 + I2), I0 + 2 * I1 + I2]])


def _chol2(S: np.ndarray) -> np.ndarray:
    """Closed-form lower Cholesky factor of a 2x2 PSD matrix (stable for a near-singular xx entry)."""
    a = math.sqrt(max(S[0, 0], 0.0))
    b = S[1, 0] / a if a > 0 else 0.0
    c = math.sqrt(max(S[1, 1] - b * b, 0.0))
    return np.array([[a, 0.0], [b, c]])
