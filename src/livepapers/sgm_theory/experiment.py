"""The reproduction of "Sampling is as easy as learning the score" (E1–E9 of the spec).

``prepare`` computes everything that does not depend on the seed once (closed forms E1, E3, E7-marginal, E9; the
exact-propagation pieces of E4–E6 with deterministic perturbations; the exactness check of the propagation on the
run's grid). ``run`` does one seed: Monte-Carlo path KLs (E2, E7), one random score-error field (E4), the 2-D ring
sampled (E6) and a DSM-trained ScoreNet (E8).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from livepapers.core.config import Profile
from livepapers.core.runs import RunContext

from . import figures, lab

PREPARED = "sgm_prepared.json"


@dataclass(frozen=True)
class Config:
    """Sizes of every experiment; defaults = the default profile (the spec's settings)."""

    # E1: closed-form KL vs step size, N(0, s2), d = 1
    e1_s2: tuple[float, float] = (1.0, 0.25)
    e1_hs: tuple[float, ...] = (0.1, 0.05, 0.025, 0.0125)
    e1_T: float = 10.0
    # E2: Girsanov path KL, gamma^d and G4
    e2_ds: tuple[int, ...] = (2, 8, 32, 128)
    e2_ns: tuple[int, ...] = (2000, 1000, 500, 250)
    e2_hs: tuple[float, ...] = (0.1, 0.05, 0.025, 0.0125)
    e2_T: float = 4.0
    e2_T_short: float = 2.0
    path_M: int = 8  # fine sub-steps per smallest coarse step
    # E3: horizon
    e3_Ts: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0)
    e3_h: float = 1e-3
    e3_T_ref: float = 12.0
    e3_g2_h: float = 0.005
    e3_g2_Ts: tuple[float, ...] = (1.0, 2.0, 3.0)
    # the 1-D grid of the exact propagation and the sampler settings of E4–E8
    # [-24, 24] (spec: [-10, 10]): the tail bump at eps = 0.2 drives mass to ≈ 16 at mid times, and the first
    # default run lost 2.6 % of it off a [-10, 10] grid (gate 1 not met); spacing 0.02 as in the spec
    grid_lo: float = -24.0
    grid_hi: float = 24.0
    grid_n: int = 2401
    h: float = 0.01
    T: float = 6.0
    # E4/E5: score errors
    e4_eps: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)
    e4_terms: int = 8
    e5_eps: tuple[float, ...] = (0.05, 0.2)
    e5_lam: float = 40.0
    # E6: multimodality
    e6_eta: float = 0.01
    e6_ula_steps: int = 600
    e6_n_ring: int = 20_000
    e6_seps: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0)
    hist_bins: int = 20
    # E7: CLD vs DDPM
    e7_ds: tuple[int, ...] = (1, 4, 16)
    e7_n: int = 2000
    e7_hs: tuple[float, ...] = (0.1, 0.05, 0.025)
    e7_T: float = 2.0
    e7_marg_T: float = 10.0
    # E8: learned score
    e8_steps: int = 2000
    e8_checkpoints: tuple[int, ...] = (250, 500, 1000, 2000)
    e8_batch: int = 512
    e8_lr: float = 1e-3
    e8_hidden: int = 128
    e8_layers: int = 3
    e8_t_min: float = 1e-3
    # E9: early stopping (report only)
    e9_deltas: tuple[float, ...] = (0.1, 0.03, 0.01)
    e9_T: float = 6.0
    e9_h: float = 0.02
    e9_dx: float = 0.004
    e9_lim: float = 6.0


PROFILES: dict[str, Profile] = {
    "smoke": Profile(Config(
        e2_ds=(2, 8), e2_ns=(200, 200), e2_hs=(0.1, 0.05), e2_T=1.0, e2_T_short=0.5, path_M=4,
        e3_Ts=(0.5, 1.0, 1.5), e3_h=0.01, e3_T_ref=6.0, e3_g2_h=0.05, e3_g2_Ts=(1.0, 2.0),
        grid_lo=-8.0, grid_hi=8.0, grid_n=401, h=0.05, T=3.0,
        e4_eps=(0.1, 0.4), e5_eps=(0.1,), e6_eta=0.05, e6_ula_steps=60, e6_n_ring=2000, e6_seps=(2.0, 4.0),
        e7_ds=(1, 4), e7_n=200, e7_hs=(0.1, 0.05), e7_T=1.0,
        e8_steps=60, e8_checkpoints=(20, 60), e8_batch=128, e8_hidden=32,
        e9_deltas=(0.1, 0.05), e9_h=0.05, e9_dx=0.02, e9_lim=5.0,
    ), n_seeds=1, evidence=False),
    "default": Profile(Config()),
    # the spec's "paper" scale: larger n, d up to 1024, finer grids (documented; not run in CI)
    "paper": Profile(Config(
        e2_ds=(2, 8, 32, 128, 512, 1024), e2_ns=(8000, 4000, 2000, 1000, 500, 250),
        grid_lo=-24.0, grid_hi=24.0, grid_n=4801, e6_n_ring=200_000, e7_ds=(1, 4, 16, 64), e7_n=8000,
        e9_deltas=(0.1, 0.03, 0.01, 0.003), e9_dx=0.002,
    ), n_seeds=4),
}


def prepare(config: Config, ctx: RunContext) -> None:
    """Seed-free closed forms and exact propagations (E1, E3, E4/E5 deterministic errors, E6 G2 and ULA, E7
    marginal, E9, the propagation check); written to ``sgm_prepared.json`` in the shared folder."""
    cfg = config
    t0 = time.perf_counter()
    grid = lab.grid_of(cfg)
    m: dict[str, float] = {}
    out: dict = {}
    m1, out["e1"] = lab.e1(cfg)
    m3, out["e3"] = lab.e3(cfg, grid)
    chk = lab.propagation_check(cfg, grid)
    mg, out["g2"] = lab.g2_fixed(cfg, grid)
    m7, out["e7m"] = lab.e7_marginal(cfg)
    m9, out["e9"] = lab.e9(cfg)
    m |= m1 | m3 | mg | m7 | m9
    m["gate.prop_tv_closed_form"] = chk["gate.prop_tv_closed_form"]
    out["mass_err"] = max(chk["mass"], out["g2"]["mass_err"], out["e3"]["mass_err"])
    out["metrics"] = m
    out["seconds"] = time.perf_counter() - t0
    (ctx.folder / PREPARED).write_text(json.dumps(out), encoding="utf-8")
    ctx.log(f"prepare: closed forms and exact propagations in {out['seconds']:.1f} s")


def run(config: Config, ctx: RunContext) -> dict[str, float]:
    """One seed: E2, E4 (random field), E6 (ring), E7, E8 on top of the prepared seed-free results."""
    cfg = config
    if len(cfg.e2_ds) != len(cfg.e2_ns):
        raise ValueError(f"e2_ds and e2_ns need equal lengths, got {len(cfg.e2_ds)} and {len(cfg.e2_ns)}")
    prep = json.loads(ctx.shared_path(PREPARED).read_text(encoding="utf-8"))
    grid = lab.grid_of(cfg)
    metrics: dict[str, float] = dict(prep["metrics"])
    timings = {}

    t = time.perf_counter()
    m2, e2 = lab.e2(cfg, ctx.generator(1))
    timings["e2"] = time.perf_counter() - t
    t = time.perf_counter()
    p0 = np.array(prep["g2"]["p0"])
    m4, e4 = lab.e4_sine(cfg, grid, p0, prep["g2"]["tv0"], ctx.generator(2))
    timings["e4"] = time.perf_counter() - t
    t = time.perf_counter()
    m6, ring = lab.e6_ring(cfg, ctx.generator(3))
    timings["e6"] = time.perf_counter() - t
    t = time.perf_counter()
    m7, e7 = lab.e7(cfg, ctx.generator(4))
    timings["e7"] = time.perf_counter() - t
    t = time.perf_counter()
    m8, e8 = lab.e8(cfg, grid, prep["g2"]["tv0"], ctx.generator(5), ctx)
    timings["e8"] = time.perf_counter() - t
    metrics |= m2 | m4 | m6 | m7 | m8
    metrics["e4.bound_margin_min"] = min(metrics["e4.const.bound_margin_min"], metrics["e4.sine.bound_margin_min"])
    metrics["gate.prop_mass_err"] = max(prep["mass_err"], e4["mass_err"])
    ctx.log(f"mass errors: prepared {prep['mass_err']:.2e}, E4 {e4['mass_err']:.2e}; E8 mass off the grid "
            f"{m8['e8.mass_off_grid_max']:.2e}")
    for k, v in timings.items():
        metrics[f"time.{k}"] = v
    metrics["time.prepare"] = float(prep["seconds"])
    ctx.log("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))

    ctx.save_json("e2_path_kl", e2)
    ctx.save_json("e4_e5_score_error", {"const": prep["g2"]["const"], "bump": prep["g2"]["bump"], "sine": e4})
    ctx.save_json("e7_cld", {"path": e7, "marginal": prep["e7m"]})
    ctx.save_json("e8_learned", {"rows": e8["rows"]})
    ctx.save_json("closed_forms", {"e1": prep["e1"], "e3": prep["e3"], "e9": prep["e9"], "seps": prep["g2"]["seps"]})
    ctx.save_csv("e8_curve", e8["curve"])
    figures.step_size(ctx, prep["e1"], e2, e7)
    figures.dimension(ctx, e2)
    figures.score_error(ctx, cfg, prep["g2"], e4, e8)
    figures.modes(ctx, cfg, grid, prep["g2"], ring)
    figures.early_stopping(ctx, prep["e9"], prep["e3"])
    figures.learning_curve(ctx, e8)
    return {k: float(v) for k, v in metrics.items()}
