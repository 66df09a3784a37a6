"""Small DynamicViT configurations shared by the tests (fast on one CPU thread)."""

from __future__ import annotations

import pytest
import torch

# 32x32 images, patch 8 -> N = 16 patches; kept counts int(16 * r) = 12, 8, 4
TINY = dict(img_size=32, patch_size=8, in_chans=3, num_classes=5, embed_dim=32, depth=5, num_heads=2,
            pruning_loc=(1, 2, 4), token_ratio=(0.75, 0.5, 0.25))


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randomize_norms(model: torch.nn.Module, seed: int = 0) -> None:
    """Give LayerNorms non-trivial affine parameters so equivalence tests exercise them."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))


@pytest.fixture
def tiny_kwargs() -> dict:
    return dict(TINY)


@pytest.fixture
def make_tiny():
    """Factory: a tiny DynamicViT (seeded init, randomised LayerNorms, larger position embedding)."""
    from livepapers.dynamicvit import VisionTransformerDiffPruning

    def make(seed: int = 0, spread: float = 20.0, **overrides) -> VisionTransformerDiffPruning:
        torch.manual_seed(seed)
        model = VisionTransformerDiffPruning(**{**TINY, **overrides})
        randomize_norms(model, seed)
        with torch.no_grad():  # spread the predictor scores so top-k choices are well separated
            for p in model.score_predictor.parameters():
                if p.dim() == 2:
                    p.mul_(spread)
        return model

    return make
