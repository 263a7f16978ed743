"""Orchestration costs, measured on real papermill runs:

* papermill + kernel overhead per scenario as a share of the run (wall time of the
  papermill subprocess vs the time spent inside the kernel's stages), and the share of
  the run outside reconstruction compute (training, inference, refinement, the classical
  engine, the dense inference and the ceiling solve);
* sweep speed-up from 1 to 2 Dask workers on the same tasks (goal >= 1.7).

Run: .venv/bin/python benchmarks/bench_runs.py [--smoke]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_result  # noqa: E402

from ptycho_helpers import runs, sweep  # noqa: E402


def papermill_overhead(smoke: bool) -> dict:
    """One gs1_ideal run with every reconstruction on (PINN, 100 refinement steps, the
    classical engine from both starts): the orchestration shares, and the speed and SSIM of
    each reconstruction on the same stitched test patterns (ratios against PINN inference)."""
    params = {"nepochs": 1, "group_limit": 4, "base_total_images": 32, "group_count": 8} if smoke else {}
    params = {**params, "refine_steps": 2 if smoke else 100, "classical_iterations": 3 if smoke else 50}
    with tempfile.TemporaryDirectory() as tmp:
        hub = Path(tmp) / "hub"
        row = runs.execute_scenario(hub, "gs1_ideal", params)
        meta = json.loads((hub / "gs1_ideal" / "run_metadata.json").read_text())
        comp = json.loads((hub / "gs1_ideal" / "comparison_metrics.json").read_text())
    t = meta["timings_s"]
    wall = row["wall_s"]
    # reconstruction compute: every reconstruction the run makes and scores (the network's
    # training and inference, refinement, the classical engine, the network on every test
    # group, the per-cell ceiling); what is left is simulation, scoring, files and the kernel
    recon = sum(
        t.get(k, 0.0) for k in ("train", "inference", "refine", "classical", "dense", "ceiling", "test_sets")
    )
    return {
        "profile": "tiny" if smoke else "gs1_ideal stable profile",
        "status": row["status"],
        "papermill_wall_s": wall,
        "kernel_stages_s": t["total"],
        "overhead_share": (wall - t["total"]) / wall,
        "train_s": t["train"],
        "inference_s": t["inference"],
        "refine_s": t.get("refine", 0.0),
        "classical_s": t.get("classical", 0.0),
        "dense_s": t.get("dense", 0.0),
        "ceiling_s": t.get("ceiling", 0.0),
        "test_sets_s": t.get("test_sets", 0.0),
        "evaluate_s": t.get("evaluate", 0.0),
        "outside_reconstruction_share": (wall - recon) / wall,
        "reconstruction": reconstruction_speed(meta, comp),
    }


def reconstruction_speed(meta: dict, comp: dict) -> dict:
    """Patterns per second and amp SSIM of each reconstruction of the same test patterns."""
    n = meta["counts"]["patches_stitched"]
    t = meta["timings_s"]
    c = meta["classical"]
    pinn = n / t["inference"]
    out = {
        "patterns": n,
        "flat_ssim": comp["baselines"]["flat"]["ssim"],
        "pinn": {"patterns_per_s": pinn, "ssim": comp["amplitude"]["ssim"], "ratio_vs_pinn": 1.0},
        "pinn_refined": {
            "patterns_per_s": n / meta["refinement"]["wall_s"],
            "ssim": comp["refined"]["amplitude"]["ssim"],
            "steps": meta["refinement"]["steps"],
        },
        "classical_flat_start": {
            "patterns_per_s": c["patterns"] / c["wall_s"],
            "ssim": comp["classical"]["amplitude"]["ssim"],
            "iterations": c["iterations"],
        },
        "classical_pinn_start": {
            "patterns_per_s": c["patterns"] / c["seeded_wall_s"],
            "ssim": comp["classical"]["seeded"]["amplitude"]["ssim"],
            "iterations": c["iterations"],
        },
    }
    for key in ("pinn_refined", "classical_flat_start", "classical_pinn_start"):
        out[key]["ratio_vs_pinn"] = out[key]["patterns_per_s"] / pinn
    return out


def sweep_speedup(smoke: bool) -> dict:
    sets = [
        "base_total_images=32",
        "group_count=8",
        "group_limit=2",
        f"nepochs={1 if smoke else 3}",
        "nphotons=1e6,1e7,1e8,1e9",
    ]
    out = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            _, rc = sweep.run_sweep(["gs1_ideal"], sets, workers=workers, reports_dir=tmp)
            out[f"workers_{workers}_s"] = time.perf_counter() - t0
            out[f"workers_{workers}_rc"] = rc
    out["tasks"] = 4
    out["speedup"] = out["workers_1_s"] / out["workers_2_s"]
    out["goal"] = ">= 1.7"
    return out


def run(smoke: bool = False) -> dict:
    return {"papermill": papermill_overhead(smoke), "sweep": sweep_speedup(smoke)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    res = run(ap.parse_args().smoke)
    print(write_result("runs", res))
    print(res)
