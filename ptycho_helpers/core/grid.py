"""The legacy grid protocol's scan and groups (``REFERENCE_PROTOCOLS.md`` §A).

Regular grids without jitter over the whole object ("valid" extraction: every patch lies
inside the object, centres from ``N/2`` to ``size - N/2``).  Gridsize 1: one pattern per
grid point.  Gridsize 2: a fixed 2×2 group per grid point, members at ``±offset/2`` px
from the group centre in a fixed channel order (−,−), (+,−), (−,+), (+,+) as ``(x, y)``;
every member is a pattern of its own (neighbouring groups do not share patterns).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checks import check_float, check_int
from .grouping import Groups
from .noise import noisy_diffraction
from .physics import extract_patches
from .simulate import RawData

#: Member order of a 2×2 group, in units of ``offset/2``: ``(x, y)``.
MEMBER_SIGNS = np.array([(-1, -1), (1, -1), (-1, 1), (1, 1)], dtype=np.float64)


def grid_axis(size: int, N: int, stride: int, margin: float = 0.0) -> np.ndarray:
    """Grid coordinates along one axis: ``N/2 + margin, + stride, ... <= size - N/2 - margin``."""
    size = check_int("object_size", size, minimum=1)
    N = check_int("N", N, minimum=2)
    stride = check_int("stride", stride, minimum=1)
    lo, hi = N / 2 + margin, size - N / 2 - margin
    if hi < lo:
        raise ValueError(f"an object of size {size} holds no {N}-px patch (with margin {margin})")
    return lo + stride * np.arange(int(np.floor((hi - lo) / stride)) + 1, dtype=np.float64)


def grid_groups(
    size: int,
    N: int,
    stride: int,
    gridsize: int,
    offset: int = 4,
    y_range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, Groups]:
    """Member positions and groups of one object's grid scan (with ``y_range = (lo, hi)``:
    only the groups whose centre has ``lo <= y < hi``, e.g. one half of the object).

    Parameters
    ----------
    size : object side in pixels
    N : patch side
    stride : grid step in pixels (4 for training, 10 for test in the reference)
    gridsize : 1 (one pattern per grid point) or 2 (2×2 groups)
    offset : member spacing inside a 2×2 group (the reference: 4, i.e. ±2 px)

    Returns
    -------
    positions : (g·C, 2) float64 ``(x, y)``, group-major (members of group 0 first)
    groups : Groups with ``indices = arange(g·C).reshape(g, C)``, centroids on the grid,
        ``relative`` = member − centroid
    """
    g = check_int("gridsize", gridsize, minimum=1)
    if g not in (1, 2):
        raise ValueError(f"the grid protocol has gridsize 1 or 2, got {g}")
    half = 0.0 if g == 1 else check_int("offset", offset, minimum=0) / 2
    axis = grid_axis(size, N, stride, margin=half)
    yy, xx = np.meshgrid(axis, axis, indexing="ij")  # rows (y) outer, columns (x) inner
    centres = np.stack([xx.ravel(), yy.ravel()], axis=1)
    if y_range is not None:
        centres = centres[(centres[:, 1] >= y_range[0]) & (centres[:, 1] < y_range[1])]
        if not len(centres):
            raise ValueError(
                f"no {N}-px grid point of an object of size {size} has its centre y in {y_range}"
            )
    rel = (
        np.zeros((len(centres), 1, 2))
        if g == 1
        else np.broadcast_to(half * MEMBER_SIGNS, (len(centres), 4, 2))
    )
    members = centres[:, None, :] + rel
    C = members.shape[1]
    groups = Groups(np.arange(len(centres) * C, dtype=np.int64).reshape(-1, C), centres, np.array(rel))
    return members.reshape(-1, 2), groups


def halves_ranges(size: int, split_fraction: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The y ranges of a grid scan of one object's halves, split like the non-grid protocol
    (train: the smaller y, test: the last ``split_fraction`` of the object's height; a
    group belongs to the half its centre lies in)."""
    b = size * (1.0 - split_fraction)
    return (-np.inf, b), (b, np.inf)


def grid_group_counts(
    size: int,
    N: int,
    train_stride: int,
    test_stride: int,
    gridsize: int,
    offset: int = 4,
    split_fraction: float | None = None,
):
    """``(train groups per object, test groups)`` of the grid protocol (with
    ``split_fraction``: of the two halves of one object, :func:`halves_ranges`)."""
    if split_fraction is not None:
        tr, te = halves_ranges(size, split_fraction)
        return (
            grid_groups(size, N, train_stride, gridsize, offset, tr)[1].n_groups,
            grid_groups(size, N, test_stride, gridsize, offset, te)[1].n_groups,
        )
    half = 0.0 if gridsize == 1 else offset / 2
    return (
        len(grid_axis(size, N, train_stride, margin=half)) ** 2,
        len(grid_axis(size, N, test_stride, margin=half)) ** 2,
    )


def patch_max_scale(obj: np.ndarray, positions: np.ndarray, N: int) -> float:
    """The reference's object units: the mean over the scan's patches of each patch's
    maximum amplitude (the object is divided by it, so amplitudes are ≲ 1)."""
    maxima = np.abs(extract_patches(obj, positions, N)).reshape(len(positions), -1).max(axis=1)
    return float(np.mean(maxima))


@dataclass(frozen=True)
class GridScan:
    """A simulated grid-protocol data set.

    ``train`` holds every training object's patterns (group-major, objects one after the
    other; ``train_groups`` index them), ``test`` the first test object's tiles.
    ``train_scale``/``test_scale`` are the object-unit factors the objects were divided by
    before simulating (1.0 for ``object_units=as_is``).
    """

    train: RawData
    test: RawData
    train_groups: Groups
    test_groups: Groups
    train_scale: float
    test_scale: float


def scan_at(objects, probe, positions, nphotons, rng, object_scale) -> RawData:
    """Exit waves of every object at the same positions, one photon scale, one Poisson draw
    (streamed: the waves are made slice by slice, :func:`noise.noisy_diffraction`)."""
    p = np.asarray(probe).astype(np.complex64)
    scaled = [o / object_scale for o in objects]
    xy = np.concatenate([positions] * len(objects))
    n_per = len(positions)

    def waves_of(start: int, stop: int) -> np.ndarray:  # rows of the object-major stack
        parts = []
        for k in range(start // n_per, (stop - 1) // n_per + 1):
            a, b = max(start, k * n_per) - k * n_per, min(stop, (k + 1) * n_per) - k * n_per
            parts.append(extract_patches(scaled[k], positions[a:b], p.shape[0]) * p)
        return np.concatenate(parts)

    diffraction, scale = noisy_diffraction(waves_of, len(xy), nphotons, rng)
    return RawData(
        xcoords=xy[:, 0].copy(),
        ycoords=xy[:, 1].copy(),
        diffraction=diffraction,
        probeGuess=p,
        objectGuess=(objects[0] / object_scale).astype(np.complex64),
        photon_scale=scale,
    )


def simulate_grid(
    train_objects: list[np.ndarray],
    test_object: np.ndarray,
    probe: np.ndarray,
    *,
    gridsize: int,
    train_stride: int,
    test_stride: int,
    offset: int,
    nphotons: float,
    seed: int,
    object_units: str = "patch_max",
    split_fraction: float | None = None,
) -> GridScan:
    """Simulate the grid protocol: every training object at ``train_stride``, the test
    object at ``test_stride``, Poisson noise at ``nphotons`` from one seeded generator
    (training patterns first).  With ``split_fraction`` the grid scans the two halves of
    one object (``train_objects == [test_object]``): training groups on the upper half,
    test tiles on the lower (:func:`halves_ranges`)."""
    nph = check_float("nphotons", nphotons, minimum=0.0, exclusive=True)
    size = int(np.asarray(test_object).shape[0])
    N = int(np.asarray(probe).shape[0])
    rng = np.random.default_rng(seed)
    tr_range = te_range = None
    if split_fraction is not None:
        if len(train_objects) != 1 or train_objects[0] is not test_object:
            raise ValueError(
                "a grid scan of halves trains and tests on one object: train_objects=[test_object]"
            )
        tr_range, te_range = halves_ranges(size, split_fraction)
    tr_pos, tr_groups = grid_groups(size, N, train_stride, gridsize, offset, tr_range)
    te_pos, te_groups = grid_groups(size, N, test_stride, gridsize, offset, te_range)
    if object_units == "patch_max":
        tr_scale = float(np.mean([patch_max_scale(o, tr_pos, N) for o in train_objects]))
        te_scale = patch_max_scale(test_object, te_pos, N)
    else:
        tr_scale = te_scale = 1.0
    train = scan_at(train_objects, probe, tr_pos, nph, rng, tr_scale)
    test = scan_at([test_object], probe, te_pos, nph, rng, te_scale)
    n_per, C = len(tr_pos), tr_groups.indices.shape[1]
    stacked = Groups(
        np.concatenate([tr_groups.indices + k * n_per for k in range(len(train_objects))]),
        np.concatenate([tr_groups.centroids] * len(train_objects)),
        np.concatenate([tr_groups.relative] * len(train_objects)),
    )
    assert stacked.indices.shape == (len(train_objects) * len(tr_pos) // C, C)
    return GridScan(train, test, stacked, te_groups, tr_scale, te_scale)


def square_centres(
    n_groups: int, size: int, buffer: float, offset: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Random centres of fixed 2×2 groups (``group_geometry=square``), the first draw of
    the scan's generator: ``U[buffer + offset/2, size − buffer − offset/2]`` so every member
    lies where a non-grid position may.  Returns ``centres (g, 2)`` and ``members (g, 4, 2)``
    (``(x, y)``, members in :data:`MEMBER_SIGNS` order at ``±offset/2``)."""
    half = offset / 2
    centres = rng.uniform(buffer + half, size - buffer - half, size=(int(n_groups), 2))
    return centres, centres[:, None, :] + half * MEMBER_SIGNS[None]


def square_groups(centres: np.ndarray, offset: int) -> Groups:
    """The fixed groups of :func:`square_centres`, indexing members group-major."""
    g = len(centres)
    rel = np.broadcast_to((offset / 2) * MEMBER_SIGNS, (g, 4, 2)).copy()
    return Groups(np.arange(g * 4, dtype=np.int64).reshape(g, 4), np.asarray(centres, float).copy(), rel)
