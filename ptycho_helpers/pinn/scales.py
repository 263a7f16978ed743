"""The scales a model trains with (DESIGN §4; saved with the bundle): the input gain α and
the photon scale s from the training data, or PtychoPINN's closed form for its trainable
log-scale (:mod:`.scale_layer`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..config import ModelConfig
from ..core.physics import input_gain, loss_photon_scale


@dataclass(frozen=True)
class Scales:
    """The two data normalisations of a model (saved with the bundle).

    ``input_gain`` α scales the network input; ``photon_scale`` s converts object-unit
    intensities to counts; ``photon_scale_closed_form`` = sqrt(nphotons)/(N/2) is recorded
    beside it for comparison with PtychoPINN.
    """

    input_gain: float
    photon_scale: float
    photon_scale_closed_form: float
    nphotons: float


def compute_scales(diffraction: np.ndarray, nphotons: float) -> Scales:
    """α and s of DESIGN §4 from training diffraction ``(g, N, N, C)`` (per pattern)."""
    s, s_closed = loss_photon_scale(diffraction, nphotons)
    return Scales(input_gain(diffraction), s, s_closed, float(nphotons))


def model_scales(diffraction: np.ndarray, nphotons: float, config: ModelConfig) -> tuple[Scales, ModelConfig]:
    """The scales a model trains with, and its config with the scale's initial value.

    ``intensity_scale="data"``: α and s from the data (:func:`compute_scales`).
    ``"reference"`` (PtychoPINN): the input is ``s0·d`` and the loss counts ``(s0·d)²``
    with the closed form ``s0 = sqrt(nphotons)/(N/2)``, which also starts the trainable
    log-scale (:mod:`.scale_layer`).
    """
    scales = compute_scales(diffraction, nphotons)
    if config.intensity_scale == "reference":
        s0 = scales.photon_scale_closed_form
        scales = dataclasses.replace(scales, input_gain=s0, photon_scale=s0)
        config = dataclasses.replace(config, scale_init=s0)
    return scales, config
