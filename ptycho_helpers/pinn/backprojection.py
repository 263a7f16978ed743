"""The network's physics input: each diffraction pattern brought back to real space by the
known probe (:class:`BackProjection`, numpy twin :func:`core.physics.error_reduction`), and
the head logits that make the untrained model output that image (:class:`HeadPrior`).

Written with ``keras.ops`` only (every backend); the layers have no trainable weights.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from ..core.physics import disk_mask

PACKAGE = "ptycho_helpers"

#: Width of the two full-resolution convolutions that read the back-projection beside the
#: decoder output (``ModelConfig.fullres_filters`` overrides it).
BACKPROJECTION_FILTERS = 32


def shift_matrices(offsets, N: int, pad: int):
    """One-hot placement matrices ``A[b, c, k, u] = 1`` iff ``u = k + pad + offset``: a
    member's ``N`` pixels on its group's ``N + 2·pad`` canvas (an offset beyond ``pad``
    places part of the member outside the canvas, where it is dropped)."""
    S = N + 2 * pad
    idx = ops.arange(N, dtype="int32")[None, None, :] + pad + ops.cast(ops.round(offsets), "int32")[..., None]
    return ops.one_hot(idx, S, dtype="float32")  # (b, C, N, S)


def place_members(t, A_y, A_x):
    """(b, C, N, N) member patches → (b, S, S) their sum on the group canvas."""
    t = ops.einsum("bcku,bckl->bcul", A_y, t)
    return ops.einsum("bcul,bclv->buv", t, A_x)


def cut_members(t, A_y, A_x):
    """(b, S, S) group canvas → (b, C, N, N) each member's view of it."""
    t = ops.einsum("bcku,buv->bckv", A_y, t)
    return ops.einsum("bckv,bclv->bckl", t, A_x)


class ProbeLayer(layers.Layer):
    """A layer holding the known probe as two non-trainable ``(N, N)`` weights (saved with
    the model), ``× the disk r < N/4`` when ``probe_mask``: the shared part of the physics
    layers (``model.DiffractionPhysics``, :class:`BackProjection`)."""

    def _build_probe(self, N: int, probe_mask: bool) -> None:
        self.probe_re = self.add_weight(shape=(N, N), initializer="zeros", trainable=False, name="probe_re")
        self.probe_im = self.add_weight(shape=(N, N), initializer="zeros", trainable=False, name="probe_im")
        self._disk = disk_mask(N).astype(np.float32) if probe_mask else np.ones((N, N), np.float32)

    def set_probe(self, probe: np.ndarray) -> None:
        p = np.asarray(probe, dtype=np.complex64)
        if p.shape != (self.N, self.N):
            raise ValueError(f"probe must have shape ({self.N}, {self.N}), got {p.shape}")
        self.probe_re.assign(p.real)
        self.probe_im.assign(p.imag)

    def _masked_probe(self):
        """(real, imaginary) parts of the probe the model uses."""
        disk = ops.convert_to_tensor(self._disk)
        return self.probe_re * disk, self.probe_im * disk


def amp_head_inverse(a, amp_activation: str, amp_scale: float):
    """The logits at which the amplitude head outputs ``a`` (``keras.ops``; tensors or
    scalars): softplus⁻¹, or the logit of ``a / cap`` for the sigmoid heads (cap 1 or k),
    both kept away from the heads' flat ends."""
    if amp_activation == "softplus":
        a = ops.maximum(a, 1e-3)
        return a + ops.log(-ops.expm1(-a))
    cap = 1.0 if amp_activation == "sigmoid" else amp_scale
    q = ops.clip(ops.divide(a, cap), 1e-3, 1.0 - 1e-3)
    return ops.log(q / (1.0 - q))


@keras.saving.register_keras_serializable(package=PACKAGE)
class BackProjection(ProbeLayer):
    """The measured diffraction brought back to real space by the known physics.

    ``k`` error-reduction iterations per pattern (no network, no training): a flat object
    of the Parseval amplitude of that pattern, ``a = sqrt(Σd² / Σ|P|²)``, is propagated,
    its far-field modulus replaced by the measured one, propagated back, and the object
    updated where the probe lights it, ``O += conj(P)·(ψ' − ψ) / max|P|²``.  The update is
    1-homogeneous in ``d``, so it works on the input-gain-scaled diffraction as it is.

    Input ``(b, N, N, C)`` measured amplitudes (fftshifted, the model's input, i.e. the
    data × the input gain α), and with ``register`` also the geometry ``(b, C, 4)``
    (``[dx, dy, fx, fy]``) as ``[diffraction, geometry]``; output ``(b, N, N, 3C)``:
    ``[|O|, Re O, Im O]`` of each member in object units (divided by α), the units the
    heads predict in.  The probe (× the disk r < N/4 when ``probe_mask``) is a
    non-trainable weight.

    ``group`` (issue 28, gridsize > 1; needs ``register``): the group's members are solved
    jointly on one canvas per group (``N + 2·pad``, members at their integer offsets),
    error reduction with overlap — each iteration every member keeps its far-field phase
    and takes the measured modulus, and the canvas becomes ``Σ conj(P_k)·ψ'_k / Σ|P_k|²``
    where a probe lights it — starting flat at the members' Parseval amplitude; each
    member's output is its view of the canvas.  Numpy twin: ``core.ceilings.group_solve``.

    ``register`` (issue 28): a pattern is measured at a fractional position ``floor + f``
    but the model predicts and stitches its patch in the ``floor`` frame, and the physics
    layer applies the fraction itself.  Registered, each member's estimate is formed
    against the probe moved by ``f`` (``core.physics.shifted_probe``), i.e. directly in
    the ``floor`` frame; unregistered (bundles saved before the fix) it sits at the
    fractional position, ``f`` px off the frame the network's output is used in.
    """

    def __init__(
        self,
        N: int,
        iterations: int,
        probe_mask: bool,
        input_gain: float = 1.0,
        register: bool = False,
        group: bool = False,
        pad: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if group and not register:
            raise ValueError("a group BackProjection needs register=True (the member geometry)")
        self.group = bool(group)
        self.pad = int(pad)
        self.input_gain = float(input_gain)
        self.N = int(N)
        self.iterations = int(iterations)
        self.probe_mask = bool(probe_mask)
        self.register = bool(register)
        k = np.fft.fftfreq(self.N).astype(np.float32)
        self._ky, self._kx = k[:, None], k[None, :]

    def build(self, input_shape):
        self._build_probe(self.N, self.probe_mask)

    def _registered_probe(self, pr, pi, geometry):
        """(b, C, N, N) real and imaginary parts of the probe moved by each member's
        fraction: pixel ``i`` is the probe at ``i − f`` (Fourier shift)."""
        g = ops.cast(geometry, "float32")
        fx = g[..., 2][..., None, None]
        fy = g[..., 3][..., None, None]
        phi = (-2.0 * math.pi) * (fy * ops.convert_to_tensor(self._ky) + fx * ops.convert_to_tensor(self._kx))
        c, s = ops.cos(phi), ops.sin(phi)
        F_re, F_im = ops.fft2((pr, pi))
        return ops.ifft2((F_re * c - F_im * s, F_re * s + F_im * c))

    def call(self, inputs):
        x, geometry = (inputs[0], inputs[1]) if isinstance(inputs, (list, tuple)) else (inputs, None)
        if self.register and geometry is None:
            raise ValueError("a registered BackProjection needs [diffraction, geometry]")
        N, h = self.N, self.N // 2
        d = ops.transpose(ops.cast(x, "float32"), (0, 3, 1, 2))  # (b, C, N, N)
        d = ops.relu(d)
        pr, pi = self._masked_probe()
        total = ops.sum(pr**2 + pi**2)  # Parseval: the shift keeps it
        step = 1.0 / ops.max(pr**2 + pi**2)  # of the unmoved probe (numpy twin: the same)
        if self.register:
            pr, pi = self._registered_probe(pr, pi, geometry)
        target = ops.roll(d, shift=(-h, -h), axis=(2, 3)) * float(N)  # unshifted |fft2| = N·d
        if self.group:
            o_re, o_im = self._group_solve(d, target, pr, pi, total, geometry)
        else:
            o_re, o_im = self._member_solve(d, target, pr, pi, total, step)
        o_re, o_im = o_re / self.input_gain, o_im / self.input_gain
        amp = ops.sqrt(o_re**2 + o_im**2)
        out = ops.concatenate([amp, o_re, o_im], axis=1)  # (b, 3C, N, N)
        return ops.transpose(out, (0, 2, 3, 1))

    def _group_solve(self, d, target, pr, pi, total, geometry):
        """The members of each group solved jointly on one canvas (error reduction with
        overlap); returns each member's view of the canvas, (b, C, N, N) twice."""
        g = ops.cast(geometry, "float32")
        A_y = shift_matrices(g[..., 1], self.N, self.pad)
        A_x = shift_matrices(g[..., 0], self.N, self.pad)
        den = place_members(pr**2 + pi**2, A_y, A_x)  # (b, S, S)
        lit = ops.cast(den > 1e-6 * ops.max(den), "float32")
        inv = lit / ops.where(lit > 0, den, 1.0)
        C = d.shape[1]
        a0 = ops.sqrt(ops.sum(d**2, axis=(1, 2, 3)) / (C * total))  # (b,)
        c_re = a0[:, None, None] * ops.ones_like(den)
        c_im = ops.zeros_like(den)
        for _ in range(self.iterations):
            v_re, v_im = cut_members(c_re, A_y, A_x), cut_members(c_im, A_y, A_x)
            s_re, s_im = v_re * pr - v_im * pi, v_re * pi + v_im * pr
            f_re, f_im = ops.fft2((s_re, s_im))
            k = target / ops.maximum(ops.sqrt(f_re**2 + f_im**2), 1e-6)
            q_re, q_im = ops.ifft2((f_re * k, f_im * k))
            n_re = place_members(pr * q_re + pi * q_im, A_y, A_x)  # conj(P)·ψ'
            n_im = place_members(pr * q_im - pi * q_re, A_y, A_x)
            c_re = lit * n_re * inv + (1.0 - lit) * c_re
            c_im = lit * n_im * inv + (1.0 - lit) * c_im
        return cut_members(c_re, A_y, A_x), cut_members(c_im, A_y, A_x)

    def _member_solve(self, d, target, pr, pi, total, step):
        """Each pattern alone (no overlap); (b, C, N, N) twice."""
        a0 = ops.sqrt(ops.sum(d**2, axis=(2, 3), keepdims=True) / total)
        o_re = a0 * ops.ones_like(d)
        o_im = ops.zeros_like(d)
        for _ in range(self.iterations):
            s_re, s_im = o_re * pr - o_im * pi, o_re * pi + o_im * pr
            f_re, f_im = ops.fft2((s_re, s_im))
            k = target / ops.maximum(ops.sqrt(f_re**2 + f_im**2), 1e-6)
            q_re, q_im = ops.ifft2((f_re * k, f_im * k))
            e_re, e_im = q_re - s_re, q_im - s_im
            o_re = o_re + (pr * e_re + pi * e_im) * step
            o_im = o_im + (pr * e_im - pi * e_re) * step
        return o_re, o_im

    def compute_output_shape(self, input_shape):
        shape = (
            input_shape[0]
            if isinstance(input_shape, (list, tuple)) and isinstance(input_shape[0], (list, tuple))
            else input_shape
        )
        return (*shape[:-1], 3 * shape[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "N": self.N,
            "iterations": self.iterations,
            "probe_mask": self.probe_mask,
            "input_gain": self.input_gain,
            "register": self.register,
            "group": self.group,
            "pad": self.pad,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class HeadPrior(layers.Layer):
    """Logits that make the output heads reproduce the back-projection: the inverse of the
    amplitude head on ``|O|`` and of ``π·tanh`` on ``arg O`` (inputs ``(b, n, n, 3C)``
    as :class:`BackProjection` gives them; outputs ``[amp_logits, phase_logits]``)."""

    def __init__(self, channels: int, amp_activation: str, amp_scale: float, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.amp_activation = str(amp_activation)
        self.amp_scale = float(amp_scale)

    def call(self, bp):
        C = self.channels
        amp, re, im = bp[..., :C], bp[..., C : 2 * C], bp[..., 2 * C :]
        amp_logits = amp_head_inverse(amp, self.amp_activation, self.amp_scale)
        t = ops.clip(ops.arctan2(im, re) / math.pi, -0.999, 0.999)
        phase_logits = 0.5 * ops.log((1.0 + t) / (1.0 - t))  # atanh
        return amp_logits, phase_logits

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "amp_activation": self.amp_activation,
            "amp_scale": self.amp_scale,
        }


def corrected_logits(back, da, dp, config, conv):
    """Amplitude and phase logits (before the heads) of the physics-input model.

    The centre ``N/2`` of the back-projection ``back`` is concatenated to each decoder's
    output ``da``/``dp`` and read by two full-resolution convolutions (``conv(t, filters,
    name)``) and a last 3×3 convolution that starts at zero; its output is added to
    :class:`HeadPrior`'s logits, so the untrained model reproduces the back-projection.
    """
    N, C = config.N, config.channels
    centre = layers.Cropping2D(N // 4, name="backprojection_centre", dtype="float32")(back)
    priors = HeadPrior(C, config.amp_activation, config.amp_scale, name="head_prior", dtype="float32")(centre)
    width = config.fullres_filters or BACKPROJECTION_FILTERS
    out = []
    for name, d, prior in (("amp", da, priors[0]), ("phase", dp, priors[1])):
        t = layers.Concatenate(name=f"{name}_with_backprojection")([d, centre])
        t = conv(conv(t, width, f"{name}_bp_conv_a"), width, f"{name}_bp_conv_b")
        t = layers.Conv2D(
            config.out_channels,
            3,
            padding="same",
            kernel_initializer="zeros",
            bias_initializer="zeros",
            name=f"{name}_logits",
            dtype="float32",  # the heads stay float32 under a mixed policy
        )(t)
        out.append(layers.Add(name=f"{name}_logits_total", dtype="float32")([t, prior]))
    return out[0], out[1]
