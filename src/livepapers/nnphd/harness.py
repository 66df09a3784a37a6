"""What the demos of :mod:`livepapers.nnphd.experiment` share: data generators from the data/test seeds, seeded
network initialization, the models and pendulum data built from the config, and :func:`~livepapers.nnphd.training.fit`
with the shared optimizer settings and progress logging."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from livepapers.nnphd.data import DampedDoublePendulum
from livepapers.nnphd.modules import LagrangianNN, NNPhD, UniversalApproximatorNet
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


def fit_logged(model, data: dict[str, Tensor], steps: int, cfg: Config, ctx, offset: int, tag: str) -> dict:
    """fit() with the shared optimizer settings; NaN/inf stops the run through ctx.check_finite."""
    every = max(1, steps // 5)

    def callback(step: int, losses: dict[str, float]) -> None:
        ctx.check_finite(losses["loss"], step, what=f"{tag} loss")
        if step % every == 0 or step == steps - 1:
            ctx.log(f"{tag} step {step}: loss {losses['loss']:.4g} l_pred {losses['l_pred']:.4g} "
                    f"l_reg {losses['l_reg']:.4g}")

    return fit(model, data, steps, lr=cfg.lr, lr_min=cfg.lr_min, batch_size=cfg.batch_size,
               grad_clip=cfg.grad_clip, generator=ctx.generator(offset), callback=callback)


def pendulum_data(cfg: Config, gamma: float) -> tuple[DampedDoublePendulum, dict, dict]:
    """The damped double pendulum with friction ``gamma`` and its training and test trajectories."""
    pend = DampedDoublePendulum(gamma=gamma, friction=cfg.c2_friction)
    span = (0.0, cfg.c2_duration)
    kw = {"theta_max": cfg.c2_theta_max, "omega_max": cfg.c2_omega_max}
    # the same initial states for γ = 0.3 and the γ = 0 control (paired data)
    train = pend.sample(cfg.c2_n_train, span, cfg.c2_n_points, data_gen(cfg.data_seed, 2), **kw)
    test = pend.sample(cfg.c2_n_test, span, cfg.c2_n_points, data_gen(cfg.test_seed, 2), **kw)
    return pend, train, test
