"""The smoke profile end to end (prepare + the one-seed run) through RunContext."""

import math

from livepapers.artificial_languages import experiment
from livepapers.artificial_languages.claims import CLAIMS, METRICS
from livepapers.core.runs import RunContext


def test_smoke_profile_end_to_end(tmp_path):
    cfg = experiment.PROFILES["smoke"].config
    shared = tmp_path / "shared"
    shared.mkdir()
    experiment.prepare(cfg, RunContext.for_test(shared, cfg, seed=0))
    m = experiment.run(cfg, RunContext.for_test(tmp_path / "seed", cfg, seed=0, shared=shared))
    assert set(m) == set(METRICS)
    for c in CLAIMS:
        for name in c.all_metrics:
            assert math.isfinite(m[name]), name
    assert abs(m["corpus.mean_length"] - 10.77) < 1.5
    assert m["corpus.vocab_size"] == 356  # 354 words, ".", "</s>"
    for fig in ("perplexity_by_language", "switch_effects", "ease_vs_typology", "learning_curves"):
        assert (tmp_path / "seed" / f"{fig}.png").exists()
    assert (tmp_path / "seed" / "perplexity.csv").read_text().count("\n") == 1 + 4 * 2 * 2
