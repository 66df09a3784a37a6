"""DynamicViT keep-ratio pilot: do the token predictors reach rho, rho^2, rho^3 within the default fine-tune?

One seed, one thread, the default profile's task model and step count, DynamicViT variant only (the static
baselines do not train predictors). Instruments every step: the realised keep fraction per stage, the
predictors' keep probabilities on the surviving tokens (mean, share saturated above 0.99 / below 0.01), the
gradient norm of each stage's predictor from the ratio term alone and from the whole objective, and the lrs
actually set on the predictor and backbone groups. A recipe is a set of ``Config`` overrides; each recipe
is run from the same teacher, seed, sample stream and noise.

Writes ``benchmarks/results/dynamicvit_<name>.json`` (summary per recipe + the per-step curves, every 5th step).

    OMP_NUM_THREADS=1 python benchmarks/bench_dynamicvit_keep_pilot.py --teacher runs/.../shared/teacher.pt \\
        --seed 1 --recipe baseline --recipe warmup:predictor_warmup_frac=0.167
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from livepapers.core.config import apply_overrides
from livepapers.dynamicvit import experiment as E
from livepapers.dynamicvit import modules as M
from livepapers.dynamicvit import training as T
from livepapers.dynamicvit.data import make_datasets
from livepapers.dynamicvit.modules import DistillDiffPruningLoss, make_token_ratio

RESULTS = Path(__file__).parent / "results"


def visible_max_masked_softmax(attn_logits: torch.Tensor, policy: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """The masked softmax of commit 62c3751 (before the fix): the stabiliser m_i is the max over the VISIBLE keys
    (G = 1), not over all keys as in the official code. Same forward up to the eps term, but the gradient w.r.t. a
    dropped key's G_ij is exp(a_ij - m_i), unbounded, instead of the official <= 1 / eps. Kept to re-measure."""
    n = attn_logits.shape[-1]
    if policy.dim() == 3:
        policy = policy[..., 0]
    dtype = torch.promote_types(attn_logits.dtype, torch.float32)
    eye = torch.eye(n, dtype=dtype)
    p = policy.to(dtype)[:, None, None, :]
    g = p + (1.0 - p) * eye
    a = attn_logits.to(dtype)
    m = a.detach().masked_fill(g < 0.5, float("-inf")).amax(dim=-1, keepdim=True)
    e = (a - m).exp() * g
    return ((e + eps / n) / (e.sum(dim=-1, keepdim=True) + eps)).to(attn_logits.dtype)


def _grad_norm(grads: tuple[torch.Tensor | None, ...]) -> float:
    return math.sqrt(sum(float((g.detach() ** 2).sum()) for g in grads if g is not None))


class Probe:
    """Collects the per-step diagnostics of the DynamicViT fine-tune (see the module docstring)."""

    def __init__(self, cfg: E.Config, every: int) -> None:
        self.cfg, self.every = cfg, every
        self.ratios = make_token_ratio(cfg.rho, len(cfg.model.pruning_loc))
        self.captured: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.rows: list[dict] = []
        self._hooked: set[int] = set()

    def _hook(self, module: torch.nn.Module, args: tuple, out: torch.Tensor) -> None:
        self.captured.append((out.detach(), args[1].detach()))

    def __call__(self, step: int, variant: str, student: torch.nn.Module, opt: torch.optim.Optimizer,
                 outputs: tuple, loss: torch.Tensor) -> None:
        if variant != "dynamic":
            return
        if id(student) not in self._hooked:  # hooks see the NEXT forward; the first step's stats come from step 1
            for pred in student.score_predictor:
                pred.register_forward_hook(self._hook)
            self._hooked.add(id(student))
        captured, self.captured = self.captured, []
        decisions = outputs[3]
        row: dict = {"step": step + 1, "keep": [float(d.detach().mean()) for d in decisions]}
        row["lr"] = {g["role"]: g["lr"] for g in opt.param_groups}
        if step % self.every == 0 or step + 1 == self.cfg.finetune_steps:
            ratio = self.cfg.ratio_weight * DistillDiffPruningLoss.ratio_loss(decisions, self.ratios)
            row["g_ratio"], row["g_total"] = [], []
            for pred in student.score_predictor:
                params = [p for p in pred.parameters() if p.requires_grad]
                row["g_ratio"].append(_grad_norm(torch.autograd.grad(ratio, params, retain_graph=True,
                                                                     allow_unused=True)))
                row["g_total"].append(_grad_norm(torch.autograd.grad(loss, params, retain_graph=True,
                                                                     allow_unused=True)))
            row["p_keep"], row["sat_hi"], row["sat_lo"] = [], [], []
            for log_pi, prev in captured:
                alive = prev.reshape(-1) > 0.5
                p = log_pi[..., 0].exp().reshape(-1)[alive]
                row["p_keep"].append(float(p.mean()))
                row["sat_hi"].append(float((p > 0.99).float().mean()))
                row["sat_lo"].append(float((p < 0.01).float().mean()))
        self.rows.append(row)


def run_recipe(name: str, cfg: E.Config, teacher: torch.nn.Module, seed: int, every: int) -> dict:
    train_set, test_set = make_datasets(cfg.task)
    probe = Probe(cfg, every)
    t0 = time.perf_counter()
    res = T.finetune(cfg, "dynamic", teacher, cfg.finetune_steps, seed, train_set, None, probe=probe)
    seconds = time.perf_counter() - t0
    test = test_set.sample(cfg.n_test, torch.Generator().manual_seed(cfg.test_seed))
    from livepapers.dynamicvit.evaluation import evaluate_pruned

    acc, recall, _ = evaluate_pruned(res.model, "dynamic", test, cfg.eval_batch,
                                     torch.Generator().manual_seed(30_000 + seed))
    ratios = make_token_ratio(cfg.rho, len(cfg.model.pruning_loc))
    dev = max(abs(f - r) for f, r in zip(res.keep_frac, ratios))
    summary = {"recipe": name, "seed": seed, "keep_frac_last": res.keep_frac, "keep_frac_dev_max": dev,
               "met": dev <= 0.03, "acc_dynamic": acc, "recall_dynamic": recall, "seconds": seconds,
               "finetune_steps": cfg.finetune_steps, "finetune_batch": cfg.finetune_batch}
    print(f"{name} seed {seed}: keep {', '.join(f'{f:.3f}' for f in res.keep_frac)} (dev {dev:.3f}, "
          f"{'met' if dev <= 0.03 else 'NOT met'}), acc {acc:.1f}%, recall {recall:.3f}, {seconds:.0f} s", flush=True)
    for row in probe.rows:
        if "g_ratio" in row and (row["step"] - 1) % (every * 4) == 0:
            print("  step {step:4d} keep {k} p_keep {p} sat>.99 {hi} sat<.01 {lo} |g_ratio| {gr} |g_total| {gt} "
                  "lr {lr}".format(step=row["step"], k=_fmt(row["keep"]), p=_fmt(row["p_keep"]), hi=_fmt(row["sat_hi"]),
                                   lo=_fmt(row["sat_lo"]), gr=_fmt(row["g_ratio"], "{:.1e}"),
                                   gt=_fmt(row["g_total"], "{:.1e}"),
                                   lr="/".join(f"{v:.1e}" for v in row["lr"].values())), flush=True)
    return {"summary": summary, "curve": probe.rows[::every]}


def _fmt(values: list[float], f: str = "{:.2f}") -> str:
    return "/".join(f.format(v) for v in values)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, required=True, help="teacher.pt of a default run's shared folder")
    parser.add_argument("--seed", type=int, action="append", help="seeds (repeatable; default 1)")
    parser.add_argument("--recipe", action="append", default=[],
                        help="name[:field=value,field=value] (Config overrides; repeatable; default: baseline)")
    parser.add_argument("--softmax", choices=("package", "visible-max"), default="package",
                        help="masked softmax: the package's (official form) or the pre-fix visible-max one")
    parser.add_argument("--every", type=int, default=5, help="gradient diagnostics every this many steps")
    parser.add_argument("--name", default="keep_pilot", help="results file: dynamicvit_<name>.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.softmax == "visible-max":
        M.masked_softmax = visible_max_masked_softmax  # Attention.forward looks the name up in the module
    base = E.PROFILES["default"].config
    teacher = T.make_teacher(base)
    teacher.load_state_dict(torch.load(args.teacher, map_location="cpu", weights_only=True))
    teacher.eval()
    out: dict = {"teacher": str(args.teacher), "softmax": args.softmax, "recipes": []}
    for spec in args.recipe or ["baseline"]:
        name, _, sets = spec.partition(":")
        cfg = apply_overrides(base, [s for s in sets.split(",") if s]) if sets else base
        for seed in args.seed or [1]:
            rec = run_recipe(name, cfg, teacher, seed, args.every)
            rec["overrides"] = sets
            rec["effective"] = {k: getattr(cfg, k) for k in ("predictor_lr", "min_lr", "clip_grad",
                                                             "predictor_warmup_frac", "backbone_lr",
                                                             "finetune_steps", "finetune_batch")}
            out["recipes"].append(rec)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"dynamicvit_{args.name}.json"
    path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return out


if __name__ == "__main__":
    main()
