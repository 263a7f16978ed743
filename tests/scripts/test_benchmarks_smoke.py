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


def test_backend_benchmark_trains_its_bf16_variant_in_bf16():
    """Issue 26: the tf_bf16 variant set a global policy that build_model then overrode with
    the model's own float32 setting, so `make bench` timed float32 twice (loss after equal
    to fp32's to the last digit) and called it bf16. The variant now goes through the
    model's precision setting; its network convolutions must compute in bfloat16 (the heads
    stay float32 by design)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_backends

    args = ["--gridsize", "1", "--batch", "2", "--steps", "2", "--warmup", "1"]
    bf16 = bench_backends._spawn(["--worker", "tf_bf16", *args], "tensorflow")
    fp32 = bench_backends._spawn(["--worker", "tf_fp32", *args], "tensorflow")
    assert bf16.get("conv_compute_dtypes") == ["bfloat16", "float32"], bf16
    assert fp32.get("conv_compute_dtypes") == ["float32"], fp32
    assert bf16["loss_after"] != fp32["loss_after"]
