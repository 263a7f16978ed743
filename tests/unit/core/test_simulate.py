import numpy as np
import pytest
from numpy.testing import assert_array_equal

from ptycho_helpers import (
    RunParams,
    make_lines_object,
    make_probe,
    normalize_probe_guess,
    simulate_nongrid_raw_data,
    split_raw_data_by_axis,
)
from ptycho_helpers.core.physics import extract_patches, far_field_intensity


def test_lines_object_reference_statistics():
    o = make_lines_object(392, 42)
    assert o.shape == (392, 392) and o.dtype == np.complex64
    assert np.all(o.imag == 0)
    a = o.real
    # PtychoPINN: min 0.6129, max 4.8561, mean 2.7082, std 0.6410
    assert 0.4 < a.min() < 0.9
    assert 4.0 < a.max() < 5.6
    assert 2.3 < a.mean() < 3.0
    assert 0.5 < a.std() < 0.8


def test_lines_object_seeded():
    assert_array_equal(make_lines_object(64, 1), make_lines_object(64, 1))
    assert not np.array_equal(make_lines_object(64, 1), make_lines_object(64, 2))


def test_simulation_counts_and_photons(tiny_object, tiny_probe):
    raw = simulate_nongrid_raw_data(tiny_object, tiny_probe, n_images=60, nphotons=1e6, seed=5, buffer=8)
    assert raw.diffraction.shape == (60, 32, 32) and raw.diffraction.dtype == np.float32
    assert raw.xcoords.dtype == np.float64
    counts = (raw.diffraction.astype(np.float64) * raw.photon_scale) ** 2
    assert np.allclose(counts, np.rint(counts), atol=1e-2 * np.maximum(1, counts) ** 0.5)
    assert counts.sum(axis=(1, 2)).mean() == pytest.approx(1e6, rel=0.01)
    assert raw.xcoords.min() >= 8 and raw.xcoords.max() <= 96 - 8


def test_simulation_matches_noise_free_model(tiny_object, tiny_probe):
    raw = simulate_nongrid_raw_data(tiny_object, tiny_probe, n_images=20, nphotons=1e10, seed=5, buffer=8)
    exit_waves = extract_patches(tiny_object, raw.positions, 32) * tiny_probe
    ideal = far_field_intensity(exit_waves.astype(np.complex128))
    measured = raw.diffraction.astype(np.float64) ** 2
    bright = ideal > ideal.max() * 1e-3
    assert np.allclose(measured[bright], ideal[bright], rtol=0.05)


def test_simulation_seeded(tiny_object, tiny_probe):
    kw = dict(n_images=10, nphotons=1e6, buffer=8)
    a = simulate_nongrid_raw_data(tiny_object, tiny_probe, seed=1, **kw)
    b = simulate_nongrid_raw_data(tiny_object, tiny_probe, seed=1, **kw)
    c = simulate_nongrid_raw_data(tiny_object, tiny_probe, seed=2, **kw)
    assert_array_equal(a.diffraction, b.diffraction)
    assert_array_equal(a.xcoords, b.xcoords)
    assert not np.array_equal(a.xcoords, c.xcoords)


def test_simulation_rejects_bad_input(tiny_object, tiny_probe):
    with pytest.raises(ValueError, match="nphotons"):
        simulate_nongrid_raw_data(tiny_object, tiny_probe, n_images=5, nphotons=-1, seed=1, buffer=8)
    with pytest.raises(ValueError, match="no scan area"):
        simulate_nongrid_raw_data(tiny_object, tiny_probe, n_images=5, nphotons=1e6, seed=1, buffer=60)
    with pytest.raises(ValueError, match="n_images"):
        simulate_nongrid_raw_data(tiny_object, tiny_probe, n_images=0, nphotons=1e6, seed=1, buffer=8)


def test_split_by_y(tiny_raw):
    train, test = split_raw_data_by_axis(tiny_raw, 0.25)
    assert test.n == 20 and train.n == 60
    assert train.ycoords.max() <= test.ycoords.min()
    assert sorted(np.concatenate([train.scan_index, test.scan_index])) == list(range(80))
    with pytest.raises(ValueError, match="axis"):
        split_raw_data_by_axis(tiny_raw, 0.5, axis="z")


def test_custom_probe_errors(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, probe=np.ones((64, 64)))
    with pytest.raises(ValueError, match="no 'probeGuess'"):
        make_probe(64, "custom", bad)
    np.savez(bad, probeGuess=np.ones((32, 32)))
    with pytest.raises(ValueError, match="shape"):
        make_probe(64, "custom", bad)
    np.savez(bad, probeGuess=np.full((64, 64), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        make_probe(64, "custom", bad)
    np.savez(bad, probeGuess=np.array([object()] * 4, dtype=object))
    with pytest.raises(ValueError, match="pickled"):
        make_probe(64, "custom", bad)
    with pytest.raises(FileNotFoundError):
        make_probe(64, "custom", tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="probe mode"):
        make_probe(64, "measured")


def test_shipped_synthetic_probe_is_small_and_valid():
    from ptycho_helpers.core.simulate import synthetic_probe_path

    assert synthetic_probe_path().stat().st_size < 100_000
    p = normalize_probe_guess(make_probe(64, "custom"), 4.0)
    assert np.isfinite(p).all() and np.iscomplexobj(p)


def test_default_counts_fit_object():
    p = RunParams()
    assert p.object_size - 2 * p.buffer > 0
