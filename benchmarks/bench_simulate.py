"""Simulation throughput: patterns/s of simulate_nongrid_raw_data at N=64 vs a bare
batched numpy fft2 (complex128, numpy's default) of as many 64x64 frames, same run.

Goal: ratio >= 0.5.  Run: .venv/bin/python benchmarks/bench_simulate.py [--n 2000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_of, write_result  # noqa: E402

from ptycho_helpers import make_lines_object, make_probe, normalize_probe_guess, simulate_nongrid_raw_data  # noqa: E402


def run(n: int = 2000, repeats: int = 3) -> dict:
    obj = make_lines_object(392, 42)
    probe = normalize_probe_guess(make_probe(64), 10.0)
    frames = (np.random.default_rng(0).normal(size=(n, 64, 64)) + 0j).astype(np.complex128)
    t_fft = best_of(lambda: np.fft.fft2(frames), repeats)
    t_sim = best_of(
        lambda: simulate_nongrid_raw_data(obj, probe, n_images=n, nphotons=1e9, seed=42, buffer=10), repeats
    )
    return {
        "n_patterns": n,
        "simulate_s": t_sim,
        "bare_fft_s": t_fft,
        "simulate_patterns_per_s": n / t_sim,
        "bare_fft_frames_per_s": n / t_fft,
        "ratio": t_fft / t_sim,
        "goal": ">= 0.5",
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    a = ap.parse_args()
    res = run(a.n)
    print(write_result("simulate", res))
    print(res)
