"""The paper's headline claims with the spec's pre-registered checks (papers/counterfactual-invariance.md,
"Checks"), per causal structure: a = anti-causal, b = causal (confounded). ``run`` returns the metrics; these decide.

Sanity preconditions (issue 22), per structure: (1) the generator is right on the run's own data — the exact
content-only Bayes accuracy on the in-distribution test set within ±0.03 of its population value (0.8386 anti-causal,
0.736 causal) — for C1–C4; (2) ERM learned — its in-distribution test accuracy ≥ the train-distribution Bayes
accuracy on the same test set − 3 points — for C1–C3.

C1's accuracy condition includes the spec's λ* fallback: "if no λ qualifies, λ* = 1 and C1's accuracy condition is
reported as failing" — ``<s>/lambda_star_qualified ≥ 1`` is a part of C1's own check (the claim's condition, not a
precondition). C2's "A or B" is an ``AnyOf`` of the two arms, each the spec's check on its own metrics judged on the
seed means (t-interval) like every other check, then combined (holds if one arm holds, fails if both fail); the
per-arm statistics are also reported as ``c2/acc_gap`` and ``c2/cf_ratio``. C4's p-values come from prepare (one
sample per seed); every seed reports the same median / max, so the seed rule judges that value.
"""

from __future__ import annotations

from livepapers.core.claims import AllOf, AnyOf, Band, Claim, Metric, Order, Ratio, profiles_where

from .data import STRUCTURES
from .experiment import PROFILES, Config, fmt, matched, mismatched

CONTENT_BAYES = {"anticausal": 0.8386, "causal": 0.736}
TRAIN_BAYES = {"anticausal": 0.931, "causal": 0.834}
SUFFIX = {"anticausal": "a", "causal": "b"}
NAMES = {"anticausal": "anti-causal", "causal": "causal (confounded)"}
_A_IN = fmt(Config().train_association)
_A_LO = fmt(min(Config().test_associations))


def _gates(s: str, erm: bool = True) -> tuple:
    g = (Band(f"{s}/bayes_content/acc@{_A_IN}", CONTENT_BAYES[s] - 0.03, CONTENT_BAYES[s] + 0.03),)
    return g + ((Band(f"{s}/erm/gap_bayes_full", lo=-0.03),) if erm else ())


# ------------------------------------------------------------------------------------------------
# METRICS
# ------------------------------------------------------------------------------------------------

_EVAL = {
    "val_acc": ("validation accuracy (training association)", "", True),
    "acc_range": ("max − min accuracy over the test associations", "", False),
    "cf_change": ("stress test: mean |p(x(1)) − p(x(0))| on the in-distribution test set", "", False),
    "flip_rate": ("stress test: fraction of predictions that flip with Z", "", False),
}
_TRAINED = {
    "gap_content": ("in-distribution test accuracy − content-only Bayes accuracy (same sample)", "", True),
    "train_ce": ("training cross-entropy, last epoch mean", "", False),
    "penalty": ("λ·R, last epoch mean", "", False),
}


def _eval_metrics(prefix: str, what: str, trained: bool, profiles: tuple[str, ...] | None = None) -> dict:
    out = {}
    for a in Config().test_associations:
        out[f"{prefix}/acc@{fmt(a)}"] = Metric(f"{what}: test accuracy at association {fmt(a)}", "", True,
                                               profiles=profiles)
    for k, (doc, unit, hib) in (_EVAL | (_TRAINED if trained else {})).items():
        out[f"{prefix}/{k}"] = Metric(f"{what}: {doc}", unit, hib, profiles=profiles)
    return out


def _build_metrics() -> dict[str, Metric]:
    out: dict[str, Metric] = {
        "time/prepare_s": Metric("wall time of prepare (λ grid of the matched penalty, C4 tests)", "s", None,
                                 machine=True),
        "time/run_s": Metric("wall time of one seed's run", "s", None, machine=True),
    }
    lams = sorted({lam for p in PROFILES.values() for lam in p.config.lambdas})
    for s in STRUCTURES:
        n = NAMES[s]
        out[f"{s}/lambda_star"] = Metric(f"{n}: λ* (largest λ within 3 points of the content Bayes on validation)")
        out[f"{s}/lambda_star_qualified"] = Metric(f"{n}: 1 if some λ met the λ* rule, else 0 (λ* = 1)", "", True)
        out |= _eval_metrics(f"{s}/bayes_content", f"{n}, content-only Bayes", False)
        out |= _eval_metrics(f"{s}/bayes_full", f"{n}, train-distribution Bayes", False)
        out |= _eval_metrics(f"{s}/erm", f"{n}, ERM", True)
        out[f"{s}/erm/gap_bayes_full"] = Metric(f"{n}: ERM in-distribution test accuracy − train-distribution "
                                                "Bayes accuracy (same sample)", "", True)
        for mode in ("marginal", "conditional"):
            tag = "matched" if mode == matched(s) else "mismatched"
            out |= _eval_metrics(f"{s}/{mode}", f"{n}, {mode} MMD at λ* ({tag})", True)
            for lam in lams:
                prof = profiles_where(PROFILES, lambda c, lam=lam: lam in c.lambdas)
                out |= _eval_metrics(f"{s}/{mode}_lam{fmt(lam)}", f"{n}, {mode} MMD at λ={fmt(lam)}", True, prof)
        if s == "anticausal":
            rw = profiles_where(PROFILES, lambda c: c.reweight_diagnostic and "anticausal" in c.structures)
            out |= _eval_metrics(f"{s}/reweighted", f"{n}, conditional MMD + reweighting at λ* (diagnostic)", True,
                                 rw)
            for lam in lams:
                prof = profiles_where(PROFILES, lambda c, lam=lam: lam in c.lambdas and c.reweight_diagnostic)
                out |= _eval_metrics(f"{s}/reweighted_lam{fmt(lam)}",
                                     f"{n}, conditional MMD + reweighting at λ={fmt(lam)} (diagnostic)", True, prof)
        out[f"{s}/c2/acc_gap"] = Metric(
            f"{n}: accuracy of the matched − the mismatched penalty at λ* "
            + ("(in-distribution)" if s == "anticausal" else f"(association {_A_LO})"), "", None)
        out[f"{s}/c2/cf_ratio"] = Metric(f"{n}: CF-change of the mismatched / the matched penalty at λ*", "", None)
        for t, w in (("marg", "marginal"), ("cond", "conditional")):
            for q in ("median", "min", "max"):
                out[f"{s}/c4/{t}_p_{q}"] = Metric(f"{n}: {q} over seeds of the {w} MMD permutation-test p-value of "
                                                  "the content-only Bayes logit vs Z", "", None)
            out[f"{s}/c4/{t}_stat_median"] = Metric(f"{n}: median over seeds of the {w} MMD² statistic", "", None)
    return out


METRICS: dict[str, Metric] = _build_metrics()


# ------------------------------------------------------------------------------------------------
# CLAIMS
# ------------------------------------------------------------------------------------------------

def _c1(s: str) -> Claim:
    ma = matched(s)
    return Claim(
        id=f"C1{SUFFIX[s]}",
        statement=f"({NAMES[s]}) ERM fails the stress test (its prediction moves when only Z changes), and the "
                  f"structure-matched {ma} MMD penalty at λ* cuts the counterfactual change to ≤ 0.35× ERM's at a "
                  "small in-distribution accuracy cost (≥ content-only Bayes − 3 points).",
        source="§5, figure of stress-test outcome vs regularisation",
        paper_value="qualitative (figures not retrievable offline); spec: price of invariance ≈ "
                    + ("9" if s == "anticausal" else "10") + " points",
        check=AllOf((Ratio(f"{s}/{ma}/cf_change", f"{s}/erm/cf_change", hi=0.35),
                     Band(f"{s}/erm/cf_change", lo=0.10),
                     Band(f"{s}/{ma}/gap_content", lo=-0.03),
                     Band(f"{s}/lambda_star_qualified", lo=1.0))),  # spec: no λ qualifies -> C1's accuracy fails
        requires=_gates(s),
    )


def _c2(s: str) -> Claim:
    ma, mi = matched(s), mismatched(s)
    more_cf = Ratio(f"{s}/{mi}/cf_change", f"{s}/{ma}/cf_change", lo=2.0)
    if s == "anticausal":
        st = ("the mismatched marginal penalty at λ* loses ≥ 2 points of in-distribution accuracy against the "
              "conditional one, or keeps ≥ 2× its CF-change")
        arms = (Order(f"{s}/{mi}/acc@{_A_IN}", "<=", f"{s}/{ma}/acc@{_A_IN}", margin=0.02), more_cf)
    else:
        st = ("the mismatched conditional penalty at λ* keeps ≥ 2× the marginal one's CF-change, or loses ≥ 3 "
              f"points against it at the flipped association {_A_LO}")
        arms = (more_cf, Order(f"{s}/{mi}/acc@{_A_LO}", "<=", f"{s}/{ma}/acc@{_A_LO}", margin=0.03))
    return Claim(
        id=f"C2{SUFFIX[s]}",
        statement=f"({NAMES[s]}) The right penalty depends on the causal structure ({ma} here): {st}.",
        source="§3 Theorem 3.2, §5",
        paper_value="qualitative: the wrong signature gives no invariance and/or lost accuracy",
        check=AnyOf(arms),
        requires=_gates(s),
    )


def _c3(s: str) -> Claim:
    ma = matched(s)
    return Claim(
        id=f"C3{SUFFIX[s]}",
        statement=f"({NAMES[s]}) The {ma}-penalised model is robust to shifts of the Y–Z association: its accuracy "
                  "range over the test associations is ≤ 5 points, ERM's ≥ 15 points, and at the flipped association "
                  f"{_A_LO} it beats ERM by ≥ 10 points.",
        source="§4 (domain-shift guarantees), §5 OOD figure",
        paper_value="qualitative; spec's Bayes references: ERM range 40 / 28 points, flipped gap 31 / 18 points",
        check=AllOf((Band(f"{s}/{ma}/acc_range", hi=0.05), Band(f"{s}/erm/acc_range", lo=0.15),
                     Order(f"{s}/{ma}/acc@{_A_LO}", ">=", f"{s}/erm/acc@{_A_LO}", margin=0.10))),
        requires=_gates(s),
    )


def _c4(s: str) -> Claim:
    null, alt = ("cond", "marg") if s == "anticausal" else ("marg", "cond")
    words = {"cond": "f(X) ⊥ Z | Y", "marg": "f(X) ⊥ Z"}
    return Claim(
        id=f"C4{SUFFIX[s]}",
        statement=f"({NAMES[s]}) Theorem 3.2's signature holds for the CI content-only Bayes predictor "
                  f"({words[null]}: median permutation p > 0.05 over seeds) and the other one fails "
                  f"({words[alt]} rejected, p < 0.01 on every seed).",
        source="§3, Theorem 3.2",
        paper_value="theorem (signatures are necessary conditions of CI)",
        check=AllOf((Band(f"{s}/c4/{null}_p_median", lo=0.05), Band(f"{s}/c4/{alt}_p_max", hi=0.01))),
        requires=_gates(s, erm=False),
    )


CLAIMS: tuple[Claim, ...] = tuple(f(s) for f in (_c1, _c2, _c3, _c4) for s in STRUCTURES)

LABELS: dict[str, str] = {
    "C1a": "Stress test, anti-causal", "C1b": "Stress test, causal",
    "C2a": "Right penalty, anti-causal", "C2b": "Right penalty, causal",
    "C3a": "OOD robustness, anti-causal", "C3b": "OOD robustness, causal",
    "C4a": "CI signature, anti-causal", "C4b": "CI signature, causal",
}
