import numpy as np
import pytest
from numpy.testing import assert_allclose

from ptycho_helpers import canvas_requirement, reassemble_patches, reassembly_telemetry
from ptycho_helpers.core.physics import extract_patches


def _smooth_object(size=80):
    yy, xx = np.mgrid[0:size, 0:size]
    return (2 + np.sin(xx / 9.0) * np.cos(yy / 13.0) + 1j * 0.3 * np.sin(yy / 7.0)).astype(np.complex64)


def _compare(st, obj, M):
    ox, oy = st.origin
    S = st.image.shape[0]
    # the truth sampled on the canvas grid: canvas pixel c <-> object coordinate origin + c
    truth = extract_patches(obj, np.array([[ox + S / 2, oy + S / 2]]), S)[0]
    cov = st.covered
    return st.image[cov], truth[cov]


def test_round_trip_integer_positions(rng):
    obj = _smooth_object()
    pos = rng.integers(20, 60, size=(40, 2)).astype(float)
    pos[0] = [40.0, 40.0]
    pos[1] = [38.0, 42.0]
    pos[-1] += -pos.sum(axis=0) % len(pos)  # integral mean -> integral canvas origin
    assert np.all(pos.mean(axis=0) % 1 == 0)
    patches = extract_patches(obj, pos, 32)
    st = reassemble_patches(patches, pos, 20)
    got, want = _compare(st, obj, 20)
    assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.isnan(st.image[~st.covered]).all()


@pytest.mark.parametrize("integral_mean", [True, False])
def test_round_trip_subpixel_positions(rng, integral_mean):
    """Sub-pixel positions stay at interpolation accuracy, whether their mean is integral
    or not (the canvas origin is floor(mean) on the integer grid either way)."""
    obj = _smooth_object()
    pos = rng.uniform(25, 55, size=(61, 2))
    if integral_mean:
        pos = pos - pos.mean(axis=0) + 40.0
    patches = extract_patches(obj, pos, 32)
    st = reassemble_patches(patches, pos, 20)
    got, want = _compare(st, obj, 20)
    # bilinear extraction + bilinear splat of a smooth object: a small blur inside; border
    # pixels reached by one fractional weight only may be displaced by < 1 px
    assert np.mean(np.abs(got - want)) < 0.01
    full = st.coverage[st.covered] >= 1.0
    assert np.max(np.abs(got - want)[full]) < 0.05


def test_canvas_sizes_are_python_ints(rng):
    pos = rng.uniform(0, 50, (7, 2))
    st = reassemble_patches(np.ones((7, 16, 16), np.complex64), pos, 8)
    side = st.image.shape[0]
    centred = pos - pos.mean(0)
    pad = (side - 8) // 2
    assert pad % 2 == 0 and pad >= np.abs(centred).max()
    req = canvas_requirement(8, centred)
    assert type(req) is int and side >= req
    assert canvas_requirement(np.int64(64), np.array([[3.2, -1.0]])) == 71
    assert type(canvas_requirement(np.int64(64), np.array([[3.2, -1.0]]))) is int


def test_reassemble_errors():
    with pytest.raises(ValueError, match="positions must have shape"):
        reassemble_patches(np.ones((2, 8, 8)), np.zeros((3, 2)), 4)
    with pytest.raises(ValueError, match="exceeds"):
        reassemble_patches(np.ones((2, 8, 8)), np.zeros((2, 2)), 10)
    with pytest.raises(ValueError, match="no patches"):
        reassemble_patches(np.ones((0, 8, 8)), np.zeros((0, 2)), 4)


def test_overlap_average(rng):
    pos = np.array([[10.0, 10.0], [12.0, 10.0]])
    patches = np.stack([np.full((8, 8), 1.0), np.full((8, 8), 3.0)]).astype(np.complex64)
    st = reassemble_patches(patches, pos, 4)
    assert st.coverage.max() == 2
    assert_allclose(st.image[st.coverage == 2].real, 2.0)


def test_telemetry(rng):
    pos = rng.uniform(50, 150, (30, 2))
    rel = rng.uniform(-6, 6, (30, 4, 2))
    t = reassembly_telemetry(pos, rel, N=64, M=20, gridsize=2)
    assert t["coverage"]["coverage_loss"] == 0.0
    assert t["stitch_canvas"]["fits"] is True
    for block in ("model_canvas", "stitch_canvas"):
        for v in t[block].values():
            assert type(v) in (int, bool)
    assert t["model_canvas"]["required"] == canvas_requirement(64, rel)


def test_near_identical_positions_regression():
    # found by hypothesis: a spread of 1e-13 px gave pad 0 and was refused as too small
    pos = np.array([[100.0, 100.0], [100.0 + 2.4e-13, 100.0]])
    st = reassemble_patches(np.ones((2, 16, 16), np.complex64), pos, 2)
    assert st.image.shape == (2, 2) and np.allclose(st.image, 1)


def test_stitching_accumulation_is_the_adjoint_of_central_extraction(rng):
    """<E x, y> = <x, E^T y>: E cuts the central M×M of an N×N bilinear patch out of the
    canvas at each position; E^T y is the stitched sum before the coverage division
    (``image · coverage``).  A sign, half-pixel or origin slip breaks the identity."""
    from ptycho_helpers.core.physics import extract_patches

    N, M, n = 16, 8, 12
    pos = rng.uniform(30, 60, size=(n, 2))
    y = (rng.normal(size=(n, N, N)) + 1j * rng.normal(size=(n, N, N))).astype(np.complex64)
    st = reassemble_patches(y, pos, M)
    ety = np.where(st.coverage > 0, st.image.astype(np.complex128) * st.coverage, 0)
    x = rng.normal(size=ety.shape) + 1j * rng.normal(size=ety.shape)
    lo = N // 2 - M // 2
    ex = extract_patches(x.astype(np.complex64), pos - np.asarray(st.origin), N)[:, lo : lo + M, lo : lo + M]
    lhs = np.vdot(ex.astype(np.complex128), y[:, lo : lo + M, lo : lo + M].astype(np.complex128))
    rhs = np.vdot(x, ety)
    assert abs(lhs - rhs) <= 1e-5 * abs(rhs)
    # and the coverage is E^T of ones
    ones = np.ones((n, N, N), np.complex64)
    ex1 = extract_patches(np.ones_like(x, dtype=np.complex64), pos - np.asarray(st.origin), N)[
        :, lo : lo + M, lo : lo + M
    ]
    assert np.isclose(st.coverage.sum(), np.abs(ex1).sum(), rtol=1e-5)
    assert np.isclose(reassemble_patches(ones, pos, M).coverage.sum(), n * M * M, rtol=1e-9)


def test_integer_positions_with_a_fractional_mean_are_copied_exactly(rng):
    """Regression (#17 item 14): the canvas origin was the mean of the positions, fractional
    in general, so even integer positions were bilinearly split (max error 3.8e-2 on a
    smooth object); on the integer grid they are copied to float round-off."""
    obj = _smooth_object()
    pos = rng.integers(20, 60, size=(41, 2)).astype(float)
    assert np.any(pos.mean(axis=0) % 1 != 0)  # the case the old origin resampled
    patches = extract_patches(obj, pos, 32)
    st = reassemble_patches(patches, pos, 20)
    assert all(float(o).is_integer() for o in st.origin)
    got, want = _compare(st, obj, 20)
    assert np.max(np.abs(got - want)) <= 1e-6
