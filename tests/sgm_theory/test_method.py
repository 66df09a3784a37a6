"""Method tests: closed forms against Monte Carlo, scipy's matrix exponential, autograd and exact formulas."""

import math

import numpy as np
import pytest
import torch
from scipy.linalg import expm

from livepapers.sgm_theory import (
    CLDProcess,
    Gaussian,
    GaussianMixture,
    OUProcess,
    PerturbedScore,
    UniformInterval,
    cld_ei,
    cld_ei_gaussian_closed_form,
    data,
    ddpm_ei,
    ddpm_ei_gaussian_closed_form,
    dsm_loss,
    ei_density_1d,
    girsanov_path_kl,
    kl_path_gaussian_exact,
    sigma_h,
    tv_density,
    van_loan,
    w2_1d_density,
    w2_gaussian,
)


def test_ddpm_ei_gaussian_closed_form_equals_monte_carlo():
    mu, s2, T, h, n = 2.0, 0.25, 3.0, 0.05, 100_000
    q = Gaussian([mu], s2)
    y = ddpm_ei(q.score_t, n, 1, T, h, torch.Generator().manual_seed(0))[:, 0]
    a, b = ddpm_ei_gaussian_closed_form([mu], s2, T, h)
    se_mean = math.sqrt(b / n)
    se_var = b * math.sqrt(2 / (n - 1))
    assert abs(float(y.mean()) - a[0]) < 3 * se_mean
    assert abs(float(y.var()) - b) < 3 * se_var
    # negative control: the score one step late (T - (k+1) h) gives a distinguishably different law
    late = ddpm_ei(lambda x, t: q.score_t(x, max(t - h, 1e-3)), n, 1, T, h, torch.Generator().manual_seed(0))[:, 0]
    assert abs(float(late.var()) - b) > 5 * se_var or abs(float(late.mean()) - a[0]) > 5 * se_mean


def test_ddpm_ei_stationary_variance_for_standard_gaussian():
    _, b = ddpm_ei_gaussian_closed_form([0.0], 1.0, 40.0, 0.1)
    assert b == pytest.approx((math.exp(0.1) + 1) / (3 - math.exp(0.1)), rel=1e-10)


def test_exact_propagation_matches_closed_form_and_conserves_mass():
    grid = np.linspace(-10, 10, 1001)
    q = Gaussian([2.0], 0.25)
    p = ei_density_1d(q.score_t, grid, 6.0, 0.01)
    a, b = ddpm_ei_gaussian_closed_form([2.0], 0.25, 6.0, 0.01)
    pc = np.exp(-0.5 * (grid - a[0]) ** 2 / b) / math.sqrt(2 * math.pi * b)
    assert tv_density(p, pc, 0.02) < 1e-10
    assert abs(p.sum() * 0.02 - 1) < 1e-10
    with pytest.raises(ValueError, match="5 grid spacings"):
        ei_density_1d(q.score_t, np.linspace(-10, 10, 201), 1.0, 0.01)


def test_cld_matrices_against_scipy_and_van_loan():
    A = np.array([[0.0, 1.0], [-1.0, -2.0]])
    Ap = np.array([[0.0, -1.0], [1.0, 2.0]])
    proc = CLDProcess()
    for h in (0.003, 0.0125, 0.1, 0.2, 1.0):
        assert np.allclose(proc.expA(h), expm(A * h), atol=1e-12, rtol=1e-10)
        Ep, f, S = proc.reverse_ei(h)
        assert np.allclose(Ep, expm(Ap * h), atol=1e-12, rtol=1e-10)
        # forcing: int_0^h e^{A'(h-r)} (0, 4) dr, by Van Loan's augmented exponential
        aug = np.zeros((3, 3))
        aug[:2, :2] = Ap
        aug[1, 2] = 4.0
        assert np.allclose(f, expm(aug * h)[:2, 2], atol=1e-12, rtol=1e-10)
        _, S_vl = van_loan(Ap, np.array([[0.0, 0.0], [0.0, 4.0]]), h)
        assert np.allclose(S, S_vl, rtol=1e-9, atol=1e-14)
        assert np.allclose(sigma_h(h), S)
        _E, Sf = proc.transition(h)
        _, Sf_vl = van_loan(A, np.array([[0.0, 0.0], [0.0, 4.0]]), h)
        assert np.allclose(Sf, Sf_vl, rtol=1e-8, atol=1e-14)
    # the leading-order Sigma_h is off by tens of per cent at h = 0.2 (why the exact matrix is used)
    lead = np.array([[4 * 0.2 ** 3 / 3, -2 * 0.2 ** 2], [-2 * 0.2 ** 2, 4 * 0.2]])
    assert abs(lead[0, 0] / sigma_h(0.2)[0, 0] - 1) > 0.2


@pytest.mark.parametrize("full", [False, True])
def test_mixture_scores_match_autograd(full):
    g = torch.Generator().manual_seed(1)
    K, d = 3, 3
    means = torch.randn(K, d, generator=g, dtype=torch.float64) * 2
    if full:
        B = torch.randn(K, d, d, generator=g, dtype=torch.float64) * 0.5
        covs = B @ B.transpose(1, 2) + 0.2 * torch.eye(d, dtype=torch.float64)
    else:
        covs = 0.1 + torch.rand(K, d, generator=g, dtype=torch.float64)
    q = GaussianMixture([0.2, 0.5, 0.3], means, covs)
    x = torch.randn(50, d, generator=g, dtype=torch.float64).requires_grad_(True)
    v = torch.randn(50, d, generator=g, dtype=torch.float64).requires_grad_(True)
    for t in (0.0, 0.05, 0.7, 3.0):
        lp = q.log_prob_t(x, t) if t > 0 else q.log_prob(x)
        (gx,) = torch.autograd.grad(lp.sum(), x)
        assert torch.allclose(q.score_t(x.detach(), t), gx, atol=1e-8, rtol=1e-8)
        lc = q.cld_log_prob_t(x, v, t)
        (gv,) = torch.autograd.grad(lc.sum(), v)
        assert torch.allclose(q.velocity_score_t(x.detach(), v.detach(), t), gv, atol=1e-8, rtol=1e-8)


def test_cld_marginal_covariance_matches_forward_simulation():
    q = Gaussian([1.5], 0.09)
    proc = CLDProcess()
    g = torch.Generator().manual_seed(2)
    x0 = q.sample(200_000, g)
    v0 = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    x, v = proc.sample_path(x0, v0, [0.3, 0.7], g)
    t = 0.7
    e = math.exp(-t)
    assert float(x[1].mean()) == pytest.approx(e * (1 + t) * 1.5, abs=0.01)
    assert float(v[1].mean()) == pytest.approx(-e * t * 1.5, abs=0.01)
    Mt = e * e * np.array([[(1 + t) ** 2, -t * (1 + t)], [-t * (1 + t), t * t]])
    C = np.eye(2) + Mt * (0.09 - 1)
    emp = np.cov(np.stack([x[1, :, 0].numpy(), v[1, :, 0].numpy()]))
    assert np.allclose(emp, C, atol=0.01)


def test_cld_ei_closed_form_matches_monte_carlo():
    s2, T, h, n = 0.25, 3.0, 0.1, 100_000
    q = Gaussian([0.0], s2)
    x = cld_ei(q.velocity_score_t, n, 1, T, h, torch.Generator().manual_seed(3))[:, 0]
    C = cld_ei_gaussian_closed_form(s2, T, h)
    assert abs(float(x.var()) - C[0, 0]) < 3 * C[0, 0] * math.sqrt(2 / n)
    assert abs(float(x.mean())) < 3 * math.sqrt(C[0, 0] / n)


def test_marginal_kl_values_of_the_spec():
    def kl(v):
        return 0.5 * (v - 1 - math.log(v))
    ddpm = [kl(ddpm_ei_gaussian_closed_form([0.0], 1.0, 10.0, h)[1]) for h in (0.1, 0.05, 0.025)]
    cld = [kl(cld_ei_gaussian_closed_form(1.0, 10.0, h)[0, 0]) for h in (0.1, 0.05, 0.025)]
    assert np.allclose(ddpm, [2.9e-3, 6.7e-4, 1.6e-4], rtol=0.03)
    assert np.allclose(cld, [6.8e-5, 4.3e-6, 2.7e-7], rtol=0.03)


def test_dsm_minimiser_on_a_linear_model_is_the_analytic_score():
    mu, s2, t = 1.0, 0.5, 0.4
    q = Gaussian([mu], s2)
    proc = OUProcess()
    x0 = q.sample(200_000, torch.Generator().manual_seed(4))
    ab = torch.zeros(2, dtype=torch.float64, requires_grad=True)

    def net(x, tt):
        return ab[0] * x + ab[1]

    opt = torch.optim.LBFGS([ab], lr=1.0, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = dsm_loss(net, x0, proc, t, torch.Generator().manual_seed(5), T=t)
        loss.backward()
        return loss

    opt.step(closure)
    m, s = proc.mean_coef(t), proc.std(t)
    v = m * m * s2 + s * s
    assert ab[0].item() == pytest.approx(-1 / v, rel=0.02)
    assert ab[1].item() == pytest.approx(m * mu / v, rel=0.02)


def test_path_kl_estimator_reproduces_the_gaussian_formula():
    q = Gaussian(torch.zeros(2), 1.0)
    for proc in ("ou", "cld"):
        r = girsanov_path_kl(q, 2.0, (0.1, 0.05), 8, 500, proc, torch.Generator().manual_seed(6))
        exact = [kl_path_gaussian_exact(2, 2.0, h, proc) for h in (0.1, 0.05)]
        assert np.allclose(r["kl"][0], exact, rtol=0.05), (proc, r["kl"], exact)


def test_perturbations_have_unit_l2_norm_under_q_t():
    q = data.g2_bimodal()
    grid = np.linspace(-10, 10, 1001)
    xg = torch.from_numpy(grid.reshape(-1, 1))
    for kind in ("constant", "sine", "tail_bump"):
        ps = PerturbedScore(q.score_t, kind, 0.3, q, torch.Generator().manual_seed(7), grid=grid, lam=40.0)
        for t in (0.01, 0.5, 3.0):
            dens = torch.exp(q.log_prob_t(xg, t))
            e = ps.error(xg, t)
            l2 = float((dens * (e ** 2).sum(1)).sum() * 0.02)
            assert l2 == pytest.approx(1.0, rel=1e-9), (kind, t)
            assert torch.allclose(ps(xg, t) - q.score_t(xg, t), 0.3 * e)
        if kind == "tail_bump":
            assert float(e.abs().max()) == pytest.approx(40.0, rel=0.03)


def test_uniform_scores_and_w2():
    u = UniformInterval(-1.0, 1.0)
    x = np.linspace(-5, 5, 41)
    for t in (0.01, 0.3, 2.0):
        num = (u.log_prob_t_np(x + 1e-6, t) - u.log_prob_t_np(x - 1e-6, t)) / 2e-6
        assert np.allclose(u.score_t(torch.from_numpy(x[:, None]), t)[:, 0].numpy(), num, atol=1e-5, rtol=1e-5)
    assert np.isfinite(u.score_t(torch.tensor([[40.0], [-40.0]]), 0.01).numpy()).all()
    grid = np.linspace(-8, 8, 4001)
    p = np.exp(-0.5 * (grid - 1) ** 2 / 0.5) / math.sqrt(math.pi)
    pq = np.exp(-0.5 * grid ** 2 / 2.0) / math.sqrt(4 * math.pi)
    assert w2_1d_density(p, pq, grid) == pytest.approx(w2_gaussian([1.0], 0.5, [0.0], 2.0), rel=1e-3)


def test_bad_inputs_give_one_line_errors():
    with pytest.raises(ValueError, match="multiple of h"):
        ddpm_ei(lambda x, t: -x, 10, 1, 1.0, 0.3, torch.Generator())
    with pytest.raises(ValueError, match="kind must be one of"):
        PerturbedScore(lambda x, t: -x, "wiggle", 0.1, Gaussian([0.0], 1.0))
    with pytest.raises(ValueError, match="weights has"):
        GaussianMixture([1.0, 1.0], [[0.0]], [1.0])


def test_comparison_samplers_reach_the_target_and_ula_has_its_known_bias():
    from livepapers.sgm_theory import ddpm_em, prob_flow_heun, ula

    q = Gaussian([1.0], 0.5)
    g = torch.Generator().manual_seed(8)
    for sampler in (ddpm_em, prob_flow_heun):
        x = sampler(q.score_t, 40_000, 1, 4.0, 0.01, g)[:, 0]
        assert abs(float(x.mean()) - 1.0) < 0.03 and abs(float(x.var()) - 0.5) < 0.03, sampler.__name__
    # ULA on N(0, 1): x <- (1 - eta) x + sqrt(2 eta) z has stationary variance 2 / (2 - eta)
    eta = 0.2
    x = ula(lambda y: -y, 100_000, 1, eta, 200, g)[:, 0]
    assert float(x.var()) == pytest.approx(2 / (2 - eta), rel=0.02)
