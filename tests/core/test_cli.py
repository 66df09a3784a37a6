"""Every CLI error gives one line on stderr and exit code 2; a toy paper runs end to end."""

import os

import pytest

from livepapers.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err):
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_unknown_slug_lists_known(capsys, toy_paper):
    code, _, err = run_cli(capsys, "reproduce", "nosuchpaper", "--out", "/tmp/x")
    line = one_line_error(code, err)
    assert "nosuchpaper" in line and "toy" in line and "neural-mechanics" in line
    code, _, err = run_cli(capsys, "show", "nosuchpaper")
    assert "known:" in one_line_error(code, err)


def test_unknown_profile(capsys, toy_paper, tmp_path):
    code, _, err = run_cli(capsys, "reproduce", toy_paper, "--profile", "huge", "--out", str(tmp_path))
    line = one_line_error(code, err)
    assert "huge" in line and "smoke, default, paper" in line


def test_unknown_set_key_and_bad_value(capsys, toy_paper, tmp_path):
    code, _, err = run_cli(capsys, "reproduce", toy_paper, "--set", "lr=0.1", "--out", str(tmp_path))
    line = one_line_error(code, err)
    assert "'lr'" in line and "value" in line  # names the key and lists the known ones
    code, _, err = run_cli(capsys, "reproduce", toy_paper, "--set", "inner.width=wide", "--out", str(tmp_path))
    line = one_line_error(code, err)
    assert "inner.width" in line and "expected int" in line
    assert not (tmp_path / "toy").exists()  # nothing started


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere; covered by the file case below")
def test_unwritable_out_dir_as_user(capsys, toy_paper, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    code, _, err = run_cli(capsys, "reproduce", toy_paper, "--out", str(ro / "runs"))
    assert "cannot write" in one_line_error(code, err)


def test_out_dir_that_cannot_be_created(capsys, toy_paper, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    code, _, err = run_cli(capsys, "reproduce", toy_paper, "--out", str(blocker / "runs"))
    assert "cannot write" in one_line_error(code, err)


def test_bad_seeds_and_slug_usage(capsys, toy_paper, tmp_path):
    code, _, err = run_cli(capsys, "reproduce", toy_paper, "--seeds", "0", "--out", str(tmp_path))
    assert "--seeds" in one_line_error(code, err)
    code, _, err = run_cli(capsys, "reproduce", "--out", str(tmp_path))
    assert "name a paper" in one_line_error(code, err)
    code, _, err = run_cli(capsys, "reproduce", toy_paper, "--all")
    assert "not both" in one_line_error(code, err)


def test_reproduce_show_list_report(capsys, toy_only, tmp_path):
    runs, site = tmp_path / "runs", tmp_path / "site"
    toy_paper = toy_only
    code, out, _ = run_cli(capsys, "reproduce", toy_paper, "--profile", "smoke", "--out", str(runs),
                           "--site", str(site), "--workers", "1", "--quiet")
    assert code == 0
    assert "run folder:" in out and "site:" in out and "C1" in out
    assert (site / "index.html").exists() and (site / "toy" / "index.html").exists()
    code, out, _ = run_cli(capsys, "show", toy_paper)
    assert code == 0 and "C3" in out and "not checkable: needs ImageNet" in out and "smoke" in out
    code, out, _ = run_cli(capsys, "report", "--runs", str(runs), "--out", str(site))
    assert code == 0 and "index.html" in out


def test_bench_unknown_slug(capsys):
    code, _, err = run_cli(capsys, "bench", "nosuchpaper")
    assert "unknown paper" in one_line_error(code, err)


def test_diverged_run_is_reported_with_its_step(capsys, toy_only, tmp_path):
    code, out, err = run_cli(capsys, "reproduce", toy_only, "--set", "diverge=true", "--seeds", "1",
                             "--out", str(tmp_path / "runs"), "--site", str(tmp_path / "site"), "--workers", "1")
    assert code == 0  # the run itself ended cleanly: its claims are inconclusive, not a crash
    assert "toy: diverged" in out and "inconclusive" in out
    assert "at step 2" in err


def test_list_shows_latest_counts(capsys, toy_only, tmp_path):
    code, out, _ = run_cli(capsys, "list", "--runs", str(tmp_path))
    assert code == 0 and "toy" in out and "no runs" in out
    main(["reproduce", toy_only, "--seeds", "1", "--out", str(tmp_path), "--no-site", "--workers", "1"])
    capsys.readouterr()
    code, out, _ = run_cli(capsys, "list", "--runs", str(tmp_path))
    assert "4 hold, 0 fail, 0 inconclusive, 1 n/c (default, custom)" in out  # --seeds 1: not as profiled


def test_reproduce_prints_the_seed_plan_and_preconditions(capsys, toy_only, tmp_path):
    # (the toy is registered in this process only, so its seeds stay here: --workers 1)
    code, out, err = run_cli(capsys, "reproduce", toy_only, "--out", str(tmp_path), "--no-site", "--workers", "1",
                             "--set", "sanity=0.1")
    assert code == 0
    assert "toy (default): 3 seeds in this process, 1 torch thread" in err
    assert "requires sanity ≥ 0.5: NOT MET (sanity = 0.1 ± 0 (n=3))" in out
    assert "C4   inconclusive" in out


def test_show_lists_profiles_seed_rules_and_preconditions(capsys, toy_only):
    code, out, _ = run_cli(capsys, "show", toy_only)
    assert code == 0
    assert "tiny     1 seed, not evidence" in out and "default  3 seeds" in out
    assert "requires: sanity ≥ 0.5" in out and "(every seed)" in out


@pytest.mark.parametrize(("argv", "needle"), [
    (["--nnodes", "2"], "go with --nproc"),
    (["--nproc", "0"], "--nproc must be >= 1"),
    (["--nproc", "2", "--nnodes", "2"], "needs --rdzv-endpoint"),
    (["--nproc", "2", "--rdzv-endpoint", "nohostport"], "HOST:PORT"),
    (["--workers", "0"], "--workers must be >= 1"),
])
def test_launch_flags_are_checked(capsys, toy_only, tmp_path, argv, needle):
    code, _, err = run_cli(capsys, "reproduce", toy_only, "--out", str(tmp_path), *argv)
    assert needle in one_line_error(code, err)


def test_launch_flags_are_stripped_for_the_ranks():
    from livepapers.cli import _strip_launch_flags

    argv = ["reproduce", "dynamicvit", "--nproc", "2", "--nnodes=1", "--rdzv-endpoint", "h:1", "--seeds", "1"]
    assert _strip_launch_flags(argv) == ["reproduce", "dynamicvit", "--seeds", "1"]
