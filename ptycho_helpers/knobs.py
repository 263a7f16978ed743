"""The one knob table: every value a caller may set for a scenario run.

Each knob has a name, a value type, the record it lands in (``RunParams``,
``ScenarioSpec``, the training batch size, or ``RunSettings``) and a help line.  Defaults
are read from those records, never re-typed here.  The CLI flags, the sweep value types,
the notebook's parameters cell (``scripts/make_notebooks.py``) and the split of a caller's
values into profile overrides and run settings are all derived from :data:`KNOBS`.

A knob left at ``None`` means "not given": the named/stable profile, then the scenario,
then the record's default decide (:func:`ptycho_helpers.scenarios.resolve_profile`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .config import (
    AMP_ACTIVATIONS,
    CLASSICAL_ENGINES,
    CLASSICAL_STARTS,
    DEVICES,
    INPUT_TRANSFORMS,
    INTENSITY_SCALES,
    LOSSES,
    LR_SCHEDULES,
    OBJECT_SETS,
    OBJECT_UNITS,
    PREDICTIONS,
    PROBE_MODES,
    SCANS,
    RunParams,
    RunSettings,
    TrainConfig,
)

#: Where a knob's value lands.  ``params``/``scenario``/``batch`` knobs are the profile
#: knobs (a profile may set them; DESIGN §4); ``settings`` knobs are run settings.
TARGETS = ("params", "scenario", "batch", "settings")


@dataclass(frozen=True)
class Knob:
    """One row of the knob table."""

    name: str
    type: type
    target: str
    help: str
    choices: tuple[str, ...] | None = None
    flag: str | None = None  # CLI spelling when it is not ``--name-with-dashes``
    path: bool = False  # a file path: not sweepable

    @property
    def cli_flag(self) -> str:
        return self.flag or flag_name(self.name)

    @property
    def default(self) -> Any:
        """The record's default (``None`` for scenario knobs: the scenario decides)."""
        if self.target == "scenario":
            return None
        record = {"params": RunParams, "batch": TrainConfig, "settings": RunSettings}[self.target]
        return {f.name: f.default for f in dataclasses.fields(record)}[self.name]

    @property
    def default_text(self) -> str:
        """How the value is decided when not given (CLI help, notebook comments)."""
        if self.target == "scenario":
            return "default: the scenario's"
        if self.is_profile_knob:
            return f"default: the profile's, else {self.default!r}"
        return "default: none" if self.default is None else f"default {self.default!r}"

    @property
    def is_profile_knob(self) -> bool:
        return self.target != "settings"

    @property
    def type_name(self) -> str:
        return self.type.__name__


def flag_name(knob: str) -> str:
    """CLI flag spelling of a knob: ``base_total_images`` → ``--base-total-images``."""
    return "--" + knob.replace("_", "-")


def _k(name: str, typ: type, target: str, help: str, **kw: Any) -> Knob:
    return Knob(name, typ, target, help, **kw)


KNOBS: tuple[Knob, ...] = (
    # workload and physics (profile knobs)
    _k("base_total_images", int, "params", "scan positions per gridsize**2"),
    _k("group_count", int, "params", "groups per split"),
    _k("batch_size", int, "batch", "training batch size"),
    _k("neighbor_count", int, "params", "K, neighbour pool for gridsize > 1"),
    _k("gridsize", int, "scenario", "1 or 2"),
    _k("probe_mode", str, "scenario", "idealized | custom", choices=PROBE_MODES),
    _k("probe_scale", float, "scenario", "probe normalisation: mean of abs(disk*probe) is 1/probe_scale"),
    _k("probe_big", bool, "scenario", "model fills the patch border too"),
    _k("probe_mask", bool, "scenario", "multiply the probe by the disk r < N/4 in the model"),
    _k("object_seed", int, "params", "seed of the lines object"),
    _k("sim_seed", int, "params", "seed of positions, Poisson noise and grouping"),
    _k("buffer", float, "params", "scan positions lie in [buffer, size - buffer]"),
    _k("nphotons", float, "params", "mean photons per diffraction pattern"),
    _k("split_fraction", float, "params", "test share (largest y)"),
    _k("image_multiplier", int, "scenario", "extra factor on the number of positions"),
    _k("group_multiplier", int, "scenario", "extra factor on the number of groups"),
    _k("object_size", int, "params", "side of the lines object in px"),
    _k("reassemble_M", int, "params", "central crop side kept from each patch when stitching"),
    # protocol settings (REFERENCE_PROTOCOLS.md): grid vs non-grid, one named value each
    _k("scan", str, "scenario", "scan positions", choices=SCANS),
    _k("train_stride", int, "scenario", "grid step of the training scan in px"),
    _k("test_stride", int, "scenario", "grid step of the test scan in px (seamless tile side)"),
    _k("group_offset", int, "scenario", "member spacing of a fixed 2x2 grid group in px"),
    _k("object_set", str, "scenario", "train/test objects", choices=OBJECT_SETS),
    _k("n_objects", int, "scenario", "training objects when the object set is separate"),
    _k("prediction", str, "scenario", "network output for gridsize 2", choices=PREDICTIONS),
    _k("object_units", str, "scenario", "object amplitude units", choices=OBJECT_UNITS),
    _k("loss", str, "scenario", "training loss", choices=LOSSES),
    # run settings
    _k("nepochs", int, "settings", "training epochs"),
    _k("group_limit", int, "settings", "test groups stitched: min(group_count, group_limit)"),
    _k("seed", int, "settings", "training seed (weights, validation draw, shuffling)"),
    _k("amp_activation", str, "settings", "amplitude head", choices=AMP_ACTIVATIONS),
    _k(
        "intensity_scale",
        str,
        "settings",
        "data: fixed scales from the training data; reference: PtychoPINN's trainable log-scale "
        "at sqrt(nphotons)/(N/2), shared by input and output",
        choices=INTENSITY_SCALES,
    ),
    _k("learning_rate", float, "settings", "Adam learning rate (the reference used 1e-3)"),
    _k("input_transform", str, "settings", "network input", choices=INPUT_TRANSFORMS),
    _k("dense_bottleneck", int, "settings", "width of a dense bottleneck layer (0: none, the reference CNN)"),
    _k(
        "backprojection",
        int,
        "settings",
        "physics input: error-reduction iterations per pattern with the known probe; the heads start "
        "at that image and the network learns the correction (0: off, the reference CNN)",
    ),
    _k("refine_steps", int, "settings", "physics refinement steps on the test diffraction (0: PINN only)"),
    _k("refine_lr", float, "settings", "refinement Adam step"),
    _k(
        "classical",
        str,
        "settings",
        "classical engine beside the PINN (none: skip)",
        choices=CLASSICAL_ENGINES,
    ),
    _k("classical_iterations", int, "settings", "iterations of each classical reconstruction"),
    _k("classical_start", str, "settings", "flat start of the classical engine", choices=CLASSICAL_STARTS),
    _k("steps", int, "settings", "optimiser-step budget (0: the epoch budget)"),
    _k("lr_schedule", str, "settings", "learning-rate schedule", choices=LR_SCHEDULES),
    _k("validation_fraction", float, "settings", "random validation share of the training groups"),
    _k("curve_every", int, "settings", "learning-curve SSIM every this many steps (0: about 20 points)"),
    _k(
        "curve_groups",
        int,
        "settings",
        "test groups each learning-curve point scores (0: all; on the grid protocol that is the reference "
        "metric on the whole test object, about 23 training steps of compute per point)",
    ),
    _k(
        "device",
        str,
        "settings",
        "where the network trains and infers: auto (a GPU when the backend sees one), gpu (an error without one), cpu",
        choices=DEVICES,
    ),
    _k("register", bool, "settings", "sub-pixel registration before the metrics"),
    _k("object_amp_norm", bool, "settings", "bias study: scale the object to max amplitude 1"),
    _k("amp_vmax", float, "settings", "amplitude colour-scale maximum (stats-based if None)"),
    _k("custom_probe_path", str, "settings", ".npz with probeGuess for the custom probe mode", path=True),
    _k(
        "data_path",
        str,
        "settings",
        "PtychoPINN-style .npz to train/reconstruct instead of simulating",
        flag="--data",
        path=True,
    ),
)

BY_NAME: Mapping[str, Knob] = MappingProxyType({k.name: k for k in KNOBS})
#: Knob names by target, in table order.
PARAM_KNOBS = tuple(k.name for k in KNOBS if k.target == "params")
SCENARIO_KNOBS = tuple(k.name for k in KNOBS if k.target == "scenario")
PROFILE_KNOBS = tuple(k.name for k in KNOBS if k.is_profile_knob)
SETTING_KNOBS = tuple(k.name for k in KNOBS if k.target == "settings")
#: Value types of the knobs a sweep may vary (everything but file paths).
SWEEP_TYPES: Mapping[str, type] = MappingProxyType({k.name: k.type for k in KNOBS if not k.path})


def _check_table() -> None:
    """The table covers every RunSettings field exactly once (run by the tests)."""
    fields = {f.name for f in dataclasses.fields(RunSettings)}
    if fields != set(SETTING_KNOBS):
        raise AssertionError(f"RunSettings fields {sorted(fields ^ set(SETTING_KNOBS))} missing from KNOBS")


def split_values(values: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A caller's knob values → ``(profile overrides, run settings)``; ``None`` = not given.

    Raises ``ValueError`` naming unknown knobs and listing the known ones.
    """
    given = {k: v for k, v in (values or {}).items() if v is not None}
    unknown = sorted(set(given) - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown knob(s) {unknown}; known knobs: {', '.join(BY_NAME)}")
    overrides = {k: v for k, v in given.items() if BY_NAME[k].is_profile_knob}
    settings = {k: v for k, v in given.items() if not BY_NAME[k].is_profile_knob}
    return overrides, settings


def collect(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The knob values found in a namespace (a notebook's ``globals()`` after its
    parameters cell), by table name; missing names count as not given."""
    return {k.name: namespace.get(k.name) for k in KNOBS}
