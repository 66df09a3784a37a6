"""Reliability (issue 12): one clear ValueError naming the argument for dtype, vocabulary, empty and FFT-length
mistakes; int-or-Generator seeds; config choices refused before a run folder is made."""

from __future__ import annotations

import typing

import pytest
import torch

from livepapers.core.config import ConfigError, apply_overrides
from livepapers.mega import (
    MegaConfig,
    MegaEncoder,
    MegaEncoderLayer,
    MegaForSequenceClassification,
    MovingAverageGatedAttention,
    MultiHeadEMA,
    NormalizedFeedForwardNetwork,
    TransformerClassifier,
    bidirectional_fft_conv,
    fft_causal_conv,
)
from livepapers.mega.data import Batches, listops, sdigits, sdigits_images, translate
from livepapers.mega.experiment import PROFILES, Config
from livepapers.mega.modules import ATTENTION_FUNCTIONS, NORM_TYPES

SMALL = dict(dim=8, zdim=4, hdim=16, ndim=2)


def _sequence_modules() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {
        "MultiHeadEMA": MultiHeadEMA(dim=8, ndim=2),
        "MovingAverageGatedAttention": MovingAverageGatedAttention(**SMALL),
        "MegaEncoderLayer": MegaEncoderLayer(**SMALL, ffn_dim=16),
        "NormalizedFeedForwardNetwork": NormalizedFeedForwardNetwork(dim=8, ffn_dim=16),
    }


# ------------------------------------------------------------------------------------------------
# dtypes and empty inputs
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(_sequence_modules()))
def test_wrong_dtype_and_empty_inputs(name):
    module = _sequence_modules()[name]
    with pytest.raises(ValueError, match=r"^x: expected a floating tensor of the module's dtype \(float32\); got "
                                         r"float64"):
        module(torch.randn(2, 8, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^x: expected a floating tensor of the module's dtype \(float32\); got "
                                         r"int64"):
        module(torch.ones(2, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"^x: empty batch \(0 sequences\)"):
        module(torch.randn(0, 8, 8))
    with pytest.raises(ValueError, match=r"^x: empty sequence \(length 0\)"):
        module(torch.randn(2, 0, 8))
    assert module.double()(torch.randn(2, 8, 8, dtype=torch.float64)).dtype == torch.float64


def test_ema_step_checks_dtype_and_batch():
    ema = MultiHeadEMA(dim=4, ndim=2)
    with pytest.raises(ValueError, match=r"^x_t: expected a floating tensor of the module's dtype \(float32\)"):
        ema.step(torch.randn(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^x_t: empty batch"):
        ema.step(torch.randn(0, 4))


def test_autocast_is_left_to_torch():
    layer = MegaEncoderLayer(**SMALL, ffn_dim=16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer(torch.randn(2, 8, 8)).shape == (2, 8, 8)


# ------------------------------------------------------------------------------------------------
# token inputs
# ------------------------------------------------------------------------------------------------


def _token_models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {
        "MegaEncoder": MegaEncoder(vocab_size=16, depth=1, dim=8, hdim=16, ffn_dim=16, zdim=4, ndim=2),
        "MegaForSequenceClassification": MegaForSequenceClassification(MegaConfig(
            num_classes=3, vocab_size=16, depth=1, dim=8, hdim=16, ffn_dim=16, zdim=4, ndim=2, classifier_dim=8,
            max_positions=64)),
        "TransformerClassifier": TransformerClassifier(vocab_size=16, num_classes=3, dim=8, depth=1, heads=2,
                                                       ffn_dim=16, classifier_dim=8, max_len=64),
    }


@pytest.mark.parametrize("name", list(_token_models()))
def test_tokens_outside_the_vocabulary(name):
    model = _token_models()[name].eval()
    with pytest.raises(ValueError, match=r"^x: token ids must be in \[0, 16\) \(vocab_size=16\); got ids from 1 to 16"):
        model(torch.tensor([[1, 2, 16]]))
    with pytest.raises(ValueError, match=r"^x: token ids must be in \[0, 16\) \(vocab_size=16\); got ids from -1 "):
        model(torch.tensor([[1, -1, 3]]))
    with pytest.raises(ValueError, match=r"^x: expected integer token ids \(torch\.long\) for vocab_size=16; got "
                                         r"float32"):
        model(torch.tensor([[1.0, 2.0, 3.0]]))
    with pytest.raises(ValueError, match=r"^x: empty batch \(0 sequences\)"):
        model(torch.zeros(0, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"^x: empty sequence \(length 0\)"):
        model(torch.zeros(2, 0, dtype=torch.long))
    assert model(torch.tensor([[1, 2, 15, 0]])).shape[0] == 1  # pad id 0 and the last id are in the vocabulary


def test_padding_idx_must_be_a_token_id():
    with pytest.raises(ValueError, match=r"^padding_idx must be a token id in \[0, vocab_size=16\), got -1"):
        MegaEncoder(vocab_size=16, depth=1, dim=8, hdim=16, ffn_dim=16, zdim=4, ndim=2, padding_idx=-1)
    with pytest.raises(ValueError, match=r"^padding_idx must be a token id in \[0, vocab_size=16\), got 16"):
        TransformerClassifier(vocab_size=16, num_classes=3, dim=8, depth=1, heads=2, ffn_dim=16, classifier_dim=8,
                              max_len=64, padding_idx=16)


def test_real_valued_encoder_wants_floats_of_its_dtype():
    enc = MegaEncoder(vocab_size=None, depth=1, dim=8, hdim=16, ffn_dim=16, zdim=4, ndim=2)
    with pytest.raises(ValueError, match=r"^x: expected a floating tensor of the module's dtype \(float32\); got "
                                         r"float64"):
        enc(torch.rand(2, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"^x: empty batch"):
        enc(torch.rand(0, 8))


# ------------------------------------------------------------------------------------------------
# FFT length
# ------------------------------------------------------------------------------------------------


def test_fft_length_shorter_than_the_input_is_refused():
    x, k = torch.randn(1, 3, 32), torch.randn(3, 32)
    with pytest.raises(ValueError, match=r"^n_fft=16 is shorter than the input \(length 32\): the output would be "
                                         r"cut short"):
        fft_causal_conv(x, k, n_fft=16)
    # the two-sided output is read from 2K − 2 on: any FFT shorter than n + 2K − 2 returned fewer than n samples
    with pytest.raises(ValueError, match=r"^n_fft=63 is shorter than n \+ 2K − 2 = 94 \(the output starts at 2K − 2\)"):
        bidirectional_fft_conv(x, k, k, n_fft=63)
    with pytest.raises(ValueError, match=r"^n_fft must be an int >= 1, got 0"):
        fft_causal_conv(x, k, n_fft=0)
    with pytest.raises(ValueError, match=r"^k has 4 channels but x has 3"):
        fft_causal_conv(x, torch.randn(4, 32))
    with pytest.raises(ValueError, match=r"^k_bwd must have the shape of k_fwd"):
        bidirectional_fft_conv(x, k, k[:, :8])
    assert fft_causal_conv(x, k, n_fft=32).shape == x.shape  # circular (wrong values), test_ema's negative control
    torch.testing.assert_close(bidirectional_fft_conv(x, k, k, n_fft=94), bidirectional_fft_conv(x, k, k))


# ------------------------------------------------------------------------------------------------
# seeds and bounds of the data generators
# ------------------------------------------------------------------------------------------------


def test_seeds_are_ints_or_generators():
    a = listops(6, min_len=8, max_len=40, generator=3)
    b = listops(6, min_len=8, max_len=40, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    imgs, y = sdigits_images("test")
    assert torch.equal(translate(imgs[:4], 5), translate(imgs[:4], torch.Generator().manual_seed(5)))
    assert torch.equal(sdigits("train", generator=2)[0][:4],
                       sdigits("train", generator=torch.Generator().manual_seed(2))[0][:4])
    b1, b2 = Batches(imgs, y, 4, 1, images=True), Batches(imgs, y, 4, torch.Generator().manual_seed(1), images=True)
    assert torch.equal(b1.next()[0], b2.next()[0])
    with pytest.raises(ValueError, match=r"^generator must be an int seed or a torch\.Generator, got float"):
        listops(2, generator=1.5)
    from livepapers.mega.efficiency import BlockSpec, measure_block

    spec = BlockSpec(dim=8, zdim=4, hdim=8, ndim=2, ffn_dim=8, heads=1, chunk_size=8)
    g = torch.Generator().manual_seed(0)
    assert len(measure_block("mega_chunk", 16, batch=1, spec=spec, repeats=1, seed=g)["times_s"]) == 1
    with pytest.raises(ValueError, match=r"^seed must be an int seed or a torch\.Generator, got str"):
        measure_block("mega", 16, batch=1, spec=spec, repeats=1, seed="0")


def test_reversed_bounds_are_refused():
    with pytest.raises(ValueError, match=r"^min_len \(300\) must be <= max_len \(256\)"):
        listops(2, min_len=300, max_len=256, generator=0)
    with pytest.raises(ValueError, match=r"^max_shift must be >= 0"):
        translate(torch.zeros(1, 16, 16), 0, max_shift=-1)
    with pytest.raises(ValueError, match=r"^Batches needs batch_size >= 1 and x, y of the same non-zero length"):
        Batches(torch.zeros(4, 16, 16), torch.zeros(3, dtype=torch.long), 2, 0, images=True)


# ------------------------------------------------------------------------------------------------
# item 8: config choices, refused before a run folder exists
# ------------------------------------------------------------------------------------------------


def test_choices_are_literals_and_tuples_are_checked():
    hints = typing.get_type_hints(Config)
    assert typing.get_args(hints["attention"]) == ATTENTION_FUNCTIONS
    assert typing.get_args(hints["norm"]) == NORM_TYPES
    cfg = PROFILES["smoke"].config
    with pytest.raises(ConfigError, match=r"norm=l7: expected one of layernorm, scalenorm, batchnorm, rmsnorm"):
        apply_overrides(cfg, ["norm=l7"])
    with pytest.raises(ConfigError, match=r"attention=gelu: expected one of softmax, laplace, relu2"):
        apply_overrides(cfg, ["attention=gelu"])
    with pytest.raises(ConfigError, match=r"^chunk_sweep: 0 is not a chunk size; allowed: -1 \(full attention\) or "
                                          r">= 1"):
        apply_overrides(cfg, ["chunk_sweep=8,0"])
    with pytest.raises(ConfigError, match=r"^chunk_size must be -1 \(full attention\) or >= 1, got 0"):
        apply_overrides(cfg, ["chunk_size=0"])
    with pytest.raises(ConfigError, match=r"^lr_mega must be a finite number > 0, got nan"):
        apply_overrides(cfg, ["lr_mega=nan"])


def test_refused_override_makes_no_run_folder(tmp_path, capsys):
    from livepapers.cli import main

    code = main(["reproduce", "mega", "--profile", "smoke", "--set", "norm=l7", "--out", str(tmp_path / "runs"),
                 "--no-site"])
    assert code == 2 and "expected one of layernorm" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
