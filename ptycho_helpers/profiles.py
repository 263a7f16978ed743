"""Stable and named profiles (DESIGN §4): the workload (and, for named and grid profiles,
the run settings) a scenario runs with unless the caller gives a value."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .core.checks import check_declared
from .knobs import BY_NAME, SETTING_KNOBS


@dataclass(frozen=True)
class Profile(Mapping[str, Any]):
    """A typed partial run request: a label kept apart from its values (knob → value).

    Every value is checked at import against its knob's one declaration (type, bounds,
    choices), so a profile with a typo'd knob or a bad value fails when the package loads,
    not when a run uses it.  Read-only; iterates over the values only.
    """

    label: str
    values: Mapping[str, Any]

    def __post_init__(self) -> None:
        checked = {}
        for knob, value in self.values.items():
            if knob not in BY_NAME:
                raise ValueError(f"profile {self.label!r}: unknown knob {knob!r}")
            f = BY_NAME[knob].field
            checked[knob] = check_declared(knob, str(f.type), value, f.metadata)
        object.__setattr__(self, "values", MappingProxyType(checked))

    def __getitem__(self, knob: str) -> Any:
        return self.values[knob]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


#: The reference's training and stitching for the grid scenarios: batch 16, Adam 1e-3
#: constant, no validation split, seamless 10x10 tiles at the test stride, every test tile
#: stitched, the PINN alone (no refinement), the reference's CNN (no physics input) and the
#: reference's amplitude head: a sigmoid, which matches the patch-max object units of the
#: grid protocol (amplitudes in [0, 1]); softplus there can stay on the flat image (issue 24).
_GRID_RUN = {
    "amp_activation": "sigmoid",
    "intensity_scale": "reference",  # one trainable log-scale at sqrt(nphotons)/(N/2)
    "batch_size": 16,
    "learning_rate": 1e-3,
    "lr_schedule": "constant",
    "validation_fraction": 0.0,
    "refine_steps": 0,
    "backprojection": 0,  # the reference's CNN: no physics input (and none for one object per group)
    "reassemble_M": 10,
    "group_limit": 100_000,
}


#: All training groups of the default object (392 px, N = 64): 2·83² and 2·82².
_GRID_GROUPS = {"gs1_grid": 13_778, "gs2_grid": 13_448}


def _grid_profile(scenario: str, label: str, **settings: Any) -> Profile:
    return Profile(f"{scenario} {label}", {"group_count": _GRID_GROUPS[scenario], **_GRID_RUN, **settings})


STABLE_PROFILES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        **{
            sc: _grid_profile(
                sc, "stable profile (reference data and training, 500 steps: a quick CPU check)", steps=500
            )
            for sc in _GRID_GROUPS
        },
        "gs1_ideal": Profile(
            "gs1_ideal stable profile (reduced load: 512 images, 256 groups, batch 8)",
            {
                "base_total_images": 512,
                "group_count": 256,
                "batch_size": 8,
            },
        ),
        "gs2_ideal": Profile(
            "gs2_ideal stable profile (reduced load: 256 images, 128 groups, batch 4, K=4)",
            {
                "base_total_images": 256,
                "group_count": 128,
                "batch_size": 4,
                "neighbor_count": 4,
            },
        ),
    }
)


#: Named profiles (not stable-profile replacements): chosen explicitly with ``profile=``.
#: Workload knobs as in the stable profiles, plus run settings (``nepochs``, ``group_limit``)
#: that the CLI / ``runs`` apply when the caller did not give them.
NAMED_PROFILES: Mapping[str, Mapping[str, Mapping[str, Any]]] = MappingProxyType(
    {
        "full": MappingProxyType(
            {
                "gs1_ideal": Profile(
                    "gs1_ideal full profile (2000 images, 1000 groups, batch 16, 30 epochs, "
                    "all test groups stitched)",
                    {
                        "base_total_images": 2000,
                        "group_count": 1000,
                        "batch_size": 16,
                        "nepochs": 30,
                        "group_limit": 1000,
                    },
                ),
                "gs2_ideal": Profile(
                    "gs2_ideal full profile (2000 images, 1000 groups, batch 16, K=4, 30 epochs, "
                    "all test groups stitched)",
                    {
                        "base_total_images": 2000,
                        "group_count": 1000,
                        "batch_size": 16,
                        "neighbor_count": 4,
                        "nepochs": 30,
                        "group_limit": 1000,
                    },
                ),
            }
        ),
        **{
            name: MappingProxyType({sc: _grid_profile(sc, label, **kw) for sc in _GRID_GROUPS})
            for name, label, kw in (
                (
                    "cpu2k",
                    "CPU profile: 2,000 steps, curve on the whole test object every 250 (about 13 min on 2 cores)",
                    {"steps": 2_000, "curve_every": 250, "curve_groups": 0},
                ),
                (
                    "cpu10k",
                    "CPU profile: 10,000 steps, curve on the whole test object every 1,000 (about 60 min on 2 cores)",
                    {"steps": 10_000, "curve_every": 1_000, "curve_groups": 0},
                ),
                (
                    "paper",
                    "paper profile: the reference's budget, up to 60 epochs ≈ 50,000 steps (GPU or overnight CPU)",
                    {"nepochs": 60, "steps": 0, "curve_every": 2_500, "curve_groups": 0},
                ),
            )
        },
    }
)


PROFILE_SETTINGS = SETTING_KNOBS


def named_profile(name: str, scenario: str) -> Mapping[str, Any]:
    """The named profile's block for a scenario; clear errors for unknown names/scenarios."""
    if name not in NAMED_PROFILES:
        raise ValueError(f"unknown profile {name!r}; named profiles: {', '.join(NAMED_PROFILES)}")
    if scenario not in NAMED_PROFILES[name]:
        raise ValueError(
            f"profile {name!r} has no settings for {scenario!r}; it covers {', '.join(NAMED_PROFILES[name])}"
        )
    return NAMED_PROFILES[name][scenario]


def profile_settings(name: str | None, scenario: str) -> dict[str, Any]:
    """Run-setting defaults (nepochs, steps, learning_rate, ...) of the named profile, or of
    the scenario's stable profile without one; {} when neither sets any."""
    block = named_profile(name, scenario) if name else STABLE_PROFILES.get(scenario, {})
    return {k: block[k] for k in PROFILE_SETTINGS if k in block}
