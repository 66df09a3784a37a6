"""The smoke profile end to end: run() -> metrics -> claims -> run folder with report (verdicts may be
inconclusive at this size)."""

import json
import math
import re
from pathlib import Path

import pytest

from livepapers.core.claims import evaluate
from livepapers.core.reproduce import reproduce
from livepapers.nnphd import claims as nnphd_claims
from livepapers.nnphd import experiment

SPEC_METRICS = (
    "c1_reg_low c1_reg_high c1_lambda_cross c1_pred_low c1_pred_high c1_reg_true "
    "c2_gamma_hat_damped c2_gamma_hat_control c2_cos_agg c2_rel_rms c2_rms_ratio_control c2_lnn_rel_err "
    "c3_cos_W c3_argmax_offset c3_in_out_ratio c4_beta_hat_ratio c4_cos_agg c4_slope "
    "c5_rmse_nnphd c5_rmse_lnn c5_rmse_mlp c5_lnn_energy_ratio c5_truth_energy_ratio"
).split()


@pytest.mark.timeout(120)
def test_smoke_profile_end_to_end(tmp_path):
    folder = reproduce("nnphd", profile="smoke", out=tmp_path, workers=1, verbose=False)
    metrics = json.loads((folder / "metrics.json").read_text())
    per_seed = metrics["per_seed"]
    assert len(per_seed) == 1
    m = per_seed[0]
    for name in [*SPEC_METRICS, "c3b_cos_W", "c3b_in_out_ratio", "time_c1_s", "time_total_s"]:
        assert name in m, name
        assert math.isfinite(m[name]), name
    # the data-generated reference of C1 is the analytic E‖γ q̇‖ up to sampling noise
    assert m["c1_reg_true"] == pytest.approx(0.574, rel=0.1)
    assert m["c5_truth_energy_ratio"] < 1.0
    claims = json.loads((folder / "claims.json").read_text())
    ids = [v["claim_id"] for v in claims["verdicts"]]
    assert ids == ["C1", "C2", "C3", "C4", "C5"]
    assert (folder / "report.md").exists()
    seed_dir = folder / "seed-0"
    for fig in ("c1_phase_transition", "c2_friction", "c3_neptune", "c3b_neptune_ring", "c4_inspiral",
                "c5_forecast"):
        assert (seed_dir / f"{fig}.png").exists(), fig


def test_claims_read_only_metrics_that_run_returns():
    names = set(SPEC_METRICS) | {"c4_min_bin_drag"}
    for claim in nnphd_claims.CLAIMS:
        assert set(claim.check.metrics) <= names, claim.id
    verdicts = evaluate(nnphd_claims.CLAIMS, [{}])
    assert all(v.status == "inconclusive" for v in verdicts)


def test_profiles_and_config():
    assert set(experiment.PROFILES) >= {"smoke", "default", "paper"}
    assert experiment.PROFILES["default"].config == experiment.Config()
    assert experiment.PROFILES["default"].n_seeds == 4


def test_readme_usage_snippet_runs():
    readme = Path(experiment.__file__).with_name("README.md").read_text()
    block = re.search(r"```python\n(.*?)```", readme, re.S)
    assert block is not None
    exec(compile(block.group(1), "README.md", "exec"), {})
    assert "<!-- results:start -->" in readme and "<!-- results:end -->" in readme
