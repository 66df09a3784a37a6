"""Data parsing, baselines with NaNs, the NCDE, the latent SDE's ELBO step, SDE-GAN clipping and penalty."""

import math

import pytest
import torch

from livepapers.neural_des import (
    GRUD,
    ODERNN,
    CDEDiscriminator,
    GRUDelta,
    LatentSDE,
    NeuralCDE,
    SDEGenerator,
    intensity_channels,
)
from livepapers.neural_des.data import japanese_vowels, parse_ts, time_dependent_ou
from livepapers.neural_des.gan import clip_weights, gan_step, gradient_penalty, real_coeffs
from livepapers.neural_des.latent import train_latent_sde

TS = """# comment
@problemName Toy
@data
1.0,2.0,0.0,0.0:3.0,4.0,0.0,0.0:1
0.5,0.0,1.5,0.0:0.0,0.0,2.0,0.0:2
1,2,3,4:5,6,7,8:1
"""


def test_parse_ts_strips_zero_padding():
    series, labels = parse_ts(TS)
    assert [s.shape for s in series] == [(2, 2), (3, 2), (4, 2)]
    assert labels == ["1", "2", "1"]
    assert series[1][1].tolist() == [0.0, 0.0]  # an interior all-zero row is kept


def test_japanese_vowels_pipeline():
    d = japanese_vowels(0.7, torch.Generator().manual_seed(0))
    t, v, _ = d["train"]
    assert d["source"] == "JapaneseVowels" and v.shape == (270, 29, 12) and d["test"][1].shape == (370, 29, 12)
    assert d["n_classes"] == 9 and not torch.isnan(t).any()
    L = d["lengths"][0]
    # round(0.7 L) points dropped from each series; the padding repeats the last row
    first = int(L[0])
    assert int((~torch.isnan(v[0, :first, 0])).sum()) == first - round(0.7 * first)
    assert torch.equal(t[0, first:], t[0, first - 1].expand(29 - first))


def test_baselines_and_ncde_shapes_with_nans():
    g = torch.Generator().manual_seed(0)
    times = torch.linspace(0, 1, 12).expand(5, 12).clone()
    times[:, 9:] = times[:, 8:9]  # padding
    values = torch.randn(5, 12, 3, generator=g)
    values[torch.rand(5, 12, generator=g) < 0.4] = float("nan")
    for m in (GRUDelta(3, 7, 4), GRUD(3, 7, 4), GRUD(3, 7, 4, input_decay=False), ODERNN(3, 6, 4),
              NeuralCDE(4, 6, 4, width=8)):
        out = m(times, values)
        assert out.shape == (5, 4) and torch.isfinite(out).all()
        out.sum().backward()
        assert all(p.grad is not None for p in m.parameters() if p.requires_grad)


def test_observational_intensity_channels():
    values = torch.tensor([[[1.0, float("nan")], [float("nan"), float("nan")], [2.0, 5.0], [3.0, float("nan")]]])
    assert intensity_channels(values)[0].tolist() == [[1, 0], [1, 0], [2, 1], [3, 1]]
    times = torch.arange(4.0).unsqueeze(0)
    m = NeuralCDE(1 + 2 + 2, 6, 3, width=8, intensity=True)
    coeffs = m.coeffs(times, values)
    X = m.path(coeffs)
    # the path's count channels pass through the counts at the knots (the last two channels)
    for i in range(4):
        torch.testing.assert_close(X.evaluate(float(i))[0, 3:], intensity_channels(values)[0, i])
    out = m(times, values)
    assert out.shape == (1, 3) and torch.isfinite(out).all()
    # off by default: the same data then has 1 + v channels; a mismatch is a one-line error
    assert NeuralCDE(3, 6, 3, width=8)(times, values).shape == (1, 3)
    with pytest.raises(ValueError, match="channels"):
        NeuralCDE(4, 6, 3, width=8, intensity=True)
    with pytest.raises(ValueError, match="expects 5"):
        NeuralCDE(5, 6, 3, width=8)(times, values)


def test_latent_sde_elbo_step_finite():
    d = time_dependent_ou(64, torch.Generator().manual_seed(0), t_size=64, observe=8, dt=0.1)
    assert torch.isnan(d["ys"]).float().mean() > 0.1
    res = train_latent_sde(d["ts"], d["ys"], steps=2, batch_size=16, generator=torch.Generator().manual_seed(1),
                           model=LatentSDE(context_size=4, hidden_size=8, encoder_size=8))
    assert all(torch.isfinite(torch.tensor(res["loss"])))
    s = res["model"].sample(d["ts"], 10, generator=torch.Generator().manual_seed(2))
    assert s.shape == (10, 8, 1)


def test_sde_gan_clipping_and_gradient_penalty():
    torch.manual_seed(0)
    d = time_dependent_ou(32, torch.Generator().manual_seed(0), observe=6, dt=0.1)
    coeffs = real_coeffs(d["ys"], d["ts"])
    gen, disc = SDEGenerator(1), CDEDiscriminator(1)
    assert any(float(m.weight.detach().abs().max()) > 1 / m.out_features for m in disc.modules()
               if isinstance(m, torch.nn.Linear))
    g_opt = torch.optim.Adadelta(gen.parameters(), lr=2e-4)
    d_opt = torch.optim.Adadelta(disc.parameters(), lr=1e-3)
    out = gan_step(gen, disc, g_opt, d_opt, coeffs[:8], d["ts"], "clip")
    assert out["clip_violation"] <= 0 and clip_weights(disc) <= 0
    gp = gradient_penalty(disc, coeffs[:8], gen(d["ts"], 8))
    assert torch.isfinite(gp) and gp.requires_grad


def test_sde_gan_training_helper_and_timing_protocol():
    from livepapers.neural_des import lab

    data = time_dependent_ou(24, torch.Generator().manual_seed(0), t_size=64, observe=8, dt=0.1)
    res = lab.c4c_sde_gan(0, data, n_train=16, n_test=8, steps=2, batch=4, swa_start=1, eval_times=(3, 7),
                          samples=16)
    assert len(res["losses"]) == 2 and [r["t"] for r in res["rows"]] == [3, 7]
    summary = lab.summarise_rows("c4c", res["rows"])
    assert set(summary) == {"c4c.w1_over_sd", "c4c.mean_err_over_sd.max", "c4c.sd_ratio.min", "c4c.sd_ratio.max"}
    assert all(math.isfinite(v) for v in summary.values())
    # C4b: `repeats` timed repeats per variant (the warm-up repeat is discarded), clipping respected
    t = lab.c4b_timing(data, batch=4, steps=1, warmup=0, repeats=2)
    assert len(t["clip"]) == 2 and len(t["gp"]) == 2 and t["clip_violation"] <= 0.0
