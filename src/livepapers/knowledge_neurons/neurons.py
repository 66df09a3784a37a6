"""Knowledge neurons (Dai et al., ACL 2022): attribution, refining, suppression/amplification, editing, erasing.

Each FFN block is a key–value memory, ``FFN(h) = act(h W1 + b1) W2 + b2``: the intermediate activation
``w^(l) ∈ R^{d_ff}`` at the [MASK] position selects columns of ``W2`` (HF: ``output.dense.weight``, shape
``[hidden, d_ff]``), the *value slots*. Notation: L layers, m Riemann steps, P_x(·) the softmax probability of the
gold token at [MASK].

* Knowledge attribution (§3.1, official implementation): for each layer l, replace the whole [MASK]-position
  vector by ``α_k · w̄^(l)`` (all of the layer's neurons scaled together), and
  ``Attr(w_i^(l)) = w̄_i^(l) / m · Σ_k ∂P_x(α_k w̄^(l)) / ∂w_i^(l)``, α_k = k/m, k = 0..m−1 (left rule, official),
  k = 1..m (right, the paper's text) or linspace(0, 1, m) (EleutherAI). All L·m scaled copies run as one batch:
  row block l is patched at layer l only (one forward hook per layer), and one ``autograd.grad`` yields every
  layer's gradient.
* Coarse neurons: ``Attr ≥ t · max over all layers and neurons`` (t = 0.2, official ``>=``).
* Refining: keep neurons in the coarse sets of ≥ max(p·n, 3) of the fact's n prompts; per relation p is adapted
  (±0.05, up to 6 evaluations) until the mean count per fact lies in [2, 5].
* Interventions at the [MASK] position: suppress (×0) or amplify (×2) the activations of given neurons.
* Edit (update a fact): ``v ← v − λ1 e(o) + λ2 e(o')`` with ``λ1 = c1‖v‖/‖e(o)‖``, ``λ2 = c2‖v‖/‖e(o')‖``.
* Erase (a relation): value slots set to 0 (official) or to the [UNK] embedding (paper text).

Shapes: b batch, s sequence, L layers, f = d_ff, h hidden, V vocabulary. Neurons are ``(layer, index)`` pairs.
This module does no file I/O.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

Neuron = tuple[int, int]
Riemann = Literal["left", "right", "linspace"]
_MODES = ("suppress", "enhance", "amplify", "scale")


def _getattr_path(obj: Any, path: str) -> Any:
    for name in path.split("."):
        obj = obj[int(name)] if name.isdigit() else getattr(obj, name)
    return obj


def riemann_alphas(steps: int, riemann: Riemann = "left", dtype: torch.dtype = torch.float32) -> Tensor:
    """The m scaling factors α_k of the IG Riemann sum: left k/m (k=0..m−1), right k/m (k=1..m), or
    linspace(0, 1, m). All three are used with the weight w̄/m. Shape ``(m,)``."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if riemann == "left":
        return torch.arange(steps, dtype=dtype) / steps
    if riemann == "right":
        return torch.arange(1, steps + 1, dtype=dtype) / steps
    if riemann == "linspace":
        return torch.linspace(0.0, 1.0, steps, dtype=dtype)
    raise ValueError(f"riemann must be 'left', 'right' or 'linspace', got {riemann!r}")


def coarse_neurons(scores: Tensor, adaptive_threshold: float | None = 0.2, threshold: float | None = None,
                   percentile: float | None = None, strict: bool = False) -> list[Neuron]:
    """Neurons of one prompt whose score passes the threshold (§3.2).

    Args:
        scores: ``(L, f)`` attribution (or activation) scores.
        adaptive_threshold: keep ``score ≥ t · max(scores)`` (the max over all layers; official t = 0.2).
        threshold: an absolute threshold instead.
        percentile: keep scores at or above this percentile (0–100) instead.
        strict: ``>`` instead of ``>=`` (EleutherAI).
    """
    given = [x is not None for x in (adaptive_threshold, threshold, percentile)]
    if sum(given) != 1:
        raise ValueError("give exactly one of adaptive_threshold, threshold, percentile")
    if scores.dim() != 2:
        raise ValueError(f"scores must be (layers, d_ff), got shape {tuple(scores.shape)}")
    if adaptive_threshold is not None:
        cut = adaptive_threshold * scores.max()
    elif threshold is not None:
        cut = torch.as_tensor(threshold, dtype=scores.dtype)
    else:
        if not 0 <= float(percentile) <= 100:
            raise ValueError(f"percentile must be in [0, 100], got {percentile}")
        cut = torch.quantile(scores.flatten().double(), float(percentile) / 100).to(scores.dtype)
    keep = scores > cut if strict else scores >= cut
    return [(int(l_), int(i)) for l_, i in keep.nonzero().tolist()]


def refine_neurons(coarse: Sequence[Sequence[Neuron]], p: float = 0.7, min_prompts: int = 3,
                   negative: Sequence[Sequence[Neuron]] = ()) -> list[Neuron]:
    """Neurons in the coarse sets of at least ``max(p · n, min_prompts)`` of the fact's n prompts (§3.3).

    ``p`` is rounded to 10 decimals first, so that 0.7 − 0.05 − 0.05 counts as 0.6 (3 of 5 prompts, as the spec's
    three levels say). ``negative``: coarse sets of negative prompts; a neuron in at least ``max(p · n_neg, 1)``
    of them is removed (EleutherAI's negative examples). Sorted by (layer, index).
    """
    n = len(coarse)
    if n == 0:
        return []
    p = round(float(p), 10)
    counts = Counter(nr for c in coarse for nr in set(map(tuple, c)))
    need = max(p * n, min_prompts)
    kept = {nr for nr, k in counts.items() if k >= need}
    if negative:
        neg = Counter(nr for c in negative for nr in set(map(tuple, c)))
        kept -= {nr for nr, k in neg.items() if k >= max(p * len(negative), 1)}
    return sorted(kept)


def refine_relation_from_coarse(coarse: Mapping[Any, Sequence[Sequence[Neuron]]], p0: float = 0.7,
                                target: tuple[float, float] = (2, 5), step: float = 0.05, max_iter: int = 6,
                                min_prompts: int = 3) -> tuple[dict[Any, list[Neuron]], float]:
    """Adaptive p for one relation (official ``2_get_kn.py``): evaluate, stop if the mean number of refined
    neurons per fact lies in ``target``, else p −= step (too few) or += step (too many); up to ``max_iter``
    evaluations. Returns the sets of the last evaluation and its p."""
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    p = p0
    sets: dict[Any, list[Neuron]] = {}
    for it in range(max_iter):
        sets = {k: refine_neurons(c, p, min_prompts) for k, c in coarse.items()}
        avg = sum(len(v) for v in sets.values()) / max(len(sets), 1)
        if target[0] <= avg <= target[1] or it == max_iter - 1:
            break
        p = p - step if avg < target[0] else p + step
    return sets, round(p, 10)


def relation_generic(sets: Sequence[Sequence[Neuron]], frac: float = 0.1, official: bool = False) -> set[Neuron]:
    """Relation-generic neurons that the fact update (§7) removes from a fact's set.

    ``sets``: the refined knowledge-neuron sets of the N facts of one relation. The spec (and the paper's text):
    a neuron that is a knowledge neuron of more than ``frac · N`` of them, ``count > frac · N``. ``official=True``
    follows ``select_kn`` of the official ``6_edit_knowledge_sampled.py``, which seeds its counter with the fact's
    own set and then counts every set of the relation, the fact's own included, so a kept neuron's count is
    ``1 + count``: the test is ``1 + count > frac · N`` (at N = 20 any neuron shared with one other fact goes).
    """
    counts = Counter(nr for s in sets for nr in set(map(tuple, s)))
    extra = 1 if official else 0
    return {nr for nr, k in counts.items() if k + extra > frac * len(sets)}


def weights_checksum(model: nn.Module) -> str:
    """BLAKE2 digest of every parameter and buffer (names, dtypes, shapes, bytes): equal iff bit-identical."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(t.detach().contiguous().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@dataclass
class WeightUndo:
    """Saved copies of edited weight entries; :meth:`restore` copies them back (bit-exact, unlike reversing the
    arithmetic as the official script does)."""

    saved: list[tuple[Tensor, Any, Tensor]] = field(default_factory=list)
    restored: bool = False

    def save(self, param: Tensor, index: Any) -> None:
        self.saved.append((param, index, param.data[index].clone()))

    @torch.no_grad()
    def restore(self) -> None:
        for param, index, copy in reversed(self.saved):
            param.data[index] = copy
        self.restored = True


@dataclass
class EditResult:
    """What an edit did at the edited prompt, and the handle that undoes it."""

    metrics: dict[str, float]
    undo: WeightUndo
    neurons: list[Neuron]


class KnowledgeNeurons:
    """Knowledge-neuron analysis of a Hugging Face masked LM (``BertForMaskedLM`` and look-alikes).

    Args:
        model: the LM (put in eval mode here).
        tokenizer: its tokenizer (needs ``mask_token_id`` for ``model_type="bert"``).
        model_type: ``"bert"`` (the [MASK] position is attributed). Other architectures plug in through the
            attribute paths below.
        device: where inputs go.
        transformer_layers_attr: path to the list of transformer layers.
        input_ff_attr: path, inside a layer, to the module whose output is the intermediate activation
            ``act(x W1 + b1)`` of shape ``(b, s, f)``.
        output_ff_attr: path, inside a layer, to ``W2`` of shape ``(h, f)``; value slot i = column i.
        word_embeddings_attr: path to the input word embeddings ``(V, h)``.
    """

    def __init__(self, model: nn.Module, tokenizer: Any, model_type: str = "bert", device: str = "cpu", *,
                 transformer_layers_attr: str = "bert.encoder.layer", input_ff_attr: str = "intermediate",
                 output_ff_attr: str = "output.dense.weight",
                 word_embeddings_attr: str = "bert.embeddings.word_embeddings.weight") -> None:
        if model_type != "bert":
            raise ValueError(f"model_type must be 'bert' (masked LM; other architectures are not supported here), "
                             f"got {model_type!r}")
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.model_type = model_type
        self.device = device
        self.transformer_layers_attr = transformer_layers_attr
        self.input_ff_attr = input_ff_attr
        self.output_ff_attr = output_ff_attr
        self.word_embeddings_attr = word_embeddings_attr
        self.layers = list(_getattr_path(model, transformer_layers_attr))
        self.ff_modules = [_getattr_path(layer, input_ff_attr) for layer in self.layers]
        self.n_layers = len(self.layers)
        self.d_ff = int(self.value_slots(0).shape[1])
        if tokenizer.mask_token_id is None:
            raise ValueError("the tokenizer has no mask token (model_type='bert' needs [MASK])")
        self.mask_id = int(tokenizer.mask_token_id)

    # ------------------------------------------------------------------ basics
    def value_slots(self, layer: int) -> Tensor:
        """``W2`` of ``layer``, shape ``(h, f)``; column i is the value slot of neuron (layer, i)."""
        return _getattr_path(self.layers[layer], self.output_ff_attr)

    @property
    def word_embeddings(self) -> Tensor:
        """Input word embeddings ``(V, h)``."""
        return _getattr_path(self.model, self.word_embeddings_attr)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def encode(self, prompts: str | Sequence[str]) -> tuple[Tensor, Tensor, Tensor]:
        """Token ids ``(b, s)``, attention mask ``(b, s)`` and the [MASK] position of each row ``(b,)``.

        The position is found from the ids (never a fixed offset); every prompt needs exactly one [MASK].
        """
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not prompts:
            raise ValueError("no prompts given")
        enc = self.tokenizer(prompts, padding=True, return_tensors="pt")
        ids, am = enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device)
        is_mask = ids == self.mask_id
        counts = is_mask.sum(1)
        if (counts != 1).any():
            k = int((counts != 1).nonzero()[0, 0])
            raise ValueError(f"each prompt needs exactly one {self.tokenizer.mask_token}, got {int(counts[k])} in "
                             f"{prompts[k]!r}")
        return ids, am, is_mask.float().argmax(1)

    def token_id(self, word: str) -> int:
        """The id of a single-token word; multi-piece or unknown words are refused (objects must be one token)."""
        pieces = self.tokenizer.tokenize(word)
        if len(pieces) != 1:
            raise ValueError(f"ground truth {word!r} is not a single token (tokenises to {pieces})")
        tid = int(self.tokenizer.convert_tokens_to_ids(pieces[0]))
        if tid == self.tokenizer.unk_token_id and word != self.tokenizer.unk_token:
            raise ValueError(f"ground truth {word!r} is not in the vocabulary")
        return tid

    def _ids(self, words: str | Sequence[str] | Tensor, b: int) -> Tensor:
        if isinstance(words, Tensor):
            t = words.to(self.device)
        elif isinstance(words, str):
            t = torch.full((b,), self.token_id(words), device=self.device)
        else:
            t = torch.tensor([self.token_id(w) for w in words], device=self.device)
        if t.shape != (b,):
            raise ValueError(f"need one ground truth per prompt ({b}), got {tuple(t.shape)}")
        return t

    @torch.no_grad()
    def mask_logits(self, prompts: str | Sequence[str], batch_size: int = 512) -> Tensor:
        """Logits at each prompt's [MASK] position, ``(b, V)``."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        out = []
        for k in range(0, len(prompts), batch_size):
            ids, am, pos = self.encode(prompts[k:k + batch_size])
            logits = self.model(input_ids=ids, attention_mask=am).logits
            out.append(logits[torch.arange(len(pos)), pos])
        return torch.cat(out)

    def gold_probs(self, prompts: str | Sequence[str], ground_truths: str | Sequence[str] | Tensor
                   ) -> tuple[Tensor, Tensor]:
        """``(P_x(gold), argmax ids)`` at [MASK] for each prompt, shapes ``(b,)``."""
        logits = self.mask_logits(prompts)
        gold = self._ids(ground_truths, logits.shape[0])
        probs = logits.softmax(-1)
        return probs[torch.arange(len(gold)), gold], probs.argmax(-1)

    @torch.no_grad()
    def mask_activations(self, prompts: str | Sequence[str], batch_size: int = 512) -> Tensor:
        """Intermediate activations w^(l) at each prompt's [MASK] position, unmodified forward: ``(b, L, f)``."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        out = []
        for k in range(0, len(prompts), batch_size):
            ids, am, pos = self.encode(prompts[k:k + batch_size])
            acts: list[Tensor] = [None] * self.n_layers  # type: ignore[list-item]

            def grab(l_: int, acts: list = acts, pos: Tensor = pos) -> Callable:
                def hook(_m: nn.Module, _i: Any, o: Tensor) -> None:
                    acts[l_] = o[torch.arange(len(pos)), pos].detach()
                return hook

            with self._hooks([(m, grab(l_)) for l_, m in enumerate(self.ff_modules)]):
                self.model(input_ids=ids, attention_mask=am)
            out.append(torch.stack(acts, 1))
        return torch.cat(out)

    @contextlib.contextmanager
    def _hooks(self, pairs: Sequence[tuple[nn.Module, Callable]]) -> Iterator[None]:
        handles = []
        try:
            for module, fn in pairs:
                handles.append(module.register_forward_hook(fn))
            yield
        finally:
            for h in handles:
                h.remove()

    # ------------------------------------------------------------------ attribution
    def get_scores(self, prompt: str, ground_truth: str, steps: int = 20, batch_size: int | None = None,
                   attribution_method: Literal["integrated_grads", "max_activations"] = "integrated_grads",
                   riemann: Riemann = "left", layers: str | Sequence[int] = "all") -> Tensor:
        """Attribution score of every neuron for one prompt, ``(L, f)`` (§3.1; layers not asked for are 0).

        ``integrated_grads``: ``Attr = w̄ / m · Σ_k ∂P_x(gold) / ∂w |_{w = α_k w̄}`` per layer, the layer's whole
        [MASK]-position vector scaled together. The ``len(layers) · m`` scaled copies run as one batch by default
        (``batch_size=None``); an int splits the rows into forwards of at most that many rows (``batch_size=steps``
        is the official one-layer-per-forward loop). ``max_activations``: the unmodified activations w̄ (§4).
        """
        layer_ids = list(range(self.n_layers)) if layers == "all" else [int(x) for x in layers]  # type: ignore
        if any(not 0 <= x < self.n_layers for x in layer_ids) or not layer_ids:
            raise ValueError(f"layers must be 'all' or indices in 0..{self.n_layers - 1}, got {layers!r}")
        wbar = self.mask_activations(prompt)[0]  # (L, f)
        if attribution_method == "max_activations":
            out = torch.zeros_like(wbar)
            out[layer_ids] = wbar[layer_ids]
            return out
        if attribution_method != "integrated_grads":
            raise ValueError(f"attribution_method must be 'integrated_grads' or 'max_activations', "
                             f"got {attribution_method!r}")
        alphas = riemann_alphas(steps, riemann, wbar.dtype).to(wbar.device)
        ids, am, pos = self.encode(prompt)
        gold = self.token_id(ground_truth)
        rows = [(l_, k) for l_ in layer_ids for k in range(steps)]
        bs = len(rows) if batch_size is None else int(batch_size)
        if bs < 1:
            raise ValueError(f"batch_size must be >= 1 or None, got {batch_size!r}")
        grads = torch.zeros_like(wbar)
        p = int(pos[0])
        for start in range(0, len(rows), bs):
            chunk = rows[start:start + bs]
            b = len(chunk)
            leaves: dict[int, tuple[Tensor, Tensor]] = {}
            for l_ in dict.fromkeys(x for x, _ in chunk):
                idx = [j for j, (x, _) in enumerate(chunk) if x == l_]
                a = alphas[[chunk[j][1] for j in idx]]
                leaf = (a[:, None] * wbar[l_][None, :]).requires_grad_(True)  # α_k w̄^(l), (n, f)
                leaves[l_] = (torch.tensor(idx, device=wbar.device), leaf)

            def patch(l_: int, leaves: dict = leaves) -> Callable:
                r_idx, leaf = leaves[l_]

                def hook(_m: nn.Module, _i: Any, o: Tensor) -> Tensor:
                    o = o.clone()
                    o[r_idx, p] = leaf.to(o.dtype)
                    return o
                return hook

            with torch.enable_grad(), self._hooks([(self.ff_modules[l_], patch(l_)) for l_ in leaves]):
                logits = self.model(input_ids=ids.expand(b, -1), attention_mask=am.expand(b, -1)).logits[:, p]
                prob = logits.softmax(-1)[:, gold]  # P_x(gold) per row; rows are independent
                g = torch.autograd.grad(prob.sum(), [v[1] for v in leaves.values()])
            for l_, gl in zip(leaves, g):
                grads[l_] += gl.sum(0)
        return wbar * grads / steps  # Riemann sum × w̄ / m (official scaling for all three rules)

    def get_coarse_neurons(self, prompt: str, ground_truth: str, adaptive_threshold: float | None = 0.2,
                           threshold: float | None = None, percentile: float | None = None, strict: bool = False,
                           **score_kw: Any) -> list[Neuron]:
        """Coarse neurons of one prompt (§3.2): ``score ≥ t · max`` over all layers (official ``>=``)."""
        if threshold is not None or percentile is not None:
            adaptive_threshold = None
        scores = self.get_scores(prompt, ground_truth, **score_kw)
        return coarse_neurons(scores, adaptive_threshold, threshold, percentile, strict)

    def get_refined_neurons(self, prompts: Sequence[str], ground_truth: str, p: float = 0.7, min_prompts: int = 3,
                            coarse_adaptive_threshold: float = 0.2, negative_examples: Sequence[str] | None = None,
                            **score_kw: Any) -> list[Neuron]:
        """Knowledge neurons of one fact (§3.3): in the coarse sets of ≥ max(p·n, min_prompts) of its n prompts;
        neurons frequent among ``negative_examples`` (prompts, same ground truth) are removed."""
        coarse = [self.get_coarse_neurons(x, ground_truth, coarse_adaptive_threshold, **score_kw) for x in prompts]
        neg = [self.get_coarse_neurons(x, ground_truth, coarse_adaptive_threshold, **score_kw)
               for x in (negative_examples or ())]
        return refine_neurons(coarse, p, min_prompts, neg)

    def refine_relation(self, facts: Mapping[Any, tuple[Sequence[str], str]], p0: float = 0.7,
                        target: tuple[float, float] = (2, 5), step: float = 0.05, max_iter: int = 6,
                        min_prompts: int = 3, coarse_adaptive_threshold: float = 0.2, **score_kw: Any
                        ) -> dict[Any, list[Neuron]]:
        """Knowledge neurons of every fact of one relation with the adaptive p (``facts``: id -> (prompts, gold))."""
        coarse = {k: [self.get_coarse_neurons(x, gt, coarse_adaptive_threshold, **score_kw) for x in prompts]
                  for k, (prompts, gt) in facts.items()}
        return refine_relation_from_coarse(coarse, p0, target, step, max_iter, min_prompts)[0]

    # ------------------------------------------------------------------ interventions on activations
    @contextlib.contextmanager
    def intervene(self, neurons: Sequence[Neuron], mode: str = "suppress", factor: float = 2.0) -> Iterator[None]:
        """Within the block, every forward sets the listed neurons' [MASK]-position activations to 0
        (``suppress``) or multiplies them by ``factor`` (``enhance``/``amplify``/``scale``), all layers at once.
        Hooks are removed on exit, also on exceptions."""
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
        by_layer: dict[int, list[int]] = {}
        for l_, i in neurons:
            if not (0 <= l_ < self.n_layers and 0 <= i < self.d_ff):
                raise ValueError(f"neuron {(l_, i)} out of range (layers 0..{self.n_layers - 1}, "
                                 f"d_ff {self.d_ff})")
            by_layer.setdefault(int(l_), []).append(int(i))
        state: dict[str, Tensor] = {}
        mult = 0.0 if mode == "suppress" else float(factor)

        def grab_ids(_m: nn.Module, args: tuple, kwargs: dict) -> None:
            ids = kwargs.get("input_ids", args[0] if args else None)
            state["mask"] = ids == self.mask_id

        def patch(idx: list[int]) -> Callable:
            cols = torch.tensor(idx, device=self.device)

            def hook(_m: nn.Module, _i: Any, o: Tensor) -> Tensor:
                sel = state["mask"]
                o = o.clone()
                rows = o[sel]  # (n_masks, f)
                rows[:, cols] = rows[:, cols] * mult
                o[sel] = rows
                return o
            return hook

        handles = []
        try:
            if by_layer:
                handles.append(self.model.register_forward_pre_hook(grab_ids, with_kwargs=True))
            for l_, idx in by_layer.items():
                handles.append(self.ff_modules[l_].register_forward_hook(patch(idx)))
            yield
        finally:
            for h in handles:
                h.remove()

    def _modify(self, prompt: str | Sequence[str], ground_truth: str | Sequence[str] | Tensor,
                neurons: Sequence[Neuron], mode: str, factor: float = 2.0) -> dict[str, Tensor]:
        before, arg_before = self.gold_probs(prompt, ground_truth)
        with self.intervene(neurons, mode, factor):
            after, arg_after = self.gold_probs(prompt, ground_truth)
        return {"before_prob": before, "after_prob": after, "before_argmax": arg_before, "after_argmax": arg_after}

    def suppress_knowledge(self, prompt: str | Sequence[str], ground_truth: str | Sequence[str] | Tensor,
                           neurons: Sequence[Neuron]) -> dict[str, Tensor]:
        """P_x(gold) and the argmax before/after zeroing the neurons at [MASK] (§5); tensors of shape ``(b,)``."""
        return self._modify(prompt, ground_truth, neurons, "suppress")

    def enhance_knowledge(self, prompt: str | Sequence[str], ground_truth: str | Sequence[str] | Tensor,
                          neurons: Sequence[Neuron], factor: float = 2.0) -> dict[str, Tensor]:
        """P_x(gold) and the argmax before/after multiplying the neurons by ``factor`` at [MASK] (§5)."""
        return self._modify(prompt, ground_truth, neurons, "enhance", factor)

    # ------------------------------------------------------------------ interventions on weights
    def edit_knowledge(self, prompt: str, target: str, neurons: Sequence[Neuron], c1: float = 1.0, c2: float = 1.0,
                       norm_scaled: bool = True, undo: bool = True, ground_truth: str | None = None
                       ) -> EditResult:
        """Update a fact (§7, official ``edit``): for each neuron's value slot v,
        ``v ← v − λ1 e(o) + λ2 e(o')`` with ``λ1 = c1‖v‖/‖e(o)‖``, ``λ2 = c2‖v‖/‖e(o')‖`` (all λ from the unedited
        slots), or ``λ1 = c1``, ``λ2 = c2`` when ``norm_scaled=False`` (EleutherAI uses 2, 2).

        ``ground_truth`` (o) defaults to the model's current argmax at the prompt's [MASK]. Metrics on the edited
        prompt: ``success1`` (argmax becomes o'), ``success5``, ``rank_before``/``rank_after`` of o' (1 = top),
        ``original_changed`` (argmax ≠ o). ``undo=True`` restores the saved columns before returning; else the edit
        stays and ``result.undo.restore()`` removes it (bit-exact).
        """
        logits = self.mask_logits(prompt)[0]
        o_id = int(logits.argmax()) if ground_truth is None else self.token_id(ground_truth)
        t_id = self.token_id(target)
        emb = self.word_embeddings
        handle = WeightUndo()
        neurons = [(int(a), int(b)) for a, b in neurons]
        with torch.no_grad():
            e_o, e_t = emb[o_id].clone(), emb[t_id].clone()
            deltas = []
            for l_, i in neurons:
                v = self.value_slots(l_)[:, i]
                lam1 = c1 * v.norm() / e_o.norm() if norm_scaled else torch.as_tensor(c1, dtype=v.dtype)
                lam2 = c2 * v.norm() / e_t.norm() if norm_scaled else torch.as_tensor(c2, dtype=v.dtype)
                deltas.append((l_, i, -lam1 * e_o + lam2 * e_t))
            try:
                for l_, i, d in deltas:
                    w = self.value_slots(l_)
                    handle.save(w, (slice(None), i))
                    w[:, i] += d
            except BaseException:
                handle.restore()
                raise
        try:
            after = self.mask_logits(prompt)[0]
        except BaseException:
            handle.restore()
            raise

        def rank(lg: Tensor, tid: int) -> float:
            return float((lg > lg[tid]).sum()) + 1.0

        metrics = {"success1": float(int(after.argmax()) == t_id), "success5": float(rank(after, t_id) <= 5),
                   "rank_before": rank(logits, t_id), "rank_after": rank(after, t_id),
                   "original_changed": float(int(after.argmax()) != o_id),
                   "target_prob_before": float(logits.softmax(-1)[t_id]),
                   "target_prob_after": float(after.softmax(-1)[t_id])}
        if undo:
            handle.restore()
        return EditResult(metrics, handle, neurons)

    def erase_knowledge(self, neurons: Sequence[Neuron], erase_value: Literal["zero", "unk"] = "zero",
                        undo: bool = True, prompts: Sequence[str] | None = None,
                        ground_truths: Sequence[str] | Tensor | None = None) -> tuple[dict[str, float], WeightUndo]:
        """Erase (§8, official ``erase``): set the neurons' value slots to 0 (official) or to the [UNK] embedding
        (the paper's text). With ``prompts``/``ground_truths``, returns top-1 accuracy and perplexity
        ``exp(mean −log P(gold))`` before and after. ``undo=True`` restores the slots before returning."""
        if erase_value not in ("zero", "unk"):
            raise ValueError(f"erase_value must be 'zero' or 'unk', got {erase_value!r}")
        metrics: dict[str, float] = {}
        if prompts is not None:
            metrics |= {f"{k}_before": v for k, v in self.accuracy_perplexity(prompts, ground_truths).items()}
        handle = WeightUndo()
        with torch.no_grad():
            try:
                unk = self.word_embeddings[self.tokenizer.unk_token_id].clone()
                for l_, i in neurons:
                    w = self.value_slots(int(l_))
                    handle.save(w, (slice(None), int(i)))
                    w[:, int(i)] = 0.0 if erase_value == "zero" else unk
            except BaseException:
                handle.restore()
                raise
        try:
            if prompts is not None:
                metrics |= {f"{k}_after": v for k, v in self.accuracy_perplexity(prompts, ground_truths).items()}
        finally:
            if undo:
                handle.restore()
        return metrics, handle

    def accuracy_perplexity(self, prompts: Sequence[str], ground_truths: Sequence[str] | Tensor | None
                            ) -> dict[str, float]:
        """Top-1 accuracy and perplexity ``exp(mean −log P(gold))`` over prompts."""
        if ground_truths is None:
            raise ValueError("ground_truths are needed with prompts")
        logits = self.mask_logits(prompts)
        gold = self._ids(ground_truths, logits.shape[0])
        logp = logits.log_softmax(-1)[torch.arange(len(gold)), gold]
        return {"acc": float((logits.argmax(-1) == gold).float().mean()), "ppl": math.exp(float(-logp.mean()))}


__all__ = ["EditResult", "KnowledgeNeurons", "Neuron", "WeightUndo", "coarse_neurons", "refine_neurons",
           "refine_relation_from_coarse", "riemann_alphas", "weights_checksum"]
