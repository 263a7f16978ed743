"""Classical iterative ptychography beside the PINN: PtyLab's mPIE/ePIE with the known
probe, on our geometry (no hand-written solver).

Geometry: our patch pixel ``(i, j)`` of a scan at ``(x, y)`` samples object pixel
``(y - N/2 + i, x - N/2 + j)`` (:func:`physics.extract_patches`); PtyLab works on an
integer grid (scan ``k``'s patch starts at ``positions[k] = (row, col)`` of its canvas),
so each scan's corner is rounded, ``round(p - N/2)``, and the largest rounding is
recorded.  Our far field is ``|fftshift(fft2 ψ)|² / N²`` and PtyLab's Fraunhofer
propagator is the centred unitary FFT: the same intensity (checked in the tests), so the
engine is fed ``diffraction²`` (amplitudes in the data's object units) and our
normalised probe, and returns the object in the data's units.  The canvas is ours:
``origin`` (integer ``x, y``) is the object coordinate of canvas pixel ``[0, 0]``.
"""

from __future__ import annotations

import contextlib
import logging
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

ENGINES = ("mPIE", "ePIE")
#: flat starts: the data's mean object amplitude (``mean``) or PtyLab's ``ones``
STARTS = ("mean", "ones")
#: sampling of the detector and object planes given to PtyLab (SI units; only the ratio
#: matters for the Fraunhofer propagator: object pixel = wavelength·zo / (N·dxd) = 10 nm)
_WAVELENGTH, _DXD, _DXO = 1e-10, 75e-6, 1e-8


class ClassicalEngineError(RuntimeError):
    """The classical engine is missing or broken (one line naming the fix)."""


@contextlib.contextmanager
def quiet_progress():
    """PtyLab's engines draw ``tqdm.auto`` bars: ipywidgets in a Jupyter kernel, saved as
    ~100 frozen bars into every executed notebook.  ``TQDM_DISABLE`` does not reach them
    (``tqdm.notebook`` forces ``disable=False``), so for the duration of a call the
    engines' module-level ``tqdm``/``trange`` are disabled console bars; restored after."""
    import sys

    from tqdm import std

    def quiet(*args, **kwargs):
        return std.tqdm(*args, **{**kwargs, "disable": True})

    def quiet_range(*args, **kwargs):
        return std.tqdm(range(*args), **{**kwargs, "disable": True})

    saved = []
    for name, mod in list(sys.modules.items()):
        if name.startswith("PtyLab.Engines") and mod is not None:
            for attr, repl in (("tqdm", quiet), ("trange", quiet_range)):
                old = getattr(mod, attr, None)
                if old is not None and not isinstance(old, types.ModuleType):
                    saved.append((mod, attr, old))
                    setattr(mod, attr, repl)
    try:
        yield
    finally:
        for mod, attr, old in saved:
            setattr(mod, attr, old)


def engine_version() -> str:
    """PtyLab's version; :class:`ClassicalEngineError` when it does not import."""
    try:
        from importlib.metadata import version

        import PtyLab  # noqa: F401

        return version("ptylab")
    except Exception as exc:  # noqa: BLE001 - any import failure is a broken install
        raise ClassicalEngineError(
            f"the classical engine PtyLab does not import ({type(exc).__name__}: {exc}); "
            "reinstall with `make venv` (requirements.txt pins ptylab) or pass --classical none"
        ) from None


@dataclass(frozen=True)
class Canvas:
    """The engine's object canvas: ``origin`` (x, y) object coordinate of pixel ``[0, 0]``."""

    origin: tuple[int, int]
    side: int


def corners(positions: np.ndarray, N: int) -> tuple[np.ndarray, float]:
    """Integer patch corners ``round(p - N/2)`` (x, y) and the largest rounding in px."""
    start = np.asarray(positions, dtype=np.float64).reshape(-1, 2) - N / 2
    ul = np.round(start).astype(np.int64)
    return ul, float(np.max(np.abs(start - ul))) if ul.size else 0.0


def canvas_for(positions: np.ndarray, N: int, margin: int = 2) -> Canvas:
    """The smallest even square canvas holding every patch, with ``margin`` px around."""
    ul, _ = corners(positions, N)
    lo = ul.min(axis=0) - margin
    side = int(np.max(ul.max(axis=0) - lo) + N + margin)
    return Canvas((int(lo[0]), int(lo[1])), side + side % 2)


def mean_amplitude(amplitudes: np.ndarray, probe: np.ndarray) -> float:
    """Flat object amplitude whose patterns carry the data's mean energy (Parseval)."""
    a = np.asarray(amplitudes, dtype=np.float64)
    energy = float(np.mean(np.sum(a * a, axis=(-2, -1))))
    return float(np.sqrt(energy / np.sum(np.abs(probe) ** 2)))


def _setup(amplitudes: np.ndarray, positions: np.ndarray, probe: np.ndarray, canvas: Canvas, engine: str):
    """PtyLab's data/params/reconstruction/engine for our patterns on ``canvas``."""
    engine_version()
    _quiet_ptylab()
    from PtyLab import Engines, ExperimentalData, Params, Reconstruction
    from PtyLab.Monitor.Monitor import DummyMonitor

    if engine not in ENGINES:
        raise ValueError(f"classical engine {engine!r}: choose one of {', '.join(ENGINES)}")
    amp = np.asarray(amplitudes, dtype=np.float64)
    n, N = amp.shape[0], amp.shape[-1]
    if amp.shape != (n, N, N) or probe.shape != (N, N):
        raise ValueError(f"amplitudes {amp.shape} and probe {probe.shape} must be (n, N, N) and (N, N)")
    if not np.all(np.isfinite(amp)) or not np.any(amp > 0):
        raise ValueError("diffraction amplitudes must be finite and not all zero")
    ul, _ = corners(positions, N)
    data = ExperimentalData("test:nodata", "CPM")
    data.ptychogram = (amp * amp).astype(np.float32)
    data.wavelength, data.dxd = _WAVELENGTH, _DXD
    data.zo = _DXO * N * _DXD / _WAVELENGTH
    # PtyLab: corner = round(encoder / dxo) + No//2 - Np//2, as (row, col)
    rel = (ul - np.asarray(canvas.origin))[:, ::-1]
    if rel.min() < 0 or rel.max() + N > canvas.side:
        raise ValueError("a patch falls outside the classical canvas")
    data.encoder = (rel - canvas.side // 2 + N // 2).astype(np.float64) * _DXO
    data.entrancePupilDiameter = N * _DXO / 3
    data._setData()
    params = Params()
    params.gpuSwitch = False
    params.positionOrder = "sequential"  # deterministic
    rec = Reconstruction(data, params)
    rec.No = canvas.side
    rec.computeParameters()
    rec.initializeSettings()
    rec.initializeObjectProbe()
    if not np.array_equal(rec.positions, rel):
        raise RuntimeError("PtyLab placed the scans elsewhere than asked (geometry mismatch)")
    rec.probe = np.asarray(probe, dtype=np.complex64).reshape(rec.probe.shape)
    eng = getattr(Engines, engine)(rec, data, params, DummyMonitor())
    eng.betaProbe = 0.0  # the probe is known
    return data, rec, eng


def forward_intensity(obj: np.ndarray, positions: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """PtyLab's own forward model: ``|propagate(O_k · P)|²`` at the rounded corners of
    ``positions`` on an object whose pixel ``[0, 0]`` is object coordinate ``(0, 0)``."""
    p = np.asarray(probe)
    N = p.shape[0]
    o = np.asarray(obj, dtype=np.complex64)
    canvas = Canvas((0, 0), max(o.shape) + max(o.shape) % 2)
    ones = np.ones((len(np.asarray(positions).reshape(-1, 2)), N, N))
    _, rec, eng = _setup(ones, positions, p, canvas, "ePIE")
    eng.numIterations = 0
    with quiet_progress():
        eng.reconstruct()  # prepares the FFT conventions, no update
    out = []
    for row, col in rec.positions:
        patch = np.zeros((N, N), dtype=np.complex64)
        sub = o[row : row + N, col : col + N]
        patch[: sub.shape[0], : sub.shape[1]] = sub
        rec.esw = patch * p.astype(np.complex64)
        eng.object2detector()
        out.append(np.abs(np.asarray(rec.ESW).reshape(N, N)) ** 2)
    return np.stack(out)


#: PtyLab's loggers: their INFO lines (one per setting) stay out of the run log
_PTYLAB_LOGGERS = ("BaseEngine", "ExperimentalData", "Params", "Reconstruction", "GPU", "ePIE", "mPIE")


def _quiet_ptylab() -> None:
    for name in _PTYLAB_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@dataclass(frozen=True)
class ClassicalResult:
    """The engine's object on its canvas (data units) and its convergence record.

    ``error`` is PtyLab's normalised detector error per iteration; ``curve`` holds
    ``(iteration, value)`` of the caller's monitor every ``every`` iterations."""

    image: np.ndarray
    canvas: Canvas
    engine: str
    start: str
    iterations: int
    wall_s: float
    error: list[float]
    rounding_max_px: float
    curve: list[tuple[int, float]] = field(default_factory=list)


def reconstruct(
    amplitudes: np.ndarray,
    positions: np.ndarray,
    probe: np.ndarray,
    *,
    iterations: int,
    engine: str = "mPIE",
    start: str | np.ndarray = "mean",
    canvas: Canvas | None = None,
    every: int = 0,
    monitor: Callable[[np.ndarray, Canvas], float] | None = None,
    seed: int = 0,
) -> ClassicalResult:
    """Reconstruct the object from ``(n, N, N)`` amplitudes at ``(n, 2)`` positions (x, y)
    with the known ``probe``.

    ``start``: a flat start (:data:`STARTS`) or an object on ``canvas`` (e.g. the PINN's
    reconstruction; NaN pixels get the flat mean).  ``monitor(image, canvas)`` is called
    after every ``every``-th iteration (and before the first) for a learning curve.  The
    engine's random draws (mPIE's momentum steps) come from ``seed``; numpy's global
    generator is restored afterwards."""
    N = np.asarray(probe).shape[0]
    canvas = canvas or canvas_for(positions, N)
    _, rounding = corners(positions, N)
    data, rec, eng = _setup(amplitudes, positions, probe, canvas, engine)
    flat = mean_amplitude(amplitudes, probe)
    if isinstance(start, str):
        if start not in STARTS:
            raise ValueError(f"classical start {start!r}: choose one of {', '.join(STARTS)} or pass an image")
        init = np.full((canvas.side, canvas.side), flat if start == "mean" else 1.0, dtype=np.complex64)
        label = start
    else:
        init = np.asarray(start, dtype=np.complex64)
        if init.shape != (canvas.side, canvas.side):
            raise ValueError(f"start image {init.shape} does not match the canvas side {canvas.side}")
        init = np.where(np.isfinite(init), init, np.complex64(flat)).astype(np.complex64)
        label = "image"
    rec.object = init.reshape(rec.object.shape).copy()
    curve: list[tuple[int, float]] = []
    shape = (canvas.side, canvas.side)
    if monitor is not None and every:
        curve.append((0, float(monitor(np.asarray(rec.object).reshape(shape).copy(), canvas))))
    eng.numIterations = int(iterations)
    monitor_s = [0.0]

    def after(loop: int) -> None:  # after iteration ``loop`` (0-based) of the engine
        if monitor is not None and every and (loop + 1) % every == 0:
            t_m = time.perf_counter()
            curve.append((loop + 1, float(monitor(np.asarray(rec.object).reshape(shape).copy(), canvas))))
            monitor_s[0] += time.perf_counter() - t_m  # the monitor's time is not the engine's

    state = np.random.get_state()
    np.random.seed(seed)  # mPIE's momentum steps are drawn from numpy's global generator
    t = time.perf_counter()
    try:
        with quiet_progress():
            if engine == "mPIE":
                eng.reconstruct(vis_after_each_iteration=lambda loop, _rec: after(loop))
            else:
                last = data.numFrames - 1
                for loop, k in eng.reconstruct_stepwise():
                    if k == last:
                        after(loop)
    finally:
        np.random.set_state(state)
    t += monitor_s[0]
    wall = time.perf_counter() - t
    return ClassicalResult(
        image=np.asarray(rec.object).reshape(shape).astype(np.complex64),
        canvas=canvas,
        engine=engine,
        start=label,
        iterations=int(iterations),
        wall_s=wall,
        error=[float(e) for e in np.asarray(rec.error).ravel()],
        rounding_max_px=rounding,
        curve=curve,
    )


def patches_at(image: np.ndarray, canvas: Canvas, positions: np.ndarray, N: int) -> np.ndarray:
    """``N``×``N`` patches of a canvas image at object positions (pixel ``N/2`` on each)."""
    from .physics import extract_patches

    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2) - np.asarray(canvas.origin)
    return extract_patches(image, pos, N)
