"""The README's first usage block prints what its comments say (the contract runs it; this checks the values)."""

from __future__ import annotations

import re
from pathlib import Path

import torch

import livepapers.dynamicvit as dv


def test_readme_usage_snippet_prints_what_its_comments_say(capsys):
    text = (Path(dv.__file__).with_name("README.md")).read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    torch.manual_seed(0)
    scope: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), scope)
    out = capsys.readouterr().out
    assert "torch.Size([2, 137])" in out and "torch.Size([2, 67])" in out
    assert "2.98" in out
    assert scope["tokens"].shape == (2, 196, 384) and len(scope["stage_masks"]) == 3
