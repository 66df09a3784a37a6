"""Seeds are accepted the same way as everywhere else: an int or a torch.Generator (issue 12, item 13)."""

from __future__ import annotations

import pytest
import torch

from livepapers.nnphd import DampedDoublePendulum, DampedOscillator2D


def test_int_seed_equals_a_generator_seeded_with_it():
    osc = DampedOscillator2D()
    a = osc.sample(16, generator=7)
    b = osc.sample(16, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(a["q"], b["q"], rtol=0, atol=0)
    pend = DampedDoublePendulum()
    q1, w1 = pend.initial_states(4, 3)
    q2, w2 = pend.initial_states(4, torch.Generator().manual_seed(3))
    assert torch.equal(q1, q2) and torch.equal(w1, w2)
    assert not torch.equal(q1, w1)  # one generator per call, advanced between draws (not re-seeded)


def test_bad_seed_is_named():
    with pytest.raises(ValueError, match=r"generator must be an int seed or a torch\.Generator"):
        DampedOscillator2D().sample(4, generator="seven")
