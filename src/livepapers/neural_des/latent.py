"""Latent SDE (Li et al. 2020, as presented in the thesis §4.4; torchsde ``examples/latent_sde.py``).

Prior ``dZ = h_θ(t, Z) dt + σ_θ(Z) ∘ dW``, posterior ``dZ = f_φ(t, Z, c_t) dt + σ_θ(Z) ∘ dW`` with the same diagonal
diffusion and a context ``c_t`` from a GRU run backwards in time over the observations. ELBO loss

    −Σ_i log p(y_i | Z_{t_i}) + KL(q(Z_0) ‖ p(Z_0)) + E ∫ ½‖u_t‖² dt,     σ_θ u = f_φ − h_θ,

with the path integral as one extra state coordinate (drift ½‖u‖², diffusion 0). Both SDEs are read as Stratonovich
(reversible Heun); with a shared diffusion the Itô correction is the same for prior and posterior, so ``f − h`` and
the KL are unchanged. Likelihood Laplace(scale 0.05) on observed entries only; KL weight annealed linearly over the
first ``kl_anneal`` steps.

Shape letters: ``b`` batch, ``n`` times, ``v`` data channels, ``d`` latent, ``c`` context.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .sde import sdeint

__all__ = ["LatentSDE", "train_latent_sde"]


class _DiagonalDiffusion(nn.Module):
    """``σ_i(z_i)`` = per-dimension nets ``1 → width → 1`` (Softplus, sigmoid output), vectorised over ``d``.

    Initialised as ``d`` separate ``nn.Linear(1, width)``, ``nn.Linear(width, 1)`` would be (PyTorch's default
    ``U(−1/√fan_in, 1/√fan_in)`` for weights and biases), as in torchsde's example.
    """

    def __init__(self, d: int, width: int) -> None:
        super().__init__()
        k2 = 1 / width**0.5
        self.w1 = nn.Parameter(torch.empty(d, width).uniform_(-1.0, 1.0))
        self.b1 = nn.Parameter(torch.empty(d, width).uniform_(-1.0, 1.0))
        self.w2 = nn.Parameter(torch.empty(d, width).uniform_(-k2, k2))
        self.b2 = nn.Parameter(torch.empty(d).uniform_(-k2, k2))

    def forward(self, z: Tensor) -> Tensor:
        hid = nn.functional.softplus(z.unsqueeze(-1) * self.w1 + self.b1)  # (b, d, width)
        return torch.sigmoid((hid * self.w2).sum(-1) + self.b2)


def _mlp(inp: int, out: int, width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inp, width), nn.Softplus(), nn.Linear(width, width), nn.Softplus(),
                         nn.Linear(width, out))


class LatentSDE(nn.Module):
    """Latent SDE for ``v``-channel series observed at integer-spaced times ``ts`` (NaN = missing).

    Args:
        data_size: ``v``. latent_size: ``d`` (4). context_size: ``c`` (16). hidden_size: MLP widths (32).
        encoder_size: GRU width (32). dt: reversible Heun step (1.0). likelihood_scale: Laplace scale (0.05).
        t_scale: the drifts see ``t / t_scale`` (an input normalisation for long time spans).
        time_input: the drifts take ``t`` as an input (``h(t, Z)``, ``f(t, Z, c_t)``); False = torchsde's example
            (``h(Z)``, ``f(Z, c_t)``, time enters through the context).
    """

    sde_type = "stratonovich"
    noise_type = "diagonal"

    def __init__(self, data_size: int = 1, latent_size: int = 4, context_size: int = 16, hidden_size: int = 32,
                 encoder_size: int = 32, dt: float = 1.0, likelihood_scale: float = 0.05, t_scale: float = 1.0,
                 time_input: bool = True) -> None:
        super().__init__()
        if not t_scale > 0:
            raise ValueError(f"t_scale must be > 0, got {t_scale}")
        self.t_scale = float(t_scale)
        self.time_input = bool(time_input)
        ti = 1 if time_input else 0
        self.d, self.dt, self.scale = latent_size, dt, likelihood_scale
        self.encoder = nn.GRU(2 * data_size, encoder_size, batch_first=True)
        self.enc_out = nn.Linear(encoder_size, context_size)
        self.qz0_net = nn.Linear(context_size, 2 * latent_size)
        self.f_net = _mlp(latent_size + context_size + ti, latent_size, hidden_size)
        self.h_net = _mlp(latent_size + ti, latent_size, hidden_size)
        self.g_net = _DiagonalDiffusion(latent_size, hidden_size)
        self.projector = nn.Linear(latent_size, data_size)
        self.pz0_mean = nn.Parameter(torch.zeros(1, latent_size))
        self.pz0_logstd = nn.Parameter(torch.zeros(1, latent_size))
        self._ctx: Tensor | None = None
        self._t0 = 0.0
        self._prior = False

    # -- the SDEs (torchsde protocol); the state is (z, ∫½‖u‖²) while training, z when sampling ----------
    def _context(self, t: Tensor, b: int) -> Tensor:
        n = self._ctx.shape[1]
        i = min(int(torch.floor((t - self._t0) / self.dt + 1e-9).item()) + 1, n - 1)  # torchsde: bisect right
        return self._ctx[:, i]

    def h(self, t: Tensor, z: Tensor) -> Tensor:
        return self.h_net(torch.cat([z, *self._t(t, z)], -1))

    def _t(self, t: Tensor, z: Tensor) -> list[Tensor]:
        return [t.expand(z.shape[0], 1).to(z.dtype) / self.t_scale] if self.time_input else []

    def f_and_g(self, t: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if self._prior:
            return self.h(t, y), self.g_net(y)
        z = y[:, : self.d]
        ctx = self._context(t, z.shape[0])
        f = self.f_net(torch.cat([z, ctx, *self._t(t, z)], -1))
        g = self.g_net(z)
        u = (f - self.h(t, z)) / g
        drift = torch.cat([f, 0.5 * u.pow(2).sum(-1, keepdim=True)], -1)
        return drift, torch.cat([g, torch.zeros_like(g[:, :1])], -1)

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        return self.f_and_g(t, y)[0]

    def g(self, t: Tensor, y: Tensor) -> Tensor:
        return self.f_and_g(t, y)[1]

    # -- ELBO --------------------------------------------------------------------------------------------
    def elbo_terms(self, ts: Tensor, ys: Tensor, generator: torch.Generator | None = None
                   ) -> dict[str, Tensor]:
        """``ys: (b, n, v)`` (NaN = missing) → per-sample means of ``log_px``, ``kl0``, ``kl_path`` and ``|y − z|``."""
        b = ys.shape[0]
        m = ~torch.isnan(ys)
        enc_in = torch.cat([torch.nan_to_num(ys), m.to(ys.dtype)], -1).flip(1)
        hid, _ = self.encoder(enc_in)
        self._ctx = self.enc_out(hid).flip(1)  # (b, n, c): c_t summarises the observations at and after t
        self._t0 = float(ts[0])
        qm, qlogs = self.qz0_net(self._ctx[:, 0]).chunk(2, -1)
        z0 = qm + qlogs.exp() * torch.randn(qm.shape, generator=generator, dtype=qm.dtype)
        y0 = torch.cat([z0, torch.zeros_like(z0[:, :1])], -1)
        steps = round(float(ts[-1] - ts[0]) / self.dt)
        h = float(ts[-1] - ts[0]) / steps
        dW = torch.randn(steps, b, self.d + 1, generator=generator, dtype=ys.dtype) * h**0.5
        self._prior = False
        zs, aux = sdeint(self, y0, ts, dW, dt=self.dt, return_aux=True)  # (n, b, d+1)
        zs, aux = zs.movedim(0, 1), aux.movedim(0, 1)
        pred = self.projector(zs[..., : self.d])
        lp = torch.distributions.Laplace(pred, self.scale).log_prob(torch.nan_to_num(ys))
        log_px = (lp * m).sum((1, 2)).mean()
        q0 = torch.distributions.Normal(qm, qlogs.exp())
        p0 = torch.distributions.Normal(self.pz0_mean, self.pz0_logstd.exp())
        kl0 = torch.distributions.kl_divergence(q0, p0).sum(-1).mean()
        kl_path = zs[:, -1, -1].mean()
        yz = (zs[..., : self.d] - aux[..., : self.d]).abs().mean()
        return {"log_px": log_px, "kl0": kl0, "kl_path": kl_path, "yz_gap": yz}

    @torch.no_grad()
    def sample(self, ts: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Paths from the prior: ``(n, len(ts), v)``."""
        z0 = self.pz0_mean + self.pz0_logstd.exp() * torch.randn(n, self.d, generator=generator)
        steps = round(float(ts[-1] - ts[0]) / self.dt)
        dW = torch.randn(steps, n, self.d, generator=generator) * ((float(ts[-1] - ts[0]) / steps) ** 0.5)
        self._prior = True
        try:
            zs = sdeint(self, z0, ts, dW, dt=self.dt)
        finally:
            self._prior = False
        return self.projector(zs).movedim(0, 1)


def train_latent_sde(ts: Tensor, data: Tensor, *, steps: int = 800, batch_size: int = 128, lr: float = 1e-2,
                     lr_gamma: float = 0.999, kl_anneal: int = 100, generator: torch.Generator | None = None,
                     model: LatentSDE | None = None, progress: Any = None, **model_kwargs: Any) -> dict[str, Any]:
    """Adam + ExponentialLR, KL weight linear 0 → 1 over ``kl_anneal`` steps (torchsde ``latent_sde.py``).

    Args:
        ts: ``(n,)`` observation times (spaced by the model's ``dt``). data: ``(N, n, v)`` with NaN = missing.

    Returns:
        ``{"model", "loss", "log_px", "kl", "yz_gap"}`` (per-step curves).
    """
    if data.ndim != 3 or data.shape[1] != ts.shape[0]:
        raise ValueError(f"data must be (N, {ts.shape[0]}, v) to match ts, got {tuple(data.shape)}")
    model = model or LatentSDE(data_size=data.shape[-1], **model_kwargs)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=lr_gamma)
    curves: dict[str, list[float]] = {"loss": [], "log_px": [], "kl": [], "yz_gap": []}
    it = range(steps) if progress is None else progress(range(steps))
    for step in it:
        idx = torch.randint(0, data.shape[0], (batch_size,), generator=generator)
        terms = model.elbo_terms(ts, data[idx], generator)
        kl_w = min(1.0, step / kl_anneal) if kl_anneal > 0 else 1.0
        kl = terms["kl0"] + terms["kl_path"]
        loss = -terms["log_px"] + kl_w * kl
        if not torch.isfinite(loss):
            raise FloatingPointError(f"latent SDE loss is {float(loss)} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        curves["loss"].append(float(loss.detach()))
        curves["log_px"].append(float(terms["log_px"].detach()))
        curves["kl"].append(float(kl.detach()))
        curves["yz_gap"].append(float(terms["yz_gap"].detach()))
    return {"model": model, **curves}
