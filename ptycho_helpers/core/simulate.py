"""Synthetic data: the "lines" object, probes, non-grid scans and the split by axis."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.signal.windows import gaussian
from skimage.draw import line as draw_line

from .checks import check_float, check_int
from .io import read_npz
from .noise import noisy_diffraction
from .physics import extract_patches

logger = logging.getLogger(__name__)

SYNTHETIC_PROBE = "synthetic_probe.npz"


@dataclass(frozen=True)
class RawData:
    """A scan: positions, diffraction amplitudes, probe and object (PtychoPINN names).

    Attributes
    ----------
    xcoords, ycoords : (n,) float64, pixels (x = column, y = row)
    diffraction : (n, N, N) float32, amplitudes in object units (``sqrt(counts)/s_sim``)
    probeGuess : (N, N) complex64, the probe used
    objectGuess : (H, W) complex64, the ground-truth object
    scan_index : (n,) int64, index of each pattern in the original scan order
    photon_scale : float, ``s_sim`` of the simulation (nan when unknown)
    """

    xcoords: np.ndarray
    ycoords: np.ndarray
    diffraction: np.ndarray
    probeGuess: np.ndarray
    objectGuess: np.ndarray
    scan_index: np.ndarray = field(default=None)  # type: ignore[assignment]
    photon_scale: float = float("nan")

    def __post_init__(self) -> None:
        n = len(self.xcoords)
        if self.scan_index is None:
            object.__setattr__(self, "scan_index", np.arange(n, dtype=np.int64))
        if not (len(self.ycoords) == n == len(self.diffraction) == len(self.scan_index)):
            raise ValueError(
                f"RawData arrays disagree in length: xcoords {n}, ycoords {len(self.ycoords)}, "
                f"diffraction {len(self.diffraction)}, scan_index {len(self.scan_index)}"
            )

    @property
    def n(self) -> int:
        return int(len(self.xcoords))

    @property
    def N(self) -> int:
        return int(self.diffraction.shape[-1])

    @property
    def positions(self) -> np.ndarray:
        """(n, 2) float64 ``(x, y)`` pixels."""
        return np.stack([self.xcoords, self.ycoords], axis=1)

    def subset(self, index: np.ndarray) -> RawData:
        idx = np.asarray(index)
        return RawData(
            self.xcoords[idx],
            self.ycoords[idx],
            self.diffraction[idx],
            self.probeGuess,
            self.objectGuess,
            self.scan_index[idx],
            self.photon_scale,
        )


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def make_lines_object(size: int, seed: int | np.random.Generator | None) -> np.ndarray:
    """The synthetic "lines" object.

    400 straight lines with uniform random endpoints are drawn (pixels set to 1, so
    crossings do not add up) on a ``(2·size)²`` canvas, blurred as ``1·G(σ=1) + 2·G(σ=5) + 5·G(σ=10)``,
    and the centre ``size²`` is kept.  Real amplitude, zero phase.

    Parameters
    ----------
    size : int >= 8
    seed : int or Generator

    Returns
    -------
    (size, size) complex64
    """
    size = check_int("size", size, minimum=8)
    rng = _rng(seed)
    big = 2 * size
    canvas = np.zeros((big, big), dtype=np.float64)
    ends = rng.uniform(0, big - 1, size=(400, 4))
    for r0, c0, r1, c1 in np.rint(ends).astype(int):
        rr, cc = draw_line(r0, c0, r1, c1)
        canvas[rr, cc] = 1.0
    blurred = (
        1.0 * gaussian_filter(canvas, 1.0)
        + 2.0 * gaussian_filter(canvas, 5.0)
        + 5.0 * gaussian_filter(canvas, 10.0)
    )
    lo = (big - size) // 2
    return blurred[lo : lo + size, lo : lo + size].astype(np.complex64)


def idealized_probe(N: int) -> np.ndarray:
    """The idealized probe: thresholded Gaussian outer product, blurred σ=1, +1e-9.

    A 1-D Gaussian window (length N, std ``N / (0.7·π²)``) normalised to max 1; its outer
    product thresholded at 0.5 (a disk of radius ≈ 10.9 px at N=64), blurred σ=1.

    Returns
    -------
    (N, N) complex64
    """
    N = check_int("N", N, minimum=4)
    w = gaussian(N, std=N / (0.7 * math.pi**2))
    w = w / w.max()
    disk = (np.outer(w, w) > 0.5).astype(np.float64)
    return (gaussian_filter(disk, 1.0) + 1e-9).astype(np.complex64)


def load_probe_npz(path: str | Path, N: int) -> np.ndarray:
    """Read ``probeGuess`` from an ``.npz`` (no pickles) and validate it.

    Raises
    ------
    FileNotFoundError, ValueError, TypeError
        Missing file, missing key, pickled array, wrong shape, non-numeric dtype, NaN/inf.
    """
    p = Path(path)
    data = read_npz(p, "custom probe file")
    if "probeGuess" not in data:
        raise ValueError(f"{str(p)!r} has no 'probeGuess' array (keys: {', '.join(data) or 'none'})")
    probe = data["probeGuess"]
    if probe.shape != (N, N):
        raise ValueError(f"probeGuess in {str(p)!r} has shape {probe.shape}; expected ({N}, {N})")
    if not (np.issubdtype(probe.dtype, np.complexfloating) or np.issubdtype(probe.dtype, np.floating)):
        raise TypeError(
            f"probeGuess in {str(p)!r} has dtype {probe.dtype}; expected a complex or float array"
        )
    if not np.all(np.isfinite(probe)):
        raise ValueError(f"probeGuess in {str(p)!r} contains NaN or inf values")
    if not np.any(probe):
        raise ValueError(f"probeGuess in {str(p)!r} is all zeros")
    return probe.astype(np.complex64)


def synthetic_probe_path() -> Path:
    """Path of the shipped synthetic structured probe (64×64, made by scripts/make_synthetic_probe.py)."""
    return Path(str(resources.files("ptycho_helpers") / "data" / SYNTHETIC_PROBE))


def make_probe(N: int, mode: str = "idealized", path: str | Path | None = None) -> np.ndarray:
    """A probe, not yet normalised (see :func:`physics.normalize_probe_guess`).

    Parameters
    ----------
    N : int
    mode : {"idealized", "custom"}
    path : str or Path, optional
        For ``mode="custom"``: an ``.npz`` holding ``probeGuess`` of shape (N, N).
        Default: the shipped synthetic structured probe (N must be 64).

    Returns
    -------
    (N, N) complex64
    """
    N = check_int("N", N, minimum=4)
    if mode == "idealized":
        if path is not None:
            raise ValueError("path is only used with mode='custom'")
        return idealized_probe(N)
    if mode == "custom":
        return load_probe_npz(path if path is not None else synthetic_probe_path(), N)
    raise ValueError(f"probe mode {mode!r} is not allowed; choose 'idealized' or 'custom'")


def draw_scan_positions(n: int, size: float, buffer: float, rng: np.random.Generator) -> np.ndarray:
    """Non-grid scan positions ``x, y ~ U[buffer, size - buffer]``: ``(n, 2)`` float64 ``(x, y)``.

    The first draw of the simulation's generator, so the positions of a run can be
    reproduced without simulating its diffraction (reassembly telemetry does)."""
    return rng.uniform(buffer, size - buffer, size=(n, 2))


def simulate_nongrid_raw_data(
    obj: np.ndarray,
    probe: np.ndarray,
    *,
    n_images: int,
    nphotons: float,
    seed: int | np.random.Generator | None,
    buffer: float,
) -> RawData:
    """Simulate a non-grid scan with Poisson-noisy far-field diffraction.

    Positions ``x, y ~ U[buffer, size - buffer]`` and the Poisson noise come from one
    seeded generator (positions first).

    Parameters
    ----------
    obj : (H, W) complex, H == W
    probe : (N, N) complex, already normalised
    n_images : int >= 1
    nphotons : float > 0, mean photons per pattern
    seed : int or Generator
    buffer : float >= 0, < size/2

    Returns
    -------
    RawData
        ``diffraction = sqrt(Poisson(s_sim**2 · I)) / s_sim`` with
        ``s_sim = sqrt(nphotons / mean Σ|P·O|²)`` and ``I`` from
        :func:`physics.far_field_intensity`.
    """
    o = np.asarray(obj)
    p = np.asarray(probe)
    if o.ndim != 2 or o.shape[0] != o.shape[1]:
        raise ValueError(f"obj must be a square 2-D array, got shape {o.shape}")
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"probe must be a square 2-D array, got shape {p.shape}")
    if not (np.all(np.isfinite(o)) and np.all(np.isfinite(p))):
        raise ValueError("obj and probe must be finite (no NaN/inf)")
    n = check_int("n_images", n_images, minimum=1)
    nph = check_float("nphotons", nphotons, minimum=0.0, exclusive=True)
    size = o.shape[0]
    buf = check_float("buffer", buffer, minimum=0.0)
    if 2 * buf >= size:
        raise ValueError(f"buffer={buf} leaves no scan area in an object of size {size}")
    rng = _rng(seed)
    xy = draw_scan_positions(n, size, buf, rng)
    pc = p.astype(np.complex64)
    diffraction, scale = noisy_diffraction(
        lambda a, b: extract_patches(o, xy[a:b], p.shape[0]) * pc, n, nph, rng
    )
    return RawData(
        xcoords=xy[:, 0].copy(),
        ycoords=xy[:, 1].copy(),
        diffraction=diffraction,
        probeGuess=p.astype(np.complex64),
        objectGuess=o.astype(np.complex64),
        photon_scale=scale,
    )


def split_raw_data_by_axis(
    raw: RawData, split_fraction: float = 0.5, axis: str = "y"
) -> tuple[RawData, RawData]:
    """Split a scan along an axis: test = the ``round(n·split_fraction)`` largest coordinates.

    Both halves are returned sorted by the axis coordinate (ascending), so the train set
    is the lower-coordinate part.
    """

    if not isinstance(raw, RawData):
        raise TypeError(f"raw must be RawData, got {type(raw).__name__}")
    frac = check_float("split_fraction", split_fraction, minimum=0.0, maximum=1.0, exclusive=True)
    if axis not in ("x", "y"):
        raise ValueError(f"axis={axis!r} is not allowed; choose 'x' or 'y'")
    coord = raw.ycoords if axis == "y" else raw.xcoords
    train_idx, test_idx = split_indices_by_axis(coord, frac)
    return raw.subset(train_idx), raw.subset(test_idx)


def n_test_of(n: int, split_fraction: float) -> int:
    """Test share of ``n`` positions: ``round(n * split_fraction)``, halves rounded up."""
    return int(math.floor(n * split_fraction + 0.5))


def split_indices_by_axis(coord: np.ndarray, split_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the split along one coordinate: test = the ``round(n·split_fraction)``
    largest values; both index arrays in ascending coordinate order."""
    c = np.asarray(coord)
    n = int(c.shape[0])
    order = np.argsort(c, kind="stable")
    n_test = n_test_of(n, split_fraction)
    if n_test < 1 or n_test >= n:
        raise ValueError(
            f"split_fraction={split_fraction} of {n} positions leaves an empty split "
            f"(test={n_test}, train={n - n_test})"
        )
    return order[: n - n_test], order[n - n_test :]
