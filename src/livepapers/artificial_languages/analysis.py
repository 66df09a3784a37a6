r"""Statistics of the comparison: paired permutation tests, the switch mixed model, and the WALS comparison.

* Paired permutation test between languages ``g`` and ``h`` on aligned per-sentence scores:
  :math:`d_i = x_g(i) - x_h(i)`, statistic :math:`|\bar d|`, ``S`` random sign flips, and
  :math:`p = (\#\{|\overline{\epsilon d}| \ge |\bar d|\} + 1)/(S + 1)`. All pairs share one ``S × n`` sign matrix
  (one matmul with the ``n × P`` matrix of differences).
* Mixed model (statsmodels ``MixedLM``, REML): sentence surprisal
  :math:`y_{gi} = \beta_0 + \sum_K \beta_K c_{gK} + u_i + \varepsilon_{gi}` with :math:`c_{gK} = \pm 1` the coded
  switches, optionally with the 15 products :math:`c_{gK} c_{gL}`, and a random intercept :math:`u_i` per aligned
  sentence. :math:`\beta_K > 0`: setting switch K to 1 makes sentences harder.
* Typology: WALS word-order features from ``lang2vec``'s ``features.npz`` give each attested language a 5-switch key
  (S, VP, PP, NP, Rel; WALS has no complementizer values); ease is compared with log(1 + count) by Spearman's ρ
  with a one-sided label-permutation p.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats as st

from .grammar import SWITCHES, coded_design, comp_free_key, switch_name


def _signs(n_samples: int, n: int, generator: torch.Generator | None) -> np.ndarray:
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    return (torch.randint(0, 2, (n_samples, n), generator=g, dtype=torch.int8).numpy() * 2 - 1).astype(np.float32)


def paired_permutation_test(a: np.ndarray, b: np.ndarray, n_samples: int = 10_000,
                            generator: torch.Generator | None = None) -> float:
    """Two-sided paired sign-flip test of ``mean(a − b) = 0``; ``p = (count + 1) / (S + 1)``.

    Args:
        a, b: aligned per-sentence scores, ``(n,)`` each.
        n_samples: ``S`` random sign flips.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"a and b must be aligned 1-D arrays of equal length, got {a.shape} and {b.shape}")
    d = a - b
    obs = abs(d.mean())
    stat = np.abs(_signs(n_samples, d.size, generator).astype(np.float64) @ d) / d.size
    return float((np.sum(stat >= obs * (1 - 1e-9)) + 1) / (n_samples + 1))


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (monotone, capped at 1)."""
    p = np.asarray(p, float)
    m = p.size
    order = np.argsort(p)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def all_pairs_permutation(scores: Mapping[str, np.ndarray], n_samples: int = 10_000, correction: str = "holm",
                          generator: torch.Generator | None = None, alpha: float = 0.05,
                          chunk: int = 2000) -> pd.DataFrame:
    """Paired permutation tests for every pair of languages with one shared ``S × n`` sign matrix.

    Args:
        scores: language -> aligned per-sentence scores ``(n,)`` (e.g. surprisals).
        correction: ``"holm"`` or ``"none"`` (the original analysis applied none; both are reported).

    Returns:
        One row per pair: ``a, b, mean_diff, p, p_adj, significant, significant_adj``.
    """
    if correction not in ("holm", "none"):
        raise ValueError(f"correction must be 'holm' or 'none', got {correction!r}")
    names = list(scores)
    if len(names) < 2:
        raise ValueError("need at least two languages")
    X = np.stack([np.asarray(scores[k], np.float64) for k in names])
    n = X.shape[1]
    pairs = list(itertools.combinations(range(len(names)), 2))
    D = np.stack([X[i] - X[j] for i, j in pairs], axis=1)  # (n, P)
    obs = np.abs(D.mean(0))
    count = np.zeros(len(pairs))
    signs = _signs(n_samples, n, generator)
    D32 = D.astype(np.float32)
    for k in range(0, n_samples, chunk):  # float32 BLAS, chunked over sign flips
        stat = np.abs(signs[k:k + chunk] @ D32) / n
        count += (stat >= (obs * (1 - 1e-6))[None, :]).sum(0)
    p = (count + 1) / (n_samples + 1)
    p_adj = holm(p) if correction == "holm" else p
    return pd.DataFrame({"a": [names[i] for i, _ in pairs], "b": [names[j] for _, j in pairs],
                         "mean_diff": D.mean(0), "p": p, "p_adj": p_adj, "significant": p < alpha,
                         "significant_adj": p_adj < alpha})


def mixed_design(grammars: list[str], interactions: bool = False) -> tuple[np.ndarray, list[str]]:
    """``(X, names)``: intercept, the six coded switches and optionally their 15 pairwise products, one row per
    language."""
    C = coded_design(grammars)
    cols, names = [np.ones(len(grammars)), *C.T], ["const", *SWITCHES]
    if interactions:
        for i, j in itertools.combinations(range(6), 2):
            cols.append(C[:, i] * C[:, j])
            names.append(f"{SWITCHES[i]}:{SWITCHES[j]}")
    return np.stack(cols, axis=1), names


def fit_mixed_effects(scores: Mapping[str, np.ndarray], interactions: bool = False):
    """Linear mixed model of sentence surprisal on the coded switches with a random intercept per sentence.

    Args:
        scores: language name -> aligned per-sentence surprisals ``(n,)`` (−log p, positive).
        interactions: add the 15 pairwise switch products.

    Returns:
        The fitted statsmodels ``MixedLMResults`` (REML); ``.params`` / ``.bse`` / ``.conf_int()`` by column name.

    Raises:
        ValueError: when the requested columns are aliased on the given languages (e.g. interactions on the
            16-language fractional design, whose [1, main, 2FI] matrix has rank 14).
    """
    import statsmodels.api as sm

    names = [switch_name(g) for g in scores]
    Xg, cols = mixed_design(names, interactions)
    rank = np.linalg.matrix_rank(Xg)
    if rank < Xg.shape[1]:
        what = "main effects and pairwise interactions" if interactions else "main effects"
        raise ValueError(f"the {what} are aliased on these {len(names)} languages (design rank {rank} < "
                         f"{Xg.shape[1]} columns); fit main effects only or use more languages")
    Y = np.stack([np.asarray(scores[k], float) for k in scores])  # (G, n)
    G, n = Y.shape
    if np.any(Y < 0):
        raise ValueError("scores must be surprisals (−log p >= 0)")
    X = pd.DataFrame(np.repeat(Xg, n, axis=0), columns=cols)
    groups = np.tile(np.arange(n), G)  # the aligned sentence index, the same in every language
    model = sm.MixedLM(Y.reshape(-1), X, groups=groups)
    return model.fit(reml=True)


def switch_effects_balanced(scores: Mapping[str, np.ndarray]) -> np.ndarray:
    r"""Main-effect coefficients :math:`\hat\beta_K = \frac1G \sum_g c_{gK}\,\bar y_g` of the six switches
    (``(6,)``), from per-language mean scores :math:`\bar y_g` (``scores``: language -> ``(n,)`` aligned).

    On a balanced design whose coded switch columns are orthogonal to each other and to the intercept (the full
    64 or the resolution-IV 16), the random-intercept model's GLS/REML fixed effects equal these OLS estimates
    whatever the variance components, so refitting per model seed costs one matrix product.

    Raises:
        ValueError: when the coded switch columns of the given languages are not orthogonal and balanced.
    """
    names = [switch_name(g) for g in scores]
    C = coded_design(names)  # (G, 6), ±1
    G = C.shape[0]
    if not (np.allclose(C.T @ C, G * np.eye(C.shape[1])) and np.allclose(C.sum(0), 0)):
        raise ValueError("switch_effects_balanced needs a balanced orthogonal design (e.g. fractional_factorial() "
                         "or all_grammars()); use fit_mixed_effects")
    ybar = np.array([np.mean(np.asarray(scores[k], float)) for k in scores])
    return C.T @ ybar / G


def spread_noise(L: np.ndarray) -> tuple[float, float]:
    """``(spread, noise)`` of ``L`` ``(G, R)`` (log perplexity of G languages × R replicates): spread = SD over
    languages of the replicate mean (ddof 1), noise = pooled within-language SD (``sqrt(mean_g var_r)``, ddof 1;
    NaN for one replicate)."""
    L = np.asarray(L, float)
    spread = float(np.std(L.mean(1), ddof=1))
    noise = float(np.sqrt(np.mean(np.var(L, axis=1, ddof=1)))) if L.shape[1] > 1 else float("nan")
    return spread, noise


def corrected_spread(spread: float, noise: float, n_reps: int) -> float:
    r"""Spread with the seed noise of the replicate means removed: :math:`\sqrt{\max(s^2 - \sigma^2/R, 0)}`.

    The SD over languages of an R-replicate mean estimates :math:`\sqrt{s_{true}^2 + \sigma^2/R}`; this is the
    method-of-moments estimate of the between-language part alone (NaN when the noise is unknown)."""
    if not math.isfinite(noise):
        return float("nan")
    return float(math.sqrt(max(spread ** 2 - noise ** 2 / n_reps, 0.0)))


def seed_bootstrap_spread_diff(L_a: np.ndarray, L_b: np.ndarray, max_exact: int = 10_000, n_boot: int = 10_000,
                               generator: torch.Generator | None = None, level: float = 0.95) -> dict[str, float]:
    r"""Seed bootstrap of ``spread(L_a) − spread(L_b)`` (spread as in :func:`spread_noise`).

    Each architecture's replicate columns (``(G, R)``) are resampled with replacement, independently; with
    :math:`R^R \le` ``max_exact`` every ordered resample is enumerated and all :math:`R^R \times R_b^{R_b}`
    combinations are used (exact; 27 × 27 for three seeds), otherwise ``n_boot`` random resamples per
    architecture, paired in order.

    Returns:
        ``{"diff", "lo", "hi", "p_pos", "n"}``: the observed difference, the percentile interval at ``level``,
        the bootstrap fraction of differences > 0 and the number of bootstrap differences.
    """
    L_a, L_b = np.asarray(L_a, float), np.asarray(L_b, float)

    def resamples(R: int, g: torch.Generator) -> np.ndarray:
        if R ** R <= max_exact:
            return np.array(list(itertools.product(range(R), repeat=R)), dtype=np.int64)
        return torch.randint(0, R, (n_boot, R), generator=g).numpy()

    def spreads(L: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return np.std(L[:, idx].mean(2), axis=0, ddof=1)  # L[:, idx]: (G, B, R) -> (B,)

    g = generator if generator is not None else torch.Generator().manual_seed(0)
    ia, ib = resamples(L_a.shape[1], g), resamples(L_b.shape[1], g)
    sa, sb = spreads(L_a, ia), spreads(L_b, ib)
    exact = L_a.shape[1] ** L_a.shape[1] <= max_exact and L_b.shape[1] ** L_b.shape[1] <= max_exact
    d = (sa[:, None] - sb[None, :]).ravel() if exact else sa[: min(len(sa), len(sb))] - sb[: min(len(sa), len(sb))]
    q = (1 - level) / 2
    return {"diff": float(np.std(L_a.mean(1), ddof=1) - np.std(L_b.mean(1), ddof=1)),
            "lo": float(np.quantile(d, q)), "hi": float(np.quantile(d, 1 - q)), "p_pos": float(np.mean(d > 0)),
            "n": float(d.size)}


def seed_aware_pairs(L: np.ndarray, z: float = 1.96) -> int:
    r"""Language pairs whose replicate-mean log perplexities differ by more than seed noise allows:
    :math:`|\bar L_g - \bar L_h| > z\,\sigma\sqrt{2/R}` with σ the pooled seed noise of ``L`` ``(G, R)``
    (a per-pair z-test on the seed means; the sentence-level permutation test ignores seed variance)."""
    L = np.asarray(L, float)
    _, noise = spread_noise(L)
    if not math.isfinite(noise):
        return 0
    m = L.mean(1)
    diff = np.abs(m[:, None] - m[None, :])[np.triu_indices(len(m), 1)]
    return int(np.sum(diff > z * noise * math.sqrt(2 / L.shape[1])))


def anova_oneway(values_by_group: Mapping[str, np.ndarray]) -> tuple[float, float]:
    """One-way ANOVA ``(F, p)`` of values (e.g. per-seed log perplexities) over groups (languages)."""
    groups = [np.asarray(v, float) for v in values_by_group.values()]
    if any(v.size < 2 for v in groups):
        return float("nan"), float("nan")
    res = st.f_oneway(*groups)
    return float(res.statistic), float(res.pvalue)


# ------------------------------------------------------------------------------------------------
# typology
# ------------------------------------------------------------------------------------------------

# (feature giving bit 0, feature giving bit 1) per Comp-free switch, key order (S, VP, PP, NP, Rel)
WALS_FEATURES: dict[str, tuple[str, str]] = {
    "S": ("S_SUBJECT_BEFORE_VERB", "S_SUBJECT_AFTER_VERB"),
    "VP": ("S_OBJECT_BEFORE_VERB", "S_OBJECT_AFTER_VERB"),
    "PP": ("S_ADPOSITION_AFTER_NOUN", "S_ADPOSITION_BEFORE_NOUN"),
    "NP": ("S_ADJECTIVE_BEFORE_NOUN", "S_ADJECTIVE_AFTER_NOUN"),
    "Rel": ("S_RELATIVE_BEFORE_NOUN", "S_RELATIVE_AFTER_NOUN"),
}


def lang2vec_features_path() -> Path:
    """``lang2vec/data/features.npz`` of the installed ``lang2vec`` distribution (located through its package
    metadata, without importing it: its query API imports ``pkg_resources``, and the distribution also installs a
    ``lang2vec.py`` script that can shadow the package on ``sys.path``)."""
    from importlib import metadata

    try:
        path = Path(str(metadata.distribution("lang2vec").locate_file("lang2vec/data/features.npz")))
    except metadata.PackageNotFoundError:
        raise ModuleNotFoundError("the WALS comparison needs the lang2vec package: "
                                  "pip install 'livepapers[artificial-languages]'") from None
    if not path.is_file():
        raise FileNotFoundError(f"lang2vec's feature table is missing: {path}")
    return path


def wals_bits(source: str = "WALS", path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(langs, bits)``: ISO codes and ``(L, 5)`` bits per Comp-free switch (−1 = unknown). A language gets
    bit 0 if the bit-0 feature is 1 and the bit-1 feature is not, bit 1 in the mirror case, unknown otherwise."""
    z = np.load(path or lang2vec_features_path(), allow_pickle=False)
    feats, sources = list(z["feats"]), list(z["sources"])
    if source not in sources:
        raise ValueError(f"unknown source {source!r}; known: {', '.join(sources)}")
    data = z["data"][:, :, sources.index(source)]
    bits = np.full((data.shape[0], len(WALS_FEATURES)), -1, dtype=np.int8)
    for k, (f0, f1) in enumerate(WALS_FEATURES.values()):
        v0, v1 = data[:, feats.index(f0)], data[:, feats.index(f1)]
        bits[(v0 == 1) & (v1 != 1), k] = 0
        bits[(v1 == 1) & (v0 != 1), k] = 1
    return z["langs"], bits


def wals_configurations(source: str = "WALS", path: str | Path | None = None) -> Counter:
    """``Counter`` of 5-switch keys (S, VP, PP, NP, Rel) over the languages with all five switches known."""
    _, bits = wals_bits(source, path)
    known = bits[(bits >= 0).all(1)]
    return Counter("".join(map(str, row)) for row in known)


def _rank(x: np.ndarray) -> np.ndarray:
    return st.rankdata(x, axis=-1)


def typology_correlation(ease_by_grammar: Mapping[str, float], n_permutations: int = 10_000,
                         counts: Mapping[str, int] | None = None, generator: torch.Generator | None = None
                         ) -> tuple[float, float]:
    """Spearman ρ between ease and ``log(1 + WALS count)`` of each language's 5-switch key, with the one-sided
    p-value of ρ > 0 from label permutations, ``(#{ρ_perm ≥ ρ} + 1)/(S + 1)``.

    Args:
        ease_by_grammar: language -> ease (e.g. −mean log perplexity; higher = easier).
        counts: 5-switch key -> number of attested languages (default: :func:`wals_configurations`).
    """
    names = [switch_name(g) for g in ease_by_grammar]
    if len(names) < 3:
        raise ValueError("typology_correlation needs at least 3 languages")
    c = wals_configurations() if counts is None else counts
    x = np.log1p(np.array([c.get(comp_free_key(g), 0) for g in names], float))
    y = np.array(list(ease_by_grammar.values()), float)
    rx, ry = _rank(x), _rank(y)
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return float("nan"), float("nan")
    rho = float(np.corrcoef(rx, ry)[0, 1])
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    perm = torch.argsort(torch.rand(n_permutations, len(names), generator=g), dim=1).numpy()
    Ry = ry[perm]  # (S, G): permuted labels
    rxc = rx - rx.mean()
    Ryc = Ry - Ry.mean(1, keepdims=True)
    rho_perm = (Ryc @ rxc) / (np.linalg.norm(Ryc, axis=1) * np.linalg.norm(rxc))
    p = float((np.sum(rho_perm >= rho - 1e-12) + 1) / (n_permutations + 1))
    return rho, p


__all__ = ["WALS_FEATURES", "all_pairs_permutation", "anova_oneway", "corrected_spread", "fit_mixed_effects",
           "holm", "lang2vec_features_path", "mixed_design", "paired_permutation_test", "seed_aware_pairs",
           "seed_bootstrap_spread_diff", "spread_noise", "switch_effects_balanced", "typology_correlation",
           "wals_bits", "wals_configurations"]
