"""Regenerate the small golden simulation of ``tests/regression/golden/`` (explicitly only).

A seeded lines object, idealized probe, non-grid Poisson scan, y-split, gridsize-2 groups
of the test half and the stitched truth patches.  ``tests/regression/test_golden.py``
recomputes each array and compares; when a change is *meant* to alter the simulation,
run this script and say why in the commit.
Run:  .venv/bin/python scripts/make_golden.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import ptycho_helpers as ph
from ptycho_helpers.core.physics import extract_patches

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "regression" / "golden" / "sim_small.npz"
RECIPE = {"size": 96, "object_seed": 7, "N": 32, "probe_scale": 10.0, "n": 24, "nphotons": 1e6, "seed": 3}


def compute() -> dict[str, np.ndarray]:
    r = RECIPE
    obj = ph.make_lines_object(r["size"], r["object_seed"])
    probe = ph.normalize_probe_guess(ph.make_probe(r["N"]), r["probe_scale"])
    raw = ph.simulate_nongrid_raw_data(
        obj, probe, n_images=r["n"], nphotons=r["nphotons"], seed=r["seed"], buffer=8
    )
    _, test = ph.split_raw_data_by_axis(raw, 0.5, "y")
    groups = ph.group_positions(test.positions, gridsize=2, n_groups=4, neighbor_count=4, rng=5)
    members = test.positions[groups.indices].reshape(-1, 2)
    st = ph.reassemble_patches(extract_patches(obj, members, r["N"]), members, 8)
    return {
        "object_amplitude": np.abs(obj).astype(np.float32),
        "probe": probe,
        "positions": raw.positions,
        "diffraction": raw.diffraction,
        "photon_scale": np.float64(raw.photon_scale),
        "test_positions": test.positions,
        "group_indices": groups.indices,
        "group_relative": groups.relative,
        "stitched_truth": st.image,
        "stitched_origin": np.asarray(st.origin),
    }


def main() -> None:
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(GOLDEN, **compute())
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
