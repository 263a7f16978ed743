"""Physics refinement of predicted patches on the measured test diffraction (no truth used).

The PINN's prediction for each test group is the starting point of a short gradient
descent on the same physics and loss the network was trained with: the group's patches
(amplitude through softplus, phase free) are the variables, the group's own diffraction
the data.  Groups are refined independently (as they are predicted), so the result is
stitched exactly like the PINN output and both can be scored side by side.

Why: the network alone is optimisation-limited here — after training its Poisson
deviance/2 is ~10³–10⁴ per pixel against a noise floor of ≈ 0.45, and it reconstructs the
low frequencies (the brightness), not the lines.  Starting from its prediction, 100 Adam
steps on the patches bring the deviance to ~10–100 per pixel and restore the lines
(docs/results.md "What limits quality" has the measurements, including refinement from a flat
start, which the PINN start beats).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from ..config import ModelConfig
from ..core.checks import check_float, check_int
from ..core.grouping import GroupedData

logger = logging.getLogger(__name__)
#: seconds between refinement progress lines
PROGRESS_EVERY_S = 10.0


@dataclass(frozen=True)
class Refined:
    """Refined patches and the loss they reached.

    Attributes
    ----------
    patches : (g·C, N, N) complex64, in the order of the input patches
    loss_start, loss_end : mean loss (Poisson deviance/2 per pixel) before the first and
        after the last step
    steps : int
    wall_s : float
    """

    patches: np.ndarray
    loss_start: float
    loss_end: float
    steps: int
    wall_s: float


def _softplus_inverse(a: np.ndarray) -> np.ndarray:
    a = np.maximum(np.asarray(a, dtype=np.float64), 1e-6)
    return a + np.log(-np.expm1(-a))


def refine_patches(
    patches: np.ndarray,
    data: GroupedData,
    *,
    probe: np.ndarray,
    model_config: ModelConfig,
    photon_scale: float,
    steps: int,
    learning_rate: float = 0.05,
    batch_size: int = 64,
) -> Refined:
    """Refine predicted patches against their groups' diffraction with the model's physics.

    Parameters
    ----------
    patches : (g·C, N, N) complex, the prediction for ``data`` (``Reconstruction.patches``)
    data : GroupedData, the groups the patches were predicted from
    probe : (N, N) complex, the probe the model was trained with
    model_config : ModelConfig, the trained model's (geometry, probe mask, combine pad)
    photon_scale : float, the loss photon scale ``s`` of the trained model
    steps : int >= 1, Adam steps per batch of groups
    learning_rate : float, Adam step on the patch variables (amplitude logits, phase rad)
    batch_size : int, groups refined together (bounds memory; groups are independent)

    Returns
    -------
    Refined
    """
    from .loss import make_loss

    steps = check_int("steps", steps, minimum=1)
    learning_rate = check_float("learning_rate", learning_rate, minimum=0.0, exclusive=True)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    N, C = model_config.N, model_config.channels
    g = data.n_groups
    p = np.asarray(patches)
    if p.shape != (g * C, N, N):
        raise ValueError(f"patches must have shape ({g * C}, {N}, {N}) for {g} groups, got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("patches contain NaN or inf")
    t0 = time.perf_counter()
    grouped = np.transpose(p.reshape(g, C, N, N), (0, 2, 3, 1))  # (g, N, N, C)
    out = np.empty_like(grouped, dtype=np.complex64)
    loss_fn = make_loss(photon_scale)
    starts, ends, sizes = [], [], []
    for b0 in range(0, g, batch_size):
        sl = slice(b0, b0 + batch_size)
        out[sl], start, end = _refine_batch(
            grouped[sl],
            data.diffraction[sl],
            data.geometry[sl],
            probe,
            model_config,
            loss_fn,
            steps,
            learning_rate,
        )
        starts.append(start)
        ends.append(end)
        sizes.append(out[sl].shape[0])
    result = Refined(
        np.transpose(out, (0, 3, 1, 2)).reshape(g * C, N, N),
        float(np.average(starts, weights=sizes)),  # per-group means, as if refined in one batch
        float(np.average(ends, weights=sizes)),
        steps,
        time.perf_counter() - t0,
    )
    logger.info(
        "refined %d groups for %d steps: loss %.4g -> %.4g (%.1f s)",
        g,
        steps,
        result.loss_start,
        result.loss_end,
        result.wall_s,
    )
    return result


def _patch_variables_layer():
    import keras

    class PatchVariables(keras.layers.Layer):
        """The refined variables: per-group amplitude logits and phase ``(b, N, N, C)``;
        the geometry input only carries the batch (one full batch per step)."""

        def __init__(self, logits0: np.ndarray, phase0: np.ndarray, **kwargs):
            super().__init__(**kwargs)
            self.logits = self.add_weight(
                shape=logits0.shape, initializer=keras.initializers.Constant(logits0), name="logits"
            )
            self.phase = self.add_weight(
                shape=phase0.shape, initializer=keras.initializers.Constant(phase0), name="phase"
            )

        def call(self, geometry):
            return keras.ops.softplus(self.logits), keras.ops.convert_to_tensor(self.phase)

    return PatchVariables


def _refine_batch(patches, diffraction, geometry, probe, model_config, loss_fn, steps, learning_rate):
    """Adam on one batch of groups ``(b, N, N, C)``; returns (patches, loss before, loss after).

    Backend-neutral: the patches are the weights of a tiny Keras model (patch variables →
    the model's physics layer) trained by ``fit`` with one full-batch step per epoch.
    """
    import keras

    from .model import DiffractionPhysics

    mc = model_config
    b = patches.shape[0]
    geo = geometry.astype(np.float32)
    target = np.square(diffraction, dtype=np.float32)
    amp0 = np.abs(patches)
    geo_in = keras.Input(geo.shape[1:], name="geometry")
    amp, phase = _patch_variables_layer()(
        _softplus_inverse(amp0).astype(np.float32), np.angle(patches).astype(np.float32), name="patches"
    )(geo_in)
    physics = DiffractionPhysics(
        mc.N, mc.channels, mc.combine_pad, mc.probe_mask, mc.probe_big, name="physics", dtype="float32"
    )
    model = keras.Model(geo_in, physics([amp, phase, geo_in]))
    physics.set_probe(probe)
    # cosine decay to 0: Adam's first steps move every variable by ~lr whatever its gradient,
    # so a constant rate keeps shaking pixels the data barely constrain; decayed, it settles
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss_fn)
    last = [time.perf_counter()]

    def progress(epoch, logs):  # a line every PROGRESS_EVERY_S: long refinements are never silent
        now = time.perf_counter()
        if now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            logger.info(
                "refining %d groups: step %d/%d loss=%.6g", b, epoch + 1, steps, (logs or {}).get("loss")
            )

    fit = model.fit(
        geo,
        target,
        batch_size=b,
        epochs=steps,
        shuffle=False,
        verbose=0,
        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=progress)],
    )
    start = float(fit.history["loss"][0])  # the loss of the first step, before its update
    end = float(model.evaluate(geo, target, batch_size=b, verbose=0))
    if not math.isfinite(end):
        raise FloatingPointError("refinement diverged (non-finite loss); lower refine_lr")
    layer = model.get_layer("patches")
    a = keras.ops.convert_to_numpy(keras.ops.softplus(layer.logits))
    ph = keras.ops.convert_to_numpy(layer.phase)
    return (a * np.exp(1j * ph)).astype(np.complex64), start, end
