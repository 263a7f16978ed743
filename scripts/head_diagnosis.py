"""Why a softplus amplitude head can stay on the flat image under patch-max units: the
amplitude head's pre-activations and gradients over the first steps, for both heads
(softplus, sigmoid) and both object units (patch_max, as_is), on the gs2 grid protocol.

For each (units, head) it trains the grid model (the reference's CNN, group prediction,
Adam 1e-3 constant, batch 16, Poisson loss, the scale setting given) and every
``--every`` steps records, on one fixed batch of training groups:

* the pre-activation ``z`` of the central amplitude head (``amp_logits``): mean, std,
  and the share of pixels where the activation's slope is below 0.05 (softplus: z < -2.9;
  sigmoid: |z| > 2.9) — the "flat tail";
* the decoder features the head reads (its input, after ReLU): the share of channels
  that are zero at every pixel of the batch ("dead") and the share of zero activations;
* the output amplitude (mean, std) beside the truth's patch mean;
* the gradient of the loss with respect to ``z`` (mean |∂L/∂z|) and with respect to the
  head's kernel (L2 norm); the training loss.

TensorFlow backend only (gradients by ``tf.GradientTape``).  Writes one JSON (rows per
step) and prints a table.

Run: .venv/bin/python scripts/head_diagnosis.py --out head_diagnosis.json [--steps 200 --every 20]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def grid_data(units: str, groups: int, seed: int):
    """The gs2 grid protocol's training groups (a seeded subset) and the object-unit factor."""
    from ptycho_helpers.core import physics
    from ptycho_helpers.core.grid import simulate_grid
    from ptycho_helpers.core.grouping import Groups, gather_groups
    from ptycho_helpers.core.simulate import make_lines_object, make_probe

    N = 64
    probe = physics.normalize_probe_guess(make_probe(N, "idealized", None), 4.0)
    scan = simulate_grid(
        [make_lines_object(392, 42), make_lines_object(392, 43)],
        make_lines_object(392, 1042),
        probe,
        gridsize=2,
        train_stride=4,
        test_stride=10,
        offset=4,
        nphotons=1e9,
        seed=42,
        object_units=units,
    )
    keep = np.sort(np.random.default_rng(seed).choice(scan.train_groups.n_groups, groups, replace=False))
    g = scan.train_groups
    data = gather_groups(
        scan.train.diffraction,
        scan.train.positions,
        Groups(g.indices[keep], g.centroids[keep], g.relative[keep]),
    )
    return data, scan.train.probeGuess, scan.train_scale


def slope(z: np.ndarray, head: str) -> np.ndarray:
    sig = 1.0 / (1.0 + np.exp(-z))
    return sig if head == "softplus" else sig * (1.0 - sig)


def run_case(units: str, head: str, scale: str, data, probe, steps: int, every: int, seed: int):
    import keras
    import tensorflow as tf

    from ptycho_helpers.config import ModelConfig, TrainConfig
    from ptycho_helpers.pinn.loss import make_loss
    from ptycho_helpers.pinn.train import train_pinn

    mc = ModelConfig(
        N=64,
        gridsize=2,
        prediction="group",
        probe_big=True,
        probe_mask=False,
        combine_pad=4,
        amp_activation=head,
        intensity_scale=scale,
    )
    tc = TrainConfig(
        batch_size=16,
        learning_rate=1e-3,
        lr_schedule="constant",
        validation_fraction=0.0,
        seed=seed,
        steps=steps,
        curve_every=every,
    )
    fixed = slice(0, 16)
    rows = []

    def monitor(step, live):
        auto = live.autoencoder
        x = tf.constant((live.input_gain * data.diffraction[fixed]).astype(np.float32))
        geo = tf.constant(data.geometry[fixed].astype(np.float32))
        y = tf.constant(np.square(data.diffraction[fixed], dtype=np.float32))
        logits_layer = auto.get_layer("amp_logits")
        probe_model = keras.Model(auto.inputs, [logits_layer.input, logits_layer.output, auto.output])
        with tf.GradientTape() as tape:
            feats, z, pred = probe_model([x, geo])
            loss = tf.reduce_mean(make_loss(live.photon_scale)(y, pred))
        gz, gk = tape.gradient(loss, [z, logits_layer.kernel])
        z, feats = z.numpy(), feats.numpy()
        active = (feats > 0).reshape(-1, feats.shape[-1])
        amp = auto.get_layer("amp").output
        a = keras.Model(auto.inputs[0], amp)(x).numpy()
        rows.append(
            {
                "units": units,
                "head": head,
                "scale": scale,
                "step": step,
                "loss": float(loss),
                "z_mean": float(z.mean()),
                "z_std": float(z.std()),
                "flat_tail_share": float(np.mean(slope(z, head) < 0.05)),
                "dead_feature_share": float(np.mean(~active.any(axis=0))),
                "zero_activation_share": float(np.mean(~active)),
                "amp_mean": float(a.mean()),
                "amp_std": float(a.std()),
                "grad_z_mean_abs": float(np.mean(np.abs(gz.numpy()))),
                "grad_kernel_norm": float(tf.norm(gk)),
            }
        )
        return {}

    t0 = time.perf_counter()
    train_pinn(data, model_config=mc, train_config=tc, probe=probe, nphotons=1e9, monitor=monitor)
    return rows, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--every", type=int, default=20)
    ap.add_argument("--groups", type=int, default=3200, help="training groups (a seeded subset)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--scale", default="data", choices=("data", "reference"))
    ap.add_argument("--units", nargs="+", default=["patch_max", "as_is"])
    ap.add_argument("--heads", nargs="+", default=["softplus", "sigmoid"])
    a = ap.parse_args(argv)
    from ptycho_helpers.runtime import import_backend_quietly

    import_backend_quietly()
    out = {"args": vars(a) | {"out": str(a.out)}, "cases": []}
    for units in a.units:
        data, probe, unit = grid_data(units, a.groups, a.seed)
        truth_note = f"object divided by {unit:.4g}"
        for head in a.heads:
            rows, wall = run_case(units, head, a.scale, data, probe, a.steps, a.every, a.seed)
            out["cases"].append(
                {"units": units, "head": head, "unit_factor": unit, "wall_s": wall, "rows": rows}
            )
            print(f"\n{units} ({truth_note}), {head}:")
            print(
                "step  loss        z_mean  z_std  flat_tail  dead_ch  zeros  amp_mean  amp_std  |dL/dz|     |dL/dW|"
            )
            for r in rows:
                print(
                    f"{r['step']:4d}  {r['loss']:10.4g}  {r['z_mean']:6.2f}  {r['z_std']:5.2f}  "
                    f"{r['flat_tail_share']:8.3f}  {r['dead_feature_share']:7.3f}  {r['zero_activation_share']:5.3f}  "
                    f"{r['amp_mean']:8.3f}  {r['amp_std']:7.3f}  "
                    f"{r['grad_z_mean_abs']:.3e}  {r['grad_kernel_norm']:.3e}"
                )
            a.out.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
