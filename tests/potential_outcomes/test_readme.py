"""The README's usage snippet runs."""

from __future__ import annotations

import re
from pathlib import Path

import livepapers.potential_outcomes as po


def test_readme_usage_runs(capsys):
    text = (Path(po.__file__).parent / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Usage\n\n```python\n(.*?)```", text, re.S).group(1)
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "1794.3424" in out and "3.414" in out
