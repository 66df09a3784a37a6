"""The README usage snippet runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "src" / "livepapers" / "diff_algorithms" / "README.md"


@pytest.mark.timeout(60)
def test_readme_usage_runs():
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    scope: dict = {}
    exec(compile(block, str(README), "exec"), scope)
    assert tuple(scope["P"].shape) == (8, 33, 33) and tuple(scope["silhouette"].shape) == (2, 64, 64)
    assert scope["counts"].shape == (1000, 10)
    for marker in ("<!-- results:start -->", "<!-- results:end -->", "## Deviations", "## Not checkable offline"):
        assert marker in text
