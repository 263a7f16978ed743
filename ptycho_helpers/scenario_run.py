"""The stages of one scenario run, called in order by ``notebooks/scenario_run.ipynb``.

start → simulate → group → train → reconstruct → evaluate → write outputs → finish.
Each stage takes what it needs as arguments, returns a result record, records its wall
time in the run's metadata and rewrites ``run_metadata.json`` atomically, so a run that
dies leaves a metadata file whose status still reads ``running``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import artifacts, interchange, metadata, metrics, outputs, physics, plotting, reporting
from .config import (
    AMP_ACTIVATIONS,
    ModelConfig,
    RunParams,
    TrainConfig,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_name,
)
from .grouping import GroupedData, gather_groups, group_positions
from .infer import combined_patches, predict_patches
from .reassemble import Stitched, even_ceil, reassemble_patches, reassembly_telemetry
from .refine import Refined, refine_patches
from .scenarios import OVERRIDE_KNOBS, ResolvedRun, resolve_run
from .simulate import (
    RawData,
    make_lines_object,
    make_probe,
    simulate_nongrid_raw_data,
    split_raw_data_by_axis,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSettings:
    """Run settings that are not profile knobs (DESIGN §4)."""

    nepochs: int = 5
    group_limit: int = 64
    seed: int = 42
    amp_activation: str = "softplus"
    custom_probe_path: str | None = None
    register: bool = False
    amp_vmax: float | None = None
    object_amp_norm: bool = False
    learning_rate: float = 5e-4
    data_path: str | None = None
    input_transform: str = "linear"
    dense_bottleneck: int = 0
    refine_steps: int = 100
    refine_lr: float = 0.05

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "refine_steps", check_int("refine_steps", self.refine_steps, minimum=0))
        s(self, "refine_lr", check_float("refine_lr", self.refine_lr, minimum=0.0, exclusive=True))
        s(self, "nepochs", check_int("nepochs", self.nepochs, minimum=1))
        s(self, "group_limit", check_int("group_limit", self.group_limit, minimum=1))
        s(self, "seed", check_int("seed", self.seed, minimum=0))
        check_choice("amp_activation", self.amp_activation, AMP_ACTIVATIONS)
        s(self, "register", check_bool("register", self.register))
        s(self, "object_amp_norm", check_bool("object_amp_norm", self.object_amp_norm))
        s(
            self,
            "learning_rate",
            check_float("learning_rate", self.learning_rate, minimum=0.0, exclusive=True),
        )
        if self.amp_vmax is not None:
            s(self, "amp_vmax", check_float("amp_vmax", self.amp_vmax, minimum=0.0, exclusive=True))
        if self.data_path is not None and not Path(self.data_path).is_file():
            raise FileNotFoundError(f"data_path {self.data_path!r} does not exist")
        if self.custom_probe_path is not None and not Path(self.custom_probe_path).is_file():
            raise FileNotFoundError(f"custom_probe_path {self.custom_probe_path!r} does not exist")


#: Run settings a caller passes by name (CLI flags, notebook parameters, ``runs``): every
#: RunSettings field except the display knob ``amp_vmax``, which travels with the overrides.
SETTING_NAMES: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(RunSettings) if f.name not in OVERRIDE_KNOBS
)


@dataclass
class ScenarioContext:
    """Where a scenario writes and what it resolved to (settings, not results)."""

    name: str
    hub: Path
    folder: Path
    resolved: ResolvedRun
    settings: RunSettings
    meta: metadata.RunMetadata
    t0: float = field(default_factory=time.perf_counter)

    def save(self) -> None:
        artifacts.write_json(self.folder / "run_metadata.json", self.meta.model_dump(mode="json"))

    def timed(self, stage: str, start: float) -> None:
        self.meta.timings_s[stage] = round(time.perf_counter() - start, 3)
        self.save()


@dataclass(frozen=True)
class SimulatedDataset:
    obj: np.ndarray
    probe: np.ndarray
    raw: RawData
    train: RawData
    test: RawData


@dataclass(frozen=True)
class ScenarioGroups:
    train: GroupedData
    test: GroupedData
    combine_pad: int
    telemetry: dict[str, Any]


def estimate_memory_bytes(resolved: ResolvedRun) -> int:
    """Rough peak memory of a run: simulation buffers, the object canvas and training arrays."""
    p, C = resolved.params, resolved.spec.channels
    n = resolved.counts[0]
    sim = n * p.N * p.N * 48  # exit waves, FFT, rates, counts, amplitudes
    obj = (2 * p.object_size) ** 2 * 8 * 4  # line canvas and three blurs
    train = resolved.n_train_groups * C * p.N * p.N * 4 * 4  # inputs, targets, copies
    return int(sim + obj + train)


def available_memory_bytes() -> int:
    """Memory the OS can give us now (MemAvailable), or a large number when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 60


def preflight(resolved: ResolvedRun, settings: RunSettings) -> None:
    """Checks that need no computation: the custom probe file and the memory estimate.

    Raises ``ValueError``/``FileNotFoundError`` before anything is allocated or written.
    """
    if resolved.spec.probe_mode == "custom" and settings.data_path is None:
        if resolved.params.N != 64 and settings.custom_probe_path is None:
            raise ValueError("the shipped synthetic probe is 64x64; give custom_probe_path for N != 64")
        make_probe(resolved.params.N, "custom", settings.custom_probe_path)
    need, have = estimate_memory_bytes(resolved), available_memory_bytes()
    if need > 0.8 * have:
        raise ValueError(
            f"this run needs about {need / 2**30:.1f} GiB but only {have / 2**30:.1f} GiB are available; "
            "lower base_total_images, group_count or object_size"
        )


def resolve_for(
    scenario: str, overrides: dict[str, Any] | None, settings: RunSettings, *, profile: str | None = None
) -> ResolvedRun:
    """``resolve_run`` for simulated data, or sized by an imported NPZ (``data_path``)."""
    if settings.data_path is None:
        return resolve_run(scenario, overrides, profile=profile)
    data = interchange.import_npz(settings.data_path)
    return resolve_run(scenario, overrides, params=RunParams(N=data.N), n_total=data.n, profile=profile)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def start_scenario(
    scenario: str,
    hub_dir: str | Path,
    *,
    overrides: dict[str, Any] | None = None,
    run_name: str | None = None,
    profile: str | None = None,
    **settings: Any,
) -> ScenarioContext:
    """Validate, resolve the profile, create ``hub_dir/<run_name or scenario>/`` and write
    metadata with status ``running``.  Refuses a folder that already holds a run.

    ``run_name`` names the folder when one hub holds several runs of a scenario (studies,
    sweeps); it defaults to the scenario name."""
    check_name("scenario", scenario)
    name = check_name("run", run_name) if run_name else scenario
    overrides = dict(overrides or {})
    run_settings = RunSettings(**settings)
    if overrides.get("amp_vmax") is not None:  # a display knob: it lives in the run settings
        run_settings = dataclasses.replace(run_settings, amp_vmax=overrides["amp_vmax"])
    resolved = resolve_for(scenario, overrides, run_settings, profile=profile)
    preflight(resolved, run_settings)
    hub = Path(hub_dir)
    folder = hub / name
    if (folder / "run_metadata.json").exists():
        raise FileExistsError(f"{str(folder)!r} already holds a run; hubs are never written into twice")
    for sub in ("", "train_outputs", "inference_outputs"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    total, train, test = resolved.counts
    p = resolved.params
    meta = metadata.RunMetadata(
        scenario=scenario,
        run_name=name,
        status="running",
        started_utc=_now(),
        resolved=resolved.to_dict(),
        settings=dataclasses.asdict(run_settings),
        overrides={k: overrides.get(k) for k in OVERRIDE_KNOBS},
        profile=metadata.ProfileBlock(**resolved.profile),
        counts=metadata.Counts(total=total, train=train, test=test),
        seeds={"object_seed": p.object_seed, "sim_seed": p.sim_seed, "train_seed": run_settings.seed},
        versions=metadata.package_versions(),
        git_sha=metadata.git_sha(),
        host=metadata.host_info(),
    )
    ctx = ScenarioContext(name, hub, folder, resolved, run_settings, meta)
    ctx.save()
    logger.info("%s: resolved %s", name, resolved.to_dict())
    return ctx


def simulate_scenario(ctx: ScenarioContext) -> SimulatedDataset:
    """Lines object, normalised probe, non-grid Poisson scan, split by y."""
    t = time.perf_counter()
    p, spec = ctx.resolved.params, ctx.resolved.spec
    if ctx.settings.data_path is not None:  # a user's NPZ instead of the simulation
        raw = interchange.import_npz(ctx.settings.data_path)
        obj, probe = raw.objectGuess, raw.probeGuess
        logger.info("%s: imported %d patterns (N=%d) from %s", ctx.name, raw.n, raw.N, ctx.settings.data_path)
    else:
        obj = make_lines_object(p.object_size, p.object_seed)
        if ctx.settings.object_amp_norm:  # bias study: object amplitude scaled to max 1
            obj = (obj / np.abs(obj).max()).astype(np.complex64)
        path = ctx.settings.custom_probe_path if spec.probe_mode == "custom" else None
        probe = physics.normalize_probe_guess(make_probe(p.N, spec.probe_mode, path), spec.probe_scale)
        raw = simulate_nongrid_raw_data(
            obj, probe, n_images=ctx.resolved.counts[0], nphotons=p.nphotons, seed=p.sim_seed, buffer=p.buffer
        )
    train, test = split_raw_data_by_axis(raw, p.split_fraction, "y")
    ctx.meta.scales["simulation_photon_scale"] = raw.photon_scale
    ctx.timed("simulate", t)
    logger.info(
        "%s: simulated %d patterns (train %d, test %d), s_sim=%.6g",
        ctx.name,
        raw.n,
        train.n,
        test.n,
        raw.photon_scale,
    )
    return SimulatedDataset(obj, probe, raw, train, test)


def group_test_positions(resolved: ResolvedRun, positions: np.ndarray, group_limit: int):
    """The test groups that get stitched: ``min(group_count·group_multiplier, group_limit)``
    groups of the test positions, seeded with ``sim_seed + 1``."""
    r = resolved
    n = min(r.group_count * r.spec.group_multiplier, group_limit, len(positions))
    return group_positions(
        positions,
        gridsize=r.spec.gridsize,
        n_groups=n,
        neighbor_count=r.params.neighbor_count,
        rng=r.params.sim_seed + 1,
    )


def group_scenario(ctx: ScenarioContext, sim: SimulatedDataset) -> ScenarioGroups:
    """Training groups (group_count) and the test groups that get stitched
    (min(group_count, group_limit)); the model's combine pad covers both."""
    t = time.perf_counter()
    r = ctx.resolved
    C = r.spec.gridsize
    n_train = r.n_train_groups
    gtr = group_positions(
        sim.train.positions,
        gridsize=C,
        n_groups=n_train,
        neighbor_count=r.params.neighbor_count,
        rng=r.params.sim_seed,
    )
    gte = group_test_positions(r, sim.test.positions, ctx.settings.group_limit)
    n_test = gte.n_groups
    train = gather_groups(sim.train.diffraction, sim.train.positions, gtr)
    test = gather_groups(sim.test.diffraction, sim.test.positions, gte)
    pad = even_ceil(max(train.max_offset, test.max_offset)) if C > 1 else 0
    telemetry = reassembly_telemetry(
        test.positions.reshape(-1, 2), gte.relative, N=r.params.N, M=r.params.reassemble_M, gridsize=C
    )
    c = ctx.meta.counts
    c.train_groups, c.test_groups_available, c.test_groups_stitched = (
        n_train,
        int(min(r.group_count, sim.test.n)),
        n_test,
    )
    c.patches_stitched = int(n_test * C * C)
    ctx.timed("group", t)
    return ScenarioGroups(train, test, pad, telemetry)


def train_scenario(ctx: ScenarioContext, groups: ScenarioGroups, sim: SimulatedDataset):
    """Train the PINN, save the bundle and history into ``train_outputs/``."""
    from .train import TrainingDiverged, save_bundle, summarize_history, train_pinn

    t = time.perf_counter()
    r, s = ctx.resolved, ctx.settings
    mc = ModelConfig(
        N=r.params.N,
        gridsize=r.spec.gridsize,
        amp_activation=s.amp_activation,
        probe_big=r.spec.probe_big,
        probe_mask=r.spec.probe_mask,
        combine_pad=groups.combine_pad,
        input_transform=s.input_transform,
        dense_bottleneck=s.dense_bottleneck,
    )
    tc = TrainConfig(nepochs=s.nepochs, batch_size=r.batch_size, seed=s.seed, learning_rate=s.learning_rate)
    ctx.meta.model = mc.to_dict()
    ctx.meta.training = {"config": tc.to_dict()}
    ctx.save()
    out = ctx.folder / "train_outputs"
    try:
        result = train_pinn(
            groups.train, model_config=mc, train_config=tc, probe=sim.probe, nphotons=r.params.nphotons
        )
    except TrainingDiverged as exc:
        artifacts.write_json(out / "history.json", exc.history)
        artifacts.write_json(out / "history_summary.json", summarize_history(exc.history))
        ctx.meta.training.update({"diverged_epoch": exc.epoch})
        ctx.save()
        raise
    save_bundle(result, out, extra={"scenario": ctx.name})
    plotting.save_history_plot(out / "history.png", result.history)
    ctx.meta.scales.update(
        input_gain=result.scales.input_gain,
        photon_scale=result.scales.photon_scale,
        photon_scale_closed_form=result.scales.photon_scale_closed_form,
    )
    ctx.meta.training.update(
        epochs_run=result.epochs_run,
        n_train=result.n_train,
        n_val=result.n_val,
        wall_s=round(result.wall_s, 3),
        final_loss=result.history["loss"][-1],
        final_val_loss=(result.history.get("val_loss") or [None])[-1],
    )
    ctx.timed("train", t)
    return result


def reconstruct_scenario(ctx: ScenarioContext, trained, groups: ScenarioGroups):
    """Batched inference on the test groups, then stitching; returns (Reconstruction, Stitched).

    For gridsize > 1 the stitched patches are the members' cuts of the combined group object
    (what the physics saw, :func:`infer.combined_patches`), not the raw member outputs."""
    t = time.perf_counter()
    rec = predict_patches(
        trained.pinn.diffraction_to_obj, groups.test, input_gain=trained.scales.input_gain, batch_size=32
    )
    rec = dataclasses.replace(rec, patches=combined_patches(rec.patches, groups.test, trained.pinn.config))
    ctx.timed("inference", t)
    t = time.perf_counter()
    stitched = reassemble_patches(rec.patches, rec.positions, ctx.resolved.params.reassemble_M)
    ctx.timed("stitch", t)
    return rec, stitched


@dataclass(frozen=True)
class RefinedReconstruction:
    refined: Refined
    stitched: Stitched


def refine_scenario(
    ctx: ScenarioContext, trained, groups: ScenarioGroups, sim: SimulatedDataset, rec
) -> RefinedReconstruction | None:
    """Physics refinement of the predicted test patches on their own diffraction (no truth),
    stitched like the PINN output; ``None`` when ``refine_steps == 0`` (PINN only)."""
    s = ctx.settings
    if s.refine_steps == 0:
        return None
    t = time.perf_counter()
    refined = refine_patches(
        rec.patches,
        groups.test,
        probe=sim.probe,
        model_config=trained.pinn.config,
        photon_scale=trained.scales.photon_scale,
        steps=s.refine_steps,
        learning_rate=s.refine_lr,
    )
    # the members drift apart on their overlaps during refinement too: stitch what the physics saw
    refined = dataclasses.replace(
        refined, patches=combined_patches(refined.patches, groups.test, trained.pinn.config)
    )
    stitched = reassemble_patches(refined.patches, rec.positions, ctx.resolved.params.reassemble_M)
    ctx.meta.refinement = {
        "steps": refined.steps,
        "learning_rate": s.refine_lr,
        "loss_start": refined.loss_start,
        "loss_end": refined.loss_end,
        "wall_s": round(refined.wall_s, 3),
    }
    ctx.timed("refine", t)
    return RefinedReconstruction(refined, stitched)


def noise_floor(
    ctx: ScenarioContext, trained, groups: ScenarioGroups, sim: SimulatedDataset
) -> dict[str, Any]:
    """Poisson deviance/2 per pixel on the stitched test groups: true object vs trained model."""
    data = groups.test
    N, C = ctx.resolved.params.N, ctx.resolved.spec.channels
    s = trained.scales.photon_scale
    counts = (s * np.moveaxis(data.diffraction, -1, 1).astype(np.float64)) ** 2
    x = (trained.scales.input_gain * data.diffraction).astype(np.float32)
    model_i = np.moveaxis(
        np.asarray(trained.pinn.autoencoder.predict([x, data.geometry], verbose=0, batch_size=32)), -1, 1
    )
    model_dev = float(np.mean(physics.poisson_deviance_half(s * s * model_i.astype(np.float64), counts)))
    if sim.obj is None:
        return {"metric": "Poisson deviance / 2 per pixel", "true_object": None, "model": model_dev}
    true_patches = physics.extract_patches(sim.obj, np.floor(data.positions).reshape(-1, 2), N).reshape(
        -1, C, N, N
    )
    spec = ctx.resolved.spec
    true_i = physics.model_intensity(
        true_patches,
        data.geometry,
        sim.probe,
        probe_mask=spec.probe_mask,
        probe_big=spec.probe_big,
        pad=groups.combine_pad,
    )
    return {
        "metric": "Poisson deviance / 2 per pixel on the stitched test groups (0.5 = noise floor for large counts)",
        "true_object": float(np.mean(physics.poisson_deviance_half(s * s * true_i, counts))),
        "model": model_dev,
    }


def evaluate_scenario(
    ctx: ScenarioContext,
    sim: SimulatedDataset,
    rec,
    stitched: Stitched,
    trained,
    groups: ScenarioGroups,
    refined: RefinedReconstruction | None = None,
) -> dict[str, Any]:
    """Compare with the truth on the covered region; write ``comparison_metrics.json``.

    The PINN's reconstruction is the main block; a refined one (same positions, same
    covered region, same baselines) goes under ``"refined"``."""
    t = time.perf_counter()
    if sim.obj is None:  # imported data without objectGuess: nothing to compare with
        comp = {"ground_truth_available": False, "coverage_fraction": stitched.coverage_fraction}
    else:
        comp = metrics.compare_to_truth(stitched, sim.obj, register=ctx.settings.register)
        comp["ground_truth_available"] = True
    comp["noise_floor"] = noise_floor(ctx, trained, groups, sim)
    if refined is not None:
        block: dict[str, Any] = {"refinement": ctx.meta.refinement}
        comp["noise_floor"]["refined"] = refined.refined.loss_end
        if sim.obj is not None:
            full = metrics.compare_to_truth(refined.stitched, sim.obj, register=ctx.settings.register)
            block.update({k: full[k] for k in ("alignment", "amplitude", "amplitude_scaled", "phase")})
        comp["refined"] = block
    if ctx.resolved.spec.gridsize == 1 and sim.obj is not None:
        true_patches = physics.extract_patches(sim.obj, rec.positions, ctx.resolved.params.N)
        comp["twin_image_fraction"] = metrics.twin_image_fraction(
            rec.patches, true_patches, M=ctx.resolved.params.reassemble_M
        )
    comp["scenario"] = ctx.name
    artifacts.write_json(ctx.folder / "comparison_metrics.json", comp)
    ctx.meta.headline = (
        metrics.headline(comp) if sim.obj is not None else {"coverage_fraction": comp["coverage_fraction"]}
    )
    ctx.timed("evaluate", t)
    return comp


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


def write_scenario_outputs(
    ctx: ScenarioContext,
    sim: SimulatedDataset,
    stitched: Stitched,
    comparison: dict[str, Any],
    groups: ScenarioGroups,
    refined: RefinedReconstruction | None = None,
) -> dict[str, Any]:
    """NPY dumps, PNGs (shared amplitude scale), stats.json and the notes; the refined
    reconstruction's maps go to ``refined_outputs/`` on the PINN's colour scale."""
    t = time.perf_counter()
    mask = stitched.covered
    amp, phase = np.abs(stitched.image), np.angle(stitched.image)
    truth = None if sim.obj is None else metrics.truth_on_canvas(sim.obj, stitched)
    ranges = outputs.write_maps(ctx.folder, ctx.name, stitched, truth, ctx.settings.amp_vmax)
    if refined is not None:
        outputs.write_refined_maps(ctx.folder, ctx.name, refined.stitched, truth, ranges["amplitude"]["vmax"])
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
    artifacts.write_json(ctx.folder / "inference_outputs" / "stats.json", stats)
    ctx.meta.stats = {
        k: stats[k] for k in ("padded_size", "required_canvas", "fits_canvas", "coverage_fraction")
    }
    ctx.meta.files = {
        "notebook": f"{ctx.name}/scenario_run.ipynb",
        "amplitude_png": f"{ctx.name}/inference_outputs/amplitude.png",
        "phase_png": f"{ctx.name}/inference_outputs/phase.png",
        "comparison": f"{ctx.name}/comparison_metrics.json",
        "notes": f"{ctx.name}_notes.md",
    }
    if refined is not None:
        ctx.meta.files["refined_amplitude_png"] = f"{ctx.name}/refined_outputs/amplitude.png"
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
        "ground_truth_amplitude.png",
        "amplitude_diff.png",
        "refined_outputs/amplitude_diff.png",
        "inference_outputs/phase.png",
    )
    return [ctx.folder / n for n in names if (ctx.folder / n).is_file()]


def finish_scenario(ctx: ScenarioContext) -> metadata.RunMetadata:
    """Mark the run complete (the last write of a successful run)."""
    ctx.meta.timings_s["total"] = round(time.perf_counter() - ctx.t0, 3)
    ctx.meta.status = "complete"
    ctx.meta.finished_utc = _now()
    ctx.save()
    logger.info("%s: complete in %.1f s", ctx.name, ctx.meta.timings_s["total"])
    return ctx.meta
