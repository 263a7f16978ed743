"""What a per-group reconstructor can reach from the information a protocol gives it, and
the scores that do not depend on how uncovered pixels are filled (issue 27).

- :func:`twin_patch` / :func:`twin_ceiling_patches`: gridsize 1 with a real object and a
  centrosymmetric probe cannot tell a patch from its twin ``conj(O(-r))`` (the same far
  field, tested against :func:`core.physics.far_field_intensity`); the best per-patch
  amplitude under that ambiguity is the average of the two, and its stitched score is the
  twin ceiling of a cell (1 for an object symmetric in every patch).
- :func:`largest_covered_rectangle` and :func:`reference_on_covered_rectangle`: the
  reference's metric on a non-grid canvas over the largest fully covered rectangle, never
  over a fill of the uncovered pixels.
- :func:`interior_masked_ssim`: masked SSIM over the pixels whose 7×7 window lies wholly
  inside the covered region (no window touches the fill).
- :func:`normalised_score`: ``(score − flat) / (ceiling − flat)``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from . import physics
from .metrics import reference_scores, ssim_map

SSIM_WINDOW = 7


def twin_patch(patches: np.ndarray) -> np.ndarray:
    """The twin of each patch, ``conj(O(-r))`` with ``-r`` taken modulo N (pixel ``i`` →
    ``(N − i) mod N``: the reflection of the DFT, which keeps a disk about ``N/2``).

    Parameters
    ----------
    patches : (..., N, N) complex or real
    """
    flipped = np.flip(patches, axis=(-2, -1))
    return np.conj(np.roll(flipped, (1, 1), axis=(-2, -1)))


def twin_ceiling_patches(true_patches: np.ndarray) -> np.ndarray:
    """The best per-patch amplitude when a patch and its twin cannot be told apart: the
    average of the true amplitude and the twin's (as complex64 with zero phase)."""
    amp = 0.5 * (np.abs(true_patches) + np.abs(twin_patch(true_patches)))
    return amp.astype(np.complex64)


def largest_covered_rectangle(covered: np.ndarray) -> tuple[int, int, int, int]:
    """``(row0, row1, col0, col1)`` (half-open) of the largest axis-aligned rectangle whose
    pixels are all covered; ties go to the first found (row-major). Raises when nothing is
    covered.  The histogram-stack algorithm: O(H·W)."""
    cov = np.asarray(covered, dtype=bool)
    if not cov.any():
        raise ValueError("no covered pixel: there is no rectangle to score")
    H, W = cov.shape
    heights = np.zeros(W, dtype=int)
    best, box = 0, (0, 0, 0, 0)
    for r in range(H):
        heights = np.where(cov[r], heights + 1, 0)
        stack: list[int] = []  # columns with increasing heights
        for c in range(W + 1):
            h = heights[c] if c < W else 0
            while stack and heights[stack[-1]] >= h:
                top = stack.pop()
                left = stack[-1] + 1 if stack else 0
                area = int(heights[top]) * (c - left)
                if area > best:
                    best, box = area, (r - int(heights[top]) + 1, r + 1, left, c)
            if c < W:
                stack.append(c)
    return box


def reference_on_covered_rectangle(pred_amp: np.ndarray, truth_amp: np.ndarray, covered: np.ndarray) -> dict:
    """The reference's metric (:func:`core.metrics.reference_scores`: trim 2, mean-scaled,
    SSIM 7×7) on the largest fully covered rectangle, beside the flat image there."""
    r0, r1, c0, c1 = largest_covered_rectangle(covered)
    p = np.asarray(pred_amp, dtype=np.float64)[r0:r1, c0:c1]
    t = np.asarray(truth_amp, dtype=np.float64)[r0:r1, c0:c1]
    return {
        "rectangle": [r0, r1, c0, c1],
        "pixels": int(p.size),
        "amplitude": reference_scores(p, t),
        "flat_baseline": reference_scores(np.full_like(t, t.mean()), t),
    }


def interior_masked_ssim(
    pred: np.ndarray, truth: np.ndarray, covered: np.ndarray, data_range: float
) -> float | None:
    """SSIM averaged over the covered pixels whose whole 7×7 window is covered (the fill of
    the uncovered pixels enters no window); ``None`` when no pixel qualifies."""
    cov = np.asarray(covered, dtype=bool)
    interior = ndimage.binary_erosion(cov, structure=np.ones((SSIM_WINDOW, SSIM_WINDOW)), border_value=0)
    if not interior.any():
        return None
    p = np.nan_to_num(np.asarray(pred, dtype=np.float64))
    smap = ssim_map(p, np.asarray(truth, dtype=np.float64), cov, data_range)
    return float(smap[interior].mean())


def normalised_score(score: float, flat: float, ceiling: float) -> float | None:
    """``(score − flat) / (ceiling − flat)``: 0 at the flat image, 1 at the ceiling;
    ``None`` when the ceiling does not beat the flat image."""
    gap = ceiling - flat
    return None if gap <= 0 else (score - flat) / gap


def group_solve(
    diffraction: np.ndarray, positions: np.ndarray, probe: np.ndarray, iterations: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """A per-group classical solve with the known probe: each group's members jointly, on
    one canvas per group, by error reduction with overlap (every iteration: each member's
    exit wave keeps its far-field phase and takes the measured modulus; the canvas becomes
    ``Σ conj(P_k)·ψ'_k / Σ|P_k|²`` where a probe lights it).  Starts flat at the members'
    Parseval amplitude.  What a reconstructor that sees one group at a time can get from
    the group's data: the gridsize-2 information ceiling of a cell.

    A member at fractional canvas position ``q`` is modelled as the probe moved by the
    fraction against the integer crop at ``floor(q)`` (the same far-field modulus as the
    object moved by it, up to the simulation's bilinear sampling).

    Parameters
    ----------
    diffraction : (g, C, N, N) measured amplitudes (fftshifted, like ``physics.error_reduction``)
    positions : (g, C, 2) absolute member positions ``(x, y)``
    probe : (N, N) complex, the known probe
    iterations : int >= 1

    Returns
    -------
    canvases : (g, L, L) complex128, each group's object
    origins : (g, 2) int, object coordinates ``(x, y)`` of each canvas's pixel (0, 0)
    """
    d = np.asarray(diffraction, dtype=np.float64)
    pos = np.asarray(positions, dtype=np.float64)
    p = np.asarray(probe, dtype=np.complex128)
    g, C, N = d.shape[0], d.shape[1], p.shape[-1]
    if d.shape[2:] != (N, N) or pos.shape != (g, C, 2):
        raise ValueError(
            f"diffraction (g, C, {N}, {N}) and positions (g, C, 2) expected, got {d.shape}, {pos.shape}"
        )
    if iterations < 1:
        raise ValueError(f"iterations={iterations} must be >= 1")
    base = np.floor(pos).astype(np.int64)
    frac = pos - base
    anchor = np.floor(pos.mean(axis=1)).astype(np.int64)
    reach = int(np.abs(base - anchor[:, None, :]).max()) + 1
    L = N + 2 * reach
    origins = anchor - L // 2
    corner = base - origins[:, None, :] - N // 2  # (g, C, 2) top-left of each member's crop
    probes = physics.shifted_probe(p, frac)  # (g, C, N, N)
    p2 = np.abs(probes) ** 2
    target = np.fft.ifftshift(d, axes=(-2, -1)) * N
    a0 = np.sqrt(np.sum(d**2, axis=(1, 2, 3)) / (C * np.sum(np.abs(p) ** 2)))
    ar = np.arange(N)
    # flat indices of each member's crop in the stacked canvases: gathers and (per member,
    # duplicate-free) scatters on one axis, about 1.7x faster than three index arrays
    flat = [
        (np.arange(g)[:, None, None] * L + corner[:, k, 1, None, None] + ar[None, :, None]) * L
        + corner[:, k, 0, None, None]
        + ar[None, None, :]
        for k in range(C)
    ]
    den = np.zeros(g * L * L)
    for k in range(C):
        den[flat[k]] += p2[:, k]
    lit = den > 1e-6 * den.max()
    inv = np.where(lit, 1.0 / np.where(lit, den, 1.0), 0.0)
    canvas = np.repeat(a0, L * L).astype(np.complex128)
    conj = np.conj(probes)
    for _ in range(int(iterations)):
        num = np.zeros(g * L * L, dtype=np.complex128)
        for k in range(C):
            f = np.fft.fft2(probes[:, k] * canvas[flat[k]])
            f *= target[:, k] / np.maximum(np.abs(f), 1e-12)
            num[flat[k]] += conj[:, k] * np.fft.ifft2(f)
        canvas = np.where(lit, num * inv, canvas)
    return canvas.reshape(g, L, L), origins


def crops_at(canvases: np.ndarray, origins: np.ndarray, centres: np.ndarray, N: int) -> np.ndarray:
    """``N``×``N`` integer crops of each group's canvas, pixel ``N/2`` at each of the
    group's integer ``centres`` (g, K, 2) in object coordinates → (g·K, N, N)."""
    g, K = centres.shape[:2]
    c = np.asarray(centres, dtype=np.int64) - origins[:, None, :] - N // 2
    ar = np.arange(N)
    out = np.empty((g, K, N, N), dtype=canvases.dtype)
    gi = np.arange(g)[:, None, None]
    for k in range(K):
        out[:, k] = canvases[
            gi, c[:, k, 1, None, None] + ar[None, :, None], c[:, k, 0, None, None] + ar[None, None, :]
        ]
    return out.reshape(g * K, N, N)


def group_solve_crops(data, probe: np.ndarray, centres: np.ndarray, iterations: int = 50) -> np.ndarray:
    """:func:`group_solve` of every group of ``data`` (a ``GroupedData``: diffraction
    ``(g, N, N, C)``, member positions) cut out at ``centres`` ``(g, K, 2)``: ``(g·K, N, N)``."""
    d = np.transpose(data.diffraction, (0, 3, 1, 2))  # (g, C, N, N)
    canvases, origins = group_solve(d, data.positions, probe, iterations)
    return crops_at(canvases, origins, centres, np.asarray(probe).shape[-1])
