import json
import os
import subprocess
import sys

import pytest
import torch

from livepapers.core.runs import (
    Diverged,
    RunContext,
    RunFolderExists,
    atomic_write_json,
    create_run_folder,
    env_info,
    read_status,
    run_folder_name,
    write_status,
)


def test_atomic_write_replaces_whole_file_and_keeps_old_on_error(tmp_path):
    p = tmp_path / "m.json"
    atomic_write_json(p, {"a": 1.0, "nan": float("nan")})
    assert json.loads(p.read_text()) == {"a": 1.0, "nan": "nan"}  # strict JSON, NaN kept as text

    class Boom:
        def __repr__(self):
            raise RuntimeError("cannot serialise")

    with pytest.raises(RuntimeError):
        atomic_write_json(p, {"a": Boom()})
    assert json.loads(p.read_text())["a"] == 1.0  # the old content survives a failed write
    assert [f.name for f in tmp_path.iterdir()] == ["m.json"]  # no temp files left behind


def test_run_folder_is_never_reused(tmp_path, monkeypatch):
    import livepapers.core.runs as runs

    monkeypatch.setattr(runs, "run_folder_name", lambda *a, **k: "20240101T000000Z-default-s0x3")
    f = create_run_folder(tmp_path, "toy", "default", 0, 3)
    assert f == tmp_path / "toy" / "20240101T000000Z-default-s0x3"
    # a second run in the same second gets its own folder; the first is never reused
    g = create_run_folder(tmp_path, "toy", "default", 0, 3)
    assert g == tmp_path / "toy" / "20240101T000000Z-default-s0x3-2"
    for _ in range(97):
        create_run_folder(tmp_path, "toy", "default", 0, 3)
    with pytest.raises(RunFolderExists, match="never overwritten"):
        create_run_folder(tmp_path, "toy", "default", 0, 3)


def test_run_folder_name_format():
    from datetime import UTC, datetime

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert run_folder_name("default", 7, 3, when) == "20260102T030405Z-default-s7x3"
    assert run_folder_name("smoke", 0, 1, when) == "20260102T030405Z-smoke-s0"


def test_context_generators_are_seeded_and_distinct(tmp_path):
    a = RunContext(tmp_path / "a", seed=1, config=None)
    b = RunContext(tmp_path / "b", seed=1, config=None)
    c = RunContext(tmp_path / "c", seed=2, config=None)
    x = torch.randn(5, generator=a.generator())
    assert torch.equal(x, torch.randn(5, generator=b.generator()))
    assert not torch.equal(x, torch.randn(5, generator=c.generator()))
    assert not torch.equal(x, torch.randn(5, generator=a.generator(offset=1)))


def test_context_outputs(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ctx = RunContext(tmp_path, seed=0, config=None)
    ctx.log("hello")
    fig, _ = plt.subplots()
    ctx.savefig(fig, "curve", caption="a curve")
    ctx.save_csv("rows", [{"a": 1}, {"a": 2, "b": 3}])
    assert "hello" in (tmp_path / "log.txt").read_text()
    assert (tmp_path / "curve.png").stat().st_size > 0
    assert json.loads((tmp_path / "figures.json").read_text()) == [{"file": "curve.png", "caption": "a curve"}]
    assert (tmp_path / "rows.csv").read_text().splitlines() == ["a,b", "1,", "2,3"]
    with pytest.raises(ValueError, match="plain file name"):
        ctx.save_json("../escape", {})


def test_check_finite_names_the_step(tmp_path):
    ctx = RunContext(tmp_path, seed=3, config=None)
    ctx.check_finite(torch.tensor(1.0), step=0)
    with pytest.raises(Diverged, match="step 17"):
        ctx.check_finite(torch.tensor(float("nan")), step=17)
    with pytest.raises(Diverged, match="inf"):
        ctx.check_finite(float("inf"), step=2, what="grad norm")


def test_killed_run_reads_incomplete(tmp_path):
    assert read_status(tmp_path) == "incomplete"  # no status at all
    write_status(tmp_path, "running")
    assert read_status(tmp_path) == "running"  # this process is alive
    # a run whose process died without writing its final status
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    st = json.loads((tmp_path / "status.json").read_text())
    st["pid"] = int(proc.stdout)
    (tmp_path / "status.json").write_text(json.dumps(st))
    assert read_status(tmp_path) == "incomplete"
    write_status(tmp_path, "complete")
    assert read_status(tmp_path) == "complete"


def test_env_info_has_what_a_reviewer_needs():
    info = env_info(seed=5)
    for key in ("python", "torch", "numpy", "cpu", "torch_threads", "git_revision", "git_dirty", "command"):
        assert key in info
    assert info["seed"] == 5 and info["torch"].startswith("2.13")
    assert os.environ.get("OMP_NUM_THREADS", "1") == "1" or info["torch_threads"] >= 1


def test_git_dirty_counts_untracked_code(tmp_path, monkeypatch):
    import livepapers.core.runs as runs

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for args in (["config", "user.email", "t@t"], ["config", "user.name", "t"]):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True)
    (tmp_path / "a.py").write_text("x = 1\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "a.py"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-qm", "a"], check=True)
    monkeypatch.setattr(runs, "source_root", lambda: tmp_path)
    assert runs.env_info()["git_dirty"] is False
    (tmp_path / "new_paper.py").write_text("y = 2\n")  # untracked code
    assert runs.env_info()["git_dirty"] is True


def test_peak_memory_reports_growth_result_and_never_hangs():
    import os

    import numpy as np

    from livepapers.core.bench import peak_memory, peak_memory_mb

    # 96 MiB: above glibc's largest mmap threshold (32 MiB), so fresh pages, never a reused free heap
    mib, out = peak_memory(lambda n: float(np.ones(n).sum()), setup=lambda: 96 * 2**20 // 8)
    assert out == 12 * 2**20 and 90 <= mib <= 150
    assert peak_memory_mb(lambda: None) < 8
    with pytest.raises(RuntimeError, match="failed: ZeroDivisionError"):
        peak_memory_mb(lambda: 1 / 0)
    with pytest.raises(RuntimeError, match="died"):
        peak_memory_mb(lambda: os._exit(3))
    with pytest.raises(RuntimeError, match="ran past"):
        peak_memory_mb(lambda: __import__("time").sleep(30), timeout=1.0)
