"""NNPhD's headline claims with the checks and thresholds of the spec (papers/nnphd.md, "Offline small-scale
reproduction", and its "Revision 2": preconditions on the LNN's fit), written before the runs. ``run`` returns the
metrics; these checks decide.

C1 uses ``over_seeds="every"``: its ratios divide by order parameters that are ≈ 0 in one phase, so per-seed
ratios are heavy-tailed and a t-interval over 3 seeds would say nothing; every seed must pass instead.
"""

from livepapers.core.claims import AllOf, Band, Claim, Metric, Order, Ratio
from livepapers.nnphd.experiment import (
    DEMOS,
    FORECAST_MODELS,
    NEPTUNE_RUNS,
    forecast_metric,
    neptune_metric,
    time_metric,
)

LNN_MAX_ERR = 0.08  # spec revision 2: the LNN's held-out relative error before a detection claim is judged

_NEPTUNE = {"c3": "Neptune variant A (μ_N = 0.01)", "c3b": "Neptune variant B (ring of particles, UAN gets t)",
            "c3real": "Neptune variant A at the real μ_N = 5.15e-5"}
_LOCALIZATION = {  # keys of detection.localization (+ the LNN fit): doc, direction
    "cos_W": ("median cosine of detected vs true pull inside the half-peak window", True),
    "argmax_offset": ("time between the peaks of detected and true pull (mean over trajectories)", False),
    "in_out_ratio": ("RMS detected pull inside / outside the half-peak window", True),
    "true_in_out_ratio": ("RMS true pull inside / outside the half-peak window (reference)", None),
    "t_star": ("time of the true pull's peak", None),
    "w_fraction": ("fraction of samples in the half-peak window", None),
    "lnn_rel_err": ("LNN's relative RMS error of the conservative acceleration on held-out states (variant B: on "
                    "its training states)", False),
}
_FORECAST = {"nnphd": "NNPhD", "lnn": "the LNN alone", "mlp": "the plain MLP"}

METRICS: dict[str, Metric] = {
    **{time_metric(d): Metric(f"CPU time of demo {d}", "s", None, machine=True) for d in DEMOS},
    time_metric("c3real"): Metric("CPU time of Neptune variant A at the real mass", "s", None, machine=True,
                                  profiles=("paper",)),
    time_metric("total"): Metric("CPU time of the whole run", "s", None, machine=True),
    # C1: λ sweep on the damped 2-D oscillator (λ ≤ 0.75: low, λ ≥ 1.25: high)
    "c1_reg_low": Metric("ℓ_reg = mean ‖a_nc‖ after training, mean over λ ≤ 0.75 (the plateau)"),
    "c1_reg_high": Metric("ℓ_reg = mean ‖a_nc‖ after training, mean over λ ≥ 1.25"),
    "c1_pred_low": Metric("ℓ_pred = mean ‖a − â‖ after training, mean over λ ≤ 0.75"),
    "c1_pred_high": Metric("ℓ_pred = mean ‖a − â‖ after training, mean over λ ≥ 1.25"),
    "c1_lambda_cross": Metric("λ where ℓ_reg falls to half its low-λ plateau (transition at 1)"),
    "c1_reg_true": Metric("true E‖a_nc‖ = E‖γ q̇‖ on the training data"),
    "c1_lnn_rel_err": Metric("LNN's relative RMS error of the conservative acceleration on held-out states, "
                             "mean over λ", "", False),
    # C2: friction on the damped double pendulum (held-out states)
    "c2_gamma_hat_damped": Metric("friction coefficient γ̂ fitted to the UAN output (true γ = 0.3)", "1/s"),
    "c2_gamma_hat_control": Metric("friction coefficient γ̂ fitted to the UAN output without damping (true 0)",
                                   "1/s"),
    "c2_cos_agg": Metric("aggregate cosine of UAN output and true friction", "", True),
    "c2_rel_rms": Metric("RMS error of the UAN output relative to the RMS true friction", "", False),
    "c2_cos_median": Metric("median per-state cosine of UAN output and −q̇", "", True),
    "c2_lnn_rel_err": Metric("LNN's relative RMS error of the conservative acceleration (damped)", "", False),
    "c2_lnn_rel_err_control": Metric("LNN's relative RMS error of the conservative acceleration (undamped)",
                                     "", False),
    "c2_rms_ratio_control": Metric("RMS UAN output without damping / with damping", "", False),
    "c2_rms_nc_true": Metric("RMS true friction acceleration on held-out states", "rad/s²"),
    # C3: Neptune (variant A is the claim; B and the real mass are reported)
    **{neptune_metric(variant, k): Metric(f"{_NEPTUNE[variant]}: {doc}", "", hib,
                                      profiles=("paper",) if variant == "c3real" else None)
       for variant in NEPTUNE_RUNS for k, (doc, hib) in _LOCALIZATION.items()},
    # C4: radiation reaction on inspirals
    "c4_beta_hat_ratio": Metric("drag strength β̂ fitted to the UAN output / true β"),
    "c4_cos_agg": Metric("aggregate cosine of UAN output and true radiation reaction", "", True),
    "c4_slope": Metric("log–log slope of the binned drag per unit speed against r (truth −4)"),
    "c4_min_bin_drag": Metric("smallest bin mean of the drag per unit speed (truth > 0)"),
    "c4_cos_median": Metric("median per-state cosine of UAN output and −v", "", True),
    "c4_rel_rms": Metric("RMS error of the UAN output relative to the RMS true radiation reaction", "", False),
    "c4_lnn_rel_err": Metric("LNN's relative RMS error of the conservative acceleration on held-out inspirals",
                             "", False),
    "c4_lnn_rel_err_train": Metric("LNN's relative RMS error of the conservative acceleration on the training "
                                   "inspirals (where the drag is detected)", "", False),
    "c4_drag_to_gravity": Metric("data: true drag / gravity at the median radius of the training samples"),
    "c4_outbound_fraction": Metric("data: fraction of training samples moving outward (ṙ > 0)"),
    # C5: forecasting the damped double pendulum with RK4
    **{forecast_metric("rmse", m): Metric(f"forecast state RMSE of {_FORECAST[m]} (mean over time and ICs)",
                                          "", False) for m in FORECAST_MODELS},
    **{forecast_metric("n_diverged", m): Metric(f"rollouts of {_FORECAST[m]} that left the finite numbers",
                                                "", False) for m in FORECAST_MODELS},
    **{forecast_metric("energy_ratio", m): Metric(f"excess energy E − E_min left at the horizon / at t = 0 "
                                                  f"along rollouts of {_FORECAST[m]}") for m in FORECAST_MODELS},
    **{f"c5_lr_{m}": Metric(f"peak learning rate of {_FORECAST[m]}, selected on held-out training trajectories")
       for m in FORECAST_MODELS},
    "c5_lnn_rel_err_nnphd": Metric("C5's NNPhD: its LNN's relative RMS error of the conservative acceleration "
                                   "(held-out states)", "", False),
    "c5_lnn_rel_err_lnn": Metric("C5's LNN alone (trained on damped data): relative RMS error of the conservative "
                                 "acceleration (held-out states)", "", False),
    "c5_truth_energy_ratio": Metric("excess energy left at the horizon / at t = 0 along the true trajectories"),
}

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
        requires=(Band("c2_lnn_rel_err", hi=LNN_MAX_ERR), Band("c2_lnn_rel_err_control", hi=LNN_MAX_ERR)),
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
        requires=(Band("c3_lnn_rel_err", hi=LNN_MAX_ERR),),
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
        requires=(Band("c4_lnn_rel_err", hi=LNN_MAX_ERR),),
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
        requires=(Band("c5_lnn_rel_err_nnphd", hi=LNN_MAX_ERR),),
    ),
)
