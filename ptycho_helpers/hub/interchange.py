"""NPZ data interchange with the PtychoPINN data contract.

A file holds ``diffraction`` (n, N, N) float32 amplitudes, ``xcoords``/``ycoords`` (n,)
pixel positions, ``probeGuess`` (N, N) complex, optionally ``objectGuess`` (H, W) complex
(the ground truth, needed for the comparison metrics) and ``scan_index`` (n,) int.
Importing also accepts the legacy key ``diff3d`` and the (N, N, n) layout.  Files are read
with ``allow_pickle=False``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.io import atomic_path, read_npz
from ..core.simulate import RawData

REQUIRED = ("xcoords", "ycoords", "probeGuess")


def export_npz(raw: RawData, path: str | Path) -> Path:
    """Write a scan in the PtychoPINN NPZ data contract (atomically)."""
    if not isinstance(raw, RawData):
        raise TypeError(f"raw must be RawData, got {type(raw).__name__}")
    arrays = {
        "diffraction": np.asarray(raw.diffraction, dtype=np.float32),
        "xcoords": np.asarray(raw.xcoords, dtype=np.float64),
        "ycoords": np.asarray(raw.ycoords, dtype=np.float64),
        "probeGuess": np.asarray(raw.probeGuess, dtype=np.complex64),
        "scan_index": np.asarray(raw.scan_index, dtype=np.int64),
    }
    if raw.objectGuess is not None:
        arrays["objectGuess"] = np.asarray(raw.objectGuess, dtype=np.complex64)
    with atomic_path(path, ".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return Path(path)


def _numeric(name: str, a: np.ndarray, path: Path, *, complex_ok: bool = True) -> np.ndarray:
    ok = np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)
    if complex_ok:
        ok = ok or np.issubdtype(a.dtype, np.complexfloating)
    if not ok:
        raise TypeError(f"{name} in {str(path)!r} has dtype {a.dtype}; expected a numeric array")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} in {str(path)!r} contains NaN or inf values")
    return a


#: largest amplitude a file may hold: N² squared amplitudes must stay far below float32's
#: 3.4e38 (a 1e8-count pixel is amplitude 1e4)
MAX_AMPLITUDE = 1e15


def scan_extent(path: str | Path) -> tuple[float, float]:
    """Width and height (px) of a data file's scan positions, reading only the coordinates
    (the preflight sizes the stitching canvas from them before anything is allocated)."""
    with np.load(Path(path), allow_pickle=False) as data:
        x = np.asarray(data["xcoords"], dtype=np.float64)
        y = np.asarray(data["ycoords"], dtype=np.float64)
    return float(np.ptp(x)) if x.size else 0.0, float(np.ptp(y)) if y.size else 0.0


def import_npz(path: str | Path) -> RawData:
    """Read a PtychoPINN-style NPZ into :class:`RawData` with full validation.

    Raises
    ------
    FileNotFoundError, ValueError, TypeError
        Missing file or key, pickled arrays, wrong dtype or shape, NaN/inf, negative
        amplitudes.
    """
    p = Path(path)
    data = read_npz(p, "data file")
    key = "diffraction" if "diffraction" in data else "diff3d" if "diff3d" in data else None
    missing = [k for k in REQUIRED if k not in data] + ([] if key else ["diffraction (or diff3d)"])
    if missing:
        raise ValueError(
            f"{str(p)!r} lacks {', '.join(missing)} (keys present: {', '.join(sorted(data)) or 'none'})"
        )
    for k in ("xcoords", "ycoords"):
        shape = np.shape(data[k])
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):  # (n,) or a column (n, 1)
            raise ValueError(
                f"{k} in {str(p)!r} has shape {np.shape(data[k])}; expected one coordinate per position (n,)"
            )
    x = _numeric("xcoords", data["xcoords"], p, complex_ok=False).astype(np.float64).ravel()
    y = _numeric("ycoords", data["ycoords"], p, complex_ok=False).astype(np.float64).ravel()
    d = _numeric(key, data[key], p, complex_ok=False)
    n = x.size
    if y.size != n:
        raise ValueError(f"xcoords ({n}) and ycoords ({y.size}) in {str(p)!r} differ in length")
    if d.ndim != 3:
        raise ValueError(f"{key} in {str(p)!r} must be 3-D (n, N, N) or (N, N, n), got shape {d.shape}")
    if d.shape[0] != n and d.shape[2] == n and d.shape[0] == d.shape[1]:
        d = np.moveaxis(d, -1, 0)  # legacy (N, N, n)
    if d.shape[0] != n or d.shape[1] != d.shape[2]:
        raise ValueError(f"{key} in {str(p)!r} has shape {d.shape}; expected ({n}, N, N) for {n} positions")
    if np.any(d < 0):
        raise ValueError(f"{key} in {str(p)!r} has negative values; expected amplitudes >= 0")
    N = d.shape[-1]
    if N % 8:
        raise ValueError(
            f"{key} in {str(p)!r} has N={N}; the model needs N divisible by 8 (three pooling steps)"
        )
    if not np.any(d > 0):
        raise ValueError(f"{key} in {str(p)!r} is all zeros: there is nothing to reconstruct")
    peak = float(np.max(d))
    if peak > MAX_AMPLITUDE:
        raise ValueError(
            f"{key} in {str(p)!r} reaches {peak:.3g}; amplitudes (square roots of counts) above "
            f"{MAX_AMPLITUDE:.0e} overflow float32 once squared and summed: rescale the diffraction"
        )
    probe = _numeric("probeGuess", data["probeGuess"], p)
    if probe.shape != (N, N):
        raise ValueError(f"probeGuess in {str(p)!r} has shape {probe.shape}; expected ({N}, {N})")
    if not np.any(np.abs(probe) > 0):
        raise ValueError(f"probeGuess in {str(p)!r} is all zeros")
    obj = data.get("objectGuess")
    if obj is not None:
        obj = _numeric("objectGuess", obj, p)
        if obj.ndim != 2:
            raise ValueError(f"objectGuess in {str(p)!r} must be 2-D, got shape {obj.shape}")
        if np.max(x) >= obj.shape[1] or np.max(y) >= obj.shape[0] or min(np.min(x), np.min(y)) < 0:
            raise ValueError(
                f"objectGuess in {str(p)!r} ({obj.shape[1]}x{obj.shape[0]} px) does not contain the scan positions "
                f"(x {np.min(x):.0f}…{np.max(x):.0f}, y {np.min(y):.0f}…{np.max(y):.0f} px): "
                "metrics would be computed against padding"
            )
        obj = obj.astype(np.complex64)
    idx = data.get("scan_index")
    if idx is not None:
        idx = _numeric("scan_index", idx, p, complex_ok=False).astype(np.int64).ravel()
        if idx.size != n:
            raise ValueError(f"scan_index in {str(p)!r} has {idx.size} entries for {n} positions")
    return RawData(x, y, d.astype(np.float32), probe.astype(np.complex64), obj, idx)
