"""The generated contract checks catch planted breaks (they are tests that can fail)."""

from __future__ import annotations

import sys

import pytest

from livepapers.core import registry
from livepapers.testing import check_paper


def _checks(slug):
    return dict(check_paper(slug))


def _reload(pkg_prefix):
    for name in [m for m in sys.modules if m.startswith(pkg_prefix)]:
        del sys.modules[name]


def test_toy_passes_the_contract_parts_it_has(toy_paper):
    checks = _checks(toy_paper)
    for name in ("claims_unique", "metrics_declared", "smoke_produces_claim_metrics", "declared_equals_produced",
                 "same_seed_same_metrics", "settable"):
        checks[name]()


def test_claim_reading_an_undeclared_metric_is_caught(toy_paper, tmp_path):
    pkg = registry.PAPERS[toy_paper]
    claims = tmp_path / "pkgs" / pkg / "claims.py"
    claims.write_text(claims.read_text().replace('check=Band("acc", lo=0.9)', 'check=Band("acc_typo", lo=0.9)'))
    _reload(pkg)
    with pytest.raises(AssertionError, match="acc_typo"):
        _checks(toy_paper)["metrics_declared"]()
    assert "acc_typo" in registry.get(toy_paper).load_error()


def test_missing_profile_and_default_not_config_are_caught(toy_paper, tmp_path):
    pkg = registry.PAPERS[toy_paper]
    exp = tmp_path / "pkgs" / pkg / "experiment.py"
    exp.write_text(exp.read_text().replace('"paper": Profile(Config(value=2.0), n_seeds=3),', ""))
    _reload(pkg)
    with pytest.raises(AssertionError, match=r"\['paper'\] missing"):
        _checks(toy_paper)["profiles"]()
    exp.write_text(exp.read_text().replace('"default": Profile(Config(), n_seeds=3)',
                                           '"default": Profile(Config(value=3.0), n_seeds=3), '
                                           '"paper": Profile(Config())'))
    _reload(pkg)
    with pytest.raises(AssertionError, match="must equal Config"):
        _checks(toy_paper)["profiles"]()


def test_undeclared_produced_metric_and_nondeterminism_are_caught(toy_paper, tmp_path):
    pkg = registry.PAPERS[toy_paper]
    exp = tmp_path / "pkgs" / pkg / "experiment.py"
    exp.write_text(exp.read_text().replace('"sanity": config.sanity}',
                                           '"sanity": config.sanity, "extra": 1.0, '
                                           '"clock": __import__("time").perf_counter()}'))
    _reload(pkg)
    checks = _checks(toy_paper)
    with pytest.raises(AssertionError, match="undeclared metrics: \\['clock', 'extra'\\]"):
        checks["declared_equals_produced"]()
    with pytest.raises(AssertionError, match="clock"):
        checks["same_seed_same_metrics"]()
