"""Reliability (issue 12): a corrupt kernel cache is rebuilt, bad arguments get one clear ValueError naming them,
seeds are an int or a torch.Generator everywhere, and config choices are refused before a run starts."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from livepapers.core.config import ConfigError, apply_overrides
from livepapers.diff_algorithms import compiled, data
from livepapers.diff_algorithms.compiled import CompiledLogicNet
from livepapers.diff_algorithms.experiment import PROFILES, RenderConfig, train_logic, train_sorter
from livepapers.diff_algorithms.logic import (
    GroupSum,
    LogicLayer,
    make_logic_net,
    random_connections,
    unique_connections,
)
from livepapers.diff_algorithms.rendering import GenDR, softras_equivalence_error
from livepapers.diff_algorithms.sorting import (
    DiffSortNet,
    monotonicity_checks,
    odd_even_network,
    sort,
    swap_error,
    swap_error_checks,
)

# ------------------------------------------------------------------------------------------------
# item 9: a corrupt cached C kernel is verified, rebuilt, or replaced by the numpy path
# ------------------------------------------------------------------------------------------------


def _net() -> nn.Sequential:
    return nn.Sequential(LogicLayer(40, 200, seed=0), LogicLayer(200, 100, seed=1), GroupSum(5, tau=3.0)).eval()


def _inputs() -> np.ndarray:
    return np.random.default_rng(0).random((130, 40)) > 0.5


def _reference(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.round(model(torch.from_numpy(x.astype(np.float32))) * 3.0).to(torch.int32).numpy()


def _kernel_file(cache: Path) -> Path:
    (so,) = (cache / "difflogic_kernels").glob("logic_*.so")
    return so


def _corrupt(path: Path, how: str) -> None:
    """Replace the file (a new inode, as a copy or another process would; in-place writes are tested below)."""
    body = path.read_bytes()
    new = {"junk": b"this is not a shared library\n" * 10, "truncated": body[: len(body) // 3], "empty": b""}[how]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(new)
    os.replace(tmp, path)


@pytest.mark.parametrize("how", ["junk", "truncated", "empty"])
def test_corrupt_cached_kernel_is_rebuilt(tmp_path, monkeypatch, how):
    monkeypatch.setenv("LIVEPAPERS_CACHE", str(tmp_path))
    model, x = _net(), _inputs()
    ref = _reference(model, x)
    first = CompiledLogicNet(model).compile(opt_level=1)
    np.testing.assert_array_equal(first(x), ref)
    so = _kernel_file(tmp_path)
    good = so.read_bytes()
    _corrupt(so, how)
    net = CompiledLogicNet(model).compile(opt_level=1)
    assert net.backend == "c"
    np.testing.assert_array_equal(net(x), ref)
    # the cache entry itself was rebuilt: a loadable library again, the same bytes as the first build
    assert so.read_bytes()[:4] == b"\x7fELF" and so.stat().st_size == len(good)


def test_corrupt_cache_and_failed_rebuild_fall_back_to_numpy(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEPAPERS_CACHE", str(tmp_path))
    model, x = _net(), _inputs()
    CompiledLogicNet(model).compile(opt_level=1)
    _corrupt(_kernel_file(tmp_path), "junk")

    def failing_compiler(*args, **kwargs):
        return subprocess.CompletedProcess(args, 1, "", "cc1: fatal error: no space left on device")

    monkeypatch.setattr(compiled.subprocess, "run", failing_compiler)
    net = CompiledLogicNet(model)
    with pytest.warns(UserWarning, match="numpy backend") as record:
        net.compile(opt_level=1)
    assert len(record) == 1 and "\n" not in str(record[0].message)
    assert net.backend == "numpy"
    np.testing.assert_array_equal(net(x), _reference(model, x))


def test_cache_entry_without_a_build_record_is_rebuilt(tmp_path, monkeypatch):
    # an entry whose content hash was never recorded (an older cache, a partial copy) is not trusted
    monkeypatch.setenv("LIVEPAPERS_CACHE", str(tmp_path))
    model, x = _net(), _inputs()
    CompiledLogicNet(model).compile(opt_level=1)
    so = _kernel_file(tmp_path)
    records = [p for p in so.parent.iterdir() if p != so]
    assert records, "the build must record the library's content hash next to it"
    for p in records:
        p.unlink()
    _corrupt(so, "junk")
    net = CompiledLogicNet(model).compile(opt_level=1)
    assert net.backend == "c"
    np.testing.assert_array_equal(net(x), _reference(model, x))


_IN_PLACE = textwrap.dedent("""
    import numpy as np, torch
    from pathlib import Path
    from torch import nn
    from livepapers.diff_algorithms.compiled import CompiledLogicNet
    from livepapers.diff_algorithms.logic import GroupSum, LogicLayer
    model = nn.Sequential(LogicLayer(40, 200, seed=0), GroupSum(5, tau=3.0)).eval()
    x = np.random.default_rng(0).random((70, 40)) > 0.5
    ref = CompiledLogicNet(model, backend="numpy")(x)
    assert (CompiledLogicNet(model).compile()(x) == ref).all()
    (so,) = Path({cache!r}, "difflogic_kernels").glob("logic_*.so")
    so.write_bytes(b"junk")  # in place: the library this process has mapped changes under it
    for _ in range(2):
        net = CompiledLogicNet(model).compile()
        assert net.backend == "c" and (net(x) == ref).all()
    print("ok")
""")


@pytest.mark.timeout(120)
def test_kernel_corrupted_in_place_while_loaded_is_rebuilt(tmp_path):
    # a fresh interpreter: with the old code the second compile() reused the mapped, now truncated library
    # and died of SIGBUS, which must not take the test session down with it
    env = dict(os.environ, LIVEPAPERS_CACHE=str(tmp_path), OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", _IN_PLACE.format(cache=str(tmp_path))], capture_output=True,
                         text=True, env=env, timeout=110)
    assert res.returncode == 0 and res.stdout.strip() == "ok", (res.returncode, res.stderr[-2000:])


# ------------------------------------------------------------------------------------------------
# item 13: one clear ValueError naming the argument
# ------------------------------------------------------------------------------------------------

BAD_POSITIVE = [0.0, -1.0, math.nan, math.inf]


@pytest.mark.parametrize("tau", BAD_POSITIVE)
def test_temperatures_must_be_finite_and_positive(tau):
    with pytest.raises(ValueError, match=r"^tau must be a finite number > 0"):
        GroupSum(3, tau=tau)
    with pytest.raises(ValueError, match=r"^tau must be a finite number > 0"):
        make_logic_net(8, 8, 1, 2, tau, "random", 0)
    with pytest.raises(ValueError, match=r"^dist_scale must be a finite number > 0"):
        GenDR(image_size=8, dist_scale=tau)


@pytest.mark.parametrize("steepness", BAD_POSITIVE)
def test_steepness_must_be_finite_and_positive(steepness):
    net = odd_even_network(4)
    x = torch.randn(2, 4)
    for call in (lambda: sort(net, x, steepness),
                 lambda: DiffSortNet("odd_even", 4, steepness=steepness),
                 lambda: swap_error(x, steepness=steepness, distribution="cauchy"),
                 lambda: swap_error_checks(steepness=steepness),
                 lambda: monotonicity_checks(sizes=(4,), n_inputs=2, scales=(1.0,), steepness=steepness,
                                             generator=0)):
        with pytest.raises(ValueError, match=r"^steepness must be a finite number > 0"):
            call()


def test_other_relaxation_parameters():
    with pytest.raises(ValueError, match=r"^art_lambda must be a finite number"):
        DiffSortNet("odd_even", 4, art_lambda=math.nan)
    with pytest.raises(ValueError, match=r"^grad_factor must be a finite number"):
        LogicLayer(4, 4, grad_factor=math.nan)
    with pytest.raises(ValueError, match=r"^dist_eps must be > 0"):
        GenDR(image_size=8, dist_eps=math.nan)
    with pytest.raises(ValueError, match=r"^min_coverage must be in \[0, 1\)"):
        GenDR(image_size=8, min_coverage=-0.5)
    GenDR(image_size=8, dist_eps=math.inf, min_coverage=0.0)  # the settings of the SoftRas equivalence check


def test_reversed_bounds_are_refused():
    with pytest.raises(ValueError, match=r"^min_vertices \(12\) must be <= max_vertices \(8\)"):
        data.star_polygons(2, torch.Generator().manual_seed(0), min_vertices=12, max_vertices=8)
    with pytest.raises(ValueError, match=r"^min_vertices must be >= 3"):
        data.star_polygons(2, 0, min_vertices=2, max_vertices=8)
    with pytest.raises(ValueError, match=r"^noise must be in \[0, 1\]"):
        data.monk(1, 0, noise=math.nan)


@pytest.mark.parametrize("lr", [math.nan, 0.0, -1e-3, math.inf])
def test_learning_rates_must_be_finite_and_positive(tmp_path, lr):
    from livepapers.core.runs import RunContext

    ctx = RunContext.for_test(tmp_path, PROFILES["smoke"].config, seed=0)
    model = make_logic_net(8, 8, 1, 2, 1.0, "random", 0)
    x, y = torch.rand(4, 8), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0"):
        train_logic(model, x, y, steps=1, batch=2, lr=lr, generator=torch.Generator(), ctx=ctx, desc="t")
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0"):
        train_sorter(data.digit_pools(0), n=3, steps=1, batch=2, distribution="cauchy", steepness=1.0, lr=lr,
                     init_seed=0, stream=torch.Generator(), ctx=ctx, desc="t")


# ------------------------------------------------------------------------------------------------
# seeds: an int or a torch.Generator, the same way everywhere
# ------------------------------------------------------------------------------------------------


def test_seeds_are_ints_or_generators():
    for fn in (unique_connections, random_connections):
        a1, b1 = fn(8, 10, 3)
        a2, b2 = fn(8, 10, torch.Generator().manual_seed(3))
        assert torch.equal(a1, a2) and torch.equal(b1, b2)
    l1, l2 = LogicLayer(8, 10, seed=5), LogicLayer(8, 10, seed=torch.Generator().manual_seed(5))
    assert torch.equal(l1.a_idx, l2.a_idx) and torch.equal(l1.weights, l2.weights)
    n1, n2 = make_logic_net(8, 8, 2, 2, 1.0, "random", torch.Generator().manual_seed(1)), \
        make_logic_net(8, 8, 2, 2, 1.0, "random", torch.Generator().manual_seed(1))
    assert all(torch.equal(p, q) for p, q in zip(n1.state_dict().values(), n2.state_dict().values()))
    p1, p2 = data.star_polygons(3, 7), data.star_polygons(3, torch.Generator().manual_seed(7))
    assert all(torch.equal(a, b) for a, b in zip(p1, p2))
    m1, m2 = data.monk(2, 4), data.monk(2, torch.Generator().manual_seed(4))
    assert all(torch.equal(a, b) for a, b in zip(m1, m2))
    s1 = data.pose_scene(2, (0.2,), max_rotation_deg=10.0, generator=9)
    s2 = data.pose_scene(2, (0.2,), max_rotation_deg=10.0, generator=torch.Generator().manual_seed(9))
    assert torch.equal(s1[2], s2[2])
    assert softras_equivalence_error(0) == softras_equivalence_error(torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"^generator must be an int seed or a torch\.Generator, got str"):
        data.star_polygons(2, "0")
    x, y = torch.rand(8, 8), torch.tensor([0, 1] * 4)
    nets = [make_logic_net(8, 8, 1, 2, 1.0, "random", 0) for _ in range(2)]
    for net, gen in zip(nets, (11, torch.Generator().manual_seed(11))):
        train_logic(net, x, y, steps=3, batch=4, lr=0.1, generator=gen, ctx=None, desc="t")
    assert all(torch.equal(p, q) for p, q in zip(nets[0].parameters(), nets[1].parameters()))
    with pytest.raises(ValueError, match=r"^seed must be an int seed or a torch\.Generator, got float"):
        LogicLayer(4, 4, seed=1.5)


# ------------------------------------------------------------------------------------------------
# item 8: choices are checked when the config is built, so `--set` is refused before a folder exists
# ------------------------------------------------------------------------------------------------


def test_render_choices_are_validated_in_the_config():
    cfg = PROFILES["smoke"].config
    with pytest.raises(ConfigError, match=r"^render\.distributions: 'gausian' is not a distribution; allowed: "):
        apply_overrides(cfg, ["render.distributions=uniform,gausian"])
    with pytest.raises(ConfigError, match=r"^render\.t_conorms: 'l7' is not a T-conorm; allowed: max, "):
        apply_overrides(cfg, ["render.t_conorms=l7"])
    with pytest.raises(ValueError, match=r"^render\.distributions: 'x' is not a distribution"):
        RenderConfig(distributions=("x",))
    with pytest.raises(ConfigError, match=r"^sort\.lr must be a finite number > 0, got nan"):
        apply_overrides(cfg, ["sort.lr=nan"])
    with pytest.raises(ConfigError, match=r"^logic\.digits_taus must be finite numbers > 0, got \(0\.0,\)"):
        apply_overrides(cfg, ["logic.digits_taus=0"])
    assert apply_overrides(cfg, ["render.t_conorms=max,einstein"]).render.t_conorms == ("max", "einstein")


def test_refused_override_makes_no_run_folder(tmp_path, capsys):
    from livepapers.cli import main

    code = main(["reproduce", "diff-algorithms", "--profile", "smoke", "--set", "render.t_conorms=l7",
                 "--out", str(tmp_path / "runs"), "--no-site"])
    assert code == 2
    assert "render.t_conorms: 'l7' is not a T-conorm" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("config.json"))
