"""The one knob table: every value a caller may set for a scenario run.

Each knob names a field and the record it lands in (``RunParams``, ``ScenarioSpec``, the
training batch size, or ``RunSettings``).  Its type, default, choices and help line are
read from that field's one declaration (``config.py``, ``core.checks.setting``), never
re-typed here.  The CLI flags, the sweep value types,
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

from .config import RunParams, RunSettings, ScenarioSpec, TrainConfig
from .core.checks import base_type

#: Where a knob's value lands.  ``params``/``scenario``/``batch`` knobs are the profile
#: knobs (a profile may set them; DESIGN §4); ``settings`` knobs are run settings.
_RECORDS = {"params": RunParams, "scenario": ScenarioSpec, "batch": TrainConfig, "settings": RunSettings}
TARGETS = tuple(_RECORDS)
#: each target's fields by name (read once)
_FIELDS = {t: {f.name: f for f in dataclasses.fields(r)} for t, r in _RECORDS.items()}
_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


@dataclass(frozen=True)
class Knob:
    """One row of the knob table: a field of a config record, exposed to callers."""

    name: str
    target: str
    flag: str | None = None  # CLI spelling when it is not ``--name-with-dashes``
    path: bool = False  # a file path: not sweepable

    @property
    def field(self) -> dataclasses.Field:
        return _FIELDS[self.target][self.name]

    @property
    def type(self) -> type:
        return _TYPES[base_type(self.field.type)]

    @property
    def help(self) -> str:
        return self.field.metadata["doc"]

    @property
    def choices(self) -> tuple[str, ...] | None:
        return self.field.metadata["choices"]

    @property
    def cli_flag(self) -> str:
        return self.flag or flag_name(self.name)

    @property
    def default(self) -> Any:
        """The record's default (``None`` for scenario knobs: the scenario decides)."""
        return None if self.target == "scenario" else self.field.default

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


def _knobs(target: str, names: str) -> tuple[Knob, ...]:
    return tuple(Knob(n, target) for n in names.split())


KNOBS: tuple[Knob, ...] = (
    # workload and physics (profile knobs)
    *_knobs("params", "base_total_images group_count"),
    Knob("batch_size", "batch"),
    *_knobs("params", "neighbor_count"),
    *_knobs("scenario", "gridsize probe_mode probe_scale probe_big probe_mask"),
    *_knobs("params", "object_seed sim_seed buffer nphotons split_fraction"),
    *_knobs("scenario", "image_multiplier group_multiplier"),
    *_knobs("params", "object_size reassemble_M"),
    # protocol settings (REFERENCE_PROTOCOLS.md): grid vs non-grid, one named value each
    *_knobs(
        "scenario",
        "scan train_stride test_stride group_offset group_geometry object_set n_objects prediction object_units loss",
    ),
    # run settings: every RunSettings field, in its declaration order
    *(
        Knob(
            f.name,
            "settings",
            flag="--data" if f.name == "data_path" else None,
            path=f.name.endswith("_path"),
        )
        for f in dataclasses.fields(RunSettings)
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


#: the scenario notebook's parameters that are not knobs (what to run and where)
RUN_PARAMETER_NAMES = ("scenario", "hub_dir", "run_name", "profile")


def unknown_parameters(namespace: Mapping[str, Any], hidden: Mapping[str, Any] | None = None) -> list[str]:
    """Names a caller injected into the notebook that it does not declare (``papermill -p
    nepoch 2``: papermill only warns and the run would use the default).  Read right after
    the parameters cells: every public global that is not a knob, a run parameter, a
    module or one of IPython's own names (``hidden``: the shell's ``user_ns_hidden``)."""
    import types

    known = set(BY_NAME) | set(RUN_PARAMETER_NAMES) | set(hidden or {})
    return sorted(
        n
        for n, v in namespace.items()
        if not n.startswith("_") and n not in known and not isinstance(v, types.ModuleType)
    )


def collect(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The knob values found in a namespace (a notebook's ``globals()`` after its
    parameters cell), by table name; missing names count as not given."""
    return {k.name: namespace.get(k.name) for k in KNOBS}
