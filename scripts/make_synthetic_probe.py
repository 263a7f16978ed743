"""Generate the shipped synthetic structured probe ptycho_helpers/data/synthetic_probe.npz.

The measured probe of the reference study is not available, so the "custom" scenarios use
this synthetic stand-in: a zone-plate-like annular pupil (outer radius 14 px in the
64-px pupil plane, central stop 35 %) with a little defocus, astigmatism and coma,
propagated to the sample plane by an inverse FFT.  Deterministic (no randomness).

Run:  .venv/bin/python scripts/make_synthetic_probe.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def synthetic_probe(N: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:N, 0:N] - N / 2
    r = np.hypot(xx, yy) / 14.0  # normalised pupil radius
    theta = np.arctan2(yy, xx)
    pupil = ((r <= 1.0) & (r >= 0.35)).astype(np.float64)
    defocus = 2.0 * (2 * r**2 - 1)
    astigmatism = 0.6 * r**2 * np.cos(2 * theta)
    coma = 0.4 * (3 * r**3 - 2 * r) * np.cos(theta)
    aberration = defocus + astigmatism + coma
    field = pupil * np.exp(1j * aberration)
    probe = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(field)))
    probe /= np.abs(probe).max()
    return probe.astype(np.complex64)


def main(out: Path) -> None:
    probe = synthetic_probe()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, probeGuess=probe)
    tmp.replace(out)
    print(f"wrote {out} ({out.stat().st_size} bytes), probeGuess {probe.shape} {probe.dtype}")


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else root / "ptycho_helpers" / "data" / "synthetic_probe.npz")
