"""Closed-form predictions: known answers, ODE residuals, limits, running sums and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from livepapers.core.stats import fit_loglog_slope
from livepapers.neural_mechanics import (
    damping_regime,
    homogeneous_factor,
    impulse_response,
    oscillator_constants,
    predict_exact_discrete,
    predict_gradient_flow,
    predict_modified_flow,
    predict_momentum,
    predict_weight_decay,
    run_max_relative_error,
)
from livepapers.neural_mechanics.predict import DiscountedSum, OscillatorSums

# (gamma, omega) in the three regimes, plus near-critical on both sides
REGIMES = {
    "underdamped": (0.7, 2.0),
    "critical": (1.3, 1.3),
    "overdamped": (2.5, 0.8),
    "near_under": (1.3, 1.3 * (1 + 1e-7)),
    "near_over": (1.3, 1.3 * (1 - 1e-7)),
}


def test_damping_regimes_of_the_spec_runs() -> None:
    h, gamma, omega_s = oscillator_constants(lr=0.02, momentum=0.9, weight_decay=1e-3, kind="scale")
    assert h == 0.02 and gamma == pytest.approx(2.6316, abs=1e-3) and omega_s == pytest.approx(0.3244, abs=1e-3)
    assert oscillator_constants(lr=0.02, momentum=0.9, weight_decay=1e-3, kind="translation")[2] == pytest.approx(
        0.2294, abs=1e-3)
    assert {damping_regime(0.02, 0.9, 0.0, 1e-3, k) for k in ("translation", "scale", "rescale")} == {"overdamped"}
    assert damping_regime(0.02, 0.9, 0.0, 0.1, "scale") == "underdamped"
    assert damping_regime(0.02, 0.9, 0.0, 0.1, "rescale") == "underdamped"
    assert damping_regime(0.02, 0.9, 0.0, 0.1, "translation") == "overdamped"
    # critical: omega^2 = gamma^2  <=>  4 lambda / (h (1 + beta)) = gamma^2
    gamma = 0.1 / (0.02 * 1.9)
    assert damping_regime(0.02, 0.9, 0.0, gamma**2 * 0.02 * 1.9 / 4, "scale") == "critical"


@pytest.mark.parametrize("regime", sorted(REGIMES))
def test_oscillator_functions_solve_the_ode(regime: str) -> None:
    """Phi'' + 2 gamma Phi' + omega^2 Phi = 0 with Phi(0)=1, Phi'(0)=0; G the same with G(0)=0, G'(0)=1."""
    gamma, omega = REGIMES[regime]
    e = 1e-4
    t = np.linspace(0.05, 6.0, 50)
    for f, (v0, d0) in ((homogeneous_factor, (1.0, 0.0)), (impulse_response, (0.0, 1.0))):
        x = f(t, gamma, omega)
        xp, xm = f(t + e, gamma, omega), f(t - e, gamma, omega)
        d1, d2 = (xp - xm) / (2 * e), (xp - 2 * x + xm) / e**2
        res = d2 + 2 * gamma * d1 + omega**2 * x
        assert np.abs(res).max() < 1e-5 * max(1.0, omega**2)
        assert f(np.array(0.0), gamma, omega) == pytest.approx(v0, abs=1e-15)
        assert (f(np.array(e), gamma, omega) - f(np.array(-e), gamma, omega)) / (2 * e) == pytest.approx(d0, abs=1e-7)


def test_oscillator_continuous_across_critical() -> None:
    t = np.linspace(0, 20, 201)
    gamma = 1.3
    for f in (homogeneous_factor, impulse_response):
        crit = f(t, gamma, gamma)
        for delta in (1e-12, 1e-9, 1e-6):
            for sign in (1, -1):
                near = f(t, gamma, gamma * (1 + sign * delta))
                assert np.abs(near - crit).max() < 50 * delta + 1e-13
        # critical closed forms
    np.testing.assert_allclose(homogeneous_factor(t, gamma, gamma), np.exp(-gamma * t) * (1 + gamma * t), rtol=1e-13)
    np.testing.assert_allclose(impulse_response(t, gamma, gamma), t * np.exp(-gamma * t), rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("regime", sorted(REGIMES))
def test_running_sums_equal_direct_convolution(regime: str) -> None:
    gamma, omega = REGIMES[regime]
    h, n = 0.01, 3000  # t up to 30: gamma t ~ 40-75, where growing weights e^{gamma tau} would lose digits
    rng = np.random.default_rng(0)
    f = rng.uniform(0.0, 2.0, size=(n, 3))
    sums = OscillatorSums(h=h, gamma=gamma, omega=omega, shape=(3,))
    for k in (1, 7, 200, n):
        while round(sums.t / h) < k:
            sums.update(f[round(sums.t / h)])
        s = h * (k - np.arange(k))  # t_K - t_k
        direct = h * (impulse_response(s, gamma, omega)[:, None] * f[:k]).sum(0)
        np.testing.assert_allclose(sums.particular(), direct, rtol=1e-12, atol=1e-14)
    # SGD running sum with right-endpoint weights
    acc = DiscountedSum(decay=math.exp(-0.3 * h), weight=h * h, right=True, shape=(3,))
    for k in range(n):
        acc.update(f[k])
    direct = h * h * (np.exp(-0.3 * h * (n - 1 - np.arange(n)))[:, None] * f).sum(0)
    np.testing.assert_allclose(acc.value, direct, rtol=1e-12)


def test_running_sums_do_not_overflow() -> None:
    """gamma t >> 700: growing weights e^{gamma tau} would overflow float64; discounted sums stay finite."""
    sums = OscillatorSums(h=0.1, gamma=5.0, omega=1.0, shape=())
    for _ in range(2000):  # gamma t = 1000
        sums.update(np.float64(1.0))
    # constant forcing f: particular -> f / omega^2 (1 - Phi) -> 1 as t -> inf (up to O(h))
    assert np.isfinite(sums.particular()) and abs(sums.particular() - 1.0) < 0.1


def _momentum_hyper(gamma: float, omega: float, h: float) -> dict:
    """lr, momentum, weight_decay giving (gamma, omega_S) at step h (d = 0)."""
    beta = (1 - gamma * h) / (1 + gamma * h)
    lam = omega**2 * h * (1 + beta) / 4
    return dict(lr=h, momentum=beta, weight_decay=lam)


@pytest.mark.parametrize("regime", ["underdamped", "critical", "overdamped"])
def test_momentum_prediction_solves_driven_ode(regime: str) -> None:
    """N'' + 2 gamma N' + omega^2 N = f by finite differences on the prediction, N'(0) = 0."""
    gamma, omega = REGIMES[regime]
    res_max = []
    for h in (2e-3, 1e-3):
        hp = _momentum_hyper(gamma, omega, h)
        _, g2, w2 = oscillator_constants(kind="scale", **hp)
        assert g2 == pytest.approx(gamma) and w2 == pytest.approx(omega)
        n = round(4.0 / h)
        t = h * np.arange(n + 1)
        force = 1.0 + 0.5 * np.sin(2.0 * t) + 0.2 * t
        n_pred = predict_momentum(np.array([0.7]), (force[:-1] / 2)[:, None], kind="scale", **hp)[:, 0]
        d1 = (n_pred[2:] - n_pred[:-2]) / (2 * h)
        d2 = (n_pred[2:] - 2 * n_pred[1:-1] + n_pred[:-2]) / h**2
        res = d2 + 2 * gamma * d1 + omega**2 * n_pred[1:-1] - force[1:-1]
        res_max.append(np.abs(res[10:]).max() / np.abs(force).max())
        assert abs(n_pred[1] - n_pred[0]) / h < 5 * h * (1 + np.abs(force).max())  # zero initial rate
    assert res_max[-1] < 5e-3
    assert res_max[-1] < 0.7 * res_max[0]  # O(h): shrinks with the step


def test_momentum_constant_forcing_closed_form() -> None:
    """Constant f: N(t) = Phi(t) N0 + f / omega^2 (1 - Phi(t)), to O(h)."""
    for regime in ("underdamped", "critical", "overdamped"):
        gamma, omega = REGIMES[regime]
        h = 1e-3
        hp = _momentum_hyper(gamma, omega, h)
        n = round(5.0 / h)
        t = h * np.arange(n + 1)
        pred = predict_momentum(np.array([2.0]), np.full((n, 1), 0.5), kind="scale", **hp)[:, 0]
        phi = homogeneous_factor(t, gamma, omega)
        exact = phi * 2.0 + 1.0 / omega**2 * (1 - phi)
        assert np.abs(pred - exact).max() < 20 * h


def test_momentum_prediction_continuous_across_critical() -> None:
    gamma, h, n = 1.3, 1e-3, 3000
    f = (1.0 + np.sin(np.arange(n) * h))[:, None]
    preds = []
    for omega in (gamma * (1 - 1e-9), gamma, gamma * (1 + 1e-9)):
        preds.append(predict_momentum(np.array([1.0]), f, kind="scale", **_momentum_hyper(gamma, omega, h)))
    assert np.abs(preds[0] - preds[1]).max() < 1e-7
    assert np.abs(preds[2] - preds[1]).max() < 1e-7


def _synthetic(lr: float, lam: float, t_end: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fixed smooth gradient-norm sequence ||g(t)||^2 and the exact discrete N (one group)."""
    n = round(t_end / lr)
    t = lr * np.arange(n)
    gsq = (1.0 + 0.5 * np.sin(3.0 * t))[:, None]
    exact = predict_exact_discrete(np.array([1.5]), kind="scale", lr=lr, weight_decay=lam, grad_sq=gsq)
    return gsq, exact, t


def test_modified_flow_converges_to_exact_recursion() -> None:
    """At fixed t: |modified - exact| ~ eta^2 lambda^3 t (right-endpoint sum); official ~ eta lambda^2 t."""
    lam, lrs = 0.5, np.array([0.02, 0.01, 0.005])
    d_mod, d_off, d_left = [], [], []
    for lr in lrs:
        gsq, exact, _ = _synthetic(lr, lam)
        mod = predict_modified_flow(np.array([1.5]), gsq, kind="scale", lr=lr, weight_decay=lam)
        upd = gsq + lam**2 * exact[:-1]  # ||g + lambda theta||^2 = ||g||^2 + lambda^2 N
        off = predict_modified_flow(np.array([1.5]), kind="scale", lr=lr, weight_decay=lam, convention="official",
                                    update_sq=upd)
        lt = lam * (1 + lr * lam / 2)
        k = gsq.shape[0]
        left = np.exp(-2 * lt * lr * k) * 1.5 + lr**2 * (np.exp(-2 * lt * lr * (k - np.arange(k))) * gsq[:, 0]).sum()
        d_mod.append(abs(mod[-1, 0] - exact[-1, 0]))
        d_off.append(abs(off[-1, 0] - exact[-1, 0]))
        d_left.append(abs(left - exact[-1, 0]))
    assert fit_loglog_slope(lrs, d_mod) == pytest.approx(2.0, abs=0.1)
    assert fit_loglog_slope(lrs, d_off) == pytest.approx(1.0, abs=0.1)
    # left-endpoint weights are off by a factor e^{-2 lambda eta} = 1 - O(eta) on the integral term, which is
    # itself O(eta): an O(eta^2) absolute error, but with constant ~ lambda * integral instead of lambda^3
    assert fit_loglog_slope(lrs, d_left) == pytest.approx(2.0, abs=0.1)
    assert d_mod[-1] < 0.1 * d_left[-1]
    assert d_mod[-1] < 1e-3 * d_off[-1]


def test_right_endpoint_integral_is_third_order() -> None:
    """With N0 = 0 only the integral term remains: the right-endpoint discounted sum differs from the exact
    recursion by O(eta^3) (weights (1 - eta lambda)^2j vs e^{-2 lambda~ eta j} agree to O(eta^3 j)), the
    left-endpoint weights by O(eta^2) = O(eta lambda) relative to the O(eta) integral term."""
    lam, lrs = 0.5, np.array([0.02, 0.01, 0.005])
    d_mod, d_left, rel_left = [], [], []
    for lr in lrs:
        n = round(2.0 / lr)
        gsq = (1.0 + 0.5 * np.sin(3.0 * lr * np.arange(n)))[:, None]
        exact = predict_exact_discrete(np.zeros(1), kind="scale", lr=lr, weight_decay=lam, grad_sq=gsq)[-1, 0]
        mod = predict_modified_flow(np.zeros(1), gsq, kind="scale", lr=lr, weight_decay=lam)[-1, 0]
        left = math.exp(-2 * lam * (1 + lr * lam / 2) * lr) * mod  # every weight one step more discounted
        d_mod.append(abs(mod - exact))
        d_left.append(abs(left - exact))
        rel_left.append(abs(left - exact) / exact)
    assert fit_loglog_slope(lrs, d_mod) == pytest.approx(3.0, abs=0.1)
    assert fit_loglog_slope(lrs, d_left) == pytest.approx(2.0, abs=0.1)
    assert fit_loglog_slope(lrs, rel_left) == pytest.approx(1.0, abs=0.1)  # the spec's "O(eta lambda) relative" error


@pytest.mark.parametrize("regime", ["underdamped", "critical", "overdamped"])
def test_momentum_oscillator_approaches_exact_recursion(regime: str) -> None:
    """The whole chain (gamma, omega_S, h = lr (1 - d), forcing 2||v||^2 / (1 - d)^2) against the exact scale
    recursion of item 4 driven by the same ||v_A||^2: the gap closes as O(h) at fixed t, with d != 0."""
    gamma, omega = REGIMES[regime]
    d, errs = 0.3, []
    for h in (4e-3, 2e-3, 1e-3):
        hp = _momentum_hyper(gamma, omega, h)
        hp["lr"] = h / (1 - d)  # h = lr (1 - d)
        n = round(3.0 / h)
        t = h * np.arange(1, n + 1)
        q = ((1 - d) ** 2 * (1.0 + 0.5 * np.sin(2.0 * t)))[:, None]  # ||v||^2 = (1 - d)^2 ||theta_dot||^2
        ex = predict_exact_discrete(np.ones(1), kind="scale", update_sq=q, dampening=d, first_step_dampening=True,
                                    **hp)
        osc = predict_momentum(np.ones(1), q, kind="scale", dampening=d, **hp)
        errs.append(np.abs(ex - osc).max())
    assert errs[-1] < 3e-3
    assert fit_loglog_slope([4e-3, 2e-3, 1e-3], errs) == pytest.approx(1.0, abs=0.1)


def test_modified_flow_equals_exact_without_weight_decay() -> None:
    gsq, exact, _ = _synthetic(0.1, 0.0)
    mod = predict_modified_flow(np.array([1.5]), gsq, kind="rescale", lr=0.1, weight_decay=0.0)
    np.testing.assert_allclose(mod, exact, rtol=1e-14)


def test_translation_rates() -> None:
    """(1 - eta lambda)^k exactly; lambda~ matches to eta^2 lambda^3 t / 3, plain lambda is off by eta lambda^2 t/2."""
    lr, lam, n = 0.1, 5e-3, 2000
    q0 = np.array([0.3, -1.2])
    exact = predict_exact_discrete(q0, kind="translation", lr=lr, weight_decay=lam, n_steps=n)
    np.testing.assert_allclose(exact[-1], (1 - lr * lam) ** n * q0, rtol=1e-13)
    mod = predict_modified_flow(q0, np.zeros((n, 2)), kind="translation", lr=lr, weight_decay=lam)
    plain = predict_weight_decay(q0, kind="translation", n_steps=n, lr=lr, weight_decay=lam)
    t = lr * n
    assert np.abs(mod[-1] / exact[-1] - 1).max() == pytest.approx(lr**2 * lam**3 * t / 3, rel=0.05)
    assert np.abs(plain[-1] / exact[-1] - 1).max() == pytest.approx(lr * lam**2 * t / 2, rel=0.01)
    # with lambda = 0 translation is conserved for any step size
    np.testing.assert_array_equal(
        predict_exact_discrete(q0, kind="translation", lr=0.7, weight_decay=0.0, n_steps=5)[-1], q0)


def test_momentum_translation_recursion_matches_oscillator_for_small_h() -> None:
    q0 = np.array([1.0])
    errs = []
    for h in (4e-3, 2e-3):
        hp = _momentum_hyper(2.0, 1.0, h)
        n = round(3.0 / h)
        ex = predict_exact_discrete(q0, kind="translation", n_steps=n, **hp)
        osc = predict_momentum(q0, np.zeros((n, 1)), kind="translation", **hp)
        errs.append(np.abs(ex - osc).max())
    assert errs[1] < 0.6 * errs[0] and errs[1] < 1e-2


def test_gradient_flow_and_weight_decay_shapes() -> None:
    q0 = np.array([1.0, 2.0])
    np.testing.assert_array_equal(predict_gradient_flow(q0, n_steps=3), np.tile(q0, (4, 1)))
    wd = predict_weight_decay(q0, kind="scale", n_steps=2, lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(wd[2], np.exp(-2 * 0.5 * 0.2) * q0)
    wdm = predict_weight_decay(q0, kind="translation", n_steps=2, lr=0.1, weight_decay=0.5, momentum=0.9,
                               dampening=0.5)
    np.testing.assert_allclose(wdm[2], np.exp(-0.5 * 0.1) * q0)  # h = lr (1 - d)


def test_bad_inputs() -> None:
    q0 = np.ones(3)
    with pytest.raises(ValueError, match="kind"):
        predict_modified_flow(q0, np.ones((4, 3)), kind="rotation", lr=0.1, weight_decay=0.0)
    with pytest.raises(ValueError, match=r"grad_sq must have shape \(K, 3\)"):
        predict_modified_flow(q0, np.ones((4, 2)), kind="scale", lr=0.1, weight_decay=0.0)
    with pytest.raises(ValueError, match="lr"):
        predict_modified_flow(q0, np.ones((4, 3)), kind="scale", lr=0.0, weight_decay=0.0)
    with pytest.raises(ValueError, match="convention"):
        predict_modified_flow(q0, np.ones((4, 3)), kind="scale", lr=0.1, weight_decay=0.0, convention="mixed")
    with pytest.raises(ValueError, match="update_sq is required"):
        predict_modified_flow(q0, np.ones((4, 3)), kind="scale", lr=0.1, weight_decay=0.1, convention="official")
    with pytest.raises(ValueError, match="momentum must be > 0"):
        predict_momentum(q0, np.ones((4, 3)), kind="scale", lr=0.1, momentum=0.0, weight_decay=0.1)
    with pytest.raises(ValueError, match="momentum must be in"):
        predict_exact_discrete(q0, kind="scale", lr=0.1, momentum=1.5, weight_decay=0.1, update_sq=np.ones((4, 3)))
    with pytest.raises(ValueError, match="q0 must be a 1-D"):
        predict_gradient_flow(np.ones((2, 2)), n_steps=3)
    with pytest.raises(ValueError, match="weight_decay"):
        predict_weight_decay(q0, kind="scale", n_steps=3, lr=0.1, weight_decay=-1.0)
    with pytest.raises(ValueError, match="n_steps must be >= 0"):
        predict_exact_discrete(q0, kind="translation", lr=0.1, weight_decay=0.0, n_steps=-3)
    with pytest.raises(ValueError, match="one shape"):
        run_max_relative_error(np.ones((3, 2)), np.ones((3, 3)))


def test_relative_error_is_nan_when_anything_is_nan():
    # a NaN series, scale or prediction is no measurement: never a perfect 0 (issue 12, item 1)
    from livepapers.neural_mechanics import run_max_relative_error

    ones, nan = np.ones((3, 2)), np.full((3, 2), np.nan)
    assert np.isnan(run_max_relative_error(ones, nan)).all()
    assert np.isnan(run_max_relative_error(nan, ones)).all()
    assert np.isnan(run_max_relative_error(ones, ones, scale=nan)).all()
    partly = ones.copy()
    partly[1, 0] = np.nan
    out = run_max_relative_error(ones, partly)
    assert np.isnan(out[0]) and out[1] == 0.0


def test_worst_over_models_keeps_a_nan():
    from livepapers.neural_mechanics.metrics import max_or_nan, min_or_nan

    assert np.isnan(max_or_nan([1.0, float("nan"), 0.5])) and np.isnan(min_or_nan([1.0, float("nan")]))
    assert max([1.0, float("nan"), 0.5]) == 1.0  # what Python's max did: the NaN was lost
    assert max_or_nan([1.0, 3.0]) == 3.0 and min_or_nan([1.0, 3.0]) == 1.0
