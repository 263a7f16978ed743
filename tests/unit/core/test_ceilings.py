"""Information ceilings and fill-free scores (issue 27), against analytic and hand cases."""

from __future__ import annotations

import numpy as np
import pytest

from ptycho_helpers.core import ceilings, physics
from ptycho_helpers.core.metrics import reference_scores


def test_twin_has_the_same_far_field_with_a_centrosymmetric_probe():
    rng = np.random.default_rng(0)
    N = 32
    probe = physics.disk_mask(N).astype(np.complex128)
    obj = rng.uniform(0.2, 1.0, (N, N)) * np.exp(1j * rng.uniform(-1, 1, (N, N)))
    a = physics.far_field_intensity(probe * obj)
    b = physics.far_field_intensity(probe * ceilings.twin_patch(obj))
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    # and a planted wrong reflection (about pixel (N-1)/2) does not
    wrong = np.conj(obj[::-1, ::-1])
    assert not np.allclose(a, physics.far_field_intensity(probe * wrong), atol=1e-6)


def test_symmetric_patches_have_twin_ceiling_one():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.1, 1.0, (5, 16, 16))
    sym = 0.5 * (p + np.abs(ceilings.twin_patch(p)))  # real, equal to its own twin
    np.testing.assert_allclose(np.abs(ceilings.twin_ceiling_patches(sym)), sym, rtol=1e-6)
    asym = np.abs(ceilings.twin_ceiling_patches(p))
    assert not np.allclose(asym, p)  # a generic patch loses information to its twin


@pytest.mark.parametrize(
    "rows, box",
    [
        (["1100", "1110", "0111"], (0, 2, 0, 2)),  # 2x2 top-left beats the 1x3s
        (["0000", "0110", "0110"], (1, 3, 1, 3)),
        (["111", "111", "111"], (0, 3, 0, 3)),
        (["1011", "1111", "1111"], (1, 3, 0, 4)),  # the 2x4 bottom (8) beats the 3x2 right (6)
    ],
)
def test_largest_covered_rectangle_on_hand_cases(rows, box):
    cov = np.array([[c == "1" for c in r] for r in rows])
    got = ceilings.largest_covered_rectangle(cov)
    r0, r1, c0, c1 = got
    assert cov[r0:r1, c0:c1].all()
    area = (r1 - r0) * (c1 - c0)
    brute = max(
        (b - a) * (d - c)
        for a in range(cov.shape[0])
        for b in range(a + 1, cov.shape[0] + 1)
        for c in range(cov.shape[1])
        for d in range(c + 1, cov.shape[1] + 1)
        if cov[a:b, c:d].all()
    )
    assert area == brute
    assert got == box


def test_largest_rectangle_matches_brute_force_on_random_masks():
    rng = np.random.default_rng(2)
    for _ in range(20):
        cov = rng.uniform(size=(7, 9)) < 0.7
        if not cov.any():
            continue
        r0, r1, c0, c1 = ceilings.largest_covered_rectangle(cov)
        assert cov[r0:r1, c0:c1].all()
        brute = max(
            (b - a) * (d - c)
            for a in range(7)
            for b in range(a + 1, 8)
            for c in range(9)
            for d in range(c + 1, 10)
            if cov[a:b, c:d].all()
        )
        assert (r1 - r0) * (c1 - c0) == brute


def test_reference_on_the_covered_rectangle_ignores_the_uncovered_pixels():
    rng = np.random.default_rng(3)
    truth = rng.uniform(0.5, 1.5, (40, 40))
    cov = np.zeros_like(truth, dtype=bool)
    cov[5:30, 8:36] = True
    pred = np.where(cov, truth, np.nan)  # perfect where covered, holes elsewhere
    out = ceilings.reference_on_covered_rectangle(pred, truth, cov)
    assert out["rectangle"] == [5, 30, 8, 36]
    assert out["amplitude"]["ssim"] == pytest.approx(1.0)
    hand = reference_scores(pred[5:30, 8:36], truth[5:30, 8:36])
    assert out["amplitude"] == hand


def test_interior_ssim_is_blind_to_the_fill_and_masked_ssim_is_not():
    rng = np.random.default_rng(4)
    truth = rng.uniform(0.5, 1.5, (48, 48))
    cov = np.zeros_like(truth, dtype=bool)
    cov[8:40, 8:40] = True
    pred = truth + rng.normal(0, 0.05, truth.shape)
    a = ceilings.interior_masked_ssim(np.where(cov, pred, 0.0), truth, cov, 1.0)
    b = ceilings.interior_masked_ssim(np.where(cov, pred, 9.0), truth, cov, 1.0)
    assert a == b
    assert ceilings.interior_masked_ssim(pred, truth, np.zeros_like(cov), 1.0) is None


def test_normalised_score():
    assert ceilings.normalised_score(0.5, 0.2, 0.8) == pytest.approx(0.5)
    assert ceilings.normalised_score(0.5, 0.2, 0.2) is None


def _group_case(offsets, g=6, N=32, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:96, :96]
    obj = (0.6 + 0.4 * np.sin(xx / 3.0) * np.cos(yy / 5.0)) * np.exp(0.3j * np.sin(yy / 4.0))
    probe = physics.disk_mask(N).astype(np.complex128) * np.exp(0.5j * physics.disk_mask(N))
    centres = rng.uniform(40, 56, (g, 2))
    pos = centres[:, None, :] + np.asarray(offsets, float)[None]
    patches = physics.extract_patches(obj, pos.reshape(-1, 2), N)
    d = np.abs(np.fft.fftshift(np.fft.fft2(patches * probe), axes=(-2, -1))) / N
    return obj, probe, pos, d.reshape(g, len(offsets), N, N)


def test_group_solve_recovers_an_overlapping_group_from_its_patterns():
    """The gridsize-2 ceiling's solver: four members ±2 px around a centre, noise-free
    patterns at fractional positions, the known probe → the object where the probe lights it
    (amplitude r > 0.99 in the central 10×10 of every member crop); a planted wrong probe
    shift sign does not get there."""
    N = 32
    offs = [[-2, -2], [2, -2], [-2, 2], [2, 2]]
    obj, probe, pos, d = _group_case(offs, N=N)
    canvases, origins = ceilings.group_solve(d, pos, probe, iterations=100)
    crops = ceilings.crops_at(canvases, origins, np.floor(pos), N)
    truth = physics.extract_patches(obj, np.floor(pos).reshape(-1, 2), N)
    c = slice(N // 2 - 5, N // 2 + 5)
    r = [
        np.corrcoef(np.abs(a[c, c]).ravel(), np.abs(b[c, c]).ravel())[0, 1]
        for a, b in zip(crops, truth, strict=True)
    ]
    assert min(r) > 0.99, r
    assert np.abs(crops[:, c, c]).mean() == pytest.approx(np.abs(truth[:, c, c]).mean(), rel=0.02)
    # one member alone cannot pin the object down as well (the overlap carries information)
    one, o1 = ceilings.group_solve(d[:, :1], pos[:, :1], probe, iterations=100)
    crop1 = ceilings.crops_at(one, o1, np.floor(pos[:, :1]), N)
    r1 = [
        np.corrcoef(np.abs(a[c, c]).ravel(), np.abs(b[c, c]).ravel())[0, 1]
        for a, b in zip(crop1, truth[::4], strict=True)
    ]
    assert np.mean(r1) < np.mean(r)


def test_group_solve_refuses_mismatched_shapes():
    obj, probe, pos, d = _group_case([[0, 0], [3, 1]])
    with pytest.raises(ValueError, match="positions"):
        ceilings.group_solve(d, pos[:, :1], probe)
    with pytest.raises(ValueError, match="iterations"):
        ceilings.group_solve(d, pos, probe, iterations=0)
