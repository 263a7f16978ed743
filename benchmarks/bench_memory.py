"""Peak memory of the grid protocol's data path: the streamed path (simulation in slices,
groups gathered member by member from indices, training batches from index arrays) vs the
whole-stack path it replaced (kept here only as the baseline), same data, same run.

Each path runs in its own subprocess, which reports its peak resident memory
(``ru_maxrss``) after building: the simulated patterns, the training groups and what
training is fed (baseline: the scaled input, the squared target and the shuffled copies
``model.fit`` received; streamed: one epoch of ``GroupBatches`` drawn).  The Keras runtime is
imported in both, so the difference is the data path.  Goal: streamed / baseline <= 0.5.

Run: .venv/bin/python benchmarks/bench_memory.py [--stride 4]   (stride 4 = gs2_grid's
53,792 training patterns; a larger stride is a smaller, quicker case)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import write_result  # noqa: E402


def _objects(size: int = 392):
    from ptycho_helpers.core import physics
    from ptycho_helpers.core.simulate import make_lines_object, make_probe

    probe = physics.normalize_probe_guess(make_probe(64, "idealized", None), 4.0)
    return [make_lines_object(size, 42), make_lines_object(size, 43)], make_lines_object(size, 1042), probe


def streamed(stride: int) -> None:
    from ptycho_helpers.core.grid import simulate_grid
    from ptycho_helpers.core.grouping import gather_groups
    from ptycho_helpers.pinn.feed import GroupBatches
    from ptycho_helpers.pinn.scales import compute_scales

    train, test, probe = _objects()
    scan = simulate_grid(
        train, test, probe, gridsize=2, train_stride=stride, test_stride=10, offset=4, nphotons=1e9, seed=42
    )
    data = gather_groups(scan.train.diffraction, scan.train.positions, scan.train_groups)
    scales = compute_scales(data.diffraction, 1e9)
    seq = GroupBatches(
        data.diffraction,
        data.geometry.astype(np.float32),
        np.arange(data.n_groups),
        gain=scales.input_gain,
        batch_size=16,
        shuffle_seed=0,
    )
    for i in range(len(seq)):
        seq[i]


def baseline(stride: int) -> None:
    """The whole-stack path: all exit waves at once, the chosen rows copied, the groups
    gathered with intermediates, scaled/squared/shuffled training copies."""
    from ptycho_helpers.core import noise, physics
    from ptycho_helpers.core.grid import grid_groups, patch_max_scale
    from ptycho_helpers.core.physics import split_positions

    train, test, probe = _objects()
    pos, groups = grid_groups(392, 64, stride, 2, 4)
    unit = float(np.mean([patch_max_scale(o, pos, 64) for o in train]))
    waves = np.concatenate([physics.extract_patches(o / unit, pos, 64) * probe for o in train])
    scale = noise.simulation_photon_scale(waves, 1e9)
    d = noise.poisson_amplitudes(physics.far_field_intensity(waves), scale, np.random.default_rng(42))
    del waves
    idx = np.concatenate([groups.indices + k * len(pos) for k in range(2)])
    rows = idx.reshape(-1)
    d_rows = d[rows]
    x = np.moveaxis(d_rows[np.arange(len(rows)).reshape(-1, 4)], 1, -1).astype(np.float32)
    split_positions(np.concatenate([pos] * 2)[idx])
    alpha = physics.input_gain(x)
    X = (alpha * x).astype(np.float32)
    Y = np.square(x, dtype=np.float32)
    order = np.random.default_rng(0).permutation(len(X))
    X[order], Y[order]  # the copies fit(x=X[tr_idx], y=Y[tr_idx]) received


def child(path: str, stride: int) -> None:
    import keras  # noqa: F401  (the same runtime in both paths)

    {"streamed": streamed, "baseline": baseline}[path](stride)
    print(json.dumps({"peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def measure(path: str, stride: int) -> int:
    res = subprocess.run(
        [sys.executable, __file__, "--child", path, "--stride", str(stride)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(json.loads(res.stdout.strip().splitlines()[-1])["peak_bytes"])


def run(stride: int = 4) -> dict:
    base = measure("baseline", stride)
    ours = measure("streamed", stride)
    return {
        "stride": stride,
        "baseline_peak_gib": base / 2**30,
        "streamed_peak_gib": ours / 2**30,
        "ratio": ours / base,
        "goal": "<= 0.5",
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stride", type=int, default=4)
    ap.add_argument("--child", choices=("streamed", "baseline"))
    a = ap.parse_args()
    if a.child:
        child(a.child, a.stride)
    else:
        res = run(a.stride)
        print(write_result("memory", res))
        print(res)
