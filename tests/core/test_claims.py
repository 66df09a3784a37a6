import math

import numpy as np
import pytest

from livepapers.core.claims import (
    AllOf,
    AnyOf,
    AtLeast,
    Band,
    Claim,
    Order,
    Ratio,
    Slope,
    aggregate_metrics,
    count_statuses,
    evaluate,
    evaluate_claim,
)
from livepapers.core.stats import fit_loglog_slope, t_quantile


def claim(check, over="mean"):
    return Claim(id="C1", statement="s", source="Fig. 1", paper_value="v", check=check, over_seeds=over)


def seeds(name, *values, **const):
    return [{name: v, **const} for v in values]


def test_band_holds_and_fails_on_single_seed():
    assert evaluate_claim(claim(Band("x", lo=0.3)), seeds("x", 0.31)).status == "holds"
    assert evaluate_claim(claim(Band("x", lo=0.3)), seeds("x", 0.29)).status == "fails"
    assert evaluate_claim(claim(Band("x", lo=0.6, hi=0.68)), seeds("x", 0.648)).status == "holds"
    assert evaluate_claim(claim(Band("x", lo=0.6, hi=0.68)), seeds("x", 0.7)).status == "fails"


def test_mean_uses_t_interval_and_straddling_is_inconclusive():
    tight = evaluate_claim(claim(Band("x", lo=0.3)), seeds("x", 0.50, 0.51, 0.49))
    assert tight.status == "holds"
    assert "± " in tight.measured and "(n=3)" in tight.measured
    # mean 0.31 passes, but the interval [0.31 - t*sd/sqrt(3), ...] reaches below 0.3
    straddle = evaluate_claim(claim(Band("x", lo=0.3)), seeds("x", 0.25, 0.31, 0.37))
    assert straddle.status == "inconclusive"
    assert "straddles" in straddle.reason
    clearly_low = evaluate_claim(claim(Band("x", lo=0.3)), seeds("x", 0.10, 0.11, 0.12))
    assert clearly_low.status == "fails"


def test_t_interval_width_is_the_textbook_one():
    # values 0, 1, 2: mean 1, sd 1, half width t(0.975, 2) / sqrt(3) = 4.303 / 1.732 = 2.484
    half = t_quantile(2) / math.sqrt(3)
    just_in = evaluate_claim(claim(Band("x", lo=1 - half - 1e-3)), seeds("x", 0.0, 1.0, 2.0))
    just_out = evaluate_claim(claim(Band("x", lo=1 - half + 1e-3)), seeds("x", 0.0, 1.0, 2.0))
    assert just_in.status == "holds"
    assert just_out.status == "inconclusive"


def test_every_seed_rule():
    c = Band("x", hi=1e-10)
    assert evaluate_claim(claim(c, "every"), seeds("x", 1e-16, 3e-16, 2e-16)).status == "holds"
    assert evaluate_claim(claim(c, "every"), seeds("x", 1e-16, 1e-5, 2e-16)).status == "inconclusive"
    assert evaluate_claim(claim(c, "every"), seeds("x", 1e-5, 1e-5, 1e-4)).status == "fails"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "nan", None])
def test_non_finite_metric_is_inconclusive_and_named(bad):
    v = evaluate_claim(claim(Band("acc", lo=0.5)), [{"acc": 0.9}, {"acc": bad}])
    assert v.status == "inconclusive"
    assert "acc" in v.reason


def test_missing_metric_is_inconclusive_and_named():
    v = evaluate_claim(claim(Order("acc", ">", "baseline_acc")), [{"acc": 0.9}])
    assert v.status == "inconclusive"
    assert "baseline_acc" in v.reason
    assert evaluate_claim(claim(Band("acc", lo=0)), []).status == "inconclusive"


def test_order_is_paired_and_respects_margin():
    # every seed's method beats its paired baseline by ~0.01 although the baselines vary a lot
    per_seed = [{"a": b + 0.01, "b": b} for b in (0.1, 0.5, 0.9)]
    assert evaluate_claim(claim(Order("a", ">", "b")), per_seed).status == "holds"
    assert evaluate_claim(claim(Order("a", ">", "b", margin=0.02)), per_seed).status == "fails"
    assert evaluate_claim(claim(Order("a", "<", "b")), per_seed).status == "fails"
    assert evaluate_claim(claim(Order("a", "<", 2.0)), per_seed).status == "holds"
    assert evaluate_claim(claim(Order("a", "<", 1.0)), per_seed).status == "inconclusive"  # unpaired spread


def test_ratio_and_zero_denominator():
    assert evaluate_claim(claim(Ratio("slow", "fast", lo=1.5)), [{"slow": 3.0, "fast": 1.0}]).status == "holds"
    assert evaluate_claim(claim(Ratio("slow", "fast", lo=1.5)), [{"slow": 1.2, "fast": 1.0}]).status == "fails"
    v = evaluate_claim(claim(Ratio("slow", "fast", lo=1.5)), [{"slow": 1.0, "fast": 0.0}])
    assert v.status == "inconclusive"


def test_slope_recovers_a_known_power_law():
    xs = (0.1, 0.03, 0.01)
    m = {f"e{i}": 5.0 * x**2 for i, x in enumerate(xs)}
    assert fit_loglog_slope(xs, [m[f"e{i}"] for i in range(3)]) == pytest.approx(2.0)
    ok = Slope(x=xs, y=("e0", "e1", "e2"), lo=1.8, hi=2.2)
    first_order = Slope(x=xs, y=("e0", "e1", "e2"), lo=0.8, hi=1.2)
    assert evaluate_claim(claim(ok), [m]).status == "holds"
    assert evaluate_claim(claim(first_order), [m]).status == "fails"


def test_allof_combines():
    m = [{"a": 1.0, "b": 0.0}]
    both = AllOf((Band("a", lo=0.5), Order("a", ">", "b")))
    one_fails = AllOf((Band("a", lo=2.0), Order("a", ">", "b")))
    one_missing = AllOf((Band("a", lo=0.5), Band("zzz", lo=0.0)))
    assert evaluate_claim(claim(both), m).status == "holds"
    v = evaluate_claim(claim(one_fails), m)
    assert v.status == "fails" and "a ≥ 2" in v.reason
    assert evaluate_claim(claim(one_missing), m).status == "inconclusive"


def test_not_checkable_and_validation():
    c = Claim(id="C9", statement="s", source="t", paper_value="v", check=None, not_checkable="needs a GPU")
    v = evaluate_claim(c, [{}])
    assert v.status == "not_checkable" and v.reason == "needs a GPU"
    with pytest.raises(ValueError, match="not_checkable"):
        Claim(id="C9", statement="s", source="t", paper_value="v", check=None)
    with pytest.raises(ValueError, match="over_seeds"):
        claim(Band("x", lo=0), over="max")
    with pytest.raises(ValueError):
        Band("x")
    with pytest.raises(ValueError):
        Order("a", "=>", "b")
    with pytest.raises(ValueError, match="duplicate"):
        evaluate([c, c], [{}])


def test_aggregate_and_counts():
    agg = aggregate_metrics([{"x": 1.0}, {"x": 3.0}, {"x": 2.0, "y": 1.0}])
    assert agg["x"]["mean"] == pytest.approx(2.0) and agg["x"]["sd"] == pytest.approx(1.0)
    assert math.isnan(agg["y"]["mean"])  # a seed lacks y: no mean pretending it has n=3
    vs = evaluate([claim(Band("x", lo=0))], [{"x": 1.0}])
    assert count_statuses(vs)["holds"] == 1
    assert vs[0].to_dict()["status"] == "holds"


def test_measured_text_names_the_statistic():
    v = evaluate_claim(claim(Order("lo", ">", 0.0)), [{"lo": 260.0}])
    assert v.measured == "lo = 260 (n=1)" and v.expected == "lo > 0"
    v = evaluate_claim(claim(Order("a", ">", "b")), [{"a": 2.0, "b": 1.5}, {"a": 2.0, "b": 1.0}])
    assert v.measured.startswith("a − b = 0.75 ± ")


# ---------------------------------------------------------------------------------------------
# engine v2: preconditions, AtLeast, median, the scipy t quantile
# ---------------------------------------------------------------------------------------------


def test_t_quantile_is_scipys_and_the_interval_uses_it():
    from livepapers.core.stats import t_quantile

    assert t_quantile(3) == pytest.approx(3.182446, abs=1e-6)
    assert t_quantile(40) == pytest.approx(2.021075, abs=1e-6)  # the old table said 1.96 past 30
    with pytest.raises(ValueError):
        t_quantile(0)
    # mean 1.0, sd 0.1, n = 4: half width t(3) * 0.1 / 2 = 0.159; lo = 0.841
    vals = [{"x": v} for v in (0.9, 1.0, 1.1, 1.0 + 0.0)]
    sd = float(np.std([0.9, 1.0, 1.1, 1.0], ddof=1))
    lo = 1.0 - t_quantile(3) * sd / 2
    assert evaluate_claim(claim(Band("x", lo=lo - 1e-9)), vals).status == "holds"
    assert evaluate_claim(claim(Band("x", lo=lo + 1e-6)), vals).status == "inconclusive"


def _pre_claim(**kw):
    return Claim(id="C7", statement="s", source="t", paper_value="v", check=Order("acc", ">", "base"),
                 requires=(Band("teacher_acc", lo=0.70),), **kw)


def test_precondition_met_judges_the_claim():
    seeds = [{"acc": 0.9, "base": 0.5, "teacher_acc": 0.8 + 0.01 * i} for i in range(4)]
    v = evaluate_claim(_pre_claim(), seeds)
    assert v.status == "holds"
    assert v.preconditions[0]["status"] == "holds" and "teacher_acc" in v.preconditions[0]["measured"]


def test_precondition_not_met_is_inconclusive_with_the_reason_and_the_measurement():
    seeds = [{"acc": 0.3, "base": 0.5, "teacher_acc": 0.28 + 0.001 * i} for i in range(4)]
    v = evaluate_claim(_pre_claim(), seeds)
    assert v.status == "inconclusive"
    assert "precondition not met: teacher_acc ≥ 0.7" in v.reason and "0.2815" in v.reason
    assert "own check alone: fails" in v.reason  # what the claim itself measured is still said
    assert v.measured.startswith("acc − base = -0.2")
    assert v.preconditions[0]["status"] == "fails"


def test_precondition_missing_metric_is_inconclusive_naming_it():
    v = evaluate_claim(_pre_claim(), [{"acc": 0.9, "base": 0.5}] * 3)
    assert v.status == "inconclusive"
    assert "precondition not established" in v.reason and "teacher_acc" in v.reason


def test_precondition_uses_the_claims_seed_rule():
    # every seed must meet it under "every": one seed below 0.7 leaves it undecided -> inconclusive
    seeds = [{"acc": 0.9, "base": 0.5, "teacher_acc": t} for t in (0.8, 0.8, 0.8, 0.6)]
    assert evaluate_claim(_pre_claim(over_seeds="every"), seeds).status == "inconclusive"
    assert evaluate_claim(_pre_claim(over_seeds=AtLeast(3)), seeds).status == "holds"


def test_own_check_cannot_be_a_precondition():
    with pytest.raises(ValueError, match="own check"):
        Claim(id="C8", statement="s", source="t", paper_value="v", check=Band("x", lo=1.0),
              requires=(Band("x", lo=1.0),))


def test_at_least_k_counts_seeds():
    c = claim(Band("x", lo=1.0), over=AtLeast(2))
    assert evaluate_claim(c, [{"x": 2}, {"x": 2}, {"x": 0}]).status == "holds"
    assert evaluate_claim(c, [{"x": 2}, {"x": 0}, {"x": 0}]).status == "fails"
    # one seed undecided (missing): 2 of 3 could still pass -> inconclusive; 0 passing + 1 undecided -> fails
    assert evaluate_claim(c, [{"x": 2}, {}, {"x": 0}]).status == "inconclusive"
    assert evaluate_claim(c, [{"x": 0}, {}, {"x": 0}]).status == "fails"
    v = evaluate_claim(claim(Band("x", lo=1.0), over=AtLeast(3)), [{"x": 2}, {"x": 2}])
    assert v.status == "inconclusive" and "3 needed" in v.reason
    with pytest.raises(ValueError):
        AtLeast(0)


def test_median_rule_ignores_one_outlier_seed():
    seeds = [{"x": v} for v in (1.2, 1.3, 1.25, -50.0)]
    assert evaluate_claim(claim(Band("x", lo=1.0), over="median"), seeds).status == "holds"
    assert evaluate_claim(claim(Band("x", lo=1.0), over="mean"), seeds).status != "holds"


def test_measured_claims_are_judged_over_repeats_and_mixing_is_an_error():
    c1 = claim(Band("speed", lo=1.5), over="every")
    seeds = [{"acc": 1.0}] * 4
    (v,) = evaluate([c1], seeds, measured=[{"speed": 2.0}, {"speed": 2.1}])
    assert v.status == "holds" and v.basis == "repeats" and v.n_seeds == 2
    mixed = Claim(id="C2", statement="s", source="t", paper_value="v", check=Order("speed", ">", "acc"))
    with pytest.raises(ValueError, match="mixes"):
        evaluate([mixed], seeds, measured=[{"speed": 2.0}])


def test_pooled_sd_and_slope_helpers():
    from livepapers.core.stats import fit_loglog_slope, pooled_sd

    assert pooled_sd([[1.0, 3.0], [10.0, 12.0, 14.0]]) == pytest.approx(math.sqrt((2 + 8) / 3))
    assert fit_loglog_slope([1, 2, 4], [3, 12, 48]) == pytest.approx(2.0)


def test_max_min_or_nan_keep_a_nan_that_pythons_max_drops():
    from livepapers.core.stats import max_or_nan, min_or_nan

    nan = float("nan")
    assert max(1.0, nan) == 1.0  # the silent pass this guards against
    assert math.isnan(max_or_nan(1.0, nan)) and math.isnan(min_or_nan([2.0, nan], 1.0))
    assert max_or_nan(1.0, [3.0, 2.0]) == 3.0 and min_or_nan(x for x in (4.0, 2.0)) == 2.0
    with pytest.raises(ValueError):
        max_or_nan([])


def test_two_sided_band_with_a_wide_interval_is_inconclusive_not_fails():
    # mean 0.8 of [0.2, 1.4]: the interval covers the whole band [0.9, 1.1], so it cannot be said to fail
    v = evaluate_claim(claim(Band("x", lo=0.9, hi=1.1)), [{"x": 0.2}, {"x": 1.4}])
    assert v.status == "inconclusive"
    # wholly outside on either side still fails
    assert evaluate_claim(claim(Band("x", lo=0.9, hi=1.1)), [{"x": 2.0}, {"x": 2.1}]).status == "fails"
    assert evaluate_claim(claim(Band("x", lo=0.9, hi=1.1)), [{"x": 0.1}, {"x": 0.2}]).status == "fails"


def test_at_least_counts_whole_seeds_with_their_preconditions():
    c = Claim(id="C7", statement="s", source="t", paper_value="v", check=Order("acc", ">", "base"),
              requires=(Band("teacher_acc", lo=0.7),), over_seeds=AtLeast(2))
    # seeds 0-1: teacher fine, claim fails; seeds 2-3: claim passes, teacher did not learn -> not a holds
    seeds = [{"acc": 0.1, "base": 0.5, "teacher_acc": 0.9}] * 2 + [{"acc": 0.9, "base": 0.5, "teacher_acc": 0.2}] * 2
    v = evaluate_claim(c, seeds)
    assert v.status == "inconclusive" and "precondition not met on 2 of 4 seeds" in v.reason
    seeds[0] = {"acc": 0.9, "base": 0.5, "teacher_acc": 0.9}
    seeds[2] = {"acc": 0.9, "base": 0.5, "teacher_acc": 0.9}
    assert evaluate_claim(c, seeds).status == "holds"
    # three seeds fail the claim with the teacher fine: 2 can no longer pass -> fails
    bad = [{"acc": 0.1, "base": 0.5, "teacher_acc": 0.9}] * 3 + [{"acc": 0.9, "base": 0.5, "teacher_acc": 0.9}]
    assert evaluate_claim(c, bad).status == "fails"


def test_at_least_counts_every_part_of_an_all_of_on_the_same_seed():
    c = claim(AllOf((Band("a", lo=1.0), Band("b", lo=1.0))), over=AtLeast(2))
    split = [{"a": 2, "b": 0}, {"a": 2, "b": 0}, {"a": 0, "b": 2}, {"a": 0, "b": 2}]
    assert evaluate_claim(c, split).status == "fails"  # no seed passes both
    both = [{"a": 2, "b": 2}, {"a": 2, "b": 2}, {"a": 0, "b": 2}, {"a": 0, "b": 2}]
    assert evaluate_claim(c, both).status == "holds"


def test_a_part_of_the_claims_own_check_cannot_be_a_precondition():
    a, b = Band("a", lo=1.0), Band("b", lo=1.0)
    with pytest.raises(ValueError, match="part of it"):
        Claim(id="C8", statement="s", source="t", paper_value="v", check=AllOf((a, b)), requires=(a,))


# ---- AnyOf: "A or B", each alternative judged on its own with the seed rule ------------------------------------

A_OR_B = AnyOf((Band("a", lo=1.0), Band("b", lo=1.0)))


def test_any_of_is_not_a_per_seed_max_alternating_seeds_do_not_make_it_hold():
    # the reviewer's counter-example: A/thr = (1.8, 0, 1.8, 0), B/thr = (0, 1.8, 0, 1.8): max per seed is 1.8 on
    # every seed, yet neither arm passes on its seed mean (0.9 ± a wide interval)
    per_seed = [{"a": 1.8, "b": 0.0}, {"a": 0.0, "b": 1.8}, {"a": 1.8, "b": 0.0}, {"a": 0.0, "b": 1.8}]
    assert evaluate_claim(claim(Band("score", lo=1.0)),
                          [{"score": max(m["a"], m["b"])} for m in per_seed]).status == "holds"  # the old trick
    v = evaluate_claim(claim(A_OR_B), per_seed)
    assert v.status != "holds"
    assert v.status == "inconclusive" and "straddles" in v.reason
    # the same alternation far below the threshold fails (both arms' means fail)
    low = [{"a": 0.3, "b": 0.0}, {"a": 0.0, "b": 0.3}, {"a": 0.3, "b": 0.0}, {"a": 0.0, "b": 0.3}]
    low_v = evaluate_claim(claim(A_OR_B), low)
    assert low_v.status == "fails" and "every alternative fails" in low_v.reason
    # per seed "every": A passes on two seeds only, B on the two others -> neither arm holds
    assert evaluate_claim(claim(A_OR_B, over="every"), per_seed).status == "inconclusive"


def test_any_of_holds_when_one_alternative_holds_and_the_other_fails():
    per_seed = [{"a": 2.0 + 0.1 * i, "b": 0.1 * i} for i in range(4)]
    v = evaluate_claim(claim(A_OR_B), per_seed)
    assert v.status == "holds" and "passes: a ≥ 1" in v.reason and "fails: b ≥ 1" in v.reason
    assert v.expected == "a ≥ 1 or b ≥ 1"
    assert evaluate_claim(claim(AnyOf((Band("b", lo=1.0), Band("a", lo=1.0)))), per_seed).status == "holds"


def test_any_of_fails_when_every_alternative_fails():
    per_seed = [{"a": 0.1 * i, "b": 0.2 + 0.1 * i} for i in range(4)]
    assert evaluate_claim(claim(A_OR_B), per_seed).status == "fails"


def test_any_of_is_inconclusive_when_one_alternative_is_inconclusive_and_the_other_fails():
    straddles = [{"a": v, "b": 0.0} for v in (0.5, 1.5, 0.7, 1.4)]
    assert evaluate_claim(claim(A_OR_B), straddles).status == "inconclusive"
    missing = [{"a": 0.0}, {"a": 0.1}]  # b missing: undecided, a fails
    v = evaluate_claim(claim(A_OR_B), missing)
    assert v.status == "inconclusive" and "'b' missing" in v.reason
    # ... but one alternative holding is enough even if the other is undecided
    assert evaluate_claim(claim(A_OR_B), [{"a": 2.0}, {"a": 2.1}]).status == "holds"


def test_any_of_and_all_of_nest_both_ways():
    x = Band("x", lo=0.0)
    nested = AllOf((x, A_OR_B))
    assert nested.describe() == "x ≥ 0 and (a ≥ 1 or b ≥ 1)"
    assert nested.metrics == ("x", "a", "b")
    ok = [{"x": 1.0, "a": 2.0, "b": 0.0}, {"x": 1.1, "a": 2.1, "b": 0.1}]
    assert evaluate_claim(claim(nested), ok).status == "holds"
    assert evaluate_claim(claim(nested), [dict(m, x=-1.0) for m in ok]).status == "fails"
    outer = AnyOf((AllOf((x, Band("a", lo=1.0))), Band("b", lo=1.0)))
    assert outer.describe() == "(x ≥ 0 and a ≥ 1) or b ≥ 1"
    assert evaluate_claim(claim(outer), [dict(m, x=-1.0) for m in ok]).status == "fails"
    assert evaluate_claim(claim(outer), [dict(m, x=-1.0, b=3.0) for m in ok]).status == "holds"
    with pytest.raises(ValueError, match="non-empty"):
        AnyOf(())
    with pytest.raises(ValueError, match="members must be"):
        AnyOf(("a",))


def test_at_least_counts_each_alternative_of_an_any_of_on_its_own():
    c = claim(A_OR_B, over=AtLeast(3))
    # A passes on seeds 0, 2; B on 1, 3: every seed passes "A or B", but no alternative reaches 3 seeds
    split = [{"a": 2, "b": 0}, {"a": 0, "b": 2}, {"a": 2, "b": 0}, {"a": 0, "b": 2}]
    assert evaluate_claim(c, split).status == "fails"
    three = [{"a": 2, "b": 0}, {"a": 2, "b": 2}, {"a": 2, "b": 0}, {"a": 0, "b": 2}]
    assert evaluate_claim(c, three).status == "holds"
    # AllOf(x, AnyOf(a, b)) = (x and a) or (x and b), each counted on whole seeds
    xab = claim(AllOf((Band("x", lo=1.0), A_OR_B)), over=AtLeast(2))
    seeds_ = [{"x": 2, "a": 2, "b": 0}, {"x": 0, "a": 2, "b": 0}, {"x": 2, "a": 0, "b": 2}, {"x": 0, "a": 0, "b": 2}]
    assert evaluate_claim(xab, seeds_).status == "fails"
    seeds_[1]["x"] = 2
    assert evaluate_claim(xab, seeds_).status == "holds"


def test_any_of_members_cannot_be_preconditions_and_preconditions_may_be_any_of():
    a, b = Band("a", lo=1.0), Band("b", lo=1.0)
    with pytest.raises(ValueError, match="part of it"):
        Claim(id="C9", statement="s", source="t", paper_value="v", check=AllOf((Band("x", lo=0), AnyOf((a, b)))),
              requires=(a,))
    c = Claim(id="C9", statement="s", source="t", paper_value="v", check=Band("x", lo=0),
              requires=(AnyOf((a, b)),))
    assert evaluate_claim(c, [{"x": 1, "a": 0, "b": 2}, {"x": 1, "a": 0, "b": 2.1}]).status == "holds"
    v = evaluate_claim(c, [{"x": 1, "a": 0, "b": 0}, {"x": 1, "a": 0.1, "b": 0}])
    assert v.status == "inconclusive" and "precondition not met" in v.reason
    assert c.all_metrics == ("x", "a", "b")


def test_summary_sd_is_nan_when_a_seed_lacks_the_metric():
    s = aggregate_metrics([{"x": 1.0}, {"x": float("nan")}, {"x": 3.0}])["x"]
    assert math.isnan(s["mean"]) and math.isnan(s["sd"])
