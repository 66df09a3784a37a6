"""Work shared by the seeds: prepare once per reproduce, cached by the config fields it reads; measure once."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from livepapers.core import cache, registry
from livepapers.core.report import load_run
from livepapers.core.reproduce import reproduce, seed_plan


def _prepared(log) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _env(folder):
    return json.loads((folder / "env.json").read_text())


def test_prepare_runs_once_and_every_seed_reads_it(toy_paper, tmp_path, monkeypatch):
    log = tmp_path / "prepare.log"
    monkeypatch.setenv("TOY_PREPARE_LOG", str(log))
    folder = reproduce(toy_paper, profile="default", out=tmp_path / "runs", workers=1, verbose=False)
    assert _prepared(log) == 1  # three seeds, one preparation
    assert (folder / "shared" / "prep.json").exists()
    per_seed = json.loads((folder / "metrics.json").read_text())["per_seed"]
    assert [m["prep"] for m in per_seed] == [10.0, 10.0, 10.0]
    assert _env(folder)["prepare"]["cache"] == "miss"
    assert "prep_scale" in _env(folder)["prepare"]["fields"]


def test_prepare_cache_hit_miss_on_a_read_field_and_fresh(toy_paper, tmp_path, monkeypatch):
    log = tmp_path / "prepare.log"
    monkeypatch.setenv("TOY_PREPARE_LOG", str(log))
    out = tmp_path / "runs"
    reproduce(toy_paper, profile="smoke", out=out, workers=1, verbose=False)
    assert _prepared(log) == 1
    # hit: same fields (value is not read by prepare, so changing it still hits)
    f2 = reproduce(toy_paper, profile="smoke", overrides=["value=3.0"], out=out, workers=1, verbose=False)
    assert _prepared(log) == 1 and _env(f2)["prepare"]["cache"] == "hit"
    assert json.loads((f2 / "metrics.json").read_text())["per_seed"][0]["prep"] == 10.0
    # miss: a field prepare read has changed
    f3 = reproduce(toy_paper, profile="smoke", overrides=["prep_scale=2.0"], out=out, workers=1, verbose=False)
    assert _prepared(log) == 2 and _env(f3)["prepare"]["cache"] == "miss"
    assert json.loads((f3 / "metrics.json").read_text())["per_seed"][0]["prep"] == 20.0
    # --fresh: prepared again although the cache has it
    f4 = reproduce(toy_paper, profile="smoke", out=out, workers=1, verbose=False, fresh=True)
    assert _prepared(log) == 3 and _env(f4)["prepare"]["cache"] == "fresh"
    # another first seed is another preparation
    reproduce(toy_paper, profile="smoke", seed=5, out=out, workers=1, verbose=False)
    assert _prepared(log) == 4


def test_prepare_cache_lives_outside_the_source_tree(toy_paper, tmp_path, monkeypatch):
    monkeypatch.delenv("LIVEPAPERS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg" / "livepapers"
    reproduce(toy_paper, profile="tiny", out=tmp_path / "runs", workers=1, verbose=False)
    assert list((tmp_path / "xdg" / "livepapers" / "toy").glob("*/manifest.json"))


def test_track_reads_records_nested_dotted_fields():
    @dataclass(frozen=True)
    class Inner:
        w: int = 1
        d: int = 2

    @dataclass(frozen=True)
    class Cfg:
        a: int = 1
        b: float = 2.0
        inner: Inner = Inner()

    tracked, reads = cache.track_reads(Cfg())
    assert isinstance(tracked, Cfg) and tracked.a == 1 and tracked.inner.w == 1
    assert reads == {"a", "inner.w"}


def test_measure_once_per_run_judged_over_repeats(toy_paper, tmp_path):
    folder = reproduce(toy_paper, profile="default", out=tmp_path, workers=1, verbose=False)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert [r["speed"] for r in metrics["measured"]["repeats"]] == pytest.approx([2.0, 2.01, 2.02])
    c5 = {v["claim_id"]: v for v in load_run(folder).verdicts}["C5"]
    assert c5["status"] == "holds" and c5["basis"] == "repeats" and c5["n_seeds"] == 3
    f2 = reproduce(toy_paper, profile="default", overrides=["speed=1.0"], out=tmp_path, workers=1, verbose=False)
    assert {v["claim_id"]: v for v in load_run(f2).verdicts}["C5"]["status"] == "fails"


def test_precondition_reaches_claims_json_and_report(toy_paper, tmp_path):
    folder = reproduce(toy_paper, profile="default", overrides=["sanity=0.1"], out=tmp_path, workers=1,
                       verbose=False)
    c4 = {v["claim_id"]: v for v in load_run(folder).verdicts}["C4"]
    assert c4["status"] == "inconclusive" and "precondition not met: sanity ≥ 0.5" in c4["reason"]
    assert c4["preconditions"][0]["status"] == "fails"
    report = (folder / "report.md").read_text()
    assert "sanity ≥ 0.5: NOT met" in report


@pytest.mark.parametrize(("n", "workers", "plan"), [
    (4, 2, "4 seeds on 2 workers, 2 rounds"),
    (3, 2, "3 seeds on 2 workers, 2 rounds"),
    (1, 2, "1 seed in this process, 2 torch threads"),
    (4, 1, "4 seeds in this process, 1 torch thread"),
])
def test_seed_plan(n, workers, plan):
    assert seed_plan(n, workers).describe() == plan


def test_one_seed_profile_uses_every_core_as_threads(toy_paper, tmp_path):
    folder = reproduce(toy_paper, profile="tiny", out=tmp_path, workers=2, verbose=False)
    env = _env(folder)
    assert env["threads_per_seed"] == 2 and env["plan"] == "1 seed in this process, 2 torch threads"


def test_reads_through_ctx_config_copies_and_comparisons_count(toy_paper, tmp_path, monkeypatch):
    import copy
    import importlib

    exp = importlib.import_module(registry.PAPERS[toy_paper] + ".experiment")

    def prepare(config, ctx):  # reads only through ctx.config, and through a deep copy
        scale = copy.deepcopy(ctx.config).prep_scale
        (ctx.folder / "prep.json").write_text(json.dumps({"prep": 10.0 * scale}))

    monkeypatch.setattr(exp, "prepare", prepare)
    out = tmp_path / "runs"
    reproduce(toy_paper, profile="tiny", out=out, workers=1, verbose=False)
    f2 = reproduce(toy_paper, profile="tiny", overrides=["prep_scale=2.0"], out=out, workers=1, verbose=False)
    assert _env(f2)["prepare"]["cache"] == "miss"
    assert json.loads((f2 / "metrics.json").read_text())["per_seed"][0]["prep"] == 20.0


@dataclass(frozen=True)
class Inner:
    w: int = 1


@dataclass(frozen=True)
class Cfg:  # module level: picklable
    a: int = 1
    inner: Inner = Inner()


def test_tracked_copies_pickles_and_comparisons_record_every_field():
    import copy
    import pickle

    for use in (copy.deepcopy, lambda t: pickle.loads(pickle.dumps(t)), vars, lambda t: t == Cfg()):
        tracked, reads = cache.track_reads(Cfg())
        use(tracked)
        assert reads == {"a", "inner.w"}, use
    tracked, reads = cache.track_reads(Cfg())
    assert tracked.inner == Inner() and reads == {"inner.w"}


def test_a_change_in_core_code_is_another_preparation(tmp_path):
    pkg, core = tmp_path / "pkg", tmp_path / "core"
    pkg.mkdir()
    core.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    (core / "train.py").write_text("y = 1\n")
    h = cache.source_hash(pkg, core)
    (core / "train.py").write_text("y = 2\n")
    assert cache.source_hash(pkg, core) != h
    (pkg / "table.csv").write_text("1,2\n")  # a data file counts too
    assert len({h, cache.source_hash(pkg, core)}) == 2
