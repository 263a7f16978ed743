"""The reference runner's stitching method, kept here only as a benchmark baseline.

Every patch's central M×M is placed on the *whole* padded canvas and that canvas is
translated (bilinear, scipy.ndimage.shift order=1) by the patch's offset; the shifted
canvases and shifted masks are summed and divided.  O(n · S²) instead of O(n · M²).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import shift as nd_shift

from ptycho_helpers.core.reassemble import even_ceil


def reference_reassemble(patches: np.ndarray, positions: np.ndarray, M: int) -> tuple[np.ndarray, np.ndarray]:
    n, N, _ = patches.shape
    # the canvas of ``reassemble_patches``: centred on the integer grid point floor(mean)
    centred = positions - np.floor(positions.mean(axis=0))
    pad = even_ceil(float(np.max(np.abs(centred))))
    S = M + 2 * pad + 1
    lo = N // 2 - M // 2
    acc_re = np.zeros((S, S))
    acc_im = np.zeros((S, S))
    wsum = np.zeros((S, S))
    for p, (dx, dy) in zip(patches, centred, strict=True):
        canvas = np.zeros((S, S), dtype=np.complex128)
        mask = np.zeros((S, S))
        canvas[:M, :M] = p[lo : lo + M, lo : lo + M]
        mask[:M, :M] = 1.0
        s = (dy + pad, dx + pad)
        acc_re += nd_shift(canvas.real, s, order=1, mode="grid-constant", cval=0.0, prefilter=False)
        acc_im += nd_shift(canvas.imag, s, order=1, mode="grid-constant", cval=0.0, prefilter=False)
        wsum += nd_shift(mask, s, order=1, mode="grid-constant", cval=0.0, prefilter=False)
    acc = (acc_re + 1j * acc_im)[: S - 1, : S - 1]
    w = wsum[: S - 1, : S - 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        image = np.where(w > 1e-12, acc / np.where(w > 1e-12, w, 1), np.nan)
    return image, w
