"""The Poisson loss of the PINN (DESIGN §4), the Keras twin of
:func:`ptycho_helpers.core.physics.poisson_deviance_half`.

Poisson negative log-likelihood of the measured counts ``k = s²·d²`` under the rate
``λ = s²·I_model``, reported as the deviance / 2 per pixel, ``λ - k - k·log(λ/k)`` (the
NLL minus its saturated value, same gradient), so a model at the noise floor logs ≈ 0.5
instead of -1e8.  Computed in float64 (counts reach 1e8 at 1e9 photons, where float32
cancellation would swamp the 0.5).
"""

from __future__ import annotations

EPS = 1e-12


def make_loss(photon_scale: float, nll_weight: float = 1.0, mae_weight: float = 0.0):
    """Loss ``(y_true = d², y_pred = I_model) -> per-sample loss`` (object-unit intensities).

    ``nll_weight`` × Poisson deviance/2 per pixel + ``mae_weight`` × mean |√λ - √k|.
    """
    import tensorflow as tf

    s2 = float(photon_scale) ** 2

    def poisson_deviance(y_true, y_pred):
        k = tf.cast(y_true, tf.float64) * s2
        lam = tf.cast(y_pred, tf.float64) * s2
        total = tf.constant(0.0, tf.float64)
        if nll_weight:
            dev = lam - k + k * (tf.math.log(k + EPS) - tf.math.log(lam + EPS))
            total += nll_weight * tf.reduce_mean(dev, axis=[1, 2, 3])
        if mae_weight:
            mae = tf.abs(tf.sqrt(lam + EPS) - tf.sqrt(k + EPS))
            total += mae_weight * tf.reduce_mean(mae, axis=[1, 2, 3])
        return tf.cast(total, tf.float32)

    return poisson_deviance
