r"""Architectural symmetries of a network and the geometry they impose (Kunin et al., ICLR 2021, Sec. 3-4).

A parameter group $A$ has a symmetry when the loss is invariant under a one-parameter transformation of
$\theta_A$ for *every* input batch. Differentiating the invariance gives a gradient constraint, and
differentiating once more a Hessian constraint (paper, Sec. 4, Table of symmetries):

* translation: gradient $\langle g, 1_A\rangle = 0$; Hessian $H 1_A = 0$;
  conserved $S_A = \langle\theta, 1_A\rangle$.
* scale: gradient $\langle g, \theta_A\rangle = 0$; Hessian $H\theta_A = -g_A$;
  conserved $N_A = \|\theta_A\|^2$.
* rescale: gradient $\langle g_{A_1},\theta_{A_1}\rangle = \langle g_{A_2},\theta_{A_2}\rangle$; Hessian
  $H(\theta_{A_1}-\theta_{A_2}) = g_{A_2}-g_{A_1}$; conserved
  $D_A = \|\theta_{A_1}\|^2-\|\theta_{A_2}\|^2$.

Where the groups come from:

* translation: softmax cross-entropy is blind to a common shift of the logits, so each column ``W[:, j]`` of
  the last linear layer and its bias vector form a group (columns, not rows).
* scale: a linear/conv layer whose outputs feed BatchNorm in train mode is blind to rescaling an output
  channel's incoming weights and bias (exact only for BatchNorm $\epsilon = 0$; $\epsilon$ breaks it at order
  $\epsilon / \sigma^2$).
* rescale: a positively homogeneous activation (ReLU, LeakyReLU, max/avg pooling) between two layers lets
  hidden unit $i$ scale its incoming weights (and bias, or BatchNorm's $\gamma_i, \beta_i$) by $\alpha$ and its
  outgoing weights by $1/\alpha$. Sign convention: $D$ = incoming minus outgoing (the official code reports the
  opposite).

Shapes (einops letters): f stacked fields, p leading dims before the kept axis, l the kept axis (channel),
q trailing dims, g groups, w slice width.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor, nn

from ._inputs import as_generator, check_input_matches, check_int

Kind = Literal["translation", "scale", "rescale"]
KINDS: tuple[str, ...] = get_args(Kind)

__all__ = [
    "KINDS",
    "ParamSlice",
    "SymmetryGroup",
    "check_gradient_geometry",
    "check_hessian_geometry",
    "find_symmetries",
    "quantities",
    "quantity",
]


@dataclass(frozen=True)
class ParamSlice:
    """Entries ``param[..., start:stop, ...]`` along axis ``dim`` of the parameter named ``param``.

    ``dim=None`` means the whole tensor (``start``/``stop`` are then ignored and set to 0/1).
    """

    param: str
    dim: int | None
    start: int = 0
    stop: int = 1


@dataclass(frozen=True)
class SymmetryGroup:
    r"""One symmetry group A (one neuron / channel).

    Attributes:
        kind: "translation", "scale" or "rescale".
        name: the layer the group belongs to (groups with the same kind and name are vectorized together).
        index: neuron / channel id within that layer (for the translation bias group: the column count).
        members: parameter slices of A (translation and scale).
        incoming: $A_1$ of a rescale group (incoming weights + bias of the unit, or BatchNorm $\gamma_i, \beta_i$).
        outgoing: A_2 of a rescale group (the unit's column(s) in the next layer).
        eps_bound: for scale groups in front of BatchNorm, $\epsilon / \sigma_c^2$ measured on the example input
            (the relative size of the symmetry violation); None when not measured.
    """

    kind: str
    name: str
    index: int
    members: tuple[ParamSlice, ...] = ()
    incoming: tuple[ParamSlice, ...] = ()
    outgoing: tuple[ParamSlice, ...] = ()
    eps_bound: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "rescale":
            if not self.incoming or not self.outgoing or self.members:
                raise ValueError(f"rescale group {self.name}[{self.index}] needs incoming and outgoing only")
        elif not self.members or self.incoming or self.outgoing:
            raise ValueError(f"{self.kind} group {self.name}[{self.index}] needs members only")

    @property
    def slices(self) -> tuple[ParamSlice, ...]:
        """All parameter slices of the group."""
        return self.members + self.incoming + self.outgoing


# --------------------------------------------------------------------------------------------------------
# symmetry finder for nn.Sequential-style chains
# --------------------------------------------------------------------------------------------------------

_PRODUCERS = (nn.Linear, nn.Conv1d, nn.Conv2d)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
# positively homogeneous, channel-wise maps: f(alpha x)_c = alpha f(x)_c for alpha > 0
_HOMOGENEOUS = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.Dropout,
    nn.Identity,
)
_RESHAPES = (nn.Flatten, nn.Unflatten)


def _leaves(model: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    if not isinstance(model, nn.Sequential):
        raise ValueError(
            f"find_symmetries supports nn.Sequential chains, got {type(model).__name__}; "
            "pass SymmetryGroup lists by hand for other models"
        )
    out: list[tuple[str, nn.Module]] = []
    for name, m in model.named_children():
        full = f"{prefix}{name}"
        if isinstance(m, nn.Sequential):
            out.extend(_leaves(m, full + "."))
        else:
            out.append((full, m))
    return out


def _trace_shapes(model: nn.Module, leaves: list[tuple[str, nn.Module]], x: Tensor) -> dict[str, dict]:
    """Input/output shapes and BatchNorm input variances, on a copy (running statistics stay untouched)."""
    clone = copy.deepcopy(model)
    info: dict[str, dict] = {}
    handles = []
    mods = dict(clone.named_modules())
    for name, _ in leaves:

        def hook(mod, inp, out, name=name):
            rec = {"in": tuple(inp[0].shape), "out": tuple(out.shape)}
            if isinstance(mod, _BATCHNORMS):
                z = inp[0].detach()
                dims = [0, *range(2, z.dim())]
                rec["var"] = z.var(dim=dims, unbiased=False)
            info[name] = rec

        handles.append(mods[name].register_forward_hook(hook))
    try:
        with torch.no_grad():
            clone(x)
    finally:
        for h in handles:
            h.remove()
    return info


def find_symmetries(model: nn.Module, example_input: Tensor | None = None) -> list[SymmetryGroup]:
    r"""Detect translation, scale and rescale groups of an ``nn.Sequential`` chain ending in a Linear layer.

    Supported modules: Linear, Conv1d/Conv2d (groups=1), BatchNorm1d/2d, ReLU, LeakyReLU, max/avg pooling,
    Dropout, Identity, Flatten, Unflatten. The final Linear is assumed to feed softmax cross-entropy
    (translation groups: its columns and its bias vector). Anything else raises ``ValueError``.

    Args:
        model: the network (nested ``nn.Sequential`` containers are flattened).
        example_input: optional input batch; needed when a Flatten turns a spatial conv feature map into
            features (then channel c owns a block of columns), and used to measure $\epsilon / \sigma^2$ per scale
            group; it must have the model's dtype and device.

    Returns:
        list of SymmetryGroup, ordered layer by layer.
    """
    leaves = _leaves(model)
    if not leaves:
        raise ValueError("model has no modules")
    pnames = {id(p): n for n, p in model.named_parameters()}

    def pname(m: nn.Module, attr: str) -> str | None:
        p = getattr(m, attr, None)
        if p is None or not isinstance(p, nn.Parameter):
            return None
        return pnames[id(p)]

    if example_input is not None:
        check_input_matches(model, example_input, "example_input")
    shapes = _trace_shapes(model, leaves, example_input) if example_input is not None else None

    for name, m in leaves:
        ok = isinstance(m, _PRODUCERS + _BATCHNORMS + _HOMOGENEOUS + _RESHAPES)
        if not ok:
            raise ValueError(f"find_symmetries does not understand module {name!r} ({type(m).__name__})")
        if isinstance(m, (nn.Conv1d, nn.Conv2d)) and m.groups != 1:
            raise ValueError(f"find_symmetries does not support grouped convolution {name!r} (groups={m.groups})")
        if isinstance(m, nn.LeakyReLU) and m.negative_slope < 0:
            raise ValueError(f"LeakyReLU {name!r} with negative slope is not positively homogeneous")

    groups: list[SymmetryGroup] = []
    # state of the channels currently flowing: which parameters produced them
    producer: tuple[str, nn.Module] | None = None
    spread = 1  # columns per channel after a Flatten
    spatial = False  # the current tensor still has spatial axes (conv features)
    spatial_one = False  # spatial axes known to be of size 1 (adaptive pooling to 1)

    def incoming_slices(m: nn.Module, c: int) -> tuple[ParamSlice, ...]:
        out = []
        for attr in ("weight", "bias"):
            n = pname(m, attr)
            if n is not None:
                out.append(ParamSlice(n, 0, c, c + 1))
        return tuple(out)

    def n_channels(m: nn.Module) -> int:
        if isinstance(m, nn.Linear):
            return m.out_features
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            return m.out_channels
        return m.num_features

    for pos, (name, m) in enumerate(leaves):
        is_last = pos == len(leaves) - 1
        if isinstance(m, _PRODUCERS):
            if producer is not None:
                # rescale: producer's channel c -> homogeneous chain -> this layer's input channel c
                pn, pm = producer
                wn = pname(m, "weight")
                n_in = m.in_features if isinstance(m, nn.Linear) else m.in_channels
                n_c = n_channels(pm)
                if isinstance(m, nn.Linear) and spread * n_c != n_in:
                    raise ValueError(
                        f"cannot map the {n_c} channels of {pn!r} onto the {n_in} inputs of {name!r}; "
                        "pass example_input so Flatten sizes are known"
                    )
                if wn is not None and incoming_slices(pm, 0):
                    for c in range(n_c):
                        groups.append(
                            SymmetryGroup(
                                kind="rescale",
                                name=f"{pn}->{name}",
                                index=c,
                                incoming=incoming_slices(pm, c),
                                outgoing=(ParamSlice(wn, 1, c * spread, (c + 1) * spread),),
                            )
                        )
            producer = (name, m)
            spread = 1
            spatial = isinstance(m, (nn.Conv1d, nn.Conv2d))
            spatial_one = False
            if is_last:
                if not isinstance(m, nn.Linear):
                    raise ValueError(f"the last module {name!r} must be nn.Linear (logits for cross-entropy)")
                wn, bn = pname(m, "weight"), pname(m, "bias")
                for j in range(m.in_features):
                    groups.append(
                        SymmetryGroup(
                            kind="translation", name=name, index=j, members=(ParamSlice(wn, 1, j, j + 1),)
                        )
                    )
                if bn is not None:
                    groups.append(
                        SymmetryGroup(
                            kind="translation",
                            name=name + ".bias",
                            index=m.in_features,
                            members=(ParamSlice(bn, None, 0, 1),),
                        )
                    )
        elif isinstance(m, _BATCHNORMS):
            if not m.training:
                warnings.warn(
                    f"BatchNorm {name!r} is in eval mode: the scale symmetry holds only with batch statistics",
                    stacklevel=2,
                )
            if producer is not None:
                pn, pm = producer
                n_c = n_channels(pm)
                if n_c != m.num_features:
                    raise ValueError(f"BatchNorm {name!r} has {m.num_features} features, {pn!r} gives {n_c}")
                bounds = [None] * n_c
                if shapes is not None and name in shapes:
                    var = shapes[name]["var"]
                    bounds = [float(m.eps / max(float(v), 1e-300)) for v in var]
                    worst = max(bounds)
                    limit = 10 * torch.finfo(var.dtype).eps
                    if worst > limit:
                        warnings.warn(
                            f"BatchNorm {name!r} eps={m.eps:g} breaks the scale symmetry of {pn!r} at relative "
                            f"order up to {worst:.1e} (> round-off {limit:.1e})",
                            stacklevel=2,
                        )
                elif m.eps > 1e-20:
                    warnings.warn(
                        f"BatchNorm {name!r} eps={m.eps:g} breaks the scale symmetry of {pn!r} at relative order "
                        "eps/sigma^2 (use eps=1e-30 in float64 for exact checks)",
                        stacklevel=2,
                    )
                if incoming_slices(pm, 0):
                    for c in range(n_c):
                        groups.append(
                            SymmetryGroup(
                                kind="scale",
                                name=pn,
                                index=c,
                                members=incoming_slices(pm, c),
                                eps_bound=bounds[c],
                            )
                        )
            producer = (name, m) if m.affine else None
            spread = 1
            if is_last:
                raise ValueError(f"the last module {name!r} must be nn.Linear (logits for cross-entropy)")
        elif isinstance(m, _HOMOGENEOUS):
            if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)):
                size = m.output_size
                sizes = size if isinstance(size, tuple) else (size,)
                spatial_one = all(s == 1 for s in sizes)
            if is_last:
                raise ValueError(f"the last module {name!r} must be nn.Linear (logits for cross-entropy)")
        else:  # Flatten / Unflatten
            if isinstance(m, nn.Unflatten):
                if producer is not None:
                    raise ValueError(f"Unflatten {name!r} after a parameterized layer is not supported")
                continue
            if producer is not None and spatial:
                if spatial_one:
                    spread = 1
                elif shapes is not None:
                    shp = shapes[name]["in"]
                    spread = int(math.prod(shp[2:]))
                else:
                    raise ValueError(
                        f"Flatten {name!r} after conv features of unknown spatial size; pass example_input"
                    )
            spatial = False
            if is_last:
                raise ValueError(f"the last module {name!r} must be nn.Linear (logits for cross-entropy)")
    return groups


# --------------------------------------------------------------------------------------------------------
# vectorized per-group reductions
# --------------------------------------------------------------------------------------------------------


class GroupIndex:
    """Vectorized gather of per-group reductions for a list of groups of one kind.

    For every (parameter, axis) pair used by the groups, a reduction keeps that axis (``l``) and sums over the
    others; all such vectors are concatenated into one (f, R) tensor with a trailing zero column, and each group
    side (members / incoming / outgoing) is an index matrix (g, w) into it, padded with the zero column. One
    gather + sum per side gives every group's value at once: no Python loop over neurons.
    """

    def __init__(
        self,
        groups: Sequence[SymmetryGroup],
        shapes: dict[str, torch.Size],
        *,
        keys: Sequence[tuple[str, int | None]] | None = None,
    ) -> None:
        if not groups:
            raise ValueError("groups must be a non-empty list of SymmetryGroup")
        kinds = {g.kind for g in groups}
        if len(kinds) != 1:
            raise ValueError(f"GroupIndex needs groups of one kind, got {sorted(kinds)}")
        self.kind = kinds.pop()
        self.n_groups = len(groups)
        wanted = list(keys) if keys is not None else []
        for g in groups:
            for s in g.slices:
                if (s.param, s.dim) not in wanted:
                    if keys is not None:
                        raise ValueError(f"keys lack {(s.param, s.dim)} used by group {g.name}[{g.index}]")
                    wanted.append((s.param, s.dim))
        # a shared layout (keys given) lets several kinds gather from one concatenated reduction
        keys: dict[tuple[str, int | None], int] = {}
        offsets: list[int] = []
        total = 0
        for param, dim in wanted:
            if param not in shapes:
                raise ValueError(f"a group refers to unknown parameter {param!r}")
            shp = shapes[param]
            if dim is not None and not 0 <= dim < len(shp):
                raise ValueError(f"parameter {param!r} of shape {tuple(shp)} has no axis {dim}")
            keys[(param, dim)] = len(offsets)
            offsets.append(total)
            total += 1 if dim is None else shp[dim]
        self.keys = list(keys)
        self.offsets = offsets
        self.total = total
        sides = ("incoming", "outgoing") if self.kind == "rescale" else ("members",)
        self.index: dict[str, Tensor] = {}
        for side in sides:
            rows: list[list[int]] = []
            for g in groups:
                row: list[int] = []
                for s in getattr(g, side):
                    base = offsets[keys[(s.param, s.dim)]]
                    if s.dim is None:
                        row.append(base)
                    else:
                        if not 0 <= s.start < s.stop <= shapes[s.param][s.dim]:
                            raise ValueError(f"slice {s} out of range for shape {tuple(shapes[s.param])}")
                        row.extend(range(base + s.start, base + s.stop))
                rows.append(row)
            width = max(len(r) for r in rows)
            idx = torch.full((len(rows), width), total, dtype=torch.long)
            for i, r in enumerate(rows):
                idx[i, : len(r)] = torch.tensor(r, dtype=torch.long)
            self.index[side] = idx

    def gather(self, per_key: Sequence[Tensor]) -> dict[str, Tensor]:
        """per_key[i]: (f, l_i) reductions for self.keys[i] -> {side: (f, g)}."""
        flat = torch.cat([*per_key, per_key[0].new_zeros(per_key[0].shape[0], 1)], dim=1)  # (f, R + 1)
        return {side: flat[:, idx].sum(-1) for side, idx in self.index.items()}


def _reshape_keep(x: Tensor, dim: int | None, lead: int) -> Tensor:
    """(lead, *shape) -> (lead, p, l, q) keeping axis ``dim`` of shape as l (dim None: l = 1)."""
    shape = x.shape[lead:]
    if dim is None:
        return x.reshape(*x.shape[:lead], 1, 1, -1)
    p = math.prod(shape[:dim])
    q = math.prod(shape[dim + 1 :])
    return x.reshape(*x.shape[:lead], p, shape[dim], q)


def _reduce_sq(x: Tensor, dim: int | None) -> Tensor:
    """sum of squares keeping axis dim -> (1, l)."""
    v = _reshape_keep(x.unsqueeze(0), dim, 1)
    return (v * v).sum(dim=(1, 3))


def _reduce_sum(x: Tensor, dim: int | None) -> Tensor:
    v = _reshape_keep(x.unsqueeze(0), dim, 1)
    return v.sum(dim=(1, 3))


def _params(model: nn.Module) -> dict[str, Tensor]:
    return dict(model.named_parameters())


def quantities(model: nn.Module, groups: Sequence[SymmetryGroup]) -> dict[str, Tensor]:
    r"""Per-group quantities, vectorized per layer (Sec. 4).

    Returns:
        dict kind -> (g,) float64 tensor in the order the groups of that kind appear in ``groups``:
        $S_A = \langle\theta, 1_A\rangle$ (translation), $N_A = \|\theta_A\|^2$ (scale),
        $D_A = \|\theta_{A_1}\|^2 - \|\theta_{A_2}\|^2$ (rescale, incoming minus outgoing).
    """
    params = _params(model)
    shapes = {n: p.shape for n, p in params.items()}
    out: dict[str, Tensor] = {}
    with torch.no_grad():
        for kind in KINDS:
            gs = [g for g in groups if g.kind == kind]
            if not gs:
                continue
            gi = GroupIndex(gs, shapes)
            red = _reduce_sum if kind == "translation" else _reduce_sq
            per_key = [red(params[n].detach().to(torch.float64), d) for n, d in gi.keys]
            vals = gi.gather(per_key)
            if kind == "rescale":
                out[kind] = vals["incoming"][0] - vals["outgoing"][0]
            else:
                out[kind] = vals["members"][0]
    return out


def quantity(model: nn.Module, group: SymmetryGroup) -> Tensor:
    """S, N or D of one group as a float64 scalar tensor (see :func:`quantities`)."""
    return quantities(model, [group])[group.kind][0]


# --------------------------------------------------------------------------------------------------------
# geometry checks
# --------------------------------------------------------------------------------------------------------


def _group_vector(
    params: dict[str, Tensor],
    slices: Sequence[ParamSlice],
    source: dict[str, Tensor] | None,
    sign: float = 1.0,
    acc: dict[str, Tensor] | None = None,
) -> dict[str, Tensor]:
    """Add sign*source (ones if source is None) on the slices to the per-parameter vector acc (new if None)."""
    out: dict[str, Tensor] = {} if acc is None else acc
    for s in slices:
        p = params[s.param]
        v = out.setdefault(s.param, torch.zeros_like(p))
        if s.dim is None:
            v.add_(torch.ones_like(p) if source is None else source[s.param], alpha=sign)
        else:
            sl = [slice(None)] * p.dim()
            sl[s.dim] = slice(s.start, s.stop)
            key = tuple(sl)
            if source is None:
                v[key] += sign
            else:
                v[key] += sign * source[s.param][key]
    return out


def _add(a: dict[str, Tensor], b: dict[str, Tensor], alpha: float = 1.0) -> dict[str, Tensor]:
    out = {k: v.clone() for k, v in a.items()}
    for k, v in b.items():
        out[k] = out[k] + alpha * v if k in out else alpha * v
    return out


def _dot(a: dict[str, Tensor], b: dict[str, Tensor]) -> Tensor:
    tot = torch.zeros((), dtype=torch.float64)
    for k, v in a.items():
        if k in b:
            tot = tot + (v.to(torch.float64) * b[k].to(torch.float64)).sum()
    return tot


def _norm(a: dict[str, Tensor]) -> Tensor:
    return _dot(a, a).sqrt()


def _loss_and_grad(model: nn.Module, loss_fn: Callable, batch: tuple[Tensor, Tensor], create_graph: bool):
    x, y = batch
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    ps = [p for n, p in model.named_parameters() if p.requires_grad]
    loss = loss_fn(model(x), y)
    grads = torch.autograd.grad(loss, ps, create_graph=create_graph)
    return names, ps, dict(zip(names, grads))


def _check_batch(batch, model: nn.Module) -> tuple[Tensor, Tensor]:
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise ValueError(f"batch must be a (inputs, targets) pair, got {type(batch).__name__}")
    check_input_matches(model, batch[0], "batch inputs")
    return batch[0], batch[1]


def check_gradient_geometry(
    model: nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor], batch: tuple[Tensor, Tensor],
    groups: Sequence[SymmetryGroup],
) -> dict[str, float]:
    r"""Largest violation of the gradient constraints over the groups, on one batch (Sec. 4).

    Violations per group: $|\langle g, 1_A\rangle|$ (translation), $|\langle g, \theta_A\rangle|$ (scale),
    $|\langle g_{A_1}, \theta_{A_1}\rangle - \langle g_{A_2}, \theta_{A_2}\rangle|$ (rescale); "normalized" divides
    by $\|g\|\,\|\theta\|$ (whole model). ``batch`` = (inputs, targets); the inputs must have the model's dtype
    and device.

    Returns:
        dict with ``<kind>`` (absolute max), ``<kind>_normalized`` and ``max_normalized`` (over kinds), plus
        ``grad_norm`` and ``param_norm``.
    """
    x, y = _check_batch(batch, model)
    names, ps, grads = _loss_and_grad(model, loss_fn, (x, y), create_graph=False)
    params = {n: p.detach() for n, p in zip(names, ps)}
    gnorm = float(_norm(grads))
    pnorm = float(_norm(params))
    scale = gnorm * pnorm if gnorm * pnorm > 0 else 1.0
    shapes = {n: p.shape for n, p in params.items()}
    out: dict[str, float] = {"grad_norm": gnorm, "param_norm": pnorm}
    worst = 0.0
    with torch.no_grad():
        for kind in KINDS:
            gs = [g for g in groups if g.kind == kind]
            if not gs:
                continue
            gi = GroupIndex(gs, shapes)
            if kind == "translation":
                per_key = [_reduce_sum(grads[n].to(torch.float64), d) for n, d in gi.keys]
                viol = gi.gather(per_key)["members"][0].abs()
            else:
                per_key = [
                    _reduce_sum((grads[n] * params[n]).to(torch.float64), d) for n, d in gi.keys
                ]
                v = gi.gather(per_key)
                viol = (v["members"][0] if kind == "scale" else v["incoming"][0] - v["outgoing"][0]).abs()
            m = float(viol.max())
            out[kind] = m
            out[kind + "_normalized"] = m / scale
            worst = max(worst, m / scale)
    out["max_normalized"] = worst
    return out


def check_hessian_geometry(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    batch: tuple[Tensor, Tensor],
    groups: Sequence[SymmetryGroup],
    *,
    n_individual: int = 3,
    generator: torch.Generator | int | None = None,
) -> dict[str, float]:
    r"""Largest relative violation of the Hessian constraints, via double backprop (Sec. 4).

    $H 1_A = 0$ (translation), $H\theta_A = -g_A$ (scale), $H(\theta_{A_1} - \theta_{A_2}) = g_{A_2} - g_{A_1}$
    (rescale). Relative violation $= \|Hv - r\| / (\|H\tilde v\| + \|r\|)$ with $r$ the right-hand side and
    $\tilde v$ a random vector on the same parameter entries as $v$ and of the same norm (a typical Hessian-vector
    magnitude: the translation right-hand side is exactly 0). Per kind it checks one random linear combination of
    *all* groups (the identities are linear in $v$; random $N(0, 1)$ coefficients) plus ``n_individual`` randomly
    chosen single groups: one Hessian-vector product each instead of one per group. ``generator``: an int seed or
    a ``torch.Generator`` (None: seed 0).

    Returns:
        dict ``<kind>`` -> max relative violation, and ``max`` over kinds.
    """
    x, y = _check_batch(batch, model)
    check_int(n_individual, "n_individual", lo=0)
    gen = as_generator(0 if generator is None else generator)
    names, ps, grads = _loss_and_grad(model, loss_fn, (x, y), create_graph=True)
    params = {n: p.detach() for n, p in zip(names, ps)}
    gdet = {n: g.detach() for n, g in grads.items()}

    def hvp(v: dict[str, Tensor]) -> dict[str, Tensor]:
        dot = sum((grads[n] * v[n]).sum() for n in v)
        hv = torch.autograd.grad(dot, ps, retain_graph=True, allow_unused=True)
        return {n: (h if h is not None else torch.zeros_like(p)) for n, p, h in zip(names, ps, hv)}

    def vec_rhs(g: SymmetryGroup, c: float = 1.0, acc=None):
        """(v, rhs, support) of one group times c, accumulated into acc = (v, rhs, support) dicts."""
        v, rhs, sup = acc if acc is not None else ({}, {}, {})
        if g.kind == "translation":
            _group_vector(params, g.members, None, c, v)
            _group_vector(params, g.members, None, 1.0, sup)
        elif g.kind == "scale":
            _group_vector(params, g.members, params, c, v)
            _group_vector(params, g.members, gdet, -c, rhs)
            _group_vector(params, g.members, None, 1.0, sup)
        else:
            _group_vector(params, g.incoming, params, c, v)
            _group_vector(params, g.outgoing, params, -c, v)
            _group_vector(params, g.outgoing, gdet, c, rhs)
            _group_vector(params, g.incoming, gdet, -c, rhs)
            _group_vector(params, g.incoming, None, 1.0, sup)
            _group_vector(params, g.outgoing, None, 1.0, sup)
        return v, rhs, sup

    def violation(v: dict[str, Tensor], rhs: dict[str, Tensor], support: dict[str, Tensor]) -> float:
        hv = hvp(v)
        # random comparison vector on the same entries, same norm
        rand = {n: torch.randn(s.shape, generator=gen, dtype=s.dtype) * (s != 0) for n, s in support.items()}
        rn = _norm(rand)
        rand = {n: r * (_norm(v) / rn) for n, r in rand.items()}
        h_rand = hvp(rand)
        diff = _add(hv, rhs, alpha=-1.0)
        denom = float(_norm(h_rand) + _norm(rhs))
        num = float(_norm(diff))
        return num / denom if denom > 0 else num

    out: dict[str, float] = {}
    for kind in KINDS:
        gs = [g for g in groups if g.kind == kind]
        if not gs:
            continue
        coef = torch.randn(len(gs), generator=gen, dtype=torch.float64)
        acc = ({}, {}, {})
        for c, g in zip(coef.tolist(), gs):
            vec_rhs(g, c, acc)
        v_all, rhs_all, sup_all = acc
        worst = violation(v_all, rhs_all, sup_all)
        pick = torch.randperm(len(gs), generator=gen)[: min(n_individual, len(gs))]
        for i in pick.tolist():
            v, rhs, sup = vec_rhs(gs[i])
            worst = max(worst, violation(v, rhs, sup))
        out[kind] = worst
    out["max"] = max(out.values()) if out else 0.0
    return out
