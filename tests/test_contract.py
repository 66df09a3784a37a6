"""The paper contract, generated for every registered paper (livepapers.testing.check_paper)."""

from __future__ import annotations

import pytest

from livepapers.core import registry
from livepapers.testing import CHECKS, check_paper


@pytest.mark.timeout(300)
@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("slug", [pytest.param(s, marks=pytest.mark.xdist_group(s)) for s in registry.slugs()])
def test_contract(slug: str, check: str, monkeypatch) -> None:
    monkeypatch.setenv("LIVEPAPERS_QUIET", "1")
    checks = dict(check_paper(slug))
    checks[check]()
