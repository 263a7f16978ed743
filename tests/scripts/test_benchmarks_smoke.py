"""The benchmark script runs end to end at tiny size (figures are not asserted: speed is
measured in benchmarks/, never in timed tests)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_run_all_smoke(tmp_path):
    res = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--smoke", "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    data = json.loads((tmp_path / "results.json").read_text())
    for key in ("simulate", "train"):
        assert data[key]["ratio"] > 0
    assert "| training samples/s vs bare model.fit |" in (tmp_path / "results.md").read_text()


def test_stitch_benchmark_compares_the_same_canvas_at_the_documented_size():
    """`make bench` runs bench_stitch at n=256, where the baseline's canvas (centred on the
    mean) used to be 4 px larger than ours (centred on floor(mean)): IndexError."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_stitch

    res = bench_stitch.run(n=256, repeats=1)
    assert res["same_coverage"] and res["max_abs_difference"] <= 1e-5
