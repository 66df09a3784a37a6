"""Pre-registered checks of the thesis' headline claims (R1–R5 of the spec), written before the first run, and
METRICS: every metric ``run()`` returns, declared once."""

from __future__ import annotations

from collections.abc import Callable

from livepapers.core.claims import AllOf, Band, Claim, Metric, profiles_where

from .experiment import MONK_PROBLEMS, N15_SIGMOIDS, PARTS, PROFILES, Config, render_key
from .sorting import MONOTONE, RANKING_METRICS, SIGMOIDS, WORST_SWAP_ERROR


def _profiles(produced: Callable[[Config], bool]) -> tuple[str, ...] | None:
    """The profiles whose config produces a metric (None: every profile)."""
    return profiles_where(PROFILES, produced)


RANKING = {"em": "exact match (whole ranking right)", "ew": "element-wise rank accuracy",
           "em5": "exact match of the first 5 items' ranking"}
# R5: (offset, distribution, T-conorm) of every profile, and the near offsets whose minimum run() reports
_RENDER = {render_key(D, d, c): (D, d, c) for prof in PROFILES.values() for D in prof.config.render.offsets
           for d in prof.config.render.distributions for c in prof.config.render.t_conorms}
_NEAR = {render_key(min(prof.config.render.offsets), "min"): min(prof.config.render.offsets)
         for prof in PROFILES.values()}

METRICS: dict[str, Metric] = {
    # R2, analytic in float64
    **{f"jac_min_{d}": Metric(f"smallest Jacobian entry of the relaxed sort with the {d} sigmoid", "", None)
       for d in SIGMOIDS},
    "jac_min_monotone": Metric(f"smallest Jacobian entry over the monotone sigmoids ({', '.join(MONOTONE)})", "",
                               True),
    "jac_min_nonmonotone_max": Metric("largest of the non-monotone sigmoids' smallest Jacobian entries", "", False),
    "perm_stochastic_err": Metric("largest deviation of P's row and column sums from 1", "", False),
    "perm_xp_err": Metric("largest |x P − sorted x|", "", False),
    **{f"swap_err_sup_{d}": Metric(f"sup of β × per-swap error with the {d} sigmoid", "", None)
       for d in WORST_SWAP_ERROR},
    "swap_err_formula_dev": Metric("largest deviation of a 2-wire sort's error from |x| f(−β|x|)", "", False),
    "swap_err_bound_rel_dev": Metric("largest relative deviation of the sup errors from the known worst cases", "",
                                     False),
    # R1, R3: ranking supervision on 4-digit load_digits
    **{f"sort_n5_{k}": Metric(f"test {RANKING[k]}, n = 5, Cauchy", "", True) for k in RANKING_METRICS},
    **{f"sort_n15_{k}_{s}": Metric(f"test {RANKING[k]}, n = 15, {s}", "", True)
       for s in N15_SIGMOIDS for k in RANKING_METRICS},
    "sort_n15_em5_gap": Metric("test EM5 of Cauchy minus logistic at n = 15 (paired)", "", True),
    # R4: logic gate networks, discretised and compiled
    "dlgn_digits_tau": Metric("GroupSum temperature τ chosen on validation (digits)", "", None),
    "dlgn_digits_acc_train_mode": Metric("digits test accuracy of the soft (train-mode) logic net", "", True),
    "dlgn_digits_acc_discrete": Metric("digits test accuracy of the discretised logic net", "", True),
    "dlgn_digits_discretization_gap": Metric("|soft − discretised| digits test accuracy", "", False),
    "compiled_backend_is_c": Metric("1 if the compiled net runs the C kernel (0: numpy fallback)", "", None),
    "compiled_gates": Metric("gates of the compiled digits net", "", None),
    "compiled_mismatch": Metric("test rows where a compiled backend differs from the PyTorch eval scores", "", False),
    "compiled_gates_pruned": Metric("gates left after pruning unused ones", "", None),
    "dlgn_digits_train_acc_train_mode": Metric("digits training-split accuracy of the soft (train-mode) logic net",
                                               "", True),
    "compiled_word_bits": Metric("word width of the straight-line code chosen for this CPU (64 or 256)", "bits",
                                 None, machine=True),
    **{k: Metric(doc.format(p=p), "", hib, profiles=_profiles(lambda cfg, p=p: p in cfg.logic.monk_problems))
       for p in MONK_PROBLEMS for k, doc, hib in (
           (f"dlgn_monk{p}_depth", "layers of the MONK-{p} net chosen on validation", None),
           (f"dlgn_monk{p}_width", "gates per layer of the MONK-{p} net chosen on validation", None),
           (f"dlgn_monk{p}_tau", "GroupSum temperature τ chosen on validation (MONK-{p})", None),
           (f"dlgn_monk{p}_val_acc", "validation accuracy (discretised) of the chosen MONK-{p} candidate", True),
           (f"dlgn_monk{p}_train_acc_train_mode", "MONK-{p} training-split accuracy of the soft logic net", True),
           (f"dlgn_monk{p}_acc_discrete", "MONK-{p} test accuracy of the discretised logic net", True),
           (f"dlgn_monk{p}_acc_train_mode", "MONK-{p} test accuracy of the soft logic net", True))},
    # R5: GenDR
    "render_hard_grad_abs_max": Metric("largest |gradient| of the hard rasteriser's IoU loss w.r.t. the vertices",
                                       "", None),
    **{k: Metric(f"fraction of shapes recovered (IoU ≥ success_iou) from offset {D} with {d}"
                 + ("" if c == "probabilistic" else f", {c} T-conorm"), "", None if d == "uniform" else True,
                 profiles=_profiles(lambda cfg, D=D, d=d, c=c: D in cfg.render.offsets
                                    and d in cfg.render.distributions and c in cfg.render.t_conorms))
       for k, (D, d, c) in _RENDER.items()},
    **{k: Metric(f"smallest fraction of shapes recovered from offset {D} over the distributions", "", True,
                 profiles=_profiles(lambda cfg, D=D: min(cfg.render.offsets) == D))
       for k, D in _NEAR.items()},
    "softras_equiv_err": Metric("largest |GenDR(logistic, d², probabilistic) − SoftRas|", "", False),
    # machine: timings and throughput
    "compile_time_s": Metric("wall seconds to compile the straight-line C code (0: found in the cache)", "s",
                             False, machine=True),
    "compiled_samples_per_s": Metric("compiled throughput on pre-packed inputs (straight-line C, one core)",
                                     "samples/s", True, machine=True),
    "compiled_generic_samples_per_s": Metric("throughput of the generic C kernel (the baseline) on the same inputs",
                                             "samples/s", True, machine=True),
    "compiled_samples_per_s_end_to_end": Metric("compiled throughput from Boolean inputs (packing included)",
                                                "samples/s", True, machine=True),
    "torch_eval_samples_per_s": Metric("PyTorch eval-mode throughput of the same net", "samples/s", True,
                                       machine=True),
    "time_logic_digits_s": Metric("CPU seconds of the digits logic net (selection and training)", "s", False,
                                  machine=True),
    "time_logic_compile_s": Metric("CPU seconds of the compiled-inference checks", "s", False, machine=True),
    "time_logic_monk_s": Metric("CPU seconds of the MONK logic nets", "s", False, machine=True),
    **{f"time_{p}_s": Metric(f"CPU seconds of the {p} part", "s", False, machine=True) for p in PARTS},
    "time_total_s": Metric("CPU seconds of all parts", "s", False, machine=True),
}

CLAIMS = (
    Claim(
        id="R1",
        statement="A relaxed odd-even sorting network (Cauchy, β=10) trains a digit scorer from ordering supervision "
                  "alone: on 4-digit load_digits sets of n=5, test exact-match ≥ 0.40 and element-wise ≥ 0.70 "
                  "(chance 1/120 and 0.2).",
        source="ICML'21, 4-digit MNIST table (odd-even)",
        paper_value="EM ≈ 77 / 55 / 37 / 27 / 11 % for n = 3 / 5 / 7 / 9 / 15 (approximate, MNIST)",
        check=AllOf((Band("sort_n5_em", lo=0.40), Band("sort_n5_ew", lo=0.70))),
        requires=(Band("sort_n5_ew", lo=0.5),),  # revision 2: the scorer learned
    ),
    Claim(
        id="R2",
        statement="Cauchy, reciprocal and optimal sigmoids make the relaxed sort monotone (every Jacobian entry "
                  "≥ −1e−6) while logistic, ART and Gaussian are not (some entry < −1e−3); P is doubly stochastic "
                  "and x @ P is the sorted output; the per-swap error is |x|·f(−β|x|) with the known worst cases.",
        source="ICLR'22, Theorems 1–2 and the sigmoid table",
        paper_value="monotone and error-bounded iff f' ∈ Θ(1/x²); optimal bound 1/(16β)",
        check=AllOf((
            Band("jac_min_monotone", lo=-1e-6),
            Band("jac_min_nonmonotone_max", hi=-1e-3),
            Band("perm_stochastic_err", hi=1e-6),
            Band("perm_xp_err", hi=1e-6),
            Band("swap_err_formula_dev", hi=1e-9),
            Band("swap_err_bound_rel_dev", hi=0.01),
        )),
        over_seeds="every",
    ),
    Claim(
        id="R3",
        statement="At n=15 a monotone sigmoid trains better: test EM5(Cauchy β=10) − EM5(logistic β=12.73, same "
                  "slope f'(0)) > 0, paired seeds.",
        source="ICLR'22, 4-digit MNIST / SVHN tables",
        paper_value="monotone sigmoids beat logistic / ART, more so for larger n",
        check=Band("sort_n15_em5_gap", lo=0.0),
        requires=(Band("sort_n15_ew_cauchy", lo=0.5), Band("sort_n15_ew_logistic", lo=0.5)),  # both scorers learned
    ),
    Claim(
        id="R4",
        statement="A discretised logic gate network keeps its accuracy (digits ≥ 0.90, |soft − discrete| ≤ 0.02; "
                  "MONK-1 ≥ 0.98, MONK-3 ≥ 0.93, architecture and τ chosen on validation) and its compiled "
                  "bit-parallel form is exact and runs ≥ 1M samples/s on one core (16K gates, pre-packed inputs, "
                  "C backend).",
        source="NeurIPS'22, Tables 1–3 and the inference-speed paragraph",
        paper_value="MNIST 97.69 % (48K gates); > 10⁶ images/s per core; discretisation costs little",
        check=AllOf((
            Band("dlgn_digits_acc_discrete", lo=0.90),
            Band("dlgn_digits_discretization_gap", hi=0.02),
            Band("dlgn_monk1_acc_discrete", lo=0.98),
            Band("dlgn_monk3_acc_discrete", lo=0.93),
            Band("compiled_mismatch", hi=0.0),
            Band("compiled_samples_per_s", lo=1e6),
        )),
        # revision 2: every selected net fits its training split (relaxed, train-mode accuracy)
        requires=(Band("dlgn_digits_train_acc_train_mode", lo=0.98), Band("dlgn_monk1_train_acc_train_mode", lo=0.98),
                  Band("dlgn_monk3_train_acc_train_mode", lo=0.98)),
    ),
    Claim(
        id="R5",
        statement="The hard rasteriser has exactly zero gradient; with the probabilistic sum (τ = 0.01, shapes of "
                  "radius 0.15, every start inside the frame), heavy-tailed Cauchy and reciprocal recover a pose from "
                  "0.6 NDC (60τ) away in ≥ 4/5 shapes while the finite-support uniform does in ≤ 1/5, all "
                  "distributions succeed from 0.1 away, and logistic on squared distance + probabilistic sum equals "
                  "SoftRas.",
        source="CVPR'22 (GenDR), §3 and the pose-optimisation experiments",
        paper_value="heavy tails give gradients far from the silhouette; SoftRas is a special case",
        check=AllOf((
            Band("render_hard_grad_abs_max", hi=0.0),
            Band(render_key(0.6, "cauchy"), lo=0.8),
            Band(render_key(0.6, "reciprocal"), lo=0.8),
            Band(render_key(0.6, "uniform"), hi=0.2),
            Band(render_key(0.1, "min"), lo=0.8),
            Band("softras_equiv_err", hi=1e-6),
        )),
        over_seeds="every",
    ),
    Claim(
        id="C3-scale",
        statement="Absolute MNIST / CIFAR-10 accuracies of large logic gate networks (48K–5.12M gates).",
        source="NeurIPS'22, Tables 1–2",
        paper_value="MNIST 97.69 % (48K), CIFAR-10 60.78 % (1.28M)",
        check=None,
        not_checkable="needs MNIST/CIFAR-10 (downloads) and GPU-scale training",
    ),
)
