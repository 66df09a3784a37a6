"""The Neural CDE paper's RNN baselines on irregular, partially observed series (§2 of the spec).

All three walk the full time grid (every original index), update the hidden state only where something was
observed, and read out linearly from the final hidden state. ``forward(times, values)`` with ``times: (b, n)``
(the time channel; padding repeats the last time, so a step with ``Δt = 0`` is padding and never an
observation) and ``values: (b, n, v)`` with NaN = missing.

* GRU-Δt: GRU cell on ``[x filled forward, observation mask, Δt since the previous observation]``.
* GRU-D (Che et al. 2018): input decay ``x̂ = m⊙x + (1−m)⊙(γ_x⊙x_last + (1−γ_x)⊙x̄)``,
  ``γ_x = exp(−max(0, W_x δ + b_x))`` (``W_x`` diagonal), hidden decay ``h ← γ_h⊙h``,
  ``γ_h = exp(−max(0, W_h δ + b_h))``; ``δ`` = time since each channel was last observed.
* ODE-RNN (Rubanova et al. 2019): ``dh/dt = f_φ(h)`` (MLP, tanh hidden) by one RK4 step (torchdiffeq's 3/8 rule)
  per grid interval; at an observation ``h ← GRUCell([x, m], h)``.

Shape letters: ``b`` batch, ``n`` grid length, ``v`` data channels, ``w`` hidden.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["GRUD", "ODERNN", "GRUDelta", "observed_steps", "rk4_step"]


def _check(times: Tensor, values: Tensor, v: int) -> None:
    if values.ndim != 3 or values.shape[-1] != v:
        raise ValueError(f"values must have shape (batch, length, {v}), got {tuple(values.shape)}")
    if times.shape != values.shape[:2]:
        raise ValueError(f"times must have shape {tuple(values.shape[:2])}, got {tuple(times.shape)}")


def observed_steps(times: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
    """``(m, obs)``: per-channel mask ``(b, n, v)`` and per-step observation flag ``(b, n)``.

    A step is an observation when some channel is observed and time advanced (``Δt > 0``; padding has ``Δt = 0``).
    """
    m = ~torch.isnan(values)
    advanced = torch.ones_like(times, dtype=torch.bool)
    advanced[:, 1:] = times[:, 1:] > times[:, :-1]
    m = m & advanced.unsqueeze(-1)
    return m, m.any(-1)


def rk4_step(f: Callable[[Tensor, Tensor], Tensor], t0: Tensor, dt: Tensor, y0: Tensor) -> Tensor:
    """One step of torchdiffeq's ``rk4`` (the 3/8 rule, weights 1, 3, 3, 1 over 8); ``dt`` may be per sample."""
    k1 = f(t0, y0)
    k2 = f(t0 + dt / 3, y0 + dt * k1 / 3)
    k3 = f(t0 + 2 * dt / 3, y0 + dt * (k2 - k1 / 3))
    k4 = f(t0 + dt, y0 + dt * (k1 - k2 + k3))
    return y0 + (k1 + 3 * (k2 + k3) + k4) * dt * 0.125


class GRUDelta(nn.Module):
    """GRU-Δt: GRU cell on ``[x_ffill, m, Δt]``; hidden 47 in the NCDE paper."""

    def __init__(self, input_channels: int, hidden_channels: int, output_channels: int) -> None:
        super().__init__()
        self.v = input_channels
        self.cell = nn.GRUCell(2 * input_channels + 1, hidden_channels)
        self.readout = nn.Linear(hidden_channels, output_channels)

    def forward(self, times: Tensor, values: Tensor) -> Tensor:
        _check(times, values, self.v)
        m, obs = observed_steps(times, values)
        b, n, _ = values.shape
        h = values.new_zeros(b, self.cell.hidden_size)
        x_last = values.new_zeros(b, self.v)
        t_last = times[:, 0]
        for i in range(n):
            mi = m[:, i]
            x_last = torch.where(mi, torch.nan_to_num(values[:, i]), x_last)
            dt = (times[:, i] - t_last).unsqueeze(-1)
            h_new = self.cell(torch.cat([x_last, mi.to(values.dtype), dt], -1), h)
            o = obs[:, i].unsqueeze(-1)
            h = torch.where(o, h_new, h)
            t_last = torch.where(obs[:, i], times[:, i], t_last)
        return self.readout(h)


class GRUD(nn.Module):
    """GRU-D with input decay (Che et al. 2018) and hidden decay; hidden 47 in the NCDE paper.

    Args:
        input_decay: the full Che et al. model (True) or hidden decay only, as the NCDE paper's own baseline.
        x_mean: ``x̄``, the training mean of each channel (0 for normalised data).
    """

    def __init__(self, input_channels: int, hidden_channels: int, output_channels: int, input_decay: bool = True,
                 x_mean: Tensor | None = None) -> None:
        super().__init__()
        v = input_channels
        self.v, self.input_decay = v, input_decay
        if input_decay:
            self.w_x = nn.Parameter(torch.zeros(v))  # diagonal W_x
            self.b_x = nn.Parameter(torch.zeros(v))
        self.decay_h = nn.Linear(v, hidden_channels)
        self.cell = nn.GRUCell(2 * v, hidden_channels)
        self.readout = nn.Linear(hidden_channels, output_channels)
        self.register_buffer("x_mean", torch.zeros(v) if x_mean is None else torch.as_tensor(x_mean).float())

    def forward(self, times: Tensor, values: Tensor) -> Tensor:
        _check(times, values, self.v)
        m, obs = observed_steps(times, values)
        b, n, _ = values.shape
        h = values.new_zeros(b, self.cell.hidden_size)
        x_last = self.x_mean.to(values.dtype).expand(b, self.v)
        delta = values.new_zeros(b, self.v)
        m_prev = torch.ones_like(m[:, 0])
        for i in range(n):
            if i > 0:  # δ_i = Δt + δ_{i−1} if the channel was missing at i−1, else Δt
                dt = (times[:, i] - times[:, i - 1]).unsqueeze(-1)
                delta = dt + torch.where(m_prev, torch.zeros_like(delta), delta)
            mi = m[:, i]
            x = torch.nan_to_num(values[:, i])
            mf = mi.to(values.dtype)
            if self.input_decay:
                gx = torch.exp(-torch.relu(self.w_x * delta + self.b_x))
                x_hat = mf * x + (1 - mf) * (gx * x_last + (1 - gx) * self.x_mean)
            else:
                x_hat = mf * x + (1 - mf) * x_last
            gh = torch.exp(-torch.relu(self.decay_h(delta)))
            h_new = self.cell(torch.cat([x_hat, mf], -1), gh * h)
            h = torch.where(obs[:, i].unsqueeze(-1), h_new, h)
            x_last = torch.where(mi, x, x_last)
            m_prev = mi  # padding (Δt = 0, never observed) leaves δ unchanged
        return self.readout(h)


class _ODEFunc(nn.Module):
    def __init__(self, hidden: int, width: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(hidden, width), nn.Tanh()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.Tanh()]
        layers.append(nn.Linear(width, hidden))
        self.net = nn.Sequential(*layers)

    def forward(self, t: Tensor, h: Tensor) -> Tensor:
        return self.net(h)


class ODERNN(nn.Module):
    """ODE-RNN: one RK4 step of ``dh/dt = f_φ(h)`` per grid interval, GRU update at observations.

    Args:
        width, depth: ``f_φ``'s MLP (NCDE paper: 3 hidden layers of 32, tanh).
    """

    def __init__(self, input_channels: int, hidden_channels: int, output_channels: int, width: int = 32,
                 depth: int = 3) -> None:
        super().__init__()
        self.v = input_channels
        self.func = _ODEFunc(hidden_channels, width, depth)
        self.cell = nn.GRUCell(2 * input_channels, hidden_channels)
        self.readout = nn.Linear(hidden_channels, output_channels)

    def forward(self, times: Tensor, values: Tensor) -> Tensor:
        _check(times, values, self.v)
        m, obs = observed_steps(times, values)
        b, n, _ = values.shape
        h = values.new_zeros(b, self.cell.hidden_size)
        for i in range(n):
            if i > 0:
                dt = (times[:, i] - times[:, i - 1]).unsqueeze(-1)
                h = rk4_step(self.func, times[:, i - 1], dt, h)
            h_new = self.cell(torch.cat([torch.nan_to_num(values[:, i]), m[:, i].to(values.dtype)], -1), h)
            h = torch.where(obs[:, i].unsqueeze(-1), h_new, h)
        return self.readout(h)
