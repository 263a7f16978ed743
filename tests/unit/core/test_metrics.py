"""Metrics with analytic truth."""

import numpy as np
import pytest

from ptycho_helpers.core import metrics
from ptycho_helpers.core.reassemble import Stitched


def _lines(size=96, seed=0):
    from ptycho_helpers import make_lines_object

    return np.abs(make_lines_object(size, seed)).astype(np.float64)


def test_identical_images():
    t = _lines()
    mask = np.ones_like(t, bool)
    m = metrics.image_metrics(t, t, mask)
    assert m["ssim"] == pytest.approx(1.0)
    assert m["mae"] == 0 and m["ls_scale"] == pytest.approx(1.0)
    assert m["frc"]["saturated"] is True and m["frc"]["frc50"] is None
    assert m["psnr"] is None  # infinite


def test_amplitude_times_two_gives_half_scale():
    t = _lines()
    mask = np.ones_like(t, bool)
    assert metrics.image_metrics(2 * t, t, mask)["ls_scale"] == pytest.approx(0.5)


@pytest.mark.parametrize("shift", [(3.0, -2.0), (1.3, 0.6), (-0.45, 2.25)])
def test_registration_recovers_shifts(shift):
    t = _lines(128)
    moved = metrics.apply_shift(t, shift)
    mask = np.ones_like(t, bool)
    est = metrics.register_shift(moved, t, mask)
    assert est[0] == pytest.approx(-shift[0], abs=0.05)
    assert est[1] == pytest.approx(-shift[1], abs=0.05)


def test_phase_ramp_and_offset_removed_exactly():
    yy, xx = np.mgrid[0:40, 0:50]
    truth = 0.3 * np.sin(xx / 5.0)
    pred = truth + 0.7 + 0.01 * xx - 0.02 * yy
    mask = np.ones_like(truth, bool)
    corrected = metrics.remove_phase_plane(pred, truth, np.ones_like(truth), mask)
    np.testing.assert_allclose(corrected, truth, atol=1e-10)


def _stitched_from(obj, origin=(10.0, 12.0), size=48, pred=None, cover=None):
    from ptycho_helpers.core.physics import extract_patches

    truth = extract_patches(obj, np.array([[origin[0] + size / 2, origin[1] + size / 2]]), size)[0]
    image = truth if pred is None else pred
    coverage = np.ones((size, size)) if cover is None else cover
    return Stitched(image.astype(np.complex64), coverage, origin), truth


def test_constant_phase_truth_makes_phase_metrics_undefined():
    obj = _lines(96).astype(np.complex64)
    st, _ = _stitched_from(obj)
    comp = metrics.compare_to_truth(st, obj)
    assert comp["phase"]["truth_constant"] is True
    assert (
        comp["phase"]["pearson_r"] is None and comp["phase"]["ssim"] is None and comp["phase"]["frc"] is None
    )
    assert comp["amplitude"]["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert comp["baselines"]["flat"]["ssim"] < 0.9


def test_values_outside_covered_region_do_not_matter(rng):
    obj = _lines(96).astype(np.complex64)
    cover = np.zeros((48, 48))
    cover[8:40, 5:30] = 1
    st, truth = _stitched_from(obj, cover=cover)
    noisy = truth * (1 + 0.1 * rng.normal(size=truth.shape))
    a = metrics.compare_to_truth(Stitched(noisy.astype(np.complex64), cover, st.origin), obj)
    other = noisy.copy()
    other[cover == 0] = 1e6
    b = metrics.compare_to_truth(Stitched(other.astype(np.complex64), cover, st.origin), obj)
    assert a["amplitude"] == b["amplitude"]
    assert a["baselines"] == b["baselines"]


def test_baselines_ordering():
    t = _lines(96)
    mask = np.ones_like(t, bool)
    base = metrics.calibration_baselines(t, mask)
    assert base["blur_sigma2"]["ssim"] > base["blur_sigma8"]["ssim"]
    assert base["flat"]["pearson_r"] is None


def test_twin_image_fraction():
    rng = np.random.default_rng(0)
    true = rng.uniform(1, 2, (6, 16, 16)).astype(np.complex64)
    twin = np.conj(np.roll(true[:, ::-1, ::-1], (1, 1), axis=(1, 2)))
    assert metrics.twin_image_fraction(true, true, M=8) == 0.0
    assert metrics.twin_image_fraction(twin, true, M=8) == 1.0


def test_reference_metric_hand_computed_case():
    """Mean scaling, the 2-px trim and skimage SSIM (7x7, truth range), computed by hand."""
    from skimage.metrics import structural_similarity

    from ptycho_helpers.core.metrics import reference_scores

    rng = np.random.default_rng(5)
    truth = 1.0 + rng.random((30, 30))
    pred = 2.0 * truth  # twice as bright: the mean scaling removes it
    pred[:2, :] = 99.0  # garbage in the trimmed border
    pred[:, -2:] = -5.0
    s = reference_scores(pred, truth)
    assert (
        s["ssim"] == pytest.approx(1.0) and s["mean_scale"] == pytest.approx(0.5) and s["pixels"] == 26 * 26
    )
    noisy = truth + 0.3 * rng.standard_normal(truth.shape)
    t, p = truth[2:-2, 2:-2], noisy[2:-2, 2:-2]
    p = p * t.mean() / p.mean()
    want = structural_similarity(t, p, win_size=7, data_range=t.max() - t.min())
    got = reference_scores(noisy, truth)
    assert got["ssim"] == pytest.approx(want, rel=1e-12)
    assert got["mae"] == pytest.approx(np.mean(np.abs(p - t)), rel=1e-12)
    with pytest.raises(ValueError, match="full image"):
        reference_scores(np.where(truth > 1.5, np.nan, truth), truth)
