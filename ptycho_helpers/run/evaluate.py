"""Evaluation stage: comparison with the truth on the covered region, the Poisson noise
floor of the stitched test groups, ``comparison_metrics.json``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core import ceilings, geometry, metrics, physics
from ..core.reassemble import reassemble_patches
from ..hub import artifacts, results
from .record import ScenarioContext
from .stage_records import RefinedReconstruction, TrainedModel


@dataclass(frozen=True)
class Evaluation:
    """The comparison record of a run (``comparison_metrics.json``) and what it scored."""

    refined: RefinedReconstruction
    comparison: dict[str, Any]
    classical: Any = None  # run.classical.ClassicalReconstruction
    dense: Any = None  # run.dense.DenseReconstruction

    @property
    def reconstructed(self):
        return self.refined.reconstructed


#: test groups the noise floor evaluates at a time (bounds its float64 temporaries)
NOISE_SLICE = 128


def noise_floor(ctx: ScenarioContext, trained: TrainedModel) -> dict[str, Any]:
    """Poisson deviance/2 per pixel on the stitched test groups: true object vs trained model
    (accumulated ``NOISE_SLICE`` groups at a time)."""
    groups, sim = trained.groups, trained.groups.sim
    data = groups.test
    N, C = ctx.resolved.params.N, ctx.resolved.spec.channels
    s = trained.scales.photon_scale
    spec = ctx.resolved.spec
    obj = sim.obj_in_data_units if sim.obj is not None else None
    model_sum = true_sum = 0.0
    for a in range(0, data.n_groups, NOISE_SLICE):
        d = data.diffraction[a : a + NOISE_SLICE]
        geo = data.geometry[a : a + NOISE_SLICE]
        counts = (s * np.moveaxis(d, -1, 1).astype(np.float64)) ** 2
        x = (trained.scales.input_gain * d).astype(np.float32)
        model_i = np.moveaxis(
            np.asarray(trained.pinn.autoencoder.predict([x, geo], verbose=0, batch_size=32)), -1, 1
        )
        model_sum += float(np.sum(physics.poisson_deviance_half(s * s * model_i.astype(np.float64), counts)))
        if obj is not None:
            pos = np.floor(data.positions[a : a + NOISE_SLICE]).reshape(-1, 2)
            true_patches = physics.extract_patches(obj, pos, N).reshape(-1, C, N, N)
            true_i = geometry.model_intensity(
                true_patches,
                geo,
                sim.probe,
                probe_mask=spec.probe_mask,
                probe_big=spec.probe_big,
                pad=groups.combine_pad,
            )
            true_sum += float(np.sum(physics.poisson_deviance_half(s * s * true_i, counts)))
    n_px = data.diffraction.size
    if obj is None:
        return {"metric": "Poisson deviance / 2 per pixel", "true_object": None, "model": model_sum / n_px}
    return {
        "metric": "Poisson deviance / 2 per pixel on the stitched test groups (0.5 = noise floor for large counts)",
        "true_object": true_sum / n_px,
        "model": model_sum / n_px,
    }


def _scores(stitched, obj: np.ndarray, register: bool) -> dict[str, Any]:
    """The blocks of a further reconstruction of the same patches: same metric code."""
    full = metrics.compare_to_truth(stitched, obj, register=register)
    out = {k: full[k] for k in ("alignment", "amplitude", "amplitude_scaled", "phase")}
    out["reference"] = metrics.reference_comparison(stitched, obj)
    return out


def fill_free_scores(stitched, obj: np.ndarray) -> dict[str, Any]:
    """Scores that no fill of the uncovered pixels enters (``core.ceilings``): the
    reference's metric on the largest fully covered rectangle, and the masked SSIM over the
    pixels whose 7×7 window is wholly covered, each beside the flat image."""
    cov = stitched.covered
    t = np.abs(metrics.truth_on_canvas(obj, stitched)).astype(np.float64)
    p = np.nan_to_num(np.abs(stitched.image).astype(np.float64))
    rng = float(np.ptp(t[cov])) or 1.0
    flat = np.full_like(t, float(t[cov].mean()))
    out: dict[str, Any] = {
        "interior_masked_ssim": ceilings.interior_masked_ssim(p, t, cov, rng),
        "interior_masked_ssim_flat": ceilings.interior_masked_ssim(flat, t, cov, rng),
    }
    r0, r1, c0, c1 = ceilings.largest_covered_rectangle(cov)
    if min(r1 - r0, c1 - c0) >= 7 + 2 * metrics.REFERENCE_TRIM:
        out["reference_covered_rectangle"] = ceilings.reference_on_covered_rectangle(p, t, cov)
    else:
        out["reference_covered_rectangle"] = None
    return out


#: iterations of the per-group classical solve that gives a gridsize-2 cell its ceiling
GROUP_SOLVE_ITERATIONS = 50


def ceiling_block(
    ctx: ScenarioContext, recon, obj: np.ndarray, comp: dict[str, Any], true_patches: np.ndarray | None
) -> dict[str, Any]:
    """The cell's information ceiling on its own region and metric, stitched at the PINN's
    positions and scored like it: for gridsize 1 the twin bound (each test patch replaced
    by the average of its true amplitude and its twin's); for gridsize > 1 a per-group
    classical solve (``core.ceilings.group_solve``: the group's measured patterns, the
    known probe, 50 error-reduction iterations with overlap, cut out where the PINN's
    patches are stitched).  The PINN's masked SSIM as ``(score − flat)/(ceiling − flat)``.
    ``true_patches``: the true test patches at the stitched positions (gridsize 1)."""
    p, rec = ctx.resolved.params, recon.rec
    if true_patches is not None:
        kind = "twin (gridsize 1: a patch and its 180° twin give the same far field)"
        patches = ceilings.twin_ceiling_patches(true_patches)
    else:
        test, sim = recon.trained.groups.test, recon.trained.groups.sim
        centres = rec.positions.reshape(test.n_groups, -1, 2)
        patches = (
            ceilings.group_solve_crops(test, sim.probe, centres, GROUP_SOLVE_ITERATIONS) * sim.unit_scale
        )
        kind = (
            f"per-group classical solve (gridsize {ctx.resolved.spec.gridsize}: each group's patterns, "
            f"known probe, {GROUP_SOLVE_ITERATIONS} error-reduction iterations)"
        )
    st = reassemble_patches(patches.astype(np.complex64), rec.positions, p.reassemble_M)
    value = metrics.masked_amp_ssim(st, obj)
    flat = comp["baselines"]["flat"]["ssim"]
    return {
        "kind": kind,
        "amp_ssim": value,
        "normalised_pinn": ceilings.normalised_score(comp["amplitude"]["ssim"], flat, value),
    }


def backprojection_stitched(recon, M: int) -> Any:
    """The network's physics input alone (``ModelConfig.backprojection`` error-reduction
    iterations per test pattern, or per group with ``physics_input=group``), masked to the
    model's support, combined per group like the PINN's patches and stitched at the same
    positions: what the network starts from."""
    from ..pinn.infer import combined_patches

    trained, rec = recon.trained, recon.rec
    cfg, test = trained.pinn.config, trained.groups.test
    probe = trained.groups.sim.probe
    if cfg.physics_input == "group":  # the members of a group jointly, on one canvas (numpy twin)
        masked = probe * (physics.disk_mask(cfg.N) if cfg.probe_mask else 1.0)
        est = ceilings.group_solve_crops(test, masked, np.floor(test.positions), cfg.backprojection)
    else:
        est = physics.error_reduction(
            np.transpose(test.diffraction, (0, 3, 1, 2)),  # (g, C, N, N)
            probe,
            cfg.backprojection,
            probe_mask=cfg.probe_mask,
            fractions=test.geometry[..., 2:],  # in each member's floor frame, as the model forms it
        )
    est = est.reshape(-1, cfg.N, cfg.N) * physics.support_mask(cfg.N, cfg.probe_big)
    patches = combined_patches(est, test, cfg) * trained.groups.sim.unit_scale
    return reassemble_patches(patches, rec.positions, M)


def evaluate_scenario(
    ctx: ScenarioContext, refined: RefinedReconstruction, classical: Any = None, dense: Any = None
) -> Evaluation:
    """Compare with the truth on the covered region; write ``comparison_metrics.json``.

    The PINN's reconstruction is the main block; a refined one (same positions, same
    covered region, same baselines) goes under ``"refined"``, the classical engine's
    (``run.classical``; flat start at the top, PINN start under ``seeded``) under
    ``"classical"``; the network on every test group (``run.dense``) under ``"dense"``."""
    t = time.perf_counter()
    ceiling_s = 0.0
    recon = refined.reconstructed
    trained, stitched, rec = recon.trained, recon.stitched, recon.rec
    sim = trained.groups.sim
    N, M = ctx.resolved.params.N, ctx.resolved.params.reassemble_M
    true_patches = (  # gridsize 1: the twin ceiling and the twin-image fraction read them
        physics.extract_patches(sim.obj, rec.positions, N)
        if ctx.resolved.spec.gridsize == 1 and sim.obj is not None
        else None
    )
    if sim.obj is None:  # imported data without objectGuess: nothing to compare with
        comp = {"ground_truth_available": False, "coverage_fraction": stitched.coverage_fraction}
    else:
        comp = metrics.compare_to_truth(stitched, sim.obj, register=ctx.settings.register)
        comp["ground_truth_available"] = True
        comp["reference"] = metrics.reference_comparison(stitched, sim.obj)
        comp["fill_free"] = fill_free_scores(stitched, sim.obj)
        tc = time.perf_counter()  # a reconstruction of its own (gridsize 2: a classical solve per group)
        comp["ceiling"] = ceiling_block(ctx, recon, sim.obj, comp, true_patches)
        ctx.timed("ceiling", tc)
        ceiling_s = time.perf_counter() - tc
    test_sets_s = 0.0
    if ctx.settings.test_sets and sim.obj is not None and ctx.settings.data_path is None:
        from .test_sets import test_sets_block

        tc = time.perf_counter()  # inference on two more test sets: timed as its own stage
        comp["test_sets"] = test_sets_block(ctx, trained)
        test_sets_s = time.perf_counter() - tc
    comp["noise_floor"] = noise_floor(ctx, trained)
    if refined.active:
        block: dict[str, Any] = {"refinement": refined.summary}
        comp["noise_floor"]["refined"] = refined.refined.loss_end
        if sim.obj is not None:
            block.update(_scores(refined.stitched, sim.obj, ctx.settings.register))
        comp["refined"] = block
    if classical is not None and classical.active:
        from .classical import summary

        cblock: dict[str, Any] = {"classical": summary(classical)}
        if sim.obj is not None:
            cblock.update(_scores(classical.stitched, sim.obj, ctx.settings.register))
            cblock["seeded"] = _scores(classical.seeded_stitched, sim.obj, ctx.settings.register)
        comp["classical"] = cblock
    if trained.pinn.config.backprojection and sim.obj is not None:  # the network's starting image
        comp["backprojection"] = {
            "iterations": trained.pinn.config.backprojection,
            **_scores(
                backprojection_stitched(recon, M),
                sim.obj,
                ctx.settings.register,
            ),
        }
    if dense is not None:
        dblock: dict[str, Any] = {
            "groups": dense.groups,
            "patterns": dense.patterns,
            "same_as_main": dense.same_as_main,
            "wall_s": round(dense.wall_s, 3),
            "coverage_fraction": dense.stitched.coverage_fraction,
        }
        if sim.obj is not None:
            full = metrics.compare_to_truth(dense.stitched, sim.obj, register=ctx.settings.register)
            dblock.update(
                {k: full[k] for k in ("covered_pixels", "alignment", "amplitude", "amplitude_scaled")}
            )
            dblock.update(phase=full["phase"], baselines=full["baselines"])
            dblock["reference"] = metrics.reference_comparison(dense.stitched, sim.obj)
        comp["dense"] = dblock
    if true_patches is not None:
        comp["twin_image_fraction"] = metrics.twin_image_fraction(rec.patches, true_patches, M=M)
    comp["scenario"] = ctx.name
    artifacts.write_json(ctx.folder / "comparison_metrics.json", results.checked(results.Comparison, comp))
    ctx.update(
        headline=(
            metrics.headline(comp)
            if sim.obj is not None
            else {"coverage_fraction": comp["coverage_fraction"]}
        )
    )
    ctx.timed("evaluate", t + ceiling_s + test_sets_s)  # scoring alone, the ceiling and test sets apart
    return Evaluation(refined, comp, classical, dense)
