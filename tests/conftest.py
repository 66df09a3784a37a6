"""Suite-wide fixtures: the prepare cache of every test lives in a temporary folder, never in ~/.cache."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_prepare_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("LIVEPAPERS_CACHE", str(tmp_path_factory.mktemp("lp-cache")))
