"""A seeded simulation against its committed golden copy (``scripts/make_golden.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import make_golden  # noqa: E402


@pytest.fixture(scope="module")
def fresh():
    return make_golden.compute()


@pytest.mark.parametrize(
    "key",
    [
        "object_amplitude",
        "probe",
        "positions",
        "diffraction",
        "photon_scale",
        "test_positions",
        "group_indices",
        "group_relative",
        "stitched_truth",
        "stitched_origin",
    ],
)
def test_simulation_matches_golden(fresh, key):
    with np.load(make_golden.GOLDEN, allow_pickle=False) as golden:
        want = golden[key]
    got = np.asarray(fresh[key])
    assert got.shape == want.shape and got.dtype == want.dtype
    if np.issubdtype(want.dtype, np.integer):
        np.testing.assert_array_equal(got, want)
    else:  # float32 arithmetic may differ in the last ulp across BLAS/CPU builds
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_golden_file_is_small_and_has_no_pickles():
    assert make_golden.GOLDEN.stat().st_size < 300_000
    with np.load(make_golden.GOLDEN, allow_pickle=False) as golden:
        assert set(golden.files) == set(make_golden.compute())
