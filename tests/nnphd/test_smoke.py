"""The smoke run's invariants of this paper (the contract itself — profiles, declared metrics, finite claim
metrics, same seed same metrics, README — is checked by tests/test_contract.py)."""

import math

import pytest

from livepapers.core.runs import RunContext
from livepapers.nnphd import experiment
from livepapers.nnphd.claims import METRICS


@pytest.mark.timeout(120)
def test_smoke_run_writes_one_figure_per_demo_and_physical_references(tmp_path):
    cfg = experiment.PROFILES["smoke"].config
    shared = tmp_path / "shared"
    experiment.prepare(cfg, RunContext.for_test(shared, cfg, shared=shared))  # C5's lr selection
    assert set(experiment.load_selection(RunContext.for_test(tmp_path, cfg, shared=shared))) == {"nnphd", "lnn", "mlp"}
    run_dir = tmp_path / "run"
    m = experiment.run(cfg, RunContext.for_test(run_dir, cfg, shared=shared))
    for fig in ("c1_phase_transition", "c2_friction", "c3_neptune", "c3b_neptune_ring", "c4_inspiral",
                "c5_forecast", "lnn_fit", "learning_curves"):
        assert (run_dir / f"{fig}.png").exists(), fig
    assert all(m[f"c5_lr_{k}"] in cfg.c5_lrs for k in ("nnphd", "lnn", "mlp"))
    # the data-generated reference of C1 is the analytic E‖γ q̇‖ = 0.574 up to sampling noise
    assert m["c1_reg_true"] == pytest.approx(0.574, rel=0.1)
    assert m["c5_truth_energy_ratio"] < 1.0  # the true damped pendulum loses energy
    for v in ("c3", "c3b"):
        assert 0.0 < m[f"{v}_w_fraction"] < 1.0 and m[f"{v}_true_in_out_ratio"] > 1.0
    assert all(m[experiment.time_metric(d)] >= 0 for d in experiment.DEMOS)


def test_metric_name_helpers_match_the_declared_families():
    assert experiment.forecast_metric("energy_ratio", "lnn") == "c5_lnn_energy_ratio"  # the name C5 reads
    assert experiment.forecast_metric("rmse", "mlp") == "c5_rmse_mlp"
    assert experiment.neptune_metric("c3", "cos_W") == "c3_cos_W"
    real = [k for k in METRICS if k.startswith("c3real_") or k == "time_c3real_s"]
    assert len(real) == 8 and all(METRICS[k].profiles == ("paper",) for k in real)
    assert all(METRICS[k].machine for k in METRICS if k.startswith("time_"))
    assert not any(METRICS[k].machine for k in METRICS if not k.startswith("time_"))
    assert math.isclose(len(METRICS), 70)
