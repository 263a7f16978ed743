"""The model geometry in numpy: how a group's predicted patches become each member's exit
wave — the twin of the Keras physics layer (``pinn/model.py``), tested against it."""

from __future__ import annotations

import numpy as np

from .physics import bilinear_shift, disk_mask, far_field_intensity, support_mask


def combine_extract(patches: np.ndarray, offsets: np.ndarray, support: np.ndarray, pad: int) -> np.ndarray:
    """Combine a group's patches at integer offsets (overlap-normalised), re-extract each.

    Parameters
    ----------
    patches : (g, C, N, N) complex
    offsets : (g, C, 2) int ``(dx, dy)``, |offset| <= pad
    support : (N, N) 0/1 weights of each patch
    pad : int, canvas margin; canvas side ``N + 2·pad``

    Returns
    -------
    (g, C, N, N) complex: the combined canvas cut out at each member's offset.
    """
    p = np.asarray(patches)
    g, C, N, _ = p.shape
    off = np.asarray(offsets).astype(np.int64)
    if np.any(np.abs(off) > pad):
        raise ValueError(f"a member offset {int(np.abs(off).max())} exceeds the canvas pad {pad}")
    S = N + 2 * pad
    acc = np.zeros((g, S, S), dtype=np.complex128)
    wsum = np.zeros((g, S, S), dtype=np.float64)
    for b in range(g):
        for c in range(C):
            y0, x0 = pad + off[b, c, 1], pad + off[b, c, 0]
            acc[b, y0 : y0 + N, x0 : x0 + N] += p[b, c] * support
            wsum[b, y0 : y0 + N, x0 : x0 + N] += support
    canvas = acc / np.maximum(wsum, 1.0)
    out = np.empty_like(p, dtype=np.complex128)
    for b in range(g):
        for c in range(C):
            y0, x0 = pad + off[b, c, 1], pad + off[b, c, 0]
            out[b, c] = canvas[b, y0 : y0 + N, x0 : x0 + N]
    return out


def cut_members(objects: np.ndarray, offsets: np.ndarray, pad: int) -> np.ndarray:
    """Each member's view of its group's object: ``(g, N, N)`` objects (pixel N/2 on the
    group anchor, zero beyond the patch) cut at integer member offsets ``(g, C, 2)``.

    Returns ``(g, C, N, N)``; member pixel ``k`` is object pixel ``k + offset``.
    """
    o = np.asarray(objects)
    off = np.rint(np.asarray(offsets)).astype(np.int64)
    if np.any(np.abs(off) > pad):
        raise ValueError(f"a member offset {int(np.abs(off).max())} exceeds the canvas pad {pad}")
    g, N, _ = o.shape
    canvas = np.zeros((g, N + 2 * pad, N + 2 * pad), dtype=o.dtype)
    canvas[:, pad : pad + N, pad : pad + N] = o
    out = np.empty((g, off.shape[1], N, N), dtype=o.dtype)
    for b in range(g):
        for c in range(off.shape[1]):
            y0, x0 = pad + off[b, c, 1], pad + off[b, c, 0]
            out[b, c] = canvas[b, y0 : y0 + N, x0 : x0 + N]
    return out


def model_intensity(
    patches: np.ndarray,
    geometry: np.ndarray,
    probe: np.ndarray,
    *,
    probe_mask: bool,
    probe_big: bool,
    pad: int,
    prediction: str = "member",
) -> np.ndarray:
    """Numpy twin of the model's physics path: patches -> far-field intensity.

    Parameters
    ----------
    patches : (g, C, N, N) complex object patches on the integer grid; with
        ``prediction="group"`` ``(g, 1, N, N)``: one object per group whose pixel N/2 lies
        on the group anchor, of which each member sees the cut at its offset
    geometry : (g, C, 4) from :func:`split_positions`
    probe : (N, N) complex, normalised
    probe_mask, probe_big : bool
    pad : int, combine-canvas margin (gridsize > 1)

    Returns
    -------
    (g, C, N, N) float64 intensity in object units (``|fftshift(fft2(P·O))|² / N²``).
    """
    p = np.asarray(patches).astype(np.complex128)
    geo = np.asarray(geometry, dtype=np.float64)
    g, _, N, _ = p.shape
    C = geo.shape[1]
    support = support_mask(N, probe_big)
    if prediction == "group":
        p = cut_members(p[:, 0] * support, geo[..., :2], pad)
    elif C > 1:
        p = combine_extract(p, geo[..., :2], support, pad)
    else:
        p = p * support
    shifted = bilinear_shift(p.reshape(g * C, N, N), geo[..., 2:].reshape(g * C, 2))
    pr = np.asarray(probe, dtype=np.complex128)
    if probe_mask:
        pr = pr * disk_mask(N)
    intensity = far_field_intensity(shifted * pr)
    return intensity.reshape(g, C, N, N)
