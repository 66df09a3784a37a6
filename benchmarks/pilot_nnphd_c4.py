"""NNPhD C4 pilot (spec revision 2): which eccentric inspirals to register, and whether the LNN can fit them.

1. Data designs, 16 inspirals from the default data seed, e ~ U[0.3, 0.6]: the drag relative to gravity at the
   median radius and the fraction of outbound samples (ṙ > 0), for
   - the first run's near-circular inspirals (e ≤ 0.05, β = 0.02, stop at r < 0.6);
   - starts at the apocentre (stop at r < 0.2): the r⁻⁴ drag at the first pericentre makes every orbit plunge;
   - starts at the pericentre (stop at r < 0.5), several β: the registered design.
2. Training on seed 0 with the default recipe: the registered data (β = 0.16) and a drag-free control with the same
   initial states (β = 0): the LNN's held-out error of the conservative acceleration and β̂/β. If the control fits
   and the drag run does not, the LNN absorbs the drag (identifiability), it is not under-trained.

Run: ``OMP_NUM_THREADS=1 python benchmarks/pilot_nnphd_c4.py`` (≈ 2 CPU-min); writes
``benchmarks/results/nnphd_c4_pilot.json``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path

import torch

from livepapers.core.runs import RunContext
from livepapers.nnphd import Inspiral
from livepapers.nnphd.evaluation import inspiral_data_metrics, inspiral_metrics
from livepapers.nnphd.experiment import PROFILES
from livepapers.nnphd.harness import build_nnphd, data_gen, fit_logged, seeded
from livepapers.nnphd.training import predict

OUT = Path(__file__).parent / "results" / "nnphd_c4_pilot.json"
SPAN = (0.0, 100.0)


class _ApocentreStart(Inspiral):
    """Starts at the apocentre r₀ of a Kepler orbit of eccentricity e: speed sqrt((1 − e)/r₀)."""

    def initial_states(self, n_traj, generator=None):
        q, v = super().initial_states(n_traj, generator)  # pericentre start: speed sqrt((1 + e)/r₀)
        r = q.norm(dim=-1, keepdim=True)
        e = v.pow(2).sum(-1, keepdim=True) * r - 1
        return q, v * torch.sqrt((1 - e) / (1 + e))


def data_row(name: str, sim: Inspiral, cfg, r_stop: float) -> dict:
    data = sim.sample(cfg.c4_n_traj, SPAN, cfg.c4_n_points, data_gen(cfg.data_seed, 4), r_stop=r_stop)
    rdot = (data["q"] * data["qdot"]).sum(-1)
    turns = [int(((rdot[data["traj_id"] == i][1:] > 0) != (rdot[data["traj_id"] == i][:-1] > 0)).sum())
             for i in range(cfg.c4_n_traj)]
    r = data["q"].norm(dim=-1)
    return {"design": name, "beta": sim.beta, "r_stop": r_stop, **inspiral_data_metrics(data),
            "min_sign_changes_of_rdot": min(turns), "r_min": float(r.min()), "r_max": float(r.max())}


def train_row(name: str, beta: float, cfg, tmp: Path) -> dict:
    sim = Inspiral(beta=beta, e_range=(cfg.c4_e_min, cfg.c4_e_max), start="pericentre")
    data = sim.sample(cfg.c4_n_traj, SPAN, cfg.c4_n_points, data_gen(cfg.data_seed, 4), r_stop=cfg.c4_r_stop)
    test = sim.sample(cfg.c4_n_test, SPAN, cfg.c4_n_points, data_gen(cfg.test_seed, 4), r_stop=cfg.c4_r_stop)
    ctx = RunContext.for_test(tmp / name, cfg, seed=0, profile="default")
    with seeded(ctx, 4):
        model = build_nnphd(cfg, 2, angle_embedding=None)
    t0 = time.process_time()
    fit_logged(model, data, cfg.c4_steps, cfg, ctx, 4, name)
    out = predict(model, test)
    err = (out["a_c"] - test["a_c"]).pow(2).sum(-1).mean().sqrt() / test["a_c"].pow(2).sum(-1).mean().sqrt()
    row = {"run": name, "beta": beta, "lnn_rel_err_held_out": float(err), "cpu_s": time.process_time() - t0}
    if beta > 0:
        m, *_ = inspiral_metrics(predict(model, data), data, beta)
        row.update({k: m[k] for k in ("c4_beta_hat_ratio", "c4_cos_agg", "c4_cos_median")})
    return row


def main() -> None:
    torch.set_num_threads(1)
    cfg = PROFILES["default"].config
    ecc = (cfg.c4_e_min, cfg.c4_e_max)
    designs = [data_row("near-circular (first run)", Inspiral(beta=0.02), replace(cfg, c4_n_traj=8), 0.6)]
    designs.append(data_row("apocentre start", _ApocentreStart(beta=0.02, e_range=ecc, start="pericentre"), cfg, 0.2))
    for beta in (0.05, 0.1, 0.12, 0.15, 0.16, 0.2):
        designs.append(data_row("pericentre start", Inspiral(beta=beta, e_range=ecc, start="pericentre"), cfg,
                                cfg.c4_r_stop))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        training = [train_row("drag", cfg.c4_beta, cfg, Path(tmp)), train_row("drag-free control", 0.0, cfg,
                                                                               Path(tmp))]
    result = {"registered": {"beta": cfg.c4_beta, "e_range": ecc, "start": "pericentre", "r_stop": cfg.c4_r_stop,
                             "n_traj": cfg.c4_n_traj},
              "designs": designs, "training_seed0": training,
              "torch": torch.__version__, "threads": torch.get_num_threads()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    for row in designs:
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
    for row in training:
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
    assert math.isfinite(training[0]["lnn_rel_err_held_out"])


if __name__ == "__main__":
    main()
