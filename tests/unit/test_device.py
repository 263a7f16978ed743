"""``--device auto|gpu|cpu``: a GPU asked for and missing is an error naming the fix (before a
hub exists, and again in the kernel when the backend cannot use the GPU the driver shows);
the device and backend are recorded; an out-of-memory error names the stable profile and
``--batch-size``."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from ptycho_helpers import runtime
from ptycho_helpers.config import RunSettings
from ptycho_helpers.plan import resolve


def test_gpu_hidden_by_cuda_visible_devices_is_not_visible(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert runtime.gpu_visible() is False
    with pytest.raises(ValueError, match="--device gpu: no GPU is visible.*make venv GPU=1.*--device cpu"):
        runtime.check_device("gpu")
    runtime.check_device("auto")  # auto falls back to the CPU, by definition
    runtime.check_device("cpu")


def test_device_is_a_validated_setting():
    assert RunSettings().device == "auto"
    with pytest.raises(ValueError, match="device"):
        RunSettings(device="tpu")


def test_cli_refuses_gpu_without_one_before_a_hub(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1"}
    res = subprocess.run(
        [sys.executable, "-m", "ptycho_helpers", "run", "gs1_ideal", "--device", "gpu"]
        + ["--reports-dir", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 2, res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert "Traceback" not in res.stderr and "--device gpu" in lines[-1] and "--device cpu" in lines[-1]
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_backend_without_gpu_support_refuses_gpu_in_the_kernel(monkeypatch):
    """A driver is visible but the installed backend is a CPU build (tensorflow-cpu): the
    kernel refuses instead of training on the CPU silently."""
    pytest.importorskip("keras")
    monkeypatch.setattr(resolve, "gpu_visible", lambda: True)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    import keras

    from ptycho_helpers.pinn import device

    if device._backend_gpus(keras.backend.backend()):
        pytest.skip("this machine has a usable GPU")
    runtime.check_device("gpu")  # the parent-side check passes: a driver is "visible"
    with pytest.raises(device.DeviceUnavailable, match="sees no GPU.*make venv GPU=1"):
        device.describe_device("gpu")


def test_describe_device_records_kind_backend_and_versions():
    keras = pytest.importorskip("keras")
    from ptycho_helpers.pinn.device import describe_device

    d = describe_device("cpu")
    assert d["requested"] == "cpu" and d["kind"] == "cpu" and d["gpus"] == 0
    assert d["backend"] == keras.backend.backend()
    assert d["keras_version"] == keras.__version__ and d["backend_version"]
    assert d["cpus"] == os.cpu_count()


def test_out_of_memory_names_the_stable_profile_and_batch_size(tiny_raw, monkeypatch):
    """A real ResourceExhaustedError raised inside fit becomes the one-line fix."""
    tf = pytest.importorskip("tensorflow")
    import keras

    import ptycho_helpers as ph
    from ptycho_helpers.config import ModelConfig, TrainConfig
    from ptycho_helpers.core.grouping import gather_groups
    from ptycho_helpers.pinn import device as device_mod
    from ptycho_helpers.pinn import train as train_mod

    raw, probe = tiny_raw, tiny_raw.probeGuess
    N = raw.diffraction.shape[-1]
    groups = ph.group_positions(raw.positions, gridsize=1, n_groups=8, neighbor_count=4, rng=0)
    data = gather_groups(raw.diffraction, raw.positions, groups)

    def oom(self, *args, **kwargs):
        raise tf.errors.ResourceExhaustedError(
            None, None, "OOM when allocating tensor with shape[16,64,64,64]"
        )

    monkeypatch.setattr(keras.Model, "fit", oom)
    with pytest.raises(device_mod.DeviceOutOfMemory) as exc:
        train_mod.train_pinn(
            data,
            model_config=ModelConfig(N=N),
            train_config=TrainConfig(nepochs=1, batch_size=16),
            probe=np.asarray(probe),
            nphotons=1e9,
        )
    msg = str(exc.value)
    assert "stable profile" in msg and "--batch-size" in msg and "batch size 16" in msg and "\n" not in msg
    for other in (MemoryError(), RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate")):
        assert device_mod.is_out_of_memory(other)
    assert not device_mod.is_out_of_memory(ValueError("shapes do not match"))
