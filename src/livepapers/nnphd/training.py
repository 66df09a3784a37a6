"""Training loop, batched inference and RK4 integrator for the dynamics models of :mod:`livepapers.nnphd.modules`.

Shape legend: ``n`` data set size, ``b`` batch, ``d`` coordinates, ``T`` number of RK4 steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from livepapers.core.train import cosine, set_lr

__all__ = ["fit", "predict", "rk4_rollout"]


def fit(
    model: nn.Module,
    data: Mapping[str, Tensor],
    steps: int,
    *,
    lr: float = 1e-3,
    lr_min: float = 1e-5,
    batch_size: int = 256,
    schedule: str = "cosine",
    grad_clip: float | None = 10.0,
    generator: torch.Generator | None = None,
    callback: Callable[[int, dict[str, float]], None] | None = None,
    lnn_only_steps: int = 0,
) -> dict[str, list[float]]:
    r"""Train ``model`` (anything with ``loss(q, qdot, a, t) -> (total, l_pred, l_reg)``) with Adam.

    Args:
        data: ``{"q": (n, d), "qdot": (n, d), "a": (n, d)}`` and optionally ``"t": (n,)``.
        steps: number of optimizer steps.
        lr, lr_min: Adam learning rate, decayed with a cosine to ``lr_min`` when ``schedule="cosine"``
            ($\eta_k = \eta_{min} + (\eta - \eta_{min}) \tfrac12 (1 + \cos(\pi k / K))$,
            :func:`livepapers.core.train.cosine`); ``"constant"`` keeps it fixed.
        batch_size: minibatch size; batches are drawn epoch by epoch from a random permutation.
        grad_clip: global gradient-norm clip (None: off).
        generator: fixes the minibatch order.
        callback: ``callback(step, {"loss", "l_pred", "l_reg", "lr"})`` after every step; prints/logs nothing
            itself.
        lnn_only_steps: staged training of an :class:`~livepapers.nnphd.modules.NNPhD` (spec, revision 2): the
            first ``lnn_only_steps`` steps train its LNN alone on $\ell_{pred} = \tfrac1n \sum_i \lVert a_i -
            a_{c,i} \rVert$ (the UAN gets no gradient and Adam leaves it untouched), the rest train LNN + UAN on
            $\ell_{pred} + \lambda \ell_{reg}$; one learning-rate schedule over all ``steps``. 0: joint from the start.

    Returns:
        ``{"loss": [...], "l_pred": [...], "l_reg": [...]}`` (one entry per step).
    """
    for key in ("q", "qdot", "a"):
        if key not in data:
            raise ValueError(f"data must contain 'q', 'qdot' and 'a', missing {key!r} (keys: {sorted(data)})")
    n = data["q"].shape[0]
    if n == 0 or data["qdot"].shape != data["q"].shape or data["a"].shape != data["q"].shape:
        raise ValueError(
            f"data q, qdot, a must share a non-empty shape, got {tuple(data['q'].shape)}, "
            f"{tuple(data['qdot'].shape)}, {tuple(data['a'].shape)}"
        )
    if steps < 0 or batch_size <= 0:
        raise ValueError(f"steps must be >= 0 and batch_size > 0, got steps={steps}, batch_size={batch_size}")
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule must be 'cosine' or 'constant', got {schedule!r}")
    if lnn_only_steps < 0 or (lnn_only_steps > 0 and not hasattr(model, "lnn")):
        raise ValueError(f"lnn_only_steps must be >= 0 and needs a model with an .lnn (NNPhD), got {lnn_only_steps} "
                         f"for {type(model).__name__}")
    t_all = data.get("t")
    b = min(batch_size, n)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history: dict[str, list[float]] = {"loss": [], "l_pred": [], "l_reg": []}
    perm, pos = torch.randperm(n, generator=generator), 0
    model.train()
    for step in range(steps):
        if pos + b > n:
            perm, pos = torch.randperm(n, generator=generator), 0
        idx = perm[pos : pos + b]
        pos += b
        cur_lr = cosine(step, steps, peak=lr, floor=lr_min) if schedule == "cosine" else lr
        set_lr(opt, cur_lr)
        t = None if t_all is None else t_all[idx]
        if step < lnn_only_steps:  # stage 1: the LNN alone, in the model's norm
            total, l_pred, l_reg = model.lnn.loss(data["q"][idx], data["qdot"][idx], data["a"][idx], norm=model.norm)
        else:
            total, l_pred, l_reg = model.loss(data["q"][idx], data["qdot"][idx], data["a"][idx], t)
        opt.zero_grad(set_to_none=True)
        total.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        losses = {"loss": total.item(), "l_pred": l_pred.item(), "l_reg": l_reg.item(), "lr": cur_lr}
        for key in history:
            history[key].append(losses[key])
        if callback is not None:
            callback(step, losses)
    model.eval()
    return history


def predict(model: nn.Module, data: Mapping[str, Tensor], *, with_t: bool = False,
            chunk: int = 4096) -> dict[str, Tensor]:
    """``model(q, qdot[, t])`` on a whole data set in chunks of ``chunk`` samples, without gradients.

    Returns the model's output dict (``{"a", "a_c", "a_nc"}`` for :class:`NNPhD`), each ``(n, d)``.
    """
    outs = []
    with torch.no_grad():
        for i in range(0, data["q"].shape[0], chunk):
            sl = slice(i, i + chunk)
            outs.append(model(data["q"][sl], data["qdot"][sl], data["t"][sl] if with_t else None))
    return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}


def _safe_accel(accel_fn: Callable, q: Tensor, qdot: Tensor, t: float) -> Tensor:
    """Evaluate ``accel_fn`` on the finite rows only; rows that left the finite numbers get NaN."""
    if bool(torch.isfinite(q).all()) and bool(torch.isfinite(qdot).all()):
        return accel_fn(q, qdot, t)
    ok = torch.isfinite(q).all(-1) & torch.isfinite(qdot).all(-1)
    a = torch.full_like(q, float("nan"))
    if bool(ok.any()):
        a[ok] = accel_fn(q[ok], qdot[ok], t)
    return a


@torch.no_grad()
def rk4_rollout(
    accel_fn: Callable[[Tensor, Tensor, float], Tensor],
    q0: Tensor,
    qdot0: Tensor,
    dt: float,
    n_steps: int,
    t0: float = 0.0,
) -> Tensor:
    r"""Integrate $\ddot q = f_a(q, \dot q, t)$ (``accel_fn``) with classical RK4 (fixed step ``dt``).

    For $y = (q, \dot q)$, $f(y, t) = (\dot q, f_a(q, \dot q, t))$: $k_1 = f(y, t)$,
    $k_2 = f(y + \tfrac{h}{2} k_1, t + \tfrac{h}{2})$, $k_3 = f(y + \tfrac{h}{2} k_2, t + \tfrac{h}{2})$,
    $k_4 = f(y + h k_3, t + h)$, $y \leftarrow y + \tfrac{h}{6}(k_1 + 2k_2 + 2k_3 + k_4)$ with $h$ = ``dt``.

    Args:
        accel_fn: ``(q: (b, d), q̇: (b, d), t: float) -> (b, d)``; called under ``torch.no_grad()``
            (a :class:`LagrangianNN` still differentiates L internally).
        q0, qdot0: initial state, ``(b, d)`` each.

    Returns:
        states ``(T + 1, b, 2d)`` = (q, q̇) at t0, t0 + dt, ..., t0 + T·dt. A trajectory that leaves the
        finite numbers is NaN from then on (the others are unaffected).
    """
    if not isinstance(q0, Tensor) or q0.ndim != 2 or not isinstance(qdot0, Tensor) or qdot0.shape != q0.shape:
        raise ValueError(
            f"q0 and qdot0 must be tensors of the same shape (batch, dim), got {tuple(getattr(q0, 'shape', ()))} "
            f"and {tuple(getattr(qdot0, 'shape', ()))}"
        )
    if not (dt > 0 and math.isfinite(dt)) or n_steps < 0:
        raise ValueError(f"dt must be finite and > 0 and n_steps >= 0, got dt={dt}, n_steps={n_steps}")
    q, v = q0.clone(), qdot0.clone()
    out = torch.empty(n_steps + 1, q.shape[0], 2 * q.shape[1], dtype=q.dtype, device=q.device)
    out[0] = torch.cat([q, v], -1)
    for k in range(n_steps):
        t = t0 + k * dt
        a1 = _safe_accel(accel_fn, q, v, t)
        q2, v2 = q + 0.5 * dt * v, v + 0.5 * dt * a1
        a2 = _safe_accel(accel_fn, q2, v2, t + 0.5 * dt)
        q3, v3 = q + 0.5 * dt * v2, v + 0.5 * dt * a2
        a3 = _safe_accel(accel_fn, q3, v3, t + 0.5 * dt)
        q4, v4 = q + dt * v3, v + dt * a3
        a4 = _safe_accel(accel_fn, q4, v4, t + dt)
        q = q + dt / 6.0 * (v + 2 * v2 + 2 * v3 + v4)
        v = v + dt / 6.0 * (a1 + 2 * a2 + 2 * a3 + a4)
        out[k + 1] = torch.cat([q, v], -1)
    return out
