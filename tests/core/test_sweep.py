import math
import os

import pytest

from livepapers.core import sweep


def test_local_pool_keeps_order():
    items = list(range(12))
    assert sweep.map(math.factorial, items, workers=2) == [math.factorial(i) for i in items]


def test_inline_and_errors():
    assert sweep.map(math.sqrt, [4.0, 9.0], workers=1) == [2.0, 3.0]
    assert sweep.map(math.sqrt, []) == []
    with pytest.raises(ValueError, match="unknown backend"):
        sweep.map(math.sqrt, [1.0], backend="dask")
    with pytest.raises(ValueError, match="address"):
        sweep.map(math.sqrt, [1.0], address="ray://x:1")


def test_worker_errors_propagate():
    with pytest.raises(ValueError):
        sweep.map(math.sqrt, [1.0, -1.0], workers=2)


@pytest.mark.timeout(180)
def test_ray_backend_on_a_local_cluster():
    pytest.importorskip("ray", reason="Ray is the optional extra livepapers[ray]")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    out = sweep.map(math.factorial, [3, 4, 5], backend="ray", workers=2)
    assert out == [6, 24, 120]
