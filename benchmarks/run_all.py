"""Run every benchmark; write benchmarks/results.json and benchmarks/results.md.

Each figure is a ratio against a baseline measured in the same run.
Run: .venv/bin/python benchmarks/run_all.py [--smoke]   (--smoke: tiny sizes, for CI)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_backends  # noqa: E402
import bench_memory  # noqa: E402
import bench_runs  # noqa: E402
import bench_simulate  # noqa: E402
import bench_stitch  # noqa: E402
import bench_train  # noqa: E402
import table  # noqa: E402
from common import machine  # noqa: E402


def main(smoke: bool = False, out_dir: Path = HERE) -> dict:
    results = {
        "machine": machine(),
        "smoke": smoke,
        "simulate": bench_simulate.run(n=200 if smoke else 2000, repeats=1 if smoke else 3),
        "train": bench_train.run(groups=16 if smoke else 128, epochs=1 if smoke else 2),
        "stitch": bench_stitch.run(n=32 if smoke else 256, repeats=1 if smoke else 3),
        "memory": bench_memory.run(stride=32 if smoke else 4),
    }
    if not smoke:  # real papermill runs, Dask clusters, one subprocess per backend: minutes, not for CI
        results["runs"] = bench_runs.run(smoke=False)
        results["backends"] = bench_backends.run()
    md = table.markdown(results)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / "results.md").write_text(md + "\n")
    print(md)
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out-dir", type=Path, default=HERE)
    a = ap.parse_args()
    main(a.smoke, a.out_dir)
