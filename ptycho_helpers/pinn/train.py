"""Training: scales, the fit loop with plain logging, history (loss: :mod:`.loss`; bundles:
:mod:`.bundle`).

Loss (DESIGN §4): Poisson negative log-likelihood of the measured counts
``k = s²·d²`` under the rate ``λ = s²·I_model``; it is reported as the deviance / 2 per
pixel, ``λ - k - k·log(λ/k)`` (the NLL minus its saturated value, same gradient), so a
model at the noise floor logs ≈ 0.5 instead of -1e8.  Computed in float64 (counts reach
1e8 at 1e9 photons, where float32 cancellation would swamp the 0.5).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..config import ModelConfig, TrainConfig
from ..core.grouping import GroupedData
from .device import is_out_of_memory, out_of_memory_error
from .loss import make_loss
from .scales import Scales, compute_scales, model_scales

__all__ = ["Scales", "compute_scales", "model_scales", "train_pinn"]

logger = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf; carries the epoch (1-based) and the history so far."""

    def __init__(self, epoch: int, history: dict[str, list[float]]):
        super().__init__(
            f"training diverged: non-finite loss at epoch {epoch}; "
            "lower the learning rate or check the input data"
        )
        self.epoch = epoch
        self.history = history


def mean_object_amplitude(diffraction: np.ndarray, probe: np.ndarray, probe_mask: bool) -> float:
    """Object amplitude a that explains the mean diffracted energy if the object were flat:
    by Parseval ``E Σ d² = a² Σ |P|²`` (probe × disk mask when the model masks it)."""
    from ..core.physics import disk_mask, mean_pattern_energy

    p = np.asarray(probe)
    if probe_mask:
        p = p * disk_mask(p.shape[0])
    energy, _ = mean_pattern_energy(diffraction)
    return math.sqrt(energy / float(np.sum(np.abs(p) ** 2)))


def init_amplitude_head(pinn, amplitude: float) -> None:
    """Set the amplitude head's bias so that an untrained model outputs ``amplitude``."""
    from keras import ops

    from .backprojection import amp_head_inverse

    cfg = pinn.config
    b = float(ops.convert_to_numpy(amp_head_inverse(float(amplitude), cfg.amp_activation, cfg.amp_scale)))
    layer = pinn.autoencoder.get_layer("amp_logits")  # the centre head (the border branch is swish)
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel, np.full_like(bias, b)])


def _validate_data(data: GroupedData, config: ModelConfig) -> None:
    if not isinstance(data, GroupedData):
        raise TypeError(f"data must be GroupedData, got {type(data).__name__}")
    d = data.diffraction
    if d.shape[0] == 0:
        raise ValueError("the training set is empty (0 groups)")
    expect = (config.N, config.N, config.channels)
    if d.ndim != 4 or d.shape[1:] != expect:
        raise ValueError(
            f"diffraction must have shape (g, {expect[0]}, {expect[1]}, {expect[2]}), got {d.shape}"
        )
    if not np.issubdtype(d.dtype, np.floating):
        raise TypeError(f"diffraction must be a float array, got {d.dtype}")
    if not (np.all(np.isfinite(d)) and np.all(np.isfinite(data.geometry))):
        raise ValueError("training data contain NaN or inf")
    if np.any(d < 0):
        raise ValueError("diffraction amplitudes must be >= 0")
    if config.channels > 1 and data.max_offset > config.combine_pad:
        raise ValueError(
            f"a group member lies {data.max_offset} px from its anchor, beyond the model's "
            f"combine_pad={config.combine_pad}; build the model with combine_pad >= {data.max_offset}"
        )


def summarize_history(history: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    """Per metric: count, first, last, min, max, has_nan, first_nan_epoch (1-based)."""
    out: dict[str, dict[str, Any]] = {}
    for name, values in history.items():
        v = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(v)
        bad = np.flatnonzero(~finite)
        out[name] = {
            "count": int(v.size),
            "first": float(v[0]) if v.size else None,
            "last": float(v[-1]) if v.size else None,
            "min": float(v[finite].min()) if finite.any() else None,
            "max": float(v[finite].max()) if finite.any() else None,
            "has_nan": bool(bad.size),
            "first_nan_epoch": int(bad[0]) + 1 if bad.size else None,
        }
    return out


@dataclass
class TrainResult:
    """Outcome of :func:`train_pinn`."""

    pinn: Any
    scales: Scales
    history: dict[str, list[float]]
    train_config: TrainConfig
    n_train: int
    n_val: int
    epochs_run: int
    wall_s: float
    summary: dict[str, Any] = field(default_factory=dict)
    steps_run: int = 0
    curve: dict[str, list[float]] = field(default_factory=dict)  # step, loss, monitor values
    learned_scale: float | None = None  # exp(log-scale) at the end (intensity_scale="reference")


#: seconds between progress lines within an epoch (long epochs are never silent)
PROGRESS_EVERY_S = 30.0


def _epoch_logger(nepochs: int, log: logging.Logger, progress_s: float = PROGRESS_EVERY_S):
    import keras

    class EpochLog(keras.callbacks.Callback):
        """One plain log line per epoch, a progress line every ``progress_s`` within an
        epoch; stops at the first non-finite batch loss."""

        def __init__(self):
            super().__init__()
            self.t0 = time.perf_counter()
            self.last = self.t0
            self.diverged_epoch: int | None = None
            self.epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch + 1
            self.t0 = self.last = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.diverged_epoch = self.epoch
                self.model.stop_training = True
            now = time.perf_counter()
            if now - self.last >= progress_s:
                self.last = now
                total = (self.params or {}).get("steps") or "?"
                log.info(
                    "epoch %d/%d: batch %d/%s loss=%.6g (%.0f s into the epoch)",
                    self.epoch,
                    nepochs,
                    batch + 1,
                    total,
                    float(loss) if loss is not None else float("nan"),
                    now - self.t0,
                )

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            parts = [f"{k}={float(v):.6g}" for k, v in sorted(logs.items()) if k != "learning_rate"]
            log.info(
                "epoch %d/%d %s lr=%.3g time=%.1fs",
                epoch + 1,
                nepochs,
                " ".join(parts),
                lr,
                time.perf_counter() - self.t0,
            )
            if any(not math.isfinite(float(v)) for v in logs.values()):
                self.diverged_epoch = self.diverged_epoch or epoch + 1
                self.model.stop_training = True

    return EpochLog()


def _step_callback(train_config: TrainConfig, monitor, log: logging.Logger):
    """Counts optimiser steps: stops at the step budget, records the learning curve (with a
    monitor, from step 0: the untrained model, e.g. the back-projection the heads start at)."""
    import keras

    class Steps(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.step = 0
            self.curve: dict[str, list[float]] = {"step": [], "loss": []}

        def _record(self, loss):
            if monitor and hasattr(self.model, "jax_state_sync"):
                # JAX backend: fit keeps the variables in its own state between syncs; a
                # callback that runs the model must reattach them first (Keras' own hook)
                self.model.jax_state_sync()
            self.curve["step"].append(self.step)
            self.curve["loss"].append(float(loss) if loss is not None else float("nan"))
            for k, v in (monitor(self.step) if monitor else {}).items():
                self.curve.setdefault(k, []).append(float(v))
            shown = {k: round(v[-1], 5) for k, v in self.curve.items() if k != "step"}
            if loss is None:  # step 0: the untrained model has no training loss yet (not a divergence)
                shown.pop("loss")
            log.info("step %d%s: %s", self.step, " (untrained model)" if loss is None else "", shown)

        def on_train_begin(self, logs=None):
            if monitor:  # step 0: the model before its first update (no loss yet)
                self._record(None)

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            loss = (logs or {}).get("loss")
            every = train_config.curve_every
            if every and self.step % every == 0:
                self._record(loss)
            if train_config.steps and self.step >= train_config.steps:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            if not self.curve["step"] or self.curve["step"][-1] != self.step:
                self._record((logs or {}).get("loss"))

    return Steps()


def train_pinn(
    data: GroupedData,
    *,
    model_config: ModelConfig,
    train_config: TrainConfig,
    probe: np.ndarray,
    nphotons: float,
    log: logging.Logger | None = None,
    monitor=None,
) -> TrainResult:
    """Train a fresh PINN on grouped data.

    Seeds Python, numpy and TensorFlow once (``keras.utils.set_random_seed``), draws a
    random validation share with that seed (the split-by-y data arrive sorted), trains
    with Adam + ReduceLROnPlateau (``lr_schedule="plateau"``; ``"constant"``: the fixed rate)
    + EarlyStopping on the training loss.  ``train_config.steps > 0`` is an optimiser-step
    budget (training stops after exactly that step; no early stopping).  ``monitor(step, live) -> {name: value}``
    (``live.diffraction_to_obj``, ``live.autoencoder``, ``live.input_gain``,
    ``live.photon_scale``: the model being trained and its scales) is
    called every ``train_config.curve_every`` steps and at the end (the learning curve in
    ``TrainResult.curve``); it must not feed back into training.

    Raises
    ------
    TrainingDiverged
        On a NaN/inf loss, with the epoch and the history so far.
    """
    import keras

    from .feed import GroupBatches
    from .model import build_model

    log = log or logger
    if not isinstance(train_config, TrainConfig):
        raise TypeError(f"train_config must be a TrainConfig, got {type(train_config).__name__}")
    _validate_data(data, model_config)
    keras.utils.set_random_seed(train_config.seed)
    scales, model_config = model_scales(data.diffraction, nphotons, model_config)
    D = data.diffraction if data.diffraction.dtype == np.float32 else data.diffraction.astype(np.float32)
    G = data.geometry.astype(np.float32)
    g = D.shape[0]
    n_val = int(round(train_config.validation_fraction * g))
    n_val = min(n_val, g - 1)
    order = np.random.default_rng(train_config.seed).permutation(g)
    val_idx, tr_idx = np.sort(order[:n_val]), np.sort(order[n_val:])

    if model_config.input_transform != "linear":  # the log transform needs the data's scales
        model_config = dataclasses.replace(
            model_config, input_counts_scale=scales.photon_scale / scales.input_gain
        )
    if model_config.backprojection:  # the physics input returns to object units by 1/α
        model_config = dataclasses.replace(model_config, input_gain=scales.input_gain)
    pinn = build_model(model_config, probe)

    def batches(idx, seed):  # built from indices into D: no scaled/squared/shuffled copies
        return GroupBatches(
            D, G, idx, gain=scales.input_gain, batch_size=train_config.batch_size, shuffle_seed=seed
        )

    if model_config.amp_init == "data":
        init_amplitude_head(pinn, mean_object_amplitude(data.diffraction, probe, model_config.probe_mask))
    pinn.autoencoder.compile(
        optimizer=keras.optimizers.Adam(train_config.learning_rate),
        loss=make_loss(scales.photon_scale, train_config.nll_weight, train_config.mae_weight),
    )
    nepochs = train_config.nepochs
    if train_config.steps:  # a step budget: enough epochs, stopped at the exact step
        per_epoch = math.ceil(len(tr_idx) / train_config.batch_size)
        nepochs = math.ceil(train_config.steps / per_epoch)
    epoch_log = _epoch_logger(nepochs, log)
    live = SimpleNamespace(
        diffraction_to_obj=pinn.diffraction_to_obj,
        autoencoder=pinn.autoencoder,
        input_gain=scales.input_gain,
        photon_scale=scales.photon_scale,
    )
    steps_cb = _step_callback(train_config, (lambda step: monitor(step, live)) if monitor else None, log)
    callbacks = [epoch_log, steps_cb]
    if train_config.lr_schedule == "plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="loss",
                factor=train_config.lr_factor,
                patience=train_config.lr_patience,
                min_lr=train_config.lr_min,
                verbose=0,
            )
        )
    if not train_config.steps:  # a step budget is the learning-curve instrument: never cut short
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="loss", patience=train_config.early_stop_patience, verbose=0
            )
        )
    log.info(
        "training %d groups (%d validation), C=%d, N=%d, batch %d, %d epochs; alpha=%.6g s=%.6g "
        "(closed form %.6g)",
        len(tr_idx),
        n_val,
        model_config.channels,
        model_config.N,
        train_config.batch_size,
        nepochs,
        scales.input_gain,
        scales.photon_scale,
        scales.photon_scale_closed_form,
    )
    t0 = time.perf_counter()
    try:
        fit = pinn.autoencoder.fit(
            batches(tr_idx, train_config.seed),
            validation_data=batches(val_idx, None) if n_val else None,
            epochs=nepochs,
            verbose=0,
            callbacks=callbacks,
        )
    except Exception as exc:
        if is_out_of_memory(exc):
            raise out_of_memory_error(exc, train_config.batch_size, len(tr_idx)) from exc
        raise
    wall = time.perf_counter() - t0
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    if epoch_log.diverged_epoch is not None or any(
        not math.isfinite(v) for vals in history.values() for v in vals
    ):
        raise TrainingDiverged(epoch_log.diverged_epoch or len(history.get("loss", [])), history)
    result = TrainResult(
        pinn=pinn,
        scales=scales,
        history=history,
        train_config=train_config,
        n_train=int(len(tr_idx)),
        n_val=n_val,
        epochs_run=len(history.get("loss", [])),
        wall_s=wall,
        steps_run=steps_cb.step,
        curve=steps_cb.curve,
    )
    result.summary = summarize_history(history)
    from .scale_layer import learned_scale

    learned = learned_scale(pinn.autoencoder)
    if learned is not None:
        result.learned_scale = learned
        log.info(
            "trainable intensity scale: %.6g at the end (initial %.6g)", learned, model_config.scale_init
        )
    return result


# --------------------------------------------------------------------------- bundle
