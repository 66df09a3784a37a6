"""DynamicViT's headline claims with the checks fixed in the spec before any run.

Accuracies are in percent (points); recall is a fraction. Thresholds: /work/shared/papers/dynamicvit.md,
"Claim-by-claim checks"; the preconditions of C3-C5 (the teacher learned, the predictors learned the ratio) are
Revision 2's, pre-registered there.
"""

from __future__ import annotations

from livepapers.core.claims import AllOf, Band, Check, Claim, Metric, Order, Ratio

from .experiment import (
    FLOPS_TABLE_RHOS,
    VARIANTS,
    ModelConfig,
    flops_metric,
    keep_frac_metric,
    variant_metric,
)

_VARIANT = {"dynamic": "DynamicViT (learned selection)", "random_keep": "random-keep baseline",
            "fixed_centre": "fixed-centre baseline"}
_STAGES = len(ModelConfig().pruning_loc)  # every profile prunes at 3 stages

METRICS: dict[str, Metric] = {
    # cost (C1, C2): measured in every seed's process
    "flops_dense_g": Metric("DeiT-S multiply-adds per image, dense (analytic)", "GFLOPs"),
    **{flops_metric(r): Metric(f"DeiT-S multiply-adds per image at keep ratio {r} over 3 stages (analytic, "
                               "predictors included)", "GFLOPs") for r in FLOPS_TABLE_RHOS},
    "flops_reduction": Metric("DeiT-S FLOP reduction at rho = 0.7: 1 − pruned / dense", "", True),
    "flops_bench_dense_g": Metric("benchmark model multiply-adds per image, dense (analytic)", "GFLOPs"),
    "flops_bench_pruned_g": Metric("benchmark model multiply-adds per image at rho (analytic)", "GFLOPs"),
    "flops_traced_dense_g": Metric("benchmark model multiply-adds, dense (torch flop counter)", "GFLOPs"),
    "flops_traced_pruned_g": Metric("benchmark model multiply-adds at rho (torch flop counter)", "GFLOPs"),
    "flops_traced_rel_diff": Metric("largest relative gap between traced and analytic counts (benchmark model and "
                                    "the task's conv-stem ViT, dense and pruned)", "", False),
    "flops_task_dense_m": Metric("the task's ViT (conv stem included) multiply-adds per image, dense (analytic)",
                                 "MFLOPs"),
    "flops_task_pruned_m": Metric("the task's ViT (conv stem and predictors included) multiply-adds per image at "
                                  "rho (analytic)", "MFLOPs"),
    "flops_ratio_bench": Metric("benchmark model FLOP ratio dense / pruned (analytic)"),
    "throughput_dense_ips": Metric("CPU inference throughput of the dense benchmark model", "img/s", True,
                                   machine=True),
    "throughput_rho07_ips": Metric("CPU inference throughput of the pruned benchmark model (rho)", "img/s", True,
                                   machine=True),
    "throughput_ratio_cpu": Metric("CPU throughput pruned / dense (same process, one after the other)", "", True,
                                   machine=True),
    # training (C3-C5): step counts fixed in the profile
    "steps_teacher": Metric("teacher training steps (prepare, once per reproduce)", "", None),
    "steps_finetune": Metric("fine-tuning steps per variant", "", None),
    "acc_teacher": Metric("test accuracy of the dense teacher (shared by the seeds; precondition of C3-C5)", "%",
                          True),
    **{variant_metric("acc", v): Metric(f"test accuracy of the {_VARIANT[v]} at rho", "%", True)
       for v in VARIANTS},
    **{variant_metric("recall", v): Metric(f"share of object patches the {_VARIANT[v]} keeps after the last "
                                           "stage", "", True) for v in VARIANTS},
    **{variant_metric("final_loss", v): Metric(f"training loss of the {_VARIANT[v]} at its last step")
       for v in VARIANTS},
    **{keep_frac_metric(s): Metric(f"DynamicViT's kept fraction after stage {s} (mean of the last training "
                                   f"steps; target rho^{s})") for s in range(1, _STAGES + 1)},
    "keep_frac_dev_max": Metric("largest gap |kept fraction − rho^s| over the stages at the end of DynamicViT's "
                                "fine-tuning (precondition of C3-C5)", "", False),
    "ratio_loss_final": Metric("DynamicViT's keep-ratio loss over the last training steps", "", False),
    "acc_static_best": Metric("test accuracy of the better static baseline", "%", True),
    "acc_drop_pts": Metric("accuracy drop of DynamicViT against its dense teacher", "points", False),
    "dyn_minus_static_pts": Metric("DynamicViT accuracy minus the better static baseline", "points", True),
    "recall_ratio_dyn_random": Metric("object-patch recall of DynamicViT / random-keep", "", True),
    "cpu_seconds": Metric("CPU time of the whole run", "s", None, machine=True),
}

# Revision 2's preconditions of the accuracy and token-selection claims: a claim about distilling and pruning a
# model presupposes a model worth distilling, and predictors that learned to keep the ratio they are judged at
LEARNED: tuple[Check, ...] = (
    Band("acc_teacher", lo=70.0),
    Band("keep_frac_dev_max", hi=0.03),
)

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="C1",
        statement="Pruning tokens hierarchically at rho = 0.7 over 3 stages (66% of tokens gone at the end) "
                  "cuts DeiT-S FLOPs by about a third; the analytic count and torch's FLOP counter agree.",
        source="Table 1 / Sec. 4.1",
        paper_value="DeiT-S 4.6 -> 2.9 GFLOPs (-37%); LV-ViT-S -31%, LV-ViT-M -33%",
        check=AllOf((
            Band("flops_dense_g", lo=4.5, hi=4.7),
            Band("flops_rho07_g", lo=2.8, hi=3.1),
            Band("flops_reduction", lo=0.31, hi=0.40),
            Band("flops_traced_rel_diff", hi=0.01),
        )),
        over_seeds="every",
    ),
    Claim(
        id="C2",
        statement="Real token pruning speeds up inference: DeiT-S at rho = 0.7 runs at >= 1.30x the dense "
                  "throughput (CPU, batch 16, measured in the same run; the paper measured a GPU).",
        source="Table 1 (RTX 3090, batch 32)",
        paper_value="1337.7 -> 2062.1 img/s (+54%) on GPU",
        check=Band("throughput_ratio_cpu", lo=1.30),
    ),
    Claim(
        id="C3",
        statement="The sparsified model loses little accuracy against its dense teacher: at most 1.5 points "
                  "on the small cluttered-shapes task (paper: 0.5 point on ImageNet).",
        source="Table 1",
        paper_value="DeiT-S 79.8 -> 79.3 top-1 (-0.5)",
        check=Band("acc_drop_pts", hi=1.5),
        requires=LEARNED,
    ),
    Claim(
        id="C4",
        statement="Learned, input-dependent token selection beats non-learned selection (random subsets or "
                  "a fixed centre window) at the same kept counts, by at least 3 accuracy points.",
        source="Sec. 4.3 ablation on sparsification strategies",
        paper_value="dynamic > static and > structural downsampling at equal FLOPs (qualitative)",
        check=Order("acc_dynamic", ">=", "acc_static_best", margin=3.0),
        requires=LEARNED,
    ),
    Claim(
        id="C5",
        statement="The kept tokens concentrate on the object: after the last stage DynamicViT keeps >= 80% "
                  "of the object patches, >= 1.5x the share random selection keeps.",
        source="Fig. 4 / Fig. 6 (visualisations)",
        paper_value="kept tokens lie on the object (qualitative figures)",
        check=AllOf((
            Band("recall_dynamic", lo=0.8),
            Ratio("recall_dynamic", "recall_random_keep", lo=1.5),
        )),
        requires=LEARNED,
    ),
    Claim(
        id="C6",
        statement="DynamicViT models sit on a better ImageNet accuracy/FLOPs frontier than CNNs and ViTs "
                  "of similar cost.",
        source="Fig. 1 / Fig. 5",
        paper_value="better trade-off than ResNets, DeiT, LV-ViT, ... (figure)",
        check=None,
        not_checkable="needs ImageNet training of many architectures; nothing comparable runs offline",
    ),
)
