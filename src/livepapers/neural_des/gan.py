"""Neural SDEs as infinite-dimensional GANs (Kidger et al. 2021, arXiv:2102.03657; thesis §4.3, §5.6).

Generator (Stratonovich): ``X_0 = ζ_θ(V)``, ``V ~ N(0, I_{v0})``, ``dX_t = μ_θ(t, X_t) dt + σ_θ(t, X_t) ∘ dW_t``,
``Y_t = ℓ_θ(X_t)``; ``μ_θ, σ_θ``: MLPs on ``(t, X)`` with LipSwish hidden activations and a final tanh, ``σ_θ``
reshaped to ``(hidden, m)`` (general noise). Discriminator: a neural CDE on the time-augmented, linearly
interpolated path, ``H_0 = ξ_φ(t_0, Y_0)``, ``dH_t = F_φ(t, H_t) d(t, Y_t)``, ``D(Y) = m_φ · H_T``. Wasserstein loss:
the discriminator maximises ``E[D(Y_real)] − E[D(Y_fake)]``, the generator minimises ``−E[D(Y_fake)]`` (one joint
backward, generator gradients negated). Lipschitz control: after every optimiser step clip each discriminator
Linear weight into ``[−1/out, 1/out]`` and use LipSwish ``0.909·x·σ(x)`` (``lipschitz="clip"``), or the classical
gradient penalty ``10·E[(‖∇_Ŷ D(Ŷ)‖₂ − 1)²]`` on random convex combinations of real and fake path coefficients
(``lipschitz="gp"``, no clipping). Both solves use reversible Heun with ``dt = 1``: the discriminator CDE is
reversible Heun with the path increments ``ΔX`` in place of ``ΔW`` (the CDE as an SDE with zero drift).

Shape letters: ``b`` batch, ``n`` times, ``c = 1 + data`` path channels, ``w`` hidden.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Literal

import torch
from torch import Tensor, nn

from .interpolation import linear_interpolation_coeffs
from .sde import _grid, sdeint

__all__ = ["CDEDiscriminator", "LipSwish", "SDEGenerator", "clip_weights", "gradient_penalty", "train_sde_gan"]


class LipSwish(nn.Module):
    """``0.909 · x · σ(x)``: SiLU scaled to be 1-Lipschitz."""

    def forward(self, x: Tensor) -> Tensor:
        return 0.909 * nn.functional.silu(x)


def _mlp(inp: int, out: int, width: int, layers: int, tanh: bool) -> nn.Sequential:
    mods: list[nn.Module] = [nn.Linear(inp, width), LipSwish()]
    for _ in range(layers - 1):
        mods += [nn.Linear(width, width), LipSwish()]
    mods.append(nn.Linear(width, out))
    if tanh:
        mods.append(nn.Tanh())
    return nn.Sequential(*mods)


class _GeneratorFunc(nn.Module):
    sde_type = "stratonovich"
    noise_type = "general"

    def __init__(self, noise_size: int, hidden_size: int, mlp_size: int, num_layers: int) -> None:
        super().__init__()
        self.noise_size, self.hidden_size = noise_size, hidden_size
        self.drift = _mlp(1 + hidden_size, hidden_size, mlp_size, num_layers, tanh=True)
        self.diffusion = _mlp(1 + hidden_size, hidden_size * noise_size, mlp_size, num_layers, tanh=True)

    def f_and_g(self, t: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        tx = torch.cat([t.expand(x.shape[0], 1).to(x.dtype), x], dim=-1)
        return self.drift(tx), self.diffusion(tx).view(x.shape[0], self.hidden_size, self.noise_size)

    def f(self, t: Tensor, x: Tensor) -> Tensor:
        return self.f_and_g(t, x)[0]

    def g(self, t: Tensor, x: Tensor) -> Tensor:
        return self.f_and_g(t, x)[1]


class SDEGenerator(nn.Module):
    """The SDE generator; ``forward(ts, batch_size, generator)`` → path coefficients ``(b, n, 1 + data)``.

    Defaults follow torchsde's ``examples/sde_gan.py``: initial noise 5, Brownian dim 3, hidden 16, MLP width 16,
    1 hidden layer, initial parameters scaled ×3 (ζ) and ×0.5 (μ, σ), reversible Heun ``dt = 1``.
    """

    def __init__(self, data_size: int = 1, initial_noise_size: int = 5, noise_size: int = 3, hidden_size: int = 16,
                 mlp_size: int = 16, num_layers: int = 1, init_mult1: float = 3.0, init_mult2: float = 0.5,
                 dt: float = 1.0) -> None:
        super().__init__()
        self.initial_noise_size, self.noise_size, self.dt = initial_noise_size, noise_size, dt
        self.initial = _mlp(initial_noise_size, hidden_size, mlp_size, num_layers, tanh=False)
        self.func = _GeneratorFunc(noise_size, hidden_size, mlp_size, num_layers)
        self.readout = nn.Linear(hidden_size, data_size)
        with torch.no_grad():
            for p in self.initial.parameters():
                p.mul_(init_mult1)
            for p in self.func.parameters():
                p.mul_(init_mult2)

    def forward(self, ts: Tensor, batch_size: int, generator: torch.Generator | None = None,
                return_aux: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        v = torch.randn(batch_size, self.initial_noise_size, generator=generator)
        x0 = self.initial(v)
        times, _ = _grid(ts, self.dt)
        h = torch.tensor(times).diff().unsqueeze(-1).unsqueeze(-1)  # (N, 1, 1) step sizes
        dW = torch.randn(len(times) - 1, batch_size, self.noise_size, generator=generator) * h.sqrt().to(x0.dtype)
        xs, zs = sdeint(self.func, x0, ts, dW, dt=self.dt, return_aux=True)
        ys = self.readout(xs).movedim(0, 1)  # (b, n, data)
        out = torch.cat([ts.view(1, -1, 1).expand(batch_size, -1, 1).to(ys.dtype), ys], dim=-1)
        return (out, (xs - zs).abs()) if return_aux else out


class _DiscriminatorFunc(nn.Module):
    sde_type = "stratonovich"
    noise_type = "general"

    def __init__(self, channels: int, hidden_size: int, mlp_size: int, num_layers: int) -> None:
        super().__init__()
        self.channels, self.hidden_size = channels, hidden_size
        self.net = _mlp(1 + hidden_size, hidden_size * channels, mlp_size, num_layers, tanh=True)

    def f_and_g(self, t: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        th = torch.cat([t.expand(h.shape[0], 1).to(h.dtype), h], dim=-1)
        return torch.zeros_like(h), self.net(th).view(h.shape[0], self.hidden_size, self.channels)


class CDEDiscriminator(nn.Module):
    """Neural-CDE discriminator on path coefficients ``(b, n, c)`` (time first); ``forward`` → scores ``(b,)``."""

    def __init__(self, data_size: int = 1, hidden_size: int = 16, mlp_size: int = 16, num_layers: int = 1) -> None:
        super().__init__()
        c = 1 + data_size
        self.initial = _mlp(c, hidden_size, mlp_size, num_layers, tanh=False)
        self.func = _DiscriminatorFunc(c, hidden_size, mlp_size, num_layers)
        self.readout = nn.Linear(hidden_size, 1)

    def forward(self, coeffs: Tensor) -> Tensor:
        h0 = self.initial(coeffs[:, 0])
        dX = (coeffs[:, 1:] - coeffs[:, :-1]).movedim(1, 0)  # (n-1, b, c): ΔX over [k, k+1]
        n = coeffs.shape[1]
        ts = torch.arange(n, dtype=coeffs.dtype)
        hs = sdeint(self.func, h0, ts[[0, -1]], dX, dt=1.0)
        return self.readout(hs[-1]).squeeze(-1)


def clip_weights(module: nn.Module) -> float:
    """Clip every Linear weight into ``[−1/out_features, 1/out_features]``; returns the largest violation after."""
    worst = 0.0
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Linear):
                lim = 1.0 / m.out_features
                m.weight.clamp_(-lim, lim)
                worst = max(worst, float((m.weight.abs() - lim).max()))
    return worst


def gradient_penalty(disc: CDEDiscriminator, real: Tensor, fake: Tensor, generator: torch.Generator | None = None,
                     weight: float = 10.0) -> Tensor:
    """``weight · E[(‖∇_Ŷ D(Ŷ)‖₂ − 1)²]``, ``Ŷ = a·real + (1 − a)·fake``, ``a ~ U[0, 1]`` per sample (coefficients)."""
    a = torch.rand(real.shape[0], 1, 1, generator=generator, dtype=real.dtype)
    yhat = (a * real + (1 - a) * fake.detach()).requires_grad_(True)
    score = disc(yhat)
    (grad,) = torch.autograd.grad(score.sum(), yhat, create_graph=True)
    return weight * (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def gan_step(gen: SDEGenerator, disc: CDEDiscriminator, g_opt: torch.optim.Optimizer, d_opt: torch.optim.Optimizer,
             real: Tensor, ts: Tensor, lipschitz: str, generator: torch.Generator | None = None) -> dict[str, float]:
    """One generator + one discriminator update on the same batch (joint backward, generator grads negated)."""
    fake = gen(ts, real.shape[0], generator)
    loss = disc(fake).mean() - disc(real).mean()
    total = loss + gradient_penalty(disc, real, fake, generator) if lipschitz == "gp" else loss
    total.backward()
    for p in gen.parameters():
        if p.grad is not None:
            p.grad.neg_()
    g_opt.step()
    d_opt.step()
    g_opt.zero_grad(set_to_none=True)
    d_opt.zero_grad(set_to_none=True)
    worst = clip_weights(disc) if lipschitz == "clip" else float("nan")
    return {"loss": float(loss.detach()), "clip_violation": worst}


def real_coeffs(ys: Tensor, ts: Tensor) -> Tensor:
    """Time-augmented linear-interpolation coefficients of observed paths ``ys: (b, n, data)`` (NaN = missing)."""
    x = torch.cat([ts.view(1, -1, 1).expand(ys.shape[0], -1, 1).to(ys.dtype), ys], dim=-1)
    return linear_interpolation_coeffs(x)


def train_sde_gan(data: Tensor, ts: Tensor, *, steps: int = 10_000, batch_size: int = 1024,
                  lipschitz: Literal["clip", "gp"] = "clip", gen_lr: float = 2e-4, disc_lr: float = 1e-3,
                  weight_decay: float = 0.01, swa_start: int = 5000, ratio: int = 1, generator_kwargs: Any = None,
                  discriminator_kwargs: Any = None, generator: torch.Generator | None = None,
                  progress: Any = None) -> dict[str, Any]:
    """Train an SDE-GAN (torchsde ``sde_gan.py`` recipe: Adadelta, weight decay 0.01, SWA from ``swa_start``).

    Args:
        data: observed paths ``(N, n, data)`` (NaN = missing), observed at ``ts: (n,)``.
        lipschitz: "clip" (clipping + LipSwish) or "gp" (WGAN-GP, no clipping; the Feb-2021 example used
            ``ratio=5`` discriminator steps per generator step and lr 1e-3).

    Returns:
        ``{"generator", "discriminator", "averaged_generator", "losses", "seconds"}``.
    """
    if lipschitz not in ("clip", "gp"):
        raise ValueError(f"lipschitz must be 'clip' or 'gp', got {lipschitz!r}")
    data_size = data.shape[-1]
    gen = SDEGenerator(data_size, **(generator_kwargs or {}))
    disc = CDEDiscriminator(data_size, **(discriminator_kwargs or {}))
    g_opt = torch.optim.Adadelta(gen.parameters(), lr=gen_lr, weight_decay=weight_decay)
    d_opt = torch.optim.Adadelta(disc.parameters(), lr=disc_lr, weight_decay=weight_decay)
    coeffs = real_coeffs(data, ts)
    avg = copy.deepcopy(gen)
    n_avg = 0
    losses = []
    t0 = time.perf_counter()
    it = range(steps) if progress is None else progress(range(steps))
    for step in it:
        for _ in range(max(1, ratio) - 1):  # extra discriminator-only steps (gp recipe)
            idx = torch.randint(0, coeffs.shape[0], (batch_size,), generator=generator)
            fake = gen(ts, batch_size, generator).detach()
            dl = disc(fake).mean() - disc(coeffs[idx]).mean()
            if lipschitz == "gp":
                dl = dl + gradient_penalty(disc, coeffs[idx], fake, generator)
            dl.backward()
            d_opt.step()
            d_opt.zero_grad(set_to_none=True)
            gen.zero_grad(set_to_none=True)
            if lipschitz == "clip":
                clip_weights(disc)
        idx = torch.randint(0, coeffs.shape[0], (batch_size,), generator=generator)
        out = gan_step(gen, disc, g_opt, d_opt, coeffs[idx], ts, lipschitz, generator)
        losses.append(out["loss"])
        if step >= swa_start:  # stochastic weight averaging of the generator
            n_avg += 1
            with torch.no_grad():
                for pa, p in zip(avg.parameters(), gen.parameters()):
                    pa.add_((p - pa) / n_avg)
    return {"generator": gen, "discriminator": disc, "averaged_generator": avg if n_avg else gen, "losses": losses,
            "seconds": time.perf_counter() - t0}
