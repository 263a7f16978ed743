"""The PINN's output heads and small layers: the amplitude head, ``π·tanh`` for the phase,
the log input transform, and PtychoPINN's ``probe_big`` border branch (:func:`border_branch`).

Every layer here that follows the decoders is float32 (:data:`HEAD`) under any dtype policy:
``ModelConfig.precision`` sets only the arithmetic of the convolutions.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from ..config import ModelConfig
from ..core.physics import support_mask
from .backprojection import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class ScaledSigmoid(layers.Layer):
    """``k · sigmoid(x)``: a bounded amplitude head (k = ``amp_scale``)."""

    def __init__(self, k: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.k = float(k)

    def call(self, x):
        return self.k * ops.sigmoid(x)

    def get_config(self):
        return {**super().get_config(), "k": self.k}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PiTanh(layers.Layer):
    """Phase head ``π · tanh(x)``."""

    def call(self, x):
        return math.pi * ops.tanh(x)


@keras.saving.register_keras_serializable(package=PACKAGE)
class LogCounts(layers.Layer):
    """Input transform ``log1p(scale · X) / 10`` (scale = s/α turns X back into √counts),
    so the weak high-angle diffraction that carries the fine structure is visible to the
    network next to the bright centre."""

    def __init__(self, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, x):
        return ops.log1p(self.scale * ops.relu(x)) / 10.0

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package=PACKAGE)
class BorderFill(layers.Layer):
    """``probe_big``: keep the central ``N/2`` of the main head, fill the border from a branch."""

    def __init__(self, N: int, **kwargs):
        super().__init__(**kwargs)
        self.N = int(N)

    def build(self, input_shape):
        self._border = (1.0 - support_mask(self.N, False)).astype(np.float32)[None, :, :, None]

    def call(self, inputs):
        centre, branch = inputs
        return centre + ops.convert_to_tensor(self._border) * branch

    def get_config(self):
        return {**super().get_config(), "N": self.N}


#: dtype of the heads, the border fill and everything after the decoders: float32 under
#: any policy (``ModelConfig.precision`` sets only the convolutions' arithmetic)
HEAD = "float32"
#: the decoder channels the reference's ``probe_big`` border branch reads (its ``c_outer``)
BORDER_CHANNELS = 4


def amp_head(config: ModelConfig, name: str):
    if config.amp_activation == "softplus":
        return layers.Activation("softplus", name=name, dtype=HEAD)
    if config.amp_activation == "sigmoid":
        return layers.Activation("sigmoid", name=name, dtype=HEAD)
    return ScaledSigmoid(config.amp_scale, name=name, dtype=HEAD)


@keras.saving.register_keras_serializable(package=PACKAGE)
class Channels(layers.Layer):
    """``x[..., start:stop]`` (the reference splits each decoder's channels this way)."""

    def __init__(self, start: int, stop: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), None if stop is None else int(stop)

    def call(self, x):
        return x[..., self.start : self.stop]

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


def border_branch(d, config: ModelConfig, name: str):
    """PtychoPINN's ``probe_big`` branch (``create_decoder_last`` with ``pad_object``): the
    last :data:`BORDER_CHANNELS` decoder channels → two 3×3 relu convolutions of 64
    (``n_filters_scale · 2048/N`` at N = 64) → ×2 upsampling → a 3×3 convolution → swish.
    Only the border outside the central N/2 is kept (:class:`BorderFill`)."""
    width = 2 * (2048 // max(config.N, 64))  # the reference supports N >= 64 only
    h = Channels(-BORDER_CHANNELS, name=f"{name}_outer")(d)
    h = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"{name}_up_a")(h)
    h = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"{name}_up_b")(h)
    h = layers.UpSampling2D(2, name=f"{name}_up")(h)
    h = layers.Conv2D(config.out_channels, 3, padding="same", name=f"{name}_logits", dtype=HEAD)(h)
    return layers.Activation("swish", name=f"{name}_act", dtype=HEAD)(h)
