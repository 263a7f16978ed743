"""Both protocols' test sets for every trained model (issue 27, "every model scored both
ways on both test sets, at no training cost").

A run's own test set depends on its protocol (the grid's tiles on a separate object, or
random positions on the held-out half), so a score difference between a grid and a
non-grid run mixes what the model learned with what it was tested on.  This stage
reconstructs two **canonical test sets** with the trained network, the same two for every
run of a seed whatever its protocol, and scores each with both protocols' stitchings:

- ``grid_tiles``: the grid protocol's test scan — every tile of a regular grid at
  ``test_stride`` (gridsize 2: fixed 2×2 groups at ``±group_offset/2``) over the whole
  object;
- ``random_half``: the non-grid protocol's test scan — random positions at the non-grid
  density of the run's ``base_total_images``, only those on the held-out (larger-y) half,
  one group anchored at every position (gridsize 2: K-NN groups).

Both scan one object that no protocol trains on: ``make_lines_object(size, object_seed +
1000)`` (the grid protocol's test object; the non-grid protocol trains on ``object_seed``,
separate objects on ``object_seed + i``).  Noise: Poisson at the run's ``nphotons`` from
``sim_seed + 2000`` (tiles) and ``sim_seed + 3000`` (random positions, their first draw).
Object units follow the run (``patch_max``: divided by the test scan's mean patch maximum,
multiplied back before scoring).

Stitchings: ``overlap`` (M = 20, the non-grid protocol's overlap average) and ``tiles``
(M = 10, the grid protocol's seamless tiles at its test stride).  Each (test set,
stitching) gets the masked amplitude SSIM on its covered region beside the flat image,
the fill-free scores (interior-window SSIM, the reference metric on the largest covered
rectangle), the reference metric on the whole canvas (uncovered pixels filled), and the
cell's information ceiling on the same region (gridsize 1: the twin bound; gridsize 2: a
per-group classical solve) with the normalised score ``(SSIM − flat)/(ceiling − flat)``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np

from ..core import ceilings, metrics, physics
from ..core.grid import grid_groups, patch_max_scale, scan_at
from ..core.grouping import GroupedData, gather_groups, group_positions
from ..core.reassemble import even_ceil, reassemble_patches
from ..core.simulate import draw_scan_positions, make_lines_object, split_indices_by_axis
from ..scenarios import derive_counts
from .grid_protocol import GRID_TEST_SEED_OFFSET
from .record import ScenarioContext
from .stage_records import TrainedModel

logger = logging.getLogger(__name__)

#: noise (and, for random positions, scan) seeds of the canonical test sets: sim_seed + these
TILES_SEED_OFFSET = 2000
RANDOM_SEED_OFFSET = 3000
#: the two protocols' stitchings: the non-grid overlap average and the grid's seamless tiles
STITCHINGS = {"overlap": 20, "tiles": 10}
TEST_SETS = ("grid_tiles", "random_half")


@dataclasses.dataclass(frozen=True)
class CanonicalTestSet:
    """One canonical test set: its grouped patterns, the object (original units) and the
    object-unit factor the patterns were simulated in."""

    name: str
    data: GroupedData
    obj: np.ndarray
    unit: float


def canonical_test_sets(resolved, probe: np.ndarray) -> list[CanonicalTestSet]:
    """Simulate both canonical test sets of a run (``resolved``: its ``ResolvedRun``, or
    anything with the same ``params`` and ``spec``; see the module docstring)."""
    p, spec = resolved.params, resolved.spec
    N, C = p.N, spec.channels
    obj = make_lines_object(p.object_size, p.object_seed + GRID_TEST_SEED_OFFSET)
    patch_max = spec.object_units == "patch_max"

    # the grid protocol's tiles over the whole object
    pos, groups = grid_groups(p.object_size, N, spec.test_stride, spec.gridsize, spec.group_offset)
    unit = patch_max_scale(obj, pos, N) if patch_max else 1.0
    raw = scan_at([obj], probe, pos, p.nphotons, np.random.default_rng(p.sim_seed + TILES_SEED_OFFSET), unit)
    tiles = CanonicalTestSet("grid_tiles", gather_groups(raw.diffraction, raw.positions, groups), obj, unit)

    # the non-grid protocol's random positions, the held-out half
    rng = np.random.default_rng(p.sim_seed + RANDOM_SEED_OFFSET)
    total = derive_counts(p, spec.gridsize, spec.image_multiplier)[0]
    drawn = draw_scan_positions(total, p.object_size, p.buffer, rng)
    pos = drawn[split_indices_by_axis(drawn[:, 1], p.split_fraction)[1]]
    unit = patch_max_scale(obj, pos, N) if patch_max else 1.0
    raw = scan_at([obj], probe, pos, p.nphotons, rng, unit)
    groups = group_positions(
        pos, gridsize=spec.gridsize, n_groups=len(pos), neighbor_count=p.neighbor_count, rng=p.sim_seed + 1
    )
    rand = CanonicalTestSet("random_half", gather_groups(raw.diffraction, raw.positions, groups), obj, unit)
    assert C == tiles.data.diffraction.shape[-1] == rand.data.diffraction.shape[-1]
    return [tiles, rand]


def _ceiling_patches(ts: CanonicalTestSet, rec, probe: np.ndarray, N: int) -> np.ndarray:
    """The information ceiling's patches at the stitched positions (``run.evaluate.ceiling_block``
    on this test set): gridsize 1 the twin bound, gridsize 2 a per-group classical solve."""
    from .evaluate import GROUP_SOLVE_ITERATIONS

    if ts.data.diffraction.shape[-1] == 1:
        return ceilings.twin_ceiling_patches(physics.extract_patches(ts.obj, rec.positions, N))
    centres = rec.positions.reshape(ts.data.n_groups, -1, 2)
    return ceilings.group_solve_crops(ts.data, probe, centres, GROUP_SOLVE_ITERATIONS) * ts.unit


def scores_of(stitched, ceiling_stitched, obj: np.ndarray) -> dict[str, Any]:
    """The scores of one (test set, stitching): masked SSIM and its flat image, the
    fill-free scores, the reference metric (whole canvas, filled) and the ceiling."""
    from .evaluate import fill_free_scores

    cov = stitched.covered
    t = np.abs(metrics.truth_on_canvas(obj, stitched)).astype(np.float64)
    p = np.nan_to_num(np.abs(stitched.image).astype(np.float64))
    rng = float(np.ptp(t[cov])) or 1.0
    amp = float(metrics.ssim_map(p, t, cov, rng)[cov].mean())
    flat = float(metrics.ssim_map(np.full_like(t, float(t[cov].mean())), t, cov, rng)[cov].mean())
    r = float(np.corrcoef(p[cov], t[cov])[0, 1]) if p[cov].std() > 0 else 0.0
    ff = fill_free_scores(stitched, obj)
    rect = ff["reference_covered_rectangle"]
    ref = metrics.reference_comparison(stitched, obj)
    ceiling = None if ceiling_stitched is None else metrics.masked_amp_ssim(ceiling_stitched, obj)
    return {
        "coverage_fraction": float(cov.mean()),
        "amp_ssim": amp,
        "flat_ssim": flat,
        "amp_pearson_r": r,
        "interior_ssim": ff["interior_masked_ssim"],
        "interior_flat_ssim": ff["interior_masked_ssim_flat"],
        "reference_rectangle_ssim": None if rect is None else rect["amplitude"]["ssim"],
        "reference_ssim": ref["amplitude"]["ssim"],
        "reference_flat_ssim": ref["flat_baseline"]["ssim"],
        "reference_filled_fraction": ref["filled_fraction"],
        "ceiling_ssim": ceiling,
        "normalised": None if ceiling is None else ceilings.normalised_score(amp, flat, ceiling),
    }


def score_model(
    resolved, model, config, input_gain: float, probe: np.ndarray, *, ceiling: bool = True
) -> dict[str, Any]:
    """Reconstruct both canonical test sets with a trained network (``model``: its
    ``diffraction_to_obj``; ``config``: its ``ModelConfig``) and score each with both
    stitchings: ``comparison_metrics.json["test_sets"]``.  Works on a saved bundle too
    (``scripts/test_sets_of.py``).  ``ceiling=False`` leaves the ceilings out (``None``):
    on gridsize 2 they are most of the cost (a classical solve of every test group)."""
    from ..pinn.infer import combined_patches, predict_patches

    p = resolved.params
    out: dict[str, Any] = {
        "object_seed": p.object_seed + GRID_TEST_SEED_OFFSET,
        "stitchings": dict(STITCHINGS),
        "note": "the same two test sets for every run of this seed, whatever its protocol; "
        "an object no protocol trains on",
    }
    for ts in canonical_test_sets(resolved, probe):
        cfg = config
        if ts.data.diffraction.shape[-1] > 1 and ts.data.max_offset > cfg.combine_pad:
            cfg = dataclasses.replace(cfg, combine_pad=even_ceil(ts.data.max_offset))
        rec = predict_patches(model, ts.data, input_gain=input_gain)
        patches = combined_patches(rec.patches, ts.data, cfg) * ts.unit
        bound = _ceiling_patches(ts, rec, probe, p.N).astype(np.complex64) if ceiling else None
        block: dict[str, Any] = {"groups": ts.data.n_groups, "patterns": int(ts.data.positions[..., 0].size)}
        for name, M in STITCHINGS.items():
            st = reassemble_patches(patches, rec.positions, M)
            block[name] = scores_of(
                st, None if bound is None else reassemble_patches(bound, rec.positions, M), ts.obj
            )
        out[ts.name] = block
    return out


def test_sets_block(ctx: ScenarioContext, trained: TrainedModel) -> dict[str, Any]:
    """:func:`score_model` of a run's trained network, timed as the ``test_sets`` stage."""
    t = time.perf_counter()
    out = score_model(
        ctx.resolved,
        trained.pinn.diffraction_to_obj,
        trained.pinn.config,
        trained.scales.input_gain,
        trained.groups.sim.probe,
    )
    ctx.timed("test_sets", t)
    logger.info(
        "%s: canonical test sets scored in %.1f s (grid tiles %.3f, random half %.3f masked SSIM, overlap)",
        ctx.name,
        time.perf_counter() - t,
        out["grid_tiles"]["overlap"]["amp_ssim"],
        out["random_half"]["overlap"]["amp_ssim"],
    )
    return out
