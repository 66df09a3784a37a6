"""Pre-registered checks of the thesis' headline claims (R1–R5 of the spec), written before the first run."""

from livepapers.core.claims import AllOf, Band, Claim

CLAIMS = (
    Claim(
        id="R1",
        statement="A relaxed odd-even sorting network (Cauchy, β=10) trains a digit scorer from ordering supervision "
                  "alone: on 4-digit load_digits sets of n=5, test exact-match ≥ 0.40 and element-wise ≥ 0.70 "
                  "(chance 1/120 and 0.2).",
        source="ICML'21, 4-digit MNIST table (odd-even)",
        paper_value="EM ≈ 77 / 55 / 37 / 27 / 11 % for n = 3 / 5 / 7 / 9 / 15 (approximate, MNIST)",
        check=AllOf((Band("sort_n5_em", lo=0.40), Band("sort_n5_ew", lo=0.70))),
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
    ),
    Claim(
        id="R4",
        statement="A discretised logic gate network keeps its accuracy (digits ≥ 0.90, |soft − discrete| ≤ 0.02; "
                  "MONK-1 ≥ 0.98, MONK-3 ≥ 0.93) and its compiled bit-parallel form is exact and runs ≥ 1M "
                  "samples/s on one core (16K gates, pre-packed inputs, C backend).",
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
    ),
    Claim(
        id="R5",
        statement="The hard rasteriser has exactly zero gradient; with the probabilistic sum, heavy-tailed Cauchy and "
                  "reciprocal recover a pose from 1.2 NDC away in ≥ 4/5 shapes while the finite-support uniform "
                  "does in ≤ 1/5, all distributions succeed from 0.2 away, and logistic on squared distance + "
                  "probabilistic sum equals SoftRas.",
        source="CVPR'22 (GenDR), §3 and the pose-optimisation experiments",
        paper_value="heavy tails give gradients far from the silhouette; SoftRas is a special case",
        check=AllOf((
            Band("render_hard_grad_abs_max", hi=0.0),
            Band("render_d12_success_cauchy", lo=0.8),
            Band("render_d12_success_reciprocal", lo=0.8),
            Band("render_d12_success_uniform", hi=0.2),
            Band("render_d02_success_min", lo=0.8),
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
