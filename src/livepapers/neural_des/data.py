"""Offline data: UEA JapaneseVowels from the sktime wheel (or a local UEA folder), a procedural fallback, and the
time-dependent Ornstein–Uhlenbeck process of torchsde's SDE-GAN example. Every generator takes a ``torch.Generator``.

JapaneseVowels pipeline (the NCDE paper's irregular-sampling protocol): strip trailing all-zero padding rows; drop
``round(r·L_i)`` of each series' ``L_i`` time points uniformly at random (all channels become NaN); prepend nothing
yet — the time channel ``t = index/28`` is returned separately (never NaN); normalise each data channel by the
training-set mean/sd of the observed values; pad to length 29 by repeating the last row (values and time), so the
padded part has ``dX = 0``.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from livepapers.core.inputs import as_generator

__all__ = ["irregular_curves", "japanese_vowels", "parse_ts", "sktime_jv_folder", "time_dependent_ou"]

JV_LENGTH = 29


def parse_ts(text: str) -> tuple[list[np.ndarray], list[str]]:
    """Parse a ``.ts`` (sktime/UEA) text: ``@`` header lines, then one series per line, dimensions separated by
    ``:`` (values by ``,``), label last. Trailing time points at which every dimension is exactly 0.0 (padding)
    are stripped.

    Returns:
        ``(series, labels)``, each series ``(L_i, dims)`` float64.
    """
    series, labels = [], []
    in_data = False
    for k, raw in enumerate(text.splitlines()):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            in_data = line.lower().startswith("@data") or in_data
            continue
        if not in_data:
            continue
        parts = line.split(":")
        if len(parts) < 2:
            raise ValueError(f".ts line {k + 1}: expected dimensions separated by ':' and a label, got {line[:40]!r}")
        try:
            dims = [np.array([float(v) for v in p.split(",")]) for p in parts[:-1]]
        except ValueError:
            raise ValueError(f".ts line {k + 1}: a value is not a number") from None
        L = min(len(d) for d in dims)
        x = np.stack([d[:L] for d in dims], axis=-1)
        while L > 0 and np.all(x[L - 1] == 0.0):
            L -= 1
        series.append(x[:L])
        labels.append(parts[-1].strip())
    if not series:
        raise ValueError("no series found after @data")
    return series, labels


def sktime_jv_folder() -> Path | None:
    """``sktime/datasets/data/JapaneseVowels`` inside the installed wheel (found without importing sktime)."""
    spec = importlib.util.find_spec("sktime")
    if spec is None or spec.origin is None:
        return None
    p = Path(spec.origin).parent / "datasets" / "data" / "JapaneseVowels"
    return p if (p / "JapaneseVowels_TRAIN.ts").exists() else None


def _drop(series: list[np.ndarray], r: float, g: torch.Generator) -> list[np.ndarray]:
    out = []
    for x in series:
        L = x.shape[0]
        k = round(r * L)
        x = x.copy()
        if k:
            idx = torch.randperm(L, generator=g)[:k].numpy()
            x[idx] = np.nan
        out.append(x)
    return out


def _pad(series: list[np.ndarray], length: int) -> tuple[Tensor, Tensor]:
    """``(times (N, length), values (N, length, v))``: t = index/(length − 1), last row repeated."""
    N, v = len(series), series[0].shape[1]
    vals = np.empty((N, length, v))
    times = np.empty((N, length))
    for i, x in enumerate(series):
        L = min(x.shape[0], length)
        vals[i, :L] = x[:L]
        vals[i, L:] = x[L - 1]
        t = np.arange(length) / (length - 1)
        t[L:] = t[L - 1]
        times[i] = t
    return torch.tensor(times, dtype=torch.float32), torch.tensor(vals, dtype=torch.float32)


def _pipeline(train: list[np.ndarray], test: list[np.ndarray], ytr: list[int], yte: list[int], drop: float,
              g: torch.Generator, length: int, source: str) -> dict:
    train, test = _drop(train, drop, g), _drop(test, drop, g)
    obs = np.concatenate(train, axis=0)
    mean, sd = np.nanmean(obs, axis=0), np.nanstd(obs, axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    train = [(x - mean) / sd for x in train]
    test = [(x - mean) / sd for x in test]
    ttr, vtr = _pad(train, length)
    tte, vte = _pad(test, length)
    return {"train": (ttr, vtr, torch.tensor(ytr)), "test": (tte, vte, torch.tensor(yte)), "source": source,
            "n_classes": int(max(ytr) + 1), "channels": vtr.shape[-1],
            "lengths": (torch.tensor([x.shape[0] for x in train]), torch.tensor([x.shape[0] for x in test]))}


def japanese_vowels(drop: float, generator: torch.Generator | int, path: str | Path | None = None,
                    fallback: bool = True) -> dict:
    """UEA JapaneseVowels (9 classes, 12 channels, 270 train / 370 test) with ``drop`` of each series' points removed.

    Args:
        drop: fraction ``r`` of each series' time points set to NaN, in ``[0, 1)``.
        generator: torch.Generator (or int seed) for the dropped points.
        path: a folder with ``JapaneseVowels_{TRAIN,TEST}.ts`` (a local UEA copy); default: the sktime wheel.
        fallback: when neither exists, use :func:`irregular_curves` (``source = "fallback"``); else raise.

    Returns:
        ``{"train": (times (N, 29), values (N, 29, 12), labels (N,)), "test": ..., "source", "n_classes",
        "channels", "lengths"}`` — times = index/28, values NaN where dropped, normalised with training statistics.
    """
    if not (0.0 <= float(drop) < 1.0):
        raise ValueError(f"drop must be in [0, 1), got {drop}")
    g = as_generator(generator)
    folder = Path(path) if path is not None else sktime_jv_folder()
    if folder is not None:
        files = [folder / f"JapaneseVowels_{s}.ts" for s in ("TRAIN", "TEST")]
        missing = [str(f) for f in files if not f.exists()]
        if missing:
            raise FileNotFoundError(f"JapaneseVowels file not found: {missing[0]}")
        (xtr, ltr), (xte, lte) = (parse_ts(f.read_text(encoding="utf-8")) for f in files)
        classes = sorted(set(ltr), key=lambda s: (len(s), s))
        cid = {c: i for i, c in enumerate(classes)}
        return _pipeline(xtr, xte, [cid[c] for c in ltr], [cid[c] for c in lte], drop, g, JV_LENGTH,
                         "JapaneseVowels")
    if not fallback:
        raise FileNotFoundError("JapaneseVowels not found: sktime is not installed and no path was given")
    cg = torch.Generator().manual_seed(12345)  # the fallback data set itself is fixed; `generator` drops points
    xtr, ytr = irregular_curves(270, cg)
    xte, yte = irregular_curves(370, cg)
    return _pipeline([x.numpy().astype(np.float64) for x in xtr], [x.numpy().astype(np.float64) for x in xte],
                     ytr.tolist(), yte.tolist(), drop, g, JV_LENGTH, "fallback")


def irregular_curves(n: int, generator: torch.Generator | int, length: int = JV_LENGTH, classes: int = 8
                     ) -> tuple[Tensor, Tensor]:
    """Procedural 2-D curves (Lissajous and epicycle shapes, ``classes`` kinds) with random phase, scale and noise.

    Returns:
        ``(x (n, length, 2), labels (n,))``.
    """
    g = as_generator(generator)
    y = torch.randint(0, classes, (n,), generator=g)
    s = torch.linspace(0, 2 * math.pi, length)
    phase = torch.rand(n, 1, generator=g) * 2 * math.pi
    scale = 0.7 + 0.6 * torch.rand(n, 1, generator=g)
    a = (y % 4 + 1).float().unsqueeze(-1)  # frequency ratio
    epi = (y >= 4).unsqueeze(-1)
    x1 = torch.where(epi, torch.cos(s + phase) + 0.5 * torch.cos(a * (s + phase)), torch.sin(s + phase))
    x2 = torch.where(epi, torch.sin(s + phase) + 0.5 * torch.sin(a * (s + phase)), torch.sin(a * s + phase / 2))
    x = scale.unsqueeze(-1) * torch.stack([x1, x2], -1) + 0.05 * torch.randn(n, length, 2, generator=g)
    return x, y


def time_dependent_ou(n: int, generator: torch.Generator | int, t_size: int = 64, drop: float = 0.3,
                      dt: float = 0.01, observe: int | None = None) -> dict:
    """torchsde SDE-GAN data: Itô ``dY = (0.02 t − 0.1 Y) dt + 0.4·(2t/t_size) dW``, ``Y_0 ~ U[−1, 1]``.

    Euler–Maruyama with step ``dt`` in float64, observed at ``t = 0, …, t_size − 1``; ``drop`` of all entries set to
    NaN; normalised by the mean/sd of the observed values at ``t = 0``.

    ``observe`` < ``t_size`` simulates and returns only the first ``observe`` times (same process: the diffusion
    still scales with ``t_size``).

    Returns:
        ``{"ts": (t_size,), "ys": (n, t_size, 1) float32 with NaN, "clean": (n, t_size, 1) float32, "mean", "sd"}``.
    """
    g = as_generator(generator)
    n_obs = t_size if observe is None else int(observe)
    if not (1 <= n_obs <= t_size):
        raise ValueError(f"observe must be in [1, t_size={t_size}], got {observe}")
    sub = round(1 / dt)
    y = torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1
    out = [y]
    h = 1.0 / sub
    for k in range(1, n_obs):
        for j in range(sub):
            t = (k - 1) + j * h
            dw = torch.randn(n, generator=g, dtype=torch.float64) * math.sqrt(h)
            y = y + (0.02 * t - 0.1 * y) * h + 0.4 * (2 * t / t_size) * dw
        out.append(y)
    ys = torch.stack(out, 1).unsqueeze(-1)  # (n, t_size, 1)
    mask = torch.rand(ys.shape, generator=g) < drop
    obs0 = ys[:, 0, 0][~mask[:, 0, 0]]
    mean, sd = float(obs0.mean()), float(obs0.std())
    clean = (ys - mean) / sd
    noisy = clean.masked_fill(mask, float("nan"))
    return {"ts": torch.arange(n_obs, dtype=torch.float32), "ys": noisy.float(), "clean": clean.float(),
            "mean": mean, "sd": sd}
