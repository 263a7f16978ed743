"""Two-level fractional factorial designs, their effects and paired bootstrap intervals
(issue 27: the grid vs non-grid question as a designed experiment).

A design is a (runs × factors) matrix of ±1.  The base factors form a full factorial; each
generated factor is the product of base columns (``D = ABC`` gives the 2⁴⁻¹ design of
resolution IV: main effects are clear of two-factor interactions, which are aliased in
pairs, ``AB = CD``).  Scores are a (seeds × runs) array: every seed runs every design row,
so effects are estimated per seed and the bootstrap resamples seeds (paired across rows).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np


def fractional_factorial(
    base: Sequence[str], generators: Mapping[str, str] | None = None
) -> tuple[list[str], np.ndarray]:
    """``(factor names, ±1 matrix)`` of the full factorial on ``base`` plus each generated
    factor ``name → word`` (a product of base factor names, e.g. ``{"D": "ABC"}`` with
    single-letter names, or ``{"B": "P*G*U"}`` with ``*``-joined names).  Rows are in
    standard order (the first base factor alternates fastest)."""
    base = list(base)
    if len(set(base)) != len(base) or not base:
        raise ValueError(f"base factors {base} must be distinct and not empty")
    rows = np.array([list(reversed(r)) for r in itertools.product((-1, 1), repeat=len(base))], dtype=int)
    names, cols = list(base), [rows[:, i] for i in range(len(base))]
    for name, word in (generators or {}).items():
        parts = word.split("*") if "*" in word else list(word)
        unknown = [p for p in parts if p not in base]
        if unknown or name in names:
            raise ValueError(f"generator {name}={word}: {unknown or name!r} is not a base factor / is taken")
        cols.append(np.prod([rows[:, base.index(p)] for p in parts], axis=0))
        names.append(name)
    return names, np.stack(cols, axis=1)


def check_design(X: np.ndarray) -> None:
    """Balanced (each column has as many +1 as −1) and orthogonal (every pair of columns
    has zero inner product); raises ``ValueError`` otherwise."""
    X = np.asarray(X)
    if np.any(X.sum(axis=0) != 0):
        raise ValueError(f"design is not balanced: column sums {X.sum(axis=0).tolist()}")
    gram = X.T @ X
    off = gram - np.diag(np.diag(gram))
    if np.any(off != 0):
        raise ValueError("design columns are not orthogonal")


def interaction_columns(names: Sequence[str], X: np.ndarray) -> dict[str, np.ndarray]:
    """Every two-factor interaction column ``"A×B"``."""
    return {f"{a}×{b}": X[:, i] * X[:, j] for (i, a), (j, b) in itertools.combinations(enumerate(names), 2)}


def alias_groups(names: Sequence[str], X: np.ndarray) -> list[list[str]]:
    """Two-factor interactions whose columns are identical (not separable in this design)."""
    groups: list[list[str]] = []
    seen: dict[bytes, int] = {}
    for label, col in interaction_columns(names, X).items():
        key = col.tobytes()
        if key in seen:
            groups[seen[key]].append(label)
        else:
            seen[key] = len(groups)
            groups.append([label])
    return groups


def effect_columns(names: Sequence[str], X: np.ndarray) -> dict[str, np.ndarray]:
    """The contrast column of every estimable effect: each factor, and each group of
    aliased two-factor interactions once, under the joined label (``"A×B = C×D"``)."""
    out = {name: X[:, i] for i, name in enumerate(names)}
    cols = interaction_columns(names, X)
    for group in alias_groups(names, X):
        out[" = ".join(group)] = cols[group[0]]
    return out


def effects(names: Sequence[str], X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Main effects and the resolved two-factor interactions of scores ``y`` (one per
    design row): effect = mean(y at +1) − mean(y at −1)."""
    y = np.asarray(y, dtype=float)
    return {k: float(2 * c @ y / len(y)) for k, c in effect_columns(names, X).items()}


def paired_bootstrap(
    names: Sequence[str],
    X: np.ndarray,
    scores: np.ndarray,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Effects of the seed-averaged scores with percentile intervals from resampling seeds.

    ``scores``: (seeds × runs); every resample draws whole seeds (all rows of a seed move
    together: the pairing that removes the seed-to-seed level from the effects).
    Returns ``{effect: {"estimate", "low", "high"}}``.  With few seeds percentile
    intervals are too narrow (about ``sqrt((n-1)/n)`` of the spread); the tests measure
    their coverage.
    """
    S = np.asarray(scores, dtype=float)
    if S.ndim != 2 or S.shape[1] != len(X):
        raise ValueError(f"scores must be (seeds, {len(X)} runs), got {S.shape}")
    if S.shape[0] < 2:
        raise ValueError("a bootstrap over seeds needs at least 2 seeds (3 or more to claim an effect)")
    cols = effect_columns(names, X)
    C = np.stack(list(cols.values()), axis=1) * (2.0 / len(X))  # runs × effects
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, S.shape[0], (n_boot, S.shape[0]))
    boot = S[idx].mean(axis=1) @ C  # n_boot × effects
    point = S.mean(axis=0) @ C
    a = (1 - level) / 2
    lo, hi = np.quantile(boot, a, axis=0), np.quantile(boot, 1 - a, axis=0)
    return {
        k: {"estimate": float(point[i]), "low": float(lo[i]), "high": float(hi[i])}
        for i, k in enumerate(cols)
    }


def paired_t_intervals(
    names: Sequence[str], X: np.ndarray, scores: np.ndarray, *, level: float = 0.95
) -> dict[str, dict[str, float]]:
    """Each effect computed per seed (paired: one design replicate per seed), then its mean
    with a Student-t interval over the seeds.  With 3–5 seeds this keeps its nominal
    coverage where the percentile bootstrap does not (tests measure both)."""
    from scipy import stats

    S = np.asarray(scores, dtype=float)
    if S.ndim != 2 or S.shape[1] != len(X) or S.shape[0] < 2:
        raise ValueError(f"scores must be (seeds >= 2, {len(X)} runs), got {S.shape}")
    cols = effect_columns(names, X)
    C = np.stack(list(cols.values()), axis=1) * (2.0 / len(X))
    per_seed = S @ C  # seeds × effects
    n = S.shape[0]
    mean, se = per_seed.mean(axis=0), per_seed.std(axis=0, ddof=1) / np.sqrt(n)
    q = float(stats.t.ppf(0.5 + level / 2, n - 1))
    return {
        k: {"estimate": float(mean[i]), "low": float(mean[i] - q * se[i]), "high": float(mean[i] + q * se[i])}
        for i, k in enumerate(cols)
    }
