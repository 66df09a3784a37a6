"""The smoke profile end to end through RunContext: every declared smoke metric, finite claim metrics, figures."""

import math

from livepapers.core.runs import RunContext
from livepapers.data_extraction import experiment
from livepapers.data_extraction.claims import CLAIMS, METRICS


def test_smoke_profile_end_to_end(tmp_path):
    cfg = experiment.PROFILES["smoke"].config
    m = experiment.run(cfg, RunContext.for_test(tmp_path, cfg, seed=0))
    assert set(m) == {k for k, v in METRICS.items() if v.produced_in("smoke")}
    for c in CLAIMS:
        for name in c.all_metrics:
            assert math.isfinite(m[name]), name
    assert m["heldout_match_frac_max"] < 0.02
    assert m["n_replicates"] == 1 and 0 <= m["base_rate/top_n"] <= 1
    for fig in ("precision_at_k.png", "exposure_vs_duplication.png", "learning_curves.png"):
        assert (tmp_path / fig).exists()
    assert (tmp_path / "table2.csv").exists()
    hits = (tmp_path / "tier_b_hits.csv").read_text().splitlines()
    assert hits[0].startswith("replicate,strategy,sample,kind,value,group,k,count")
    assert math.isfinite(m["bigram_nll"]) and m["heldout_minus_bigram_max"] == m["heldout_nll"] - m["bigram_nll"]


def test_pool_spearman_undefined_counts_as_not_holding():
    assert experiment.spearman_or_zero([1, 2, 3], [5.0, 5.0, 5.0]) == 0.0
    assert experiment.spearman_or_zero([1, 2, 3], [1.0, 3.0, 2.0]) == 0.5
