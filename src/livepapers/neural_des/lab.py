"""The measurements behind the claims (C1–C5), as functions of plain arguments; the experiment wires them up.

Nothing here decides whether a claim holds: each function returns numbers (and curves for the figures).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .baselines import GRUD, ODERNN, GRUDelta
from .brownian import BrownianInterval, VirtualBrownianTree
from .cde import NeuralCDE, cdeint, rms_norm_full, rms_seminorm
from .gan import CDEDiscriminator, SDEGenerator, gan_step, real_coeffs
from .latent import train_latent_sde
from .sde import CountingSDE, reversible_heun_final_state, reversible_heun_reconstruct, sdeint, sdeint_reversible

C1_MODELS = ("ncde", "gru_dt", "grud", "odernn")
BASELINES = ("gru_dt", "grud", "odernn")


# ----------------------------------------------------------------------------------------------------
# C1: NCDE and baselines on irregular JapaneseVowels
# ----------------------------------------------------------------------------------------------------


def build_c1_model(name: str, v: int, n_classes: int, cfg: Any) -> nn.Module:
    if name == "ncde":
        oi = bool(getattr(cfg, "ncde_intensity", False))
        return NeuralCDE(v + 1 + (v if oi else 0), cfg.ncde_hidden, n_classes, width=cfg.ncde_width,
                         depth=cfg.ncde_depth, intensity=oi)
    if name == "gru_dt":
        return GRUDelta(v, cfg.gru_hidden, n_classes)
    if name == "grud":
        return GRUD(v, cfg.gru_hidden, n_classes, input_decay=True)
    if name == "odernn":
        return ODERNN(v, cfg.odernn_hidden, n_classes, width=cfg.odernn_width, depth=cfg.odernn_depth)
    raise ValueError(f"unknown C1 model {name!r}; known: {', '.join(C1_MODELS)}")


def train_classifier(model: nn.Module, train: tuple[Tensor, Tensor, Tensor], test: tuple[Tensor, Tensor, Tensor], *,
                     epochs: int, batch_size: int, lr: float, generator: torch.Generator,
                     check: Callable[[float, int], None] | None = None) -> dict[str, Any]:
    """Adam, fixed epochs, no early stopping; test accuracy of the final model. NCDE paths are built once."""
    (ttr, vtr, ytr), (tte, vte, yte) = train, test
    if isinstance(model, NeuralCDE):
        ctr, cte = model.coeffs(ttr, vtr), model.coeffs(tte, vte)

        def fwd(idx: Tensor, split: str) -> Tensor:
            return model.forward_coeffs((ctr if split == "train" else cte)[idx])
    else:
        def fwd(idx: Tensor, split: str) -> Tensor:
            t, v = (ttr, vtr) if split == "train" else (tte, vte)
            return model(t[idx], v[idx])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curve = []
    n = len(ytr)
    step = 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator)
        tot = 0.0
        for i in range(0, n, batch_size):
            idx = perm[i: i + batch_size]
            loss = nn.functional.cross_entropy(fwd(idx, "train"), ytr[idx])
            if check is not None:
                check(float(loss.detach()), step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(idx)
            step += 1
        curve.append(tot / n)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        acc = float((fwd(torch.arange(len(yte)), "test").argmax(-1) == yte).float().mean())
    return {"acc": 100.0 * acc, "curve": curve, "seconds": seconds}


# ----------------------------------------------------------------------------------------------------
# C5: seminorm adjoint on a trained NCDE
# ----------------------------------------------------------------------------------------------------


class _CountedFunc(nn.Module):
    def __init__(self, func: nn.Module) -> None:
        super().__init__()
        self.func = func
        self.nfe = 0

    def forward(self, s: Tensor, z: Tensor) -> Tensor:
        self.nfe += 1
        return self.func(s, z)


def seminorm_nfe(model: NeuralCDE, times: Tensor, values: Tensor, labels: Tensor, *, rtol: float = 1e-3,
                 atol: float = 1e-6) -> dict[str, Any]:
    """Backward-pass evaluations of a trained NCDE's adjoint (dopri5) with three adjoint norms.

    ``default`` = torchdiffeq's mixed norm; ``seminorm`` = torchdiffeq's seminorm (ignores the parameter-adjoint
    channels); ``rms`` = RMS over the whole augmented state (the seminorm paper's baseline); ``rms_seminorm`` = RMS
    over ``(t, z, a_z)`` (the paper's seminorm, paired with ``rms``). Returns NFEs and flattened parameter gradients.
    """
    coeffs = model.coeffs(times, values)
    X = model.path(coeffs)
    out: dict[str, Any] = {}
    for name, opts in (("default", {}), ("seminorm", {"norm": "seminorm"}), ("rms", {"norm": rms_norm_full}),
                       ("rms_seminorm", {"norm": rms_seminorm})):
        model.zero_grad(set_to_none=True)
        f = _CountedFunc(model.func)
        z0 = model.initial(X.evaluate(X.interval[0]))
        zT = cdeint(X, f, z0, X.interval, adjoint=True, method="dopri5", rtol=rtol, atol=atol,
                    adjoint_options=dict(opts))[..., -1, :]
        loss = nn.functional.cross_entropy(model.readout(zT), labels)
        fwd = f.nfe
        loss.backward()
        out[name] = {"nfe_forward": fwd, "nfe_backward": f.nfe - fwd,
                     "grad": torch.cat([p.grad.reshape(-1) for p in model.func.parameters()])}
    return out


# ----------------------------------------------------------------------------------------------------
# C2: reversible Heun
# ----------------------------------------------------------------------------------------------------


class RandomNeuralSDE(nn.Module):
    """C2's random Stratonovich SDE: drift MLP (t, y) → 64 → d, diffusion (t, y) → 64 → d·m, SiLU, tanh outputs."""

    sde_type = "stratonovich"
    noise_type = "general"

    def __init__(self, d: int = 4, m: int = 3, width: int = 64) -> None:
        super().__init__()
        self.d, self.m = d, m
        self.drift = nn.Sequential(nn.Linear(d + 1, width), nn.SiLU(), nn.Linear(width, d), nn.Tanh())
        self.diffusion = nn.Sequential(nn.Linear(d + 1, width), nn.SiLU(), nn.Linear(width, d * m), nn.Tanh())

    def f_and_g(self, t: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        ty = torch.cat([t.expand(y.shape[0], 1).to(y.dtype), y], -1)
        return self.drift(ty), self.diffusion(ty).view(y.shape[0], self.d, self.m)

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        return self.f_and_g(t, y)[0]

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        return self.f_and_g(t, y)[1]


def _max_rel(a: list[Tensor], b: list[Tensor]) -> float:
    return max(float((x - y).abs().max() / x.abs().max().clamp_min(1e-300)) for x, y in zip(a, b))


def c2_exactness(seed: int, *, batch: int, steps: int, dt: float, width: int, torchsde_oracle: bool = True
                 ) -> dict[str, float]:
    """C2a (reconstruction) and C2b (reversible-adjoint gradients vs backprop; torchsde's continuous adjoint)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    sde = RandomNeuralSDE(width=width).double()
    y0 = torch.randn(batch, 4, generator=g, dtype=torch.float64)
    T = steps * dt
    ts = torch.tensor([0.0, T], dtype=torch.float64)
    bm = BrownianInterval(0.0, T, (batch, 3), dtype=torch.float64, entropy=seed, dt=dt)
    out: dict[str, float] = {}
    state, times = reversible_heun_final_state(sde, y0, ts, bm, dt)
    y_rec = reversible_heun_reconstruct(sde, state, times, bm)[0]
    out["c2a.recon_rel_err"] = float((y_rec - y0).abs().max() / y0.abs().max())
    params = list(sde.parameters())
    yl = y0.clone().requires_grad_(True)
    L = sdeint(sde, yl, ts, bm, dt=dt)[-1].pow(2).sum(-1).mean()
    g_bp = torch.autograd.grad(L, [yl, *params])
    yl2 = y0.clone().requires_grad_(True)
    L2 = sdeint_reversible(sde, yl2, ts, bm, dt)[-1].pow(2).sum(-1).mean()
    g_rev = torch.autograd.grad(L2, [yl2, *params])
    out["c2b.grad_rel_err"] = _max_rel(list(g_bp), list(g_rev))
    if torchsde_oracle:
        import torchsde

        tbm = torchsde.BrownianInterval(0.0, T, size=(batch, 3), dtype=torch.float64, entropy=seed)
        yl3 = y0.clone().requires_grad_(True)
        L3 = torchsde.sdeint(sde, yl3, ts, bm=tbm, method="midpoint", dt=dt)[-1].pow(2).sum(-1).mean()
        g_mid = torch.autograd.grad(L3, [yl3, *params])
        yl4 = y0.clone().requires_grad_(True)
        L4 = torchsde.sdeint_adjoint(sde, yl4, ts, bm=tbm, method="midpoint", dt=dt,
                                     adjoint_params=tuple(params))[-1].pow(2).sum(-1).mean()
        g_adj = torch.autograd.grad(L4, [yl4, *params])
        out["c2b.cont_adjoint_rel_err"] = _max_rel(list(g_mid), list(g_adj))
        out["c2b.cont_over_rev"] = out["c2b.cont_adjoint_rel_err"] / max(out["c2b.grad_rel_err"], 1e-300)
    return out


class _OU(nn.Module):
    sde_type, noise_type = "stratonovich", "additive"

    def f_and_g(self, t: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return -y, torch.full((y.shape[0], 1, 1), 0.5, dtype=y.dtype)


class _GBM(nn.Module):
    sde_type, noise_type = "stratonovich", "diagonal"

    def f_and_g(self, t: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return 0.5 * y, 0.3 * y


def c2_convergence(seed: int, *, paths: int, fine: int, ks: tuple[int, ...], T: float = 1.0) -> dict[str, Any]:
    """C2d: strong RMS error at T of reversible Heun with K coarse steps (increments = sums of fine ones)."""
    g = torch.Generator().manual_seed(10_000 + seed)
    dW = torch.randn(fine, paths, 1, generator=g, dtype=torch.float64) * math.sqrt(T / fine)
    y0 = torch.ones(paths, 1, dtype=torch.float64)
    s = (torch.arange(fine, dtype=torch.float64) + 0.5) * (T / fine)
    ou_exact = math.exp(-T) * y0[:, 0] + 0.5 * (torch.exp(-(T - s)).view(-1, 1) * dW[..., 0]).sum(0)
    gbm_exact = y0[:, 0] * torch.exp(0.5 * T + 0.3 * dW[..., 0].sum(0))
    out: dict[str, Any] = {}
    for K in ks:
        if fine % K:
            raise ValueError(f"the fine path ({fine} increments) must be divisible by K={K}")
        coarse = dW.view(K, fine // K, paths, 1).sum(1)
        ts = torch.tensor([0.0, T], dtype=torch.float64)
        y_ou = sdeint(_OU(), y0, ts, coarse, dt=T / K)[-1, :, 0]
        y_gbm = sdeint(_GBM(), y0, ts, coarse, dt=T / K)[-1, :, 0]
        out[f"c2d.ou.rmse.k{K}"] = float((y_ou - ou_exact).pow(2).mean().sqrt())
        out[f"c2d.gbm.rmse.k{K}"] = float((y_gbm - gbm_exact).pow(2).mean().sqrt())
    return out


def _median_time(fn: Callable[[], Any], repeats: int) -> list[float]:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


def c2_timing(*, batch: int, steps: int, dt: float, width: int, repeats: int, seed: int = 0) -> dict[str, Any]:
    """C2c: vector-field evaluations per solve and forward wall times (precomputed increments; and with BI queries)."""
    torch.manual_seed(seed)
    sde = CountingSDE(RandomNeuralSDE(width=width).double())
    g = torch.Generator().manual_seed(seed)
    y0 = torch.randn(batch, 4, generator=g, dtype=torch.float64)
    T = steps * dt
    ts = torch.tensor([0.0, T], dtype=torch.float64)
    dW = torch.randn(steps, batch, 3, generator=g, dtype=torch.float64) * math.sqrt(dt)
    counts = {}
    with torch.no_grad():
        for method in ("reversible_heun", "midpoint"):
            sde.nfe = 0
            sdeint(sde, y0, ts, dW, method=method, dt=dt)
            counts[method] = sde.nfe
        sdeint(sde, y0, ts, dW, dt=dt)  # warm-up
        sdeint(sde, y0, ts, dW, method="midpoint", dt=dt)

        def with_bi(method: str) -> None:
            bm = BrownianInterval(0.0, T, (batch, 3), dtype=torch.float64, entropy=seed, dt=dt)
            sdeint(sde, y0, ts, bm, method=method, dt=dt)

        times: dict[str, list[float]] = {"rh": [], "mid": [], "rh_bi": [], "mid_bi": []}
        for _ in range(repeats):  # interleaved, so slow drifts of the machine hit both solvers alike
            times["rh"] += _median_time(lambda: sdeint(sde, y0, ts, dW, dt=dt), 1)
            times["mid"] += _median_time(lambda: sdeint(sde, y0, ts, dW, method="midpoint", dt=dt), 1)
            times["rh_bi"] += _median_time(lambda: with_bi("reversible_heun"), 1)
            times["mid_bi"] += _median_time(lambda: with_bi("midpoint"), 1)
    return {"nfe_rh": counts["reversible_heun"], "nfe_mid": counts["midpoint"], "steps": steps, "times": times}


# ----------------------------------------------------------------------------------------------------
# C3: Brownian Interval
# ----------------------------------------------------------------------------------------------------


def c3_statistics(entropy: int, *, queries: int, t1: float, size: tuple[int, ...], dt: float, triples: int,
                  cache_size: int = 45) -> dict[str, float]:
    """Exactness and law of one BrownianInterval under a forward then a reverse sweep of ``queries`` steps."""
    from scipy import stats

    bi = BrownianInterval(0.0, t1, size, dtype=torch.float64, entropy=entropy, dt=dt, cache_size=cache_size)
    grid = [t1 * k / queries for k in range(queries + 1)]
    fwd = [bi(grid[k], grid[k + 1]) for k in range(queries)]
    rev = [bi(grid[k], grid[k + 1]) for k in reversed(range(queries))][::-1]
    h = t1 / queries
    Z = torch.stack(fwd) / math.sqrt(h)  # (queries, *size) standardised increments
    rng = np.random.default_rng(entropy)
    add_err = 0.0
    for _ in range(triples):
        a, b, c = sorted(rng.choice(queries + 1, size=3, replace=False))
        ta, tb, tc = grid[a], grid[b], grid[c]
        add_err = max(add_err, float((bi(ta, tb) + bi(tb, tc) - bi(ta, tc)).abs().max()))
    same = bi(grid[queries // 3], grid[queries // 3 + 1])
    again = bi(grid[queries // 3], grid[queries // 3 + 1])
    z = Z.reshape(queries, -1).numpy()
    rho = float(np.sum(z[1:] * z[:-1]) / np.sqrt(np.sum(z[1:] ** 2) * np.sum(z[:-1] ** 2)))
    ks = stats.kstest(z.reshape(-1), "norm")
    return {"c3.additivity_err": add_err,
            "c3.repeat_mismatch": float((same != again).sum()) + float(max((a != b).sum() for a, b in zip(fwd, rev))),
            "c3.ks_pvalue": float(ks.pvalue), "c3.lag1_abs_corr": abs(rho),
            "c3.max_cache_over_size": bi.max_cache_len / cache_size}


def c3_sweep(make: Callable[[], Callable], queries: int, t1: float) -> float:
    """Wall time of a forward then a reverse sweep of ``queries`` equal increments."""
    grid = [t1 * k / queries for k in range(queries + 1)]
    t0 = time.perf_counter()
    bm = make()
    for k in range(queries):
        bm(grid[k], grid[k + 1])
    for k in reversed(range(queries)):
        bm(grid[k], grid[k + 1])
    return time.perf_counter() - t0


def c3_timing(*, queries: int, t1: float, size: tuple[int, ...], dt: float, tol: float, repeats: int,
              torchsde_ref: bool = True) -> dict[str, list[float]]:
    makers: dict[str, Callable[[int], Callable]] = {
        "bi": lambda e: BrownianInterval(0.0, t1, size, dtype=torch.float64, entropy=e, dt=dt),
        "vbt": lambda e: VirtualBrownianTree(0.0, t1, size, tol=tol, entropy=e, dtype=torch.float64),
    }
    if torchsde_ref:
        import torchsde

        makers["torchsde_bi"] = lambda e: torchsde.BrownianInterval(0.0, t1, size=size, dtype=torch.float64,
                                                                    entropy=e, dt=dt)
        makers["torchsde_bt"] = lambda e: torchsde.BrownianTree(0.0, torch.zeros(size, dtype=torch.float64), t1=t1,
                                                               tol=tol, entropy=e)
    out: dict[str, list[float]] = {k: [] for k in makers}
    for r in range(repeats):
        for k, mk in makers.items():
            out[k].append(c3_sweep(lambda mk=mk, r=r: mk(100 + r), queries, t1))
    return out


# ----------------------------------------------------------------------------------------------------
# C4: latent SDE and SDE-GAN
# ----------------------------------------------------------------------------------------------------


def marginal_rows(gen: Tensor, test: Tensor, eval_times: tuple[int, ...]) -> list[dict[str, float]]:
    """Per evaluation time: W1, |mean error| and sd ratio of generated ``gen: (samples, n)`` vs held-out
    ``test: (N, n, 1)`` (NaN = unobserved), all relative to the held-out sd at that time."""
    from scipy import stats

    rows = []
    for t in eval_times:
        real = test[:, t, 0]
        real = real[~torch.isnan(real)].double().numpy()
        fake = gen[:, t].detach().double().numpy()
        sd = real.std(ddof=1)
        rows.append({"t": t, "w1_over_sd": stats.wasserstein_distance(fake, real) / sd,
                     "mean_err_over_sd": abs(fake.mean() - real.mean()) / sd, "sd_ratio": fake.std(ddof=1) / sd,
                     "real_mean": real.mean(), "real_sd": sd, "fake_mean": fake.mean(), "fake_sd": fake.std(ddof=1)})
    return rows


def summarise_rows(prefix: str, rows: list[dict[str, float]]) -> dict[str, float]:
    """``{prefix}.w1_over_sd`` (mean over times), ``.mean_err_over_sd.max``, ``.sd_ratio.min``, ``.sd_ratio.max``."""
    return {f"{prefix}.w1_over_sd": sum(r["w1_over_sd"] for r in rows) / len(rows),
            f"{prefix}.mean_err_over_sd.max": max(r["mean_err_over_sd"] for r in rows),
            f"{prefix}.sd_ratio.min": min(r["sd_ratio"] for r in rows),
            f"{prefix}.sd_ratio.max": max(r["sd_ratio"] for r in rows)}


def c4c_sde_gan(seed: int, data: dict, *, n_train: int, n_test: int, steps: int, batch: int, swa_start: int,
                eval_times: tuple[int, ...], samples: int, progress: Any = None) -> dict[str, Any]:
    """Full SDE-GAN training (clipping + LipSwish, torchsde ``sde_gan.py`` recipe) on the 64-point OU; the SWA
    generator's samples vs held-out data at ``eval_times`` (``--profile paper`` only: hours on CPU)."""
    from .gan import train_sde_gan

    ts, ys = data["ts"], data["ys"]
    train, test = ys[:n_train], ys[n_train: n_train + n_test]
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    res = train_sde_gan(train, ts, steps=steps, batch_size=batch, lipschitz="clip", swa_start=swa_start,
                        generator=g, progress=progress)
    with torch.no_grad():
        gen = res["averaged_generator"](ts, samples, g)[..., 1]  # (samples, n); channel 0 is time
    losses = res["losses"]
    return {"rows": marginal_rows(gen, test, eval_times), "losses": losses, "seconds": res["seconds"]}


def c4a_latent(seed: int, data: dict, *, n_train: int, n_test: int, n_times: int, steps: int, batch: int, lr: float,
               eval_times: tuple[int, ...], samples: int, t_scale: float = 1.0, time_input: bool = True,
               progress: Any = None) -> dict[str, Any]:
    """Train a latent SDE on the first ``n_times`` observation times; compare prior samples with held-out data."""
    ts = data["ts"][:n_times]
    ys = data["ys"][:, :n_times]
    train, test = ys[:n_train], ys[n_train: n_train + n_test]
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    res = train_latent_sde(ts, train, steps=steps, batch_size=batch, lr=lr, generator=g, progress=progress,
                           t_scale=t_scale, time_input=time_input)
    model = res["model"]
    gen = model.sample(ts, samples, generator=g)[..., 0]  # (samples, n)
    rows = marginal_rows(gen, test, eval_times)
    # marginal curves for the figure
    obs = test[..., 0]
    real_mean = torch.nanmean(obs, 0)
    real_sd = torch.sqrt(torch.nanmean((obs - real_mean) ** 2, 0))
    return {"rows": rows, "loss": res["loss"], "yz_gap": res["yz_gap"], "curve_t": ts.tolist(),
            "real_mean": real_mean.tolist(), "real_sd": real_sd.tolist(), "fake_mean": gen.mean(0).tolist(),
            "fake_sd": gen.std(0).tolist(), "samples": gen[:20].tolist(), "final_yz_gap": res["yz_gap"][-1]}


def c4b_timing(data: dict, *, batch: int, steps: int, warmup: int, repeats: int, seed: int = 0
               ) -> dict[str, Any]:
    """Seconds per SDE-GAN step (one generator + one discriminator update) with clipping vs gradient penalty.

    Per repeat and variant: ``warmup`` untimed steps, then ``steps`` steps timed one by one; the repeat's time is
    the fastest of them (``clip``/``gp``; the estimator least affected by other processes on a shared machine),
    with the mean over the timed steps kept as ``clip_mean``/``gp_mean``. Repeat 0 is a discarded process-level
    warm-up of both variants (first-call costs: allocator, autograd caches); the timed repeats alternate the order
    of the two variants so slow drifts hit both alike.
    """
    ts = data["ts"]
    coeffs = real_coeffs(data["ys"], ts)
    out: dict[str, Any] = {"clip": [], "gp": [], "clip_mean": [], "gp_mean": [], "clip_violation": 0.0}
    for rep in range(repeats + 1):
        for kind in (("clip", "gp") if rep % 2 else ("gp", "clip")):
            torch.manual_seed(seed)
            g = torch.Generator().manual_seed(seed)
            gen, disc = SDEGenerator(1), CDEDiscriminator(1)
            g_opt = torch.optim.Adadelta(gen.parameters(), lr=2e-4, weight_decay=0.01)
            d_opt = torch.optim.Adadelta(disc.parameters(), lr=1e-3, weight_decay=0.01)
            step_times = []
            for k in range(warmup + steps):
                t0 = time.perf_counter()
                idx = torch.randint(0, coeffs.shape[0], (batch,), generator=g)
                res = gan_step(gen, disc, g_opt, d_opt, coeffs[idx], ts, kind, g)
                if k >= warmup:
                    step_times.append(time.perf_counter() - t0)
                if kind == "clip":
                    out["clip_violation"] = max(out["clip_violation"], res["clip_violation"])
            if rep > 0:
                out[kind].append(min(step_times))
                out[f"{kind}_mean"].append(sum(step_times) / len(step_times))
    return out


def spread(xs: list[float]) -> float:
    """max/min of repeated timings."""
    return max(xs) / min(xs)


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))
