"""Planning a run before anything is written: the run settings a named profile implies,
the imported data's size, the custom probe file and the memory estimate.

The parent (``runs``, ``sweep``) calls these to validate before a hub exists; the kernel
(``run.record.start_scenario``) calls the same functions on the same values, so a run
started by papermill directly resolves exactly like one started by the CLI.
"""

from __future__ import annotations

import glob
import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..config import DEVICES, GPU_SETUP_HINT, ModelConfig, RunParams, RunSettings, check_model_rules
from ..core.noise import SIM_SLICE
from ..core.simulate import make_probe, split_indices_by_axis
from ..hub import interchange
from ..scenarios import ResolvedRun, profile_settings, resolve_run

#: what a kernel holds before any data: Python, the Keras backend, the model and its optimiser
RUNTIME_BYTES = int(1.5 * 2**30)


def model_bytes(N: int, dense_bottleneck: int) -> int:
    """Training memory of the optional dense bottleneck (its two layers' weights with their
    gradients and Adam's two moments: 4 × float32 per parameter); the convolutional model
    itself is part of :data:`RUNTIME_BYTES`."""
    if not dense_bottleneck:
        return 0
    side, f3 = N // 8, ModelConfig(N=N).encoder_filters[2]
    params = dense_bottleneck * side * side * f3 * 1.25  # flatten -> width, width -> side²·f3/4
    return int(params * 4 * 4)


#: complex64 canvases of one stitch held at once (image, weights, truth, a difference map)
CANVAS_COPIES = 4


def estimate_memory_bytes(resolved: ResolvedRun, settings: RunSettings | None = None) -> int:
    """Rough peak memory of a run (each run records it beside its measured peak, run_metadata "memory"):
    the float32 diffraction of every pattern, the simulation slices in flight
    (``noise.noisy_diffraction``), the object canvas, the grouped training copy (gathered
    one member at a time; training feeds batches by index: no further copies), the
    runtime, and a dense bottleneck's weights when the settings ask for one."""
    p, C = resolved.params, resolved.spec.channels
    n = resolved.counts[0]
    sim = n * p.N * p.N * 4 + 2 * SIM_SLICE * p.N * p.N * 64
    obj = (2 * p.object_size) ** 2 * 8 * 4  # line canvas and three blurs
    groups = 1.25 * resolved.n_train_groups * C * p.N * p.N * 4  # the copy and one member in flight
    dense = model_bytes(p.N, settings.dense_bottleneck) if settings is not None else 0
    return int(sim + obj + groups + RUNTIME_BYTES + dense)


def gpu_visible() -> bool:
    """Whether an NVIDIA GPU is visible to this process, without importing a backend:
    a driver entry (``/proc/driver/nvidia/gpus/*`` or ``/dev/nvidia<k>``) and a
    ``CUDA_VISIBLE_DEVICES`` that does not hide every device."""
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in ("", "-1"):
        return False
    return bool(glob.glob("/proc/driver/nvidia/gpus/*") or glob.glob("/dev/nvidia[0-9]*"))


def check_device(device: str) -> None:
    """No backend import: ``gpu`` asked for with none visible is an error."""
    if device not in DEVICES:
        raise ValueError(f"device={device!r} is not one of {', '.join(DEVICES)}")
    if device == "gpu" and not gpu_visible():
        raise ValueError(f"--device gpu: no GPU is visible to this machine; {GPU_SETUP_HINT}")


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
    """Checks that need no computation: the custom probe file, the classical engine's
    install (found, not imported) and the memory estimate.

    Raises ``ValueError``/``FileNotFoundError`` before anything is allocated or written.
    """
    check_device(settings.device)  # --device gpu without a visible GPU: refused here, not in the kernel
    if settings.data_path is not None and resolved.spec.object_units != "as_is":
        raise ValueError(
            f"object_units={resolved.spec.object_units!r} rescales a simulated object; imported data (--data) "
            "keep their own units: drop --object-units"
        )
    if settings.custom_probe_path is not None and resolved.spec.probe_mode != "custom":
        raise ValueError(
            f"custom_probe_path is read only with probe_mode custom, and {resolved.spec.name} uses "
            f"probe_mode {resolved.spec.probe_mode}: add --probe-mode custom or drop --custom-probe-path"
        )
    if resolved.spec.probe_mode == "custom" and settings.data_path is None:
        if resolved.params.N != 64 and settings.custom_probe_path is None:
            raise ValueError("the shipped synthetic probe is 64x64; give custom_probe_path for N != 64")
        make_probe(resolved.params.N, "custom", settings.custom_probe_path)
    check_model_rules(
        intensity_scale=settings.intensity_scale,
        backprojection=settings.backprojection,
        prediction=resolved.spec.prediction if resolved.spec.gridsize > 1 else "member",
    )
    if settings.classical != "none" and importlib.util.find_spec("PtyLab") is None:
        raise ValueError(
            "the classical engine PtyLab is not installed: run `make venv` (requirements.txt pins ptylab) "
            "or pass --classical none"
        )
    need, have = estimate_memory_bytes(resolved, settings), available_memory_bytes()
    if settings.data_path is not None:  # the stitching canvases span the file's positions
        w, h = interchange.scan_extent(settings.data_path)
        N = resolved.params.N
        canvas = CANVAS_COPIES * (w + 2 * N) * (h + 2 * N) * 8
        if canvas > 0.8 * have:
            raise ValueError(
                f"the scan positions of {settings.data_path!r} span {w:.0f} x {h:.0f} px; stitching them needs about "
                f"{canvas / 2**30:.1f} GiB but only {have / 2**30:.1f} GiB are available: are xcoords/ycoords in pixels?"
            )
        need += canvas
    if need > 0.8 * have:
        dense = model_bytes(resolved.params.N, settings.dense_bottleneck)
        fix = (
            f"the dense bottleneck alone needs {dense / 2**30:.1f} GiB: lower --dense-bottleneck"
            if dense > need / 2
            else "lower base_total_images, group_count or object_size"
        )
        raise ValueError(
            f"this run needs about {need / 2**30:.1f} GiB but only {have / 2**30:.1f} GiB are available; {fix}"
        )


def resolve_for(
    scenario: str, overrides: dict[str, Any] | None, settings: RunSettings, *, profile: str | None = None
) -> ResolvedRun:
    """``resolve_run`` for simulated data, or sized by an imported NPZ (``data_path``)."""
    if settings.data_path is None:
        return resolve_run(scenario, overrides, profile=profile)
    data = interchange.import_npz(settings.data_path)
    resolved = resolve_run(scenario, overrides, params=RunParams(N=data.N), n_total=data.n, profile=profile)
    check_splits_have_signal(data, resolved.params.split_fraction, settings.data_path)
    return resolved


def check_splits_have_signal(data, split_fraction: float, path: str) -> None:
    """Each y-split of an imported file must be mostly patterns with counts: a split of
    empty patterns trains on nothing (its data scale is ~0 and the run diverges with a
    misleading hint)."""
    train, test = split_indices_by_axis(data.ycoords, split_fraction)
    has_counts = np.any(data.diffraction > 0, axis=(1, 2))  # per pattern, no copy of a split
    for name, idx in (("training", train), ("test", test)):
        empty = int(np.sum(~has_counts[idx]))
        if 2 * empty > len(idx):
            raise ValueError(
                f"the {name} split of {path!r} ({len(idx)} patterns by y, split_fraction {split_fraction}) has "
                f"{empty} patterns without counts; check the file or split_fraction"
            )


def settings_for(
    scenario: str, given: Mapping[str, Any] | None, *, profile: str | None = None
) -> RunSettings:
    """Run settings of a scenario: the named profile's settings (nepochs, group_limit),
    then the caller's values (``None`` = not given), over the :class:`RunSettings` defaults."""
    values = {k: v for k, v in (given or {}).items() if v is not None}
    return RunSettings(**{**profile_settings(profile, scenario), **values})


#: Keras 3 backends the workbook runs on (its model is written with keras.ops only)
BACKENDS = ("tensorflow", "jax", "torch")


def check_backend() -> str:
    """The Keras backend the kernel will use (``KERAS_BACKEND``, default tensorflow): a
    name Keras knows whose package is installed, or a ``ValueError`` naming the fix (it
    used to fail only inside the kernel, after the hub was made)."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend not in BACKENDS:
        raise ValueError(
            f"KERAS_BACKEND={backend!r} is not a backend the workbook runs on; use one of {', '.join(BACKENDS)}"
        )
    if importlib.util.find_spec(backend) is None:
        raise ValueError(
            f"KERAS_BACKEND={backend!r} but {backend} is not installed in this environment; install it or unset KERAS_BACKEND"
        )
    return backend


def plan_run(
    scenario: str, values: Mapping[str, Any] | None, *, profile: str | None = None
) -> tuple[ResolvedRun, RunSettings, dict[str, Any]]:
    """Resolve and check a scenario run from knob values (any mix of profile knobs and run
    settings, ``None`` = not given) without writing anything.

    Returns ``(resolved, settings, overrides)``; raises ``ValueError``/``TypeError``/
    ``FileNotFoundError`` with a one-line message naming the bad value.
    """
    from ..knobs import split_values

    check_backend()
    overrides, given = split_values(values)
    settings = settings_for(scenario, given, profile=profile)
    resolved = resolve_for(scenario, overrides, settings, profile=profile)
    preflight(resolved, settings)
    return resolved, settings, overrides
