"""The Keras Poisson loss is the twin of the numpy deviance (``core.physics``)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

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
    got = np.asarray(make_loss(photon_scale)(y_true, y_pred))
    want = poisson_deviance_half(
        y_pred.astype(np.float64) * photon_scale**2, y_true.astype(np.float64) * photon_scale**2
    ).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_loss_is_half_a_pixel_at_the_noise_floor(rng):
    """Large counts drawn from the model's own rate: deviance/2 per pixel ≈ 0.5."""
    s = 988.21
    rate = np.full((2, 32, 32, 1), 200.0 / s**2)
    counts = rng.poisson(rate * s**2) / s**2
    got = np.asarray(make_loss(s)(counts.astype(np.float32), rate.astype(np.float32)))
    assert np.all(np.abs(got - 0.5) < 0.05)
