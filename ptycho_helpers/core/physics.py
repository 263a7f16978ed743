"""Numpy forward model: probe normalisation, patch extraction, far field, photon scales.

Conventions (DESIGN §4), shared by simulation, the TensorFlow layers and stitching:

* Patch geometry: pixel ``k`` (0-based) of an ``N``-pixel patch at position ``p`` lies at
  object coordinate ``p - N/2 + k`` on that axis; ``x`` is the column, ``y`` the row.
* Far field: ``I = |fftshift(fft2(psi))|**2 / N**2`` with DC at pixel ``(N/2, N/2)``.
* Diffraction data are amplitudes in object units: ``sqrt(counts) / s_sim``.

Each normalisation lives in exactly one function here: :func:`normalize_probe_guess`
(probe), :func:`.noise.simulation_photon_scale` (physics photon scale),
:func:`input_gain` (statistical input normalisation α) and :func:`loss_photon_scale`
(the model's photon scale s).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft


def _as_complex_stack(x: np.ndarray, name: str, *, min_ndim: int = 2) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim < min_ndim or arr.shape[-1] != arr.shape[-2]:
        raise ValueError(f"{name} must have shape (..., N, N), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf values")
    return arr


def disk_mask(N: int, radius: float | None = None) -> np.ndarray:
    """Boolean disk ``r < radius`` (default ``N/4``) about the centre pixel ``(N/2, N/2)``.

    Returns
    -------
    (N, N) bool
    """
    r = N / 4 if radius is None else float(radius)
    yy, xx = np.mgrid[0:N, 0:N]
    return (xx - N / 2) ** 2 + (yy - N / 2) ** 2 < r**2


def normalize_probe_guess(probe: np.ndarray, probe_scale: float) -> np.ndarray:
    """Scale a probe so that ``mean(|disk(r < N/4) * probe|) = 1 / probe_scale``.

    Parameters
    ----------
    probe : (N, N) complex
    probe_scale : float > 0

    Returns
    -------
    (N, N) complex64

    Notes
    -----
    ``p_norm = p / (probe_scale * mean_{N^2}(|mask * p|))``, the mean taken over all
    ``N**2`` pixels (masked pixels count as zeros).
    """
    p = _as_complex_stack(probe, "probe")
    if p.ndim != 2:
        raise ValueError(f"probe must have shape (N, N), got {p.shape}")
    scale = float(probe_scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"probe_scale={probe_scale!r} must be a finite number > 0")
    m = np.mean(np.abs(disk_mask(p.shape[0]) * p))
    if m <= 0:
        raise ValueError("probe is zero inside the central disk r < N/4; cannot normalise it")
    return (p / (scale * m)).astype(np.complex64)


def far_field_intensity(exit_wave: np.ndarray) -> np.ndarray:
    """Far-field intensity of exit waves.

    Parameters
    ----------
    exit_wave : (..., N, N) complex

    Returns
    -------
    (..., N, N) float (float32 for complex64 input, float64 otherwise)

    Notes
    -----
    ``I = |fftshift(fft2(psi))|**2 / N**2``; by Parseval ``sum(I) = sum(|psi|**2)`` and
    the DC term sits at pixel ``(N/2, N/2)``.
    """
    psi = _as_complex_stack(exit_wave, "exit_wave")
    N = psi.shape[-1]
    f = scipy.fft.fft2(psi, axes=(-2, -1), workers=-1)
    out = np.fft.fftshift(f.real**2 + f.imag**2, axes=(-2, -1)) / (N * N)
    return out.astype(np.float32) if psi.dtype == np.complex64 else out


def extract_patches(obj: np.ndarray, positions: np.ndarray, N: int) -> np.ndarray:
    """Bilinear extraction of ``N``×``N`` patches centred (pixel ``N/2``) on positions.

    Parameters
    ----------
    obj : (H, W) complex
        Object; pixels outside it are zero.
    positions : (n, 2) float, pixels ``(x=column, y=row)``
    N : int

    Returns
    -------
    (n, N, N) complex64

    Notes
    -----
    Patch pixel ``(i, j)`` samples the object at ``(y - N/2 + i, x - N/2 + j)``.
    """
    o = np.asarray(obj)
    pos = np.asarray(positions, dtype=np.float64)
    if o.ndim != 2:
        raise ValueError(f"obj must be 2-D, got shape {o.shape}")
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise ValueError(f"positions must have shape (n, 2), got {pos.shape}")
    if not np.all(np.isfinite(pos)):
        raise ValueError("positions contain NaN or inf")
    H, W = o.shape
    # zero border wide enough for any patch that touches the object
    padded = np.zeros((H + 2 * N + 2, W + 2 * N + 2), dtype=np.complex64)
    padded[N + 1 : N + 1 + H, N + 1 : N + 1 + W] = o
    start = pos - N / 2  # object coordinate of patch pixel 0, (x, y)
    i0 = np.floor(start).astype(np.int64)
    frac = (start - i0).astype(np.float32)
    i0 = np.clip(i0 + N + 1, 0, np.array([W + N + 1, H + N + 1]))
    out = np.empty((pos.shape[0], N, N), dtype=np.complex64)
    # one patch at a time: the (N+1)² block stays in cache (3× faster than one batched
    # gather of every block at n = 2000, N = 64), and the arithmetic is the same, in the
    # same order, as the batched form, so the result is bitwise the same
    for k in range(pos.shape[0]):
        block = padded[i0[k, 1] : i0[k, 1] + N + 1, i0[k, 0] : i0[k, 0] + N + 1]
        fx, fy = frac[k, 0], frac[k, 1]
        rows = block[:, :N] + (block[:, 1:] - block[:, :N]) * fx  # along x
        out[k] = rows[:N] + (rows[1:] - rows[:N]) * fy
    return out


#: patterns whose energies are summed at a time (bounds the float64 temporaries)
ENERGY_SLICE = 1024


def mean_pattern_energy(diffraction: np.ndarray) -> tuple[float, int]:
    """``E[sum_xy d**2]`` over *patterns* and the pattern side ``N``.

    ``diffraction`` is ``(n, N, N)`` or grouped ``(n, N, N, C)`` (channels last); each
    channel is a pattern of its own, never summed with the others.
    """
    d = np.asarray(diffraction)
    if d.ndim not in (3, 4) or d.shape[0] == 0 or d.shape[1] != d.shape[2]:
        raise ValueError(f"diffraction must have shape (n, N, N[, C]) with n > 0, got {d.shape}")
    # float64 sums, ENERGY_SLICE patterns at a time (no float64 copy of the whole stack)
    per_pattern = np.concatenate(
        [
            np.sum(np.square(d[i : i + ENERGY_SLICE], dtype=np.float64), axis=(1, 2))
            for i in range(0, len(d), ENERGY_SLICE)
        ]
    )  # (n,) or (n, C)
    energy = float(np.mean(per_pattern))
    if not energy > 0:
        raise ValueError("diffraction data are all zero; cannot compute a data scale")
    return energy, int(d.shape[1])


def input_gain(diffraction: np.ndarray) -> float:
    """Statistical input gain ``α = sqrt((N/2)**2 / mean_n sum_xy d**2)``.

    Parameters
    ----------
    diffraction : (n, N, N) or (n, N, N, C) float amplitudes (object units)
        For grouped data (channels last) the mean is taken per pattern.
    """
    energy, N = mean_pattern_energy(diffraction)
    return math.sqrt((N / 2) ** 2 / energy)


def loss_photon_scale(diffraction: np.ndarray, nphotons: float) -> tuple[float, float]:
    """Photon scale ``s`` of the model, computed per pattern from training data.

    ``s = sqrt(nphotons / E[sum_xy d**2])`` with the expectation over *patterns* (channels
    of a group are separate patterns, never summed).  Also returns the closed-form
    fallback ``sqrt(nphotons) / (N/2)`` (988.21 at N=64, 1e9 photons) for the record.

    Returns
    -------
    (s, s_closed_form) : tuple of float
    """
    energy, N = mean_pattern_energy(diffraction)
    return math.sqrt(float(nphotons) / energy), math.sqrt(float(nphotons)) / (N / 2)


def fourier_shift(images: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Periodic sub-pixel translation by a phase ramp: ``out(r) = in(r - shift)``.

    Parameters
    ----------
    images : (n, H, W) real or complex
    shifts : (n, 2) float, ``(dx, dy)`` pixels (positive moves content right/down)

    Notes
    -----
    ``fourier_shift(fourier_shift(a, d), -d) == a`` to rounding: the inverse is exact.
    Used to apply registration shifts in ``metrics``.
    """
    a = np.asarray(images)
    d = np.asarray(shifts, dtype=np.float64)
    kx = np.fft.fftfreq(a.shape[-1])
    ky = np.fft.fftfreq(a.shape[-2])
    ramp_x = np.exp(-2j * np.pi * kx[None, None, :] * d[:, 0, None, None])
    ramp_y = np.exp(-2j * np.pi * ky[None, :, None] * d[:, 1, None, None])
    return np.fft.ifft2(np.fft.fft2(a, axes=(-2, -1)) * ramp_x * ramp_y, axes=(-2, -1))


def poisson_deviance_half(rate: np.ndarray, counts: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Poisson deviance / 2 per pixel: ``λ - k - k·log(λ/k)`` (``k log k → 0`` at k = 0).

    It equals the Poisson NLL ``λ - k log λ`` minus its saturated value, so it is ≈ 0.5
    per pixel when ``λ`` is the true rate of large counts.
    """
    lam = np.asarray(rate, dtype=np.float64)
    k = np.asarray(counts, dtype=np.float64)
    return lam - k + k * (np.log(k + eps) - np.log(lam + eps))


# --------------------------------------------------------------------------- model geometry
# The PINN predicts each member's object patch on the *integer* object grid at
# floor(position); the fractional remainder is applied as a bilinear shift just before
# the probe, with exactly the kernel of :func:`extract_patches`.  For gridsize > 1 the
# members are combined on an integer-aligned canvas (integer placement, overlap-
# normalised) and re-extracted by the same integer placement, so combine -> re-extract
# is the identity for consistent patches and nothing is blurred.  The TensorFlow layers
# in ``model.py`` are the twin of these functions.


def split_positions(positions: np.ndarray, anchors: np.ndarray | None = None) -> np.ndarray:
    """Geometry record of member positions: integer offsets and fractional parts.

    Parameters
    ----------
    positions : (g, C, 2) float, absolute ``(x, y)`` pixels of the members of each group
    anchors : (g, 2) int, optional; default ``floor(mean of the members)``

    Returns
    -------
    (g, C, 4) float32
        ``[dx, dy, fx, fy]``: ``floor(position) - anchor`` (integers) and
        ``position - floor(position)`` in ``[0, 1)``.
    """
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 3 or pos.shape[-1] != 2:
        raise ValueError(f"positions must have shape (g, C, 2), got {pos.shape}")
    base = np.floor(pos)
    if anchors is None:
        anchors = np.floor(pos.mean(axis=1))
    d = base - np.asarray(anchors, dtype=np.float64)[:, None, :]
    return np.concatenate([d, pos - base], axis=-1).astype(np.float32)


def support_mask(N: int, probe_big: bool) -> np.ndarray:
    """Object support of a predicted patch: the central ``N/2`` square, or all of it."""
    m = np.zeros((N, N), dtype=np.float32)
    if probe_big:
        m[:] = 1
    else:
        m[N // 4 : N // 4 + N // 2, N // 4 : N // 4 + N // 2] = 1
    return m


def bilinear_shift(patches: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """Sample ``(n, N, N)`` patches at ``k + f`` (``f`` in [0, 1)), zero beyond the last pixel.

    ``frac`` is ``(n, 2)`` ``(fx, fy)``; this is the bilinear kernel of
    :func:`extract_patches` applied on a patch's own grid.
    """
    a = np.asarray(patches)
    f = np.asarray(frac, dtype=np.float64)
    nxt_x = np.concatenate([a[..., :, 1:], np.zeros_like(a[..., :, :1])], axis=-1)
    a = a * (1 - f[:, 0, None, None]) + nxt_x * f[:, 0, None, None]
    nxt_y = np.concatenate([a[..., 1:, :], np.zeros_like(a[..., :1, :])], axis=-2)
    return a * (1 - f[:, 1, None, None]) + nxt_y * f[:, 1, None, None]


def shifted_probe(probe: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """The probe moved by ``fractions`` ``(fx, fy)`` px (a Fourier shift, one per leading
    index): pixel ``i`` of the result is the probe at ``i − f``.  Because
    ``|F(P(i)·O(i + f))| = |F(P(i − f)·O(i))|``, a pattern measured at the fractional
    position ``floor + f`` is explained in the ``floor`` frame by the object against this
    probe.  (..., 2) → (..., N, N) complex128."""
    p = np.asarray(probe, dtype=np.complex128)
    f = np.asarray(fractions, dtype=np.float64)
    k = np.fft.fftfreq(p.shape[-1])
    ramp = np.exp(-2j * np.pi * (f[..., 1, None, None] * k[:, None] + f[..., 0, None, None] * k[None, :]))
    return np.fft.ifft2(np.fft.fft2(p) * ramp)


def error_reduction(
    diffraction: np.ndarray,
    probe: np.ndarray,
    iterations: int,
    *,
    probe_mask: bool,
    fractions: np.ndarray | None = None,
) -> np.ndarray:
    """Each pattern brought back to real space by the known probe, alone (no overlap).

    Starts from a flat object of the pattern's Parseval amplitude
    ``a = sqrt(Σd² / Σ|P|²)`` and repeats ``iterations`` times: ``ψ = P·O``, keep the phase
    of its far field and take the measured modulus, propagate back to ``ψ'``, and update
    ``O += conj(P)·(ψ' − ψ) / max|P|²``.  The numpy twin of the model's
    ``BackProjection`` layer.

    Parameters
    ----------
    diffraction : (..., N, N) measured amplitudes (fftshifted, any common scale: the result
        scales with it)
    probe : (N, N) complex, normalised
    iterations : int >= 0
    probe_mask : multiply the probe by the disk r < N/4 (as the model does)
    fractions : (..., 2) optional ``(fx, fy)`` fractional part of each pattern's position;
        given, each estimate is formed in its pattern's ``floor(position)`` frame (the
        frame the model predicts and stitches in) by the probe moved by the fraction
        (:func:`shifted_probe`), instead of at the fractional position itself

    Returns
    -------
    (..., N, N) complex128 object estimates in the probe's frame (or the ``floor`` frame)
    """
    d = np.asarray(diffraction, dtype=np.float64)
    p = np.asarray(probe, dtype=np.complex128)
    N = p.shape[-1]
    if d.shape[-2:] != (N, N):
        raise ValueError(f"diffraction patterns must be {N}x{N} like the probe, got {d.shape[-2:]}")
    if probe_mask:
        p = p * disk_mask(N)
    total = float(np.sum(np.abs(p) ** 2))  # Parseval: a shift keeps it
    step = 1.0 / float(np.max(np.abs(p) ** 2))  # of the unmoved probe: the moved estimate is exact
    if fractions is not None:
        fr = np.asarray(fractions, dtype=np.float64)
        if fr.shape != d.shape[:-2] + (2,):
            raise ValueError(f"fractions must have shape {d.shape[:-2] + (2,)}, got {fr.shape}")
        p = shifted_probe(p, fr)
    a0 = np.sqrt(np.sum(d**2, axis=(-2, -1), keepdims=True) / total)
    target = np.fft.ifftshift(d, axes=(-2, -1)) * N  # |fft2(ψ)| = N·d
    obj = np.broadcast_to(a0, d.shape).astype(np.complex128)
    for _ in range(int(iterations)):
        psi = p * obj
        f = np.fft.fft2(psi, axes=(-2, -1))
        f = f * (target / np.maximum(np.abs(f), 1e-12))
        obj = obj + np.conj(p) * (np.fft.ifft2(f, axes=(-2, -1)) - psi) * step
    return obj
