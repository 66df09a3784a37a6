"""Invariants of the experiment that the contract (tests/test_contract.py) does not cover: measure()'s repeats,
which claims read per-seed vs measured metrics, the extended code paths, the forked memory measurement."""

from __future__ import annotations

import dataclasses
import math

import pytest

from livepapers.core.claims import evaluate
from livepapers.core.runs import RunContext
from livepapers.mega.claims import CLAIMS, EFF_LENGTHS, METRICS
from livepapers.mega.efficiency import BlockSpec, measure_block_forked, mem_key, metric_names, time_key
from livepapers.mega.experiment import PROFILES, measure, run


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fork", [False, True])
def test_measure_returns_one_dict_per_repeat(tmp_path, fork):
    lengths = (64, 128, 256)
    cfg = dataclasses.replace(PROFILES["smoke"].config, eff_lengths=lengths, eff_repeats=3, eff_fork=fork,
                              eff_dim=32, eff_zdim=16, eff_hdim=64, eff_ffn_dim=64, eff_heads=4, eff_chunk=64)
    ctx = RunContext.for_test(tmp_path, cfg)
    out = measure(cfg, ctx)
    assert isinstance(out, list) and len(out) == 3
    names = metric_names(lengths, memory=fork)
    for r in out:
        assert set(r) == set(names) and all(isinstance(v, float) for v in r.values())
        for k in names:
            if k.startswith("time_") or "time_slope" in k or k.startswith(("time_ratio", "mega_time_ratio")):
                assert math.isfinite(r[k]) and (r[k] > 0 or "slope" in k), k
        if fork:
            assert all(r[mem_key(k, 256)] >= 0 for k in ("mega", "mega_chunk", "transformer"))
        else:
            assert math.isnan(r[mem_key("transformer", 256)])  # no peak memory in-process
    # the repeats are the individual timed calls, not copies of one number; memory is one value per child
    assert len({r[time_key("transformer", 256)] for r in out}) > 1
    assert len({str(r[mem_key("transformer", 256)]) for r in out}) == 1
    assert (tmp_path / "efficiency.csv").exists() and (tmp_path / "efficiency.png").exists()
    with pytest.raises(ValueError, match="eff_repeats"):
        measure(dataclasses.replace(cfg, eff_repeats=0), ctx)


def test_forked_measurement_reports_a_failing_child():
    spec = BlockSpec(dim=8, zdim=4, hdim=8, ffn_dim=8, heads=3)  # 8 is not divisible by 3 heads: the child raises
    r = measure_block_forked("transformer", 32, spec=spec, repeats=2)
    assert r["error"] == 1.0 and math.isnan(r["peak_mb"]) and "divisible" in r["error_message"]


def test_claims_read_metrics_run_or_measure_produces():
    # C3 reads only what measure() returns at the default lengths (judged over its repeats); every other claim
    # reads only per-seed metrics
    measured = set(metric_names(PROFILES["default"].config.eff_lengths))
    assert PROFILES["default"].config.eff_lengths == EFF_LENGTHS
    assert measured <= set(METRICS) and all(METRICS[k].machine for k in measured)
    seed_names = {n for c in CLAIMS if c.id != "C3" for n in c.all_metrics}
    assert seed_names and not seed_names & measured
    c3 = next(c for c in CLAIMS if c.id == "C3")
    assert set(c3.all_metrics) <= measured and c3.over_seeds == "every"
    per_seed = [dict.fromkeys(seed_names, 1.0) | {"acc_mega": 90.0, "acc_mega_h0": 50.0, "acc_transformer": 88.0,
                                                  "laplace_value_err": 0.0, "laplace_slope_err": 0.0}
                for _ in range(4)]
    rep = {f"{k}_L{L}": 1.0 for k in ("time_mega", "time_mega_chunk", "mem_mega", "mem_transformer")
           for L in EFF_LENGTHS}
    rep |= {f"time_transformer_L{L}": 3.0 * L / 1024 for L in EFF_LENGTHS}
    rep |= {f"time_mega_chunk_L{L}": L / 1024 for L in EFF_LENGTHS} | {"mem_mega_chunk_L4096": 0.2}
    good, slow = rep, rep | {"time_transformer_L4096": 1.0}
    verdicts = {v.claim_id: v for v in evaluate(CLAIMS, per_seed, [good, good, good])}
    assert verdicts["C4"].status == "holds" and verdicts["C1"].status == "fails" and verdicts["C6"].status == "holds"
    assert verdicts["C3"].status == "holds" and verdicts["C3"].basis == "repeats" and verdicts["C3"].n_seeds == 3
    # every repeat must pass: one slow repeat out of three is not enough to hold
    assert {v.claim_id: v for v in evaluate(CLAIMS, per_seed, [good, slow, good])}["C3"].status == "inconclusive"


@pytest.mark.timeout(120)
def test_extended_paths_run_tiny(tmp_path):
    # the extended profile's ListOps and chunk-sweep code paths, at a toy size
    cfg = dataclasses.replace(PROFILES["smoke"].config, steps=2, n_train=32, n_eval=20, listops=True,
                              listops_n_train=24, listops_n_test=12, listops_steps=2, listops_batch=8,
                              chunk_sweep=(8, 32, -1))
    ctx = RunContext.for_test(tmp_path, cfg, seed=1)
    m = run(cfg, ctx)
    for key in ("acc_listops_mega", "acc_listops_mega_chunk", "acc_listops_transformer", "acc_sweep_c8",
                "acc_sweep_c32", "acc_sweep_cfull", "listops_majority"):
        assert key in m and 0.0 <= m[key] <= 100.0, key
    assert set(m) <= set(METRICS)  # the extended metrics are declared (the contract checks the smoke ones)
    assert not any(k.startswith(("time_", "mem_")) for k in m)  # efficiency lives in measure(), once
    # the sweep's c = chunk_size and full entries are this seed's Mega-chunk and Mega (identical training)
    assert cfg.chunk_size == 32 and m["acc_sweep_c32"] == m["acc_mega_chunk"] and m["acc_sweep_cfull"] == m["acc_mega"]
    assert m["steps_used"] == 2
