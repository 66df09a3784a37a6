"""Metric names of the reproduction and the worst-model aggregation, shared by ``experiment.run`` (which returns
them) and ``claims.METRICS`` (which declares them): one definition of every name family.

Names: ``<stat>_<run>_<kind>`` for the worst model (``WORST[stat]``: the largest error, the smallest gap) and
``<stat>_<run>_<kind>_<model>`` per model, e.g. ``c4_cont_err_R2_scale`` and ``c4_cont_err_R2_scale_mlp_bn``.
"""

from __future__ import annotations

from livepapers.core.stats import max_or_nan, min_or_nan

BROKEN_KINDS = ("scale", "rescale")  # conservation broken by a finite learning rate (translation is not, at wd 0)
SGD_RUNS, MOMENTUM_RUNS, FULL_BATCH_RUN = ("R1", "R2"), ("R3", "R4"), "R5"
TIMED_RUNS = ("R1", "R2", "R1h", "R3", "R4", "R5", "R6")
# the statistics of SGD and momentum runs, and which model is the worst one for each
WORST = {"c4_exact_err": "max", "c4_cont_err": "max", "c4_official_err": "max", "c4_gf_err": "min",
         "c4_gf_ratio": "min", "c4_gf_exact_ratio": "min", "c4_drift_err": "max", "c4_drift_frac": "min",
         "c5_mom_err": "max", "c5_homog_err": "min", "c5_homog_ratio": "min"}
SGD_STATS = ("c4_exact_err", "c4_cont_err", "c4_official_err")  # R1, R2 (and R5, one model) for every kind
R1_BROKEN_STATS = ("c4_gf_err", "c4_gf_ratio", "c4_gf_exact_ratio", "c4_drift_err", "c4_drift_frac")
MOMENTUM_STATS = ("c4_exact_err", "c5_mom_err", "c5_homog_err")  # R3, R4 for every kind (+ homog_ratio: broken)
R1H_RUNS = ("R1h_ref", "R1h")  # c4_gf_err of R1 over R1h's window (lr) and of R1h (lr / 2)


def key(stat: str, run_id: str, kind: str, *suffix: str) -> str:
    """Metric name ``<stat>_<run>_<kind>[_<suffix>]``: ``c4_cont_err_R2_scale``, per model ``..._mlp_bn``."""
    return "_".join((stat, run_id, kind, *suffix))


def c1_key(what: str, kind: str) -> str:
    """``c1_grad_violation_<kind>`` / ``c1_hvp_violation_<kind>`` (``what`` = grad / hvp)."""
    return f"c1_{what}_violation_{kind}"


def drift_key(kind: str, i: int) -> str:
    """R6's drift of ``kind`` at the i-th learning rate of ``gf_lrs``."""
    return f"c2_drift_{kind}_e{i}"


def slope_key(kind: str) -> str:
    """R6's log–log slope of the drift of ``kind`` against the learning rate."""
    return f"c2_slope_{kind}"


def time_keys(run_id: str) -> tuple[str, str]:
    """Wall and CPU seconds of one run."""
    return f"time_{run_id}_s", f"cpu_{run_id}_s"


def put_per_model(m: dict[str, float], vals: dict[tuple[str, str, str], dict[str, float]]) -> None:
    """``vals[(stat, run, kind)][model]`` -> per-model metrics and the worst model's (``WORST[stat]``)."""
    for (stat, run_id, kind), per_model in vals.items():
        for model_name, v in per_model.items():
            m[key(stat, run_id, kind, model_name)] = v
        m[key(stat, run_id, kind)] = (max_or_nan if WORST[stat] == "max" else min_or_nan)(per_model.values())
