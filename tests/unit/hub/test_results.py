"""Typed result records, their committed schemas, and the one results-row builder."""

from __future__ import annotations

import json

import pytest

from ptycho_helpers.hub import results
from ptycho_helpers.hub.results import COLUMNS, Comparison, result_rows, run_rows

COMP = {
    "scenario": "gs1_ideal",
    "ground_truth_available": True,
    "coverage_fraction": 0.9,
    "amplitude": {"ssim": 0.4, "pearson_r": 0.7, "mae": 0.3, "ls_scale": 1.1, "psnr": 20.0},
    "baselines": {"flat": {"ssim": 0.24, "mae": 0.5}, "blur_sigma8": {"ssim": 0.53}},
    "noise_floor": {"metric": "dev/2", "true_object": 0.5, "model": 90.0, "refined": 3.0},
    "refined": {
        "refinement": {"steps": 100},
        "amplitude": {"ssim": 0.6, "pearson_r": 0.8, "mae": 0.2, "ls_scale": 1.0},
    },
}


@pytest.mark.parametrize("name", sorted(results.SCHEMAS))
def test_committed_schemas_are_current(name):
    path = results.SCHEMA_DIR / f"{name}.schema.json"
    assert path.read_text() == results.schema_text(results.SCHEMAS[name]), (
        f"{path.name} is stale: run scripts/export_schema.py"
    )


def test_checked_keeps_the_content_and_rejects_unknown_keys():
    assert results.checked(Comparison, COMP) == COMP
    with pytest.raises(ValueError, match="amplitud"):
        results.checked(Comparison, {**COMP, "amplitud": {}})
    with pytest.raises(ValueError, match="noise_floor"):
        results.checked(Comparison, {k: v for k, v in COMP.items() if k != "noise_floor"})


def test_rows_one_per_reconstruction_beside_the_same_baselines():
    meta = {"scenario": "gs1_ideal", "status": "complete", "timings_s": {"train": 10.0, "total": 30.0}}
    rows = result_rows(meta, COMP, hub="h", run="gs1_ideal")
    assert [r["stage"] for r in rows] == ["PINN", "PINN + 100 refinement steps"]
    assert [r["amp_ssim"] for r in rows] == [0.4, 0.6]
    assert all(r["flat_ssim"] == 0.24 and r["blur8_ssim"] == 0.53 for r in rows)
    assert list(rows[0]) == [k for k, _ in COLUMNS]


def test_rows_of_a_run_without_truth_or_broken_files(tmp_path):
    no_truth = {
        "scenario": "gs1_ideal",
        "ground_truth_available": False,
        "coverage_fraction": 0.8,
        "noise_floor": {"metric": "dev/2", "model": 4.0},
    }
    rows = result_rows({"scenario": "gs1_ideal", "status": "complete"}, no_truth)
    assert len(rows) == 1 and rows[0]["amp_ssim"] is None and rows[0]["coverage"] == 0.8
    run = tmp_path / "hub" / "r"
    run.mkdir(parents=True)
    (run / "run_metadata.json").write_text('{"status": "compl')  # truncated
    assert run_rows(run)[0]["status"] == "unreadable"
    (run / "run_metadata.json").write_text(json.dumps({"scenario": "gs1_ideal", "status": "running"}))
    assert run_rows(run)[0]["status"] == "incomplete"
    (run / "comparison_metrics.json").write_text(json.dumps({"scenario": "x"}))
    assert run_rows(run)[0]["status"] == "unreadable"
