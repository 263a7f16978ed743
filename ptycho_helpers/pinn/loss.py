"""The Poisson loss of the PINN (DESIGN §4), the Keras twin of
:func:`ptycho_helpers.core.physics.poisson_deviance_half`, written with ``keras.ops`` so it
runs unchanged on the TensorFlow, JAX and PyTorch backends.

Poisson negative log-likelihood of the measured counts ``k = s²·y`` (``y = d²``) under the
rate ``λ = s²·I`` (``I`` the model intensity), reported as the deviance / 2 per pixel,
``λ - k - k·log(λ/k)`` (the NLL minus its saturated value, same gradient), so a model at
the noise floor logs ≈ 0.5 instead of -1e8.

Precision (float32 on every backend; JAX has no float64 unless ``jax_enable_x64`` is set
process-wide, which a library must not do).  The direct form cancels catastrophically in
float32: at 1e9 photons a pixel holds up to ~1e8 counts, ``λ - k`` loses every digit of a
deviance of ≈ 0.5.  The stable form used here is

    dev/2 = k · f(u),   u = (I - y) / y,   f(u) = u - log(1 + u)

``I - y`` is exact in float32 when ``y/2 ≤ I ≤ 2y`` (Sterbenz), so ``u`` carries the full
relative precision of the float32 inputs; ``f`` is evaluated by its series
``u²(1/2 - u/3 + u²/4 - u³/5)`` for ``|u| < 0.05`` (truncation < 2e-6 relative) and as
``u - log(λ/k)`` elsewhere (``f ≥ 1e-3`` there, and the ratio is one rounding even where
``1 + u`` would lose digits near ``λ → 0``).  Measured against float64 numpy (tests/unit/pinn/test_loss.py): per-pixel
relative error < 1e-3 for counts from 1 to 1e9 per pixel, model rates within ± 5 σ of
the counts and far from them; pixels with ``k = 0`` contribute ``λ`` exactly.
"""

from __future__ import annotations

#: floor on the model intensity (object units): keeps log(λ) finite where the model is 0
EPS = 1e-12
#: below this |u| the series of f(u) = u - log1p(u) is used
SERIES_BELOW = 0.05


def deviance_half(y, intensity, photon_scale: float):
    """Per-pixel Poisson deviance/2 of counts ``s²·y`` under rates ``s²·intensity`` (keras.ops,
    float32, the stable form of the module docstring)."""
    from keras import ops

    s2 = float(photon_scale) ** 2
    y = ops.cast(y, "float32")
    lam_i = ops.maximum(ops.cast(intensity, "float32"), EPS / s2)
    measured = y > 0
    y_safe = ops.where(measured, y, ops.ones_like(y))
    u = (lam_i - y_safe) / y_safe
    small = ops.abs(u) < SERIES_BELOW
    u_small = ops.where(small, u, ops.zeros_like(u))
    u_big = ops.where(small, ops.ones_like(u), u)
    series = u_small * u_small * (0.5 - u_small / 3.0 + u_small * u_small / 4.0 - u_small**3 / 5.0)
    ratio = ops.where(small, ops.ones_like(u), lam_i / y_safe)  # one rounding, even as λ/k → 0
    direct = u_big - ops.log(ratio)
    f = ops.where(small, series, direct)
    return ops.where(measured, s2 * y * f, s2 * lam_i)


def make_loss(photon_scale: float, nll_weight: float = 1.0, mae_weight: float = 0.0):
    """Loss ``(y_true = d², y_pred = I_model) -> per-sample loss`` (object-unit intensities).

    ``nll_weight`` × Poisson deviance/2 per pixel + ``mae_weight`` × mean |√λ - √k|.
    """
    from keras import ops

    s = float(photon_scale)

    def poisson_deviance(y_true, y_pred):
        total = 0.0
        if nll_weight:
            total = total + nll_weight * ops.mean(deviance_half(y_true, y_pred, s), axis=(1, 2, 3))
        if mae_weight:
            y = ops.cast(y_true, "float32")
            lam = ops.cast(y_pred, "float32")
            mae = s * ops.abs(ops.sqrt(lam + EPS) - ops.sqrt(y + EPS))
            total = total + mae_weight * ops.mean(mae, axis=(1, 2, 3))
        return total

    return poisson_deviance
