"""timm-format state-dict loading, FLOP counts (analytic vs traced), and the cluttered-digits data."""

from __future__ import annotations

import pytest
import torch

from livepapers.dynamicvit import (
    VisionTransformerDiffPruning,
    VisionTransformerTeacher,
    count_flops,
    count_flops_traced,
    load_timm_deit_state_dict,
)
from livepapers.dynamicvit.data import ClutteredDigits, object_patches

# ---------------------------------------------------------------------------------------------
# checkpoint
# ---------------------------------------------------------------------------------------------

TEACHER_KW = dict(img_size=32, patch_size=8, in_chans=3, num_classes=5, embed_dim=32, depth=4, num_heads=2)


def _timm_like_state_dict() -> dict[str, torch.Tensor]:
    """A timm DeiT state dict written out key by key (names as in timm's VisionTransformer)."""
    g = torch.Generator().manual_seed(0)
    c, n = 32, 16

    def r(*shape):
        return torch.randn(*shape, generator=g) * 0.1

    sd = {"cls_token": r(1, 1, c), "pos_embed": r(1, n + 1, c),
          "patch_embed.proj.weight": r(c, 3, 8, 8), "patch_embed.proj.bias": r(c)}
    for i in range(4):
        p = f"blocks.{i}."
        sd |= {p + "norm1.weight": 1 + r(c), p + "norm1.bias": r(c),
               p + "attn.qkv.weight": r(3 * c, c), p + "attn.qkv.bias": r(3 * c),
               p + "attn.proj.weight": r(c, c), p + "attn.proj.bias": r(c),
               p + "norm2.weight": 1 + r(c), p + "norm2.bias": r(c),
               p + "mlp.fc1.weight": r(4 * c, c), p + "mlp.fc1.bias": r(4 * c),
               p + "mlp.fc2.weight": r(c, 4 * c), p + "mlp.fc2.bias": r(c)}
    sd |= {"norm.weight": 1 + r(c), "norm.bias": r(c), "head.weight": r(5, c), "head.bias": r(5)}
    return sd


def test_load_timm_state_dict_from_file(tmp_path):
    sd = _timm_like_state_dict()
    path = tmp_path / "deit_tiny.pth"
    torch.save({"model": sd}, path)
    model = VisionTransformerDiffPruning(**TEACHER_KW, pruning_loc=(1, 2, 3), token_ratio=(1.0, 1.0, 1.0))
    left = load_timm_deit_state_dict(model, path)
    assert left and all(k.startswith("score_predictor.") for k in left)
    own = model.state_dict()
    for k, v in sd.items():
        assert torch.equal(own[k], v), k
    teacher = VisionTransformerTeacher(**TEACHER_KW)
    assert load_timm_deit_state_dict(teacher, sd) == []
    x = torch.randn(2, 3, 32, 32)
    # rho = 1 keeps every token: the pruned model equals the dense teacher with the same weights
    torch.testing.assert_close(model.eval()(x), teacher.eval()(x)[0], atol=1e-5, rtol=0)


def test_load_rejects_missing_misshaped_unknown_keys(tmp_path):
    model = VisionTransformerTeacher(**TEACHER_KW)
    sd = _timm_like_state_dict()
    missing = {k: v for k, v in sd.items() if k != "blocks.2.attn.qkv.weight"}
    with pytest.raises(ValueError, match=r"missing 1 DeiT key\(s\): blocks\.2\.attn\.qkv\.weight"):
        load_timm_deit_state_dict(model, missing)
    bad = dict(sd, pos_embed=torch.zeros(1, 50, 32))
    with pytest.raises(ValueError, match=r"'pos_embed' has shape \(1, 50, 32\), the model expects \(1, 17, 32\)"):
        load_timm_deit_state_dict(model, bad)
    with pytest.raises(ValueError, match=r"unknown key.*dist_token"):
        load_timm_deit_state_dict(model, dict(sd, dist_token=torch.zeros(1, 1, 32)))
    with pytest.raises(FileNotFoundError, match="checkpoint file not found"):
        load_timm_deit_state_dict(model, tmp_path / "nope.pth")
    head = dict(sd, **{"head.weight": torch.zeros(1000, 32), "head.bias": torch.zeros(1000)})
    with pytest.raises(ValueError, match=r"head\.weight"):
        load_timm_deit_state_dict(model, head)
    assert load_timm_deit_state_dict(model, head, ignore_head=True) == ["head.weight", "head.bias"]


def test_load_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": _timm_like_state_dict(), "extra": object()}, path)
    with pytest.raises(Exception, match=r"(?i)weights_only|unsupported|global"):
        load_timm_deit_state_dict(VisionTransformerTeacher(**TEACHER_KW), path)


# ---------------------------------------------------------------------------------------------
# FLOPs
# ---------------------------------------------------------------------------------------------

DEIT_S = dict(embed_dim=384, depth=12, num_heads=6)


@pytest.mark.parametrize(
    ("cfg", "rho", "giga"),
    [(DEIT_S, None, 4.599), (DEIT_S, 0.7, 2.981), (DEIT_S, 0.8, 3.463), (DEIT_S, 0.9, 4.041),
     (DEIT_S, 0.5, 2.229), (dict(embed_dim=768), None, 17.56), (dict(embed_dim=768), 0.7, 11.48),
     (dict(embed_dim=256), None, 2.14), (dict(embed_dim=256), 0.7, 1.37)],
)
def test_count_flops_reference_values(cfg, rho, giga):
    assert count_flops(cfg, rho) / 1e9 == pytest.approx(giga, abs=6e-3)


def test_count_flops_with_layernorm_matches_fvcore_convention():
    assert count_flops(DEIT_S, None, include_layernorm=True) / 1e9 == pytest.approx(4.608, abs=1e-3)
    assert count_flops(DEIT_S, 0.7, include_layernorm=True) / 1e9 == pytest.approx(2.988, abs=1e-3)


def test_count_flops_hand_formula_tiny():
    # C = 8, N = 4 (img 4, patch 2, 1 channel), depth 2, one stage before block 1 keeping int(4 * 0.5) = 2
    cfg = dict(img_size=4, patch_size=2, in_chans=1, num_classes=3, embed_dim=8, depth=2, pruning_loc=(1,))
    embed = 4 * (1 * 4) * 8
    block5 = 12 * 5 * 64 + 2 * 25 * 8
    block3 = 12 * 3 * 64 + 2 * 9 * 8
    predictor = 4 * (64 + 8 * 4 + 4 * 2 + 2 * 2)
    assert count_flops(cfg, 0.5) == embed + block5 + predictor + block3 + 8 * 3


@pytest.mark.parametrize("rho", [None, 0.7, 0.5])
def test_traced_flops_equal_analytic(rho):
    kw = dict(img_size=64, patch_size=8, in_chans=3, num_classes=10, embed_dim=64, depth=6, num_heads=4)
    if rho is None:
        model = VisionTransformerTeacher(**kw)
    else:
        model = VisionTransformerDiffPruning(**kw, pruning_loc=(1, 3, 5), token_ratio=(rho, rho**2, rho**3))
    assert count_flops_traced(model) == pytest.approx(count_flops(model, rho), rel=1e-9)


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


def test_split_is_disjoint_and_deterministic():
    tr, te = ClutteredDigits(split="train"), ClutteredDigits(split="test")
    assert len(tr) + len(te) == 1797 and len(te) == 359
    assert not set(tr.source_index.tolist()) & set(te.source_index.tolist())
    a = te.sample(8, torch.Generator().manual_seed(3))
    b = te.sample(8, torch.Generator().manual_seed(3))
    c = te.sample(8, torch.Generator().manual_seed(4))
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


def test_canvas_normalised_and_object_patches():
    batch = ClutteredDigits(split="train").sample(400, torch.Generator().manual_seed(0))
    assert batch.images.shape == (400, 1, 64, 64)
    torch.testing.assert_close(batch.images.mean(dim=(1, 2, 3)), torch.zeros(400), atol=1e-5, rtol=0)
    obj = object_patches(batch.ink)
    assert obj.shape == (400, 64)
    per_image = obj.sum(1).float()
    assert 3.8 < per_image.mean().item() < 4.6  # spec: mean 4.2 per image, 5-95 % range 3-6
    assert per_image.min() >= 1
    # the ink lies inside one 16x16 window
    rows = batch.ink.any(2).float().argmax(1)
    assert int((batch.ink.any(2).sum(1) <= 16).all()) and int(rows.max()) <= 48


def test_object_patches_known_answer():
    ink = torch.zeros(1, 16, 16, dtype=torch.bool)
    ink[0, 0:8, 0:8] = True  # patch 0 full
    ink[0, 8:10, 8:12] = True  # patch 3: 8 pixels (counts)
    ink[0, 0:1, 8:15] = True  # patch 1: 7 pixels (does not count)
    assert object_patches(ink).tolist() == [[True, False, False, True]]


def test_shapes_known_answers():
    from livepapers.dynamicvit.data import SHAPES, ClutteredShapes, draw_shape

    filled = draw_shape(SHAPES.index("filled square"), 12)
    empty = draw_shape(SHAPES.index("empty square"), 12)
    assert bool(filled[6, 6]) and not bool(empty[6, 6]) and bool(empty[1, 6])
    assert bool(draw_shape(SHAPES.index("filled circle"), 16)[8, 8])
    assert not bool(draw_shape(SHAPES.index("ring"), 16)[8, 8])
    templates = torch.stack([draw_shape(k, 14) for k in range(10)])
    assert len({tuple(t.flatten().tolist()) for t in templates}) == 10  # ten distinct classes
    with pytest.raises(ValueError, match="kind must be in"):
        draw_shape(10, 12)
    batch = ClutteredShapes(split="train").sample(300, torch.Generator().manual_seed(0))
    assert set(batch.labels.tolist()) == set(range(10))
    assert object_patches(batch.ink).sum(1).float().mean() > 2
