import numpy as np
import pytest
from numpy.testing import assert_allclose

import ptycho_helpers as ph
from ptycho_helpers import far_field_intensity, make_probe, normalize_probe_guess
from ptycho_helpers.core import noise, physics
from ptycho_helpers.core.physics import (
    disk_mask,
    extract_patches,
    fourier_shift,
    input_gain,
    loss_photon_scale,
    poisson_deviance_half,
)


def test_parseval(rng):
    psi = rng.normal(size=(3, 32, 32)) + 1j * rng.normal(size=(3, 32, 32))
    intensity = far_field_intensity(psi)
    assert_allclose(intensity.sum(axis=(1, 2)), (np.abs(psi) ** 2).sum(axis=(1, 2)), rtol=1e-10)


def test_dc_at_centre_and_plane_wave():
    N = 16
    psi = np.full((N, N), 2.0 + 0j)
    intensity = far_field_intensity(psi)
    # analytic: all energy N^2*|2|^2 in the DC pixel at (N/2, N/2)
    assert intensity[N // 2, N // 2] == pytest.approx(4 * N * N)
    assert np.count_nonzero(intensity > 1e-9) == 1


def test_tilted_plane_wave_lands_on_its_frequency():
    N = 32
    x = np.arange(N)
    psi = np.exp(2j * np.pi * 3 * x / N)[None, :] * np.ones((N, 1))
    intensity = far_field_intensity(psi)
    assert np.unravel_index(np.argmax(intensity), intensity.shape) == (N // 2, N // 2 + 3)


def test_far_field_rejects_bad_input():
    with pytest.raises(ValueError, match="N, N"):
        far_field_intensity(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="NaN"):
        far_field_intensity(np.full((4, 4), np.nan))


def test_probe_normalisation_identity():
    for mode in ("idealized", "custom"):
        p = make_probe(64, mode)
        for scale in (4.0, 10.0):
            q = normalize_probe_guess(p, scale)
            assert q.dtype == np.complex64
            assert np.mean(np.abs(disk_mask(64) * q)) == pytest.approx(1 / scale, rel=1e-5)
    with pytest.raises(ValueError, match="probe_scale"):
        normalize_probe_guess(make_probe(64), 0)


def test_idealized_probe_disk_radius():
    p = make_probe(64)
    area = np.count_nonzero(np.abs(p) > 0.5)
    assert np.sqrt(area / np.pi) == pytest.approx(10.9, abs=0.3)
    assert p.dtype == np.complex64 and p.shape == (64, 64)


def test_disk_mask_radius():
    m = disk_mask(64)
    assert m[32, 32] and not m[32, 48] and m[32, 47]


def test_extract_patches_integer_positions_geometry(rng):
    obj = (rng.normal(size=(50, 60)) + 1j * rng.normal(size=(50, 60))).astype(np.complex64)
    N = 8
    patch = extract_patches(obj, np.array([[20.0, 30.0]]), N)[0]
    # pixel k at p - N/2 + k: pixel (N/2, N/2) is obj[y=30, x=20]
    assert patch[N // 2, N // 2] == obj[30, 20]
    assert_allclose(patch, obj[30 - N // 2 : 30 + N // 2, 20 - N // 2 : 20 + N // 2])


def test_extract_patches_subpixel_is_bilinear():
    yy, xx = np.mgrid[0:40, 0:40]
    obj = (2.0 * xx + 3.0 * yy).astype(np.complex64)  # bilinear interpolation exact on planes
    patch = extract_patches(obj, np.array([[20.25, 18.5]]), 8)[0]
    assert_allclose(patch[4, 4].real, 2 * 20.25 + 3 * 18.5, rtol=1e-6)
    assert_allclose(patch[0, 0].real, 2 * (20.25 - 4) + 3 * (18.5 - 4), rtol=1e-6)


def test_extract_outside_is_zero():
    obj = np.ones((20, 20), dtype=np.complex64)
    patch = extract_patches(obj, np.array([[0.0, 0.0]]), 8)[0]
    assert patch[0, 0] == 0 and patch[4, 4] == 1


def test_fourier_shift_inverts_exactly(rng):
    a = rng.normal(size=(2, 16, 16)) + 1j * rng.normal(size=(2, 16, 16))
    d = np.array([[1.3, -2.7], [0.5, 0.25]])
    back = fourier_shift(fourier_shift(a, d), -d)
    assert_allclose(back, a, atol=1e-12)
    # integer shift is a roll: out(r) = in(r - d)
    rolled = fourier_shift(a[:1], np.array([[2.0, 1.0]]))
    assert_allclose(rolled[0], np.roll(a[0], (1, 2), axis=(0, 1)), atol=1e-12)


def test_scales():
    d = np.ones((5, 8, 8))
    # sum d^2 = 64 per pattern -> alpha = sqrt(16/64) = 0.5
    assert input_gain(d) == pytest.approx(0.5)
    s, s_closed = loss_photon_scale(d, 1e9)
    assert s == pytest.approx(np.sqrt(1e9 / 64))
    assert loss_photon_scale(np.ones((2, 64, 64)), 1e9)[1] == pytest.approx(988.2117688)
    # per pattern, not summed over channels
    grouped = np.ones((5, 8, 8, 4))
    assert loss_photon_scale(grouped, 1e9)[0] == pytest.approx(s)
    assert input_gain(grouped) == pytest.approx(0.5)


def test_poisson_deviance_half_floor(rng):
    lam = np.full(200_000, 5e4)
    k = rng.poisson(lam)
    assert np.mean(poisson_deviance_half(lam, k)) == pytest.approx(0.5, abs=0.02)
    assert poisson_deviance_half(np.array([3.0]), np.array([3.0]))[0] == pytest.approx(0.0)


def _noise_free(obj_patches: np.ndarray, probe: np.ndarray) -> np.ndarray:
    return np.sqrt(physics.far_field_intensity(obj_patches * probe * physics.disk_mask(probe.shape[0])))


def test_error_reduction_zero_iterations_is_the_parseval_flat_object(rng):
    N = 32
    probe = physics.normalize_probe_guess(ph.make_probe(N), 4.0)
    d = _noise_free(np.full((2, N, N), 1.7 + 0j), probe)
    est = physics.error_reduction(d, probe, 0, probe_mask=True)
    np.testing.assert_allclose(est, 1.7, rtol=1e-6)  # Parseval: Σd² = a²·Σ|P|²


def test_error_reduction_keeps_a_consistent_object_and_lowers_the_data_error(rng):
    N = 32
    probe = physics.normalize_probe_guess(ph.make_probe(N), 4.0)
    flat = np.full((1, N, N), 2.0 + 0j)
    np.testing.assert_allclose(  # the true flat object is a fixed point
        physics.error_reduction(_noise_free(flat, probe), probe, 5, probe_mask=True), 2.0, rtol=1e-6
    )
    obj = rng.uniform(1.0, 3.0, (3, N, N)) * np.exp(1j * rng.uniform(-0.3, 0.3, (3, N, N)))
    d = _noise_free(obj, probe)
    errors = []
    for k in (0, 1, 3, 10):
        est = physics.error_reduction(d, probe, k, probe_mask=True)
        errors.append(np.sum((_noise_free(est, probe) - d) ** 2))
    assert errors == sorted(errors, reverse=True) and errors[-1] < 0.5 * errors[0]  # ER never raises it
    np.testing.assert_allclose(  # 1-homogeneous: works on the input-gain-scaled data as it is
        physics.error_reduction(3.0 * d, probe, 3, probe_mask=True),
        3.0 * physics.error_reduction(d, probe, 3, probe_mask=True),
        rtol=1e-10,
        atol=1e-12,
    )
    with pytest.raises(ValueError, match="like the probe"):
        physics.error_reduction(d[:, :16, :16], probe, 1, probe_mask=True)


@pytest.mark.parametrize("n, slice_", [(1, 1024), (7, 1024), (50, 1024), (50, 3)])
def test_streamed_noisy_diffraction_equals_the_whole_stack_path(n, slice_, monkeypatch):
    """The memory-lean simulation draws exactly what the whole-stack path draws, also when
    each Poisson chunk is drawn in several slices."""
    monkeypatch.setattr(noise, "SIM_SLICE", slice_)
    rng = np.random.default_rng(1)
    N = 16
    waves = (rng.uniform(0.2, 1.0, (n, N, N)) * np.exp(1j * rng.uniform(-1, 1, (n, N, N)))).astype(
        np.complex64
    )
    scale = noise.simulation_photon_scale(waves, 1e6)
    want = noise.poisson_amplitudes(physics.far_field_intensity(waves), scale, np.random.default_rng(9))
    calls = []

    def waves_of(a, b):
        calls.append(b - a)
        return waves[a:b]

    got, got_scale = noise.noisy_diffraction(waves_of, n, 1e6, np.random.default_rng(9))
    assert got_scale == scale
    np.testing.assert_array_equal(got, want)
    assert max(calls) <= min(slice_, -(-n // min(noise.POISSON_CHUNKS, n)))  # never the whole stack


def test_registered_error_reduction_is_the_estimate_moved_into_the_floor_frame(rng):
    """Issue 28, the frame error: a pattern measured at ``floor + f`` is explained in the
    ``floor`` frame by the object against the probe moved by ``f``: the registered estimate
    is (nearly) the unregistered one moved by ``+f``; and fed to the model's physics (which shifts its floor-frame patch by ``f``
    bilinearly) it reproduces the measured pattern far better than the unregistered one."""
    from ptycho_helpers.core import geometry

    N = 32
    probe = physics.normalize_probe_guess(ph.make_probe(N), 4.0)
    yy, xx = np.mgrid[:N, :N]
    obj = (1.5 + 0.8 * np.sin(xx / 2.3 + 0.4 * yy) * np.cos(yy / 3.1)) * np.exp(0.3j * np.cos(xx / 4.0))
    frac = np.array([[0.5, 0.5], [0.25, 0.75], [0.0, 0.0]])
    geo = np.zeros((3, 1, 4))
    geo[:, 0, 2:] = frac
    kw = {"probe_mask": True, "probe_big": False, "pad": 0}
    d = np.sqrt(geometry.model_intensity(np.broadcast_to(obj, (3, 1, N, N)), geo, probe, **kw))[:, 0]
    unreg = physics.error_reduction(d, probe, 8, probe_mask=True)
    reg = physics.error_reduction(d, probe, 8, probe_mask=True, fractions=frac)
    moved = physics.shifted_probe(unreg, frac)  # the unregistered estimate moved by +f
    c = slice(N // 4, 3 * N // 4)  # where the probe lights it
    far = np.abs(reg[:2, c, c] - unreg[:2, c, c]).mean()
    near = np.abs(reg[:2, c, c] - moved[:2, c, c]).mean()
    assert near < 0.2 * far, (near, far)  # registered = moved into the floor frame (not exact:
    # a fractional DFT shift of a product is not the product of the shifted factors)
    np.testing.assert_allclose(reg[2], unreg[2], rtol=1e-12)  # f = 0: nothing to register

    def misfit(est):
        lam = geometry.model_intensity(est[:, None], geo, probe, **kw)[:, 0]
        return np.sum((np.sqrt(lam) - d) ** 2, axis=(-2, -1))

    m_reg, m_unreg = misfit(reg), misfit(unreg)
    assert np.all(m_reg[:2] < 0.9 * m_unreg[:2]), (m_reg, m_unreg)  # 5.4, 5.6 vs 6.4, 7.2 (2.9 at f = 0)
    with pytest.raises(ValueError, match="fractions must have shape"):
        physics.error_reduction(d, probe, 1, probe_mask=True, fractions=frac[:2])
