"""Output stage: the NPY dumps and PNGs of the stitched reconstructions (and the truth,
when known), ``stats.json`` and the notes of one run."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..core import metrics
from ..core.reassemble import Stitched
from ..hub import artifacts, plotting, reporting, results
from .evaluate import Evaluation
from .record import ScenarioContext


def write_maps(
    folder: Path, name: str, stitched: Stitched, truth: np.ndarray | None, amp_vmax: float | None
) -> dict[str, Any]:
    """Write amplitude/phase/coverage (``inference_outputs/``) and, with a truth, the
    ground-truth and difference maps; returns the display range of every PNG."""
    inf = folder / "inference_outputs"
    mask = stitched.covered
    amp, phase = np.abs(stitched.image), np.angle(stitched.image)
    artifacts.write_npy(inf / "amplitude.npy", amp.astype(np.float32))
    artifacts.write_npy(inf / "phase.npy", phase.astype(np.float32))
    artifacts.write_npy(inf / "coverage.npy", stitched.coverage.astype(np.float64))
    t_amp = None if truth is None else np.abs(truth)
    rng = plotting.amplitude_range(amp, amp if t_amp is None else t_amp, mask, amp_vmax)
    vmax = rng["vmax"]
    # (path, image, vmin, vmax, cmap, title, colour-bar label, also write .npy)
    maps: list[tuple[Path, np.ndarray, float, float, str, str, str, bool]] = [
        (inf / "amplitude", amp, 0.0, vmax, "gray", "stitched amplitude", "amplitude", False),
        (inf / "phase", phase, -math.pi, math.pi, "twilight", "stitched phase", "rad", False),
    ]
    if truth is not None:
        t_phase = np.angle(truth)
        d_amp, dmax = _amplitude_diff(amp, t_amp, mask)
        d_phase = np.where(mask, np.angle(np.exp(1j * (phase - t_phase))), np.nan)
        maps += [
            (
                folder / "ground_truth_amplitude",
                t_amp,
                0.0,
                vmax,
                "gray",
                "ground-truth amplitude (covered region)",
                "amplitude",
                True,
            ),
            (
                folder / "ground_truth_phase",
                t_phase,
                -math.pi,
                math.pi,
                "twilight",
                "ground-truth phase",
                "rad",
                True,
            ),
            (
                folder / "amplitude_diff",
                d_amp,
                -dmax,
                dmax,
                "RdBu_r",
                "amplitude - truth",
                "amplitude error",
                True,
            ),
            (folder / "phase_diff", d_phase, -math.pi, math.pi, "RdBu_r", "phase - truth", "rad", True),
        ]
    ranges = _save(maps, name, mask)
    ranges["amplitude"]["rule"] = rng["rule"]
    return ranges


def write_further_maps(
    out: Path, name: str, label: str, stitched: Stitched, truth: np.ndarray | None, vmax: float
) -> dict[str, Any]:
    """A further reconstruction's amplitude/phase (and amplitude difference with a truth)
    in ``out`` (``refined_outputs/``, ``classical_outputs/``...), on the PINN maps'
    amplitude scale ``vmax``; ``label`` names it in the titles."""
    mask = stitched.covered
    amp, phase = np.abs(stitched.image), np.angle(stitched.image)
    maps: list[tuple[Path, np.ndarray, float, float, str, str, str, bool]] = [
        (out / "amplitude", amp, 0.0, vmax, "gray", f"{label} amplitude", "amplitude", True),
        (out / "phase", phase, -math.pi, math.pi, "twilight", f"{label} phase", "rad", True),
    ]
    if truth is not None:
        d_amp, dmax = _amplitude_diff(amp, np.abs(truth), mask)
        maps.append(
            (
                out / "amplitude_diff",
                d_amp,
                -dmax,
                dmax,
                "RdBu_r",
                f"{label} amplitude - truth",
                "amplitude error",
                True,
            )
        )
    return _save(maps, name, mask)


def write_classical_outputs(
    folder: Path, name: str, classical, truth: np.ndarray | None, vmax: float
) -> None:
    """``classical_outputs/`` (flat start) and ``classical_outputs/pinn_start/``: maps on the
    PINN's colour scale, and the convergence plot (engine error and SSIM per iteration)."""
    out = folder / "classical_outputs"
    engine = classical.flat.engine
    write_further_maps(out, name, f"classical {engine}", classical.stitched, truth, vmax)
    write_further_maps(
        out / "pinn_start", name, f"classical {engine} (PINN start)", classical.seeded_stitched, truth, vmax
    )
    plotting.save_convergence(
        out / "convergence.png",
        {"flat start": classical.flat, "PINN start": classical.seeded},
        title=f"{name}: classical {engine} on {classical.patterns} test patterns",
    )


def _amplitude_diff(amp: np.ndarray, t_amp: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
    """Prediction − truth on the covered pixels (NaN elsewhere) and its symmetric colour limit."""
    d = np.where(mask, amp - t_amp, np.nan)
    return d, float(np.nanmax(np.abs(d))) if mask.any() else 1.0


def _save(maps, name: str, mask: np.ndarray) -> dict[str, Any]:
    """Write each ``(path, image, vmin, vmax, cmap, title, label, also .npy)``; return the ranges."""
    ranges = {}
    for path, img, lo, hi, cmap, title, label, npy in maps:
        if npy:
            artifacts.write_npy(path.with_suffix(".npy"), img.astype(np.float32))
        ranges[path.name] = plotting.save_image(
            path.with_suffix(".png"),
            img,
            vmin=lo,
            vmax=hi,
            title=f"{name}: {title}",
            cmap=cmap,
            label=label,
            mask=mask,
        )
    return ranges


def _stats(values: np.ndarray) -> dict[str, Any]:
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    return {
        "min": float(finite.min()) if finite.size else None,
        "max": float(finite.max()) if finite.size else None,
        "mean": float(finite.mean()) if finite.size else None,
        "std": float(finite.std()) if finite.size else None,
        "nan_count": int(np.count_nonzero(~np.isfinite(v))),
    }


def write_scenario_outputs(ctx: ScenarioContext, evaluation: Evaluation) -> dict[str, Any]:
    """NPY dumps, PNGs (shared amplitude scale), stats.json and the notes; the refined
    reconstruction's maps go to ``refined_outputs/`` on the PINN's colour scale."""
    refined = evaluation.refined
    recon = refined.reconstructed
    stitched, groups, comparison = recon.stitched, recon.trained.groups, evaluation.comparison
    sim = groups.sim
    t = time.perf_counter()
    mask = stitched.covered
    amp, phase = np.abs(stitched.image), np.angle(stitched.image)
    truth = None if sim.obj is None else metrics.truth_on_canvas(sim.obj, stitched)
    ranges = write_maps(ctx.folder, ctx.name, stitched, truth, ctx.settings.amp_vmax)
    if refined.active:
        write_further_maps(
            ctx.folder / "refined_outputs",
            ctx.name,
            "refined",
            refined.stitched,
            truth,
            ranges["amplitude"]["vmax"],
        )
    classical = evaluation.classical
    if classical is not None and classical.active:
        write_classical_outputs(ctx.folder, ctx.name, classical, truth, ranges["amplitude"]["vmax"])
    dense = evaluation.dense
    if dense is not None and not dense.same_as_main:
        dense_truth = None if sim.obj is None else metrics.truth_on_canvas(sim.obj, dense.stitched)
        write_further_maps(
            ctx.folder / "dense_outputs",
            ctx.name,
            f"all {dense.groups} test groups",
            dense.stitched,
            dense_truth,
            ranges["amplitude"]["vmax"],
        )
    tel = groups.telemetry
    stats = {
        "amplitude": _stats(amp[mask]),
        "phase": _stats(phase[mask]),
        "uncovered_pixels": int(np.count_nonzero(~mask)),
        "offsets": tel["offsets"],
        "padded_size": tel["stitch_canvas"]["padded_size"],
        "required_canvas": tel["stitch_canvas"]["required"],
        "fits_canvas": tel["stitch_canvas"]["fits"],
        "coverage_fraction": float(mask.mean()),
        "canvas_origin": list(stitched.origin),
        "display_ranges": ranges,
    }
    artifacts.write_json(
        ctx.folder / "inference_outputs" / "stats.json", results.checked(results.Stats, stats)
    )
    files = {
        "notebook": f"{ctx.name}/scenario_run.ipynb",
        "amplitude_png": f"{ctx.name}/inference_outputs/amplitude.png",
        "phase_png": f"{ctx.name}/inference_outputs/phase.png",
        "comparison": f"{ctx.name}/comparison_metrics.json",
        "notes": f"{ctx.name}_notes.md",
    }
    if dense is not None and not dense.same_as_main:
        files["dense_amplitude_png"] = f"{ctx.name}/dense_outputs/amplitude.png"
    if refined.active:
        files["refined_amplitude_png"] = f"{ctx.name}/refined_outputs/amplitude.png"
    if classical is not None and classical.active:
        files["classical_amplitude_png"] = f"{ctx.name}/classical_outputs/amplitude.png"
        files["classical_convergence_png"] = f"{ctx.name}/classical_outputs/convergence.png"
    ctx.update(
        stats={k: stats[k] for k in ("padded_size", "required_canvas", "fits_canvas", "coverage_fraction")},
        files=files,
    )
    artifacts.write_text(
        ctx.hub / f"{ctx.name}_notes.md",
        reporting.scenario_notes(ctx.name, ctx.meta.model_dump(mode="json"), stats, comparison),
    )
    ctx.timed("write", t)
    return stats


def result_pngs(ctx: ScenarioContext) -> list[Path]:
    """The main pictures of a run that exist (the truth ones only when a truth is known)."""
    names = (
        "inference_outputs/amplitude.png",
        "refined_outputs/amplitude.png",
        "classical_outputs/amplitude.png",
        "dense_outputs/amplitude.png",
        "ground_truth_amplitude.png",
        "amplitude_diff.png",
        "refined_outputs/amplitude_diff.png",
        "inference_outputs/phase.png",
    )
    return [ctx.folder / n for n in names if (ctx.folder / n).is_file()]
