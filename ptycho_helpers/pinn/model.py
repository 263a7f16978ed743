"""The PINN in Keras 3: encoder, amplitude/phase decoders and the physics layers.

``build_model(config, probe)`` returns a :class:`PINN` holding two functional models
that share every layer:

* ``autoencoder``: ``[diffraction (b,N,N,C), geometry (b,C,4)] -> intensity (b,N,N,C)``,
  the model that is trained (Poisson likelihood on intensities);
* ``diffraction_to_obj``: ``diffraction -> [amp, phase]`` (b,N,N,C), used for inference.

With ``ModelConfig.backprojection > 0`` (the run default) the network also reads the
patterns brought back to real space by the known probe, and its heads start at that image
(:mod:`ptycho_helpers.pinn.backprojection`).

Physics (Keras twin of :func:`ptycho_helpers.core.geometry.model_intensity`): the object
patch of each member lives on the integer grid at ``floor(position)``; for gridsize > 1
the members are placed at their integer offsets on a ``N + 2·pad`` canvas, averaged
where they overlap and re-extracted with the same placement (so the round trip is the
identity for consistent patches — no interpolation blur); then each patch is shifted
bilinearly by its fractional position, multiplied by the probe (× the disk r < N/4 when
``probe_mask``) and propagated: ``I = |fftshift(fft2(P·O))|² / N²`` computed as
``re² + im²``.

Everything is written with ``keras.ops`` (no backend-specific calls), so the same model
trains and infers under ``KERAS_BACKEND=tensorflow`` (the default), ``jax`` and
``torch``; complex numbers are carried as (real, imaginary) pairs of float32 tensors.
Nothing happens at import; every call to ``build_model`` creates new layers and variables.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops

from ..config import ModelConfig
from ..core.physics import support_mask
from .backprojection import (
    PACKAGE,
    BackProjection,
    ProbeLayer,
    corrected_logits,
    cut_members,
    place_members,
    shift_matrices,
)
from .heads import BORDER_CHANNELS, HEAD, BorderFill, Channels, LogCounts, PiTanh, amp_head, border_branch
from .scale_layer import IntensityScale


@keras.saving.register_keras_serializable(package=PACKAGE)
class DiffractionPhysics(ProbeLayer):
    """Object patches (amp, phase) + geometry -> far-field intensity (object units).

    Inputs ``[amp (b,N,N,C), phase (b,N,N,C), geometry (b,C,4)]``; output ``(b,N,N,C)``.
    The probe is a non-trainable weight saved with the model.
    """

    def __init__(
        self,
        N: int,
        channels: int,
        pad: int,
        probe_mask: bool,
        probe_big: bool,
        prediction: str = "member",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.prediction = str(prediction)
        self.N = int(N)
        self.channels = int(channels)
        self.pad = int(pad)
        self.probe_mask = bool(probe_mask)
        self.probe_big = bool(probe_big)

    def build(self, input_shape):
        self._build_probe(self.N, self.probe_mask)
        self._support = support_mask(self.N, self.probe_big).astype(np.float32)

    def _combine_extract(self, re, im, offsets):
        A_x = shift_matrices(offsets[..., 0], self.N, self.pad)
        A_y = shift_matrices(offsets[..., 1], self.N, self.pad)
        w = place_members(ops.ones_like(re) * ops.convert_to_tensor(self._support), A_y, A_x)
        w = ops.maximum(w, 1.0)
        return (
            cut_members(place_members(re, A_y, A_x) / w, A_y, A_x),
            cut_members(place_members(im, A_y, A_x) / w, A_y, A_x),
        )

    def _cut_members(self, t, offsets):
        """(b,1,N,N) object at the anchor -> (b,C,N,N) member cuts (twin of geometry.cut_members)."""
        p = self.pad
        canvas = ops.pad(t[:, 0], [[0, 0], [p, p], [p, p]])  # (b, S, S)
        A_x = shift_matrices(offsets[..., 0], self.N, p)
        A_y = shift_matrices(offsets[..., 1], self.N, p)
        return cut_members(canvas, A_y, A_x)

    def call(self, inputs):
        amp, phase, geometry = inputs
        amp = ops.transpose(amp, (0, 3, 1, 2))  # (b, C, N, N)
        phase = ops.transpose(phase, (0, 3, 1, 2))
        support = ops.convert_to_tensor(self._support)
        re = amp * ops.cos(phase) * support
        im = amp * ops.sin(phase) * support
        if self.prediction == "group":  # one object per group: each member sees its cut
            re, im = self._cut_members(re, geometry[..., :2]), self._cut_members(im, geometry[..., :2])
        elif self.channels > 1:
            re, im = self._combine_extract(re, im, geometry[..., :2])
        fx = geometry[..., 2][..., None, None]
        fy = geometry[..., 3][..., None, None]

        def shift(t):
            nx = ops.pad(t[..., :, 1:], [[0, 0], [0, 0], [0, 0], [0, 1]])
            t = t * (1.0 - fx) + nx * fx
            ny = ops.pad(t[..., 1:, :], [[0, 0], [0, 0], [0, 1], [0, 0]])
            return t * (1.0 - fy) + ny * fy

        re, im = shift(re), shift(im)
        pr, pi = self._masked_probe()
        ex_re = re * pr - im * pi
        ex_im = re * pi + im * pr
        f_re, f_im = ops.fft2((ex_re, ex_im))
        intensity = (f_re**2 + f_im**2) / float(self.N * self.N)
        h = self.N // 2  # fftshift (N even): the DC term moves to pixel (N/2, N/2)
        intensity = ops.roll(intensity, shift=(h, h), axis=(2, 3))
        return ops.transpose(intensity, (0, 2, 3, 1))

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], self.channels)

    def get_config(self):
        return {
            **super().get_config(),
            "N": self.N,
            "channels": self.channels,
            "pad": self.pad,
            "probe_mask": self.probe_mask,
            "probe_big": self.probe_big,
            "prediction": self.prediction,
        }


@dataclass
class PINN:
    """The trained/trainable model pair and its configuration."""

    config: ModelConfig
    autoencoder: keras.Model
    diffraction_to_obj: keras.Model

    @property
    def physics(self) -> DiffractionPhysics:
        return self.autoencoder.get_layer("physics")


def _conv(h, filters: int, name: str, batch_norm: bool):
    """3×3 conv + relu (with BatchNormalization before the relu when asked)."""
    if not batch_norm:
        return layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)(h)
    h = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(h)
    h = layers.BatchNormalization(name=f"{name}_bn")(h)
    return layers.Activation("relu", name=f"{name}_relu")(h)


def _decoder(h, widths, prefix: str, batch_norm: bool = False, fullres: int = 0):
    for i, f in enumerate(widths):
        h = _conv(h, f, f"{prefix}_conv{i}a", batch_norm)
        h = _conv(h, f, f"{prefix}_conv{i}b", batch_norm)
        h = layers.UpSampling2D(2, name=f"{prefix}_up{i}")(h)
    if fullres:  # non-linear layers at the output resolution (the reference has none there)
        h = _conv(h, fullres, f"{prefix}_fullres_a", batch_norm)
        h = _conv(h, fullres, f"{prefix}_fullres_b", batch_norm)
    return h


def build_model(config: ModelConfig, probe: np.ndarray) -> PINN:
    """Build a fresh PINN (new layers and variables on every call).

    Parameters
    ----------
    config : ModelConfig
    probe : (N, N) complex, the normalised probe (stored as a non-trainable weight)

    Returns
    -------
    PINN
    """
    if not isinstance(config, ModelConfig):
        raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.precision)  # layers take the policy when created
    try:
        return _build(config, probe)
    finally:
        keras.config.set_dtype_policy(before)


def _build(config: ModelConfig, probe: np.ndarray) -> PINN:
    p = np.asarray(probe)
    N, C = config.N, config.channels
    if p.shape != (N, N):
        raise ValueError(f"probe must have shape ({N}, {N}) for N={N}, got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("probe contains NaN or inf")
    f1, f2, f3 = config.encoder_filters

    x_in = keras.Input((N, N, C), name="diffraction")
    geo_in = keras.Input((C, 4), name="geometry")
    h = x_in
    back = None
    scaler = None
    if config.intensity_scale == "reference":  # PtychoPINN's shared trainable log-scale (.scale_layer)
        scaler = IntensityScale(config.scale_init, name="intensity_scale", dtype="float32")
        h = scaler(x_in, direction="input")
    if config.backprojection:  # the data in real space, by the known physics (no weights)
        bp_layer = BackProjection(
            N,
            config.backprojection,
            config.probe_mask,
            config.input_gain,
            register=True,
            group=config.physics_input == "group",
            pad=max(config.combine_pad, N // 2),  # K-NN members beyond N/2 of the anchor: see the layer
            name="backprojection",
            dtype="float32",
        )
        back = bp_layer([x_in, geo_in])  # formed in each member's floor(position) frame
    if config.input_transform == "log":
        h = LogCounts(config.input_counts_scale, name="log_counts")(h)
    elif config.input_transform == "linear+log":  # bright-centre cue and high-angle detail side by side
        h = layers.Concatenate(name="input_concat")(
            [h, LogCounts(config.input_counts_scale, name="log_counts")(h)]
        )
    if back is not None:
        h = layers.Concatenate(name="input_with_backprojection")([h, back])
    bn = config.batch_norm
    for i, f in enumerate((f1, f2, f3)):
        h = _conv(h, f, f"enc{i}a", bn)
        h = _conv(h, f, f"enc{i}b", bn)
        h = layers.MaxPooling2D(2, name=f"pool{i}")(h)
    if config.dense_bottleneck:  # global mixing: far field -> real space is non-local
        side = N // 8
        g = layers.Flatten(name="bottleneck_flat")(h)
        g = layers.Dense(config.dense_bottleneck, activation="relu", name="bottleneck_dense")(g)
        g = layers.Dense(side * side * f3 // 4, activation="relu", name="bottleneck_expand")(g)
        g = layers.Reshape((side, side, f3 // 4), name="bottleneck_reshape")(g)
        h = layers.Concatenate(name="bottleneck_concat")([h, g])

    fr = config.fullres_filters
    da = _decoder(h, (f2, f1), "dec_amp", bn, fr)
    dp = _decoder(h, (f2, f1), "dec_phase", bn, fr)
    # with probe_big the centre heads read all but the channels the border branch reads
    ca, cp = da, dp
    if config.probe_big:
        ca = Channels(0, -BORDER_CHANNELS, name="dec_amp_inner")(da)
        cp = Channels(0, -BORDER_CHANNELS, name="dec_phase_inner")(dp)
    if back is None:
        amp = layers.Conv2D(config.out_channels, 3, padding="same", name="amp_logits", dtype=HEAD)(ca)
        phase = layers.Conv2D(config.out_channels, 3, padding="same", name="phase_logits", dtype=HEAD)(cp)
    else:  # the heads start at the back-projection; the network learns the correction
        amp, phase = corrected_logits(back, ca, cp, config, lambda t, f, name: _conv(t, f, name, bn))
    amp = amp_head(config, "amp_centre")(amp)
    amp = layers.ZeroPadding2D(N // 4, name="amp_pad", dtype=HEAD)(amp)
    phase = PiTanh(name="phase_centre", dtype=HEAD)(phase)
    phase = layers.ZeroPadding2D(N // 4, name="phase_pad", dtype=HEAD)(phase)

    if config.probe_big:
        amp = BorderFill(N, name="amp", dtype=HEAD)([amp, border_branch(da, config, "big_amp")])
        phase = BorderFill(N, name="phase", dtype=HEAD)([phase, border_branch(dp, config, "big_phase")])
    else:
        amp = layers.Identity(name="amp", dtype=HEAD)(amp)
        phase = layers.Identity(name="phase", dtype=HEAD)(phase)

    physics = DiffractionPhysics(
        N,
        C,
        config.combine_pad,
        config.probe_mask,
        config.probe_big,
        config.prediction,
        name="physics",
        dtype="float32",  # the physics stays float32 under a mixed-precision policy
    )
    intensity = physics([amp, phase, geo_in])
    if scaler is not None:
        intensity = scaler(intensity, direction="output")
    autoencoder = keras.Model([x_in, geo_in], intensity, name="pinn")
    physics.set_probe(p)
    if back is not None:
        bp_layer.set_probe(p)
    obj_inputs = [x_in, geo_in] if back is not None else x_in  # the registered input reads the fractions
    diffraction_to_obj = keras.Model(obj_inputs, [amp, phase], name="diffraction_to_obj")
    return PINN(config, autoencoder, diffraction_to_obj)


def inference_model(autoencoder: keras.Model) -> keras.Model:
    """Rebuild ``diffraction -> [amp, phase]`` from a (loaded) autoencoder by layer name
    (``[diffraction, geometry] -> [amp, phase]`` when its physics input is registered)."""
    inputs = autoencoder.get_layer("diffraction").output
    if any(isinstance(layer, BackProjection) and layer.register for layer in autoencoder.layers):
        inputs = [inputs, autoencoder.get_layer("geometry").output]
    return keras.Model(
        inputs,
        [autoencoder.get_layer("amp").output, autoencoder.get_layer("phase").output],
        name="diffraction_to_obj",
    )


def physics_intensity(
    patches: np.ndarray,
    geometry: np.ndarray,
    probe: np.ndarray,
    *,
    probe_mask: bool,
    probe_big: bool,
    pad: int,
    prediction: str = "member",
) -> np.ndarray:
    """Run complex patches ``(g, C, N, N)`` (``(g, 1, N, N)`` group objects with
    ``prediction="group"``) through the Keras physics layer (float32, current backend).

    Returns ``(g, C, N, N)`` intensity; the twin of :func:`core.geometry.model_intensity`.
    """
    p = np.asarray(patches)
    g, _, N, _ = p.shape
    C = np.asarray(geometry).shape[1]
    layer = DiffractionPhysics(N, C, pad, probe_mask, probe_big, prediction)
    amp = np.transpose(np.abs(p), (0, 2, 3, 1)).astype(np.float32)
    phase = np.transpose(np.angle(p), (0, 2, 3, 1)).astype(np.float32)
    geo = np.asarray(geometry, dtype=np.float32)
    layer.build([amp.shape, phase.shape, geo.shape])
    layer.set_probe(probe)
    out = layer([ops.convert_to_tensor(amp), ops.convert_to_tensor(phase), ops.convert_to_tensor(geo)])
    return np.transpose(ops.convert_to_numpy(out), (0, 3, 1, 2))
