"""A toy paper, written into a temp folder and registered for the duration of a test."""

from __future__ import annotations

import sys
import textwrap

import pytest

from livepapers.core import registry

TOY_INIT = '''
from livepapers.core.registry import PaperInfo
PAPER = PaperInfo(slug="toy", title="A Toy Paper", authors="A. Author", year=2024, arxiv="0000.00000",
                  digest_item="000_test.txt #0", summary="A toy used by the core tests.")
'''

TOY_EXPERIMENT = '''
from dataclasses import dataclass

@dataclass(frozen=True)
class Inner:
    width: int = 4

from livepapers.core.config import Profile

@dataclass(frozen=True)
class Config:
    value: float = 1.0
    diverge: bool = False
    crash: bool = False
    tag: str = "x"
    sizes: tuple[int, ...] = (1, 2)
    inner: Inner = Inner()
    prep_scale: float = 1.0   # read by prepare (changes its cache key)
    sanity: float = 1.0       # a precondition of C4
    speed: float = 2.0        # measured once per run (C5)

PROFILES = {"smoke": Profile(Config(), n_seeds=2), "default": Profile(Config(), n_seeds=3),
            "paper": Profile(Config(value=2.0), n_seeds=3), "tiny": Profile(Config(), n_seeds=1, evidence=False),
            "extended": Profile(Config(value=0.5), n_seeds=2)}

def prepare(config, ctx):
    import json, os
    # count real preparations (cache misses) in a file the test names
    if os.environ.get("TOY_PREPARE_LOG"):
        with open(os.environ["TOY_PREPARE_LOG"], "a") as f:
            f.write("prepared\\n")
    (ctx.folder / "prep.json").write_text(json.dumps({"prep": 10.0 * config.prep_scale}))
    return ctx.folder

def measure(config, ctx):
    return [{"speed": config.speed + 0.01 * i} for i in range(3)]

def run(config, ctx):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    x = torch.randn(3, generator=ctx.generator())
    ctx.log(f"width {config.inner.width}")
    if config.crash:
        raise RuntimeError("boom")
    for step in ctx.progress(range(3), desc="train"):
        loss = float("nan") if (config.diverge and step == 2) else 1.0 / (step + 1)
        ctx.check_finite(loss, step)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, config.value])
    ctx.savefig(fig, "line", caption="a line")
    ctx.save_csv("numbers", [{"a": 1, "b": 2}])
    import json
    prep = json.loads(ctx.shared_path("prep.json").read_text())["prep"]
    return {"acc": config.value + 0.001 * ctx.seed, "base": 0.5, "noise": float(x[0]), "prep": prep,
            "sanity": config.sanity}
'''

TOY_CLAIMS = '''
from livepapers.core.claims import Band, Claim, Metric, Order
METRICS = {
    "acc": Metric("accuracy of the toy", "%", True),
    "base": Metric("accuracy of the baseline", "%", True),
    "noise": Metric("a seeded random draw"),
    "prep": Metric("a number prepare() wrote"),
    "sanity": Metric("the sanity precondition's value", higher_is_better=True),
    "speed": Metric("speed, measured once per run", "x", True, machine=True),
}
CLAIMS = (
    Claim(id="C1", statement="acc is high", source="Tab. 1", paper_value="0.99",
          check=Band("acc", lo=0.9)),
    Claim(id="C2", statement="acc beats base", source="Tab. 1", paper_value="+0.5",
          check=Order("acc", ">", "base"), over_seeds="every"),
    Claim(id="C3", statement="scales to ImageNet", source="Tab. 2", paper_value="80%", check=None,
          not_checkable="needs ImageNet"),
    Claim(id="C4", statement="acc beats base, given a sane model", source="Tab. 3", paper_value="+0.5",
          check=Order("acc", ">", "base"), requires=(Band("sanity", lo=0.5),)),
    Claim(id="C5", statement="fast", source="Tab. 4", paper_value="2x", check=Band("speed", lo=1.5),
          over_seeds="every"),
)
'''

TOY_README = '''# A Toy Paper

## Results
<!-- results:start -->
<!-- results:end -->

## Deviations
- The toy is a toy.

## BibTeX
'''


@pytest.fixture
def toy_paper(tmp_path, monkeypatch):
    """Register a toy paper package ``toy`` (importable from a temp folder); returns its slug."""
    pkg_name = f"toypaper_{abs(hash(str(tmp_path))) % 10**8}"
    pkg = tmp_path / "pkgs" / pkg_name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(TOY_INIT))
    (pkg / "experiment.py").write_text(textwrap.dedent(TOY_EXPERIMENT))
    (pkg / "claims.py").write_text(textwrap.dedent(TOY_CLAIMS))
    (pkg / "README.md").write_text(TOY_README)
    monkeypatch.syspath_prepend(str(tmp_path / "pkgs"))
    monkeypatch.setitem(registry.PAPERS, "toy", pkg_name)
    yield "toy"
    for name in [m for m in sys.modules if m.startswith(pkg_name)]:
        del sys.modules[name]


@pytest.fixture
def toy_only(toy_paper, monkeypatch):
    """The toy as the only registered paper (site tests must not depend on the real papers)."""
    monkeypatch.setattr(registry, "PAPERS", {"toy": registry.PAPERS["toy"]})
    return toy_paper
