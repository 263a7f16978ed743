"""The planning layer: what both processes compute before anything is written.

The parent (``runs``, ``sweep``, ``ladder``, the CLI) calls these to validate a run before a
hub exists; the kernel (``run.record``, ``run.stages``) calls the same functions on the same
values, so a run started by papermill directly resolves exactly like one started by the CLI.
It sits between the configuration and both sides: it imports only ``core``, ``hub`` and
the configuration modules (``tests/unit/test_layers.py``), never TensorFlow or Keras.

- :mod:`.resolve`: the run settings a named profile implies, the imported data's size,
  the custom probe file, the device, the classical engine's install, the memory estimate.
- :mod:`.telemetry`: reassembly telemetry of a scenario's stitched test groups (the kernel
  writes it into the hub; ``reassembly-report`` prints it without a run).
"""

from .resolve import (
    RUNTIME_BYTES,
    available_memory_bytes,
    check_device,
    estimate_memory_bytes,
    gpu_visible,
    plan_run,
    preflight,
    resolve_for,
    settings_for,
)

__all__ = [
    "RUNTIME_BYTES",
    "available_memory_bytes",
    "check_device",
    "estimate_memory_bytes",
    "gpu_visible",
    "plan_run",
    "preflight",
    "resolve_for",
    "settings_for",
]
