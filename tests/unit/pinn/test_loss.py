"""The Keras Poisson loss is the twin of the numpy deviance (``core.physics``)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from ptycho_helpers.core.physics import poisson_deviance_half  # noqa: E402
from ptycho_helpers.pinn.loss import make_loss  # noqa: E402


@pytest.mark.parametrize("photon_scale", [1.0, 31.6, 988.21])
def test_loss_matches_numpy_deviance(rng, photon_scale):
    shape = (3, 8, 8, 4)
    rate = rng.gamma(2.0, 1.0, size=shape) / photon_scale**2  # object-unit intensities
    counts = rng.poisson(rate * photon_scale**2).astype(np.float64)
    counts[0, 0, 0, 0] = 0.0  # k log k -> 0 at k = 0
    y_true = (counts / photon_scale**2).astype(np.float32)
    y_pred = rate.astype(np.float32)
    got = keras.ops.convert_to_numpy(make_loss(photon_scale)(y_true, y_pred))
    want = poisson_deviance_half(
        y_pred.astype(np.float64) * photon_scale**2, y_true.astype(np.float64) * photon_scale**2
    ).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_loss_is_half_a_pixel_at_the_noise_floor(rng):
    """Large counts drawn from the model's own rate: deviance/2 per pixel ≈ 0.5."""
    s = 988.21
    rate = np.full((2, 32, 32, 1), 200.0 / s**2)
    counts = rng.poisson(rate * s**2) / s**2
    got = keras.ops.convert_to_numpy(make_loss(s)(counts.astype(np.float32), rate.astype(np.float32)))
    assert np.all(np.abs(got - 0.5) < 0.05)


@pytest.mark.parametrize("counts", [1.0, 30.0, 1e3, 1e5, 1e7, 1e9])
@pytest.mark.parametrize("sigmas", [0.0, 0.3, 1.0, 5.0, 200.0])
def test_float32_stable_form_matches_float64_deviance(rng, counts, sigmas):
    """The float32 form (no float64 on the JAX backend) keeps the deviance of counts up to
    1e9 per pixel to < 1e-3 relative, near the counts (the noise floor, where the direct
    float32 form loses every digit) and far from them."""
    from ptycho_helpers.pinn.loss import deviance_half

    s = 988.21
    k = rng.poisson(counts, size=(2, 8, 8, 1)).astype(np.float64)
    k = np.maximum(k, 1.0)
    lam = np.maximum(k + sigmas * np.sqrt(k) * rng.standard_normal(k.shape), 0.05)
    y = (k / s**2).astype(np.float32)
    intensity = (lam / s**2).astype(np.float32)
    # the reference: float64 on exactly the float32 inputs the loss sees, no series; at 1e9
    # counts even float64's direct form cancels (~5e-7 absolute), so the float64 reference
    # is k·(u - log1p(u)); the direct numpy form is checked where float64 suffices
    k64, lam64 = y.astype(np.float64) * s**2, intensity.astype(np.float64) * s**2
    u = (lam64 - k64) / k64
    want = k64 * (u - np.log1p(u))
    got = keras.ops.convert_to_numpy(deviance_half(y, intensity, s)).astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-9)
    if counts <= 1e7:
        np.testing.assert_allclose(got, poisson_deviance_half(lam64, k64), rtol=1e-3, atol=1e-6)


def test_zero_counts_and_zero_rate_stay_finite():
    from ptycho_helpers.pinn.loss import deviance_half

    s = 10.0
    y = np.array([[[[0.0], [0.5]]]], np.float32)
    intensity = np.array([[[[0.2], [0.0]]]], np.float32)
    got = keras.ops.convert_to_numpy(deviance_half(y, intensity, s))
    assert got[0, 0, 0, 0] == pytest.approx(0.2 * s**2)  # k = 0: the rate itself
    assert np.isfinite(got).all() and got[0, 0, 1, 0] > 0  # λ → 0 under k > 0: large, finite
