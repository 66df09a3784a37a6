"""The reproduction's own values and invariants (the contract itself is tests/test_contract.py): the spec's run
plan, refusals of bad configs, and the README snippet's printed accuracy."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
from pathlib import Path

import pytest

from livepapers.core.config import ConfigError, apply_overrides
from livepapers.core.runs import RunContext
from livepapers.neural_mechanics.experiment import MODEL_NAMES, PROFILES, run
from livepapers.neural_mechanics.models import MODELS

README = Path(__file__).resolve().parents[2] / "src" / "livepapers" / "neural_mechanics" / "README.md"


def test_default_profile_is_the_spec_run_plan() -> None:
    assert PROFILES["default"].n_seeds == 4 and PROFILES["smoke"].n_seeds == 1
    d = PROFILES["default"].config
    assert (d.steps, d.batch_size, d.sgd_lr, d.sgd_weight_decay) == (2000, 64, 0.1, 5e-3)
    assert (d.momentum_lr, d.momentum, d.dampening, d.momentum_weight_decays) == (0.02, 0.9, 0.0, (1e-3, 0.1))
    assert d.sgd_models == ("mlp_relu", "mlp_bn", "cnn_bn") and d.momentum_models == ("mlp_relu", "mlp_bn")
    assert (d.full_batch_steps, d.gf_lrs, d.gf_time, d.gf_subset, d.bn_eps) == (1000, (0.1, 0.03, 0.01), 10.0,
                                                                                   500, 1e-30)
    assert d.half_lr_time == 50.0  # R1h: R1's first 500 steps vs 1000 steps at lr / 2


def test_model_names_are_the_models_plus_the_paper_one() -> None:
    assert set(MODEL_NAMES) == {*MODELS, "vgg16"}


def test_paper_profile_refuses_offline(tmp_path) -> None:
    cfg = PROFILES["paper"].config
    with pytest.raises(ValueError, match="Tiny ImageNet"):
        run(cfg, RunContext.for_test(tmp_path, cfg, profile="paper"))


def test_bad_model_names_are_refused_up_front() -> None:
    cfg = PROFILES["smoke"].config
    with pytest.raises(ValueError, match=r"sgd_models: 'resnet' is not a model; allowed: mlp_relu, mlp_bn"):
        dataclasses.replace(cfg, sgd_models=("resnet",))
    with pytest.raises(ValueError, match="plot_models"):
        dataclasses.replace(cfg, plot_models=("mlp_bn", "vit"))
    with pytest.raises(ConfigError, match="expected one of mlp_relu, mlp_bn, cnn_bn, vgg16"):
        apply_overrides(cfg, ["full_batch_model=resnet"])
    with pytest.raises(ConfigError, match="expected one of digits, tiny-imagenet"):
        apply_overrides(cfg, ["dataset=imagenet"])
    with pytest.raises(ValueError, match="momentum_models"):
        apply_overrides(cfg, ["momentum_models=mlp_bn,resnet"])


def test_paper_model_is_refused_offline(tmp_path) -> None:
    cfg = dataclasses.replace(PROFILES["smoke"].config, sgd_models=("vgg16",))
    with pytest.raises(ValueError, match="model must be one of"):
        run(cfg, RunContext.for_test(tmp_path, cfg))


@pytest.mark.parametrize("t", [0.0, 0.04, 10.5])
def test_bad_half_lr_time(tmp_path, t) -> None:
    cfg = dataclasses.replace(PROFILES["smoke"].config, half_lr_time=t)  # smoke R1: 100 steps at lr 0.1 (t = 10)
    with pytest.raises(ValueError, match="half_lr_time must be in"):
        run(cfg, RunContext.for_test(tmp_path, cfg))


@pytest.mark.timeout(60)
def test_readme_snippet_prints_a_round_off_error() -> None:
    """The usage snippet (run by the contract) prints the modified-flow error it promises (~1e-9, below 1e-6)."""
    block = re.search(r"## Usage\n\n```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert block is not None
    out, scope = io.StringIO(), {}
    with contextlib.redirect_stdout(out):
        exec(compile(block.group(1), str(README), "exec"), scope)
    assert scope["emp"].shape == (101, 256) and scope["pred"].shape == (101, 256)
    assert float(out.getvalue()) < 1e-6
