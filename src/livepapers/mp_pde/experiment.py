"""Offline small-scale reproduction of MP-PDE's claims C1a–C5 (spec: papers/mp-pde.md).

``prepare`` (once per reproduce, shared by the seeds): the E1 and E2 data sets under the official convention
(train + test, labels at nx = 40), the official WENO5 baselines at nx ∈ {40, 100}, the same test PDEs under the
consistent ``fv`` convention with WENO5 at nx ∈ {40, 50, 100, 200}, the persistence baselines, and the C5 timings
(one thread, no seed process running; WENO5 and MP-PDE calls interleaved after a warm-up of each, best of
``timing_repeats``; a rollout's cost does not depend on the weights, so an untrained model of the profile's
architecture is timed).

``run`` (one call per seed = model init + batch order, same data): trains the four arms

* R1 — E1, nx 40, pushforward;   R2 — E1, nx 40, no pushforward (N_max = 0 throughout);
* R3 — E2, nx 40, pushforward, conditioned on β/0.2;   R4 — E2, nx 40, pushforward, no θ_PDE,

evaluates their accumulated errors on the 32 official-convention test trajectories, and returns metrics only;
the verdicts come from ``claims.py``.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from livepapers.core.config import Profile
from livepapers.mp_pde import figures
from livepapers.mp_pde.benchmark import rollout_call, time_interleaved, weno_call
from livepapers.mp_pde.data import CONVENTIONS, EXPERIMENTS, generate_dataset
from livepapers.mp_pde.modules import MPPDE
from livepapers.mp_pde.training import accumulated_error, persistence, rollout, train, trajectories, window_errors

EXPS = ("E1", "E2")
# arm -> (experiment, pushforward, conditioned on θ_PDE)
ARMS = {"r1": ("E1", True, True), "r2": ("E1", False, True), "r3": ("E2", True, True), "r4": ("E2", True, False)}
ARM_DOC = {"r1": "E1, pushforward", "r2": "E1, no pushforward", "r3": "E2, pushforward, with θ_PDE",
           "r4": "E2, pushforward, without θ_PDE"}


@dataclass(frozen=True)
class Config:
    # data (one data set per experiment from data_seed, shared by every seed and arm)
    data_seed: int = 0
    n_train: int = 256
    n_test: int = 32
    nt: int = 250
    nx_ref: int = 200
    nx: int = 40  # the model's (and the labels') resolution
    convention: str = "official"  # the training/evaluation labels of R1–R4 (the paper's protocol)
    weno_official_nx: tuple[int, ...] = (40, 100)
    weno_fv_nx: tuple[int, ...] = (40, 50, 100, 200)
    ell_max: int = 2
    weno_eps: float = 1e-6
    # model (spec default profile: H = 64, M = 4, K = 25, n = 3, periodic)
    time_window: int = 25
    hidden: int = 64
    layers: int = 4
    neighbors: int = 3
    periodic: bool = True
    # training (shortened for the budget; schedule="official" + epochs is the paper's recipe)
    steps: int = 800
    batch_size: int = 16
    lr: float = 1e-3
    lr_min: float = 1e-5
    warmup: int = 50
    weight_decay: float = 0.01
    schedule: str = "cosine"
    epochs: int = 20  # schedule="official" only
    unrolling: int = 2  # largest N of the pushforward arms; N_max = min(step // epoch_steps, unrolling)
    epoch_steps: int = 200  # pushforward "epochs" of the cosine schedule: [0, 200) N_max 0, [200, 400) 1, …
    # evaluation
    start: int = 50  # rollouts start from the true window [25, 50)
    # C5 timings (in prepare): batch, best of repeats (WENO5 and MP-PDE calls interleaved)
    timing_batch: int = 32
    timing_repeats: int = 7
    prepare_workers: int = 2  # processes generating E1 and E2 in prepare (both cores are free then)

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got {self.convention!r}")
        if self.schedule not in ("cosine", "official"):
            raise ValueError(f"schedule must be 'cosine' or 'official', got {self.schedule!r}")
        for n in (self.nx, *self.weno_official_nx, *self.weno_fv_nx):
            if n < 5 or self.nx_ref % n:
                raise ValueError(f"every resolution must be ≥ 5 and divide nx_ref={self.nx_ref}, got {n}")
        if self.nx not in self.weno_official_nx or self.nx not in self.weno_fv_nx:
            raise ValueError(f"nx={self.nx} must be among weno_official_nx and weno_fv_nx (C1 compares at nx)")
        if 100 not in self.weno_official_nx:
            raise ValueError("weno_official_nx must contain 100 (C1b and C3 read the nx = 100 baseline)")
        if self.start < self.time_window or self.start >= self.nt:
            raise ValueError(f"start must be in [time_window, nt), got {self.start}")
        if self.n_train < 1 or self.n_test < 1 or self.steps < 1:
            raise ValueError("n_train, n_test and steps must be ≥ 1")
        if self.timing_batch < 1 or self.timing_repeats < 1:
            raise ValueError("timing_batch and timing_repeats must be ≥ 1")


PROFILES: dict[str, Profile] = {
    # ≤ 8 s: tiny data and models; every metric of the default profile is produced (no evidence)
    "smoke": Profile(Config(n_train=8, n_test=4, hidden=32, layers=2, steps=20, warmup=5, epoch_steps=5,
                            timing_batch=4, timing_repeats=1, prepare_workers=1), n_seeds=1, evidence=False),
    "default": Profile(Config()),
    # the paper's settings for E1/E2 at nx = 40: 2048 trajectories, H = 128, M = 6, official schedule
    # (AdamW 1e-4, MultiStepLR, 20 epochs of nt passes ≈ 640 000 steps, unrolling 1); GPU recommended
    "paper": Profile(Config(n_train=2048, n_test=128, hidden=128, layers=6, schedule="official", lr=1e-4,
                            unrolling=1, timing_batch=128), n_seeds=3),
}


def _exp_key(e: str) -> str:
    return e.lower()


def weno_metric(convention: str, exp: str, nx: int) -> str:
    return f"weno.{convention}.{_exp_key(exp)}.nx{nx}"


# ----------------------------------------------------------------------------------------------- prepare


def _step_errors(pred: np.ndarray, true: np.ndarray, start: int) -> list[float]:
    """Per-step error Σ_x (û − u)²/n_x, mean over trajectories, for steps ≥ start."""
    e = ((np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64)) ** 2).sum(-1).mean(0)
    return (e[start:] / true.shape[-1]).tolist()


def _prepare_experiment(cfg: Config, i: int, exp: str, shared: str) -> dict:
    """One experiment's data sets and baselines (a process of its own when ``prepare_workers`` > 1): writes
    ``<exp>.npz`` and ``<exp>_fv_weno.npy`` into ``shared``; returns the baseline numbers and the fv test PDEs."""
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    out: dict = {"weno": {}, "curves": {}}
    label_nx = tuple(sorted({cfg.nx, *cfg.weno_official_nx}))
    kw = dict(nt=cfg.nt, nx_ref=cfg.nx_ref, ell_max=cfg.ell_max, weno_eps=cfg.weno_eps)
    gen = torch.Generator().manual_seed(cfg.data_seed * 1000 + i)
    off = generate_dataset(exp, cfg.n_train, 0, cfg.n_test, gen, nx=label_nx, convention="official",
                           weno_nx=cfg.weno_official_nx, **kw)
    gen = torch.Generator().manual_seed(cfg.data_seed * 1000 + i)  # the same PDEs, consistent convention
    fv_splits = ("train", "test") if cfg.convention == "fv" else ("test",)
    fv = generate_dataset(exp, cfg.n_train, 0, cfg.n_test, gen, nx=tuple(cfg.weno_fv_nx), convention="fv",
                          weno_nx=cfg.weno_fv_nx, splits=fv_splits, **kw)
    out["n_rejected"] = off["n_rejected"] + fv["n_rejected"]
    te = off["test"]  # the official protocol's baselines are always measured
    for nx in cfg.weno_official_nx:
        out["weno"][weno_metric("official", exp, nx)] = float(
            accumulated_error(te["u_weno"][nx], te["u"][nx], cfg.start).mean())
        out["curves"][f"{exp} WENO5 official nx{nx}"] = _step_errors(te["u_weno"][nx], te["u"][nx], cfg.start)
    # the fv WENO5 at nx_ref is the reference itself (error 0); it is still timed
    for nx in cfg.weno_fv_nx:
        u_all, lab = fv["test"]["u_weno"][nx], fv["test"]["u"][nx]
        out["weno"][weno_metric("fv", exp, nx)] = float(accumulated_error(u_all, lab, cfg.start).mean())
        if nx == cfg.nx:
            out["curves"][f"{exp} WENO5 fv nx{nx}"] = _step_errors(u_all, lab, cfg.start)
            np.save(Path(shared) / f"{exp}_fv_weno.npy", u_all)
    # persistence on the labels R1–R4 are evaluated on
    chosen = off if cfg.convention == "official" else fv
    lab = torch.as_tensor(chosen["test"]["u"][cfg.nx])
    out["persistence"] = float(accumulated_error(persistence(lab, cfg.start), lab, cfg.start).mean())
    out["curves"][f"{exp} persistence"] = _step_errors(persistence(lab, cfg.start).numpy(), lab.numpy(), cfg.start)
    np.savez_compressed(
        Path(shared) / f"{exp}.npz",
        train_u=chosen["train"]["u"][cfg.nx].astype(np.float32), train_params=chosen["train"]["params"],
        test_u=chosen["test"]["u"][cfg.nx], test_params=te["params"], test_u_official=te["u"][cfg.nx],
        test_weno=te["u_weno"][cfg.nx], test_u_fv=fv["test"]["u"][cfg.nx], t=off["t"])
    out["fv_test"] = {"test": {"forcing": fv["test"]["forcing"], "params": fv["test"]["params"],
                               "u_ref": fv["test"]["u_ref"]},
                      "t": fv["t"], "convention": "fv"}
    out["seconds"] = time.perf_counter() - t0
    return out


def prepare(config: Config, ctx) -> None:
    """Data sets, WENO5 baselines, persistence and C5 timings, once per reproduce (see the module docstring).
    The two experiments are generated in ``prepare_workers`` processes; the timings run afterwards, alone."""
    # a plain Config for the worker processes (reads every field here, so the prepare cache keys on all of them)
    cfg = Config(**{f.name: getattr(config, f.name) for f in dataclasses.fields(Config)})
    base: dict = {"weno": {}, "curves": {}, "persistence": {}, "n_rejected": 0, "speed": {}}
    jobs = [(cfg, i, exp, str(ctx.shared)) for i, exp in enumerate(EXPS)]
    if cfg.prepare_workers > 1:
        pool_ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(cfg.prepare_workers, len(jobs)), mp_context=pool_ctx) as pool:
            parts = list(pool.map(_prepare_experiment, *zip(*jobs)))
    else:
        parts = [_prepare_experiment(*j) for j in ctx.progress(jobs, desc="prepare data")]
    for exp, part in zip(EXPS, parts):
        base["weno"].update(part["weno"])
        base["curves"].update(part["curves"])
        base["persistence"][exp] = part["persistence"]
        base["n_rejected"] += part["n_rejected"]
        ctx.log(f"prepare: {exp} data and baselines in {part['seconds']:.1f} s")
    # C5 timings: one thread, nothing else of ours running; every WENO5 solve and the MP-PDE rollout are called
    # in turn (warm-up of each, then timing_repeats alternating rounds), best per thing
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fv = parts[0]["fv_test"]
        e1 = trajectories_from_npz(np.load(ctx.shared / "E1.npz"), "E1", conditioned=True)
        torch.manual_seed(0)  # the weights do not change a rollout's cost
        model = build_model(cfg, "E1", n_params=0)
        calls, sizes = {}, {}
        kw = dict(batch=cfg.timing_batch, weno_eps=cfg.weno_eps)
        for nx in cfg.weno_fv_nx:  # the whole solve t = 0 … T (C5), then the rollout's span only (reported)
            calls[f"weno_fv.nx{nx}_ms"], sizes[f"weno_fv.nx{nx}_ms"] = weno_call(fv, nx, **kw)
            if nx == cfg.nx:
                calls["mppde_ms"], sizes["mppde_ms"] = rollout_call(model, e1, batch=cfg.timing_batch,
                                                                    start=cfg.start)
        for nx in cfg.weno_fv_nx:
            calls[f"weno_fv.nx{nx}_span_ms"], sizes[f"weno_fv.nx{nx}_span_ms"] = weno_call(fv, nx, start=cfg.start,
                                                                                            **kw)
        sec = time_interleaved(calls, cfg.timing_repeats)
        base["speed"] = {k: 1e3 * sec[k] / sizes[k] for k in calls}
    finally:
        torch.set_num_threads(threads)
    ctx.log("prepare: C5 timings (ms per trajectory) " + json.dumps(base["speed"]))
    ctx.save_json("baselines.json", base)


# ----------------------------------------------------------------------------------------------- run


def build_model(cfg: Config, experiment: str, n_params: int) -> MPPDE:
    """The profile's MPPDE for ``experiment`` (Δt = T/(nt − 1) and t̂ = t/T from that experiment's T)."""
    T = EXPERIMENTS[experiment]
    return MPPDE(cfg.time_window, cfg.hidden, cfg.layers, n_params, cfg.neighbors, cfg.periodic,
                 dt=T / (cfg.nt - 1), t_max=T)


def trajectories_from_npz(z, exp: str, *, conditioned: bool, split: str = "test", key: str = "u"):
    """The prepared labels as :class:`~livepapers.mp_pde.training.Trajectories`."""
    u = z[f"{split}_{key}"]
    ds = {"experiment": exp, "t": z["t"], split: {"u": {u.shape[-1]: u}, "params": z[f"{split}_params"]}}
    return trajectories(ds, split, u.shape[-1], conditioned=conditioned)


def _train_arm(cfg: Config, ctx, arm: str, z) -> tuple[dict[str, float], dict]:
    exp, pushforward, conditioned = ARMS[arm]
    tr = trajectories_from_npz(z, exp, conditioned=conditioned, split="train")
    te = trajectories_from_npz(z, exp, conditioned=conditioned)
    k = list(ARMS).index(arm)
    torch.manual_seed(ctx.seed * 1009 + k)  # model init (seed × arm)
    model = build_model(cfg, exp, n_params=tr.params.shape[1])
    t0 = time.perf_counter()
    losses = train(model, tr, steps=cfg.steps, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                   unrolling=cfg.unrolling if pushforward else 0, schedule=cfg.schedule,
                   generator=ctx.generator(100 + k), epoch_steps=cfg.epoch_steps if cfg.schedule == "cosine"
                   else None, warmup=cfg.warmup, lr_min=cfg.lr_min, weight_decay=cfg.weight_decay,
                   progress=lambda it: ctx.progress(it, total=len(it), desc=arm),
                   check=lambda v, s: ctx.check_finite(v, s, what=f"{arm} loss"))
    train_s = time.perf_counter() - t0
    pred = rollout(model, te.u, te.x, te.t, te.params, start=cfg.start)
    err = accumulated_error(pred, te.u, cfg.start)
    win = window_errors(pred, te.u, cfg.start, cfg.time_window)
    tail = max(1, len(losses) // 16)
    m = {f"{arm}.acc_err": float(err.mean()), f"{arm}.growth": float(win[-1] / win[0]),
         f"{arm}.loss_start": float(np.mean(losses[:tail])), f"{arm}.loss_end": float(np.mean(losses[-tail:])),
         f"{arm}.train_s": train_s}
    ctx.log(f"{arm} ({ARM_DOC[arm]}): acc. error {m[f'{arm}.acc_err']:.3f}, window growth "
            f"{m[f'{arm}.growth']:.2f}, loss {m[f'{arm}.loss_start']:.3g} → {m[f'{arm}.loss_end']:.3g} "
            f"({train_s:.0f} s)")
    keep = {"losses": losses, "pred": pred.numpy(), "true": te.u.numpy(), "windows": win.tolist(),
            "steps": _step_errors(pred.numpy(), te.u.numpy(), cfg.start)}
    return m, keep


def run(config: Config, ctx) -> dict[str, float]:
    """Train and evaluate R1–R4 for seed ``ctx.seed``; read the shared baselines; return flat metrics."""
    cfg = config
    torch.set_num_threads(1)
    base = json.loads(ctx.shared_path("baselines.json").read_text(encoding="utf-8"))
    data = {exp: np.load(ctx.shared_path(f"{exp}.npz")) for exp in EXPS}
    metrics: dict[str, float] = {**base["weno"], "data.n_rejected": float(base["n_rejected"])}
    for exp in EXPS:
        metrics[f"persistence.{_exp_key(exp)}"] = base["persistence"][exp]
    keep = {}
    for arm, (exp, _, _) in ARMS.items():
        m, keep[arm] = _train_arm(cfg, ctx, arm, data[exp])
        metrics.update(m)
    # C5: MP-PDE (R1's accuracy) against the cheapest consistent WENO5 run at least as accurate
    speed = base["speed"]
    metrics["speed.mppde_ms"] = speed["mppde_ms"]
    for nx in cfg.weno_fv_nx:
        metrics[f"speed.weno_fv.nx{nx}_ms"] = speed[f"weno_fv.nx{nx}_ms"]
        metrics[f"speed.weno_fv.nx{nx}_span_ms"] = speed[f"weno_fv.nx{nx}_span_ms"]
    ok = [nx for nx in cfg.weno_fv_nx if base["weno"][weno_metric("fv", "E1", nx)] <= metrics["r1.acc_err"]]
    matched = min(ok, key=lambda nx: speed[f"weno_fv.nx{nx}_ms"]) if ok else None
    metrics["speed.weno_matched_nx"] = float(matched) if matched else float("nan")
    metrics["speed.weno_matched_ms"] = speed[f"weno_fv.nx{matched}_ms"] if matched else float("nan")
    # figures and the numbers behind them
    curves = {f"R{a[1]} ({ARM_DOC[a]})": keep[a]["steps"] for a in ARMS}
    curves.update(base["curves"])
    ctx.save_json("error_curves", {"start": cfg.start, "curves": curves,
                                   "windows": {a: keep[a]["windows"] for a in ARMS},
                                   "losses": {a: keep[a]["losses"] for a in ARMS}})
    figures.rollouts(ctx, data["E1"], keep["r1"]["pred"], keep["r2"]["pred"],
                     np.load(ctx.shared_path("E1_fv_weno.npy")), cfg.start)
    figures.error_vs_time(ctx, curves, cfg.start, data["E1"]["t"])
    figures.speed_accuracy(ctx, cfg.weno_fv_nx, [speed[f"weno_fv.nx{nx}_ms"] for nx in cfg.weno_fv_nx],
                           [base["weno"][weno_metric("fv", "E1", nx)] for nx in cfg.weno_fv_nx],
                           speed["mppde_ms"], metrics["r1.acc_err"],
                           base["weno"][weno_metric("official", "E1", cfg.nx)])
    figures.learning_curves(ctx, {a: keep[a]["losses"] for a in ARMS}, cfg.epoch_steps, cfg.unrolling)
    return metrics
