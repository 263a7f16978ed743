"""Process-level setup for entry points (notebooks, CLI): logging, the device and a quiet
Keras backend (TensorFlow by default; JAX and PyTorch through ``KERAS_BACKEND``).

Only entry points call these; library modules never configure logging or touch the
environment at import.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from .config import LAUNCHER_ENV
from .plan.resolve import check_device, gpu_visible  # noqa: F401  (re-exported: the entry points' device check)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def silenced_stderr() -> Iterator[None]:
    """Redirect the process-level stderr (fd 2) to /dev/null inside the block.

    TensorFlow's C++ runtime writes its start-up lines straight to fd 2, which Jupyter
    kernels capture into the notebook; ``TF_CPP_MIN_LOG_LEVEL`` does not stop all of them.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _hide_gpus() -> None:
    os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
    os.environ["JAX_PLATFORMS"] = "cpu"


def import_backend_quietly(device: str = "auto"):
    """Import Keras and its backend with stderr silenced and the device chosen.

    ``device="cpu"`` hides every GPU before the backend starts; whether the backend can
    use the GPU that ``gpu`` asks for is checked by the run record
    (:func:`ptycho_helpers.pinn.device.describe_device`).  TensorFlow:
    the runtime is initialised here (its C++ start-up lines never reach a notebook) and
    ``PTYCHO_TF_THREADS`` (set by sweeps: cores per Dask worker) caps its threads.
    Returns the ``keras`` module.
    """
    check_device(device)
    if device == "cpu":
        _hide_gpus()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with silenced_stderr():
        import keras

        backend = keras.backend.backend()
        threads = os.environ.get("PTYCHO_TF_THREADS")
        if backend == "tensorflow":
            import tensorflow as tf

            if threads:
                tf.config.threading.set_intra_op_parallelism_threads(int(threads))
                tf.config.threading.set_inter_op_parallelism_threads(1)
            tf.constant(1.0) + 1.0  # first op: device initialisation messages
            tf.signal.fft2d(tf.zeros((2, 2), tf.complex64))
            tf.get_logger().setLevel(logging.ERROR)
        elif backend == "torch" and threads:
            import torch

            torch.set_num_threads(int(threads))
    return keras


def configure_logging(level: int = logging.INFO, stream=None) -> None:
    """One plain line per record (no colour, no carriage returns) to ``stream`` (stdout)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_ptycho_helpers", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%H:%M:%S"))
    handler._ptycho_helpers = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("ptycho_helpers").setLevel(level)


def die_with_parent(poll_s: float = 1.0) -> None:
    """End this process when the process that launched the run dies.

    A kernel is the child of a papermill process started by ``run``/``rerun`` or by a Dask
    worker (which names itself in ``PTYCHO_LAUNCHER_PID``); when that launcher is killed
    (even by SIGKILL, which no handler sees) the kernel would go on training and later
    mark its run ``complete``.  A daemon thread watches the launcher pid and this
    process's parent and sends this process SIGTERM when either goes; the run then stays
    ``running``, which every reader reports as ``incomplete``.  (Not ``prctl``'s
    parent-death signal: that fires when the *thread* that spawned the child ends, and
    Dask workers spawn from pool threads.)"""
    import os
    import signal
    import threading
    import time

    parent = os.getppid()
    launcher = int(os.environ.get(LAUNCHER_ENV, "0") or 0)
    if parent == 1 and not launcher:
        return

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        try:  # killed but not yet reaped by its own parent
            return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            return False

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent or (launcher and gone(launcher)):
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def refuse_unknown_parameters(namespace: dict) -> None:
    """The scenario notebook's first line after its parameters: a parameter it does not
    declare (a typo given to papermill or set in JupyterLab) stops the run before anything
    is written, naming the known ones."""
    from .knobs import BY_NAME, RUN_PARAMETER_NAMES, unknown_parameters

    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    hidden = getattr(shell, "user_ns_hidden", None) or {}
    unknown = unknown_parameters(namespace, hidden)
    if unknown:
        raise ValueError(
            f"unknown notebook parameter(s) {unknown}; known: {', '.join([*RUN_PARAMETER_NAMES, *BY_NAME])}"
        )


def setup_notebook(device: str | None = "auto") -> None:
    """Called by the notebooks' first code cell: the Keras backend on the chosen device
    (quiet start-up), plain logging to stdout, and the kernel ends with the process that
    launched it (:func:`die_with_parent`)."""
    die_with_parent()
    configure_logging()
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    logging.getLogger("ptycho_helpers.runtime").info(
        "starting Keras on the %s backend (device %s); the first import takes ~10-20 s",
        backend,
        device or "auto",
    )
    import_backend_quietly(device or "auto")
