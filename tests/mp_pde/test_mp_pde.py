"""MP-PDE: solver orders and invariants, data conventions, graph, model, pushforward, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from livepapers.mp_pde import (
    MPPDE,
    CombinedEquation,
    Forcing,
    accumulated_error,
    block_average,
    build_graph,
    decoder_shape,
    generate_dataset,
    official_downsample,
    rollout,
    speed_accuracy_benchmark,
    train,
    trajectories,
    weno5_solve,
    window_errors,
)
from livepapers.mp_pde.benchmark import time_interleaved, weno_call
from livepapers.mp_pde.equations import godunov_burgers_flux
from livepapers.mp_pde.training import pushforward_step

L = 16.0


def _cell_avg_sine(nx: int, k: float, phase: float = 0.0) -> np.ndarray:
    """Exact cell averages of sin(kx + phase) on nx cells of [0, L)."""
    dx = L / nx
    e = np.arange(nx + 1) * dx
    return (np.cos(k * e[:-1] + phase) - np.cos(k * e[1:] + phase)) / (k * dx)


# ------------------------------------------------------------------------------------------- solver


def test_conservation_with_zero_mean_forcing() -> None:
    g = torch.Generator().manual_seed(0)
    f = Forcing.sample(3, g)
    nx = 50
    u0 = f.cell_average(0.0, nx)
    u = weno5_solve(u0, f, CombinedEquation(alpha=1.0, beta=0.1, gamma=0.0), np.linspace(0, 2, 40), dx=L / nx)
    mean = u.mean(axis=-1)  # the forcing modes have zero mean over the period
    assert np.abs(mean - mean[:, :1]).max() < 1e-12
    assert np.abs(u[:, -1] - u[:, 0]).max() > 0.1  # and something happened


@pytest.mark.parametrize("what", ["heat", "dispersion"])
def test_convergence_orders(what: str) -> None:
    k = 2 * np.pi * 2 / L
    T = 0.5
    errs = []
    for nx in (50, 100, 200):
        u0 = _cell_avg_sine(nx, k)[None]
        if what == "heat":  # u_t = β u_xx: amplitude e^{−βk²t}
            eq, exact = CombinedEquation(alpha=0.0, beta=0.2), _cell_avg_sine(nx, k) * np.exp(-0.2 * k**2 * T)
        else:  # u_t = −γ u_xxx: sin(k(x + k²γ t))
            eq, exact = CombinedEquation(alpha=0.0, gamma=1.0), _cell_avg_sine(nx, k, k**3 * T)
        u = weno5_solve(u0, None, eq, np.array([0.0, T]), dx=L / nx)
        errs.append(np.abs(u[0, -1] - exact).max())
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    want = 4.0 if what == "heat" else 2.0
    assert np.all(np.abs(orders - want) < 0.3), (errs, orders)


def test_preshock_burgers_error_drop() -> None:
    # u0 = 0.5 + 0.3 sin(2πx/L); shock time 1/max(−u0') = L/(2π·0.3); compare at half of it
    t_end = 0.5 * L / (2 * np.pi * 0.3)
    errs = []
    for nx in (50, 200):
        fine = 64
        xs = (np.arange(nx * fine) + 0.5) * (L / (nx * fine))
        x0 = xs.copy()  # characteristic solution u = u0(x − u t): fixed-point iteration
        for _ in range(200):
            x0 = xs - (0.5 + 0.3 * np.sin(2 * np.pi * x0 / L)) * t_end
        exact = (0.5 + 0.3 * np.sin(2 * np.pi * x0 / L)).reshape(nx, fine).mean(1)
        u0 = 0.5 + 0.3 * _cell_avg_sine(nx, 2 * np.pi / L)
        u = weno5_solve(u0[None], None, CombinedEquation(), np.array([0.0, t_end]), dx=L / nx)
        errs.append(np.abs(u[0, -1] - exact).mean())
    assert errs[0] / errs[1] >= 30, errs


def test_godunov_transonic_and_shock() -> None:
    uL = np.array([-1.0, 1.0, 2.0, -2.0])
    uR = np.array([1.0, -1.0, 3.0, -1.0])
    np.testing.assert_allclose(godunov_burgers_flux(uL, uR), [0.0, 0.5, 2.0, 0.5])


def test_forcing_cell_average_matches_quadrature() -> None:
    f = Forcing.sample(2, torch.Generator().manual_seed(1))
    nx, fine = 20, 400
    xs = (np.arange(nx * fine) + 0.5) * L / (nx * fine)
    quad = f.value(0.7, xs).reshape(2, nx, fine).mean(-1)
    np.testing.assert_allclose(f.cell_average(0.7, nx), quad, atol=1e-5)


def test_bad_inputs_one_line_errors() -> None:
    with pytest.raises(ValueError, match="alpha"):
        CombinedEquation(alpha=-1.0)
    with pytest.raises(ValueError, match="experiment"):
        generate_dataset("E9", 1, 0, 1, torch.Generator())
    with pytest.raises(ValueError, match="convention"):
        generate_dataset("E1", 1, 0, 1, torch.Generator(), convention="cells")


# ------------------------------------------------------------------------------------------- data


def test_official_downsample_window_and_stride() -> None:
    u = np.arange(200, dtype=float)  # entry i = i; entry 199 duplicates entry 0 in the official layout
    lab = official_downsample(u, 40)
    assert lab.shape == (40,)
    assert lab[0] == pytest.approx((197 + 198 + 0 + 1 + 2) / 5)  # padding [nx_ref−3, nx_ref−2] and [1, 2]
    assert lab[1] == pytest.approx(5.0)  # mean of fine entries 3 … 7
    assert lab[39] == pytest.approx(195.0)  # 193 … 197
    np.testing.assert_allclose(block_average(u, 40)[:2], [2.0, 7.0])


def test_datasets_pair_conventions_and_baseline_gap() -> None:
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    off = generate_dataset("E1", 0, 0, 2, g(), nx=(40,), weno_nx=(40,), convention="official")
    fv = generate_dataset("E1", 0, 0, 2, g(), nx=(40,), weno_nx=(40,), convention="fv")
    np.testing.assert_array_equal(off["test"]["forcing"].A, fv["test"]["forcing"].A)  # same PDEs
    assert off["test"]["u"][40].shape == (2, 250, 40)
    e_off = accumulated_error(off["test"]["u_weno"][40], off["test"]["u"][40]).mean()
    e_fv = accumulated_error(fv["test"]["u_weno"][40], fv["test"]["u"][40]).mean()
    assert e_fv < 0.1 < 1.0 < e_off  # the grid/label mismatch of the official pipeline


# ------------------------------------------------------------------------------------------- graph + model


def test_periodic_graph_degree_and_wrap() -> None:
    ei, rel = build_graph(torch.arange(40) / 40, neighbors=3)
    deg = torch.bincount(ei[1], minlength=40)
    assert torch.all(deg == 6)
    src_of_0 = sorted(ei[0][ei[1] == 0].tolist())
    assert src_of_0 == [1, 2, 3, 37, 38, 39]
    r = rel[(ei[1] == 0) & (ei[0] == 39)]
    assert float(r) == pytest.approx(1 / 40)  # x̂_0 − x̂_39 wrapped
    ei2, _ = build_graph(torch.linspace(0, 16, 40), L=16.0, neighbors=3, periodic=False)
    deg2 = torch.bincount(ei2[1], minlength=40)
    assert deg2[0] == 3 and deg2[20] == 6  # the official radius graph loses the wrap


@pytest.mark.parametrize("hidden,k", [(128, 25), (128, 20), (128, 50), (64, 25), (32, 25), (48, 10), (28, 25)])
def test_decoder_output_length(hidden: int, k: int) -> None:
    m = MPPDE(time_window=k, hidden=hidden, layers=1)
    # the two Conv1d layers themselves map an H-long node embedding to exactly K values (the bundle)
    assert m.decoder(torch.randn(3, 1, hidden)).shape == (3, 1, k)
    k1, s1, k2 = decoder_shape(hidden, k)
    assert (hidden - k1) // s1 + 1 >= k + 2 and k2 >= 1  # the spec's rule for L₁
    out = m(torch.randn(2, 16, k), torch.arange(16) / 16, torch.rand(2))
    assert out.shape == (2, 16, k)


def test_decoder_too_narrow_raises() -> None:
    with pytest.raises(ValueError, match="hidden"):
        decoder_shape(20, 25)


def test_split_first_message_layer_equals_concatenation() -> None:
    """GNNLayer evaluates φ's first Linear on nodes and gathers onto edges; it must equal φ applied to the plain
    per-edge concatenation [f_i, f_j, u_i − u_j, x̂_i − x̂_j, v], mean-aggregated, residual ψ, instance norm."""
    torch.manual_seed(0)
    m = MPPDE(time_window=25, hidden=32, layers=1, n_params=1)
    lay = m.layers[0]
    b, n = 2, 10
    f, u, v = torch.randn(b, n, 32), torch.randn(b, n, 25), torch.randn(b, 2)
    src, dst, rel, inv = m.graph(torch.arange(n) / n)
    e = len(src)
    cat = torch.cat([f[:, dst], f[:, src], u[:, dst] - u[:, src], rel[None].expand(b, e, 1),
                     v[:, None, :].expand(b, e, 2)], dim=-1)
    msg = lay.message(cat)
    agg = torch.zeros_like(f).index_add_(1, dst, msg) * inv
    ref = f + lay.update(torch.cat([f, agg, v[:, None, :].expand(b, n, 2)], dim=-1))
    ref = (ref - ref.mean(1, keepdim=True)) / torch.sqrt(ref.var(1, unbiased=False, keepdim=True) + 1e-5)
    out = lay(f, u, rel, v, src, dst, inv)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)  # measured max diff ≈ 2e-7
    # and the check has teeth: dropping the u_i − u_j block from the reference breaks the match
    cat[..., 64:89] = 0
    bad = f + lay.update(torch.cat([f, torch.zeros_like(f).index_add_(1, dst, lay.message(cat)) * inv,
                                    v[:, None, :].expand(b, n, 2)], dim=-1))
    bad = (bad - bad.mean(1, keepdim=True)) / torch.sqrt(bad.var(1, unbiased=False, keepdim=True) + 1e-5)
    assert (out - bad).abs().max() > 1e-2


def test_shift_equivariance() -> None:
    torch.manual_seed(0)
    m = MPPDE(time_window=25, hidden=32, layers=2, n_params=1)
    u, t, p = torch.randn(2, 20, 25), torch.rand(2), torch.rand(2, 1)
    x = torch.arange(20) / 20
    # the model sees x̂_i itself in the encoder, so shift the positions with the values
    out = m(u, x, t, p)
    shifted = m(torch.roll(u, 3, dims=1), torch.roll(x, 3), t, p)
    torch.testing.assert_close(torch.roll(out, 3, dims=1), shifted, atol=1e-5, rtol=1e-5)


def test_instance_norm_is_per_graph() -> None:
    torch.manual_seed(0)
    m = MPPDE(time_window=25, hidden=32, layers=2)
    x, t = torch.arange(20) / 20, torch.rand(2)
    a, b = torch.randn(1, 20, 25), 10 * torch.randn(1, 20, 25)
    both = m(torch.cat([a, b]), x, t)
    torch.testing.assert_close(both[:1], m(a, x, t[:1]), atol=1e-5, rtol=1e-5)


def test_pushforward_inputs_carry_no_grad() -> None:
    torch.manual_seed(0)
    m = MPPDE(time_window=25, hidden=32, layers=1)
    data = trajectories({"experiment": "E1", "t": np.linspace(0, 4, 250),
                         "train": {"u": {20: np.random.default_rng(0).normal(size=(4, 250, 20))},
                                   "params": np.ones((4, 3))}}, "train", 20)
    seen = []
    h = m.encoder.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].requires_grad or
                                                                          torch.is_grad_enabled()))
    loss = pushforward_step(m, data, torch.arange(4), 2, torch.Generator().manual_seed(0))
    h.remove()
    assert seen == [False, False, True]  # two no-grad unrolls, then the graded step
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())


def _one_step_error(m: MPPDE, tr) -> float:
    """Summed squared error of one bundled step from every true window at s = 25, 50, …, 200 (deterministic)."""
    b = len(tr)
    with torch.no_grad():
        return float(sum(((m(tr.u[:, s - 25: s].permute(0, 2, 1), tr.x, tr.t[s].expand(b), tr.params)
                           - tr.u[:, s: s + 25].permute(0, 2, 1)) ** 2).sum() for s in range(25, 225, 25)))


def test_training_decreases_loss_and_rollout_error() -> None:
    ds = generate_dataset("E1", 8, 0, 2, torch.Generator().manual_seed(0), nx=(40,), weno_nx=())
    tr, te = trajectories(ds, "train", 40), trajectories(ds, "test", 40)
    torch.manual_seed(0)
    m = MPPDE(time_window=25, hidden=32, layers=2)
    before = _one_step_error(m, tr)
    losses = train(m, tr, steps=20, lr=1e-3, unrolling=0, schedule="cosine", warmup=2,
                   generator=torch.Generator().manual_seed(0))
    assert len(losses) == 20 and np.all(np.isfinite(losses))
    assert _one_step_error(m, tr) < 0.95 * before  # measured 916 → 796
    pred = rollout(m, te.u, te.x, te.t, te.params)
    torch.testing.assert_close(pred[:, :50], te.u[:, :50])
    assert torch.isfinite(pred).all()


def test_accumulated_error_by_hand() -> None:
    true = torch.zeros(2, 100, 4)
    pred = true.clone()
    pred[0, 50:] = 1.0  # 50 steps × 4 nodes × 1 / 4 = 50
    pred[1, 75:, 0] = 2.0  # 25 steps × 4 / 4 = 25
    torch.testing.assert_close(accumulated_error(pred, true), torch.tensor([50.0, 25.0], dtype=torch.float64))
    win = window_errors(pred, true, start=50, time_window=25)
    torch.testing.assert_close(win, torch.tensor([12.5, 25.0], dtype=torch.float64))


def test_time_interleaved_alternates_and_takes_the_best() -> None:
    calls: list[str] = []
    sec = time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up of each, then alternating rounds
    assert set(sec) == {"a", "b"} and all(0 <= s < 1 for s in sec.values())
    with pytest.raises(ValueError, match="repeats"):
        time_interleaved({"a": lambda: None}, repeats=0)


def test_weno_span_call_matches_the_full_solve() -> None:
    fv = generate_dataset("E1", 0, 0, 2, torch.Generator().manual_seed(0), nx=(40,), weno_nx=(), convention="fv")
    full, b = weno_call(fv, 200, batch=2)
    span, _ = weno_call(fv, 200, batch=2, start=50)
    u_full, u_span = full(), span()
    assert b == 2 and u_span.shape == (2, 201, 200)
    np.testing.assert_allclose(u_span[:, 0], fv["test"]["u_ref"][:, 49])  # starts from the reference at step 49
    assert np.abs(u_span[:, -1] - u_full[:, -1]).max() < 1e-6  # same solver, same PDE at nx_ref
    off = generate_dataset("E1", 0, 0, 1, torch.Generator().manual_seed(0), nx=(40,), weno_nx=())
    with pytest.raises(ValueError, match="fv"):
        weno_call(off, 40, start=50)


def test_speed_accuracy_benchmark_rows() -> None:
    fv = generate_dataset("E1", 0, 0, 2, torch.Generator().manual_seed(0), nx=(40,), weno_nx=(), convention="fv")
    data = trajectories(fv, "test", 40)
    rows = speed_accuracy_benchmark(MPPDE(time_window=25, hidden=32, layers=1), fv, weno_nx=(40, 200), data=data,
                                    batch=2, repeats=1)
    assert [(r["method"], r["nx"]) for r in rows] == [("WENO5", 40), ("WENO5", 200), ("MP-PDE", 40)]
    assert rows[1]["acc_err"] == 0.0 < rows[0]["acc_err"] < 0.1  # at nx_ref the fv WENO5 is the reference
    assert all(r["ms_per_traj"] > 0 for r in rows)
    with pytest.raises(ValueError, match="data="):
        speed_accuracy_benchmark(MPPDE(time_window=25, hidden=32, layers=1), fv)
