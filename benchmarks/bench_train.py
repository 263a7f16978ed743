"""Training and inference throughput at N=64 (gs1_ideal geometry).

* training samples/s through ``train_pinn`` vs a bare ``model.fit`` of the same model,
  same in-memory tensors, same batch size and epochs, measured in the same run
  (both timed from model build to the end of fit; goal ratio >= 0.9);
* inference patterns/s of ``predict_patches``.

Run: .venv/bin/python benchmarks/bench_train.py [--groups 128 --epochs 2]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402

from ptycho_helpers import (  # noqa: E402
    group_positions,
    make_lines_object,
    make_probe,
    normalize_probe_guess,
    simulate_nongrid_raw_data,
)
from ptycho_helpers.config import ModelConfig, TrainConfig  # noqa: E402
from ptycho_helpers.core.grouping import gather_groups  # noqa: E402


def run(groups: int = 128, epochs: int = 2, batch: int = 8) -> dict:
    import keras

    from ptycho_helpers.pinn.infer import predict_patches
    from ptycho_helpers.pinn.loss import make_loss
    from ptycho_helpers.pinn.model import build_model
    from ptycho_helpers.pinn.train import compute_scales, train_pinn
    from ptycho_helpers.runtime import import_backend_quietly

    import_backend_quietly()
    logging.getLogger("ptycho_helpers").setLevel(logging.WARNING)
    obj = make_lines_object(392, 42)
    probe = normalize_probe_guess(make_probe(64), 10.0)
    raw = simulate_nongrid_raw_data(obj, probe, n_images=2 * groups, nphotons=1e9, seed=1, buffer=10)
    g = group_positions(raw.positions, gridsize=1, n_groups=groups, rng=0)
    data = gather_groups(raw.diffraction, raw.positions, g)
    mc = ModelConfig(N=64)
    tc = TrainConfig(nepochs=epochs, batch_size=batch, validation_fraction=0.0, early_stop_patience=100)

    # warm-up (graph tracing caches, oneDNN kernels) so neither side pays it alone
    train_pinn(
        data,
        model_config=mc,
        train_config=TrainConfig(nepochs=1, batch_size=batch),
        probe=probe,
        nphotons=1e9,
    )

    t0 = time.perf_counter()
    res = train_pinn(data, model_config=mc, train_config=tc, probe=probe, nphotons=1e9)
    t_ours = time.perf_counter() - t0

    keras.utils.set_random_seed(0)
    scales = compute_scales(data.diffraction, 1e9)
    X = (scales.input_gain * data.diffraction).astype(np.float32)
    Y = np.square(data.diffraction, dtype=np.float32)
    t0 = time.perf_counter()
    bare = build_model(mc, probe)
    bare.autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss=make_loss(scales.photon_scale))
    bare.autoencoder.fit([X, data.geometry], Y, batch_size=batch, epochs=epochs, verbose=0)
    t_bare = time.perf_counter() - t0

    n_samples = groups * epochs
    predict_patches(res.pinn.diffraction_to_obj, data, input_gain=res.scales.input_gain)  # warm-up
    t0 = time.perf_counter()
    predict_patches(res.pinn.diffraction_to_obj, data, input_gain=res.scales.input_gain, batch_size=32)
    t_inf = time.perf_counter() - t0
    return {
        "groups": groups,
        "epochs": epochs,
        "batch_size": batch,
        "train_pinn_s": t_ours,
        "bare_fit_s": t_bare,
        "train_samples_per_s": n_samples / t_ours,
        "bare_fit_samples_per_s": n_samples / t_bare,
        "ratio": t_bare / t_ours,
        "goal": ">= 0.9",
        "inference_patterns_per_s": groups / t_inf,
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=2)
    a = ap.parse_args()
    res = run(a.groups, a.epochs)
    print(write_result("train", res))
    print(res)
