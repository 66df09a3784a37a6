"""knowledge-neurons C4 diagnostic: why editing value slots does not update facts in the small BERT.

Loads the models a default run saved (``runs/knowledge-neurons/<run>/seed-k/model``), the run's knowledge base and
its refined knowledge neurons; trains nothing. On the C4 update facts of every seed (the first ``n_update`` = 10
analysed facts of each relation, 60 per seed; prompt = the fact's first template, o' = the object of a random other
fact of the relation, drawn with ``torch.Generator().manual_seed(0)`` in fact order) it measures

1. alignment: ``cos(∂(z_o' − z_o)/∂u^(l), e(o') − e(o))`` at [MASK] for the FFN output u^(l) of every layer and for
   the final hidden state (``score_gap_alignment``). The edit ``v ← v − λ1 e(o) + λ2 e(o')`` adds vectors of the
   plane of e(o), e(o') to u^(l); it moves the prediction towards o' only as far as that direction is aligned
   with the gradient of the score gap. Reference for unrelated directions in h dims: mean 0, sd ≈ 1/√h.
2. a c2 sweep beyond the run's grid (1, 2, 4, 8): success@1, success@5, mean rank of o' before/after, share of
   edits after which the argmax is no longer o, for the knowledge neurons (the run's relation-generic filter,
   spec variant) and for matched random neurons (same per-layer counts), c1 = 1 as in the run. Only facts whose
   prompt is predicted correctly and that keep a neuron after the filter are edited (as in the run).

    python benchmarks/bench_knowledge_neurons_c4_diag.py [runs/knowledge-neurons/<run>]   # default: latest default
    → benchmarks/results/knowledge_neurons_c4_diag.json
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

C2S = (1.0, 8.0, 32.0, 128.0, 512.0)


def latest_default_run() -> Path:
    runs = sorted(p for p in (Path(__file__).parents[1] / "runs" / "knowledge-neurons").glob("*-default-*")
                  if (p / "status.json").exists())
    if not runs:
        raise SystemExit("no default run of knowledge-neurons under runs/; pass the run folder")
    return runs[-1]


def one_seed(run: Path, seed_dir: Path, cfg: dict) -> dict:
    import transformers

    from livepapers.knowledge_neurons import (
        KnowledgeBase,
        KnowledgeNeurons,
        load_mlm,
        relation_generic,
        score_gap_gradients,
    )
    from livepapers.knowledge_neurons.experiment import _matched_random

    transformers.utils.logging.set_verbosity_error()
    kb = KnowledgeBase.from_dict(json.loads((run / "shared" / "knowledge_base.json").read_text()))
    model, tok = load_mlm(str(seed_dir / "model"))
    kn = KnowledgeNeurons(model, tok)
    kn_of = {int(k): [tuple(x) for x in v]
             for k, v in json.loads((seed_dir / "knowledge_neurons.json").read_text())["kn"].items()}
    emb = kn.word_embeddings.detach()
    g = torch.Generator().manual_seed(0)
    gr = torch.Generator().manual_seed(1)
    cos_raw, cos_unit, edits = [], [], []
    for r in kb.relations:
        ids = kb.analysed[r]
        generic = relation_generic([kn_of[i] for i in ids], cfg["generic_frac"])
        for fid in ids[: cfg["n_update"]]:
            f = kb.facts[fid]
            others = [x.object for x in kb.facts_of(r) if x.object != f.object]
            target = others[int(torch.randint(len(others), (1,), generator=g))]
            prompt = f.prompts[0]
            o, t = kn.token_id(f.object), kn.token_id(target)
            grads = score_gap_gradients(kn, prompt, f.object, target)
            for d, acc in ((emb[t] - emb[o], cos_raw), (emb[t] / emb[t].norm() - emb[o] / emb[o].norm(), cos_unit)):
                acc.append(torch.nn.functional.cosine_similarity(grads, d.expand_as(grads), dim=1).tolist())
            neurons = [nr for nr in kn_of[fid] if nr not in generic]
            if int(kn.mask_logits(prompt)[0].argmax()) != o or not neurons:
                continue
            rand = _matched_random(neurons, kn.d_ff, gr, exclude=kn_of[fid])
            row = {"fact": fid, "n_neurons": len(neurons)}
            for name, nr in (("kn", neurons), ("random", rand)):
                row[name] = {str(c2): kn.edit_knowledge(prompt, target, nr, c1=cfg["c1"], c2=c2,
                                                        ground_truth=f.object).metrics for c2 in C2S}
            edits.append(row)
    cr, cu = np.array(cos_raw), np.array(cos_unit)  # (facts, L + 1)
    L = kn.n_layers
    names = [f"ffn_out_layer{k}" for k in range(L)] + ["final_hidden"]

    def sweep(which: str) -> dict:
        out = {}
        for c2 in C2S:
            ms = [e[which][str(c2)] for e in edits]
            out[f"{c2:g}"] = {
                "success1_pct": 100 * float(np.mean([m["success1"] for m in ms])),
                "success5_pct": 100 * float(np.mean([m["success5"] for m in ms])),
                "rank_before_mean": float(np.mean([m["rank_before"] for m in ms])),
                "rank_after_mean": float(np.mean([m["rank_after"] for m in ms])),
                "original_changed_pct": 100 * float(np.mean([m["original_changed"] for m in ms])),
            }
        return out

    return {
        "n_facts_alignment": len(cr),
        "cos_emb_diff": {n: {"mean": float(cr[:, k].mean()), "sd": float(cr[:, k].std(ddof=1))}
                         for k, n in enumerate(names)},
        "cos_unit_emb_diff": {n: {"mean": float(cu[:, k].mean()), "sd": float(cu[:, k].std(ddof=1))}
                              for k, n in enumerate(names)},
        "random_direction_sd": 1 / math.sqrt(emb.shape[1]),
        "n_edits": len(edits),
        "vocab_size": int(emb.shape[0]),
        "sweep_kn": sweep("kn"),
        "sweep_random": sweep("random"),
    }


def main() -> None:
    from livepapers.core.bench import write_results

    torch.set_num_threads(1)
    run = Path(sys.argv[1]) if len(sys.argv) > 1 else latest_default_run()
    cfg = json.loads((run / "config.json").read_text())
    cfg = cfg.get("config", cfg)
    seeds = sorted(p for p in run.glob("seed-*") if (p / "model").exists())
    per_seed = {}
    for sd in seeds:
        per_seed[sd.name] = one_seed(run, sd, cfg)
        s = per_seed[sd.name]
        print(sd.name, "cos(grad, e(o')-e(o)):", {k: round(v["mean"], 3) for k, v in s["cos_emb_diff"].items()},
              f"(sd of random dirs {s['random_direction_sd']:.3f}); edits {s['n_edits']}")
        for c2, v in s["sweep_kn"].items():
            print(f"  c2={c2}: kn {v}  random {s['sweep_random'][c2]}")
    path = write_results("knowledge_neurons_c4_diag", {"run": run.name, "c2_values": list(C2S), "c1": cfg["c1"],
                                                       "per_seed": per_seed})
    print("wrote", path)


if __name__ == "__main__":
    main()
