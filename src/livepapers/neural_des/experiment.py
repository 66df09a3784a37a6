"""Offline reproduction of the thesis' headline claims (C1a–C5); one seed per ``run`` call, seeds paired.

* ``measure`` (once per reproduce, one thread, nothing else of ours running): the timings — C2c (reversible Heun
  vs midpoint: evaluation counts and forward wall time), C3 (Brownian Interval vs Virtual Brownian Tree: exactness,
  law, cache bound and sweep times; one repeat per entropy) and C4b (SDE-GAN step time, clipping vs gradient
  penalty). One dict per repeat; every timed quantity is repeated ``timing_repeats`` times, and its max/min is
  reported as a stability gate.
* ``run`` (per seed): C1 (NCDE, GRU-Δt, GRU-D, ODE-RNN on JapaneseVowels with r ∈ {0.3, 0.7} of each series'
  points dropped), C5 (seminorm adjoint on that seed's NCDE trained at r = 0.3), C2a/b/d (reversible Heun exactness,
  gradients, strong order) and C4a (latent SDE on the time-dependent OU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from livepapers.core.config import ConfigError, Profile
from livepapers.core.runs import RunContext

from . import figures, lab
from .data import japanese_vowels, time_dependent_ou

__all__ = ["PROFILES", "Config", "measure", "run"]


@dataclass(frozen=True)
class Config:
    """Every knob; defaults = the ``default`` profile (the spec's offline settings)."""

    # C1 — JapaneseVowels, irregular (drop rates must include 0.3 and 0.7 for the claims)
    c1_drops: tuple[float, ...] = (0.3, 0.7)
    c1_epochs: int = 40
    c1_batch: int = 32
    c1_lr: float = 1e-3
    c1_n_train: int = 0  # 0 = all 270
    c1_n_test: int = 0  # 0 = all 370
    ncde_hidden: int = 32
    ncde_width: int = 128
    ncde_depth: int = 1
    ncde_intensity: bool = False  # observational-intensity channels (spec §2 option; C1's setup does not use them)
    gru_hidden: int = 47
    odernn_hidden: int = 32
    odernn_width: int = 32
    odernn_depth: int = 3
    # C5 — seminorm on this seed's NCDE at r = 0.3
    c5_series: int = 64
    c5_rtol: float = 1e-3
    c5_atol: float = 1e-6
    # C2 — reversible Heun
    c2_batch: int = 256
    c2_steps: int = 1000
    c2_dt: float = 0.01
    c2_width: int = 64
    c2_torchsde: bool = True
    c2_paths: int = 4000
    c2_fine: int = 4096
    c2_ks: tuple[int, ...] = (16, 32, 64, 128, 256)
    c2c_batch: int = 1024
    c2c_steps: int = 1000
    # C3 — Brownian Interval
    c3_queries: int = 1000
    c3_t1: float = 10.0
    c3_batch: int = 1024
    c3_channels: int = 4
    c3_dt: float = 0.01
    c3_tol: float = 1e-5
    c3_triples: int = 100
    c3_torchsde: bool = True
    # C4 — latent SDE (C4a) and SDE-GAN step time (C4b)
    c4a_train: int = 8192
    c4a_test: int = 2048
    c4a_times: int = 32
    c4a_steps: int = 800
    c4a_batch: int = 128
    c4a_lr: float = 1e-2
    c4a_eval_times: tuple[int, ...] = (3, 9, 16, 22, 28)
    c4a_samples: int = 4096
    # drifts without a t input, as torchsde's latent_sde.py (time enters the posterior through c_t): with raw t as an
    # input, pilots diverged (seed 1 at step 1; seed 0 to a loss of 1e12), see the README's History
    c4a_time_input: bool = False
    # C4 (report only, no claim): full SDE-GAN training with clipping; 0 steps = not run (the paper profile runs it)
    c4c_gan_steps: int = 0
    c4c_batch: int = 1024
    c4c_swa_start: int = 5000
    c4c_train: int = 8192
    c4c_test: int = 2048
    c4c_eval_times: tuple[int, ...] = (3, 16, 32, 48, 63)
    c4b_batch: int = 256
    c4b_steps: int = 10
    c4b_warmup: int = 2
    c4b_paths: int = 1024
    c4b_times: int = 64
    c4_sim_dt: float = 0.01  # Euler–Maruyama step of the OU data
    timing_repeats: int = 3
    figures: bool = True

    def __post_init__(self) -> None:
        for name in ("c1_epochs", "c1_batch", "c2_steps", "c2_batch", "c3_queries", "c4a_steps", "timing_repeats",
                     "c2_paths", "c4a_samples", "c5_series", "c4b_steps", "c4c_batch", "c4c_train", "c4c_test"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not set((0.3, 0.7)) <= set(self.c1_drops) or any(not (0 <= r < 1) for r in self.c1_drops):
            raise ConfigError(f"c1_drops must lie in [0, 1) and include 0.3 and 0.7, got {self.c1_drops}")
        bad = [k for k in self.c2_ks if k < 1 or self.c2_fine % k]
        if bad:
            raise ConfigError(f"c2_ks must divide c2_fine={self.c2_fine}; {bad[0]} does not")
        if self.c4c_gan_steps < 0 or max(self.c4c_eval_times) >= 64:
            raise ConfigError(f"need c4c_gan_steps >= 0 and c4c_eval_times < 64, got {self.c4c_gan_steps}, "
                              f"{self.c4c_eval_times}")
        if max(self.c4a_eval_times) >= self.c4a_times:
            raise ConfigError(f"c4a_eval_times must be < c4a_times={self.c4a_times}, got {self.c4a_eval_times}")
        if self.c4b_warmup < 0 or self.c4b_times < 2 or self.c4a_times > 64:
            raise ConfigError("need c4b_warmup >= 0, c4b_times >= 2 and c4a_times <= 64 (the OU has 64 times)")
        for name in ("c1_lr", "c4a_lr", "c2_dt", "c3_dt", "c3_tol", "c5_rtol", "c5_atol", "c4_sim_dt"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ConfigError(f"{name} must be a finite number > 0, got {v}")


PROFILES: dict[str, Profile] = {
    # tests: tiny everything, one seed, no evidence; every claim metric is still produced
    "smoke": Profile(Config(c1_epochs=1, c1_n_train=64, c1_n_test=64, c5_series=8, c2_batch=16, c2_steps=50,
                            c2_paths=200, c2_fine=256, c2c_batch=16, c2c_steps=50, c3_queries=100, c3_batch=16,
                            c3_triples=10, c3_tol=1e-3, c4a_train=128, c4a_test=128, c4a_steps=3, c4a_batch=16,
                            c4a_samples=128, c4b_batch=8, c4b_steps=1, c4b_warmup=0, c4b_paths=16, c4b_times=8,
                            c4_sim_dt=0.1, c5_rtol=1e-2, c5_atol=1e-4, timing_repeats=2, figures=False),
                     n_seeds=1, evidence=False),
    # default: 4 paired seeds (the spec's 3 + 1: two rounds on two single-thread workers either way)
    "default": Profile(Config()),
    # paper: the thesis' SDE-GAN training and the NCDE paper's UEA sizes are not offline-sized; this profile keeps the
    # default experiment with the NCDE paper's vector field (3×32) and longer training — documented, not run in CI
    "paper": Profile(Config(ncde_width=32, ncde_depth=3, c1_epochs=100, c4a_steps=5000, c4c_gan_steps=10_000),
                     n_seeds=3),
}


def _c1(config: Config, ctx: RunContext) -> tuple[dict[str, float], dict[str, Any]]:
    cfg = config
    metrics: dict[str, float] = {}
    curves: dict[str, Any] = {}
    models: dict[float, Any] = {}
    source = ""
    for r in cfg.c1_drops:
        data = japanese_vowels(r, ctx.generator(int(1000 * r)))
        source = data["source"]
        train, test = data["train"], data["test"]
        if cfg.c1_n_train:  # a fixed random subset (the files are sorted by class)
            keep = torch.randperm(len(train[2]), generator=torch.Generator().manual_seed(0))[: cfg.c1_n_train]
            train = tuple(x[keep] for x in train)
        if cfg.c1_n_test:
            keep = torch.randperm(len(test[2]), generator=torch.Generator().manual_seed(1))[: cfg.c1_n_test]
            test = tuple(x[keep] for x in test)
        tag = f"r{round(100 * r)}"
        for name in lab.C1_MODELS:
            torch.manual_seed(ctx.seed)
            model = lab.build_c1_model(name, data["channels"], data["n_classes"], cfg)
            res = lab.train_classifier(model, train, test, epochs=cfg.c1_epochs, batch_size=cfg.c1_batch,
                                       lr=cfg.c1_lr, generator=ctx.generator(7),
                                       check=lambda loss, step, n=name: ctx.check_finite(loss, step, f"{n} loss"))
            metrics[f"c1.{name}.acc.{tag}"] = res["acc"]
            curves[f"{name} {tag}"] = res["curve"]
            ctx.log(f"C1 {name} r={r}: test accuracy {res['acc']:.1f}% ({res['seconds']:.1f} s)")
            if name == "ncde" and abs(r - 0.3) < 1e-9:
                models[r] = (model, test)
    metrics["c1.data_is_japanese_vowels"] = float(source == "JapaneseVowels")
    for tag in ("r30", "r70"):
        for b in lab.BASELINES:
            metrics[f"c1a.ncde_minus_{b}.{tag}"] = metrics[f"c1.ncde.acc.{tag}"] - metrics[f"c1.{b}.acc.{tag}"]
        metrics[f"c1.best_baseline.acc.{tag}"] = max(metrics[f"c1.{b}.acc.{tag}"] for b in lab.BASELINES)
        metrics[f"c1.min_model.acc.{tag}"] = min(metrics[f"c1.{m}.acc.{tag}"] for m in lab.C1_MODELS)
    deg = {m: metrics[f"c1.{m}.acc.r30"] - metrics[f"c1.{m}.acc.r70"] for m in lab.C1_MODELS}
    for m, v in deg.items():
        metrics[f"c1.{m}.degradation"] = v
    base_med = sorted(deg[b] for b in lab.BASELINES)[1]
    metrics["c1b.margin"] = base_med + 1.0 - deg["ncde"]  # per-seed median (supplementary)
    # C1b's check: "NCDE degradation ≤ median of the baselines' (mean) degradations + 1" ⇔ at least two of these
    # three margins have a non-negative seed mean (the mean is linear, the median of three is the 2nd largest)
    for b in lab.BASELINES:
        metrics[f"c1b.margin_vs_{b}"] = deg[b] + 1.0 - deg["ncde"]
    return metrics, {"curves": curves, "ncde": models[0.3], "source": source}


def _c5(config: Config, ncde: Any, ctx: RunContext) -> dict[str, float]:
    model, (tte, vte, yte) = ncde
    n = config.c5_series
    res = lab.seminorm_nfe(model, tte[:n], vte[:n], yte[:n], rtol=config.c5_rtol, atol=config.c5_atol)
    d, s, r, rs = res["default"], res["seminorm"], res["rms"], res["rms_seminorm"]
    gd, gs = d["grad"], s["grad"]
    cos = float(torch.nn.functional.cosine_similarity(gd, gs, dim=0))
    out = {"c5.nfe_backward.default": float(d["nfe_backward"]), "c5.nfe_backward.seminorm": float(s["nfe_backward"]),
           "c5.nfe_backward.rms": float(r["nfe_backward"]),
           "c5.nfe_backward.rms_seminorm": float(rs["nfe_backward"]), "c5.nfe_forward": float(d["nfe_forward"]),
           "c5.nfe_reduction": 1.0 - s["nfe_backward"] / d["nfe_backward"],
           # the paper-era pairing: RMS over (t, z, a_z) vs RMS over the whole augmented state (supplementary)
           "c5.nfe_reduction_vs_rms": 1.0 - rs["nfe_backward"] / r["nfe_backward"], "c5.grad_cos": cos}
    ctx.log(f"C5 backward NFE default {d['nfe_backward']}, seminorm {s['nfe_backward']}, rms {r['nfe_backward']}, "
            f"rms seminorm {rs['nfe_backward']}; cos {cos:.6f}")
    return out


def _c4c(cfg: Config, ctx: RunContext) -> dict[str, float]:
    """Full SDE-GAN training (``--profile paper``): marginals of the SWA generator vs held-out OU paths."""
    data = time_dependent_ou(cfg.c4c_train + cfg.c4c_test, ctx.generator(6), t_size=64, dt=cfg.c4_sim_dt)
    res = lab.c4c_sde_gan(ctx.seed, data, n_train=cfg.c4c_train, n_test=cfg.c4c_test, steps=cfg.c4c_gan_steps,
                          batch=cfg.c4c_batch, swa_start=cfg.c4c_swa_start, eval_times=cfg.c4c_eval_times,
                          samples=cfg.c4a_samples, progress=lambda it: ctx.progress(it, desc="C4 SDE-GAN"))
    out = lab.summarise_rows("c4c", res["rows"])
    tail = res["losses"][-100:]
    out["c4c.final_loss"] = sum(tail) / len(tail)
    ctx.log(f"C4 SDE-GAN ({cfg.c4c_gan_steps} steps, {res['seconds']:.0f} s): {out}")
    ctx.save_json("c4c", {"rows": res["rows"], "losses": res["losses"]})
    return out


def run(config: Config, ctx: RunContext) -> dict[str, float]:
    """One seed: C1, C5, C2a/b/d, C4a."""
    cfg = config
    metrics: dict[str, float] = {}
    c1, extra = _c1(cfg, ctx)
    metrics |= c1
    metrics |= _c5(cfg, extra["ncde"], ctx)
    if cfg.figures:
        figures.c1_figure(metrics, extra["curves"], cfg.c1_drops, ctx)
        figures.c5_figure(metrics, ctx)

    metrics |= lab.c2_exactness(ctx.seed, batch=cfg.c2_batch, steps=cfg.c2_steps, dt=cfg.c2_dt, width=cfg.c2_width,
                                torchsde_oracle=cfg.c2_torchsde)
    if not cfg.c2_torchsde:
        metrics["c2b.cont_adjoint_rel_err"] = float("nan")
        metrics["c2b.cont_over_rev"] = float("nan")
    conv = lab.c2_convergence(ctx.seed, paths=cfg.c2_paths, fine=cfg.c2_fine, ks=cfg.c2_ks)
    metrics |= conv
    from livepapers.core.stats import fit_loglog_slope

    dts = [1.0 / k for k in cfg.c2_ks]
    metrics["c2d.ou.slope"] = fit_loglog_slope(dts, [conv[f"c2d.ou.rmse.k{k}"] for k in cfg.c2_ks])
    metrics["c2d.gbm.slope"] = fit_loglog_slope(dts, [conv[f"c2d.gbm.rmse.k{k}"] for k in cfg.c2_ks])
    if cfg.figures:
        figures.c2_figure(conv, cfg.c2_ks, ctx)

    if cfg.c4c_gan_steps > 0:
        metrics |= _c4c(cfg, ctx)

    data = time_dependent_ou(cfg.c4a_train + cfg.c4a_test, ctx.generator(4), t_size=64, observe=cfg.c4a_times,
                             dt=cfg.c4_sim_dt)
    try:
        res = lab.c4a_latent(ctx.seed, data, n_train=cfg.c4a_train, n_test=cfg.c4a_test, n_times=cfg.c4a_times,
                             steps=cfg.c4a_steps, batch=cfg.c4a_batch, lr=cfg.c4a_lr, eval_times=cfg.c4a_eval_times,
                             samples=cfg.c4a_samples, time_input=cfg.c4a_time_input,
                             progress=lambda it: ctx.progress(it, desc="C4a latent SDE"))
    except FloatingPointError as e:  # a diverged latent SDE: C4a's metrics are NaN (inconclusive), the rest stands
        ctx.log(f"C4a DIVERGED: {e}")
        nan = float("nan")
        metrics |= {"c4a.w1_over_sd": nan, "c4a.mean_err_over_sd.max": nan, "c4a.sd_ratio.min": nan,
                    "c4a.sd_ratio.max": nan, "c4a.yz_gap": nan, "c4a.final_loss": nan, "c4a.diverged": 1.0}
        return metrics
    rows = res["rows"]
    metrics["c4a.diverged"] = 0.0
    metrics |= lab.summarise_rows("c4a", rows)
    metrics["c4a.yz_gap"] = res["final_yz_gap"]
    metrics["c4a.final_loss"] = sum(res["loss"][-20:]) / len(res["loss"][-20:])
    ctx.save_json("c4a", {k: v for k, v in res.items()})
    if cfg.figures:
        figures.c4a_figure(res, ctx)
    return metrics


def measure(config: Config, ctx: RunContext) -> list[dict[str, float]]:
    """Timings (C2c, C3, C4b) and C3's exactness/law checks; one dict per repeat (repeat k uses entropy k for C3)."""
    cfg = config
    n = cfg.timing_repeats
    reps: list[dict[str, float]] = [{} for _ in range(n)]
    # C2c
    t2 = lab.c2_timing(batch=cfg.c2c_batch, steps=cfg.c2c_steps, dt=cfg.c2_dt, width=cfg.c2_width, repeats=n)
    sp2 = max(lab.spread(v) for v in t2["times"].values())
    for k in range(n):
        tm = {name: v[k] for name, v in t2["times"].items()}
        reps[k] |= {"c2c.nfe_rh_over_n_plus_1": t2["nfe_rh"] / (t2["steps"] + 1),
                    "c2c.nfe_mid_over_2n": t2["nfe_mid"] / (2 * t2["steps"]),
                    "c2c.time_rh": tm["rh"], "c2c.time_mid": tm["mid"], "c2c.time_rh_bi": tm["rh_bi"],
                    "c2c.time_mid_bi": tm["mid_bi"], "c2c.speedup": tm["mid"] / tm["rh"],
                    "c2c.speedup_with_bi": tm["mid_bi"] / tm["rh_bi"], "c2c.time_spread": sp2}
    ctx.log(f"C2c times {t2['times']}")
    # C3
    size = (cfg.c3_batch, cfg.c3_channels)
    for k in range(n):
        reps[k] |= lab.c3_statistics(k, queries=cfg.c3_queries, t1=cfg.c3_t1, size=size, dt=cfg.c3_dt,
                                     triples=cfg.c3_triples)
    t3 = lab.c3_timing(queries=cfg.c3_queries, t1=cfg.c3_t1, size=size, dt=cfg.c3_dt, tol=cfg.c3_tol, repeats=n,
                       torchsde_ref=cfg.c3_torchsde)
    sp3 = max(lab.spread(v) for v in t3.values())
    for k in range(n):
        reps[k] |= {f"c3.time_{name}": v[k] for name, v in t3.items()}
        reps[k]["c3.speed_ratio"] = t3["vbt"][k] / t3["bi"][k]
        reps[k]["c3.time_spread"] = sp3
        if not cfg.c3_torchsde:
            reps[k] |= {"c3.time_torchsde_bi": float("nan"), "c3.time_torchsde_bt": float("nan")}
    ctx.log(f"C3 times {t3}")
    # C4b
    data = time_dependent_ou(cfg.c4b_paths, ctx.generator(5), t_size=64, observe=cfg.c4b_times, dt=cfg.c4_sim_dt)
    t4 = lab.c4b_timing(data, batch=cfg.c4b_batch, steps=cfg.c4b_steps, warmup=cfg.c4b_warmup, repeats=n)
    sp4 = max(lab.spread(t4["clip"]), lab.spread(t4["gp"]))
    for k in range(n):
        reps[k] |= {"c4b.step_time_clip": t4["clip"][k], "c4b.step_time_gp": t4["gp"][k],
                    "c4b.gp_over_clip": t4["gp"][k] / t4["clip"][k], "c4b.clip_violation": t4["clip_violation"],
                    "c4b.time_spread": sp4, "c4b.step_time_clip_mean": t4["clip_mean"][k],
                    "c4b.step_time_gp_mean": t4["gp_mean"][k],
                    "c4b.gp_over_clip_mean": t4["gp_mean"][k] / t4["clip_mean"][k]}
    ctx.log(f"C4b step times {t4}")
    ctx.save_json("timings", {"c2c": t2, "c3": t3, "c4b": t4})
    if cfg.figures:
        figures.timing_figure(reps, ctx)
    return reps
