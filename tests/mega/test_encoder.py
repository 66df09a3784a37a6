"""Encoder, classifier, configs, parameter counts, baseline and data generators."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from livepapers.core.train import warmup_linear
from livepapers.mega import (
    MegaEncoder,
    MegaEncoderLayer,
    MegaForSequenceClassification,
    NormalizedFeedForwardNetwork,
    ScaleNorm,
    TransformerBlock,
    mega_lra_aan,
    mega_lra_cifar10,
    mega_lra_imdb,
    mega_lra_listop,
    mega_lra_pf32,
    mega_lra_pf128,
)
from livepapers.mega.data import LISTOPS_VOCAB, listops, listops_value, sdigits, sdigits_images, translate
from livepapers.mega.experiment import PROFILES, build_model
from livepapers.mega.modules import DEPRECATED_NAMES, MegaConfig


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def mega_formula(*, layers, d, z, v, h, f, max_pos, vocab, classes, dcls, norm_params_per_norm, final_norm) -> int:
    """Parameter count from the spec: per layer EMA 4·(2d·h) + d, V d·v + v, mx d·(z+v+2d) + (z+v+2d),
    h v·d + d, q/k scale+offset 4z, relative bias 2·max_pos − 1, FFN d·f + f + f·d + d, two norms."""
    ema = 4 * (2 * d * h) + d
    layer = (ema + (d * v + v) + (d * (z + v + 2 * d) + z + v + 2 * d) + (v * d + d) + 4 * z + (2 * max_pos - 1)
             + (d * f + f + f * d + d) + 2 * norm_params_per_norm)
    embed = vocab * d if vocab else 2 * d
    head = d * dcls + dcls + dcls * classes
    return layers * layer + embed + head + (norm_params_per_norm if final_norm else 0)


def test_listops_config_parameter_count():
    cfg = mega_lra_listop()
    model = MegaForSequenceClassification(cfg)
    expected = mega_formula(layers=6, d=80, z=64, v=160, h=16, f=160, max_pos=2002, vocab=16, classes=10, dcls=160,
                            norm_params_per_norm=2 * 80, final_norm=False)
    assert expected == 601_938
    assert n_params(model) == expected


def test_default_models_match_spec_sizes():
    cfg = PROFILES["default"].config
    mega, tf = build_model("mega", cfg), build_model("transformer", cfg)
    expected = mega_formula(layers=2, d=64, z=32, v=128, h=16, f=128, max_pos=256, vocab=None, classes=10,
                            dcls=128, norm_params_per_norm=2 * 64, final_norm=True)
    assert n_params(mega) == expected == 131_902  # spec: ≈ 132k
    assert n_params(tf) == 109_824  # spec: ≈ 110k = 0.83 × Mega
    assert 0.8 <= n_params(tf) / n_params(mega) <= 1.2


def test_lra_configs_follow_table8():
    rows = {mega_lra_listop: (6, 80, 160, 64, 160, "softmax", "layernorm", False),
            mega_lra_imdb: (4, 128, 256, 64, 256, "softmax", "scalenorm", False),
            mega_lra_aan: (6, 128, 256, 64, 256, "softmax", "scalenorm", False),
            mega_lra_cifar10: (8, 160, 320, 96, 320, "laplace", "batchnorm", True),
            mega_lra_pf32: (6, 128, 256, 64, 256, "laplace", "batchnorm", True),
            mega_lra_pf128: (4, 64, 128, 32, 128, "laplace", "batchnorm", True)}
    for fn, (depth, d, ffn, z, v, attn, norm, pre) in rows.items():
        c = fn()
        assert (c.depth, c.dim, c.ffn_dim, c.zdim, c.hdim) == (depth, d, ffn, z, v)
        assert (c.attention_activation, c.norm_type, c.prenorm, c.ndim, c.chunk_size) == (attn, norm, pre, 16, -1)
        assert c.classifier_dim == v
        assert fn(chunked=True).chunk_size == (4096 if fn is mega_lra_pf128 else 128)
        assert c.truncation == (4096 if fn is mega_lra_pf128 else 1024)


def test_token_encoder_ignores_padding():
    torch.manual_seed(0)
    enc = MegaEncoder(vocab_size=16, depth=2, dim=16, hdim=32, ffn_dim=32, zdim=8,
                      ndim=4, norm_type="layernorm", prenorm=False, max_positions=64).double().eval()
    x = torch.randint(1, 16, (2, 20))
    xp = F.pad(x, (0, 9), value=0)
    with torch.no_grad():
        assert (enc(x) - enc(xp)).abs().max() < 1e-10


def test_token_encoder_pads_to_chunk_multiple_and_real_input_errors():
    torch.manual_seed(0)
    enc = MegaEncoder(vocab_size=16, depth=1, dim=16, hdim=32, ffn_dim=32, zdim=8,
                      ndim=4, chunk_size=8)
    h, mask = enc.forward_features(torch.randint(1, 16, (2, 21)))
    assert h.shape == (2, 24, 16) and mask is not None and mask[:, 21:].all() and not mask[:, :21].any()
    assert (h[:, 21:] == 0).all()
    real = MegaEncoder(vocab_size=None, depth=1, dim=16, hdim=32, ffn_dim=32, zdim=8,
                       ndim=4, chunk_size=8)
    with pytest.raises(ValueError, match="not a multiple of chunk_size"):
        real(torch.randn(2, 21))
    with pytest.raises(ValueError, match="padding_mask must have shape"):
        real(torch.randn(2, 24), padding_mask=torch.zeros(2, 23, dtype=torch.bool))
    with pytest.raises(ValueError, match="batch, length"):
        real(torch.randn(2, 24, 1))


def test_classifier_gradients_and_dual_input():
    torch.manual_seed(0)
    cfg = dataclasses.replace(mega_lra_aan(), depth=1, dim=16, hdim=32, ffn_dim=32,
                              zdim=8, ndim=4, max_positions=64, classifier_dim=32)
    model = MegaForSequenceClassification(cfg)
    x1, x2 = torch.randint(1, 260, (3, 30)), torch.randint(1, 260, (3, 25))
    out = model(x1, x2=x2)
    assert out.shape == (3, 2) and model.num_features == 32
    out.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    with pytest.raises(ValueError, match="dual_input"):
        model(x1)


def test_scalenorm_and_ffn():
    sn = ScaleNorm()
    x = torch.randn(2, 5, 7)
    torch.testing.assert_close(sn(x).square().mean(-1), torch.ones(2, 5), atol=1e-4, rtol=0)
    ffn = NormalizedFeedForwardNetwork(dim=7, ffn_dim=11, prenorm=True)
    with torch.no_grad():
        ref = x + ffn.fc2(F.silu(ffn.fc1(ffn.norm(x))))
    torch.testing.assert_close(ffn(x), ref)


def test_batchnorm_normalises_over_batch_and_time():
    layer = MegaEncoderLayer(dim=6, hdim=12, ffn_dim=0, zdim=4, ndim=2,
                             norm_type="batchnorm", prenorm=False)
    layer.train()
    y = layer(torch.randn(4, 9, 6) * 3 + 2)
    torch.testing.assert_close(y.mean(dim=(0, 1)), torch.zeros(6), atol=1e-5, rtol=0)


def test_transformer_block_matches_sdpa():
    torch.manual_seed(0)
    blk = TransformerBlock(dim=16, heads=4, ffn_dim=32).double()
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    with torch.no_grad():
        q, k, v = blk.qkv(blk.norm1(x)).view(2, 9, 3, 4, 4).permute(2, 0, 3, 1, 4)
        o = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(2, 9, 16)
        h = x + blk.out(o)
        ref = h + blk.fc2(F.gelu(blk.fc1(blk.norm2(h))))
        torch.testing.assert_close(blk(x), ref)


def test_lr_schedule():
    # the fairseq LRA schedule training.train uses: linear warm-up from 1e-7, then linear decay to 0
    lr = lambda k: warmup_linear(k, 100, peak=1e-3, warmup_frac=0.1)  # noqa: E731
    assert lr(0) == pytest.approx(1e-7) and lr(10) == pytest.approx(1e-3)
    assert lr(55) == pytest.approx(0.5e-3) and lr(100) == 0.0


def test_deprecated_width_names_still_work():
    # the official spellings (and this package's earlier ones) map to dim / zdim / hdim / ndim / ffn_dim / depth
    assert set(DEPRECATED_NAMES.values()) == {"dim", "zdim", "hdim", "ndim", "ffn_dim", "depth"}
    torch.manual_seed(0)
    new = MegaEncoderLayer(dim=6, hdim=12, ffn_dim=8, zdim=4, ndim=2)
    torch.manual_seed(0)
    with pytest.warns(DeprecationWarning) as warned:
        old = MegaEncoderLayer(embedding_dim=6, hidden_dim=12, ffn_hidden_dim=8, z_dim=4, n_dim=2)
    assert len(warned) == 5 and "MegaEncoderLayer(embedding_dim=...) is deprecated; use dim=" in str(warned[0].message)
    assert all(torch.equal(a, b) for a, b in zip(new.state_dict().values(), old.state_dict().values()))
    with pytest.warns(DeprecationWarning) as warned:
        cfg = MegaConfig(num_layers=3, embedding_dim=24)
    assert len(warned) == 2
    assert (cfg.depth, cfg.dim) == (3, 24)
    with pytest.warns(DeprecationWarning, match="MegaConfig.z_dim"):
        assert cfg.z_dim == cfg.zdim
    with pytest.raises(TypeError, match="both"):
        MegaEncoderLayer(dim=6, embedding_dim=6, hdim=12, ffn_dim=8, zdim=4)


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------


def test_listops_labels_lengths_and_determinism():
    g = torch.Generator().manual_seed(3)
    x, y = listops(60, min_len=20, max_len=80, generator=g)
    x2, y2 = listops(60, min_len=20, max_len=80, generator=torch.Generator().manual_seed(3))
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert x.shape == (60, 79) and len(LISTOPS_VOCAB) == 16
    lengths = (x > 0).sum(1)
    assert (lengths > 20).all() and (lengths < 80).all()
    assert len({tuple(r.tolist()) for r in x}) == 60  # deduplicated
    for row, label in zip(x, y):
        toks = [LISTOPS_VOCAB[t] for t in row.tolist() if t > 0]
        assert toks[0].startswith("[") and toks[-1] == "]"
        assert listops_value(toks) == int(label)
    assert listops_value(["[MED", "1", "7", "2", "9", "]"]) == int(4.5)  # int(numpy.median)
    assert listops_value(["[SM", "7", "8", "]"]) == 5


def test_sdigits_split_and_augmentation():
    xtr, _ytr = sdigits("train")
    xte, _yte = sdigits("test")
    assert xtr.shape == (1437, 256) and xte.shape == (360, 256)
    assert float(xtr.min()) == -1.0 and float(xtr.max()) == 1.0
    assert torch.equal(sdigits("test")[0], xte)  # fixed split
    img, _ = sdigits_images("train")
    assert torch.equal(img[:, ::2, ::2].repeat_interleave(2, 1).repeat_interleave(2, 2), img)  # nearest ×2
    g = torch.Generator().manual_seed(0)
    aug = translate(img[:50], g)
    assert not torch.equal(aug, img[:50])
    # a ±2 shift of a centred digit keeps every row/column sum multiset up to the zero border
    assert torch.allclose(aug.sum((1, 2)), img[:50].sum((1, 2))) or (aug.sum((1, 2)) <= img[:50].sum((1, 2))).all()
    with pytest.raises(ValueError, match="split"):
        sdigits("val")
