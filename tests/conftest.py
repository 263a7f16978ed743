"""Shared fixtures: seeded rng, tiny configs and tiny simulated datasets."""

from __future__ import annotations

import os

import numpy as np
import pytest

# Keep TensorFlow quiet and single-machine friendly in tests (set before any TF import).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def tiny_object() -> np.ndarray:
    from ptycho_helpers import make_lines_object

    return make_lines_object(96, 7)


@pytest.fixture(scope="session")
def tiny_probe() -> np.ndarray:
    from ptycho_helpers import make_probe, normalize_probe_guess

    return normalize_probe_guess(make_probe(32), 10.0)


@pytest.fixture(scope="session")
def tiny_raw(tiny_object, tiny_probe):
    from ptycho_helpers import simulate_nongrid_raw_data

    return simulate_nongrid_raw_data(tiny_object, tiny_probe, n_images=80, nphotons=1e9, seed=3, buffer=8)


@pytest.fixture(scope="session")
def lines_setup():
    """(object, probe, raw): a 128-px lines object scanned at 160 positions by an N=32
    idealized probe at 1e9 photons — the training/refinement/combination tests' data."""
    from ptycho_helpers import make_lines_object, make_probe, normalize_probe_guess, simulate_nongrid_raw_data

    obj = make_lines_object(128, 3)
    probe = normalize_probe_guess(make_probe(32), 10.0)
    raw = simulate_nongrid_raw_data(obj, probe, n_images=160, nphotons=1e9, seed=1, buffer=8)
    return obj, probe, raw
