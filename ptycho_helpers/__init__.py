"""ptycho_helpers — the library behind the ptycho-workbook notebooks.

Importing this package does nothing beyond defining names: no TensorFlow import, no
seeding, no file I/O, no logging configuration.  TensorFlow-dependent modules
(``model``, ``train``, ``infer``) are imported only when used.
"""

from .config import ModelConfig, RunParams, ScenarioSpec, TrainConfig
from .grouping import Groups, group_positions
from .physics import far_field_intensity, normalize_probe_guess
from .reassemble import Stitched, canvas_requirement, reassemble_patches, reassembly_telemetry
from .scenarios import (
    SCENARIOS,
    STABLE_PROFILES,
    derive_counts,
    load_snapshot,
    resolve_profile,
    resolve_run,
)
from .simulate import (
    RawData,
    make_lines_object,
    make_probe,
    simulate_nongrid_raw_data,
    split_raw_data_by_axis,
)

__version__ = "0.1.0"

__all__ = [
    "SCENARIOS",
    "STABLE_PROFILES",
    "Groups",
    "ModelConfig",
    "RawData",
    "RunParams",
    "ScenarioSpec",
    "Stitched",
    "TrainConfig",
    "canvas_requirement",
    "derive_counts",
    "far_field_intensity",
    "group_positions",
    "load_snapshot",
    "make_lines_object",
    "make_probe",
    "normalize_probe_guess",
    "reassemble_patches",
    "reassembly_telemetry",
    "resolve_profile",
    "resolve_run",
    "simulate_nongrid_raw_data",
    "split_raw_data_by_axis",
]
