"""Data sets of MP-PDE's experiments E1–E3 under two conventions (spec "Data conventions").

* ``"official"`` — the paper's protocol: nodes ``x_j = j·L/(nx − 1)`` (``linspace(0, L, nx)``, the last point
  duplicates the first), point-value initial condition and forcing, solved on the nx − 1 distinct points with
  Δx = L/nx at every resolution; labels at a coarse nx = 5-point moving average of the nx_ref array with stride
  r = nx_ref/nx; the WENO5 "baseline" at nx is the coarse solve itself (compared with those labels).
* ``"fv"`` — consistent finite volumes: cells ``[iΔx, (i+1)Δx)``, exact cell averages of δ(0, ·) and of the
  forcing, labels = block averages of r fine cells, WENO5 baseline = the same solver at nx.

Shapes: ``b`` trajectories, ``t`` stored times (nt = 250), ``n`` grid size.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from livepapers.mp_pde.equations import CombinedEquation, Forcing, weno5_solve

EXPERIMENTS = {
    # T, and a sampler of (α, β, γ) per trajectory from three U(0, 1) draws (official ranges)
    "E1": 4.0,
    "E2": 4.0,
    "E3": 2.0,
}
# official divisors of the PDE parameters fed to the model ("variables"); E1 has none
PARAM_SCALES = {"E1": {}, "E2": {"beta": 0.2}, "E3": {"alpha": 3.0, "beta": 0.4, "gamma": 1.0}}
CONVENTIONS = ("official", "fv")
MAX_ABS = 10.0  # validity filter: reject trajectories with max|u| > 10 or non-finite values


def check_experiment(experiment: str) -> None:
    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {', '.join(EXPERIMENTS)}, got {experiment!r}")


def sample_params(experiment: str, n: int, generator: torch.Generator) -> np.ndarray:
    """PDE coefficients ``(n, 3)`` = (α, β, γ): E1 (1, 0, 0); E2 (1, U(0, 0.2), 0); E3 (U(0, 6), U(0.1, 0.4),
    U(0, 1)) — the official ranges, drawn per trajectory."""
    check_experiment(experiment)
    u = torch.rand(n, 3, generator=generator, dtype=torch.float64).numpy()
    p = np.zeros((n, 3))
    if experiment == "E1":
        p[:, 0] = 1.0
    elif experiment == "E2":
        p[:, 0], p[:, 1] = 1.0, 0.2 * u[:, 1]
    else:
        p[:, 0], p[:, 1], p[:, 2] = 6.0 * u[:, 0], 0.1 + 0.3 * u[:, 1], u[:, 2]
    return p


def model_params(experiment: str, params: np.ndarray | torch.Tensor) -> torch.Tensor:
    """The normalised PDE parameters θ̂ the model sees, ``(b, P)``: E1 none, E2 β/0.2, E3 (α/3, β/0.4, γ/1)."""
    check_experiment(experiment)
    p = torch.as_tensor(np.asarray(params), dtype=torch.float32)
    cols = {"alpha": 0, "beta": 1, "gamma": 2}
    scales = PARAM_SCALES[experiment]
    if not scales:
        return p.new_zeros(p.shape[0], 0)
    return torch.stack([p[:, cols[k]] / s for k, s in scales.items()], dim=1)


def official_grid(nx: int, L: float = 16.0) -> np.ndarray:
    """``linspace(0, L, nx)``: the official node positions (x_{nx−1} = L duplicates x_0)."""
    return np.linspace(0.0, L, nx)


def official_downsample(u_ref: np.ndarray, nx: int) -> np.ndarray:
    """Official labels: 5-point moving average of the ``(…, nx_ref)`` array with periodic padding by entries
    ``[nx_ref−3, nx_ref−2]`` on the left and ``[1, 2]`` on the right, taken with stride ``r = nx_ref/nx``
    (label i = mean of fine entries i·r−2 … i·r+2)."""
    n_ref = u_ref.shape[-1]
    if n_ref % nx:
        raise ValueError(f"nx_ref={n_ref} must be a multiple of nx={nx}")
    r = n_ref // nx
    pad = np.concatenate([u_ref[..., n_ref - 3: n_ref - 1], u_ref, u_ref[..., 1:3]], axis=-1)
    idx = np.arange(nx) * r  # centre of label i in the unpadded array; in the padded one it is idx + 2
    return np.mean(np.stack([pad[..., idx + k] for k in range(5)], axis=0), axis=0)


def block_average(u_ref: np.ndarray, nx: int) -> np.ndarray:
    """fv labels: averages of r = nx_ref/nx consecutive fine cells, ``(…, nx_ref)`` → ``(…, nx)``."""
    n_ref = u_ref.shape[-1]
    if n_ref % nx:
        raise ValueError(f"nx_ref={n_ref} must be a multiple of nx={nx}")
    return u_ref.reshape(*u_ref.shape[:-1], nx, n_ref // nx).mean(axis=-1)


def _concat_forcing(parts: list[Forcing], L: float) -> Forcing:
    return Forcing(*(np.concatenate([getattr(f, k) for f in parts]) for k in ("A", "omega", "phi", "ell")), L=L)


def solve(forcing: Forcing, params: np.ndarray, t: np.ndarray, nx: int, convention: str,
          weno_eps: float = 1e-6) -> np.ndarray:
    """One solve of every trajectory at resolution ``nx`` under ``convention``: ``(b, nt, nx)``.

    official: point values at ``x_j = j·L/(nx − 1)``, j < nx − 1, periodic with Δx = L/nx, duplicate endpoint
    appended; fv: exact cell averages on nx cells of width L/nx.
    """
    L = forcing.L
    eq = CombinedEquation(alpha=params[:, 0], beta=params[:, 1], gamma=params[:, 2], L=L)
    if convention == "official":
        x = official_grid(nx, L)[:-1]
        f = forcing.at_points(x)
        u = weno5_solve(f(float(t[0])), f, eq, t, dx=L / nx, weno_eps=weno_eps)
        return np.concatenate([u, u[..., :1]], axis=-1)
    if convention == "fv":
        f = forcing.on_cells(nx)
        return weno5_solve(f(float(t[0])), f, eq, t, dx=L / nx, weno_eps=weno_eps)
    raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")


def labels(u_ref: np.ndarray, nx: int, convention: str) -> np.ndarray:
    """Coarse labels from the reference: official 5-point strided average, fv block average."""
    if convention == "official":
        return official_downsample(u_ref, nx)
    if convention == "fv":
        return block_average(u_ref, nx)
    raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")


def generate_dataset(experiment: str, n_train: int, n_valid: int, n_test: int, generator: torch.Generator,
                     nt: int = 250, nx_ref: int = 200, nx: tuple[int, ...] = (100, 50, 40),
                     convention: Literal["official", "fv"] = "official", weno_nx: tuple[int, ...] | None = None,
                     weno_splits: tuple[str, ...] = ("test",), L: float = 16.0, ell_max: int = 2,
                     weno_eps: float = 1e-6, splits: tuple[str, ...] = ("train", "valid", "test"),
                     progress=None) -> dict:
    """Generate E1/E2/E3 trajectories: reference solve at ``nx_ref``, labels at each ``nx``, WENO5 baselines.

    Args:
        experiment: "E1" | "E2" | "E3"; ``generator`` seeds everything (forcing, coefficients, resampling).
        n_train, n_valid, n_test: trajectories per split (drawn in that order from one stream).
        nx: label resolutions; ``weno_nx``: resolutions of the WENO5 baseline solves (default ``nx``), run for
            the splits in ``weno_splits``.
        splits: the splits to solve; the random draws of every split are made anyway, so the test set of
            ``splits=("test",)`` is the same PDEs as that of a full call with the same generator and sizes.
        progress: optional ``callable(iterable, desc=...)`` wrapping the solve loop (tqdm).

    Returns:
        ``{"t": (nt,), "experiment", "convention", "n_rejected", split: {"u_ref": (b, nt, nx_ref), "u": {nx:
        (b, nt, nx)}, "u_weno": {nx: (b, nt, nx)}, "params": (b, 3) raw (α, β, γ), "forcing": Forcing,
        "x": {nx: (nx,)}}}`` for split in train/valid/test. ``x`` are the official ``linspace(0, L, nx)`` nodes or
        the fv cell centres.
    """
    check_experiment(experiment)
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    for n in (*nx, *(weno_nx or ())):
        if nx_ref % n:
            raise ValueError(f"every nx must divide nx_ref={nx_ref}, got {n}")
    T = EXPERIMENTS[experiment]
    t = np.linspace(0.0, T, nt)
    weno_nx = tuple(nx) if weno_nx is None else tuple(weno_nx)
    unknown = set(splits) - {"train", "valid", "test"}
    if unknown:
        raise ValueError(f"splits must be among train, valid, test; got {sorted(unknown)}")
    sizes = {"train": n_train, "valid": n_valid, "test": n_test}
    out: dict = {"t": t, "experiment": experiment, "convention": convention, "n_rejected": 0, "L": L}
    wrap = progress or (lambda it, desc="": it)
    draws = {}
    for split, n in sizes.items():  # every split's random draws, in order, solved or not
        draws[split] = (Forcing.sample(n, generator, L=L, ell_max=ell_max), sample_params(experiment, n, generator))
    todo = [s for s in sizes if s in splits and sizes[s]]
    # one batched reference solve for all the splits asked for (the step size is the batch minimum)
    forcing = _concat_forcing([draws[s][0] for s in todo], L) if todo else None
    params = np.concatenate([draws[s][1] for s in todo]) if todo else np.zeros((0, 3))
    u_ref = solve(forcing, params, t, nx_ref, convention, weno_eps) if todo else np.zeros((0, nt, nx_ref))
    for _ in range(100):  # validity filter: resample the bad trajectories
        bad = ~np.all(np.isfinite(u_ref), axis=(1, 2)) | (np.nanmax(np.abs(u_ref), axis=(1, 2), initial=0) > MAX_ABS)
        if not bad.any():
            break
        out["n_rejected"] += int(bad.sum())
        idx = np.flatnonzero(bad)
        new_f = Forcing.sample(len(idx), generator, L=L, ell_max=ell_max)
        new_p = sample_params(experiment, len(idx), generator)
        sol = solve(new_f, new_p, t, nx_ref, convention, weno_eps)
        for k in ("A", "omega", "phi", "ell"):
            getattr(forcing, k)[idx] = getattr(new_f, k)
        params[idx], u_ref[idx] = new_p, sol
    lo = 0
    for split in todo:
        n = sizes[split]
        sel = np.arange(lo, lo + n)
        lo += n
        f, p, ur = forcing.subset(sel), params[sel], u_ref[sel]
        part = {"u_ref": ur, "params": p, "forcing": f, "u": {n_: labels(ur, n_, convention) for n_ in nx},
                "u_weno": {}, "x": {}}
        for n_ in sorted(set(nx) | set(weno_nx)):
            part["x"][n_] = official_grid(n_, L) if convention == "official" else (np.arange(n_) + 0.5) * L / n_
        if split in weno_splits:
            for n_ in wrap(weno_nx, desc=f"{experiment} {split} WENO5 ({convention})"):
                part["u_weno"][n_] = ur.copy() if n_ == nx_ref and convention == "fv" else solve(
                    f, p, t, n_, convention, weno_eps)
        out[split] = part
    return out


__all__ = ["CONVENTIONS", "EXPERIMENTS", "PARAM_SCALES", "block_average", "generate_dataset", "labels",
           "model_params", "official_downsample", "official_grid", "sample_params", "solve"]
