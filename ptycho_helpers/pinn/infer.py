"""Batched inference: grouped diffraction -> complex object patches at their positions."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..config import ModelConfig
from ..core.geometry import combine_extract
from ..core.grouping import GroupedData
from ..core.physics import support_mask

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reconstruction:
    """Per-member predicted patches, ready for :func:`reassemble_patches`.

    Attributes
    ----------
    patches : (g·C, N, N) complex64, object patches on the integer grid
    positions : (g·C, 2) float64, ``floor(member position)`` — where pixel N/2 of each
        patch lies in object coordinates (the patches are predicted on the integer grid;
        see ``physics.split_positions``)
    true_positions : (g·C, 2) float64, the measured member positions
    """

    patches: np.ndarray
    positions: np.ndarray
    true_positions: np.ndarray


def predict_patches(model, data: GroupedData, *, input_gain: float, batch_size: int = 32) -> Reconstruction:
    """Predict object patches for every group, ``batch_size`` groups at a time.

    Parameters
    ----------
    model : keras.Model ``diffraction -> [amp, phase]`` (``PINN.diffraction_to_obj`` or
        ``Bundle.diffraction_to_obj``)
    data : GroupedData
    input_gain : float, α the model was trained with
    batch_size : int, groups per forward pass (bounds memory)
    """
    from keras import ops

    if data.n_groups == 0:
        raise ValueError("no groups to reconstruct")
    d = data.diffraction
    if not np.all(np.isfinite(d)):
        raise ValueError("diffraction contains NaN or inf")
    expected = tuple(model.inputs[0].shape[1:])  # [diffraction] or [diffraction, geometry]
    if tuple(d.shape[1:]) != expected:
        raise ValueError(f"diffraction groups have shape {d.shape[1:]}, the model expects {expected}")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    g, N, _, C = d.shape
    K = int(model.outputs[0].shape[-1])  # C member patches, or 1 object per group
    out = np.empty((g, K, N, N), dtype=np.complex64)
    for start in range(0, g, batch_size):
        x = (input_gain * d[start : start + batch_size]).astype(np.float32)
        if len(model.inputs) == 2:  # a registered physics input reads each member's fraction
            x = [x, data.geometry[start : start + batch_size].astype(np.float32)]
        amp, phase = model(x, training=False)
        amp = np.transpose(ops.convert_to_numpy(amp), (0, 3, 1, 2))  # any backend (torch: detached)
        phase = np.transpose(ops.convert_to_numpy(phase), (0, 3, 1, 2))
        out[start : start + batch_size] = amp * np.exp(1j * phase)
    if K == 1 and C > 1:  # one object per group: its pixel N/2 lies on the group anchor
        centroid = data.positions.mean(axis=1)
        return Reconstruction(out.reshape(g, N, N), np.floor(centroid), centroid)
    pos = data.positions.reshape(g * C, 2)
    return Reconstruction(out.reshape(g * C, N, N), np.floor(pos), pos.copy())


def combined_patches(patches: np.ndarray, data: GroupedData, model_config: ModelConfig) -> np.ndarray:
    """The group object the physics sees, cut out at each member (gridsize > 1).

    The model's physics combines a group's member patches (overlap-normalised) before each
    member's diffraction is formed, so only that combination is constrained by the data: two
    members may trade brightness on their overlap without changing the loss.  Stitching the
    raw member patches shows that freedom (measured: amplitude 7 % too bright on gs2_ideal);
    stitching these cuts shows what the data determined.  Gridsize 1: returned unchanged.

    Parameters
    ----------
    patches : (g·C, N, N) complex, member patches in group order
    data : GroupedData, the groups they belong to (integer member offsets in ``geometry``)
    model_config : ModelConfig, the trained model's (support choice ``probe_big``, ``combine_pad``)

    Returns
    -------
    (g·C, N, N) complex64
    """
    p = np.asarray(patches)
    g = data.n_groups
    C = data.diffraction.shape[-1]
    N = p.shape[-1]
    if model_config.prediction == "group":
        C = 1
    if p.shape != (g * C, N, N):
        raise ValueError(f"patches must have shape ({g * C}, N, N) for {g} groups of {C}, got {p.shape}")
    if C == 1 or model_config.prediction == "group":  # group objects are stitched as they are
        return p.astype(np.complex64)
    offsets = np.rint(data.geometry[..., :2]).astype(np.int64)
    support = support_mask(N, model_config.probe_big)
    out = combine_extract(p.reshape(g, C, N, N), offsets, support, model_config.combine_pad)
    return out.reshape(g * C, N, N).astype(np.complex64)
