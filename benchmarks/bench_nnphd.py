"""Benchmark of NNPhD's cost driver: LagrangianNN.acceleration (Hessian of a scalar MLP + solve) and RK4
rollouts. Writes benchmarks/results/nnphd.json.

* forward+backward samples/s of ``LagrangianNN.acceleration`` at d = 2 and d = 4, batch 512, 2x128 softplus,
  float64, one thread: the analytic route (default), batched autograd, ``vmap(torch.func.hessian)``, and a
  per-sample Python loop (reference, measured on 32 samples), with the speed-up ratios;
* forward-only samples/s of the default route;
* one full NNPhD training step (LNN + UAN + Adam) at batch 256 and 512;
* RK4 rollout time for 16 trajectories x 1000 steps of an NNPhD (4 accelerations per step, no graph).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_nnphd.py`` (or ``livepapers bench nnphd``).
"""

from __future__ import annotations

import time

import torch

from livepapers.core.bench import time_fn, write_results
from livepapers.nnphd import LagrangianNN, NNPhD, UniversalApproximatorNet, rk4_rollout

F64 = torch.float64
GOAL = 5_000.0  # samples/s, forward+backward, d = 2 (spec)


def _states(b: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(b, d, generator=g, dtype=F64), torch.randn(b, d, generator=g, dtype=F64)


def _loop_reference(lnn: LagrangianNN, q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Per-sample Python loop: one sample at a time through the same Euler–Lagrange solve."""
    return torch.cat([lnn.acceleration(q[i : i + 1], v[i : i + 1]) for i in range(q.shape[0])])


def bench_acceleration(d: int, batch: int = 512, loop_batch: int = 32) -> dict[str, float]:
    torch.manual_seed(0)
    lnn = LagrangianNN(dim=d, hidden=(128, 128))
    q, v = _states(batch, d)
    out: dict[str, float] = {"dim": d, "batch": batch, "width": 128, "depth": 2}

    def fwd_bwd(backend: str, qq=q, vv=v) -> None:
        lnn.zero_grad(set_to_none=True)
        lnn.acceleration(qq, vv, backend=backend).pow(2).sum().backward()

    def fwd() -> None:
        with torch.no_grad():
            lnn.acceleration(q, v)

    t_auto = time_fn(lambda: fwd_bwd("analytic"), label="acceleration", sub_label=f"d={d}",
                     description="analytic (default)", min_run_time=1.0)["median_s"]
    t_dbl = time_fn(lambda: fwd_bwd("autograd"), label="acceleration", sub_label=f"d={d}",
                    description="batched autograd", min_run_time=1.0)["median_s"]
    t_func = time_fn(lambda: fwd_bwd("func"), label="acceleration", sub_label=f"d={d}",
                     description="vmap(torch.func.hessian)", min_run_time=1.0)["median_s"]
    t_fwd = time_fn(fwd, label="acceleration", sub_label=f"d={d}", description="forward only",
                    min_run_time=0.5)["median_s"]
    ql, vl = q[:loop_batch], v[:loop_batch]

    def loop() -> None:
        lnn.zero_grad(set_to_none=True)
        _loop_reference(lnn, ql, vl).pow(2).sum().backward()

    t_loop = time_fn(loop, label="acceleration", sub_label=f"d={d}", description="per-sample loop",
                     min_run_time=1.0, warmup=1)["median_s"]
    out.update({
        "fwd_bwd_samples_per_s_default": batch / t_auto,
        "fwd_bwd_samples_per_s_autograd": batch / t_dbl,
        "fwd_bwd_samples_per_s_func": batch / t_func,
        "fwd_samples_per_s_default": batch / t_fwd,
        "fwd_bwd_samples_per_s_loop": loop_batch / t_loop,
        "speedup_vs_loop": (batch / t_auto) / (loop_batch / t_loop),
        "speedup_vs_func": t_func / t_auto,
        "speedup_vs_autograd": t_dbl / t_auto,
        "meets_goal_5000": bool(batch / t_auto >= GOAL),
    })
    return out


def bench_train_step(batch: int) -> dict[str, float]:
    torch.manual_seed(0)
    model = NNPhD(dim=2, lnn=LagrangianNN(dim=2), uan=UniversalApproximatorNet(dim=2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    q, v = _states(batch, 2)
    a = torch.randn(batch, 2, dtype=F64)

    def step() -> None:
        total, _, _ = model.loss(q, v, a)
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()

    t = time_fn(step, label="train step", sub_label=f"b={batch}", min_run_time=1.0)["median_s"]
    return {"batch": batch, "ms_per_step": 1e3 * t, "samples_per_s": batch / t}


def bench_rollout(n_traj: int = 16, n_steps: int = 1000) -> dict[str, float]:
    torch.manual_seed(0)
    model = NNPhD(dim=2, lnn=LagrangianNN(dim=2, angle_embedding="wrap"),
                  uan=UniversalApproximatorNet(dim=2, angle_embedding="wrap"))
    q0, _ = _states(n_traj, 2)
    q0 = 0.5 * q0
    t0, c0 = time.perf_counter(), time.process_time()
    rk4_rollout(lambda q, v, t: model(q, v)["a"], q0, torch.zeros_like(q0), 0.01, n_steps)
    return {"n_traj": n_traj, "n_steps": n_steps, "wall_s": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0}


def main() -> dict:
    torch.set_num_threads(1)
    results = {
        "acceleration": [bench_acceleration(2), bench_acceleration(4)],
        "train_step": [bench_train_step(256), bench_train_step(512)],
        "rollout": bench_rollout(),
        "goal_samples_per_s": GOAL,
        "threads": torch.get_num_threads(),
    }
    path = write_results("nnphd", results)
    for r in results["acceleration"]:
        print(f"d={r['dim']}: fwd+bwd {r['fwd_bwd_samples_per_s_default']:.0f} samples/s (analytic, default), "
              f"{r['fwd_bwd_samples_per_s_autograd']:.0f} (batched autograd), "
              f"{r['fwd_bwd_samples_per_s_func']:.0f} (torch.func), {r['fwd_bwd_samples_per_s_loop']:.0f} "
              f"(per-sample loop); x{r['speedup_vs_loop']:.1f} vs loop; forward "
              f"{r['fwd_samples_per_s_default']:.0f} samples/s")
    for r in results["train_step"]:
        print(f"NNPhD train step, batch {r['batch']}: {r['ms_per_step']:.1f} ms")
    ro = results["rollout"]
    print(f"RK4 rollout {ro['n_traj']} x {ro['n_steps']} steps: {ro['wall_s']:.1f} s wall, {ro['cpu_s']:.1f} CPU-s")
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
