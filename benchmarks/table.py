"""The benchmark table (``benchmarks/results.md``, and the one in ``docs/benchmarks.md``)
from the ``results.json`` of one ``make bench`` run: light, so the docs check can import it."""

from __future__ import annotations


def markdown(results: dict) -> str:
    """One row per figure: throughput, ratio against the baseline of the same run, goal."""
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
                "share of the run outside reconstruction compute (training, inference, refinement, classical, dense, ceiling)",
                pm["outside_reconstruction_share"],
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
    return "\n".join(md)
