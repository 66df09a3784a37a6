"""Inference throughput of a model (images / s), a thin wrapper over ``livepapers.core.bench.time_fn``."""

from __future__ import annotations

import time

import torch
from torch import nn

from livepapers.core.bench import time_fn

__all__ = ["measure_throughput"]


def measure_throughput(
    model: nn.Module,
    batch: int,
    repeats: int,
    *,
    warmup: int = 3,
    num_threads: int = 1,
    img_size: int | None = None,
    in_chans: int | None = None,
) -> dict[str, float]:
    """Images per second of ``model`` in eval mode under ``torch.inference_mode`` (median over timed runs).

    Args:
        model: a ViT of this package (its patch embedding gives the input shape) or any module together
            with ``img_size`` / ``in_chans``.
        batch: images per forward.
        repeats: minimum number of timed forwards (after ``warmup`` untimed ones).
    Returns:
        ``{"images_per_s", "median_s", "iqr_s", "runs"}``.
    """
    if batch < 1 or repeats < 1:
        raise ValueError(f"batch and repeats must be >= 1, got batch={batch}, repeats={repeats}")
    pe = getattr(model, "patch_embed", None)
    size = img_size or (pe.img_size if pe is not None else None)
    chans = in_chans or (pe.in_chans if pe is not None else None)
    if size is None or chans is None:
        raise ValueError("measure_throughput needs img_size and in_chans for a model without patch_embed")
    was_training = model.training
    model.eval()
    x = torch.randn(batch, chans, size, size, generator=torch.Generator().manual_seed(0))
    threads = torch.get_num_threads()

    def forward() -> None:
        with torch.inference_mode():
            model(x)

    try:
        est = float("inf")
        for _ in range(max(warmup, 1)):
            t0 = time.perf_counter()
            forward()
            est = min(est, time.perf_counter() - t0)
        # blocked_autorange times whole calls here (one call per block for calls >> timer overhead);
        # min_run_time = (repeats - 0.5) single-call times gives >= ``repeats`` timed calls
        res = time_fn(forward, min_run_time=est * (repeats - 0.5), num_threads=num_threads, warmup=0)
    finally:
        model.train(was_training)
        torch.set_num_threads(threads)
    return {"images_per_s": batch / res["median_s"], "median_s": res["median_s"], "iqr_s": res["iqr_s"],
            "runs": float(res["runs"])}
