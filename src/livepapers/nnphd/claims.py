"""NNPhD's headline claims with the checks and thresholds of the spec (papers/nnphd.md, "Offline small-scale
reproduction"), written before the first run. ``run`` returns the metrics; these checks decide.

C1 uses ``over_seeds="every"``: its ratios divide by order parameters that are ≈ 0 in one phase, so per-seed
ratios are heavy-tailed and a t-interval over 3 seeds would say nothing; every seed must pass instead.
"""

from livepapers.core.claims import AllOf, Band, Claim, Order, Ratio

CLAIMS = (
    Claim(
        id="C1",
        statement="With unsquared norms the NNPhD split jumps at λ = 1: below it the UAN carries the whole "
        "non-conservative residual, above it the UAN switches off and the residual moves into ℓ_pred.",
        source="phase-transition section, λ-sweep figure (figure numbers not checked)",
        paper_value="transition at λ = 1 for any force",
        check=AllOf(
            (
                Ratio("c1_reg_low", "c1_reg_high", lo=5.0),
                Band("c1_lambda_cross", lo=0.8, hi=1.2),
                Ratio("c1_reg_low", "c1_reg_true", lo=0.7, hi=1.3),
                Ratio("c1_pred_high", "c1_pred_low", lo=3.0),
                Ratio("c1_pred_high", "c1_reg_low", lo=0.7, hi=1.3),
            )
        ),
        over_seeds="every",
    ),
    Claim(
        id="C2",
        statement="On a damped double pendulum the UAN output reproduces the friction force (fitted γ̂ near the "
        "true γ = 0.3, aligned with it), and stays near zero without damping.",
        source="friction demo ('1493'), damped double pendulum figure",
        paper_value="friction rediscovered; ≈ 0 without damping (figure)",
        check=AllOf(
            (
                Band("c2_gamma_hat_damped", lo=0.2, hi=0.4),
                Band("c2_gamma_hat_control", lo=-0.05, hi=0.05),
                Band("c2_cos_agg", lo=0.8),
                Band("c2_rel_rms", hi=0.5),
                Band("c2_rms_ratio_control", hi=0.5),
            )
        ),
    ),
    Claim(
        id="C3",
        statement="Trained on Uranus' orbit alone, the UAN output is localized around the conjunction with "
        "Neptune and points toward Neptune.",
        source="Neptune demo ('1846'), Uranus-orbit figure",
        paper_value="localized pull toward Neptune (figure)",
        check=AllOf(
            (
                Band("c3_cos_W", lo=0.7),
                Band("c3_argmax_offset", hi=0.63),
                Band("c3_in_out_ratio", lo=2.0),
            )
        ),
    ),
    Claim(
        id="C4",
        statement="On inspiraling orbits the UAN output recovers the radiation-reaction drag: anti-parallel to "
        "the velocity, with the right strength, growing as the orbit shrinks.",
        source="gravitational-wave demo ('2017'), inspiral figure",
        paper_value="dissipative force recovered (figure)",
        check=AllOf(
            (
                Band("c4_beta_hat_ratio", lo=0.7, hi=1.3),
                Band("c4_cos_agg", lo=0.8),
                Band("c4_slope", lo=-5.5, hi=-2.5),
                Order("c4_min_bin_drag", ">", 0.0),
            )
        ),
    ),
    Claim(
        id="C5",
        statement="NNPhD plus an integrator forecasts a damped double pendulum better than an LNN alone (which "
        "cannot dissipate energy) and than a plain MLP.",
        source="forecasting section (damped double pendulum)",
        paper_value="NNPhD < LNN, NNPhD < baseline NN in forecast error",
        check=AllOf(
            (
                Ratio("c5_rmse_nnphd", "c5_rmse_lnn", hi=0.8),
                Order("c5_rmse_nnphd", "<", "c5_rmse_mlp"),
                Band("c5_lnn_energy_ratio", lo=0.5),
                Band("c5_truth_energy_ratio", hi=0.1),
            )
        ),
    ),
)
