"""Dense evaluation stage: the trained network on **all** test groups, stitched and scored
beside the ``group_limit`` block (kept for parity with the seed's 64 stitched groups).

Non-grid: one group anchored at every test position (gridsize 1: every test pattern;
gridsize 2: ``n_test`` K-NN groups, seeded like the stitched ones).  Grid: every test tile.
When the stitched groups already are all of them (the grid profiles stitch every tile), the
main block *is* the dense one and nothing is recomputed.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

from ..core.grouping import gather_groups, group_positions
from ..core.reassemble import Stitched, even_ceil, reassemble_patches
from .record import ScenarioContext
from .stage_records import Reconstructed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DenseReconstruction:
    """The network's reconstruction of every test group (``stitched``), or the main one
    when that already covers them all (``same_as_main``)."""

    groups: int
    patterns: int
    stitched: Stitched
    wall_s: float
    same_as_main: bool


def dense_scenario(ctx: ScenarioContext, reconstructed: Reconstructed) -> DenseReconstruction:
    """Predict, combine and stitch every test group with the trained network (no truth used)."""
    from ..pinn.infer import combined_patches, predict_patches

    t = time.perf_counter()
    trained = reconstructed.trained
    sim, r = trained.groups.sim, ctx.resolved
    C = r.spec.gridsize**2
    stitched_groups = trained.groups.test.n_groups
    if sim.test_groups is not None:  # grid protocol: every tile
        groups = sim.test_groups
    else:
        groups = group_positions(
            sim.test.positions,
            gridsize=r.spec.gridsize,
            n_groups=sim.test.n,
            neighbor_count=r.params.neighbor_count,
            rng=r.params.sim_seed + 1,
        )
    if groups.n_groups == stitched_groups:
        logger.info("%s: dense = the stitched block (%d groups: all of them)", ctx.name, stitched_groups)
        return DenseReconstruction(stitched_groups, stitched_groups * C, reconstructed.stitched, 0.0, True)
    data = gather_groups(sim.test.diffraction, sim.test.positions, groups)
    config = trained.pinn.config
    if C > 1 and data.max_offset > config.combine_pad:  # wider groups than any trained one
        config = dataclasses.replace(config, combine_pad=even_ceil(data.max_offset))
    rec = predict_patches(trained.pinn.diffraction_to_obj, data, input_gain=trained.scales.input_gain)
    patches = combined_patches(rec.patches, data, config)
    unit = sim.unit_scale
    stitched = reassemble_patches(
        patches * unit if unit != 1.0 else patches, rec.positions, r.params.reassemble_M
    )
    wall = time.perf_counter() - t
    ctx.timed("dense", t)
    logger.info(
        "%s: dense evaluation, %d groups (%d patterns) predicted and stitched in %.1f s",
        ctx.name,
        groups.n_groups,
        groups.n_groups * C,
        wall,
    )
    return DenseReconstruction(groups.n_groups, groups.n_groups * C, stitched, wall, False)
