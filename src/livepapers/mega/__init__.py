"""Mega (Ma et al., ICLR 2023): moving-average equipped gated attention.

>>> import torch
>>> from livepapers.mega import MegaEncoderLayer
>>> layer = MegaEncoderLayer(dim=64, zdim=32, hdim=128, ffn_dim=128, ndim=16, chunk_size=32)
>>> layer(torch.randn(2, 256, 64)).shape          # batch first: (b, n, d)
torch.Size([2, 256, 64])
"""

from livepapers.core.registry import PaperInfo

from .baseline import TransformerBlock, TransformerClassifier, sinusoidal_positions
from .functional import (
    LAPLACE_MU,
    LAPLACE_SIGMA,
    bidirectional_fft_conv,
    ema_kernel,
    fft_causal_conv,
    laplace_attention_fn,
    relu2,
)
from .modules import (
    MegaConfig,
    MegaEncoder,
    MegaEncoderLayer,
    MegaForSequenceClassification,
    MovingAverageGatedAttention,
    MultiHeadEMA,
    NormalizedFeedForwardNetwork,
    RealNumberEmbedding,
    RMSNorm,
    ScaleNorm,
    SequenceNorm,
    SimpleRelativePositionalBias,
    mega_lra_aan,
    mega_lra_cifar10,
    mega_lra_imdb,
    mega_lra_listop,
    mega_lra_pf32,
    mega_lra_pf128,
)

PAPER = PaperInfo(
    slug="mega",
    title="Mega: Moving Average Equipped Gated Attention",
    authors="Xuezhe Ma, Chunting Zhou, Xiang Kong, Junxian He, Liangke Gui, Graham Neubig, Jonathan May, "
            "Luke Zettlemoyer",
    year=2022,
    arxiv="2209.10655",
    venue="ICLR 2023",
    bibtex=(
        "@inproceedings{ma2023mega,\n"
        "  title={Mega: Moving Average Equipped Gated Attention},\n"
        "  author={Ma, Xuezhe and Zhou, Chunting and Kong, Xiang and He, Junxian and Gui, Liangke and "
        "Neubig, Graham and May, Jonathan and Zettlemoyer, Luke},\n"
        "  booktitle={International Conference on Learning Representations (ICLR)},\n"
        "  year={2023}\n"
        "}"
    ),
    digest_item="004_ae42a3c06c86c834.txt #1",
    summary=(
        "A damped multi-dimensional exponential moving average (computed as one long FFT convolution) feeds a "
        "single-head gated attention whose queries and keys share one projection; a chunked variant attends "
        "inside fixed-size blocks for linear cost while the EMA carries context across blocks."
    ),
    tags=("sequence-models", "attention", "long-range", "efficiency"),
)

__all__ = [
    "LAPLACE_MU",
    "LAPLACE_SIGMA",
    "PAPER",
    "MegaConfig",
    "MegaEncoder",
    "MegaEncoderLayer",
    "MegaForSequenceClassification",
    "MovingAverageGatedAttention",
    "MultiHeadEMA",
    "NormalizedFeedForwardNetwork",
    "RMSNorm",
    "RealNumberEmbedding",
    "ScaleNorm",
    "SequenceNorm",
    "SimpleRelativePositionalBias",
    "TransformerBlock",
    "TransformerClassifier",
    "bidirectional_fft_conv",
    "ema_kernel",
    "fft_causal_conv",
    "laplace_attention_fn",
    "mega_lra_aan",
    "mega_lra_cifar10",
    "mega_lra_imdb",
    "mega_lra_listop",
    "mega_lra_pf32",
    "mega_lra_pf128",
    "relu2",
    "sinusoidal_positions",
]
