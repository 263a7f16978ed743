"""Stitching speed: ``reassemble_patches`` vs the reference's whole-canvas translation
(benchmarks/reference_stitch.py), same patches, same run; both images must agree within
1e-5.  Goal ratio >= 100.  Run: .venv/bin/python benchmarks/bench_stitch.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_of, write_result  # noqa: E402
from reference_stitch import reference_reassemble  # noqa: E402

from ptycho_helpers import reassemble_patches  # noqa: E402


def run(n: int = 256, N: int = 64, M: int = 20, repeats: int = 3) -> dict:
    rng = np.random.default_rng(0)
    pos = rng.uniform(10, 382, (n, 2))
    patches = (rng.uniform(1, 3, (n, N, N)) * np.exp(1j * rng.uniform(-1, 1, (n, N, N)))).astype(np.complex64)
    ours = reassemble_patches(patches, pos, M)
    ref_img, ref_w = reference_reassemble(patches, pos, M)
    cov = ours.covered
    if ref_img.shape != ours.image.shape:
        raise AssertionError(f"canvases differ: ours {ours.image.shape}, baseline {ref_img.shape}")
    max_diff = float(np.max(np.abs(ours.image[cov] - ref_img[cov])))
    t_ours = best_of(lambda: reassemble_patches(patches, pos, M), repeats)
    t_ref = best_of(lambda: reference_reassemble(patches, pos, M), 1)
    return {
        "n_patches": n,
        "N": N,
        "M": M,
        "canvas": int(ours.image.shape[0]),
        "ours_s": t_ours,
        "reference_s": t_ref,
        "ratio": t_ref / t_ours,
        "max_abs_difference": max_diff,
        "same_coverage": bool(np.array_equal(cov, ref_w > 1e-12)),
        "goal": ">= 100, difference <= 1e-5",
    }


if __name__ == "__main__":
    res = run()
    print(write_result("stitch", res))
    print(res)
