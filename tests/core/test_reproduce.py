import json

import pytest

from livepapers.core.report import load_run
from livepapers.core.reproduce import RunFailed, reproduce


def test_toy_reproduce_writes_a_complete_run_folder(toy_paper, tmp_path):
    folder = reproduce(toy_paper, profile="default", out=tmp_path / "runs", workers=1, verbose=False)
    assert folder.parent == tmp_path / "runs" / "toy" and folder.name.endswith("-default-s0x3")
    for name in ("config.json", "env.json", "metrics.json", "claims.json", "log.txt", "report.md", "line.png",
                 "status.json"):
        assert (folder / name).exists(), name
    for s in (0, 1, 2):
        assert json.loads((folder / f"seed-{s}" / "metrics.json").read_text())["base"] == 0.5
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["summary"]["acc"]["values"] == pytest.approx([1.0, 1.001, 1.002])
    noise = metrics["summary"]["noise"]["values"]
    assert len(set(noise)) == 3  # seeds give different data
    run = load_run(folder)
    assert run.status == "complete"
    assert [v["status"] for v in run.verdicts] == ["holds", "holds", "not_checkable", "holds", "holds"]
    report = (folder / "report.md").read_text()
    assert "A Toy Paper" in report and "| C1 |" in report and "line.png" in report and "toy is a toy" in report


def test_same_seed_same_metrics(toy_paper, tmp_path):
    a = reproduce(toy_paper, profile="smoke", out=tmp_path / "a", workers=1, verbose=False)
    b = reproduce(toy_paper, profile="smoke", out=tmp_path / "b", workers=1, verbose=False)
    ma = json.loads((a / "metrics.json").read_text())["per_seed"]
    mb = json.loads((b / "metrics.json").read_text())["per_seed"]
    assert ma == mb


def test_overrides_reach_run_and_verdicts_follow(toy_paper, tmp_path):
    folder = reproduce(toy_paper, profile="default", seeds=1, overrides=["value=0.1"], out=tmp_path, workers=1,
                       verbose=False)
    verdicts = {v["claim_id"]: v["status"] for v in load_run(folder).verdicts}
    assert verdicts == {"C1": "fails", "C2": "fails", "C3": "not_checkable", "C4": "fails", "C5": "holds"}
    assert json.loads((folder / "config.json").read_text())["config"]["value"] == 0.1


def test_diverged_run_keeps_folder_and_is_inconclusive(toy_paper, tmp_path):
    folder = reproduce(toy_paper, profile="default", overrides=["diverge=true"], out=tmp_path, workers=1,
                       verbose=False)
    run = load_run(folder)
    assert run.status == "diverged"
    # C5 is judged on the once-per-run measurement, which a diverged seed does not touch
    assert {v["status"] for v in run.verdicts if v["claim_id"] not in ("C3", "C5")} == {"inconclusive"}
    assert "at step 2" in (folder / "log.txt").read_text()
    assert "at step 2" in (folder / "report.md").read_text()


def test_crashing_run_is_marked_failed(toy_paper, tmp_path):
    with pytest.raises(RunFailed, match="boom"):
        reproduce(toy_paper, profile="default", seeds=1, overrides=["crash=true"], out=tmp_path, workers=1,
                  verbose=False)
    (folder,) = list((tmp_path / "toy").iterdir())
    assert load_run(folder).status == "failed"
    assert "RuntimeError: boom" in (folder / "log.txt").read_text()


def test_profile_that_is_not_evidence_reports_inconclusive(toy_paper, tmp_path):
    folder = reproduce(toy_paper, profile="tiny", out=tmp_path, workers=1, verbose=False)
    verdicts = {v["claim_id"]: v for v in load_run(folder).verdicts}
    assert verdicts["C1"]["status"] == "inconclusive" and "would be: holds" in verdicts["C1"]["reason"]
    assert verdicts["C1"]["measured"].startswith("acc = 1")  # the measurement is kept
    assert verdicts["C3"]["status"] == "not_checkable"
