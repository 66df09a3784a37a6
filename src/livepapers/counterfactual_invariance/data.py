"""``SpuriousReviews``: synthetic reviews with a spurious attribute Z and *exact* counterfactual pairs.

Each document has ``L`` tokens drawn slot by slot from a fixed vocabulary (no randomness in the vocabulary):
30 positive and 30 negative sentiment words, 150 neutral words, 8 function words, and for the three *markable*
function words {the, a, and} two marked variants each (``the_x``/``a_x``/``and_x`` for Z = 1,
``the_z``/``a_z``/``and_z`` for Z = 0), plus PAD. Z is written into the text *only* through the markers, so the
counterfactual ``x(1 − z)`` is the same document with every marker swapped: exact by construction.

Two causal structures (paper Fig. 1):

* ``"anticausal"`` (Y → X): (Y, Z) from the 2×2 table P(Y=1) = ½, P(Z=1|Y=1) = P(Z=0|Y=0) = γ; each sentiment
  slot takes the polarity of Y w.p. 0.7. Content-only Bayes: ``logit = (n_pos − n_neg)·log(0.7/0.3)``, population
  accuracy 0.8386 at every γ.
* ``"causal"`` (X → Y, confounded): writer sentiment s ~ N(0, 1), a sentiment slot is positive w.p. σ(1.5 s);
  U ~ Bern(½) hidden, ``Y = 1[c + a_U(2U − 1) + ε > 0]`` with ``c = 2(n_pos − n_neg)/√(n_pos + n_neg + 1)``,
  ε ~ Logistic(0, 1); Z = U w.p. ρ, else 1 − U. Content-only Bayes ``P(Y=1|c) = ½[σ(c + a_U) + σ(c − a_U)]``.

``association`` is γ (anti-causal) or ρ (causal). Sampling is numpy inside, seeded from a ``torch.Generator``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from livepapers.core.inputs import as_generator, check_positive

STRUCTURES = ("anticausal", "causal")

N_POS, N_NEG, N_NEUTRAL = 30, 30, 150
FUNCTION_WORDS = ("the", "a", "and", "of", "to", "is", "it", "this")
MARKABLE = ("the", "a", "and")
P_SENTIMENT = 0.25  # a slot is a sentiment slot
P_FUNCTION = 0.4  # else a function-word slot
P_MARKABLE = 0.6  # a function-word slot draws one of the three markable words
P_MATCH = 0.7  # anti-causal: a sentiment word has Y's polarity
SLOPE_S = 1.5  # causal: P(positive) = σ(1.5 s)
C_SCALE = 2.0  # causal: content score scale


def build_vocab() -> list[str]:
    """The fixed vocabulary: PAD, positive, negative, neutral, function words, then the six marked variants."""
    vocab = ["<pad>"]
    vocab += [f"pos{i}" for i in range(N_POS)]
    vocab += [f"neg{i}" for i in range(N_NEG)]
    vocab += [f"w{i}" for i in range(N_NEUTRAL)]
    vocab += list(FUNCTION_WORDS)
    vocab += [f"{w}_x" for w in MARKABLE] + [f"{w}_z" for w in MARKABLE]
    return vocab


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def numpy_rng(generator: torch.Generator) -> np.random.Generator:
    """A numpy generator drawn deterministically from a torch generator (advances it by one draw)."""
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))


class SpuriousReviews:
    """The generator of one causal structure.

    Args:
        structure: ``"anticausal"`` or ``"causal"``.
        a_u: a_U, the effect of the hidden confounder U on Y (causal only; the spec's 2.5).
        length: L, tokens per document.

    Attributes:
        vocab: the token strings; ``vocab[i]`` is token id ``i``.
        pad_id: id of PAD (0).
        pos_ids, neg_ids: ids of the sentiment words.
        marker_ids: dict ``{1: (the_x, a_x, and_x), 0: (the_z, a_z, and_z)}`` of ids.
        content_ids: every id that is not a marker (and not PAD).
    """

    def __init__(self, structure: str, a_u: float = 2.5, length: int = 24) -> None:
        if structure not in STRUCTURES:
            raise ValueError(f"structure must be one of {', '.join(STRUCTURES)}, got {structure!r}")
        if not isinstance(length, int) or length < 1:
            raise ValueError(f"length must be an int >= 1, got {length!r}")
        self.structure = structure
        self.a_u = check_positive(a_u, "a_u")
        self.length = length
        self.vocab = build_vocab()
        idx = {w: i for i, w in enumerate(self.vocab)}
        self.pad_id = 0
        self.pos_ids = np.arange(1, 1 + N_POS)
        self.neg_ids = np.arange(1 + N_POS, 1 + N_POS + N_NEG)
        self.neutral_ids = np.arange(1 + N_POS + N_NEG, 1 + N_POS + N_NEG + N_NEUTRAL)
        self.other_function_ids = np.array([idx[w] for w in FUNCTION_WORDS if w not in MARKABLE])
        self.marker_ids = {1: tuple(idx[f"{w}_x"] for w in MARKABLE), 0: tuple(idx[f"{w}_z"] for w in MARKABLE)}
        self.content_ids = np.array([i for i in range(1, len(self.vocab))
                                     if i not in self.marker_ids[0] + self.marker_ids[1]])
        v = len(self.vocab)
        # lookup tables over token ids (torch, for the Bayes predictors and counterfactual swaps)
        self._polarity = torch.zeros(v, dtype=torch.long)
        self._polarity[torch.as_tensor(self.pos_ids)] = 1
        self._polarity[torch.as_tensor(self.neg_ids)] = -1
        self._marker_z = torch.full((v,), -1, dtype=torch.long)  # 1 for Z=1 markers, 0 for Z=0, -1 otherwise
        self._marker_z[list(self.marker_ids[1])] = 1
        self._marker_z[list(self.marker_ids[0])] = 0
        self._swap = torch.arange(v)
        for a, b in zip(self.marker_ids[1], self.marker_ids[0]):
            self._swap[a], self._swap[b] = b, a
        # marker of each markable word for z = 0 / 1 (numpy, for sampling)
        self._marks = np.array([self.marker_ids[0], self.marker_ids[1]])  # (2, 3)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __repr__(self) -> str:
        return f"SpuriousReviews({self.structure!r}, a_u={self.a_u}, length={self.length})"

    # ----------------------------------------------------------------------------------------------
    # sampling
    # ----------------------------------------------------------------------------------------------

    def _content(self, rng: np.random.Generator, n: int, p_pos: np.ndarray) -> np.ndarray:
        """Content tokens (n, L) with markable slots holding -1, -2, -3 (the, a, and; marked later).

        ``p_pos``: (n,) probability that a sentiment slot of document i is positive.
        """
        L = self.length
        u = rng.random(n * L)  # slot type: sentiment, function word, neutral word
        sent = u < P_SENTIMENT
        func = (u >= P_SENTIMENT) & (u < P_SENTIMENT + (1.0 - P_SENTIMENT) * P_FUNCTION)
        neut = ~(sent | func)
        out = np.empty(n * L, dtype=np.int64)
        k = int(sent.sum())
        positive = rng.random(k) < np.repeat(p_pos, L)[sent]
        word = rng.integers(0, N_POS, k)
        out[sent] = np.where(positive, self.pos_ids[word], self.neg_ids[word])
        out[neut] = self.neutral_ids[rng.integers(0, N_NEUTRAL, int(neut.sum()))]
        k = int(func.sum())
        markable = rng.random(k) < P_MARKABLE
        which = rng.integers(0, len(MARKABLE), k)
        other = self.other_function_ids[rng.integers(0, len(self.other_function_ids), k)]
        out[func] = np.where(markable, -1 - which, other)
        return out.reshape(n, L)

    def _mark(self, content: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Replace every markable slot (-1, -2, -3) by its Z-variant."""
        out = content.copy()
        slot = content < 0
        which = -1 - content[slot]
        zz = np.broadcast_to(z[:, None], content.shape)[slot]
        out[slot] = self._marks[zz, which]
        return out

    def sample(self, n: int, association: float, generator: torch.Generator | int) -> dict[str, torch.Tensor]:
        """Draw ``n`` documents at the given Y–Z association (γ anti-causal, ρ causal).

        Returns:
            dict with ``tokens`` (n, L), ``tokens_cf`` (n, L) — the same documents with Z flipped —, ``y`` (n,),
            ``z`` (n,) (LongTensors); for the causal structure also ``u`` (n,), the hidden confounder.
        """
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        a = float(association)
        if not 0.0 <= a <= 1.0:
            raise ValueError(f"association must lie in [0, 1], got {association!r}")
        rng = numpy_rng(as_generator(generator))
        extra: dict[str, torch.Tensor] = {}
        if self.structure == "anticausal":
            y = (rng.random(n) < 0.5).astype(np.int64)
            keep = rng.random(n) < a  # P(Z = Y) = γ
            z = np.where(keep, y, 1 - y)
            content = self._content(rng, n, np.where(y == 1, P_MATCH, 1.0 - P_MATCH))
        else:
            s = rng.standard_normal(n)
            content = self._content(rng, n, _sigmoid(SLOPE_S * s))
            u = (rng.random(n) < 0.5).astype(np.int64)
            c = self._content_score_np(content)
            e = rng.random(n)
            eps = np.log(e) - np.log1p(-e)  # Logistic(0, 1)
            y = (c + self.a_u * (2 * u - 1) + eps > 0).astype(np.int64)
            keep = rng.random(n) < a  # Z = U w.p. ρ
            z = np.where(keep, u, 1 - u)
            extra["u"] = torch.as_tensor(u)
        tokens = self._mark(content, z)
        tokens_cf = self._mark(content, 1 - z)
        return {"tokens": torch.as_tensor(tokens), "tokens_cf": torch.as_tensor(tokens_cf),
                "y": torch.as_tensor(y), "z": torch.as_tensor(z), **extra}

    def _content_score_np(self, content: np.ndarray) -> np.ndarray:
        pos = np.isin(content, self.pos_ids).sum(1)
        neg = np.isin(content, self.neg_ids).sum(1)
        return C_SCALE * (pos - neg) / np.sqrt(pos + neg + 1.0)

    # ----------------------------------------------------------------------------------------------
    # exact predictors
    # ----------------------------------------------------------------------------------------------

    def counts(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n_pos, n_neg) per document, each (n,)."""
        pol = self._polarity[tokens]
        return (pol == 1).sum(-1), (pol == -1).sum(-1)

    def observed_z(self, tokens: torch.Tensor) -> torch.Tensor:
        """Z read off the markers: 1, 0, or -1 when the document has no marker. (n,)"""
        mz = self._marker_z[tokens]
        has1, has0 = (mz == 1).any(-1), (mz == 0).any(-1)
        return torch.where(has1, 1, torch.where(has0, 0, -1))

    def swap_markers(self, tokens: torch.Tensor) -> torch.Tensor:
        """The counterfactual: every marker swapped to the other value of Z, everything else unchanged."""
        return self._swap[tokens]

    def bayes_content_logit(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logit of the exact content-only Bayes predictor P(Y=1 | non-marker tokens) (float64, (n,))."""
        n_pos, n_neg = self.counts(tokens)
        n_pos, n_neg = n_pos.double(), n_neg.double()
        if self.structure == "anticausal":
            return (n_pos - n_neg) * math.log(P_MATCH / (1 - P_MATCH))
        c = C_SCALE * (n_pos - n_neg) / torch.sqrt(n_pos + n_neg + 1.0)
        p = 0.5 * (torch.sigmoid(c + self.a_u) + torch.sigmoid(c - self.a_u))
        return torch.logit(p)

    def bayes_content_proba(self, tokens: torch.Tensor) -> torch.Tensor:
        """P(Y=1 | content) of the exact content-only Bayes predictor — counterfactually invariant. (n,)"""
        return torch.sigmoid(self.bayes_content_logit(tokens))

    def bayes_full_proba(self, tokens: torch.Tensor, train_association: float) -> torch.Tensor:
        """P(Y=1 | content, markers) under the training distribution (association γ or ρ): the ERM target. (n,)

        Anti-causal: naive Bayes with the marker, logit = content logit + (2Z − 1)·log(γ/(1 − γ)).
        Causal: ``ρ σ(c + a_U(2Z − 1)) + (1 − ρ) σ(c − a_U(2Z − 1))``. A document with no marker falls back on
        the content-only predictor (Z unobserved).
        """
        g = float(train_association)
        if not 0.0 < g < 1.0:
            raise ValueError(f"train_association must lie in (0, 1), got {train_association!r}")
        zo = self.observed_z(tokens)
        sign = (2 * zo - 1).double() * (zo >= 0).double()  # +1, -1, or 0 when unobserved
        if self.structure == "anticausal":
            logit = self.bayes_content_logit(tokens) + sign * math.log(g / (1 - g))
            return torch.sigmoid(logit)
        n_pos, n_neg = self.counts(tokens)
        n_pos, n_neg = n_pos.double(), n_neg.double()
        c = C_SCALE * (n_pos - n_neg) / torch.sqrt(n_pos + n_neg + 1.0)
        full = g * torch.sigmoid(c + self.a_u * sign) + (1 - g) * torch.sigmoid(c - self.a_u * sign)
        content = 0.5 * (torch.sigmoid(c + self.a_u) + torch.sigmoid(c - self.a_u))
        return torch.where(zo >= 0, full, content)


__all__ = ["STRUCTURES", "SpuriousReviews", "build_vocab", "numpy_rng"]
