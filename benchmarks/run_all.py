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
    rows = [
        (
            "simulation patterns/s vs bare batched numpy fft2",
            results["simulate"]["simulate_patterns_per_s"],
            results["simulate"]["ratio"],
            ">= 0.5",
        ),
        (
            "training samples/s vs bare model.fit",
            results["train"]["train_samples_per_s"],
            results["train"]["ratio"],
            ">= 0.9",
        ),
        ("inference patterns/s", results["train"]["inference_patterns_per_s"], None, "-"),
        (
            "stitching patches/s vs reference whole-canvas translation",
            results["stitch"]["n_patches"] / results["stitch"]["ours_s"],
            results["stitch"]["ratio"],
            ">= 100",
        ),
        (
            f"peak GiB of the gs2 grid data path (train stride {results['memory']['stride']}) vs the whole-stack path",
            results["memory"]["streamed_peak_gib"],
            results["memory"]["ratio"],
            "<= 0.5",
        ),
    ]
    if "runs" in results:
        pm, sw = results["runs"]["papermill"], results["runs"]["sweep"]
        rows += [
            ("papermill + kernel overhead, share of a gs1_ideal run", pm["overhead_share"], None, "small"),
            (
                "share of the run outside training + inference + refinement + classical",
                pm["outside_train_inference_share"],
                None,
                "<= 0.10",
            ),
            ("sweep speed-up 1 -> 2 Dask workers (4 tasks)", sw["speedup"], sw["speedup"], ">= 1.7"),
        ]
        rec = pm["reconstruction"]
        for key, label in (
            ("pinn", "PINN inference"),
            ("pinn_refined", "PINN + refinement"),
            ("classical_flat_start", "classical, flat start"),
            ("classical_pinn_start", "classical, PINN start"),
        ):
            rows.append(
                (
                    f"{label}: patterns/s vs PINN inference (amp SSIM {rec[key]['ssim']:.3f}, flat {rec['flat_ssim']:.3f})",
                    rec[key]["patterns_per_s"],
                    rec[key]["ratio_vs_pinn"],
                    "-",
                )
            )
    for case, variants in (results.get("backends") or {}).get("cases", {}).items():
        for name, r in variants.items():
            if "steps_per_s" in r:
                rows.append(
                    (
                        f"training steps/s, {case}, {name} vs tf_fp32 (loss after {r['loss_vs_tf_fp32']:.3f}× fp32's; "
                        f"{r['achieved_gflops']:.0f} GFLOP/s = {r['share_of_fp32_matmul_peak']:.2f} of the fp32 matmul peak)",
                        r["steps_per_s"],
                        r["ratio_vs_tf_fp32"],
                        "-",
                    )
                )
    md = ["| benchmark | throughput | ratio | goal |", "| --- | --- | --- | --- |"]
    for name, thr, ratio, goal in rows:
        md.append(f"| {name} | {thr:.3g} | {'-' if ratio is None else f'{ratio:.2f}'} | {goal} |")
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out-dir", type=Path, default=HERE)
    a = ap.parse_args()
    main(a.smoke, a.out_dir)
