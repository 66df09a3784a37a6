r"""SGD that records what the neural-mechanics predictions need, and a per-neuron tracker of S, N, D.

Training algorithm (PyTorch SGD semantics, coupled L2 weight decay; paper Sec. 5):
$\tilde g_k = g_k + \lambda\theta_k$, $v_{k+1} = \beta v_k + (1-d)\tilde g_k$, $\theta_{k+1} = \theta_k - \eta v_{k+1}$
(without momentum $\theta_{k+1} = \theta_k - \eta\tilde g_k$). PyTorch's first step sets
$v_1 = \tilde g_0$; the official neural-mechanics optimizer uses $v_1 = (1-d)\tilde g_0$
(``first_step_dampening=True``). We call $\delta_k$ the *update direction*, $\theta_{k+1} = \theta_k -
\eta \delta_k$: $\delta_k = v_{k+1}$ with momentum and $\tilde g_k$ without.

Shapes (einops letters): f stacked fields ($\theta_{k+1}$, $\theta_k$, $g_k$, $\delta_k$), p / q leading / trailing
axes, l the kept axis (channel), g groups.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ._inputs import check_int, check_real
from .symmetries import KINDS, GroupIndex, SymmetryGroup

__all__ = ["StepRecord", "SymmetryTracker", "TrackedSGD"]


@dataclass
class StepRecord:
    r"""What one optimizer step $k$ did, per parameter tensor (dicts keyed by the parameter object).

    Attributes:
        step: $k$ (0 for the first step).
        grad: $g_k$ = ``p.grad`` (the loss gradient without the decay term; a reference, valid until zero_grad).
        buffer: $v_{k+1}$, the momentum buffer after the step (empty without momentum; a reference, valid until
            the next step). The update direction is $\delta_k = v_{k+1}$ with momentum, $g_k + \lambda\theta_k$
            without.
        weight_decay: $\lambda$ of each parameter's param group.
    """

    step: int
    grad: dict[Tensor, Tensor]
    buffer: dict[Tensor, Tensor]
    weight_decay: dict[Tensor, float]


class TrackedSGD(torch.optim.SGD):
    r"""Drop-in ``torch.optim.SGD`` (bit-identical updates) that keeps $g_k$ and $v_{k+1}$ of the last step.

    Args:
        params: iterable of parameters or param-group dicts, as for ``torch.optim.SGD``.
        lr: learning rate $\eta$.
        momentum: $\beta$ (heavy ball, PyTorch convention).
        dampening: $d$.
        weight_decay: $\lambda$ (coupled L2: added to the gradient).
        first_step_dampening: use the official optimizer's first buffer $v_1 = (1 - d)\tilde g_0$ instead of
            PyTorch's $v_1 = \tilde g_0$ (identical for $d = 0$).
        nesterov: refused (the predictions model heavy-ball momentum only).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        *,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        first_step_dampening: bool = False,
        nesterov: bool = False,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        if nesterov:
            raise ValueError("nesterov=True is not supported: the predictions assume heavy-ball momentum")
        if maximize:
            raise ValueError("maximize=True is not supported: the predictions assume loss minimization")
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
        for name, value in (("momentum", momentum), ("dampening", dampening), ("weight_decay", weight_decay)):
            check_real(value, name)
        if not 0 <= momentum < 1:  # the oscillator of the predictions needs β < 1 (and NaN fails here)
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if not 0 <= dampening < 1:
            raise ValueError(f"dampening must be in [0, 1), got {dampening}")
        if not (math.isfinite(weight_decay) and weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay}")
        super().__init__(
            params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, foreach=foreach
        )
        for g in self.param_groups:
            if g["nesterov"] or g["maximize"]:
                raise ValueError("param groups with nesterov or maximize are not supported")
        self.first_step_dampening = bool(first_step_dampening)
        self.step_count = 0
        self.last: StepRecord | None = None

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        grads: dict[Tensor, Tensor] = {}
        first: dict[Tensor, Tensor] = {}  # theta_0 copies, only for the official first-step variant
        for group in self.param_groups:
            if group["nesterov"] or group["maximize"]:
                raise ValueError("param groups with nesterov or maximize are not supported")
            official_first = self.first_step_dampening and group["momentum"] != 0 and group["dampening"] != 0
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise ValueError("sparse gradients are not supported")
                grads[p] = p.grad
                if official_first and self.state.get(p, {}).get("momentum_buffer") is None:
                    first[p] = p.detach().clone()
        super().step()
        buffers: dict[Tensor, Tensor] = {}
        decay: dict[Tensor, float] = {}
        for group in self.param_groups:
            lr, mom, damp, wd = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
            for p in group["params"]:
                if p not in grads:
                    continue
                decay[p] = wd
                if mom != 0:
                    buf = self.state[p]["momentum_buffer"]
                    if p in first:
                        # official optimizer: v_1 = (1 - d) g~_0; redo theta_1 = theta_0 - lr v_1
                        buf.mul_(1 - damp)
                        p.copy_(first[p]).add_(buf, alpha=-lr)
                    buffers[p] = buf
        self.last = StepRecord(step=self.step_count, grad=grads, buffer=buffers, weight_decay=decay)
        self.step_count += 1
        return loss


_HYPER = ("lr", "momentum", "dampening", "weight_decay")


def _keep(x: Tensor, dim: int | None) -> Tensor:
    """(*shape) -> (l,): sum over every axis except ``dim`` (over all of them, l = 1, if dim is None)."""
    if dim is None:
        return x.sum().reshape(1)
    axes = [a for a in range(x.dim()) if a != dim]
    return x.sum(axes) if axes else x


class SymmetryTracker:
    r"""Records, per symmetry group and per step, the empirical quantity and the statistics the predictions use.

    Call :meth:`step` right after each ``optimizer.step()`` (before ``zero_grad``). Per step k and group A it
    stores, in float64:

    * translation: $S_{k+1} = \langle\theta_{k+1}, 1_A\rangle$, $\langle g_k, 1_A\rangle$ (zero by the symmetry),
      and with momentum $u_{k+1} = \langle v_{k+1}, 1_A\rangle$;
    * scale: $N_{k+1} = \|\theta_{A,k+1}\|^2$, $\|g_{A,k}\|^2$, and with momentum $Q_{k+1} = \|v_{A,k+1}\|^2$;
    * rescale: the same for $A_1$ (incoming) and $A_2$ (outgoing) separately.

    Vectorized per layer: one fused elementwise square per field over all parameters, one reduction per
    (parameter, kept axis), and one indexing op per kind and side gathering every group at once (no Python
    loop over neurons). The snapshot of $\theta_k$ is not needed: the exact recursions only use $g_k$ and $v_{k+1}$.

    Args:
        model: the network whose parameters the groups name.
        groups: symmetry groups (from :func:`find_symmetries` or by hand).
        optimizer: a :class:`TrackedSGD` over the model's parameters.
        every: keep the output arrays every ``every`` steps (statistics are accumulated every step).

    With momentum the tracker must start before the optimizer's first step (refused otherwise): the recursions
    and the oscillator assume $v_0 = 0$.
    """

    def __init__(
        self, model: nn.Module, groups: Sequence[SymmetryGroup], optimizer: TrackedSGD, *, every: int = 1
    ) -> None:
        if not isinstance(optimizer, TrackedSGD):
            raise ValueError(f"optimizer must be a TrackedSGD, got {type(optimizer).__name__}")
        if not groups:
            raise ValueError("groups must be a non-empty list of SymmetryGroup")
        bad = [g for g in groups if not isinstance(g, SymmetryGroup)]
        if bad:
            raise ValueError(f"groups must be SymmetryGroup objects, got {type(bad[0]).__name__}")
        self.every = check_int(every, "every", lo=1)
        self.model = model
        self.optimizer = optimizer
        self.params = dict(model.named_parameters())
        self.groups: dict[str, list[SymmetryGroup]] = {}
        for kind in KINDS:
            gs = [g for g in groups if g.kind == kind]
            if gs:
                self.groups[kind] = gs
        for g in groups:
            for sl in g.slices:
                if sl.param not in self.params:
                    raise ValueError(f"group {g.name}[{g.index}] refers to unknown parameter {sl.param!r}")
                shp = self.params[sl.param].shape
                if sl.dim is not None and not (0 <= sl.dim < len(shp) and 0 <= sl.start < sl.stop <= shp[sl.dim]):
                    raise ValueError(f"slice {sl} out of range for parameter of shape {tuple(shp)}")
        # one lambda (and lr, beta, d) per group; one setting for all tracked groups
        hyper_of: dict[int, tuple] = {}
        for pg in optimizer.param_groups:
            for p in pg["params"]:
                hyper_of[id(p)] = tuple(pg[h] for h in _HYPER)
        settings = set()
        for kind, gs in self.groups.items():
            for g in gs:
                hs = set()
                for sl in g.slices:
                    p = self.params[sl.param]
                    if id(p) not in hyper_of:
                        raise ValueError(f"parameter {sl.param!r} of group {g.name}[{g.index}] is not in the optimizer")
                    hs.add(hyper_of[id(p)])
                if len(hs) > 1:
                    raise ValueError(
                        f"{kind} group {g.name}[{g.index}] mixes optimizer settings {sorted(hs)} (e.g. a weight "
                        "decay exemption for biases/BatchNorm): its quantity then obeys no closed equation"
                    )
                settings |= hs
        if len(settings) > 1:
            raise ValueError(f"tracked groups use different optimizer settings {sorted(settings)}; track them "
                             "with one SymmetryTracker per setting")
        self.hyper = dict(zip(_HYPER, settings.pop()))
        if self.hyper["momentum"] != 0:
            tracked_params = [self.params[sl.param] for gs in self.groups.values() for g in gs for sl in g.slices]
            if any(optimizer.state.get(p, {}).get("momentum_buffer") is not None for p in tracked_params):
                raise ValueError(
                    "the optimizer already holds a momentum buffer: the momentum predictions and exact recursions "
                    "assume v_0 = 0, so create the SymmetryTracker (and a fresh TrackedSGD) before the first step"
                )
        self.hyper["first_step_dampening"] = optimizer.first_step_dampening
        self._names = sorted({sl.param for gs in self.groups.values() for g in gs for sl in g.slices})
        self._tensors = [self.params[n] for n in self._names]
        tracked = {id(p) for p in self._tensors}
        self._pgroups = [pg for pg in optimizer.param_groups if any(id(p) in tracked for p in pg["params"])]
        shapes = {n: p.shape for n, p in self.params.items()}
        # shared layouts: the squared-norm kinds (scale, rescale) and the translation sums each reduce every
        # (parameter, kept axis) pair once; GroupIndex then gathers all groups of a kind in one indexing op
        self._sq_keys = sorted({(sl.param, sl.dim) for k in ("scale", "rescale") for g in self.groups.get(k, [])
                                for sl in g.slices}, key=str)
        self._sum_keys = sorted({(sl.param, sl.dim) for g in self.groups.get("translation", [])
                                 for sl in g.slices}, key=str)
        self.index = {kind: GroupIndex(gs, shapes, keys=self._sum_keys if kind == "translation" else self._sq_keys)
                      for kind, gs in self.groups.items()}
        self._pos = {n: i for i, n in enumerate(self._names)}
        self._start = optimizer.step_count
        self.n_steps = 0
        self._records: dict[str, list[Tensor]] = {k: [] for k in self.groups}
        self._cache: dict[str, Tensor] = {}
        with torch.no_grad():
            th = [p.detach().to(torch.float64) for p in self._tensors]
            self._init = self._reduce([th])

    def _reduce(self, fields: list[list[Tensor]]) -> dict[str, Tensor]:
        """fields: F lists of per-parameter tensors (order of self._names) -> {kind: (F * sides, g)}.

        Squared-norm kinds use sum of squares over each group's entries, translation plain sums.
        """
        out: dict[str, Tensor] = {}
        if self._sq_keys:
            sq = [torch._foreach_mul(f, f) for f in fields]  # one fused kernel per field
            flat = torch.stack([torch.cat([_keep(fs[self._pos[n]], d) for n, d in self._sq_keys]) for fs in sq])
            flat = torch.cat([flat, flat.new_zeros(flat.shape[0], 1)], dim=1)  # (F, R + 1), zero pad column
            for kind in ("scale", "rescale"):
                if kind in self.index:
                    out[kind] = torch.cat([flat[:, idx].sum(-1) for idx in self.index[kind].index.values()])
        if self._sum_keys:
            flat = torch.stack([torch.cat([_keep(fs[self._pos[n]], d) for n, d in self._sum_keys]) for fs in fields])
            flat = torch.cat([flat, flat.new_zeros(flat.shape[0], 1)], dim=1)
            out["translation"] = flat[:, self.index["translation"].index["members"]].sum(-1)
        return out

    @torch.no_grad()
    def step(self) -> None:
        """Record the optimizer's last step (call once after every ``optimizer.step()``)."""
        opt = self.optimizer
        rec = opt.last
        if rec is None or opt.step_count != self._start + self.n_steps + 1:
            raise ValueError(
                f"tracker.step() must follow each optimizer.step() exactly once (optimizer at step "
                f"{opt.step_count}, tracker at {self._start + self.n_steps})"
            )
        for pg in self._pgroups:
            if any(pg[h] != self.hyper[h] for h in _HYPER):
                raise ValueError("optimizer hyper-parameters changed during tracking; start a new tracker "
                                 "(the closed forms assume constant lr, momentum, dampening, weight decay; with "
                                 "momentum only from a zero buffer)")
        ps = self._tensors
        with_mom = self.hyper["momentum"] != 0
        missing = [n for n, p in zip(self._names, ps) if p not in rec.grad or (with_mom and p not in rec.buffer)]
        if missing:
            raise ValueError(f"parameters {missing} got no gradient in this step")
        g = [rec.grad[p] for p in ps]
        v = [rec.buffer[p] for p in ps] if with_mom else None
        th1 = [p.detach() for p in ps]
        fields = [th1, g] if v is None else [th1, g, v]
        if ps[0].dtype != torch.float64:
            fields = [[t.to(torch.float64) for t in f] for f in fields]
        self._add(self._reduce(fields))

    def _add(self, rec: dict[str, Tensor]) -> None:
        for kind, r in rec.items():
            self._records[kind].append(r)
        self.n_steps += 1
        self._cache.clear()

    # ---- read-out -------------------------------------------------------------------------------------------
    def _stack(self, kind: str) -> Tensor:
        if kind not in self.groups:
            raise ValueError(f"no {kind!r} groups tracked; tracked kinds: {sorted(self.groups)}")
        if kind not in self._cache:
            if self.n_steps == 0:
                f = self._records_width(kind)
                self._cache[kind] = torch.zeros(0, f, len(self.groups[kind]), dtype=torch.float64)
            else:
                self._cache[kind] = torch.stack(self._records[kind])  # (K, f, g)
        return self._cache[kind]

    def _records_width(self, kind: str) -> int:
        f = 3 if self.hyper["momentum"] != 0 else 2
        return 2 * f if kind == "rescale" else f

    @property
    def kinds(self) -> list[str]:
        """Kinds with at least one tracked group."""
        return list(self.groups)

    @property
    def steps(self) -> np.ndarray:
        """Recorded step indices 0, every, 2*every, ... (<= n_steps)."""
        return np.arange(0, self.n_steps + 1, self.every)

    @property
    def step_size(self) -> float:
        r"""$h = \eta(1 - d)$ with momentum, $\eta$ without: $t_k = h k$."""
        h = self.hyper
        return h["lr"] * (1 - h["dampening"]) if h["momentum"] != 0 else h["lr"]

    @property
    def times(self) -> np.ndarray:
        """Continuous times $t_k = h k$ of the recorded steps."""
        return self.steps * self.step_size

    def series(self, kind: str) -> dict[str, np.ndarray]:
        r"""Every step's statistics for one kind, as float64 numpy arrays.

        Returns:
            ``quantity``: (K + 1, g) S / N / D at steps 0..K; ``scale``: (K + 1, g) its normalizer ($|S|$, $N$, or
            $\|\theta_{A_1}\|^2 + \|\theta_{A_2}\|^2$); per step $k < K$, (K, g): ``grad_sq`` = $\|g_{A,k}\|^2$ and
            ``update_sq`` = $\|\delta_{A,k}\|^2$ (= $Q_{k+1}$ with momentum, $\|g_{A,k} + \lambda\theta_{A,k}\|^2$
            without), both $A_1$ minus $A_2$ for rescale (plus ``in_sq``/``out_sq``: $\|\theta_{A_1}\|^2$,
            $\|\theta_{A_2}\|^2$); translation: ``grad_sum`` $\langle g_k, 1_A\rangle$ and ``update_sum``
            $\langle \delta_k, 1_A\rangle$ (= $u_{k+1}$ with momentum).
        """
        r = self._stack(kind).numpy()  # (K, F * sides, g), F = 2 (theta, g) or 3 (theta, g, v)
        init = self._init[kind].numpy()  # (sides, g)
        f = r.shape[1] // (2 if kind == "rescale" else 1)
        lam, mom = self.hyper["weight_decay"], self.hyper["momentum"]

        def side(j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
            q = np.concatenate([init[j : j + 1], r[:, j * f]], axis=0)
            return q, r[:, j * f + 1], (r[:, j * f + 2] if f == 3 else None)

        if kind == "translation":
            q, gs, vs = side(0)
            out = {"quantity": q, "scale": np.abs(q), "grad_sum": gs}
            if mom != 0:
                out["update_sum"] = vs
            return out
        if kind == "scale":
            q, gq, vq = side(0)
            norm = q
        else:
            qi, gi, vi = side(0)
            qo, go, vo = side(1)
            q, gq, norm = qi - qo, gi - go, qi + qo
            vq = None if vi is None else vi - vo
        # without momentum delta_k = g_k + lambda theta_k and ||g_A + lambda theta_A||^2 = ||g_A||^2 + lambda^2 q_k
        # because <g_A, theta_A> = 0 (scale) / the A1 and A2 terms cancel (rescale)
        update = vq if mom != 0 else gq + lam * lam * q[:-1]
        out = {"quantity": q, "scale": norm, "grad_sq": gq, "update_sq": update}
        if kind == "rescale":
            out.update(in_sq=qi, out_sq=qo)
        return out

    def empirical(self, kind: str) -> np.ndarray:
        """(T, g) measured S / N / D at the recorded steps."""
        return self.series(kind)["quantity"][:: self.every]

    def normalizer(self, kind: str) -> np.ndarray:
        r"""(T, g) the quantity's scale at the recorded steps: $|S|$, $N$, or
        $\|\theta_{A_1}\|^2 + \|\theta_{A_2}\|^2$."""
        return self.series(kind)["scale"][:: self.every]
