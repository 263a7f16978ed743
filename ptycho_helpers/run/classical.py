"""Classical stage: the same stitched test patterns the PINN reconstructed, reconstructed
by PtyLab (known probe) from a flat start and from the PINN's stitched image, stitched at
the PINN's positions so that both are scored by the same metric code on the same covered
region (``core/classical.py`` holds the engine adapter)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from ..core import classical, metrics
from ..core.reassemble import Stitched, reassemble_patches
from .record import ScenarioContext
from .stage_records import RefinedReconstruction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassicalReconstruction:
    """Flat-start and PINN-seeded classical reconstructions (``None`` with ``--classical none``)."""

    refined: RefinedReconstruction
    flat: classical.ClassicalResult | None = None
    seeded: classical.ClassicalResult | None = None
    stitched: Stitched | None = None
    seeded_stitched: Stitched | None = None
    patterns: int = 0

    @property
    def active(self) -> bool:
        return self.flat is not None


def test_patterns(refined: RefinedReconstruction) -> tuple[np.ndarray, np.ndarray]:
    """The distinct member patterns of the stitched test groups: ``(n, N, N)`` amplitudes
    (data units) and their measured positions ``(n, 2)``."""
    test = refined.reconstructed.trained.groups.test
    N = test.diffraction.shape[1]
    amp = np.moveaxis(test.diffraction, -1, 1).reshape(-1, N, N)
    pos = test.positions.reshape(-1, 2)
    _, first = np.unique(pos, axis=0, return_index=True)  # a scan shared by groups counts once
    keep = np.sort(first)
    return amp[keep], pos[keep]


def _stitch(image: np.ndarray, canvas: classical.Canvas, refined: RefinedReconstruction, M: int) -> Stitched:
    """The engine's canvas cut at the PINN's patch positions and stitched like the PINN output."""
    recon = refined.reconstructed
    sim = recon.trained.groups.sim
    N = sim.probe.shape[0]
    patches = classical.patches_at(image, canvas, recon.rec.positions, N) * np.complex64(sim.unit_scale)
    return reassemble_patches(patches, recon.rec.positions, M)


def seed_image(stitched: Stitched, canvas: classical.Canvas, unit_scale: float) -> np.ndarray:
    """A stitched image (object units) resampled onto the engine's canvas (data units);
    NaN where it covers nothing."""
    yy, xx = np.mgrid[0 : canvas.side, 0 : canvas.side].astype(np.float64)
    rows = yy + canvas.origin[1] - stitched.origin[1]
    cols = xx + canvas.origin[0] - stitched.origin[0]
    img = np.where(stitched.covered, stitched.image, np.nan + 0j)

    def sample(part: np.ndarray) -> np.ndarray:
        return ndimage.map_coordinates(part, [rows, cols], order=1, cval=np.nan, mode="constant")

    out = sample(img.real.astype(np.float64)) + 1j * sample(img.imag.astype(np.float64))
    return (out / unit_scale).astype(np.complex64)


def classical_scenario(ctx: ScenarioContext, refined: RefinedReconstruction) -> ClassicalReconstruction:
    """Reconstruct the stitched test patterns with the classical engine, from a flat start
    and from the PINN's stitched image, recording SSIM against iterations for both."""
    s = ctx.settings
    if s.classical == "none":
        return ClassicalReconstruction(refined)
    t = time.perf_counter()
    recon = refined.reconstructed
    sim = recon.trained.groups.sim
    M = ctx.resolved.params.reassemble_M
    amp, pos = test_patterns(refined)
    N = sim.probe.shape[0]
    canvas = classical.canvas_for(np.concatenate([pos, recon.rec.positions]), N)
    every = max(1, s.classical_iterations // 20)
    monitor = None
    if sim.obj is not None:

        def monitor(image: np.ndarray, cv: classical.Canvas) -> float:
            return metrics.masked_amp_ssim(_stitch(image, cv, refined, M), sim.obj)

    runs = {}
    for label, start in (("flat", s.classical_start), ("seeded", None)):
        if start is None:
            start = seed_image(recon.stitched, canvas, sim.unit_scale)
        runs[label] = classical.reconstruct(
            amp,
            pos,
            sim.probe,
            iterations=s.classical_iterations,
            engine=s.classical,
            start=start,
            canvas=canvas,
            every=every if monitor else 0,
            monitor=monitor,
            seed=s.seed,
        )
    out = ClassicalReconstruction(
        refined,
        runs["flat"],
        runs["seeded"],
        _stitch(runs["flat"].image, canvas, refined, M),
        _stitch(runs["seeded"].image, canvas, refined, M),
        patterns=len(pos),
    )
    full = summary(out)
    ctx.update(classical={k: v for k, v in full.items() if "error" not in k and "curve" not in k})
    ctx.timed("classical", t)
    logger.info(
        "%s: classical %s, %d patterns, %d iterations: flat start %.1f s, seeded %.1f s",
        ctx.name,
        s.classical,
        len(pos),
        s.classical_iterations,
        out.flat.wall_s,
        out.seeded.wall_s,
    )
    return out


def iterations_to_reach(curve: list[tuple[int, float]], target: float | None) -> int | None:
    """First recorded iteration whose value reaches ``target`` (``None``: never)."""
    if target is None:
        return None
    for it, v in curve:
        if v >= target - 1e-12:
            return int(it)
    return None


def summary(c: ClassicalReconstruction) -> dict[str, Any]:
    """The run-metadata/comparison summary of the stage (engine, starts, times, curves)."""
    flat, seeded = c.flat, c.seeded
    final = flat.curve[-1][1] if flat.curve else None
    return {
        "engine": f"PtyLab {classical.engine_version()} {flat.engine}",
        "probe": "known (not updated)",
        "patterns": c.patterns,
        "iterations": flat.iterations,
        "position_rounding_max_px": round(flat.rounding_max_px, 4),
        "flat_start": flat.start,
        "wall_s": round(flat.wall_s, 3),
        "seeded_wall_s": round(seeded.wall_s, 3),
        "error": [round(e, 6) for e in flat.error],
        "seeded_error": [round(e, 6) for e in seeded.error],
        "ssim_curve": [[i, round(v, 5)] for i, v in flat.curve],
        "seeded_ssim_curve": [[i, round(v, 5)] for i, v in seeded.curve],
        "iterations_to_flat_final": {
            "flat": iterations_to_reach(flat.curve, final),
            "seeded": iterations_to_reach(seeded.curve, final),
        },
    }
