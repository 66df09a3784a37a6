"""Why a value-slot edit (§7) can fail to move the prediction: the alignment of the edit direction with the
gradient of the score gap.

The update ``v ← v − λ1 e(o) + λ2 e(o')`` changes the output of layer l's FFN at the [MASK] position,
``u^(l) = W2 w^(l) + b2`` (before dropout, the residual and the LayerNorm), by ``Σ_i w_i^(l) Δv_i`` with every
``Δv_i`` in the plane of the *input* word embeddings e(o), e(o'). To first order the edit raises the score gap
``z_o' − z_o`` (logits at [MASK]) by ``⟨∂(z_o' − z_o)/∂u^(l), Δu^(l)⟩``. The edit presumes that adding e(o') − e(o)
to the FFN output moves the prediction from o to o', i.e. that ``g^(l) = ∂(z_o' − z_o)/∂u^(l)`` points along
``e(o') − e(o)``. :func:`score_gap_alignment` measures ``cos(g^(l), e(o') − e(o))`` per layer (and at the final
hidden state); for unrelated directions in h dimensions it is ≈ 0 with spread ≈ 1/√h.

This module does no file I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from .neurons import KnowledgeNeurons, _getattr_path


def score_gap_gradients(kn: KnowledgeNeurons, prompt: str, ground_truth: str, target: str) -> Tensor:
    """Gradients of the score gap ``z_o' − z_o`` (logits at [MASK]) at the [MASK] position.

    Args:
        kn: the analysed model.
        prompt: one cloze prompt with one [MASK].
        ground_truth: o.  target: o'.

    Returns:
        ``(L + 1, h)``: rows 0..L−1 are ``∂(z_o' − z_o)/∂u^(l)`` for u^(l) the output of layer l's FFN (the module
        owning ``output_ff_attr``'s weight, before dropout, residual and LayerNorm), row L is the gradient with
        respect to the final hidden state h^(L) (the MLM head's input). The model is not changed (no parameter
        gradient is accumulated; hooks are removed).
    """
    o, t = kn.token_id(ground_truth), kn.token_id(target)
    path = kn.output_ff_attr.rsplit(".", 1)[0] if kn.output_ff_attr.endswith(".weight") else kn.output_ff_attr
    modules = [_getattr_path(layer, path) for layer in kn.layers]
    ids, am, pos = kn.encode(prompt)
    p = int(pos[0])
    outs: list[Tensor] = [None] * kn.n_layers  # type: ignore[list-item]

    def grab(l_: int) -> Callable:
        def hook(_m: nn.Module, _i: Any, out: Tensor | tuple) -> None:
            outs[l_] = out[0] if isinstance(out, tuple) else out
        return hook

    # the final hidden state is the last layer's output, grabbed by a hook too: output_hidden_states=True would
    # make transformers (v5) install permanent output-capturing hooks on the model
    pairs = [(m, grab(l_)) for l_, m in enumerate(modules)] + [(kn.layers[-1], grab(kn.n_layers))]
    outs.append(None)  # type: ignore[arg-type]
    with torch.enable_grad(), kn._hooks(pairs):
        logits = kn.model(input_ids=ids, attention_mask=am).logits[0, p]
        grads = torch.autograd.grad(logits[t] - logits[o], outs)
    return torch.stack([g[0, p].detach() for g in grads])


def score_gap_alignment(kn: KnowledgeNeurons, prompt: str, ground_truth: str, target: str) -> Tensor:
    """``cos(∂(z_o' − z_o)/∂x, e(o') − e(o))`` at [MASK] for x = u^(0..L−1) and h^(L) (see
    :func:`score_gap_gradients`), e the input word embeddings. Shape ``(L + 1,)``."""
    g = score_gap_gradients(kn, prompt, ground_truth, target)
    emb = kn.word_embeddings.detach()
    d = emb[kn.token_id(target)] - emb[kn.token_id(ground_truth)]
    return torch.nn.functional.cosine_similarity(g, d.expand_as(g), dim=1)


__all__ = ["score_gap_alignment", "score_gap_gradients"]
