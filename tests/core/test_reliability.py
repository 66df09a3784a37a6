"""Reliability of the core (issue 12): bad files, killed and interrupted runs, custom runs, early refusals."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from livepapers.cli import main
from livepapers.core import registry
from livepapers.core.report import build_site, find_runs, latest_run, update_readme
from livepapers.core.reproduce import Interrupted, reproduce
from livepapers.core.runs import atomic_write_json, process_start, read_status, write_status


def _run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(code, err):
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


# --- 5. a killed run whose PID was reused -------------------------------------------------------------


def test_reused_pid_reads_incomplete(tmp_path):
    write_status(tmp_path, "running")
    assert read_status(tmp_path) == "running"  # this very process: alive, same start time
    st = json.loads((tmp_path / "status.json").read_text())
    st["pid_start"] = st["pid_start"] - 1  # same PID, another process start: the PID was reused
    (tmp_path / "status.json").write_text(json.dumps(st))
    assert read_status(tmp_path) == "incomplete"


def test_process_start_is_stable_and_distinct():
    assert process_start(os.getpid()) == process_start(os.getpid())
    assert process_start(2**22 + 12345) is None


# --- 6. malformed files in a run folder ----------------------------------------------------------------


@pytest.mark.parametrize("bad", [b"[]", b'{"verdicts": [{"claim_id": "C1"}]}', b"\xff\xfe\x00not utf-8",
                                 b'{"verdicts": [{"claim_id": "C1", "status": "great"}]}',
                                 b'{"verdicts": [{"claim_id": "C1", "status": "holds"}]}',
                                 b'{"verdicts": [{"claim_id": "C1", "status": "holds", "measured": "", "expected": "",'
                                 b' "preconditions": [{"status": "holds"}]}]}'])
def test_one_malformed_run_is_skipped_with_a_warning(toy_only, tmp_path, capsys, bad):
    good = reproduce(toy_only, profile="tiny", out=tmp_path, workers=1, verbose=False)
    broken = tmp_path / "toy" / "20200101T000000Z-default-s0"
    broken.mkdir()
    atomic_write_json(broken / "config.json", {"slug": "toy", "profile": "default", "seeds": [0]})
    (broken / "claims.json").write_bytes(bad)
    write_status(broken, "complete")
    runs = find_runs(tmp_path, "toy")
    assert [r.folder for r in runs] == [good]
    err = capsys.readouterr().err
    assert "skipping run 20200101T000000Z-default-s0" in err and "claims.json" in err
    code, out, _ = _run_cli(capsys, "list", "--runs", str(tmp_path))
    assert code == 0 and "toy" in out
    code, _, _ = _run_cli(capsys, "report", "--runs", str(tmp_path), "--out", str(tmp_path / "site"))
    assert code == 0 and (tmp_path / "site" / "index.html").exists()


# --- 7. unwritable site folder: refused before the run -------------------------------------------------


def test_site_that_is_a_file_is_refused_before_any_run(toy_only, tmp_path, capsys):
    site = tmp_path / "site.html"
    site.write_text("x")
    code, _, err = _run_cli(capsys, "reproduce", toy_only, "--out", str(tmp_path / "runs"), "--site", str(site),
                            "--workers", "1")
    assert "site.html" in _one_line(code, err)
    assert not (tmp_path / "runs").exists()  # no folder was made
    code, _, err = _run_cli(capsys, "report", "--runs", str(tmp_path), "--out", str(site))
    assert "it is a file" in _one_line(code, err)


# --- 8. values refused up front ------------------------------------------------------------------------


def test_bad_seed_and_unavailable_profile_are_refused_without_a_folder(toy_only, tmp_path, capsys, monkeypatch):
    code, _, err = _run_cli(capsys, "reproduce", toy_only, "--seed", "-3", "--out", str(tmp_path))
    assert "--seed" in _one_line(code, err)
    pkg = registry.PAPERS[toy_only]
    exp = importlib.import_module(pkg + ".experiment")
    monkeypatch.setitem(exp.PROFILES, "paper", exp.PROFILES["paper"].__class__(exp.Config(), needs="ImageNet"))
    code, _, err = _run_cli(capsys, "reproduce", toy_only, "--profile", "paper", "--out", str(tmp_path))
    line = _one_line(code, err)
    assert "cannot run here: ImageNet" in line
    assert not (tmp_path / "toy").exists()


# --- 4. custom runs never stand as the default result; a run that measured nothing is not complete ------


def test_runs_with_overrides_are_labelled_and_never_the_default_result(toy_paper, tmp_path):
    official = reproduce(toy_paper, profile="default", out=tmp_path, workers=1, verbose=False)
    custom = reproduce(toy_paper, profile="default", overrides=["value=0.1"], out=tmp_path, workers=1,
                       verbose=False)
    fewer = reproduce(toy_paper, profile="default", seeds=1, out=tmp_path, workers=1, verbose=False)
    assert latest_run(tmp_path, "toy").folder == official
    runs = {r.folder: r for r in find_runs(tmp_path, "toy")}
    assert runs[custom].custom == ["--set value=0.1"] and runs[fewer].custom == ["--seeds 1 (profile: 3)"]
    update_readme(toy_paper, tmp_path)
    assert official.name in registry.get(toy_paper).readme.read_text()


def test_a_run_that_returned_no_metrics_is_failed(toy_paper, tmp_path, monkeypatch):
    exp = importlib.import_module(registry.PAPERS[toy_paper] + ".experiment")
    monkeypatch.setattr(exp, "run", lambda config, ctx: {})
    monkeypatch.delattr(exp, "measure")
    with pytest.raises(Exception, match="no metrics"):
        reproduce(toy_paper, profile="tiny", out=tmp_path, workers=1, verbose=False)
    (folder,) = (tmp_path / "toy").iterdir()
    assert read_status(folder) == "failed"


# --- 11. one paper's error does not skip the next -----------------------------------------------------


def test_an_error_in_one_paper_does_not_skip_the_others(toy_only, tmp_path, capsys, monkeypatch):
    pkg = registry.PAPERS[toy_only]
    monkeypatch.setitem(registry.PAPERS, "toy2", pkg)
    exp = importlib.import_module(pkg + ".experiment")
    calls = []

    def prepare(config, ctx):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk on fire")
        (ctx.folder / "prep.json").write_text('{"prep": 1.0}')

    monkeypatch.setattr(exp, "prepare", prepare)
    code, out, err = _run_cli(capsys, "reproduce", "toy", "toy2", "--profile", "tiny", "--out", str(tmp_path),
                              "--no-site", "--workers", "1")
    assert code == 1 and "toy failed: OSError: disk on fire" in err
    assert "toy2: complete" in out


# --- 10. interrupts ---------------------------------------------------------------------------------------


def test_ctrl_c_marks_the_run_interrupted_and_lists_finished_seeds(toy_paper, tmp_path, monkeypatch):
    exp = importlib.import_module(registry.PAPERS[toy_paper] + ".experiment")
    real = exp.run

    def run(config, ctx):
        if ctx.seed == 1:
            raise KeyboardInterrupt
        return real(config, ctx)

    monkeypatch.setattr(exp, "run", run)
    with pytest.raises(Interrupted) as info:
        reproduce(toy_paper, profile="default", out=tmp_path, workers=1, verbose=False)
    assert info.value.finished == [0]
    (folder,) = (tmp_path / "toy").iterdir()
    assert read_status(folder) == "interrupted"
    assert json.loads((folder / "status.json").read_text())["finished_seeds"] == [0]


@pytest.mark.timeout(60)
def test_workers_die_with_a_killed_parent(tmp_path):
    # the parent maps a slow function over 2 workers, prints their PIDs, and is SIGKILLed
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent('''
        import os, sys, time
        from livepapers.core import sweep

        def slow(i):
            print(os.getpid(), flush=True)
            time.sleep(60)

        if __name__ == "__main__":
            sweep.map(slow, [0, 1], workers=2, progress=False)
    '''))
    env = {**os.environ, "PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env,
                              cwd=tmp_path)
    pids = [int(parent.stdout.readline()) for _ in range(2)]
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 20
    alive = pids
    while alive and time.time() < deadline:
        time.sleep(0.5)
        alive = [p for p in pids if _alive(p)]
    assert not alive, f"workers {alive} outlived their parent"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (reaped by init later) counts as dead
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_site_still_builds_with_an_interrupted_run(toy_only, tmp_path):
    folder = tmp_path / "toy" / "20240101T000000Z-default-s0x3"
    folder.mkdir(parents=True)
    atomic_write_json(folder / "config.json", {"slug": "toy", "profile": "default", "seeds": [0, 1, 2]})
    write_status(folder, "interrupted", finished_seeds=[0])
    build_site(tmp_path, tmp_path / "site")
    assert "interrupted" in (tmp_path / "site" / "toy" / "index.html").read_text()



