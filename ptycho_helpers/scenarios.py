"""Built-in scenarios, stable profiles, count derivation, profile resolution, snapshot import.

Profile semantics (DESIGN §4): for each knob of a scenario's stable profile, a knob the
caller did not give takes the profile value (*applied*); a knob the caller gave keeps the
caller's value, is recorded as *skipped* with ``{preferred, override, reason}`` and a
warning naming the flag, the override and the bypassed default is logged.  Profiles only
change workload knobs; physics and probe normalisation are never touched.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .config import RunParams, ScenarioSpec, TrainConfig
from .core.checks import check_int, check_name
from .core.grid import grid_group_counts
from .core.simulate import n_test_of
from .knobs import PARAM_KNOBS, PROFILE_KNOBS, SCENARIO_KNOBS, flag_name
from .profiles import (  # noqa: F401 - re-exported: the public names live here too
    NAMED_PROFILES,
    PROFILE_SETTINGS,
    STABLE_PROFILES,
    named_profile,
    profile_settings,
)

logger = logging.getLogger(__name__)

#: What the grid scenarios share: regular 4-px / 10-px grids, fixed 2x2 ±2 px groups,
#: separate train/test objects, patch-max object units.
GRID_PROTOCOL: Mapping[str, Any] = MappingProxyType(
    {
        "scan": "grid",
        "train_stride": 4,
        "test_stride": 10,
        "group_offset": 4,
        "object_set": "separate",
        "n_objects": 2,
        "object_units": "patch_max",
    }
)


SCENARIOS: Mapping[str, ScenarioSpec] = MappingProxyType(
    {
        "gs1_ideal": ScenarioSpec("gs1_ideal", 1, "idealized", 10.0, False, True),
        "gs1_custom": ScenarioSpec("gs1_custom", 1, "custom", 4.0, True, False),
        "gs2_ideal": ScenarioSpec("gs2_ideal", 2, "idealized", 10.0, False, True),
        "gs2_custom": ScenarioSpec("gs2_custom", 2, "custom", 4.0, True, False),
        # the legacy grid protocol (REFERENCE_PROTOCOLS.md §A) as ordinary scenarios
        "gs1_grid": ScenarioSpec(
            "gs1_grid", 1, "idealized", 4.0, True, False, **GRID_PROTOCOL, prediction="member", loss="mae"
        ),
        "gs2_grid": ScenarioSpec(
            "gs2_grid", 2, "idealized", 4.0, True, False, **GRID_PROTOCOL, prediction="group", loss="poisson"
        ),
    }
)


#: Profile knobs a caller may override (derived from the knob table, :mod:`.knobs`).
RUN_PARAM_KNOBS = PARAM_KNOBS
OVERRIDE_KNOBS = PROFILE_KNOBS
DEFAULT_BATCH_SIZE = TrainConfig.batch_size


def get_scenario(name: str) -> ScenarioSpec:
    """Look up a built-in scenario; the error lists the valid names."""
    check_name("scenario", name)
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; valid scenarios: {', '.join(sorted(SCENARIOS))}")
    return SCENARIOS[name]


def derive_counts(params: RunParams, gridsize: int, image_multiplier: int = 1) -> tuple[int, int, int]:
    """Scan counts of a run.

    Returns
    -------
    (total, train, test) : tuple of int
        ``total = base_total_images * gridsize**2 * image_multiplier``;
        ``test = round(total * split_fraction)``; ``train = total - test``.
    """
    if not isinstance(params, RunParams):
        raise TypeError(f"params must be a RunParams, got {type(params).__name__}")
    g = check_int("gridsize", gridsize, minimum=1)
    m = check_int("image_multiplier", image_multiplier, minimum=1)
    total = int(params.base_total_images * g * g * m)
    test = n_test_of(total, params.split_fraction)
    train = total - test
    if train < 1 or test < 1:
        raise ValueError(
            f"base_total_images={params.base_total_images} with split_fraction="
            f"{params.split_fraction} leaves train={train}, test={test}; both must be >= 1"
        )
    return total, train, test


def resolve_profile(
    scenario_name: str,
    params: RunParams,
    overrides: Mapping[str, Any] | None = None,
    *,
    profile: str | None = None,
) -> tuple[RunParams, int, int, dict[str, Any]]:
    """Apply a scenario's stable profile (or the named ``profile``) under the caller's overrides.

    Parameters
    ----------
    scenario_name : str
        Scenario whose profile (if any) is used.
    params : RunParams
        Starting parameters (usually ``RunParams()``).
    overrides : mapping knob -> value or None
        ``None`` means "not given".  Any knob of :data:`OVERRIDE_KNOBS` may appear;
        those that are RunParams fields are applied to the returned params.

    Returns
    -------
    params : RunParams
        With profile values and overrides applied.
    group_count : int
        Effective group count (``params.group_count``).
    batch_size : int
        Effective batch size (profile, override, or the default 16).
    record : dict
        JSON-ready profile block ``{name, label, defaults, applied, skipped, active,
        effective_group_count, effective_batch_size}``.
    """
    check_name("scenario", scenario_name)
    if not isinstance(params, RunParams):
        raise TypeError(f"params must be a RunParams, got {type(params).__name__}")
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(OVERRIDE_KNOBS))
    if unknown:
        raise ValueError(f"unknown override knob(s) {unknown}; allowed: {', '.join(OVERRIDE_KNOBS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    chosen = named_profile(profile, scenario_name) if profile else STABLE_PROFILES.get(scenario_name)

    batch_size = DEFAULT_BATCH_SIZE
    changes: dict[str, Any] = {}
    applied: dict[str, Any] = {}
    skipped: dict[str, Any] = {}
    if chosen is not None:
        for knob, preferred in chosen.items():
            if knob in PROFILE_SETTINGS:
                continue
            if knob in given:
                skipped[knob] = {
                    "preferred": preferred,
                    "override": given[knob],
                    "reason": f"caller passed {flag_name(knob)}={given[knob]}",
                }
                logger.warning(
                    "%s: %s=%s overrides the stable-profile default %s=%s (profile value bypassed)",
                    scenario_name,
                    flag_name(knob),
                    given[knob],
                    knob,
                    preferred,
                )
            else:
                applied[knob] = preferred
                if knob == "batch_size":
                    batch_size = preferred
                else:
                    changes[knob] = preferred
    for knob, value in given.items():
        if knob in RUN_PARAM_KNOBS:
            changes[knob] = value
        elif knob == "batch_size":
            batch_size = value
    batch_size = check_int("batch_size", batch_size, minimum=1)
    new_params = dataclasses.replace(params, **changes)

    if chosen is None:
        record: dict[str, Any] = {"name": scenario_name, "active": False}
    else:
        record = {
            "name": f"{scenario_name}:{profile}" if profile else scenario_name,
            "label": chosen.label,
            "defaults": dict(chosen),
            "applied": applied,
            "skipped": skipped,
            "active": True,
        }
    record["effective_group_count"] = new_params.group_count
    record["effective_batch_size"] = batch_size
    return new_params, new_params.group_count, batch_size, record


#: (scan, object_set) pairs the workbook runs: the non-grid and the grid protocol, and for
#: designed studies the other two (random scans of separate objects, a grid scan of one
#: object's halves), so scan and object set can vary alone.
SUPPORTED_PROTOCOLS = (("random", "halves"), ("grid", "separate"), ("random", "separate"), ("grid", "halves"))


@dataclass(frozen=True)
class ResolvedRun:
    """Everything a scenario run needs, resolved from scenario + profile + overrides."""

    params: RunParams
    spec: ScenarioSpec
    group_count: int
    batch_size: int
    profile: dict[str, Any]
    counts: tuple[int, int, int]

    @property
    def n_train_groups(self) -> int:
        per_group = self.spec.channels if self.spec.fixed_groups else 1
        return min(self.group_count * self.spec.group_multiplier, self.counts[1] // per_group)

    def to_dict(self) -> dict[str, Any]:
        total, train, test = self.counts
        return {
            "params": self.params.to_dict(),
            "scenario": self.spec.to_dict(),
            "group_count": self.group_count,
            "batch_size": self.batch_size,
            "counts": {"total": total, "train": train, "test": test},
        }


def resolve_run(
    scenario: str | ScenarioSpec,
    overrides: Mapping[str, Any] | None = None,
    *,
    params: RunParams | None = None,
    n_total: int | None = None,
    profile: str | None = None,
) -> ResolvedRun:
    """Resolve a scenario run: profile, overrides, counts, and the capacity checks.

    ``n_total`` (the number of patterns of an imported data file) replaces the simulated
    count ``base_total_images·gridsize²·image_multiplier``.

    Raises ``ValueError`` (naming the knob and the limit) when the groups asked for do not
    fit the positions available in a split.
    """
    spec = get_scenario(scenario) if isinstance(scenario, str) else scenario
    if not isinstance(spec, ScenarioSpec):
        raise TypeError(f"scenario must be a name or ScenarioSpec, got {type(scenario).__name__}")
    overrides = dict(overrides or {})
    scen_changes = {k: overrides[k] for k in SCENARIO_KNOBS if overrides.get(k) is not None}
    if scen_changes:
        spec = dataclasses.replace(spec, **scen_changes)
    p, group_count, batch_size, record = resolve_profile(
        spec.name, params or RunParams(), overrides, profile=profile
    )
    if (spec.scan, spec.object_set) not in SUPPORTED_PROTOCOLS:
        raise ValueError(
            f"scan={spec.scan!r} with object_set={spec.object_set!r} is not supported; "
            "use scan=random with object_set=halves (non-grid) or separate, or scan=grid with "
            "object_set=separate (grid)"
        )
    if spec.scan == "grid":
        if n_total is not None:
            raise ValueError("imported data (--data) carry their own positions; use a non-grid scenario")
        return _resolve_grid(spec, p, group_count, batch_size, record)
    C = spec.channels
    if spec.group_geometry == "square" and n_total is not None:
        raise ValueError("imported data (--data) carry their own positions; use group_geometry=knn")
    if spec.object_set == "separate":  # random scans of separate objects: the non-grid density on each
        if n_total is not None:
            raise ValueError("imported data (--data) are one scan; use object_set=halves")
        per_object = derive_counts(p, spec.gridsize, spec.image_multiplier)[0]
        if spec.group_geometry == "square":  # whole 2x2 squares
            per_object -= per_object % C
        counts = ((spec.n_objects + 1) * per_object, spec.n_objects * per_object, per_object)
    elif spec.group_geometry == "square":  # random centres, split by centre y like single positions
        n_groups = derive_counts(p, spec.gridsize, spec.image_multiplier)[0] // C
        test_groups = n_test_of(n_groups, p.split_fraction)
        counts = (n_groups * C, (n_groups - test_groups) * C, test_groups * C)
    elif n_total is None:
        counts = derive_counts(p, spec.gridsize, spec.image_multiplier)
    else:
        n = check_int("n_total", n_total, minimum=2)
        counts = (n, n - n_test_of(n, p.split_fraction), n_test_of(n, p.split_fraction))
    _, train, test = counts
    if spec.group_geometry == "square":
        train, test = train // C, test // C  # groups, not positions, are what group_count draws
    elif C > 1:
        if p.neighbor_count < C:
            raise ValueError(
                f"neighbor_count={p.neighbor_count} is below the group size C={C} "
                f"(gridsize {spec.gridsize}); it must be >= {C}"
            )
        if min(train, test) < p.neighbor_count + 1:
            raise ValueError(
                f"a split has {min(train, test)} positions, fewer than neighbor_count+1="
                f"{p.neighbor_count + 1}; raise base_total_images"
            )
    want = group_count * spec.group_multiplier
    for split, n in (("test", test), ("train", train)):
        if want > n:
            raise ValueError(
                f"group_count={want} exceeds the {n} {split} positions; lower group_count "
                "or raise base_total_images"
            )
    return ResolvedRun(p, spec, group_count, batch_size, record, counts)


def _resolve_grid(
    spec: ScenarioSpec, p: RunParams, group_count: int, batch_size: int, record: dict
) -> ResolvedRun:
    """Counts of the grid protocol: ``n_objects`` training objects scanned at
    ``train_stride``, the first test object at ``test_stride``; ``group_count`` caps the
    training groups used (a seeded subset), every test tile is available."""
    halves = spec.object_set == "halves"  # one object: training grid on one half, test tiles on the other
    train_g, test_g = grid_group_counts(
        p.object_size,
        p.N,
        spec.train_stride,
        spec.test_stride,
        spec.gridsize,
        spec.group_offset,
        split_fraction=p.split_fraction if halves else None,
    )
    C = spec.channels
    n_objects = 1 if halves else spec.n_objects
    available = n_objects * train_g
    if "group_count" in record.get("applied", {}) and group_count * spec.group_multiplier > available:
        # the grid profiles' group_count means "every training group"; one object's half has fewer
        group_count = available // spec.group_multiplier
        p = dataclasses.replace(p, group_count=group_count)
        record["effective_group_count"] = group_count
    want = group_count * spec.group_multiplier
    if want > available:
        raise ValueError(
            f"group_count={want} exceeds the {available} training groups of the grid "
            f"({n_objects} objects × {train_g}); lower group_count or train_stride"
        )
    counts = (available * C + test_g * C, available * C, test_g * C)
    return ResolvedRun(p, spec, group_count, batch_size, record, counts)
