"""Brownian motion that can be queried again, exactly: the Brownian Interval and a Virtual Brownian Tree.

**Brownian Interval** (Kidger et al. 2021, arXiv:2105.13493 §4; thesis §5.5): a binary tree of time intervals
rooted at ``[t0, t1]``; the root holds ``W(t0, t1) ~ N(0, (t1 − t0) I)``. Splitting ``[s, t]`` at ``u`` draws the
Brownian-bridge noise ``Z`` from that node's own seed, ``SeedSequence(entropy, spawn_key=(key, depth))`` (key =
2·parent key + {0 left, 1 right}, root key 0, depth 0):

    W(s, u) = (u − s)/(t − s) · W(s, t) + √((u − s)(t − u)/(t − s)) · Z,      W(u, t) = W(s, t) − W(s, u).

A query ``(a, b)`` walks from the most recently visited node (up until the node contains ``[a, b]``, then down,
splitting leaves at ``a`` or ``b``), collects the nodes that tile ``[a, b]`` and sums their increments. A node's
increment is recomputed from its parent's, through an LRU cache of ``cache_size`` entries. A pre-built balanced
dyadic *dependency tree* (intervals halved until ≤ ``0.8·dt·min(cache_size, 100)``) keeps backward-order queries
O(log N). Additivity is exact; the same query returns the same tensor; the joint law is Brownian whatever the
query order, though the realised path depends on the order of the *first* queries (splits fix which seeds
are used).

**Virtual Brownian Tree** (Li et al. 2020): point queries ``W(t)`` by bisecting a fixed dyadic tree on
``[t0, t1]`` down to width ``tol`` (midpoint bridge sample from a per-node seed at each level, no cache) and
interpolating linearly in the last cell: approximate (error ~ √tol) and O(log(1/tol)) per query.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import torch
from torch import Tensor

__all__ = ["BrownianInterval", "VirtualBrownianTree"]


def _normal(entropy: int, key: int, depth: int, size: tuple[int, ...], dtype: torch.dtype,
            device: torch.device | str | None) -> Tensor:
    """Standard normal noise of a node, from ``SeedSequence(entropy, spawn_key=(key, depth))``."""
    seed = int(np.random.SeedSequence(entropy, spawn_key=(key, depth)).generate_state(1, np.uint64)[0])
    g = torch.Generator(device="cpu").manual_seed(seed)
    z = torch.randn(size, generator=g, dtype=dtype)
    return z if device is None or str(device) == "cpu" else z.to(device)


class _Node:
    __slots__ = ("depth", "end", "is_left", "key", "left", "mid", "parent", "right", "start")

    def __init__(self, start: float, end: float, parent: _Node | None, key: int, depth: int, is_left: bool) -> None:
        self.start, self.end, self.parent = start, end, parent
        self.left: _Node | None = None
        self.right: _Node | None = None
        self.mid = math.nan
        self.key, self.depth, self.is_left = key, depth, is_left

    def split(self, u: float) -> None:
        self.mid = u
        self.left = _Node(self.start, u, self, 2 * self.key, self.depth + 1, True)
        self.right = _Node(u, self.end, self, 2 * self.key + 1, self.depth + 1, False)


def _check_span(t0: float, t1: float) -> tuple[float, float]:
    t0, t1 = float(t0), float(t1)
    if not (math.isfinite(t0) and math.isfinite(t1) and t0 < t1):
        raise ValueError(f"need finite t0 < t1, got t0={t0}, t1={t1}")
    return t0, t1


class BrownianInterval:
    """Brownian motion on ``[t0, t1]`` with exact, repeatable interval queries.

    Args:
        t0, t1: the time span.
        size: shape of ``W(t)``, e.g. ``(batch, m)``.
        dtype, device: of the returned increments (default float32 on CPU).
        entropy: global seed (int); default: drawn from torch's global generator.
        dt: expected query length; pre-builds the dependency tree (always pass it when known). Without it the
            tree is built from the running mean of query lengths after the first 100 queries (torchsde's rule).
        cache_size: LRU cache entries (node increments).

    ``bi(ta, tb)`` → ``W(tb) − W(ta)``, shape ``size``.
    """

    def __init__(self, t0: float, t1: float, size: tuple[int, ...], dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None, entropy: int | None = None, dt: float | None = None,
                 cache_size: int = 45) -> None:
        self.t0, self.t1 = _check_span(t0, t1)
        self.size = tuple(int(s) for s in size)
        if any(s < 1 for s in self.size):
            raise ValueError(f"size must have positive entries, got {size}")
        if cache_size < 1:
            raise ValueError(f"cache_size must be >= 1, got {cache_size}")
        self.dtype = dtype or torch.get_default_dtype()
        self.device = device
        if entropy is None:
            entropy = int(torch.randint(0, 2**62, (1,)).item())
        self.entropy = int(entropy)
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[_Node, Tensor] = OrderedDict()
        self.max_cache_len = 0
        self.n_noise = 0  # bridge samples drawn (diagnostic)
        self._root = _Node(self.t0, self.t1, None, 0, 0, True)
        g = np.random.SeedSequence(self.entropy).generate_state(1, np.uint64)[0]
        z = torch.randn(self.size, generator=torch.Generator().manual_seed(int(g)), dtype=self.dtype)
        self._root_w = (z * math.sqrt(self.t1 - self.t0)).to(device) if device else z * math.sqrt(self.t1 - self.t0)
        self._last = self._root
        self._n_queries = 0
        self._mean_len = 0.0
        self._tree_dt = self.t1 - self.t0
        self._auto = dt is None
        if dt is not None:
            if not (dt > 0):
                raise ValueError(f"dt must be > 0, got {dt}")
            self._build_dependency_tree(float(dt))

    # -- dependency tree -------------------------------------------------------------------------
    def _build_dependency_tree(self, dt: float) -> None:
        piece = 0.8 * dt * min(self.cache_size, 100)
        self._tree_dt = dt
        stack = [self._root]
        while stack:
            node = stack.pop()
            if node.left is not None:
                stack += [node.left, node.right]
            elif node.end - node.start > piece:
                node.split(0.5 * (node.start + node.end))
                stack += [node.left, node.right]

    # -- increments ------------------------------------------------------------------------------
    def _bridge_left(self, parent: _Node, w_parent: Tensor) -> Tensor:
        s, u, t = parent.start, parent.mid, parent.end
        self.n_noise += 1
        z = _normal(self.entropy, parent.key, parent.depth, self.size, self.dtype, self.device)
        return ((u - s) / (t - s)) * w_parent + math.sqrt((u - s) * (t - u) / (t - s)) * z

    def _remember(self, node: _Node, w: Tensor) -> None:
        self._cache[node] = w
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        self.max_cache_len = max(self.max_cache_len, len(self._cache))

    def _increment(self, node: _Node) -> Tensor:
        path = []
        cur = node
        while cur is not self._root and cur not in self._cache:
            path.append(cur)
            cur = cur.parent
        w = self._root_w if cur is self._root else self._cache[cur]
        if cur is not self._root:
            self._cache.move_to_end(cur)
        for nd in reversed(path):
            parent = nd.parent
            if nd.is_left:
                w = self._bridge_left(parent, w)
            else:
                sib = self._cache.get(parent.left)
                w = w - (sib if sib is not None else self._bridge_left(parent, w))
            self._remember(nd, w)
        return w

    # -- queries ---------------------------------------------------------------------------------
    def _tile(self, node: _Node, a: float, b: float, out: list[_Node]) -> _Node:
        while True:
            if a == node.start and b == node.end:
                out.append(node)
                return node
            if node.left is None:
                node.split(a if a > node.start else b)
                continue
            if b <= node.mid:
                node = node.left
            elif a >= node.mid:
                node = node.right
            else:
                self._tile(node.left, a, node.mid, out)
                a = node.mid
                node = node.right

    def __call__(self, ta: float | Tensor, tb: float | Tensor | None = None) -> Tensor:
        """``W(tb) − W(ta)``; with ``tb=None``, ``W(ta) − W(t0)``."""
        if tb is None:
            ta, tb = self.t0, ta
        a, b = float(ta), float(tb)
        if not (self.t0 <= a <= b <= self.t1):
            raise ValueError(f"query [{a}, {b}] must satisfy t0={self.t0} <= ta <= tb <= t1={self.t1}")
        if a == b:
            return torch.zeros(self.size, dtype=self.dtype, device=self.device)
        self._n_queries += 1
        if self._auto:
            self._adapt(b - a)
        node = self._last
        while not (node.start <= a and b <= node.end):
            node = node.parent
        out: list[_Node] = []
        self._last = self._tile(node, a, b, out)
        w = self._increment(out[0])
        for nd in out[1:]:
            w = w + self._increment(nd)
        return w

    def _adapt(self, length: float) -> None:
        """torchsde's rule without a ``dt`` hint: after 100 queries, rebuild when the mean query length halves."""
        if self._n_queries <= 100:
            return
        k = self._n_queries - 100
        self._mean_len += (length - self._mean_len) / k
        if self._mean_len < 0.5 * self._tree_dt:
            self._build_dependency_tree(length)

    def __repr__(self) -> str:
        return (f"BrownianInterval(t0={self.t0}, t1={self.t1}, size={self.size}, dtype={self.dtype}, "
                f"entropy={self.entropy}, cache_size={self.cache_size})")


class VirtualBrownianTree:
    """Point-query Brownian motion by bisection to ``tol`` (Li et al. 2020), no cache; approximate.

    ``vbt(ta, tb)`` → ``W(tb) − W(ta)`` from two point queries; ``vbt(t)`` → ``W(t) − W(t0)``.
    """

    def __init__(self, t0: float, t1: float, size: tuple[int, ...], tol: float = 1e-5, entropy: int | None = None,
                 dtype: torch.dtype | None = None) -> None:
        self.t0, self.t1 = _check_span(t0, t1)
        if not (tol > 0):
            raise ValueError(f"tol must be > 0, got {tol}")
        self.size, self.tol = tuple(int(s) for s in size), float(tol)
        self.dtype = dtype or torch.get_default_dtype()
        if entropy is None:
            entropy = int(torch.randint(0, 2**62, (1,)).item())
        self.entropy = int(entropy)
        g = np.random.SeedSequence(self.entropy).generate_state(1, np.uint64)[0]
        z = torch.randn(self.size, generator=torch.Generator().manual_seed(int(g)), dtype=self.dtype)
        self._w1 = z * math.sqrt(self.t1 - self.t0)

    def point(self, t: float) -> Tensor:
        """``W(t) − W(t0)``."""
        t = float(t)
        if not (self.t0 <= t <= self.t1):
            raise ValueError(f"t={t} outside [{self.t0}, {self.t1}]")
        s, e = self.t0, self.t1
        ws, we = torch.zeros(self.size, dtype=self.dtype), self._w1
        key = depth = 0
        while e - s > self.tol:
            u = 0.5 * (s + e)
            z = _normal(self.entropy, key, depth, self.size, self.dtype, None)
            wu = 0.5 * (ws + we) + math.sqrt(0.25 * (e - s)) * z
            if t < u:
                e, we, key = u, wu, 2 * key
            else:
                s, ws, key = u, wu, 2 * key + 1
            depth += 1
        return ws + ((t - s) / (e - s)) * (we - ws)

    def __call__(self, ta: float | Tensor, tb: float | Tensor | None = None) -> Tensor:
        if tb is None:
            return self.point(float(ta))
        return self.point(float(tb)) - self.point(float(ta))
