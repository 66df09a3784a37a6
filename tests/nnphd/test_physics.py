"""Simulators and the RK4 integrator: conservation laws, dissipation rates, known reference numbers."""

import math

import numpy as np
import pytest
import torch

from livepapers.core.stats import fit_loglog_slope
from livepapers.nnphd import (
    DampedDoublePendulum,
    DampedOscillator2D,
    Inspiral,
    UranusNeptune,
    UranusNeptuneRing,
    rk4_rollout,
)

F64 = torch.float64


@pytest.mark.timeout(60)
def test_rk4_conserves_undamped_pendulum_energy():
    pend = DampedDoublePendulum(gamma=0.0)
    q0 = torch.tensor([[0.5, -0.3], [1.0, 0.2], [-0.7, 0.7]], dtype=F64)
    v0 = torch.tensor([[0.0, 0.5], [-0.5, 0.0], [0.3, -0.3]], dtype=F64)
    states = rk4_rollout(lambda q, v, t: pend.acceleration(q, v), q0, v0, dt=1e-3, n_steps=10_000)
    e = pend.energy(states[..., :2], states[..., 2:])
    drift = ((e - e[0]).abs().max(0).values / e[0].abs()).max()
    assert drift < 1e-6


def test_damped_pendulum_loses_energy_under_rk4():
    pend = DampedDoublePendulum(gamma=0.3)
    q0 = torch.tensor([[0.5, -0.3]], dtype=F64)
    states = rk4_rollout(lambda q, v, t: pend.acceleration(q, v), q0, torch.zeros_like(q0), dt=0.01, n_steps=1000)
    ex = pend.energy(states[..., :2], states[..., 2:]) - pend.energy_min
    assert ex[-1, 0] < 0.15 * ex[0, 0]


def test_rk4_is_fourth_order():
    """Harmonic oscillator q̈ = −q: global error ∝ dt⁴ (fitted log–log slope ≈ 4)."""
    q0, v0 = torch.ones(1, 1, dtype=F64), torch.zeros(1, 1, dtype=F64)
    errs, dts = [], [0.2, 0.1, 0.05]
    for dt in dts:
        n = round(2.0 / dt)
        s = rk4_rollout(lambda q, v, t: -q, q0, v0, dt=dt, n_steps=n)
        errs.append(abs(float(s[-1, 0, 0]) - math.cos(2.0)))
    slope = fit_loglog_slope(dts, errs)
    assert 3.7 < slope < 4.3


def test_rk4_passes_time_to_the_vector_field():
    """q̈ = cos t from rest gives q = 1 − cos t."""
    s = rk4_rollout(lambda q, v, t: torch.full_like(q, math.cos(t)), torch.zeros(1, 1, dtype=F64),
                    torch.zeros(1, 1, dtype=F64), dt=0.01, n_steps=300)
    assert abs(float(s[-1, 0, 0]) - (1 - math.cos(3.0))) < 1e-8


def test_rk4_marks_diverging_trajectory_nan_and_keeps_others():
    def accel(q, v, t):
        return torch.where(q.abs() > 0.5, q**3 * 1e6, -q)  # blows up beyond |q| = 0.5

    q0 = torch.tensor([[1.0], [0.1]], dtype=F64)  # the second one oscillates with amplitude 0.1
    s = rk4_rollout(accel, q0, torch.zeros_like(q0), dt=0.1, n_steps=50)
    assert not torch.isfinite(s[-1, 0]).all()
    assert torch.isfinite(s[:, 1]).all()


@pytest.mark.parametrize("friction", ["acceleration", "rayleigh"])
def test_damping_power(friction):
    """dE/dt along the flow = q̇ᵀ M a_nc: −γ q̇ᵀM(q)q̇ for acceleration-space damping, −γ|q̇|² for Rayleigh."""
    gamma = 0.3
    pend = DampedDoublePendulum(gamma=gamma, friction=friction)
    g = torch.Generator().manual_seed(0)
    q = (2 * torch.rand(64, 2, generator=g, dtype=F64) - 1) * 2
    v = (2 * torch.rand(64, 2, generator=g, dtype=F64) - 1) * 2
    qq, vv = q.clone().requires_grad_(True), v.clone().requires_grad_(True)
    gq, gv = torch.autograd.grad(pend.energy(qq, vv).sum(), (qq, vv))
    de_dt = (gq * v).sum(-1) + (gv * pend.acceleration(q, v)).sum(-1)
    if friction == "acceleration":
        expected = -gamma * torch.einsum("bi,bij,bj->b", v, pend.mass_matrix(q), v)
    else:
        expected = -gamma * (v**2).sum(-1)
    torch.testing.assert_close(de_dt, expected, atol=1e-10, rtol=1e-10)


def test_pendulum_trajectory_energy_decays_at_the_predicted_rate():
    """Integrated E(t) matches E(0) + ∫ −γ q̇ᵀMq̇ dt (trapezoid) along a DOP853 trajectory."""
    pend = DampedDoublePendulum(gamma=0.3)
    q0, v0 = torch.tensor([[0.8, -0.4]], dtype=F64), torch.tensor([[0.2, 0.5]], dtype=F64)
    t = torch.linspace(0, 3, 3001, dtype=F64)
    q, v = pend.simulate(q0, v0, t)
    e = pend.energy(q[:, 0], v[:, 0])
    power = -0.3 * torch.einsum("ti,tij,tj->t", v[:, 0], pend.mass_matrix(q[:, 0]), v[:, 0])
    integral = torch.cat([torch.zeros(1, dtype=F64), torch.cumsum(0.5 * (power[1:] + power[:-1]) * 1e-3, 0)])
    assert (e - e[0] - integral).abs().max() < 1e-4


@pytest.mark.timeout(60)
def test_inspiral_follows_adiabatic_law_for_small_beta():
    """β = 1e-3, started with the adiabatic radial velocity −2β/r₀³: r⁴ = r₀⁴ − 8βt within 1e-3 over 60 units."""
    beta, r0 = 1e-3, 1.0
    sim = Inspiral(beta=beta)
    q0 = torch.tensor([[r0, 0.0]], dtype=F64)
    v0 = torch.tensor([[-2 * beta / r0**3, math.sqrt(1 / r0)]], dtype=F64)
    t = torch.linspace(0, 60, 601, dtype=F64)
    q, _ = sim.simulate(q0, v0, t)
    r4 = q[:, 0].norm(dim=-1) ** 4
    dec, law = r0**4 - r4, 8 * beta * t
    assert abs(float(dec[-1] - law[-1])) / float(law[-1]) <= 1e-3
    assert float(((dec[1:] - law[1:]).abs() / law[1:]).max()) < 1e-2


def test_inspiral_sample_stops_near_r_stop_and_drag_opposes_velocity():
    sim = Inspiral(beta=0.02)
    d = sim.sample(2, (0.0, 100.0), 100, torch.Generator().manual_seed(0))
    assert d["q"].shape == (200, 2) and d["t"].shape == (200,) and d["traj_id"].shape == (200,)
    for j in (0, 1):
        r = d["q"][d["traj_id"] == j].norm(dim=-1)
        assert abs(float(r[-1]) - 0.6) < 1e-6
        assert 0.85 < float(r[0]) < 1.15
    cos = (d["a_nc"] * d["qdot"]).sum(-1) / (d["a_nc"].norm(dim=-1) * d["qdot"].norm(dim=-1))
    torch.testing.assert_close(cos, -torch.ones_like(cos))
    torch.testing.assert_close(d["a"], d["a_c"] + d["a_nc"])


def test_uranus_neptune_reference_numbers():
    sim = UranusNeptune()
    d = sim.sample(1, (0.0, 2 * math.pi), 2000)
    pull = d["a_nc"].norm(dim=-1)
    t_star = float(d["t"][pull.argmax()])
    w = d["t"][pull >= 0.5 * pull.max()]
    r = d["q"].norm(dim=-1)
    assert abs(t_star - 3.30) < 0.05
    assert abs(float(pull.max()) - 0.037) < 0.003
    assert abs(float(w.min()) - 2.36) < 0.05 and abs(float(w.max()) - 4.44) < 0.05
    assert float(r.min()) > 0.999 and float(r.max()) < 1.14
    # at conjunction Neptune is on the −x axis, beyond Uranus
    x_n = sim.neptune_position(math.pi)
    torch.testing.assert_close(x_n, torch.tensor([-1.57, 0.0], dtype=F64), atol=1e-12, rtol=0)


def test_ring_particles_share_the_circle_and_feel_different_pulls():
    sim = UranusNeptuneRing(n_particles=8)
    d = sim.sample(None, (0.0, 2 * math.pi), 50)
    assert d["q"].shape == (400, 2)
    starts = d["q"][d["t"] == 0]
    torch.testing.assert_close(starts.norm(dim=-1), torch.ones(8, dtype=F64))
    peaks = [float(d["t"][d["traj_id"] == j][d["a_nc"][d["traj_id"] == j].norm(dim=-1).argmax()]) for j in range(8)]
    assert len(set(np.round(peaks, 3))) > 4


def test_oscillator_sample_and_expected_friction_norm():
    osc = DampedOscillator2D()
    d = osc.sample(200_000, torch.Generator().manual_seed(0))
    assert d["q"].abs().max() <= 1.5 and d["qdot"].abs().max() <= 1.5
    assert osc.expected_nc_norm() == pytest.approx(0.574, abs=1e-3)
    assert osc.expected_nc_norm("l1") == pytest.approx(0.75)
    assert float(d["a_nc"].norm(dim=-1).mean()) == pytest.approx(osc.expected_nc_norm(), rel=5e-3)
    # a = −∇V − γq̇ with ∇V from autograd of V
    q = d["q"][:100].clone().requires_grad_(True)
    (grad_v,) = torch.autograd.grad(osc.potential(q).sum(), q)
    torch.testing.assert_close(d["a"][:100], -grad_v - 0.5 * d["qdot"][:100])


def test_samplers_are_deterministic_given_the_generator():
    pend = DampedDoublePendulum()
    a = pend.sample(3, (0.0, 1.0), 20, torch.Generator().manual_seed(5))
    b = pend.sample(3, (0.0, 1.0), 20, torch.Generator().manual_seed(5))
    c = pend.sample(3, (0.0, 1.0), 20, torch.Generator().manual_seed(6))
    torch.testing.assert_close(a["q"], b["q"])
    assert not torch.allclose(a["q"], c["q"])
    assert a["q"].dtype == F64 and a["traj_id"].tolist()[:21] == [0] * 20 + [1]
