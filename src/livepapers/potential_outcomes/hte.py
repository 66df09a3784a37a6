r"""Heterogeneous treatment effects: meta-learners and an honest causal forest, $\tau(x)=E[Y(1)-Y(0)\mid X=x]$.

* S-learner: one $\hat\mu(x, w)$, $\hat\tau(x)=\hat\mu(x,1)-\hat\mu(x,0)$. T-learner: separate
  $\hat\mu_1,\hat\mu_0$.
* X-learner (Künzel et al. 2019): $D^1_i = Y_i-\hat\mu_0(X_i)$ (treated), $D^0_i=\hat\mu_1(X_i)-Y_i$
  (controls); $\hat\tau(x) = \hat e(x)\hat\tau_0(x) + (1-\hat e(x))\hat\tau_1(x)$.
* DR-learner (Kennedy 2023): regress the cross-fitted AIPW pseudo-outcome $\psi_i$ on X.
* R-learner (Nie & Wager 2021): minimise $\sum[(Y_i-\hat m_i)-(W_i-\hat e_i)\tau(X_i)]^2$, i.e. a weighted
  regression of $(Y_i-\hat m_i)/(W_i-\hat e_i)$ on $X_i$ with weights $(W_i-\hat e_i)^2$.
* Causal forest (Wager & Athey 2018; GRF local centring, Athey, Tibshirani & Wager 2019): see :class:`CausalForest`.

Defaults (spec): outcome/nuisance regressions ``GradientBoostingRegressor(n_estimators=200, max_depth=3)``;
final-stage regressions on noisy pseudo-outcomes ``GradientBoostingRegressor(n_estimators=100, max_depth=3,
learning_rate=0.05, min_samples_leaf=20, subsample=0.8)``; propensity: unpenalised logit (:class:`PropensityModel`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.model_selection import StratifiedKFold

from ._inputs import ArrayLike, as_matrix, as_vector, check_inputs, same_index
from .design import PropensityModel


def default_outcome_model(seed: int = 0) -> GradientBoostingRegressor:
    return GradientBoostingRegressor(n_estimators=200, max_depth=3, random_state=seed)


def default_final_model(seed: int = 0) -> GradientBoostingRegressor:
    return GradientBoostingRegressor(n_estimators=100, max_depth=3, learning_rate=0.05, min_samples_leaf=20,
                                     subsample=0.8, random_state=seed)


def pehe(tau_hat: ArrayLike, tau: ArrayLike) -> float:
    r"""Precision in estimating heterogeneous effects, $\sqrt{\mathrm{mean}((\hat\tau(X_i)-\tau(X_i))^2)}$.

    NaN (inf) predictions in ``tau_hat`` give a NaN (inf) PEHE — a failed learner is not scored as a good one;
    ``tau`` (the truth) must be finite.
    """
    a, b = as_vector(tau_hat, "tau_hat", finite=False), as_vector(tau, "tau")
    if a.size == 0:
        raise ValueError("tau_hat is empty (no units)")
    if a.size != b.size:
        raise ValueError(f"tau_hat has {a.size} rows but tau has {b.size}")
    same_index(tau_hat=tau_hat, tau=tau)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def _check_cross_fit(k: int) -> int:
    if k < 1:
        raise ValueError(f"cross_fit must be >= 1 (1 = no cross-fitting), got {k}")
    return k


def _ps(model: Any) -> PropensityModel:
    if isinstance(model, PropensityModel):
        return model.fresh()
    return PropensityModel(model)


def _cross_fit_nuisances(y: np.ndarray, t: np.ndarray, x: np.ndarray, *, outcome_model: Any, propensity_model: Any,
                         k: int, seed: int, arms: bool) -> dict[str, np.ndarray]:
    r"""Out-of-fold $\hat m(x) = E[Y \mid X=x]$ (or $\hat\mu_0, \hat\mu_1$ when ``arms``) and $\hat e(x)$."""
    n = t.size
    out = {"e": np.empty(n)}
    if arms:
        out["mu0"], out["mu1"] = np.empty(n), np.empty(n)
    else:
        out["m"] = np.empty(n)
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(x, t) if k > 1 else \
        [(np.arange(n), np.arange(n))]
    for train, test in folds:
        out["e"][test] = _ps(propensity_model).fit(t[train], x[train]).predict(x[test])
        base = outcome_model if outcome_model is not None else default_outcome_model(seed)
        if arms:
            for a, key in ((0, "mu0"), (1, "mu1")):
                m = train[t[train] == a]
                out[key][test] = clone(base).fit(x[m], y[m]).predict(x[test])
        else:
            out["m"][test] = clone(base).fit(x[train], y[train]).predict(x[test])
    return out


class _Learner:
    def effect(self, X: ArrayLike) -> np.ndarray:
        r"""$\hat\tau(x)$ for each row of X."""
        if not hasattr(self, "n_features_"):
            raise ValueError(f"{type(self).__name__} is not fitted; call fit(Y, T, X=X) first")
        x, _ = as_matrix(X, len(X))
        if x.shape[1] != self.n_features_:
            raise ValueError(f"X has {x.shape[1]} columns, the learner was fitted with {self.n_features_}")
        if x.shape[0] == 0:
            raise ValueError("X has no rows")
        return self._effect(x)

    def ate(self, X: ArrayLike) -> float:
        r"""Mean of $\hat\tau(X_i)$ over the rows of X."""
        return float(np.mean(self.effect(X)))

    def _prepare(self, Y: ArrayLike, T: ArrayLike, X: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        y, t, x, _ = check_inputs(Y, T, X)
        if x.shape[1] == 0:
            raise ValueError("X is required for heterogeneous-effect learners")
        self.n_features_ = x.shape[1]
        return y, t, x

    def _effect(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class SLearner(_Learner):
    r"""One regression $\hat\mu(x, w)$ on (X, W); $\hat\tau(x)=\hat\mu(x,1)-\hat\mu(x,0)$."""

    def __init__(self, base: Any = None, *, seed: int = 0) -> None:
        self.base, self.seed = base, seed

    def fit(self, Y: ArrayLike, T: ArrayLike, *, X: ArrayLike) -> SLearner:
        y, t, x = self._prepare(Y, T, X)
        self.model_ = clone(self.base if self.base is not None else default_outcome_model(self.seed))
        self.model_.fit(np.column_stack([x, t]), y)
        return self

    def _effect(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        return self.model_.predict(np.column_stack([x, np.ones(n)])) - self.model_.predict(
            np.column_stack([x, np.zeros(n)]))


class TLearner(_Learner):
    r"""Separate $\hat\mu_1, \hat\mu_0$; $\hat\tau(x)=\hat\mu_1(x)-\hat\mu_0(x)$."""

    def __init__(self, base: Any = None, *, seed: int = 0) -> None:
        self.base, self.seed = base, seed

    def fit(self, Y: ArrayLike, T: ArrayLike, *, X: ArrayLike) -> TLearner:
        y, t, x = self._prepare(Y, T, X)
        base = self.base if self.base is not None else default_outcome_model(self.seed)
        self.mu0_ = clone(base).fit(x[t == 0], y[t == 0])
        self.mu1_ = clone(base).fit(x[t == 1], y[t == 1])
        return self

    def _effect(self, x: np.ndarray) -> np.ndarray:
        return self.mu1_.predict(x) - self.mu0_.predict(x)


class XLearner(_Learner):
    """X-learner (Künzel, Sekhon, Bickel & Yu 2019), see the module docstring."""

    def __init__(self, base: Any = None, propensity_model: Any = None, *, final: Any = None, seed: int = 0) -> None:
        self.base, self.propensity_model, self.final, self.seed = base, propensity_model, final, seed

    def fit(self, Y: ArrayLike, T: ArrayLike, *, X: ArrayLike) -> XLearner:
        y, t, x = self._prepare(Y, T, X)
        base = self.base if self.base is not None else default_outcome_model(self.seed)
        final = self.final if self.final is not None else default_final_model(self.seed)
        mu0 = clone(base).fit(x[t == 0], y[t == 0])
        mu1 = clone(base).fit(x[t == 1], y[t == 1])
        d1 = y[t == 1] - mu0.predict(x[t == 1])  # D¹ = Y − μ̂₀(X) on treated
        d0 = mu1.predict(x[t == 0]) - y[t == 0]  # D⁰ = μ̂₁(X) − Y on controls
        self.tau1_ = clone(final).fit(x[t == 1], d1)
        self.tau0_ = clone(final).fit(x[t == 0], d0)
        self.ps_ = _ps(self.propensity_model).fit(t, x)
        return self

    def _effect(self, x: np.ndarray) -> np.ndarray:
        e = self.ps_.predict(x)
        # τ̂(x) = ê(x) τ̂₀(x) + (1 − ê(x)) τ̂₁(x)
        return e * self.tau0_.predict(x) + (1 - e) * self.tau1_.predict(x)


class DRLearner(_Learner):
    r"""DR-learner (Kennedy): regress the cross-fitted AIPW pseudo-outcome
    $\psi_i=\hat\mu_1-\hat\mu_0+W(Y-\hat\mu_1)/\hat e-(1-W)(Y-\hat\mu_0)/(1-\hat e)$ on X."""

    def __init__(self, *, outcome_model: Any = None, propensity_model: Any = None, final: Any = None,
                 cross_fit: int = 5, seed: int = 0) -> None:
        self.outcome_model, self.propensity_model, self.final = outcome_model, propensity_model, final
        self.cross_fit, self.seed = _check_cross_fit(cross_fit), seed

    def fit(self, Y: ArrayLike, T: ArrayLike, *, X: ArrayLike) -> DRLearner:
        y, t, x = self._prepare(Y, T, X)
        nu = _cross_fit_nuisances(y, t, x, outcome_model=self.outcome_model, propensity_model=self.propensity_model,
                                  k=self.cross_fit, seed=self.seed, arms=True)
        e, m0, m1 = nu["e"], nu["mu0"], nu["mu1"]
        psi = m1 - m0 + t * (y - m1) / e - (1 - t) * (y - m0) / (1 - e)
        self.pseudo_outcome_ = psi
        self.model_ = clone(self.final if self.final is not None else default_final_model(self.seed)).fit(x, psi)
        return self

    def _effect(self, x: np.ndarray) -> np.ndarray:
        return self.model_.predict(x)


class RLearner(_Learner):
    r"""R-learner (Nie & Wager 2021): weighted regression of $(Y-\hat m)/(W-\hat e)$ on X with weights
    $(W-\hat e)^2$, nuisances cross-fitted."""

    def __init__(self, *, outcome_model: Any = None, propensity_model: Any = None, final: Any = None,
                 cross_fit: int = 5, seed: int = 0) -> None:
        self.outcome_model, self.propensity_model, self.final = outcome_model, propensity_model, final
        self.cross_fit, self.seed = _check_cross_fit(cross_fit), seed

    def fit(self, Y: ArrayLike, T: ArrayLike, *, X: ArrayLike) -> RLearner:
        y, t, x = self._prepare(Y, T, X)
        nu = _cross_fit_nuisances(y, t, x, outcome_model=self.outcome_model, propensity_model=self.propensity_model,
                                  k=self.cross_fit, seed=self.seed, arms=False)
        wt = t - nu["e"]
        pseudo = (y - nu["m"]) / wt
        model = clone(self.final if self.final is not None else default_final_model(self.seed))
        self.model_ = model.fit(x, pseudo, sample_weight=wt**2)
        return self

    def _effect(self, x: np.ndarray) -> np.ndarray:
        return self.model_.predict(x)


# ---------------------------------------------------------------------------------------------------------
# causal forest
# ---------------------------------------------------------------------------------------------------------


class _Tree:
    """Array tree: feature, threshold, left, right (-1 = leaf); leaf statistics filled by the estimation half."""

    def __init__(self) -> None:
        self.feature: list[int] = []
        self.threshold: list[float] = []
        self.left: list[int] = []
        self.right: list[int] = []

    def add(self) -> int:
        self.feature.append(-1)
        self.threshold.append(0.0)
        self.left.append(-1)
        self.right.append(-1)
        return len(self.feature) - 1

    def finalize(self) -> None:
        self.f = np.asarray(self.feature)
        self.th = np.asarray(self.threshold)
        self.l = np.asarray(self.left)
        self.r = np.asarray(self.right)

    def apply(self, x: np.ndarray) -> np.ndarray:
        node = np.zeros(len(x), dtype=int)
        active = self.l[node] >= 0
        while active.any():
            idx = np.flatnonzero(active)
            nd = node[idx]
            go_left = x[idx, self.f[nd]] <= self.th[nd]
            node[idx] = np.where(go_left, self.l[nd], self.r[nd])
            active[idx] = self.l[node[idx]] >= 0
        return node


class CausalForest(_Learner):
    r"""Honest causal forest with GRF-style local centring (Wager & Athey 2018; Athey, Tibshirani & Wager 2019).

    Residualise $\tilde Y = Y-\hat m(X)$, $\tilde W = W-\hat e(X)$ with cross-fitted nuisances. Each of
    ``n_estimators`` trees draws a subsample of size ``subsample``·n without replacement and splits it into
    halves (honesty): the first chooses splits, the second fills the leaves. Split criterion: grf's gradient
    approximation — pseudo-outcomes $\rho_i = (\tilde W_i-\bar{\tilde W})[(\tilde Y_i-\bar{\tilde Y})
    - (\tilde W_i-\bar{\tilde W})\hat\tau_P]/\mathrm{Var}_P(\tilde W)$ then the split maximising
    $\sum_{children}(\sum\rho)^2/n_{child}$. ``mtry = min(p, ceil(sqrt(p) + 20))`` candidate features;
    each child holds ≥ ``min_leaf`` treated and ≥ ``min_leaf`` control units of the splitting half and ≥ ``alpha``
    of the parent's units; leaves without estimation units of both arms are pruned (merged into the parent).
    Prediction: forest weights $\alpha_i(x)$ and $\hat\tau(x) = [\sum\alpha_i\tilde W_i\tilde Y_i
    - (\sum\alpha_i\tilde W_i)(\sum\alpha_i\tilde Y_i)]/[\sum\alpha_i\tilde W_i^2 - (\sum\alpha_i\tilde W_i)^2]$.
    """

    def __init__(self, n_estimators: int = 200, *, min_leaf: int = 5, subsample: float = 0.5, honest: bool = True,
                 mtry: int | None = None, alpha: float = 0.05, outcome_model: Any = None,
                 propensity_model: Any = None, cross_fit: int = 5, seed: int = 0) -> None:
        if n_estimators < 1:
            raise ValueError(f"n_estimators must be >= 1, got {n_estimators}")
        if not 0 < subsample <= 1:
            raise ValueError(f"subsample must be in (0, 1], got {subsample}")
        if min_leaf < 1:
            raise ValueError(f"min_leaf must be >= 1, got {min_leaf}")
        if not 0 <= alpha < 0.5:
            raise ValueError(f"alpha must be in [0, 0.5), got {alpha}")
        if mtry is not None and mtry < 1:
            raise ValueError(f"mtry must be >= 1 or None, got {mtry}")
        _check_cross_fit(cross_fit)
        self.n_estimators, self.min_leaf, self.subsample, self.honest = n_estimators, min_leaf, subsample, honest
        self.mtry, self.alpha, self.outcome_model, self.propensity_model = mtry, alpha, outcome_model, propensity_model
        self.cross_fit, self.seed = cross_fit, seed

    def fit(self, Y: ArrayLike, T: ArrayLike, *, X: ArrayLike) -> CausalForest:
        y, t, x = self._prepare(Y, T, X)
        n, p = x.shape
        nu = _cross_fit_nuisances(y, t, x, outcome_model=self.outcome_model, propensity_model=self.propensity_model,
                                  k=self.cross_fit, seed=self.seed, arms=False)
        yr, wr = y - nu["m"], t - nu["e"]
        mtry = self.mtry if self.mtry is not None else min(p, math.ceil(math.sqrt(p) + 20))
        rng = np.random.default_rng(self.seed)
        m = max(2, int(self.subsample * n))
        self.trees_ = []
        for _ in range(self.n_estimators):
            sub = rng.choice(n, size=m, replace=False)
            if self.honest:
                split_idx, est_idx = sub[: m // 2], sub[m // 2:]
            else:
                split_idx = est_idx = sub
            tree = self._grow(x, yr, wr, t, split_idx, mtry, rng)
            stats = self._fill(tree, x, yr, wr, t, est_idx)
            if stats is not None:
                self.trees_.append((tree, stats))
        if not self.trees_:
            raise ValueError("no tree has estimation units of both arms at its root; too few units")
        self.nuisances_ = nu
        return self

    def _grow(self, x: np.ndarray, yr: np.ndarray, wr: np.ndarray, t: np.ndarray, idx: np.ndarray, mtry: int,
              rng: np.random.Generator) -> _Tree:
        tree = _Tree()
        stack = [(tree.add(), idx)]
        k = self.min_leaf
        while stack:
            node, I = stack.pop()
            n = I.size
            if n < 4 * k:
                continue
            w, yy = wr[I], yr[I]
            wc, yc = w - w.mean(), yy - yy.mean()
            var = np.mean(wc**2)
            if var <= 0:
                continue
            tau_p = np.sum(wc * yc) / np.sum(wc**2)  # locally centred node estimate
            rho = wc * (yc - wc * tau_p) / var  # grf's gradient pseudo-outcome
            tot = rho.sum()
            min_n = max(1, math.ceil(self.alpha * n))
            best = (-np.inf, -1, 0.0)
            for f in rng.choice(x.shape[1], size=min(mtry, x.shape[1]), replace=False):
                xv = x[I, f]
                order = np.argsort(xv, kind="stable")
                xs = xv[order]
                cs = np.cumsum(rho[order])[:-1]
                ct = np.cumsum(t[I][order])[:-1]
                nl = np.arange(1, n)
                nr = n - nl
                tl, tr_ = ct, t[I].sum() - ct
                ok = (xs[:-1] < xs[1:]) & (nl >= min_n) & (nr >= min_n) & (tl >= k) & (nl - tl >= k) \
                    & (tr_ >= k) & (nr - tr_ >= k)
                if not ok.any():
                    continue
                score = np.where(ok, cs**2 / nl + (tot - cs) ** 2 / nr, -np.inf)
                j = int(np.argmax(score))
                if score[j] > best[0]:
                    best = (float(score[j]), int(f), float((xs[j] + xs[j + 1]) / 2))
            if best[1] < 0:
                continue
            f, thr = best[1], best[2]
            go_left = x[I, f] <= thr
            tree.feature[node], tree.threshold[node] = f, thr
            lft, rgt = tree.add(), tree.add()
            tree.left[node], tree.right[node] = lft, rgt
            stack.append((lft, I[go_left]))
            stack.append((rgt, I[~go_left]))
        tree.finalize()
        return tree

    def _fill(self, tree: _Tree, x: np.ndarray, yr: np.ndarray, wr: np.ndarray, t: np.ndarray, est: np.ndarray
              ) -> np.ndarray | None:
        r"""Prune leaves lacking estimation units of both arms, then store per-leaf means of
        $(\tilde W\tilde Y, \tilde W, \tilde Y, \tilde W^2)$."""
        while True:
            leaf = tree.apply(x[est])
            nn = len(tree.f)
            n1 = np.bincount(leaf, weights=t[est], minlength=nn)
            cnt = np.bincount(leaf, minlength=nn)
            bad = [i for i in range(nn) if tree.l[i] < 0 and (n1[i] == 0 or cnt[i] - n1[i] == 0)]
            parents = {p for p in range(nn) if tree.l[p] >= 0 and (tree.l[p] in bad or tree.r[p] in bad)}
            if not parents:
                break
            for p in parents:  # collapse the split into a leaf (honesty.prune.leaves)
                tree.l[p] = tree.r[p] = -1
        leaf = tree.apply(x[est])
        nn = len(tree.f)
        cnt = np.bincount(leaf, minlength=nn).astype(float)
        n1 = np.bincount(leaf, weights=t[est], minlength=nn)
        if tree.l[0] < 0 and (n1[0] == 0 or cnt[0] == n1[0]):
            return None
        stats = np.zeros((nn, 4))
        for j, v in enumerate((wr[est] * yr[est], wr[est], yr[est], wr[est] ** 2)):
            stats[:, j] = np.bincount(leaf, weights=v, minlength=nn) / np.maximum(cnt, 1)
        return stats

    def _effect(self, x: np.ndarray) -> np.ndarray:
        acc = np.zeros((len(x), 4))
        for tree, stats in self.trees_:
            acc += stats[tree.apply(x)]  # α_i(x) = (1/B) Σ_b 1{i ∈ L_b(x)}/|L_b(x)|, summed as leaf means
        acc /= len(self.trees_)
        swy, sw, sy, sww = acc.T
        # τ̂(x) = [Σα W̃Ỹ − (Σα W̃)(Σα Ỹ)] / [Σα W̃² − (Σα W̃)²]
        return (swy - sw * sy) / (sww - sw**2)
