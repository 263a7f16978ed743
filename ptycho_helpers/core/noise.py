"""Counting statistics of the simulation: the physics photon scale and Poisson-noisy
amplitudes, whole-stack or streamed in slices (the memory-lean path every simulator uses).

Diffraction data are amplitudes in object units: ``sqrt(counts) / s_sim`` with
``s_sim = sqrt(nphotons / mean_n sum_xy |P·O|**2)``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np

from .physics import far_field_intensity


def _photon_scale(energies: np.ndarray, nphotons: float) -> float:
    """``sqrt(nphotons / mean(energies))`` of per-pattern energies ``sum_xy |P·O|**2``."""
    energy = float(np.mean(energies))
    if not energy > 0:
        raise ValueError("exit waves carry no energy (probe or object is zero under the scan)")
    return math.sqrt(float(nphotons) / energy)


def _chunk_bounds(n: int) -> list[tuple[int, int]]:
    """The ``POISSON_CHUNKS`` contiguous row ranges (one child generator each) of ``n`` patterns."""
    chunks = np.array_split(np.arange(n), min(POISSON_CHUNKS, max(n, 1)))
    return [(int(c[0]), int(c[-1]) + 1) for c in chunks if c.size]


def simulation_photon_scale(exit_waves: np.ndarray, nphotons: float) -> float:
    """Physics photon scale ``s_sim = sqrt(nphotons / mean_n sum_xy |P·O|**2)``.

    Parameters
    ----------
    exit_waves : (n, N, N) complex
    nphotons : float > 0, mean photons per pattern
    """
    return _photon_scale(np.sum(np.abs(np.asarray(exit_waves)) ** 2, axis=(-2, -1)), nphotons)


POISSON_CHUNKS = 8
#: patterns a streamed simulation makes at a time (:func:`noisy_diffraction`)
SIM_SLICE = 1024


def poisson_amplitudes(intensity: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Noisy diffraction amplitudes ``sqrt(Poisson(scale**2 * I)) / scale`` (float32).

    The patterns are drawn in a fixed number of chunks (``POISSON_CHUNKS``), each from its
    own child generator ``rng.spawn``, on a thread pool: the result depends on the seed
    only, not on the number of cores.
    """
    from concurrent.futures import ThreadPoolExecutor

    lam = np.asarray(intensity, dtype=np.float64) * (scale * scale)
    bounds = _chunk_bounds(lam.shape[0])
    gens = rng.spawn(len(bounds))
    out = np.empty(lam.shape, dtype=np.float32)

    def draw(k: int) -> None:
        a, b = bounds[k]
        out[a:b] = np.sqrt(gens[k].poisson(lam[a:b])) / scale

    with ThreadPoolExecutor(max_workers=min(len(bounds), os.cpu_count() or 1)) as pool:
        list(pool.map(draw, range(len(bounds))))
    return out


def noisy_diffraction(
    waves_of: Callable[[int, int], np.ndarray], n: int, nphotons: float, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Noisy amplitudes of ``n`` exit waves produced in slices, never all at once.

    Equal, value for value, to ``poisson_amplitudes(far_field_intensity(w),
    simulation_photon_scale(w, nphotons), rng)`` on the whole stack ``w``: the same
    ``POISSON_CHUNKS`` chunks and child generators (each chunk drawn in slices of
    ``SIM_SLICE`` patterns continues its generator's stream), the same per-pattern
    energies.  Only the float32 result and two slices in flight are held (the whole-stack
    path holds the complex waves, their transform and float64 rates: about 5× the result).

    Parameters
    ----------
    waves_of : ``(start, stop) -> (stop - start, N, N)`` complex64 exit waves of those rows
    n : int, number of patterns
    nphotons : float > 0, mean photons per pattern
    rng : numpy Generator (its children draw the noise)

    Returns
    -------
    (amplitudes (n, N, N) float32, simulation photon scale)
    """
    from concurrent.futures import ThreadPoolExecutor

    bounds = _chunk_bounds(n)

    def slices(a: int, b: int):  # a chunk in slices of at most SIM_SLICE patterns
        return [(i, min(i + SIM_SLICE, b)) for i in range(a, b, SIM_SLICE)]

    # per-pattern energies, summed as simulation_photon_scale sums them
    energies = np.concatenate(
        [np.sum(np.abs(waves_of(i, j)) ** 2, axis=(-2, -1)) for a, b in bounds for i, j in slices(a, b)]
    )
    scale = _photon_scale(energies, nphotons)
    gens = rng.spawn(len(bounds))
    out = np.empty((n, *waves_of(0, 1).shape[-2:]), dtype=np.float32)

    def draw(k: int) -> None:  # one child generator per chunk, drawn slice after slice
        for i, j in slices(*bounds[k]):
            lam = np.asarray(far_field_intensity(waves_of(i, j)), dtype=np.float64) * (scale * scale)
            out[i:j] = np.sqrt(gens[k].poisson(lam)) / scale

    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        list(pool.map(draw, range(len(bounds))))
    return out, scale
