r"""Closed-form and exact predictions of the per-group quantities S (translation), N (scale), D (rescale).

Paper: Kunin et al., "Neural Mechanics", ICLR 2021, Sec. 5 (weight decay, momentum, finite learning rate,
stochasticity). In increasing realism:

1. Gradient flow $\dot\theta = -g$: S, N, D constant.
2. + weight decay: $S(t) = e^{-\lambda t}S(0)$, $N(t) = e^{-2\lambda t}N(0)$, same for D.
3. Modified gradient flow (finite lr, no momentum), $\tilde\lambda = \lambda(1 + \eta\lambda/2)$:
   $N(t) = e^{-2\tilde\lambda t}N(0) + \eta\int_0^t e^{-2\tilde\lambda(t-\tau)}\|g_A(\tau)\|^2 d\tau$
   (rescale: the A1 minus A2 difference), evaluated as the discounted running sum
   $I \leftarrow e^{-2\tilde\lambda\eta} I + \eta^2\|g_{A,k}\|^2$ (right-endpoint weights).
   ``convention="official"`` is the official code's form: plain $\lambda$ with $\|g_A+\lambda\theta_A\|^2$
   and left-endpoint weights (first order in $\eta$ only).
4. Exact discrete recursions of one optimizer step (our addition; hold to round-off for any minibatch).
5. Momentum: $\ddot N + 2\gamma\dot N + \omega^2 N = 2\|\dot\theta_A\|^2$ with
   $\gamma = (1-\beta)/(h(1+\beta))$, $\omega_S^2 = 4\lambda/(h(1+\beta))$,
   $\omega_T^2 = 2\lambda/(h(1+\beta))$, $h = \eta(1-d)$; solution with zero initial rate
   $N(t) = \Phi(t)N(0) + \int_0^t G(t-\tau) f(\tau) d\tau$, $G(s) = e^{-\gamma s}\sinh(\kappa s)/\kappa$,
   $\kappa^2 = \gamma^2 - \omega^2$ (complex when underdamped), computed with discounted running sums.

Arrays: q0 (g,), per-step statistics (K, g), predictions (K + 1, g) at steps 0..K (g = groups). Error
statistics of a run (the reproduction's metrics): per group $e_A = \max_k |\hat q_{A,k} - q_{A,k}| / \max_k
s_{A,k}$ with $s$ the quantity's scale (:func:`run_max_relative_error`), then the median over groups.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._inputs import as_float_array, check_int, check_real
from .optim import SymmetryTracker
from .symmetries import KINDS

__all__ = [
    "DRIFT_MIN",
    "DiscountedSum",
    "OscillatorSums",
    "damping_regime",
    "drift_explained",
    "gradient_flow_error",
    "homogeneous_factor",
    "impulse_response",
    "median_drift_curve",
    "median_relative_error",
    "oscillator_constants",
    "predict_exact_discrete",
    "predict_gradient_flow",
    "predict_modified_flow",
    "predict_momentum",
    "predict_weight_decay",
    "run_max_relative_error",
]

# running sums switch to moment (Taylor) sums when |kappa| < _NEAR_CRITICAL * gamma: the exponential form then
# cancels (relative error ~ eps gamma / |kappa|); the series' truncation error is (|kappa| / gamma)^(2 n_terms)
_NEAR_CRITICAL = 0.1
_N_TERMS = 8


def _check_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return kind


def _check_hyper(lr: Any, weight_decay: Any, momentum: Any = 0.0, dampening: Any = 0.0) -> None:
    for name, value in (("lr", lr), ("weight_decay", weight_decay), ("momentum", momentum), ("dampening", dampening)):
        if value is not None:
            check_real(value, name)
    if lr is None or not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a finite number > 0, got {lr}")
    if weight_decay is None or not (weight_decay >= 0 and math.isfinite(weight_decay)):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if not 0 <= dampening < 1:
        raise ValueError(f"dampening must be in [0, 1), got {dampening}")


def _as_q0(q0: Any) -> np.ndarray:
    q = as_float_array(q0, "q0")
    if q.ndim != 1:
        raise ValueError(f"q0 must be a 1-D array (one value per group), got shape {q.shape}")
    return q


def _as_series(x: Any, name: str, n_groups: int) -> np.ndarray:
    if x is None:
        raise ValueError(f"{name} is required (per-step statistics of shape (K, {n_groups}))")
    a = as_float_array(x, name)
    if a.ndim != 2 or a.shape[1] != n_groups:
        raise ValueError(f"{name} must have shape (K, {n_groups}), got {a.shape}")
    return a


def _from_tracker(tracker: SymmetryTracker, kind: str, given: dict[str, Any]) -> tuple[dict, dict]:
    bad = [k for k, v in given.items() if v is not None]
    if bad:
        raise ValueError(f"pass either a SymmetryTracker or arrays, not both (got {bad} with a tracker)")
    return tracker.series(kind), dict(tracker.hyper)


def _subsample(pred: np.ndarray, source: Any) -> np.ndarray:
    return pred[:: source.every] if isinstance(source, SymmetryTracker) else pred


# ------------------------------------------------------------------------------------------------------------
# running sums
# ------------------------------------------------------------------------------------------------------------


class DiscountedSum:
    r"""Running sum $I \leftarrow a\,I + w\,x_k$ (``right=True``) or $I \leftarrow a(I + w\,x_k)$.

    With $a = e^{-c\,\Delta t}$ this is $w\sum_{k<K} e^{-c(t_K - t_{k+1})} x_k$ (right-endpoint
    weights) or $w\sum_{k<K} e^{-c(t_K - t_k)} x_k$ (left-endpoint). Weights never grow, so it stays O(1).
    """

    def __init__(self, *, decay: float, weight: float, right: bool = True, shape: tuple[int, ...] = ()) -> None:
        self.decay, self.weight, self.right = float(decay), float(weight), bool(right)
        self.value = np.zeros(shape, dtype=np.float64)

    def update(self, x: np.ndarray) -> np.ndarray:
        if self.right:
            self.value = self.decay * self.value + self.weight * x
        else:
            self.value = self.decay * (self.value + self.weight * x)
        return self.value


def oscillator_constants(
    *, lr: float, momentum: float, dampening: float = 0.0, weight_decay: float, kind: str
) -> tuple[float, float, float]:
    r"""$(h, \gamma, \omega)$ of the momentum oscillator: $h = \eta(1-d)$,
    $\gamma = (1-\beta)/(h(1+\beta))$, $\omega^2 = c\lambda/(h(1+\beta))$ with $c = 2$ (translation) or
    $c = 4$ (scale, rescale)."""
    _check_kind(kind)
    _check_hyper(lr, weight_decay, momentum, dampening)
    if momentum <= 0:
        raise ValueError(f"momentum must be > 0 for the oscillator, got {momentum}")
    h = lr * (1 - dampening)
    gamma = (1 - momentum) / (h * (1 + momentum))
    c = 2.0 if kind == "translation" else 4.0
    omega = math.sqrt(c * weight_decay / (h * (1 + momentum)))
    return h, gamma, omega


def damping_regime(
    lr: float, momentum: float, dampening: float = 0.0, weight_decay: float = 0.0, kind: str = "scale"
) -> str:
    r""""underdamped" ($\gamma < \omega$), "critical" ($\gamma = \omega$ to 1e-12 relative) or "overdamped"."""
    _, gamma, omega = oscillator_constants(
        lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, kind=kind
    )
    if math.isclose(gamma, omega, rel_tol=1e-12):
        return "critical"
    return "underdamped" if gamma < omega else "overdamped"


def _sinhc(x: np.ndarray) -> np.ndarray:
    """sinh(x) / x, accurate for small x (sinh itself is accurate to round-off there)."""
    small = np.abs(x) < 1e-8
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return np.where(small, 1.0 + x * x / 6.0, np.sinh(x) / np.where(small, 1.0, x))


def _sinc(x: np.ndarray) -> np.ndarray:
    small = np.abs(x) < 1e-8
    return np.where(small, 1.0 - x * x / 6.0, np.sin(x) / np.where(small, 1.0, x))


def homogeneous_factor(t: Any, gamma: float, omega: float) -> np.ndarray:
    r"""$\Phi(t)$ with $\Phi(0) = 1$, $\Phi'(0) = 0$ for $\ddot x + 2\gamma\dot x + \omega^2 x = 0$:
    $e^{-\gamma t}(\cosh\kappa t + \gamma t\,\mathrm{sinhc}(\kappa t))$, $\kappa^2 = \gamma^2 - \omega^2$
    (cos/sin when underdamped, $e^{-\gamma t}(1+\gamma t)$ when critical). Continuous across $\gamma = \omega$:
    no division by $\kappa$; the overdamped form is switched to decaying exponentials where cosh would overflow."""
    t = np.asarray(t, dtype=np.float64)
    k2 = gamma * gamma - omega * omega
    kappa = math.sqrt(abs(k2))
    if k2 < 0:  # underdamped: cos(Omega t) + gamma t sinc(Omega t)
        return np.exp(-gamma * t) * (np.cos(kappa * t) + gamma * t * _sinc(kappa * t))
    x = kappa * t
    with np.errstate(over="ignore", invalid="ignore"):
        direct = np.exp(-gamma * t) * (np.cosh(x) + gamma * t * _sinhc(x))
        if kappa > 0:
            # (alpha_+ e^{alpha_- t} - alpha_- e^{alpha_+ t}) / (alpha_+ - alpha_-), alpha_pm = -gamma pm kappa
            expo = ((gamma + kappa) * np.exp((kappa - gamma) * t) + (kappa - gamma) * np.exp(-(kappa + gamma) * t)) / (
                2 * kappa)
        else:
            expo = direct
    return np.where(np.abs(x) < 700, direct, expo)


def impulse_response(s: Any, gamma: float, omega: float) -> np.ndarray:
    r"""$G(s) = e^{-\gamma s}\,s\,\mathrm{sinhc}(\kappa s)$ ($G(0) = 0$, $G'(0) = 1$): $\sin(\Omega s)/\Omega$
    when underdamped, $s e^{-\gamma s}$ when critical, $(e^{\alpha_+ s} - e^{\alpha_- s})/(\alpha_+ - \alpha_-)$
    when overdamped."""
    s = np.asarray(s, dtype=np.float64)
    k2 = gamma * gamma - omega * omega
    kappa = math.sqrt(abs(k2))
    if k2 < 0:
        return np.exp(-gamma * s) * s * _sinc(kappa * s)
    x = kappa * s
    with np.errstate(over="ignore", invalid="ignore"):
        direct = np.exp(-gamma * s) * s * _sinhc(x)
        expo = (np.exp((kappa - gamma) * s) - np.exp(-(kappa + gamma) * s)) / (2 * kappa) if kappa > 0 else direct
    return np.where(np.abs(x) < 700, direct, expo)


class OscillatorSums:
    r"""Discounted running sums giving $h\sum_{k<K} G(t_K - t_k) f_k$ after K updates, in float64.

    Exponential form: for the root $\rho = -\gamma + \kappa$ (complex when underdamped) keep
    $C_\rho \leftarrow e^{\rho h}(C_\rho + f_k)$ (and $C_{-\gamma-\kappa}$ when overdamped), so
    $C_\rho = \sum_{k<K} e^{\rho(t_K - t_k)} f_k$; particular = $h\,\mathrm{Im}(C_\rho)/\Omega$
    (underdamped) or $h(C_{\alpha_+} - C_{\alpha_-})/(\alpha_+ - \alpha_-)$ (overdamped).
    Near critical damping ($|\kappa| < 0.1\gamma$) that difference cancels, so moment sums
    $M_m = \sum_{k<K} (t_K-t_k)^m/m!\,e^{-\gamma(t_K-t_k)} f_k$, updated by
    $M \leftarrow e^{-\gamma h} B (M + f_k e_0)$ with $B_{mj} = h^{m-j}/(m-j)!$, give the Taylor
    series $\sum_n \kappa^{2n} M_{2n+1}$ of $\sinh(\kappa s)/\kappa$ (exactly $M_1$, the
    spec's critical recursion $C_1 \leftarrow e^{-\gamma h}(C_1 + h(C_0 + f_k))$, at $\gamma = \omega$; the
    truncation error is $(|\kappa|/\gamma)^{16}$). All weights decay: nothing overflows.
    """

    def __init__(self, *, h: float, gamma: float, omega: float, shape: tuple[int, ...] = ()) -> None:
        if not (h > 0 and gamma > 0 and omega >= 0):
            raise ValueError(f"need h > 0, gamma > 0, omega >= 0; got h={h}, gamma={gamma}, omega={omega}")
        self.h, self.gamma, self.omega = float(h), float(gamma), float(omega)
        self.k2 = gamma * gamma - omega * omega
        self.kappa = math.sqrt(abs(self.k2))
        self.t = 0.0
        self.use_moments = self.kappa < _NEAR_CRITICAL * gamma
        if self.use_moments:
            n_m = 2 * _N_TERMS
            m = np.arange(n_m)
            diff = m[:, None] - m[None, :]
            fact = np.array([math.factorial(int(max(d, 0))) for d in diff.ravel()], dtype=np.float64)
            fact = fact.reshape(diff.shape)
            self.binom = np.where(diff >= 0, h ** np.maximum(diff, 0) / fact, 0.0) * math.exp(-gamma * h)
            self.moments = np.zeros((n_m, *shape), dtype=np.float64)
        elif self.k2 < 0:
            self.c_plus = np.zeros(shape, dtype=np.complex128)
            self.step_plus = complex(math.exp(-gamma * h) * math.cos(self.kappa * h),
                                     math.exp(-gamma * h) * math.sin(self.kappa * h))
        else:
            self.c_plus = np.zeros(shape, dtype=np.float64)
            self.c_minus = np.zeros(shape, dtype=np.float64)
            self.step_plus = math.exp((self.kappa - gamma) * h)
            self.step_minus = math.exp(-(self.kappa + gamma) * h)

    def update(self, f: np.ndarray) -> None:
        """Add step $k$'s forcing $f_k$ (shape = the sums' shape) and advance time by $h$."""
        if self.use_moments:
            m = self.moments.copy()
            m[0] = m[0] + f
            self.moments = np.tensordot(self.binom, m, axes=(1, 0))
        else:
            self.c_plus = self.step_plus * (self.c_plus + f)
            if self.k2 >= 0:
                self.c_minus = self.step_minus * (self.c_minus + f)
        self.t += self.h

    def particular(self) -> np.ndarray:
        r"""$h\sum_{k<K} G(t_K - t_k) f_k$."""
        if self.use_moments:
            tot = np.zeros_like(self.moments[1])
            for n in reversed(range(_N_TERMS)):  # smallest terms first
                tot = tot + self.k2**n * self.moments[2 * n + 1]
            return self.h * tot
        if self.k2 < 0:
            return self.h * self.c_plus.imag / self.kappa
        return self.h * (self.c_plus - self.c_minus) / (2 * self.kappa)


# ------------------------------------------------------------------------------------------------------------
# predictors
# ------------------------------------------------------------------------------------------------------------


def predict_gradient_flow(source: Any, *, kind: str | None = None, n_steps: int | None = None) -> np.ndarray:
    """Gradient flow (Sec. 4): $S$, $N$, $D$ conserved, $q_k = q_0$. ``source``: a SymmetryTracker (with ``kind``)
    or q0 (g,) with ``n_steps``.

    Returns:
        (K + 1, g) constant array (subsampled to the tracker's recorded steps).
    """
    if isinstance(source, SymmetryTracker):
        s, _ = _from_tracker(source, _check_kind(kind), {"n_steps": n_steps})
        q0, k = s["quantity"][0], s["quantity"].shape[0] - 1
    else:
        q0 = _as_q0(source)
        k = check_int(n_steps, "n_steps", lo=0)
    return _subsample(np.broadcast_to(q0, (k + 1, q0.shape[0])).copy(), source)


def predict_weight_decay(
    source: Any,
    *,
    kind: str,
    n_steps: int | None = None,
    lr: float | None = None,
    weight_decay: float | None = None,
    momentum: float | None = None,
    dampening: float | None = None,
) -> np.ndarray:
    r"""Gradient flow + weight decay (Sec. 5): $q(t) = e^{-c\lambda t} q(0)$, $c = 1$ (translation) or 2,
    $t_k = h k$ ($h = \eta(1 - d)$ with momentum, $\eta$ without). Returns (K + 1, g)."""
    _check_kind(kind)
    if isinstance(source, SymmetryTracker):
        s, hp = _from_tracker(source, kind, {"n_steps": n_steps, "lr": lr, "weight_decay": weight_decay,
                                             "momentum": momentum, "dampening": dampening})
        q0, k = s["quantity"][0], s["quantity"].shape[0] - 1
        lr, weight_decay, momentum, dampening = hp["lr"], hp["weight_decay"], hp["momentum"], hp["dampening"]
    else:
        q0 = _as_q0(source)
        k = check_int(n_steps, "n_steps", lo=0)
    momentum = momentum or 0.0
    dampening = dampening or 0.0
    _check_hyper(lr, weight_decay, momentum, dampening)
    h = lr * (1 - dampening) if momentum > 0 else lr
    c = 1.0 if kind == "translation" else 2.0
    t = h * np.arange(k + 1)
    return _subsample(np.exp(-c * weight_decay * t)[:, None] * q0[None, :], source)


def predict_modified_flow(
    source: Any,
    grad_sq: Any = None,
    *,
    kind: str,
    lr: float | None = None,
    weight_decay: float | None = None,
    convention: str = "modified",
    update_sq: Any = None,
) -> np.ndarray:
    r"""Modified gradient flow (finite lr, no momentum), Sec. 5 / spec item 3.

    ``convention="modified"`` (default): $\tilde\lambda = \lambda(1 + \eta\lambda/2)$ with the bare loss
    gradient; translation $S_K = e^{-\tilde\lambda t_K}S_0$; scale/rescale
    $q_K = e^{-2\tilde\lambda t_K}q_0 + I_K$, $I \leftarrow e^{-2\tilde\lambda\eta}I + \eta^2 x_k$,
    $x_k$ = ``grad_sq`` ($\|g_{A,k}\|^2$; rescale $A_1$ minus $A_2$). Second-order consistent in $\eta$.
    ``convention="official"``: plain $\lambda$ with $x_k$ = ``update_sq`` = $\|g_{A,k} + \lambda\theta_{A,k}\|^2$
    and left-endpoint weights, $e^{-2\lambda t_K}(q_0 + \eta^2\sum_k e^{2\lambda t_k} x_k)$ (computed with
    decaying weights); first order in $\eta$ only.

    Args:
        source: SymmetryTracker (then ``kind`` only) or q0 (g,).
        grad_sq: (K, g) per-step $\|g_{A,k}\|^2$ (modified convention; unused for translation).
        update_sq: (K, g) per-step $\|g_{A,k} + \lambda\theta_{A,k}\|^2$ (official convention).

    Returns:
        (K + 1, g) predictions at steps 0..K ($t_k = \eta k$).
    """
    _check_kind(kind)
    if convention not in ("modified", "official"):
        raise ValueError(f"convention must be 'modified' or 'official', got {convention!r}")
    if isinstance(source, SymmetryTracker):
        s, hp = _from_tracker(source, kind, {"grad_sq": grad_sq, "lr": lr, "weight_decay": weight_decay,
                                             "update_sq": update_sq})
        if hp["momentum"] != 0:
            raise ValueError("predict_modified_flow models SGD without momentum; use predict_momentum")
        q0 = s["quantity"][0]
        lr, weight_decay = hp["lr"], hp["weight_decay"]
        n_steps = s["quantity"].shape[0] - 1
        grad_sq, update_sq = s.get("grad_sq"), s.get("update_sq")
    else:
        q0 = _as_q0(source)
        n_steps = None
    _check_hyper(lr, weight_decay)
    lam = weight_decay * (1 + lr * weight_decay / 2) if convention == "modified" else weight_decay
    if kind == "translation":
        if n_steps is None:
            x = grad_sq if grad_sq is not None else update_sq
            if x is None:
                raise ValueError("pass n_steps through grad_sq (any (K, g) array) for translation groups")
            n_steps = _as_series(x, "grad_sq", q0.shape[0]).shape[0]
        t = lr * np.arange(n_steps + 1)
        return _subsample(np.exp(-lam * t)[:, None] * q0[None, :], source)
    if convention == "modified":
        x = _as_series(grad_sq, "grad_sq", q0.shape[0])
        acc = DiscountedSum(decay=math.exp(-2 * lam * lr), weight=lr * lr, right=True, shape=q0.shape)
    else:
        x = _as_series(update_sq, "update_sq", q0.shape[0])
        acc = DiscountedSum(decay=math.exp(-2 * lam * lr), weight=lr * lr, right=False, shape=q0.shape)
    k = x.shape[0]
    out = np.empty((k + 1, q0.shape[0]))
    out[0] = q0
    decay = math.exp(-2 * lam * lr)
    hom = q0.copy()
    for i in range(k):
        hom = hom * decay
        out[i + 1] = hom + acc.update(x[i])
    return _subsample(out, source)


def predict_momentum(
    source: Any,
    update_sq: Any = None,
    *,
    kind: str,
    lr: float | None = None,
    momentum: float | None = None,
    dampening: float | None = None,
    weight_decay: float | None = None,
    forcing: bool = True,
) -> np.ndarray:
    r"""Driven damped oscillator of SGD with momentum (spec item 5), zero initial rate.

    $q(t_K) = \Phi(t_K) q_0 + h\sum_{k<K} G(t_K - t_k) f_k$ with
    $f_k = 2\|v_{A,k+1}\|^2/(1-d)^2$ (= $2\|\theta_{A,k+1}-\theta_{A,k}\|^2/h^2$; rescale: A1 minus
    A2); translation has no forcing ($\omega_T$) and scale/rescale use $\omega_S$. ``forcing=False`` gives the
    homogeneous part $\Phi(t)q_0$ only.

    Args:
        source: SymmetryTracker (then ``kind`` only) or q0 (g,).
        update_sq: (K, g) per-step $\|v_{A,k+1}\|^2$ (not needed for translation, except to give K).

    Returns:
        (K + 1, g) predictions at $t_k = h k$, $h = \eta(1 - d)$.
    """
    _check_kind(kind)
    if isinstance(source, SymmetryTracker):
        s, hp = _from_tracker(source, kind, {"update_sq": update_sq, "lr": lr, "momentum": momentum,
                                             "dampening": dampening, "weight_decay": weight_decay})
        q0 = s["quantity"][0]
        n_steps = s["quantity"].shape[0] - 1
        lr, momentum, dampening, weight_decay = hp["lr"], hp["momentum"], hp["dampening"], hp["weight_decay"]
        update_sq = s.get("update_sq")
    else:
        q0 = _as_q0(source)
        n_steps = None
    dampening = dampening or 0.0
    if momentum is None:
        raise ValueError("momentum is required")
    h, gamma, omega = oscillator_constants(
        lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, kind=kind
    )
    if kind == "translation" or not forcing:
        if n_steps is None:
            if update_sq is None:
                raise ValueError("update_sq (K, g) is needed to know the number of steps")
            n_steps = _as_series(update_sq, "update_sq", q0.shape[0]).shape[0]
        t = h * np.arange(n_steps + 1)
        return _subsample(homogeneous_factor(t, gamma, omega)[:, None] * q0[None, :], source)
    x = _as_series(update_sq, "update_sq", q0.shape[0])
    k = x.shape[0]
    t = h * np.arange(k + 1)
    out = homogeneous_factor(t, gamma, omega)[:, None] * q0[None, :]
    sums = OscillatorSums(h=h, gamma=gamma, omega=omega, shape=q0.shape)
    f = 2.0 * x / (1 - dampening) ** 2
    for i in range(k):
        sums.update(f[i])
        out[i + 1] = out[i + 1] + sums.particular()
    return _subsample(out, source)


def predict_exact_discrete(
    source: Any,
    *,
    kind: str,
    lr: float | None = None,
    weight_decay: float | None = None,
    momentum: float | None = None,
    dampening: float | None = None,
    grad_sq: Any = None,
    update_sq: Any = None,
    n_steps: int | None = None,
    first_step_dampening: bool | None = None,
) -> np.ndarray:
    r"""Exact one-step recursions (spec item 4); hold to round-off for any minibatch.

    Without momentum: $S_{k+1} = (1-\eta\lambda)S_k$; $N_{k+1} = (1-\eta\lambda)^2 N_k + \eta^2\|g_{A,k}\|^2$
    ($D$ likewise with the $A_1 - A_2$ difference of ``grad_sq``).
    With momentum (PyTorch semantics): translation $u_{k+1} = \beta u_k + (1-d)\lambda S_k$,
    $S_{k+1} = S_k - \eta u_{k+1}$; scale/rescale $P_k = \beta(P_{k-1} - \eta Q_k) + (1-d)\lambda N_k$,
    $N_{k+1} = N_k - 2\eta P_k + \eta^2 Q_{k+1}$ with $Q_{k+1}$ = ``update_sq``
    ($\|v_{A,k+1}\|^2$). First step: PyTorch gives $u_1 = \lambda S_0$, $P_0 = \lambda N_0$; with
    ``first_step_dampening`` (official optimizer) the factor $(1 - d)$ applies.

    Returns:
        (K + 1, g).
    """
    _check_kind(kind)
    if isinstance(source, SymmetryTracker):
        s, hp = _from_tracker(source, kind, {"lr": lr, "weight_decay": weight_decay, "momentum": momentum,
                                             "dampening": dampening, "grad_sq": grad_sq, "update_sq": update_sq,
                                             "n_steps": n_steps, "first_step_dampening": first_step_dampening})
        q0 = s["quantity"][0]
        n_steps = s["quantity"].shape[0] - 1
        lr, weight_decay, momentum, dampening = hp["lr"], hp["weight_decay"], hp["momentum"], hp["dampening"]
        first_step_dampening = hp["first_step_dampening"]
        grad_sq, update_sq = s.get("grad_sq"), s.get("update_sq")
    else:
        q0 = _as_q0(source)
    momentum = momentum or 0.0
    dampening = dampening or 0.0
    _check_hyper(lr, weight_decay, momentum, dampening)
    g = q0.shape[0]
    if n_steps is not None:
        n_steps = check_int(n_steps, "n_steps", lo=0)
    if kind == "translation" and n_steps is None:
        x = grad_sq if grad_sq is not None else update_sq
        if x is None:
            raise ValueError("n_steps is required for translation groups")
        n_steps = _as_series(x, "grad_sq", g).shape[0]
    if momentum == 0:
        if kind == "translation":
            return _subsample(((1 - lr * weight_decay) ** np.arange(n_steps + 1))[:, None] * q0[None, :], source)
        x = _as_series(grad_sq, "grad_sq", g)
        out = np.empty((x.shape[0] + 1, g))
        out[0] = q0
        a = (1 - lr * weight_decay) ** 2
        for k in range(x.shape[0]):
            out[k + 1] = a * out[k] + lr * lr * x[k]
        return _subsample(out, source)
    first = (1 - dampening) if first_step_dampening else 1.0
    if kind == "translation":
        out = np.empty((n_steps + 1, g))
        out[0] = q0
        u = np.zeros(g)
        for k in range(n_steps):
            if k == 0:
                u = first * weight_decay * out[0]
            else:
                u = momentum * u + (1 - dampening) * weight_decay * out[k]
            out[k + 1] = out[k] - lr * u
        return _subsample(out, source)
    q = _as_series(update_sq, "update_sq", g)  # q[k] = Q_{k+1}
    out = np.empty((q.shape[0] + 1, g))
    out[0] = q0
    p = np.zeros(g)
    for k in range(q.shape[0]):
        if k == 0:
            p = first * weight_decay * out[0]
        else:
            p = momentum * (p - lr * q[k - 1]) + (1 - dampening) * weight_decay * out[k]
        out[k + 1] = out[k] - 2 * lr * p + lr * lr * q[k]
    return _subsample(out, source)


def run_max_relative_error(pred: Any, emp: Any, scale: Any = None) -> np.ndarray:
    r"""Per group $\max_k |\hat q_k - q_k| / \max_k |s_k|$ (``scale`` $s$ defaults to ``emp``). (T, g) -> (g,)."""
    pred = as_float_array(pred, "pred")
    emp = as_float_array(emp, "emp")
    if pred.shape != emp.shape or pred.ndim != 2:
        raise ValueError(f"pred and emp must be (T, g) arrays of one shape, got {pred.shape} and {emp.shape}")
    ref = np.abs(emp if scale is None else as_float_array(scale, "scale")).max(axis=0)
    err = np.abs(pred - emp).max(axis=0)  # max propagates NaN
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(ref > 0, err / np.where(ref > 0, ref, 1.0), np.where(err > 0, np.inf, 0.0))
    # a NaN anywhere in a group's series, prediction or scale is no measurement: NaN, never a perfect 0
    return np.where(np.isnan(ref) | np.isnan(err), np.nan, out)


# ------------------------------------------------------------------------------------------------------------
# error statistics of a run (the reproduction's metrics)
# ------------------------------------------------------------------------------------------------------------

DRIFT_MIN = 1e-8  # drift_explained uses groups whose drift |q_K - q_0| / max_k s_k is at least this


def median_relative_error(pred: np.ndarray, emp: np.ndarray, scale: np.ndarray) -> float:
    """The median over groups of :func:`run_max_relative_error`."""
    return float(np.median(run_max_relative_error(pred, emp, scale)))


def gradient_flow_error(emp: np.ndarray, scale: np.ndarray) -> float:
    r"""Gradient-flow error of a (T, g) record: median over groups of $\max_k |q_k - q_0| / \max_k s_k$."""
    return median_relative_error(predict_gradient_flow(emp[0], n_steps=emp.shape[0] - 1), emp, scale)


def drift_explained(pred: np.ndarray, emp: np.ndarray, scale: np.ndarray) -> tuple[float, float]:
    r"""Is the measured drift $\Delta q = q_K - q_0$ the prediction's?

    Over the groups whose measured drift $|\Delta q| / \max_k s_k$ is >= ``DRIFT_MIN`` (below it the drift is too
    close to round-off to be explained or not), the median of $|\Delta q - \Delta\hat q| / |\Delta q|$; and the
    fraction of groups that qualify. NaN (no group qualifies) makes a claim reading it inconclusive.
    """
    d_emp = emp[-1] - emp[0]
    d_mod = pred[-1] - pred[0]
    ref = np.abs(scale).max(axis=0)
    sel = (ref > 0) & (np.abs(d_emp) >= DRIFT_MIN * ref)
    if not sel.any():
        return math.nan, 0.0
    return float(np.median(np.abs(d_emp[sel] - d_mod[sel]) / np.abs(d_emp[sel]))), float(sel.mean())


def median_drift_curve(emp: np.ndarray, scale: np.ndarray) -> np.ndarray:
    r"""(T,) median over groups of $|q_k - q_0| / \max_k s_k$: the drift as it grows over time."""
    return np.median(np.abs(emp - emp[0]) / np.abs(scale).max(axis=0), axis=1)
