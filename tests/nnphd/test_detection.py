"""Exact values of the detection metrics and of the phase-transition crossing."""

import numpy as np
import pytest
import torch

from livepapers.nnphd.detection import cos_agg, cos_each, drag_profile, localization, rms
from livepapers.nnphd.transition import half_crossing

F64 = torch.float64


def test_rms_and_cosines_on_hand_values():
    a = torch.tensor([[3.0, 4.0], [0.0, 0.0]], dtype=F64)
    assert rms(a) == pytest.approx((25 / 2) ** 0.5)
    b = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=F64)
    assert cos_agg(a, b) == pytest.approx(3 / (5 * 2**0.5))
    torch.testing.assert_close(cos_each(a, b), torch.tensor([0.6, 0.0], dtype=F64))


def test_half_crossing_interpolates_and_clips_to_the_grid():
    lams = np.array([0.5, 0.9, 1.1, 1.5])
    assert half_crossing(lams, np.array([1.0, 1.0, 0.0, 0.0]), 1.0) == pytest.approx(1.0)  # 0.9 + 0.5 · 0.2
    assert half_crossing(lams, np.array([1.0, 0.8, 0.6, 0.4]), 1.0) == pytest.approx(1.3)
    assert half_crossing(lams, np.array([0.4, 0.3, 0.2, 0.1]), 1.0) == 0.5  # already below
    assert half_crossing(lams, np.array([1.0, 0.9, 0.8, 0.7]), 1.0) == 1.5  # never crosses


def test_drag_profile_recovers_the_power_law():
    g = torch.Generator().manual_seed(0)
    r = 0.6 + 0.5 * torch.rand(500, generator=g, dtype=F64)
    phi = 2 * torch.pi * torch.rand(500, generator=g, dtype=F64)
    x = torch.stack([r * torch.cos(phi), r * torch.sin(phi)], -1)
    v = torch.stack([-torch.sin(phi), torch.cos(phi)], -1) * (1 + torch.rand(500, 1, generator=g, dtype=F64))
    a_rr = -0.02 * v / r[:, None] ** 4
    drag, r_med, d_mean, slope = drag_profile(a_rr, x, v)
    torch.testing.assert_close(drag, 0.02 / r**4)
    assert len(r_med) == 5 and (d_mean > 0).all()
    assert slope == pytest.approx(-4.0, abs=0.15)  # bin means of r⁻⁴ against bin medians of r: slightly steeper


def test_localization_of_a_pulse():
    t = torch.linspace(0, 1, 101, dtype=F64)
    pull = torch.exp(-(((t - 0.3) / 0.05) ** 2))
    true_nc = torch.stack([pull, torch.zeros_like(pull)], -1)
    data = {"a_nc": true_nc, "t": t, "traj_id": torch.zeros(101, dtype=torch.long)}
    m = localization(true_nc.clone(), data)  # a perfect detector
    assert m["cos_W"] == pytest.approx(1.0) and m["argmax_offset"] == 0.0
    assert m["t_star"] == pytest.approx(0.3) and m["in_out_ratio"] == pytest.approx(m["true_in_out_ratio"])
    assert 0 < m["w_fraction"] < 0.2
    shifted = localization(torch.roll(true_nc, 10, 0), data)  # the pulse detected 0.1 later
    assert shifted["argmax_offset"] == pytest.approx(0.1)
