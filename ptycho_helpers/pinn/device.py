"""Which device the Keras backend computes on, recorded in ``run_metadata.json["device"]``.

The parent checks only what needs no backend (:func:`ptycho_helpers.plan.check_device`:
a driver is visible); here, in the kernel, the backend itself is asked, so a CPU-only build
(``tensorflow-cpu``) on a GPU machine is refused for ``--device gpu`` instead of training on
the CPU silently.
"""

from __future__ import annotations

import importlib
import os
import platform

from ..config import GPU_SETUP_HINT


class DeviceUnavailable(RuntimeError):
    """``--device gpu`` and the backend sees no GPU."""


def _backend_gpus(backend: str) -> list[dict]:
    """GPUs the imported backend can use: ``[{name, memory_bytes}]``."""
    out: list[dict] = []
    if backend == "tensorflow":
        import tensorflow as tf

        for d in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(d)
            out.append({"name": details.get("device_name", d.name), "memory_bytes": None})
    elif backend == "jax":
        import jax

        try:
            devices = jax.devices("gpu")
        except RuntimeError:  # no GPU platform
            devices = []
        for d in devices:
            stats = d.memory_stats() or {}
            out.append({"name": d.device_kind, "memory_bytes": stats.get("bytes_limit")})
    elif backend == "torch":
        import torch

        for k in range(torch.cuda.device_count()):
            prop = torch.cuda.get_device_properties(k)
            out.append({"name": prop.name, "memory_bytes": int(prop.total_memory)})
    return out


def describe_device(device: str = "auto") -> dict:
    """What a run computes on (recorded in ``run_metadata.json["device"]``): the request,
    the kind (``gpu``/``cpu``), the GPU's name and memory, the Keras backend and versions."""

    import keras

    backend = keras.backend.backend()
    gpus = [] if device == "cpu" else _backend_gpus(backend)
    if device == "gpu" and not gpus:
        raise DeviceUnavailable(f"--device gpu: the Keras backend {backend!r} sees no GPU; {GPU_SETUP_HINT}")
    # the backend module is imported by now; its own version string (tensorflow-cpu and the
    # CUDA build report the same release)
    backend_version = getattr(importlib.import_module(backend), "__version__", None)
    first = gpus[0] if gpus else {}
    return {
        "requested": device,
        "kind": "gpu" if gpus else "cpu",
        "name": first.get("name") or platform.processor() or platform.machine(),
        "memory_bytes": first.get("memory_bytes"),
        "gpus": len(gpus),
        "cpus": os.cpu_count(),
        "backend": backend,
        "backend_version": backend_version,
        "keras_version": keras.__version__,
    }


class DeviceOutOfMemory(RuntimeError):
    """The device ran out of memory during training; the message names the fix."""


def is_out_of_memory(exc: BaseException) -> bool:
    """An out-of-memory error of any Keras backend: TensorFlow's ``ResourceExhaustedError``,
    XLA's ``RESOURCE_EXHAUSTED`` (JAX), PyTorch's ``OutOfMemoryError``, or a host
    ``MemoryError``."""
    if isinstance(exc, MemoryError):
        return True
    text = f"{type(exc).__name__}: {exc}"
    return any(m in text for m in ("ResourceExhausted", "RESOURCE_EXHAUSTED", "OutOfMemory", "out of memory"))


def out_of_memory_error(exc: BaseException, batch_size: int, n_groups: int) -> DeviceOutOfMemory:
    """The one-line error a run fails with when the device's memory is exhausted."""
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return DeviceOutOfMemory(
        f"out of memory while training {n_groups} groups at batch size {batch_size} ({first}); "
        "run the scenario's stable profile (drop --profile and the workload flags) or lower --batch-size"
    )
