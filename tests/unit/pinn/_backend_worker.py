"""Run by tests/unit/pinn/test_backends.py in a subprocess with KERAS_BACKEND set (a
process has one Keras backend): trains a tiny PINN from given initial weights, or loads a
bundle saved under another backend and predicts.  Writes its results as .npz.

    python _backend_worker.py train <case.npz> <weights.weights.h5> <out.npz>
    python _backend_worker.py predict <bundle folder> <case.npz> <out.npz>
"""

from __future__ import annotations

import sys

import numpy as np


def tiny_model(case):
    from ptycho_helpers.config import ModelConfig
    from ptycho_helpers.pinn.model import build_model

    mc = ModelConfig(N=int(case["N"]), gridsize=int(case["gridsize"]), combine_pad=int(case["pad"]))
    return build_model(mc, case["probe"])


def train(case_path: str, weights: str, out: str, steps: int = 6) -> None:
    """Fixed initial weights, no shuffling: the loss of each step is a backend-neutral number."""
    import keras

    from ptycho_helpers.pinn.loss import make_loss

    case = np.load(case_path)
    pinn = tiny_model(case)
    pinn.autoencoder.load_weights(weights)
    pinn.autoencoder.compile(optimizer=keras.optimizers.Adam(5e-4), loss=make_loss(float(case["s"])))
    hist = pinn.autoencoder.fit(
        [case["X"], case["G"]], case["Y"], batch_size=4, epochs=steps, shuffle=False, verbose=0
    )
    np.savez(out, loss=np.asarray(hist.history["loss"]), backend=keras.backend.backend())


def predict(bundle: str, case_path: str, out: str) -> None:
    import keras

    from ptycho_helpers.pinn.bundle import load_bundle

    case = np.load(case_path)
    b = load_bundle(bundle)
    amp, phase = b.diffraction_to_obj(case["X"], training=False)
    np.savez(
        out,
        amp=keras.ops.convert_to_numpy(amp),
        phase=keras.ops.convert_to_numpy(phase),
        backend=keras.backend.backend(),
    )


if __name__ == "__main__":
    task, *args = sys.argv[1:]
    {"train": train, "predict": predict}[task](*args)
