"""The reproduction of "Knowledge Neurons in Pretrained Transformers" on a small BERT trained on a generated KB.

``prepare`` builds the knowledge base once (seed 0, shared by every model seed). ``run`` (one model seed) trains
the MLM, saves it with ``save_pretrained`` into the seed's folder and reloads it from there (the real-checkpoint
path), then: IG attribution of every prompt of the analysed facts, coarse + refined neurons with the adaptive p
(and the activation baseline), suppression/amplification with three controls (C1), counts and layers (C2),
activations on the T1/T2/T3 text sets (C3), fact updates against matched random neurons (C4) and relation
erasure (C5). A checksum of all weights is compared before and after every intervention.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from livepapers.core.config import Profile
from livepapers.core.runs import RunContext

from . import figures
from .data import KnowledgeBase, build_tokenizer, make_knowledge_base
from .neurons import (
    KnowledgeNeurons,
    Neuron,
    coarse_neurons,
    refine_relation_from_coarse,
    relation_generic,
    weights_checksum,
)
from .training import HELD_OUT_TEMPLATES, TRAIN_TEMPLATES, load_mlm, model_config, template_accuracy, train_mlm

KB_FILE = "knowledge_base.json"


@dataclass(frozen=True)
class Config:
    """Every knob of the offline reproduction; defaults = the default profile (the spec's settings)."""

    # knowledge base (prepare; seed 0 shared by the model seeds)
    kb_seed: int = 0
    n_subjects: int = 120
    n_relations: int = 6
    n_analysed: int = 20  # facts per relation analysed (120)
    # the MLM (spec: 4 layers, hidden 128, 4 heads, d_ff 512, 32 positions; 15 epochs ≈ 900 steps of 64)
    layers: int = 4
    hidden: int = 128
    heads: int = 4
    d_ff: int = 512
    max_positions: int = 32
    dropout: float = 0.1
    # the spec's recipe (15 epochs, object masked with p = 0.5, other tokens 15 %) stayed at the frequency prior
    # (top-1 31 % after 900 and after 2,400 steps); the pure object cloze below reaches 97.5 % at 1,500 steps
    epochs: int = 25
    batch_size: int = 64
    lr: float = 1e-3
    label_smoothing: float = 0.1
    p_object: float = 1.0
    p_other: float = 0.0
    # attribution and refining (§3–4)
    ig_steps: int = 20
    riemann: str = "left"
    coarse_t: float = 0.2
    baseline_t: float = 0.5
    p0: float = 0.7
    p_step: float = 0.05
    p_max_iter: int = 6
    min_prompts: int = 3
    # interventions (§5, §7, §8)
    amplify_factor: float = 2.0
    n_update: int = 10  # update facts per relation (60)
    n_update_select: int = 2  # facts per relation choosing c2 (12)
    c1: float = 1.0
    c2_grid: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    generic_frac: float = 0.1  # neurons that are knowledge neurons of > 10 % of a relation's facts are dropped
    generic_filter: str = "spec"  # "spec": count > 0.1·N; "official": select_kn's 1 + count > 0.1·N (Deviations)
    n_side_facts: int = 5
    n_relation_neurons: int = 20
    erase_value: str = "zero"
    # sanity gates (issue 21)
    gate_train_top1: float = 90.0
    gate_min_kn_facts: int = 60

    def __post_init__(self) -> None:
        if self.riemann not in ("left", "right", "linspace"):
            raise ValueError(f"riemann must be left, right or linspace, got {self.riemann!r}")
        if self.generic_filter not in ("spec", "official"):
            raise ValueError(f"generic_filter must be spec or official, got {self.generic_filter!r}")
        if self.erase_value not in ("zero", "unk"):
            raise ValueError(f"erase_value must be zero or unk, got {self.erase_value!r}")
        if self.n_update + self.n_update_select > self.n_analysed:
            raise ValueError(f"n_update + n_update_select ({self.n_update + self.n_update_select}) must be <= "
                             f"n_analysed ({self.n_analysed})")
        if not self.c2_grid:
            raise ValueError("c2_grid must not be empty")


PROFILES: dict[str, Profile] = {
    # the spec's smoke: 1 seed, 2 relations × 20 subjects, 3 epochs, 5 facts per relation (not evidence)
    "smoke": Profile(Config(n_subjects=20, n_relations=2, n_analysed=5, epochs=3, ig_steps=5, n_update=3,
                            n_update_select=1, c2_grid=(1.0, 4.0), n_relation_neurons=5, gate_min_kn_facts=1),
                     n_seeds=1, evidence=False),
    "default": Profile(Config(), n_seeds=3),
    # the paper: BERT-base-cased on PARAREL (27,738 facts); needs the checkpoint and the data, not run here
    "paper": Profile(Config(layers=12, hidden=768, heads=12, d_ff=3072, max_positions=512, n_analysed=120),
                     n_seeds=1, needs="bert-base-cased and the PARAREL facts from a local path (not available "
                     "offline; the code runs on any BertForMaskedLM through KnowledgeNeurons)"),
}


def prepare(config: Config, ctx: RunContext) -> None:
    """Build the knowledge base once (seed ``kb_seed``) and write it to ``knowledge_base.json``."""
    cfg = config
    t0 = time.perf_counter()
    kb = make_knowledge_base(torch.Generator().manual_seed(cfg.kb_seed), cfg.n_subjects, cfg.n_relations,
                             n_analysed=cfg.n_analysed)
    build_tokenizer(kb)  # every KB word must be one token
    ctx.save_json(KB_FILE, kb.to_dict())
    ctx.log(f"prepare: knowledge base of {len(kb.facts)} facts, {len(kb.train_sentences)} training sentences, "
            f"{len(kb.fillers)} fillers, {len(kb.words)} words in {time.perf_counter() - t0:.1f} s")


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


class Restores:
    """Counts interventions and how many left the weights (or the hooks) different from before."""

    def __init__(self, kn: KnowledgeNeurons) -> None:
        self.kn = kn
        self.n = 0
        self.mismatches = 0
        self.ref = weights_checksum(kn.model)

    def check(self) -> None:
        self.n += 1
        leaked = any(m._forward_hooks or m._forward_pre_hooks for m in self.kn.model.modules())
        if leaked or weights_checksum(self.kn.model) != self.ref:
            self.mismatches += 1


def _rel_change(before: Sequence[float], after: Sequence[float]) -> float:
    """Official relative change: mean(after − before) / mean(before) (ratio of means), in %."""
    b = np.asarray(before, float)
    a = np.asarray(after, float)
    if b.size == 0 or b.mean() == 0:
        return float("nan")
    return float(100.0 * (a - b).mean() / b.mean())


def _matched_random(neurons: Sequence[Neuron], d_ff: int, g: torch.Generator,
                    exclude: Sequence[Neuron] = ()) -> list[Neuron]:
    """Random neurons with the same per-layer counts as ``neurons`` (none of ``exclude``)."""
    out: list[Neuron] = []
    ex = set(map(tuple, exclude))
    for layer, k in sorted(Counter(l_ for l_, _ in neurons).items()):
        pool = [i for i in range(d_ff) if (layer, i) not in ex]
        idx = torch.randperm(len(pool), generator=g)[:k].tolist()
        out += [(layer, pool[i]) for i in idx]
    return out


def _pick(seq: Sequence, g: torch.Generator):
    return seq[int(torch.randint(len(seq), (1,), generator=g))]


def _nlp(kn: KnowledgeNeurons, prompts: list[str], gold: list[str]) -> float:
    """mean −log P(gold) over prompts."""
    logits = kn.mask_logits(prompts)
    gid = kn._ids(gold, len(gold))
    return float(-logits.log_softmax(-1)[torch.arange(len(gid)), gid].mean())


# ------------------------------------------------------------------------------------------------
# run
# ------------------------------------------------------------------------------------------------


def run(config: Config, ctx: RunContext) -> dict[str, float]:
    """One model seed: train, save, reload, attribute, refine, intervene; flat metrics (percent where noted)."""
    cfg = config
    if cfg.layers != 4 or cfg.max_positions > 64:
        raise ValueError("this run trains the small 4-layer model; the paper profile needs bert-base-cased and "
                         "PARAREL (not offline)")
    kb = KnowledgeBase.from_dict(json.loads(ctx.shared_path(KB_FILE).read_text(encoding="utf-8")))
    tok = build_tokenizer(kb)
    m: dict[str, float] = {}
    times: dict[str, float] = {}

    # -- train, save, reload
    t = time.perf_counter()
    curve: list[dict] = []
    mcfg = model_config(len(tok), layers=cfg.layers, hidden=cfg.hidden, heads=cfg.heads, d_ff=cfg.d_ff,
                        max_positions=cfg.max_positions, dropout=cfg.dropout)
    model = train_mlm(kb, mcfg, cfg.epochs, ctx.generator(0), tokenizer=tok, batch_size=cfg.batch_size, lr=cfg.lr,
                      label_smoothing=cfg.label_smoothing, p_object=cfg.p_object, p_other=cfg.p_other, curve=curve,
                      progress=lambda it: ctx.progress(it, total=len(it), desc="train MLM"))
    path = ctx.folder / "model"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    model, tok = load_mlm(str(path))
    times["train"] = time.perf_counter() - t
    kn = KnowledgeNeurons(model, tok)
    restores = Restores(kn)
    m["gate.train_top1"] = 100 * template_accuracy(kn, tok, kb, TRAIN_TEMPLATES)
    m["gate.heldout_top1"] = 100 * template_accuracy(kn, tok, kb, HELD_OUT_TEMPLATES)
    m["gate.train_ok"] = float(m["gate.train_top1"] >= cfg.gate_train_top1)
    m["train.final_loss"] = curve[-1]["loss"] if curve else float("nan")
    ctx.log(f"MLM: {len(curve)} epochs, final loss {m['train.final_loss']:.3f}, top-1 train templates "
            f"{m['gate.train_top1']:.1f} %, held-out template {m['gate.heldout_top1']:.1f} % "
            f"({times['train']:.0f} s)")
    ctx.save_csv("learning_curve", curve)

    # -- attribution (§3.1) and coarse sets (§3.2, §4)
    t = time.perf_counter()
    analysed = {r: [kb.facts[i] for i in kb.analysed[r]] for r in kb.relations}
    facts = [f for r in kb.relations for f in analysed[r]]
    coarse_ig: dict[int, list[list[Neuron]]] = {}
    coarse_act: dict[int, list[list[Neuron]]] = {}
    scores_of: dict[int, torch.Tensor] = {}
    for f in ctx.progress(facts, desc="IG attribution"):
        acts = kn.mask_activations(list(f.prompts))  # (5, L, f)
        coarse_act[f.id] = [coarse_neurons(a, cfg.baseline_t) for a in acts]
        sc = [kn.get_scores(x, f.object, steps=cfg.ig_steps, riemann=cfg.riemann) for x in f.prompts]
        scores_of[f.id] = sc[0]
        coarse_ig[f.id] = [coarse_neurons(s, cfg.coarse_t) for s in sc]
    times["attribution"] = time.perf_counter() - t

    # -- refining with adaptive p per relation (§3.3)
    kn_of: dict[int, list[Neuron]] = {}
    base_of: dict[int, list[Neuron]] = {}
    p_final, p_base = [], []
    for r in kb.relations:
        ids = [f.id for f in analysed[r]]
        sets, p = refine_relation_from_coarse({i: coarse_ig[i] for i in ids}, cfg.p0, (2, 5), cfg.p_step,
                                              cfg.p_max_iter, cfg.min_prompts)
        kn_of |= sets
        p_final.append(p)
        sets, p = refine_relation_from_coarse({i: coarse_act[i] for i in ids}, cfg.p0, (2, 5), cfg.p_step,
                                              cfg.p_max_iter, cfg.min_prompts)
        base_of |= sets
        p_base.append(p)
    counts = [len(kn_of[f.id]) for f in facts]
    all_kn = [nr for f in facts for nr in kn_of[f.id]]
    all_base = [nr for f in facts for nr in base_of[f.id]]
    L = kn.n_layers
    m["gate.kn_facts"] = float(sum(c > 0 for c in counts))
    m["gate.kn_facts_ok"] = float(m["gate.kn_facts"] >= cfg.gate_min_kn_facts)
    m["c2.kn_per_fact"] = float(np.mean(counts))
    m["c2.top_half_frac"] = (sum(l_ >= L // 2 for l_, _ in all_kn) / len(all_kn)) if all_kn else float("nan")
    m["c2.top_layer_frac"] = (sum(l_ == L - 1 for l_, _ in all_kn) / len(all_kn)) if all_kn else float("nan")
    m["c2.p_final_mean"] = float(np.mean(p_final))
    m["c2.base_per_fact"] = float(np.mean([len(base_of[f.id]) for f in facts]))
    m["c2.base_top_half_frac"] = ((sum(l_ >= L // 2 for l_, _ in all_base) / len(all_base)) if all_base
                                  else float("nan"))
    hist = {"knowledge": [sum(l_ == k for l_, _ in all_kn) for k in range(L)],
            "baseline": [sum(l_ == k for l_, _ in all_base) for k in range(L)]}
    ctx.log(f"refined: {m['gate.kn_facts']:.0f}/{len(facts)} facts with knowledge neurons, "
            f"{m['c2.kn_per_fact']:.2f} per fact, layers {hist['knowledge']}, p per relation {p_final}")

    # -- C1: suppression / amplification (§5)
    t = time.perf_counter()
    g1 = ctx.generator(1)
    rows: dict[str, dict[str, dict[str, list[float]]]] = {}  # condition -> relation -> before/after lists
    lowp: dict[str, list[float]] = {"kn_b": [], "kn_a": [], "rand_b": [], "rand_a": []}

    def record(cond: str, rel: str, out: dict) -> None:
        d = rows.setdefault(cond, {}).setdefault(rel, {"b": [], "a": []})
        d["b"] += out["before_prob"].tolist()
        d["a"] += out["after_prob"].tolist()

    for f in facts:
        neurons = kn_of[f.id]
        if not neurons:
            continue
        prompts = list(f.prompts)
        rand = _matched_random(neurons, kn.d_ff, g1, exclude=neurons)
        other = _pick([x for x in kb.facts if x.relation != f.relation], g1)
        for mode in ("suppress", "amplify"):
            fn = kn.suppress_knowledge if mode == "suppress" else (
                lambda p, gt, nr: kn.enhance_knowledge(p, gt, nr, cfg.amplify_factor))
            out = fn(prompts, f.object, neurons)
            restores.check()
            record(f"{mode}.kn", f.relation, out)
            out_r = fn(prompts, f.object, rand)
            restores.check()
            record(f"{mode}.random", f.relation, out_r)
            record(f"{mode}.other", f.relation, fn(list(other.prompts), other.object, neurons))
            restores.check()
            if base_of[f.id]:
                record(f"{mode}.baseline", f.relation, fn(prompts, f.object, base_of[f.id]))
                restores.check()
            if mode == "amplify":
                keep = out["before_prob"] < 0.9
                lowp["kn_b"] += out["before_prob"][keep].tolist()
                lowp["kn_a"] += out["after_prob"][keep].tolist()
                lowp["rand_b"] += out_r["before_prob"][keep].tolist()
                lowp["rand_a"] += out_r["after_prob"][keep].tolist()
    change: dict[str, float] = {}
    for cond in ("suppress.kn", "suppress.random", "suppress.other", "suppress.baseline", "amplify.kn",
                 "amplify.random", "amplify.other", "amplify.baseline"):
        per_rel = [_rel_change(d["b"], d["a"]) for d in rows.get(cond, {}).values()]
        change[cond] = float(np.mean(per_rel)) if per_rel else float("nan")
    m["c1.suppress_drop"] = -change["suppress.kn"]
    m["c1.suppress_drop_random"] = -change["suppress.random"]
    m["c1.suppress_drop_other"] = -change["suppress.other"]
    m["c1.suppress_drop_baseline"] = -change["suppress.baseline"]
    m["c1.amplify_gain"] = change["amplify.kn"]
    m["c1.amplify_gain_random"] = change["amplify.random"]
    m["c1.amplify_gain_other"] = change["amplify.other"]
    m["c1.amplify_gain_baseline"] = change["amplify.baseline"]
    m["c1.amplify_gain_lowp"] = _rel_change(lowp["kn_b"], lowp["kn_a"])
    m["c1.amplify_gain_random_lowp"] = _rel_change(lowp["rand_b"], lowp["rand_a"])
    m["c1.lowp_prompts"] = float(len(lowp["kn_b"]))
    m["c1.suppress_margin_random"] = m["c1.suppress_drop"] - 3 * m["c1.suppress_drop_random"]
    m["c1.amplify_margin_random"] = m["c1.amplify_gain"] - 3 * m["c1.amplify_gain_random"]
    m["c1.other_margin_suppress"] = abs(m["c1.suppress_drop"]) / 3 - abs(m["c1.suppress_drop_other"])
    m["c1.other_margin_amplify"] = abs(m["c1.amplify_gain"]) / 3 - abs(m["c1.amplify_gain_other"])
    times["c1"] = time.perf_counter() - t

    # -- C3: activation on T1 / T2 / T3 (§6)
    t = time.perf_counter()
    d_vals, e_vals, a1, a2, a3 = [], [], [], [], []
    for f in facts:
        neurons = kn_of[f.id]
        if not neurons:
            continue
        li = torch.tensor([l_ for l_, _ in neurons])
        ii = torch.tensor([i for _, i in neurons])

        def act(texts: list[str], li: torch.Tensor = li, ii: torch.Tensor = ii) -> float:
            acts = kn.mask_activations(texts)  # (n, L, f)
            return float(acts[:, li, ii].mean(0).mean())  # over sentences, then over the fact's neurons

        x1, x2, x3 = act(kb.t1[f.id]), act(kb.t2[f.id]), act(kb.t3[f.id])
        a1.append(x1)
        a2.append(x2)
        a3.append(x3)
        d_vals.append(x1 - x2)
        e_vals.append(x1 - x3)

    def z(v: list[float]) -> float:
        if len(v) < 2:
            return float("nan")
        sd = float(np.std(v, ddof=1))
        return float(np.mean(v)) / (sd / math.sqrt(len(v))) if sd > 0 else float("nan")

    m["c3.act_t1"] = float(np.mean(a1)) if a1 else float("nan")
    m["c3.act_t2"] = float(np.mean(a2)) if a2 else float("nan")
    m["c3.act_t3"] = float(np.mean(a3)) if a3 else float("nan")
    m["c3.d_mean"] = float(np.mean(d_vals)) if d_vals else float("nan")
    m["c3.e_mean"] = float(np.mean(e_vals)) if e_vals else float("nan")
    m["c3.d_z"] = z(d_vals)
    m["c3.e_z"] = z(e_vals)
    m["c3.n_facts"] = float(len(d_vals))
    times["c3"] = time.perf_counter() - t

    # -- C4: updating facts (§7)
    t = time.perf_counter()
    g4 = ctx.generator(4)
    generic = {r: relation_generic([kn_of[f.id] for f in analysed[r]], cfg.generic_frac,
                                   official=cfg.generic_filter == "official") for r in kb.relations}

    def plan(f) -> dict | None:
        """The edit of one fact: prompt, target o', neurons and side-effect prompts (drawn once, reused)."""
        prompt = _pick(list(f.prompts), g4)
        others = [x for x in kb.facts_of(f.relation) if x.id != f.id and x.object != f.object]
        target = _pick(others, g4).object
        neurons = [nr for nr in kn_of[f.id] if nr not in generic[f.relation]]
        intra = [_pick([x for x in kb.facts_of(f.relation) if x.id != f.id], g4) for _ in range(cfg.n_side_facts)]
        inter = []
        for _ in range(cfg.n_side_facts):
            r2 = _pick([r for r in kb.relations if r != f.relation], g4) if len(kb.relations) > 1 else f.relation
            inter.append(_pick(kb.facts_of(r2), g4))
        rand = _matched_random(neurons, kn.d_ff, g4, exclude=kn_of[f.id]) if neurons else []
        logits = kn.mask_logits(prompt)[0]
        predicted = int(logits.argmax()) == kn.token_id(f.object)
        if not predicted or not neurons:
            return None
        side = {k: ([p for x in xs for p in x.prompts], [x.object for x in xs for _ in x.prompts])
                for k, xs in (("intra", intra), ("inter", inter))}
        return {"fact": f, "prompt": prompt, "target": target, "neurons": neurons, "random": rand, "side": side}

    def edit(p: dict, neurons: list[Neuron], c2: float, side: bool) -> dict[str, float]:
        res = kn.edit_knowledge(p["prompt"], p["target"], neurons, c1=cfg.c1, c2=c2, undo=False,
                                ground_truth=p["fact"].object)
        out = dict(res.metrics)
        try:
            if side:
                for k, (ps, gs) in p["side"].items():
                    out[f"{k}_nlp_after"] = _nlp(kn, ps, gs)
        finally:
            res.undo.restore()
        restores.check()
        return out

    select = [f for r in kb.relations for f in analysed[r][cfg.n_update:cfg.n_update + cfg.n_update_select]]
    tests = [f for r in kb.relations for f in analysed[r][:cfg.n_update]]
    sel_plans = [p for p in (plan(f) for f in select) if p is not None]
    c2_scores = {c2: float(np.mean([edit(p, p["neurons"], c2, False)["success1"] for p in sel_plans]))
                 if sel_plans else 0.0 for c2 in cfg.c2_grid}
    best = max(c2_scores.values())
    c2 = min(c for c, s in c2_scores.items() if s == best)  # ties -> smaller c2
    test_plans = [plan(f) for f in tests]
    done = [p for p in test_plans if p is not None]
    res_kn, res_rand, before_nlp = [], [], {"intra": [], "inter": []}
    for p in ctx.progress(done, desc="edits"):
        for k, (ps, gs) in p["side"].items():
            before_nlp[k].append(_nlp(kn, ps, gs))
        res_kn.append(edit(p, p["neurons"], c2, True))
        res_rand.append(edit(p, p["random"], c2, True))

    # with no qualifying edit (an untrained model predicts no fact) the rates are 0 and c4.n_edits = 0, which C4's
    # precondition catches
    def pct(rs: list[dict], key: str) -> float:
        return 100 * float(np.mean([r[key] for r in rs])) if rs else 0.0

    def ppl_increase(rs: list[dict], k: str) -> float:
        if not rs:
            return 0.0
        return 100 * (math.exp(np.mean([r[f"{k}_nlp_after"] for r in rs]) - np.mean(before_nlp[k])) - 1)

    m["c4.c2"] = float(c2)
    m["c4.n_edits"] = float(len(done))
    m["c4.n_skipped"] = float(len(tests) - len(done))
    m["c4.success1"] = pct(res_kn, "success1")
    m["c4.success5"] = pct(res_kn, "success5")
    m["c4.original_changed"] = pct(res_kn, "original_changed")
    m["c4.mrr_before"] = float(np.mean([1 / r["rank_before"] for r in res_kn])) if res_kn else 0.0
    m["c4.mrr_after"] = float(np.mean([1 / r["rank_after"] for r in res_kn])) if res_kn else 0.0
    m["c4.random_success1"] = pct(res_rand, "success1")
    m["c4.random_success5"] = pct(res_rand, "success5")
    m["c4.random_original_changed"] = pct(res_rand, "original_changed")
    m["c4.intra_ppl_increase"] = ppl_increase(res_kn, "intra")
    m["c4.inter_ppl_increase"] = ppl_increase(res_kn, "inter")
    m["c4.random_intra_ppl_increase"] = ppl_increase(res_rand, "intra")
    m["c4.random_inter_ppl_increase"] = ppl_increase(res_rand, "inter")
    times["c4"] = time.perf_counter() - t

    # -- C5: erasing relations (§8)
    t = time.perf_counter()
    by_rel = {r: ([p for f in kb.facts_of(r) for p in f.prompts], [f.object for f in kb.facts_of(r) for _ in f.prompts])
              for r in kb.relations}
    before = {r: kn.accuracy_perplexity(*by_rel[r]) for r in kb.relations}
    erase_rows = []
    for r in kb.relations:
        c = Counter(nr for f in analysed[r] for nr in kn_of[f.id])
        neurons = [nr for nr, _ in c.most_common(cfg.n_relation_neurons)]
        if not neurons:
            continue
        _, handle = kn.erase_knowledge(neurons, cfg.erase_value, undo=False)
        try:
            after = {r2: kn.accuracy_perplexity(*by_rel[r2]) for r2 in kb.relations}
        finally:
            handle.restore()
        restores.check()
        inc = {r2: 100 * (after[r2]["ppl"] / before[r2]["ppl"] - 1) for r2 in kb.relations}
        others = [inc[r2] for r2 in kb.relations if r2 != r]
        erase_rows.append({"relation": r, "n_neurons": len(neurons), "ppl_before": before[r]["ppl"],
                           "ppl_after": after[r]["ppl"], "ppl_increase": inc[r],
                           "ppl_increase_other": float(np.mean(others)) if others else float("nan"),
                           "acc_before": 100 * before[r]["acc"], "acc_after": 100 * after[r]["acc"],
                           "acc_drop_other": float(np.mean([100 * (before[x]["acc"] - after[x]["acc"])
                                                            for x in kb.relations if x != r])) if others
                           else float("nan")})
    mean = lambda key: float(np.mean([e[key] for e in erase_rows])) if erase_rows else float("nan")  # noqa: E731
    m["c5.n_erased"] = float(len(erase_rows))
    m["c5.ppl_increase_erased"] = mean("ppl_increase")
    m["c5.ppl_increase_other"] = mean("ppl_increase_other")
    m["c5.acc_drop_pts"] = float(np.mean([e["acc_before"] - e["acc_after"] for e in erase_rows])) if erase_rows \
        else float("nan")
    m["c5.acc_drop_other_pts"] = mean("acc_drop_other")
    m["c5.margin_other"] = m["c5.ppl_increase_erased"] - 5 * m["c5.ppl_increase_other"]
    times["c5"] = time.perf_counter() - t

    m["gate.interventions"] = float(restores.n)
    m["gate.restore_mismatches"] = float(restores.mismatches)
    for k, v in times.items():
        m[f"time.{k}"] = v
    ctx.log(f"C1 suppress {m['c1.suppress_drop']:.1f} % (random {m['c1.suppress_drop_random']:.1f} %), amplify "
            f"{m['c1.amplify_gain']:.1f} %; C3 d {m['c3.d_mean']:.3f} (z {m['c3.d_z']:.1f}); C4 c2={c2:g} "
            f"success {m['c4.success1']:.1f} % vs random {m['c4.random_success1']:.1f} %; C5 erased "
            f"+{m['c5.ppl_increase_erased']:.0f} % vs others +{m['c5.ppl_increase_other']:.1f} %; "
            f"{restores.n} interventions, {restores.mismatches} not restored")
    ctx.log("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))

    # -- outputs
    ctx.save_json("knowledge_neurons", {"kn": {str(k): v for k, v in kn_of.items()},
                                        "baseline": {str(k): v for k, v in base_of.items()},
                                        "p_final": dict(zip(kb.relations, p_final)),
                                        "p_baseline": dict(zip(kb.relations, p_base)), "layer_hist": hist})
    ctx.save_json("c1_changes", change)
    ctx.save_json("c4_c2_selection", {str(k): v for k, v in c2_scores.items()})
    ctx.save_csv("c5_erase", erase_rows)
    star = max(facts, key=lambda f: (len(kn_of[f.id]), -f.id))
    figures.heatmap(ctx, scores_of[star.id], kn_of[star.id], star.prompts[0], star.object)
    figures.change_bars(ctx, change)
    figures.layer_hist(ctx, hist)
    figures.erase_bars(ctx, erase_rows)
    figures.learning_curve(ctx, curve)
    return {k: float(v) for k, v in m.items()}
