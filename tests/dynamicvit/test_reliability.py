"""Reliability (issue 12): checkpoint errors in words, one clear ValueError for bad images, int-or-Generator seeds,
and config choices / the paper profile refused before a run folder is made."""

from __future__ import annotations

import pickle
import typing

import pytest
import torch

from livepapers.core.config import ConfigError, apply_overrides
from livepapers.dynamicvit import (
    VisionTransformerDiffPruning,
    VisionTransformerTeacher,
    gumbel_softmax_hard,
    load_timm_deit_state_dict,
)
from livepapers.dynamicvit.data import ClutteredDigits, ClutteredShapes
from livepapers.dynamicvit.experiment import PROFILES, Config

# the tiny DynamicViT of conftest.py: 32x32 images, patch 8 -> N = 16 patches
TINY = dict(img_size=32, patch_size=8, in_chans=3, num_classes=5, embed_dim=32, depth=5, num_heads=2,
            pruning_loc=(1, 2, 4), token_ratio=(0.75, 0.5, 0.25))
TEACHER_KW = dict(img_size=32, patch_size=8, in_chans=3, num_classes=5, embed_dim=32, depth=2, num_heads=2)


def _teacher(**kw) -> VisionTransformerTeacher:
    torch.manual_seed(0)
    return VisionTransformerTeacher(**{**TEACHER_KW, **kw})


def _one_line_error(model, path) -> str:
    with pytest.raises(ValueError) as info:
        load_timm_deit_state_dict(model, path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg, msg
    assert "weights_only=False" not in msg and "weights_only` set to `False" not in msg, msg
    assert info.value.__cause__ is None, "no chained torch advice"
    assert info.value.__context__ is None or info.value.__suppress_context__, "no chained torch advice"
    return msg


# ------------------------------------------------------------------------------------------------
# item 12: checkpoint loading, errors in words
# ------------------------------------------------------------------------------------------------


def test_checkpoint_file_errors_in_words(tmp_path):
    model = _teacher()
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    assert "is empty (0 bytes)" in _one_line_error(model, empty)

    text = tmp_path / "notes.pth"
    text.write_text("model: deit_small\nepochs: 300\n")
    assert "is a text file, not a torch checkpoint" in _one_line_error(model, text)

    plain = tmp_path / "plain.pkl"
    with open(plain, "wb") as f:
        pickle.dump({"model": model.state_dict(), "note": ValueError("x")}, f)
    msg = _one_line_error(model, plain)
    assert "is a plain Python pickle, not a weights-only checkpoint" in msg
    assert "torch.save(model.state_dict()" in msg

    objects = tmp_path / "objects.pth"
    torch.save({"model": model.state_dict(), "args": ValueError("x")}, objects)
    msg = _one_line_error(model, objects)
    assert "is not a weights-only checkpoint: it holds pickled Python objects besides tensors" in msg
    assert "ValueError" in msg  # the offending global, named

    good = tmp_path / "good.pth"
    torch.save(model.state_dict(), good)
    damaged = tmp_path / "damaged.pth"
    damaged.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert "is damaged (a truncated or corrupted torch.save archive)" in _one_line_error(model, damaged)

    binary = tmp_path / "random.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    assert "is not a torch checkpoint (unrecognised format)" in _one_line_error(model, binary)

    with pytest.raises(ValueError, match=r"is a folder, not a checkpoint file"):
        load_timm_deit_state_dict(model, tmp_path)


def test_state_dict_with_non_string_keys(tmp_path):
    model = _teacher()
    with pytest.raises(ValueError, match=r"^state dict keys must be parameter names \(str\); got int key 0$"):
        load_timm_deit_state_dict(model, {0: torch.zeros(1)})
    path = tmp_path / "int_keys.pth"
    torch.save({"model": {0: torch.zeros(1), "x": torch.zeros(1)}}, path)
    with pytest.raises(ValueError, match=r"keys must be parameter names \(str\); got int key 0"):
        load_timm_deit_state_dict(model, path)


def test_checkpoint_of_another_model_says_which_shape_it_has(tmp_path):
    small = _teacher()
    path = tmp_path / "deit_other.pth"
    torch.save({"model": _teacher(embed_dim=64, depth=3, num_classes=7).state_dict()}, path)
    with pytest.raises(ValueError) as info:
        load_timm_deit_state_dict(small, path)
    msg = str(info.value)
    assert "\n" not in msg
    assert "checkpoint: depth 3, embed_dim 64, 16 patches, 7 classes; model: depth 2, embed_dim 32, 16 patches, " \
           "5 classes" in msg, msg
    # a checkpoint saved from a pruned model loads into a teacher's shape only through its backbone keys
    pruned = VisionTransformerDiffPruning(**TINY)
    with pytest.raises(ValueError, match=r"unknown key"):
        load_timm_deit_state_dict(VisionTransformerTeacher(**{k: v for k, v in TINY.items()
                                                             if k not in ("pruning_loc", "token_ratio")}),
                                  pruned.state_dict())


def test_weights_only_checkpoints_still_load(tmp_path):
    model, other = _teacher(), _teacher()
    torch.nn.init.zeros_(other.head.weight)
    path = tmp_path / "deit.pth"
    torch.save({"model": model.state_dict(), "epoch": 3, "note": "plain types are fine"}, path)
    assert load_timm_deit_state_dict(other, path) == []
    assert torch.equal(other.head.weight, model.head.weight)


# ------------------------------------------------------------------------------------------------
# item 13: images
# ------------------------------------------------------------------------------------------------


def _model(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "teacher":
        return VisionTransformerTeacher(**{k: v for k, v in TINY.items() if k not in ("pruning_loc", "token_ratio")})
    return VisionTransformerDiffPruning(**TINY).train(kind == "pruned-train")


@pytest.mark.parametrize("kind", ["pruned-train", "pruned-eval", "teacher"])
def test_bad_images_get_one_clear_error(kind):
    model = _model(kind)
    cases = {
        torch.zeros(2, 3, 32, 32, dtype=torch.uint8):
            r"^x: expected a floating tensor of the model's dtype \(float32\), normalised; got uint8",
        torch.zeros(2, 3, 32, 32, dtype=torch.float64):
            r"^x: expected a floating tensor of the model's dtype \(float32\), normalised; got float64",
        torch.zeros(2, 1, 32, 32): r"^x: expected 3 channels \(in_chans\), got 1 \(shape \(2, 1, 32, 32\)\)",
        torch.zeros(2, 3, 28, 28): r"^x: expected 32×32 images \(img_size\), got 28×28",
        torch.zeros(0, 3, 32, 32): r"^x: empty batch \(0 images\)",
        torch.zeros(3, 32, 32): r"^x: expected a batch of images \(b, 3, 32, 32\), got shape \(3, 32, 32\)",
    }
    for x, pattern in cases.items():
        with pytest.raises(ValueError, match=pattern):
            model(x)


def test_matching_dtypes_and_autocast_still_run():
    pruned, teacher = _model("pruned-eval"), _model("teacher")
    x = torch.randn(2, 3, 32, 32)
    assert pruned(x).shape == (2, 5)
    assert pruned.double()(x.double()).dtype == torch.float64
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert teacher(x.bfloat16())[0].shape == (2, 5)


# ------------------------------------------------------------------------------------------------
# seeds: an int or a torch.Generator
# ------------------------------------------------------------------------------------------------


def test_seeds_are_ints_or_generators():
    logits = torch.randn(4, 6, 2)
    assert torch.equal(gumbel_softmax_hard(logits, generator=3),
                       gumbel_softmax_hard(logits, generator=torch.Generator().manual_seed(3)))
    with pytest.raises(ValueError, match=r"^tau must be a finite number > 0"):
        gumbel_softmax_hard(logits, tau=0.0)
    pruned = _model("pruned-train")
    x = torch.randn(2, 3, 32, 32)
    a = pruned(x, generator=5)
    b = pruned(x, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(p, q) for p, q in zip(a[3], b[3]))
    digits = ClutteredDigits(split="test")
    assert torch.equal(digits.sample(3, 7).images, digits.sample(3, torch.Generator().manual_seed(7)).images)
    with pytest.raises(ValueError, match=r"^generator must be an int seed or a torch\.Generator, got str"):
        ClutteredShapes(split="test").sample(3, "7")


# ------------------------------------------------------------------------------------------------
# item 8: config choices and the paper profile, refused before a run folder exists
# ------------------------------------------------------------------------------------------------


def test_task_is_a_literal_and_ratios_are_checked():
    assert typing.get_args(typing.get_type_hints(Config)["task"]) == ("shapes", "digits")
    cfg = PROFILES["smoke"].config
    with pytest.raises(ConfigError, match=r"task=l7: expected one of shapes, digits"):
        apply_overrides(cfg, ["task=l7"])
    with pytest.raises(ConfigError, match=r"^rho must be in \(0, 1\], got 1\.5"):
        apply_overrides(cfg, ["rho=1.5"])
    with pytest.raises(ConfigError, match=r"^acc_rhos must be keep ratios in \(0, 1\], got \(0\.5, 0\.0\)"):
        apply_overrides(cfg, ["acc_rhos=0.5,0"])


def test_paper_profile_is_refused_up_front(tmp_path, capsys):
    from livepapers.cli import main
    from livepapers.core.runs import RunContext
    from livepapers.dynamicvit.experiment import run

    assert "ImageNet" in PROFILES["paper"].needs and "GPU" in PROFILES["paper"].needs
    code = main(["reproduce", "dynamicvit", "--profile", "paper", "--out", str(tmp_path / "runs"), "--no-site"])
    assert code == 2 and "cannot run here" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    code = main(["reproduce", "dynamicvit", "--profile", "smoke", "--set", "task=l7", "--out", str(tmp_path / "runs"),
                 "--no-site"])
    assert code == 2 and not (tmp_path / "runs").exists()
    with pytest.raises(ValueError, match="'paper' profile needs ImageNet"):  # run() keeps its own refusal
        run(PROFILES["paper"].config, RunContext.for_test(tmp_path / "direct", PROFILES["paper"].config,
                                                          profile="paper"))
