"""The legacy grid protocol inside a run (REFERENCE_PROTOCOLS.md §A): simulation of the
training and test objects on their grids, and the fixed groups of each split."""

from __future__ import annotations

import logging

import numpy as np

from ..core import physics
from ..core.grid import patch_max_scale, simulate_grid
from ..core.grouping import Groups, gather_groups
from ..core.simulate import draw_scan_positions, make_lines_object, make_probe
from ..plan import telemetry
from .record import ScenarioContext
from .stage_records import SimulatedDataset

logger = logging.getLogger(__name__)


#: The grid protocol's test object is ``make_lines_object(size, object_seed + 1000)``.
GRID_TEST_SEED_OFFSET = 1000


def probe_of(ctx: ScenarioContext) -> np.ndarray:
    p, spec = ctx.resolved.params, ctx.resolved.spec
    path = ctx.settings.custom_probe_path if spec.probe_mode == "custom" else None
    return physics.normalize_probe_guess(make_probe(p.N, spec.probe_mode, path), spec.probe_scale)


def in_patch_max_units(ctx: ScenarioContext, obj: np.ndarray) -> np.ndarray:
    """A non-grid object in the grid protocol's units: divided by the mean over its scan's
    patches of each patch's maximum amplitude (:func:`core.grid.patch_max_scale`), the
    positions being the simulation's own first draw (same seed, so the same positions)."""
    p = ctx.resolved.params
    xy = draw_scan_positions(
        ctx.resolved.counts[0], p.object_size, p.buffer, np.random.default_rng(p.sim_seed)
    )
    scale = patch_max_scale(obj, xy, p.N)
    ctx.merge("scales", object_unit_train=scale, object_unit_test=scale)
    logger.info("%s: object in patch-max units (divided by %.4g)", ctx.name, scale)
    return (obj / scale).astype(np.complex64)


def simulate_grid_scenario(ctx: ScenarioContext, t: float) -> SimulatedDataset:
    """The legacy grid protocol: ``n_objects`` training objects (seeds ``object_seed + i``)
    scanned at ``train_stride``, the test object (seed ``object_seed + 1000``) at
    ``test_stride``; fixed groups; patch-max object units when asked."""
    p, spec = ctx.resolved.params, ctx.resolved.spec
    seeds = [p.object_seed + i for i in range(spec.n_objects)]
    test_seed = p.object_seed + GRID_TEST_SEED_OFFSET
    train_objects = [make_lines_object(p.object_size, sd) for sd in seeds]
    test_object = make_lines_object(p.object_size, test_seed)
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
    """Grid protocol: a seeded subset of the fixed training groups (all when group_count
    covers them) and the first ``group_limit`` test tiles in raster order."""
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
    gte = telemetry.grid_test_groups(sim.test_groups, ctx.settings.group_limit)
    return train, gte
