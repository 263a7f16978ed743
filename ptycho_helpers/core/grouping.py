"""Neighbour groups of scan positions (gridsize 1 or C = gridsize² for gridsize > 1).

Sign convention (used by the model and by stitching): a member's *relative offset* is
``member_position - group_centroid`` in pixels ``(x, y)``; the group offset is the
centroid itself.  So ``centroid + relative == member position`` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from .checks import check_int


@dataclass(frozen=True)
class Groups:
    """Grouped scan positions.

    Attributes
    ----------
    indices : (g, C) int64, rows into the position array of the split
    centroids : (g, 2) float64, ``(x, y)`` pixels, mean of the members
    relative : (g, C, 2) float64, ``member - centroid`` (x, y) pixels
    """

    indices: np.ndarray
    centroids: np.ndarray
    relative: np.ndarray

    @property
    def n_groups(self) -> int:
        return int(self.indices.shape[0])

    @property
    def channels(self) -> int:
        return int(self.indices.shape[1])

    @property
    def absolute(self) -> np.ndarray:
        """(g, C, 2) member positions ``centroid + relative``."""
        return self.centroids[:, None, :] + self.relative


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def group_positions(
    positions: np.ndarray,
    *,
    gridsize: int,
    n_groups: int,
    neighbor_count: int = 4,
    rng: int | np.random.Generator | None = None,
) -> Groups:
    """Form groups of neighbouring positions.

    gridsize 1: each group is one sampled position.  gridsize > 1: for each seed position
    the ``K + 1`` nearest neighbours are queried (``cKDTree``), the seed itself is dropped
    and ``C = gridsize**2`` of the remaining ``K`` are chosen with ``rng``.  Seeds are drawn
    without replacement when fewer groups than positions are asked for (all positions, in
    a random order, otherwise).

    Parameters
    ----------
    positions : (n, 2) float, ``(x, y)`` pixels
    gridsize : int >= 1
    n_groups : int >= 1, at most n
    neighbor_count : int, K >= C (ignored for gridsize 1)
    rng : int or Generator

    Returns
    -------
    Groups
    """
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise ValueError(f"positions must have shape (n, 2), got {pos.shape}")
    if not np.all(np.isfinite(pos)):
        raise ValueError("positions contain NaN or inf")
    g = check_int("gridsize", gridsize, minimum=1)
    n_req = check_int("n_groups", n_groups, minimum=1)
    n = pos.shape[0]
    C = g * g
    if n_req > n:
        raise ValueError(f"n_groups={n_req} exceeds the {n} available positions")
    gen = _rng(rng)
    seeds = gen.choice(n, size=n_req, replace=False) if n_req < n else gen.permutation(n)
    if C == 1:
        idx = seeds[:, None].astype(np.int64)
    else:
        K = check_int("neighbor_count", neighbor_count, minimum=1)
        if K < C:
            raise ValueError(f"neighbor_count={K} is below the group size C={C}; it must be >= {C}")
        if n < K + 1:
            raise ValueError(
                f"only {n} positions for groups of C={C} from K={K} neighbours; need at least {K + 1}"
            )
        _, nbr = cKDTree(pos).query(pos[seeds], k=K + 1)
        idx = np.empty((n_req, C), dtype=np.int64)
        for row, (seed, cand) in enumerate(zip(seeds, nbr, strict=True)):
            cand = cand[cand != seed][:K]
            idx[row] = cand[gen.choice(K, size=C, replace=False)]
    members = pos[idx]  # (g, C, 2)
    centroids = members.mean(axis=1)
    return Groups(indices=idx, centroids=centroids, relative=members - centroids[:, None, :])


@dataclass(frozen=True)
class GroupedData:
    """Model-ready arrays of grouped patterns.

    Attributes
    ----------
    diffraction : (g, N, N, C) float32, amplitudes (object units), channels last
    positions : (g, C, 2) float64, absolute member positions ``(x, y)``
    geometry : (g, C, 4) float32, ``[dx, dy, fx, fy]`` (see ``physics.split_positions``)
    """

    diffraction: np.ndarray
    positions: np.ndarray
    geometry: np.ndarray

    @property
    def n_groups(self) -> int:
        return int(self.diffraction.shape[0])

    @property
    def max_offset(self) -> int:
        """Largest integer member offset from its group anchor (sets the combine pad)."""
        if self.geometry.size == 0:
            return 0
        return int(np.abs(self.geometry[..., :2]).max())


def gather_groups(diffraction: np.ndarray, positions: np.ndarray, groups: Groups) -> GroupedData:
    """Collect the patterns and geometry of each group (one float32 copy; no intermediates
    of the whole size).

    Parameters
    ----------
    diffraction : (n, N, N) float amplitudes of a split
    positions : (n, 2) ``(x, y)`` of the same split
    groups : Groups built on ``positions``
    """
    from .physics import split_positions

    d = np.asarray(diffraction)
    pos = np.asarray(positions, dtype=np.float64)
    if d.ndim != 3 or d.shape[0] != pos.shape[0]:
        raise ValueError(f"diffraction {d.shape} and positions {pos.shape} must describe the same n patterns")
    if groups.indices.size and groups.indices.max() >= d.shape[0]:
        raise ValueError("groups refer to positions beyond the data; were they built on another split?")
    members = pos[groups.indices]  # (g, C, 2)
    g, C = groups.indices.shape
    x = np.empty((g, *d.shape[1:], C), dtype=np.float32)  # (g, N, N, C), filled one member at a time
    for c in range(C):
        x[..., c] = d[groups.indices[:, c]]
    return GroupedData(x, members, split_positions(members))
