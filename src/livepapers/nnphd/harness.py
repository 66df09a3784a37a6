"""What the demos of :mod:`livepapers.nnphd.experiment` share: data generators from the data/test seeds, seeded
network initialization, the models and pendulum data built from the config, and :func:`~livepapers.nnphd.training.fit`
with the shared optimizer settings and progress logging."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from livepapers.nnphd.data import DampedDoublePendulum, rescale_time
from livepapers.nnphd.modules import LagrangianNN, NNPhD, UniversalApproximatorNet
from livepapers.nnphd.selection import ModelSpec
from livepapers.nnphd.training import fit

if TYPE_CHECKING:
    from livepapers.nnphd.experiment import Config


def data_gen(seed: int, offset: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + offset)


@contextlib.contextmanager
def seeded(ctx, offset: int):
    """Network initialization from (ctx.seed, offset), without touching the global RNG afterwards."""
    with torch.random.fork_rng():
        torch.manual_seed(ctx.seed * 1_000_003 + 7919 * offset)
        yield


def hidden(cfg: Config, width: int | None = None) -> tuple[int, ...]:
    return (width or cfg.width,) * cfg.depth


def build_nnphd(cfg: Config, dim: int, *, angle_embedding: str | None, time_input: bool = False) -> NNPhD:
    lnn = LagrangianNN(dim=dim, hidden=hidden(cfg), ridge=cfg.ridge, angle_embedding=angle_embedding,
                       init=cfg.lnn_init)
    uan = UniversalApproximatorNet(dim=dim, hidden=hidden(cfg), time_input=time_input,
                                   angle_embedding=angle_embedding)
    return NNPhD(dim=dim, lnn=lnn, uan=uan, lam=cfg.lam, norm=cfg.norm)


def model_spec(cfg: Config, angle_embedding: str | None) -> ModelSpec:
    """The forecasting models' architecture (C5 and its learning-rate selection)."""
    return ModelSpec(hidden=hidden(cfg), angle_embedding=angle_embedding, ridge=cfg.ridge, init=cfg.lnn_init,
                     lam=cfg.lam, norm=cfg.norm)


def fit_logged(model, data: dict[str, Tensor], steps: int, cfg: Config, ctx, offset: int, tag: str, *,
               lr: float | None = None, curves: dict | None = None) -> dict:
    """fit() with the shared optimizer settings (peak ``lr`` or ``cfg.lr``, cosine to ``cfg.lr_floor`` of it; an
    NNPhD is trained staged: its LNN alone for ``cfg.stage_frac`` of the steps); NaN/inf stops the run through
    ctx.check_finite. The per-step ℓ_pred goes into ``curves[tag]`` when given."""
    every = max(1, steps // 5)

    def callback(step: int, losses: dict[str, float]) -> None:
        ctx.check_finite(losses["loss"], step, what=f"{tag} loss")
        if step % every == 0 or step == steps - 1:
            ctx.log(f"{tag} step {step}: loss {losses['loss']:.4g} l_pred {losses['l_pred']:.4g} "
                    f"l_reg {losses['l_reg']:.4g}")

    peak = cfg.lr if lr is None else lr
    staged = round(cfg.stage_frac * steps) if isinstance(model, NNPhD) else 0
    hist = fit(model, data, steps, lr=peak, lr_min=peak * cfg.lr_floor, batch_size=cfg.batch_size,
               grad_clip=cfg.grad_clip, generator=ctx.generator(offset), callback=callback, lnn_only_steps=staged)
    if curves is not None:
        curves[tag] = hist["l_pred"]
    return hist


def pendulum_data(cfg: Config, gamma: float) -> tuple[DampedDoublePendulum, dict, dict]:
    """The damped double pendulum with friction ``gamma`` and its training and test trajectories, in the time
    unit the networks train in (:func:`time_unit`)."""
    pend = DampedDoublePendulum(gamma=gamma, friction=cfg.c2_friction)
    span = (0.0, cfg.c2_duration)
    kw = {"theta_max": cfg.c2_theta_max, "omega_max": cfg.c2_omega_max}
    # the same initial states for γ = 0.3 and the γ = 0 control (paired data)
    train = pend.sample(cfg.c2_n_train, span, cfg.c2_n_points, data_gen(cfg.data_seed, 2), **kw)
    test = pend.sample(cfg.c2_n_test, span, cfg.c2_n_points, data_gen(cfg.test_seed, 2), **kw)
    unit = time_unit(cfg, pend)
    return pend, rescale_time(train, unit), rescale_time(test, unit)


def time_unit(cfg: Config, pend: DampedDoublePendulum) -> float:
    r"""Seconds per training time unit: $\sqrt{l_1/g}$ when ``cfg.nondim_time`` (spec, revision 2), else 1."""
    return pend.time_unit if cfg.nondim_time else 1.0
