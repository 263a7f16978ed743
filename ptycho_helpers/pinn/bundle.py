"""Model bundles: ``model.keras`` (Keras' native format), ``bundle.json`` (configs, scales,
probe), ``history.json`` and ``history_summary.json``, each written atomically; loading
refuses Lambda layers and pickles (``safe_mode=True``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ModelConfig
from ..core.io import atomic_path, read_json, write_json
from .train import Scales, TrainResult, summarize_history

BUNDLE_MODEL = "model.keras"
BUNDLE_JSON = "bundle.json"


@dataclass
class Bundle:
    """A loaded model bundle."""

    autoencoder: Any
    diffraction_to_obj: Any
    model_config: ModelConfig
    scales: Scales
    probe: np.ndarray
    extra: dict[str, Any]


def save_bundle(result: TrainResult, folder: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model.keras`` (native format), ``bundle.json``, ``history.json`` and
    ``history_summary.json`` into ``folder`` (each atomically)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / BUNDLE_MODEL, ".keras") as tmp:
        result.pinn.autoencoder.save(tmp)
    from keras import ops

    physics = result.pinn.physics
    probe = ops.convert_to_numpy(physics.probe_re) + 1j * ops.convert_to_numpy(physics.probe_im)
    write_json(
        out / BUNDLE_JSON,
        {
            "format": "ptycho_helpers.bundle/1",
            "model_config": result.pinn.config.to_dict(),
            "train_config": result.train_config.to_dict(),
            "scales": asdict(result.scales),
            "probe": {"shape": list(probe.shape), "re": probe.real.tolist(), "im": probe.imag.tolist()},
            "epochs_run": result.epochs_run,
            "n_train": result.n_train,
            "n_val": result.n_val,
            "extra": extra or {},
        },
    )
    write_json(out / "history.json", result.history)
    write_json(out / "history_summary.json", result.summary or summarize_history(result.history))
    return out


def load_bundle(folder: str | Path) -> Bundle:
    """Load a bundle in any process (``safe_mode=True``: no Lambda layers, no pickles)."""
    import keras

    from .model import inference_model  # importing the module registers the custom layers

    folder = Path(folder)
    path = folder / BUNDLE_MODEL
    meta_path = folder / BUNDLE_JSON
    for p in (path, meta_path):
        if not p.is_file():
            raise FileNotFoundError(f"bundle file {str(p)!r} is missing")
    meta = read_json(meta_path)
    if meta.get("format") != "ptycho_helpers.bundle/1":
        raise ValueError(f"{str(meta_path)!r} is not a ptycho_helpers bundle (format {meta.get('format')!r})")
    try:
        auto = keras.saving.load_model(path, safe_mode=True, compile=False)
    except ValueError as exc:
        raise ValueError(f"refusing to load {str(path)!r} in safe mode: {exc}") from None
    pr = meta["probe"]
    probe = (np.asarray(pr["re"]) + 1j * np.asarray(pr["im"])).astype(np.complex64)
    return Bundle(
        autoencoder=auto,
        diffraction_to_obj=inference_model(auto),
        model_config=ModelConfig.from_dict(meta["model_config"]),
        scales=Scales(**meta["scales"]),
        probe=probe,
        extra=meta.get("extra", {}),
    )
