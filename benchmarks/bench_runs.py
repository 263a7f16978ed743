"""Orchestration costs, measured on real papermill runs:

* papermill + kernel overhead per scenario as a share of the run (wall time of the
  papermill subprocess vs the time spent inside the kernel's stages), and the share of
  the run outside training + inference (+ physics refinement, reconstruction compute too);
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
    params = {"nepochs": 1, "group_limit": 4, "base_total_images": 32, "group_count": 8} if smoke else {}
    with tempfile.TemporaryDirectory() as tmp:
        hub = Path(tmp) / "hub"
        row = runs.execute_scenario(hub, "gs1_ideal", params)
        meta = json.loads((hub / "gs1_ideal" / "run_metadata.json").read_text())
    t = meta["timings_s"]
    wall = row["wall_s"]
    return {
        "profile": "tiny" if smoke else "gs1_ideal stable profile",
        "status": row["status"],
        "papermill_wall_s": wall,
        "kernel_stages_s": t["total"],
        "overhead_share": (wall - t["total"]) / wall,
        "train_s": t["train"],
        "inference_s": t["inference"],
        "refine_s": t.get("refine", 0.0),
        "outside_train_inference_share": (wall - t["train"] - t["inference"] - t.get("refine", 0.0)) / wall,
    }


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
