"""The README's usage snippet runs as written (and its printed accuracy claim holds)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "src" / "livepapers" / "neural_mechanics" / "README.md"


@pytest.mark.timeout(60)
def test_readme_usage_runs() -> None:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## Usage\n\n```python\n(.*?)```", text, re.S)
    assert block is not None, "README has no python usage block"
    out = io.StringIO()
    scope: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(block.group(1), str(README), "exec"), scope)
    assert scope["emp"].shape == (101, 256) and scope["pred"].shape == (101, 256)
    assert float(out.getvalue()) < 1e-6
    # `livepapers report --readme` fills the block between the markers: require both, in order, not an empty block
    start, end = text.find("<!-- results:start -->"), text.find("<!-- results:end -->")
    assert 0 <= start < end, "README needs the results markers, start before end"
