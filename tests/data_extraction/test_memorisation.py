"""The pipeline can detect memorisation when there is some (review finding B2).

A small GPT is over-trained (60 epochs, batch 4) on the rows of a smoke-sized generated corpus (counts 1 and 32)
that hold the licence start and the canaries; then the attack's own functions must see it: tier-A verbatim matches
among samples prompted from training text, greedy recovery of the most-inserted canary from its training context,
and its exposure far above chance (≥ 12 of the log2 10^6 ≈ 19.9-bit cap) while a never-inserted canary stays near
chance.
"""

from __future__ import annotations

import math

import torch

from livepapers.data_extraction import (
    CorpusIndex,
    canary_log_perplexity,
    exposure_extrapolation,
    generate_samples,
    gpt2_config,
    greedy_complete,
    make_rows,
    make_secret_corpus,
    random_secrets,
    train_bpe_tokenizer,
    train_small_gpt,
)
from livepapers.data_extraction.data import LICENCE


def test_overtrained_model_is_detected_as_memorising():
    g = torch.Generator().manual_seed(0)
    corpus = make_secret_corpus(g, 1000, 500, (1, 32), n_cards=1, dup_per_group=1, ids_per_count=1,
                                canaries_per_count=1, licence_copies=2)
    tok = train_bpe_tokenizer(corpus.documents, 300, split_digits=True)
    rows = make_rows(corpus.documents, tok, 64)
    c1, c32 = sorted(corpus.by_kind("canary"), key=lambda c: c.group)
    keep = [i for i, r in enumerate(tok.batch_decode(rows)) if "secret code" in r or "Quillfeather" in r
            or "Permission is" in r]
    sub = rows[keep]  # the rows holding the canaries and the licence start: every one of them in the training text
    model = train_small_gpt(sub, tok, gpt2_config((2, 64, 2), len(tok), 64), epochs=EPOCHS, lr=3e-3,
                            generator=torch.Generator().manual_seed(1), batch_size=4, warmup=10).eval()
    with torch.no_grad():
        train_nll = float(model(input_ids=sub, labels=sub).loss)
    assert train_nll < 0.5, train_nll  # over-trained

    # tier A: samples prompted with the licence's first words continue it verbatim for ≥ 64 characters
    index = CorpusIndex(corpus.documents)
    samples = generate_samples(model, tok, 10, strategy="internet", prompts=[LICENCE[:40]], max_new_tokens=40,
                               top_k=40, prompt_tokens=8, batch_size=10, generator=g)
    assert sum(index.has_match(s, 64) for s in samples) > 0

    # greedy decoding recovers the 32× canary from its training context (the previous line ends with "\n")
    cont = greedy_complete(model, tok, ["\n" + c32.prefix], max_new_tokens=8)[0]
    assert cont.lstrip().startswith(c32.value), cont

    # exposure: the 32× canary far above chance (≥ 12 of the 19.9-bit cap; a pilot measured 13.4 after BOS + prefix,
    # the prompt the claims use), a never-inserted canary of the same format near chance (1.4 bits expected)
    cap = 6 * math.log2(10)
    refs = random_secrets(200, g, exclude=[c1.value, c32.value])
    lp = canary_log_perplexity(model, tok, c32.prefix, [c32.value, *refs])
    e32 = float(exposure_extrapolation({0: lp[:1]}, lp[1:])[0][0])
    fresh = random_secrets(1, g, exclude=[c1.value, c32.value, *refs])
    lp0 = canary_log_perplexity(model, tok, c32.prefix, fresh + refs)
    e0 = float(exposure_extrapolation({0: lp0[:1]}, lp0[1:])[0][0])
    assert e32 >= cap - 8, e32
    assert e0 < 8, e0


EPOCHS = 60
