"""The legacy grid protocol inside a run (REFERENCE_PROTOCOLS.md §A): simulation of the
training and test objects on their grids, and the fixed groups of each split."""

from __future__ import annotations

import logging

import numpy as np

from ..core import physics
from ..core.grid import patch_max_scale, scan_at, simulate_grid, square_centres, square_groups
from ..core.grouping import Groups, gather_groups
from ..core.simulate import (
    RawData,
    draw_scan_positions,
    make_lines_object,
    make_probe,
    simulate_nongrid_raw_data,
    split_indices_by_axis,
)
from ..plan import telemetry
from ..plan.telemetry import TEST_SIM_SEED_OFFSET
from .record import ScenarioContext
from .stage_records import SimulatedDataset

logger = logging.getLogger(__name__)


#: The grid protocol's test object is ``make_lines_object(size, object_seed + 1000)``.
GRID_TEST_SEED_OFFSET = 1000


def probe_of(ctx: ScenarioContext) -> np.ndarray:
    p, spec = ctx.resolved.params, ctx.resolved.spec
    path = ctx.settings.custom_probe_path if spec.probe_mode == "custom" else None
    return physics.normalize_probe_guess(make_probe(p.N, spec.probe_mode, path), spec.probe_scale)


def object_unit(ctx: ScenarioContext, obj: np.ndarray, positions: np.ndarray) -> float:
    """The factor the object is divided by before simulating: with ``object_units=patch_max``
    the mean over the scan's patches of each patch's maximum amplitude, else 1."""
    if ctx.resolved.spec.object_units != "patch_max":
        return 1.0
    return patch_max_scale(obj, positions, ctx.resolved.params.N)


def simulate_random(
    ctx: ScenarioContext, obj: np.ndarray, probe: np.ndarray, n: int, seed: int
) -> tuple[RawData, float]:
    """A random (non-grid) scan of ``obj`` with ``n`` positions from ``seed``; with
    ``object_units=patch_max`` the object is first divided by the mean over the scan's
    patches of each patch's maximum amplitude (:func:`core.grid.patch_max_scale`, on the
    simulation's own first draw of positions).  Returns the scan and that unit factor."""
    p = ctx.resolved.params
    scale = 1.0
    if ctx.resolved.spec.object_units == "patch_max":  # on the simulation's own first draw
        scale = object_unit(
            ctx, obj, draw_scan_positions(n, p.object_size, p.buffer, np.random.default_rng(seed))
        )
    raw = simulate_nongrid_raw_data(
        (obj / scale).astype(np.complex64), probe, n_images=n, nphotons=p.nphotons, seed=seed, buffer=p.buffer
    )
    return raw, scale


def side_by_side(scans: list[RawData], side: float) -> RawData:
    """The training scans of separate objects as one data set, object ``i`` shifted by
    ``i·side`` px in x (an integer: the fractional positions the physics uses are kept), so
    no group can span two objects."""
    return RawData(
        xcoords=np.concatenate([r.xcoords + i * side for i, r in enumerate(scans)]),
        ycoords=np.concatenate([r.ycoords for r in scans]),
        diffraction=np.concatenate([r.diffraction for r in scans]),
        probeGuess=scans[0].probeGuess,
        objectGuess=scans[0].objectGuess,
        photon_scale=float(np.mean([r.photon_scale for r in scans])),
    )


def simulate_separate_random(ctx: ScenarioContext, t: float) -> SimulatedDataset:
    """Random scans of separate objects: ``n_objects`` training objects (seeds
    ``object_seed + i``, scans ``sim_seed + i``) and the grid protocol's test object (seed
    ``object_seed + 1000``, scan ``sim_seed + 1000``), each with the non-grid protocol's
    number of positions over its whole area (the scan density of the non-grid protocol).

    K-NN groups must not mix objects: the training objects' positions are laid side by
    side (object ``i`` shifted by ``i·(object_size + 2N)`` px in x, an integer, so the
    fractional positions the physics uses are unchanged)."""
    p, spec = ctx.resolved.params, ctx.resolved.spec
    per_object = ctx.resolved.counts[2]
    probe = probe_of(ctx)
    seeds = [p.object_seed + i for i in range(spec.n_objects)]
    test_seed = p.object_seed + GRID_TEST_SEED_OFFSET
    scans, scales = [], []
    for i, sd in enumerate(seeds):
        raw, scale = simulate_random(
            ctx, make_lines_object(p.object_size, sd), probe, per_object, p.sim_seed + i
        )
        scans.append(raw)
        scales.append(scale)
    test_object = make_lines_object(p.object_size, test_seed)
    test, test_scale = simulate_random(ctx, test_object, probe, per_object, p.sim_seed + TEST_SIM_SEED_OFFSET)
    train = side_by_side(scans, p.object_size + 2 * p.N)
    ctx.merge("seeds", train_objects=seeds, test_object=test_seed)
    ctx.merge(
        "scales",
        simulation_photon_scale=train.photon_scale,
        object_unit_train=float(np.mean(scales)),
        object_unit_test=test_scale,
    )
    ctx.timed("simulate", t)
    logger.info(
        "%s: random scans of separate objects, %d training patterns on %d objects, %d test patterns",
        ctx.name,
        train.n,
        len(seeds),
        test.n,
    )
    return SimulatedDataset(test_object, probe, train, train, test, unit_scale=test_scale)


def simulate_grid_scenario(ctx: ScenarioContext, t: float) -> SimulatedDataset:
    """The legacy grid protocol: ``n_objects`` training objects (seeds ``object_seed + i``)
    scanned at ``train_stride``, the test object (seed ``object_seed + 1000``) at
    ``test_stride``; fixed groups; patch-max object units when asked.  With
    ``object_set=halves`` one object (seed ``object_seed``): the training grid on the
    half the non-grid protocol trains on, the test tiles on the other."""
    p, spec = ctx.resolved.params, ctx.resolved.spec
    halves = spec.object_set == "halves"  # one object, its halves (the non-grid split by y)
    seeds = [p.object_seed] if halves else [p.object_seed + i for i in range(spec.n_objects)]
    test_seed = p.object_seed if halves else p.object_seed + GRID_TEST_SEED_OFFSET
    train_objects = [make_lines_object(p.object_size, sd) for sd in seeds]
    test_object = train_objects[0] if halves else make_lines_object(p.object_size, test_seed)
    scan = simulate_grid(
        train_objects,
        test_object,
        probe_of(ctx),
        gridsize=spec.gridsize,
        train_stride=spec.train_stride,
        test_stride=spec.test_stride,
        offset=spec.group_offset,
        nphotons=p.nphotons,
        seed=p.sim_seed,
        object_units=spec.object_units,
        split_fraction=p.split_fraction if halves else None,
    )
    ctx.merge("seeds", train_objects=seeds, test_object=test_seed)
    ctx.merge(
        "scales",
        simulation_photon_scale=scan.train.photon_scale,
        object_unit_train=scan.train_scale,
        object_unit_test=scan.test_scale,
    )
    ctx.timed("simulate", t)
    logger.info(
        "%s: grid protocol, %d training patterns on %d objects, %d test patterns; object units /%.4g",
        ctx.name,
        scan.train.n,
        len(seeds),
        scan.test.n,
        scan.test_scale,
    )
    return SimulatedDataset(
        test_object,
        scan.train.probeGuess,
        scan.train,
        scan.train,
        scan.test,
        scan.train_groups,
        scan.test_groups,
        scan.test_scale,
    )


def grid_groups_of(ctx: ScenarioContext, sim: SimulatedDataset):
    """Fixed groups (a grid scan, or random squares): a seeded subset of the training groups
    (all when group_count covers them) and the first test groups in order — grid: up to
    ``group_limit`` tiles in raster order; random squares: ``min(group_count, group_limit)``
    like the K-NN test groups."""
    r = ctx.resolved
    n_avail = sim.train_groups.n_groups
    n_train = r.n_train_groups
    keep = np.arange(n_avail)
    if n_train < n_avail:
        keep = np.sort(np.random.default_rng(r.params.sim_seed).choice(n_avail, n_train, replace=False))
    g = sim.train_groups  # indices into the simulated patterns: no copy of the chosen rows
    train = gather_groups(
        sim.train.diffraction,
        sim.train.positions,
        Groups(g.indices[keep], g.centroids[keep], g.relative[keep]),
    )
    return train, telemetry.fixed_test_groups(r, sim.test_groups, ctx.settings.group_limit)


def simulate_square_scenario(ctx: ScenarioContext, t: float) -> SimulatedDataset:
    """Random scans whose groups are fixed 2×2 squares (``group_geometry=square``): random
    centres (:func:`core.grid.square_centres`), four members at ``±group_offset/2`` around
    each, the groups made with the scan (no K-NN search).  Halves: one object, centres
    split by y like single positions; separate objects: each training object (scan
    ``sim_seed + i``) and the test object (seed ``object_seed + 1000``, scan
    ``sim_seed + 1000``) their own squares, laid side by side as in
    :func:`simulate_separate_random`."""
    p, spec, r = ctx.resolved.params, ctx.resolved.spec, ctx.resolved
    C, off = spec.channels, spec.group_offset
    probe = probe_of(ctx)

    def scan(obj, members, rng, scale=None):
        pos = members.reshape(-1, 2)
        scale = object_unit(ctx, obj, pos) if scale is None else scale
        return scan_at([obj], probe, pos, p.nphotons, rng, scale), scale

    if spec.object_set == "separate":
        per = r.counts[2] // C
        seeds = [p.object_seed + i for i in range(spec.n_objects)]
        side = p.object_size + 2 * p.N
        raws, centres_all, scales = [], [], []
        for i, sd in enumerate(seeds):
            rng = np.random.default_rng(p.sim_seed + i)
            centres, members = square_centres(per, p.object_size, p.buffer, off, rng)
            raw, sc = scan(make_lines_object(p.object_size, sd), members, rng)
            raws.append(raw)
            centres_all.append(centres + np.array([i * side, 0.0]))
            scales.append(sc)
        train = side_by_side(raws, side)
        train_centres, train_scale = np.concatenate(centres_all), float(np.mean(scales))
        obj = make_lines_object(p.object_size, p.object_seed + GRID_TEST_SEED_OFFSET)
        rng = np.random.default_rng(p.sim_seed + TEST_SIM_SEED_OFFSET)
        test_centres, members = square_centres(per, p.object_size, p.buffer, off, rng)
        test, test_scale = scan(obj, members, rng)
        ctx.merge("seeds", train_objects=seeds, test_object=p.object_seed + GRID_TEST_SEED_OFFSET)
    else:
        obj = make_lines_object(p.object_size, p.object_seed)
        rng = np.random.default_rng(p.sim_seed)
        centres, members = square_centres(r.counts[0] // C, p.object_size, p.buffer, off, rng)
        tr, te = split_indices_by_axis(centres[:, 1], p.split_fraction)
        train_centres, test_centres = centres[tr], centres[te]
        scale = object_unit(ctx, obj, members.reshape(-1, 2))  # on the whole scan, as for K-NN halves
        train, _ = scan(obj, members[tr], rng, scale)
        test, _ = scan(obj, members[te], rng, scale)
        train_scale = test_scale = scale
    ctx.merge(
        "scales",
        simulation_photon_scale=train.photon_scale,
        object_unit_train=train_scale,
        object_unit_test=test_scale,
    )
    ctx.timed("simulate", t)
    logger.info(
        "%s: random scan in fixed 2x2 squares (±%g px), %d training groups, %d test groups",
        ctx.name,
        off / 2,
        len(train_centres),
        len(test_centres),
    )
    return SimulatedDataset(
        obj,
        probe,
        train,
        train,
        test,
        square_groups(train_centres, off),
        square_groups(test_centres, off),
        test_scale,
    )
