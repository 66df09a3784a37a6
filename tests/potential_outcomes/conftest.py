"""Shared fixtures for the potential-outcomes tests: the shipped NSW experiment and a small simulated frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from livepapers.potential_outcomes import data


@pytest.fixture(scope="session")
def nsw() -> pd.DataFrame:
    return data.load_nsw("experimental")


@pytest.fixture
def small() -> tuple[np.ndarray, np.ndarray, pd.DataFrame, np.ndarray]:
    """n = 400 units, X ~ N(0, I_3), logistic propensity, linear outcome with effect 2 + X1."""
    rng = np.random.default_rng(1)
    n = 400
    x = rng.standard_normal((n, 3))
    e = 1 / (1 + np.exp(-(0.5 * x[:, 0] - 0.5 * x[:, 1])))
    t = (rng.random(n) < e).astype(float)
    y = 1 + x @ np.array([1.0, 0.5, -0.5]) + t * (2 + x[:, 0]) + rng.standard_normal(n)
    return y, t, pd.DataFrame(x, columns=["a", "b", "c"]), e
