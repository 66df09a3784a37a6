"""The smoke profile end to end (prepare + one seed), the λ* rule, and the claims' wiring."""

import json
import math

import pytest

from livepapers.core.claims import evaluate
from livepapers.core.runs import RunContext
from livepapers.counterfactual_invariance import experiment
from livepapers.counterfactual_invariance.claims import CLAIMS, METRICS


def test_lambda_rule():
    lams = (1.0, 10.0, 100.0)
    assert experiment.select_lambda(lams, [0.82, 0.81, 0.70], 0.835) == (10.0, True)
    assert experiment.select_lambda(lams, [0.80, 0.81, 0.70], 0.835) == (10.0, True)  # largest, not contiguous
    assert experiment.select_lambda(lams, [0.70, 0.60, 0.50], 0.835) == (1.0, False)
    assert experiment.select_lambda(lams, [0.83, 0.83, 0.83], 0.835) == (100.0, True)


@pytest.mark.timeout(120)
def test_smoke_profile_end_to_end(tmp_path):
    cfg = experiment.PROFILES["smoke"].config
    shared = tmp_path / "shared"
    shared.mkdir()
    experiment.prepare(cfg, RunContext.for_test(shared, cfg, seed=0))
    m = experiment.run(cfg, RunContext.for_test(tmp_path / "seed", cfg, seed=0, shared=shared))
    assert set(m) == {k for k, v in METRICS.items() if v.produced_in("smoke")}
    for c in CLAIMS:
        for name in c.all_metrics:
            assert math.isfinite(m[name]), name
    for s in ("anticausal", "causal"):
        assert m[f"{s}/bayes_content/cf_change"] == 0.0  # the exact CI predictor passes every stress test
        assert m[f"{s}/bayes_full/cf_change"] > 0.3
        assert m[f"{s}/lambda_star"] == 10.0  # the smoke grid has one λ
    for f in ("cf_change_vs_lambda.png", "ood_accuracy.png", "learning_curves.png", "results.json"):
        assert (tmp_path / "seed" / f).exists(), f
    prep = json.loads((shared / experiment.PREPARED).read_text())
    assert prep["seeds"] == [0]
    assert len(evaluate(CLAIMS, [m])) == 8
