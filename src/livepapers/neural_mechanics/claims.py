"""Headline claims of Neural Mechanics with the spec's pre-registered thresholds (written before any run).

Error metrics are medians over groups of max_k |pred_k - emp_k| / max_k |emp_k| (rescale: divided by
max_k (||theta_A1||^2 + ||theta_A2||^2)); across models the run reports the worst model (for C4's two-sided
eta-scaling band: both the smallest and the largest model value). C4's checks on the gradient-flow break are
the spec's Revision 2; they replace an earlier "gradient-flow error >= 1e-3", a level that was ours (taken from
batch-norm scale groups), not the paper's - see the README's History.
"""

from __future__ import annotations

from livepapers.core.claims import AllOf, Band, Claim

KINDS = ("translation", "scale", "rescale")
BROKEN = ("scale", "rescale")  # kinds whose conservation a finite learning rate breaks (R1, wd 0)

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="C1",
        statement="Every symmetry constrains the geometry: the gradient is orthogonal to the symmetry generator "
        "and the Hessian obeys H1_A = 0, Hθ_A = −g_A, H(θ_A1 − θ_A2) = g_A2 − g_A1, for any data and batch.",
        source="Sec. 4 (gradient/Hessian geometry; illustrated on VGG-16)",
        paper_value="exact identities",
        check=AllOf((
            Band("c1_max_grad_violation", hi=1e-10),
            Band("c1_max_hvp_violation", hi=1e-8),
        )),
        over_seeds="every",
    ),
    Claim(
        id="C2",
        statement="Under gradient flow the per-neuron quantities S_A, N_A, D_A are conserved: at fixed time their "
        "drift vanishes linearly as the step size goes to zero, and translation is conserved to round-off.",
        source="Sec. 4 (conservation laws, Noether-like)",
        paper_value="conserved in gradient flow",
        check=AllOf((
            Band("c2_slope_scale", lo=0.8, hi=1.2),
            Band("c2_slope_rescale", lo=0.8, hi=1.2),
            Band("c2_translation_drift", hi=1e-12),
        )),
    ),
    Claim(
        id="C3",
        statement="Weight decay turns conservation into exponential decay at rate λ (translation) or 2λ (scale, "
        "rescale); the finite-step rate is λ̃ = λ(1 + ηλ/2), measurably different from λ in float64.",
        source="Sec. 5 (weight decay)",
        paper_value="e^{−λt}, e^{−2λt} decay",
        check=AllOf((
            Band("c3_trans_end_err_modified", hi=1e-6),
            Band("c3_trans_end_err_plain", lo=1e-4, hi=1e-3),
            *(Band(f"c4_cont_err_R2_{k}", hi=1e-2) for k in KINDS),
        )),
    ),
    Claim(
        id="C4",
        statement="With a finite learning rate, modified gradient flow (the η∫e^{…}‖g_A‖² term) predicts the "
        "per-channel quantities with no fitted parameter, while the gradient-flow constant fails: conservation "
        "of N and D is broken far above round-off, by a drift the modified flow explains and that scales with η; "
        "the exact one-step recursions hold to round-off for every run.",
        source="Sec. 5 (finite learning rate); figures overlaying theory and per-channel VGG-16 curves",
        paper_value="theory curves overlay the empirical per-channel curves",
        check=AllOf((
            *(Band(f"c4_cont_err_R1_{k}", hi=1e-2) for k in KINDS),
            # spec Revision 2 (replaces "gradient-flow error >= 1e-3"), for scale and rescale groups of every model
            # in R1 (translation is conserved to round-off at wd 0): 1. the break is resolved above round-off,
            *(Band(f"c4_gf_exact_ratio_R1_{k}", lo=1e4) for k in BROKEN),
            # 2. the measured drift is the modified flow's, 3. it is first order in η (R1 vs R1h at η/2, same t;
            # both extremes over models), 4. gradient flow is >= 5x further off than the modified flow
            *(Band(f"c4_drift_err_R1_{k}", hi=1e-2) for k in BROKEN),
            *(Band(f"c4_gf_eta_ratio_R1_{k}_{side}", lo=1.6, hi=2.4) for k in BROKEN for side in ("min", "max")),
            *(Band(f"c4_gf_ratio_R1_{k}", lo=5.0) for k in BROKEN),
            *(Band(f"c4_exact_err_{r}_{k}", hi=1e-9) for r in ("R1", "R2", "R3", "R4", "R5") for k in KINDS),
        )),
    ),
    Claim(
        id="C5",
        statement="With momentum the quantities follow a driven, damped harmonic oscillator (under-, critically "
        "or over-damped by γ vs ω), and the kinetic forcing matters for scale and rescale.",
        source="Sec. 5 (momentum)",
        paper_value="theory matches experiment in each damping regime",
        check=AllOf((
            *(Band(f"c5_mom_err_{r}_{k}", hi=5e-2) for r in ("R3", "R4") for k in KINDS),
            *(Band(f"c5_homog_ratio_{r}_{k}", lo=2.0) for r in ("R3", "R4") for k in ("scale", "rescale")),
        )),
    ),
    Claim(
        id="C6",
        statement="The predictions hold for SGD at any batch size when the observed minibatch gradients are used: "
        "minibatch (R2) and full-batch (R5) runs meet the same accuracy.",
        source="Sec. 5 (stochasticity)",
        paper_value="formulas exact with per-step minibatch gradients",
        check=AllOf(tuple(Band(f"c4_cont_err_{r}_{k}", hi=1e-2) for r in ("R2", "R5") for k in KINDS)),
    ),
)
