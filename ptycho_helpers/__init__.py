"""ptycho_helpers — the library behind the ptycho-workbook notebooks.

Importing this package does nothing beyond defining names: no TensorFlow import, no
seeding, no file I/O, no logging configuration.  TensorFlow-dependent modules
(``pinn/``) are imported only when used.

Layers (each imports only downward; ``tests/unit/test_layers.py`` enforces it):
``core/`` numpy physics, simulation, grouping, stitching, metrics; ``pinn/`` the Keras model,
training, bundles, inference, refinement; ``run/`` one scenario in the kernel; ``hub/`` files;
at the top the records (``config``, ``knobs``, ``scenarios``) and the parent side (``plan``,
``runs``, ``sweep``, ``studies``, ``cli``, ``runtime``).
"""

from .config import ModelConfig, RunParams, ScenarioSpec, TrainConfig
from .core.grouping import Groups, group_positions
from .core.physics import far_field_intensity, normalize_probe_guess
from .core.reassemble import Stitched, canvas_requirement, reassemble_patches, reassembly_telemetry
from .core.simulate import (
    RawData,
    make_lines_object,
    make_probe,
    simulate_nongrid_raw_data,
    split_raw_data_by_axis,
)
from .hub.snapshot import load_snapshot
from .scenarios import SCENARIOS, STABLE_PROFILES, derive_counts, resolve_profile, resolve_run

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
