"""The stages of one scenario run, in the pipeline's order (``notebooks/scenario_run.ipynb``
calls them one per cell; :func:`run_scenario` calls them in-process).

start → simulate → group → train → reconstruct → refine → classical → evaluate → write outputs
→ finish.
Each stage is ``stage(ctx, upstream record) -> new record``; a record keeps a reference
to its upstream record, so nothing travels through mutable state.  Each stage reports
its wall time (and its metadata section) through the run record, which rewrites
``run_metadata.json`` atomically: a run that dies leaves a metadata file whose status
still reads ``running``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..core.grouping import gather_groups, group_positions
from ..core.reassemble import even_ceil, reassemble_patches
from ..core.simulate import (
    make_lines_object,
    split_raw_data_by_axis,
)
from ..hub import artifacts, interchange, plotting
from ..plan import telemetry
from . import grid_protocol
from .record import ScenarioContext
from .stage_records import (  # noqa: F401 - the stage records, importable from here too
    Reconstructed,
    RefinedReconstruction,
    ScenarioGroups,
    SimulatedDataset,
    TrainedModel,
)
from .training import curve_monitor, model_config_of, train_config_of

if TYPE_CHECKING:
    from .evaluate import Evaluation

logger = logging.getLogger(__name__)


def simulate_scenario(ctx: ScenarioContext) -> SimulatedDataset:
    """Lines object, normalised probe, non-grid Poisson scan (or the imported NPZ), split by y."""
    t = time.perf_counter()
    p, spec = ctx.resolved.params, ctx.resolved.spec
    if spec.scan == "grid":
        return grid_protocol.simulate_grid_scenario(ctx, t)
    if spec.group_geometry == "square":  # random centres, fixed 2x2 groups
        return grid_protocol.simulate_square_scenario(ctx, t)
    if spec.object_set == "separate":  # random scans of separate training and test objects
        return grid_protocol.simulate_separate_random(ctx, t)
    unit_scale = 1.0
    if ctx.settings.data_path is not None:  # a user's NPZ instead of the simulation
        raw = interchange.import_npz(ctx.settings.data_path)
        obj, probe = raw.objectGuess, raw.probeGuess
        logger.info("%s: imported %d patterns (N=%d) from %s", ctx.name, raw.n, raw.N, ctx.settings.data_path)
    else:
        obj = make_lines_object(p.object_size, p.object_seed)
        if ctx.settings.object_amp_norm:  # bias study: object amplitude scaled to max 1
            obj = (obj / np.abs(obj).max()).astype(np.complex64)
        probe = grid_protocol.probe_of(ctx)
        raw, unit_scale = grid_protocol.simulate_random(ctx, obj, probe, ctx.resolved.counts[0], p.sim_seed)
        if spec.object_units == "patch_max":
            ctx.merge("scales", object_unit_train=unit_scale, object_unit_test=unit_scale)
    train, test = split_raw_data_by_axis(raw, p.split_fraction, "y")
    ctx.merge("scales", simulation_photon_scale=raw.photon_scale)
    ctx.timed("simulate", t)
    logger.info(
        "%s: simulated %d patterns (train %d, test %d), s_sim=%.6g",
        ctx.name,
        raw.n,
        train.n,
        test.n,
        raw.photon_scale,
    )
    return SimulatedDataset(obj, probe, raw, train, test, unit_scale=unit_scale)


def group_scenario(ctx: ScenarioContext, sim: SimulatedDataset) -> ScenarioGroups:
    """Training groups (group_count) and the test groups that get stitched
    (min(group_count, group_limit)); the model's combine pad covers both.  Writes the
    reassembly telemetry of the groups actually stitched into the hub."""
    t = time.perf_counter()
    r = ctx.resolved
    C = r.spec.gridsize
    n_train = r.n_train_groups
    if sim.train_groups is not None:  # grid protocol: fixed groups
        train, gte = grid_protocol.grid_groups_of(ctx, sim)
    else:
        gtr = group_positions(
            sim.train.positions,
            gridsize=C,
            n_groups=n_train,
            neighbor_count=r.params.neighbor_count,
            rng=r.params.sim_seed,
        )
        gte = telemetry.test_groups(r, sim.test.positions, ctx.settings.group_limit)
        train = gather_groups(sim.train.diffraction, sim.train.positions, gtr)
    n_test = gte.n_groups
    test = gather_groups(sim.test.diffraction, sim.test.positions, gte)
    pad = even_ceil(max(train.max_offset, test.max_offset)) if C > 1 else 0
    tel = telemetry.telemetry_of(
        ctx.name, r, ctx.settings.group_limit, gte, sim.test.positions, data_path=ctx.settings.data_path
    )
    telemetry.write_telemetry(ctx.hub, tel)
    ctx.merge(
        "counts",
        train_groups=n_train,
        test_groups_available=sim.test_groups.n_groups
        if sim.test_groups is not None
        else int(min(r.group_count, sim.test.n)),
        test_groups_stitched=n_test,
        patches_stitched=int(n_test * C * C),
    )
    ctx.timed("group", t)
    return ScenarioGroups(sim, train, test, pad, tel)


def train_scenario(ctx: ScenarioContext, groups: ScenarioGroups) -> TrainedModel:
    """Train the PINN, save the bundle and history into ``train_outputs/``."""
    from ..pinn.bundle import save_bundle
    from ..pinn.train import TrainingDiverged, summarize_history, train_pinn

    t = time.perf_counter()
    r = ctx.resolved
    mc = model_config_of(ctx, groups)
    tc = train_config_of(ctx, groups)
    ctx.update(model=mc.to_dict(), training={"config": tc.to_dict()})
    out = ctx.folder / "train_outputs"
    try:
        result = train_pinn(
            groups.train,
            model_config=mc,
            train_config=tc,
            probe=groups.sim.probe,
            nphotons=r.params.nphotons,
            monitor=curve_monitor(ctx, groups, mc),
        )
    except TrainingDiverged as exc:
        artifacts.write_json(out / "history.json", exc.history)
        artifacts.write_json(out / "history_summary.json", summarize_history(exc.history))
        ctx.merge("training", diverged_epoch=exc.epoch)
        raise
    save_bundle(result, out, extra={"scenario": ctx.name})
    artifacts.write_json(out / "learning_curve.json", result.curve)
    plotting.save_history_plot(out / "history.png", result.history, curve=result.curve)
    ctx.merge(
        "scales",
        input_gain=result.scales.input_gain,
        photon_scale=result.scales.photon_scale,
        photon_scale_closed_form=result.scales.photon_scale_closed_form,
        **({"intensity_scale_learned": result.learned_scale} if result.learned_scale is not None else {}),
    )
    ctx.merge(
        "training",
        epochs_run=result.epochs_run,
        steps_run=result.steps_run,
        n_train=result.n_train,
        n_val=result.n_val,
        wall_s=round(result.wall_s, 3),
        final_loss=result.history["loss"][-1],
        final_val_loss=(result.history.get("val_loss") or [None])[-1],
    )
    ctx.timed("train", t)
    return TrainedModel(groups, result)


def reconstruct_scenario(ctx: ScenarioContext, trained: TrainedModel) -> Reconstructed:
    """Batched inference on the test groups, then stitching.

    For gridsize > 1 the stitched patches are the members' cuts of the combined group object
    (what the physics saw, :func:`pinn.infer.combined_patches`), not the raw member outputs."""
    from ..pinn.infer import combined_patches, predict_patches

    t = time.perf_counter()
    test = trained.groups.test
    rec = predict_patches(
        trained.pinn.diffraction_to_obj, test, input_gain=trained.scales.input_gain, batch_size=32
    )
    # grid protocol: the network works in the data's object units; back to the object's units
    unit = trained.groups.sim.unit_scale
    patches = combined_patches(rec.patches, test, trained.pinn.config)
    rec = dataclasses.replace(rec, patches=patches * unit if unit != 1.0 else patches)
    ctx.timed("inference", t)
    t = time.perf_counter()
    stitched = reassemble_patches(rec.patches, rec.positions, ctx.resolved.params.reassemble_M)
    ctx.timed("stitch", t)
    return Reconstructed(trained, rec, stitched)


def refine_scenario(ctx: ScenarioContext, reconstructed: Reconstructed) -> RefinedReconstruction:
    """Physics refinement of the predicted test patches on their own diffraction (no truth),
    stitched like the PINN output; inactive when ``refine_steps == 0`` (PINN only)."""
    s = ctx.settings
    if s.refine_steps == 0:
        return RefinedReconstruction(reconstructed)
    if reconstructed.trained.pinn.config.prediction == "group":
        raise ValueError(
            "refinement of one-object-per-group predictions is not supported; use --refine-steps 0"
        )
    from ..pinn.infer import combined_patches
    from ..pinn.refine import refine_patches

    t = time.perf_counter()
    trained = reconstructed.trained
    test = trained.groups.test
    refined = refine_patches(
        reconstructed.rec.patches,
        test,
        probe=trained.groups.sim.probe,
        model_config=trained.pinn.config,
        photon_scale=trained.scales.photon_scale,
        steps=s.refine_steps,
        learning_rate=s.refine_lr,
    )
    # the members drift apart on their overlaps during refinement too: stitch what the physics saw
    refined = dataclasses.replace(
        refined, patches=combined_patches(refined.patches, test, trained.pinn.config)
    )
    stitched = reassemble_patches(
        refined.patches, reconstructed.rec.positions, ctx.resolved.params.reassemble_M
    )
    summary = {
        "steps": refined.steps,
        "learning_rate": s.refine_lr,
        "loss_start": refined.loss_start,
        "loss_end": refined.loss_end,
        "wall_s": round(refined.wall_s, 3),
    }
    ctx.update(refinement=summary)
    ctx.timed("refine", t)
    return RefinedReconstruction(reconstructed, refined, stitched, summary)


class ScenarioRun(NamedTuple):
    """What :func:`run_scenario` returns: the run's context (hub, folder, metadata), its
    evaluation (``run.evaluate.Evaluation``) and the stitched maps' ``stats.json``."""

    ctx: ScenarioContext
    evaluation: Evaluation
    stats: dict[str, Any]


def run_scenario(scenario: str, hub_dir: str | None = None, **kwargs: Any) -> ScenarioRun:
    """All stages in this process (tests, benchmarks, Python users): the same calls the
    scenario notebook makes."""
    from .classical import classical_scenario
    from .dense import dense_scenario
    from .evaluate import evaluate_scenario
    from .outputs import write_scenario_outputs
    from .record import finish_scenario, start_scenario

    ctx = start_scenario(scenario, hub_dir, **kwargs)
    sim = simulate_scenario(ctx)
    groups = group_scenario(ctx, sim)
    trained = train_scenario(ctx, groups)
    reconstructed = reconstruct_scenario(ctx, trained)
    refined = refine_scenario(ctx, reconstructed)
    dense = dense_scenario(ctx, reconstructed)
    evaluation = evaluate_scenario(ctx, refined, classical_scenario(ctx, refined), dense)
    stats = write_scenario_outputs(ctx, evaluation)
    finish_scenario(ctx)
    return ScenarioRun(ctx, evaluation, stats)
