"""The reference's trainable intensity scale (PtychoPINN's ``IntensityScaler`` and
``IntensityScaler_inv`` pair), used when ``ModelConfig.intensity_scale == "reference"``.

One trainable scalar ``w = log(scale)``, initialised at ``log(s0)`` with the closed form
``s0 = sqrt(nphotons)/(N/2)`` (988.21 at N = 64 and 1e9 photons), is shared by both ends
of the model:

* input side: the network reads ``x / exp(w)``, where ``x = s0·d`` is the diffraction
  amplitude ``d`` times the closed form (the reference feeds ``X·intensity_scale``), so an
  untrained model reads ``d`` itself;
* output side: the model amplitude ``|F(P·O)|/N`` is multiplied by ``exp(w)``, so the
  Poisson rate is ``λ = exp(2w)·I`` against the counts ``k = (s0·d)²``.  The loss of
  :mod:`.loss` multiplies intensities by ``s0²``, so this layer returns
  ``I·exp(2(w − log s0))``.

With ``w`` frozen at ``log s0`` this is the data scale with input gain 1; what the
reference adds is that training may move ``w`` (a global brightness the amplitude head need
not produce, which matters for a sigmoid head capped at 1).
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from .backprojection import PACKAGE

#: directions of :class:`IntensityScale`
DIRECTIONS = ("input", "output")


@keras.saving.register_keras_serializable(package=PACKAGE)
class IntensityScale(layers.Layer):
    """``call(x, direction="input") = x / exp(w)``; ``call(I, direction="output") =
    I·exp(2(w − log s0))`` (one weight ``log_scale`` for both calls)."""

    def __init__(self, scale_init: float, **kwargs):
        super().__init__(**kwargs)
        self.scale_init = float(scale_init)
        if not (self.scale_init > 0 and math.isfinite(self.scale_init)):
            raise ValueError(f"scale_init={scale_init!r} must be a finite number > 0")

    def build(self, input_shape):
        self.log_scale = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(math.log(self.scale_init)),
            trainable=True,
            name="log_scale",
        )

    def call(self, x, direction: str = "input"):
        if direction not in DIRECTIONS:
            raise ValueError(f"direction={direction!r}; expected one of {DIRECTIONS}")
        w = ops.cast(self.log_scale, x.dtype)
        if direction == "input":
            return x * ops.exp(-w)
        return x * ops.exp(2.0 * (w - math.log(self.scale_init)))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale_init": self.scale_init}


def learned_scale(autoencoder) -> float | None:
    """``exp(w)`` of a model with the reference's scale; ``None`` without one."""
    try:
        layer = autoencoder.get_layer("intensity_scale")
    except ValueError:
        return None
    return float(math.exp(float(ops.convert_to_numpy(layer.log_scale))))
