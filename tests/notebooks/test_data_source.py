"""A user's NPZ as the data source: export -> import -> train -> reconstruct, via papermill."""

from __future__ import annotations

import json

import numpy as np

import ptycho_helpers as ph
from ptycho_helpers import runs
from ptycho_helpers.hub.interchange import export_npz


def test_exported_npz_reimports_and_reconstructs(tmp_path):
    obj = ph.make_lines_object(160, 5)
    probe = ph.normalize_probe_guess(ph.make_probe(64), 10.0)
    raw = ph.simulate_nongrid_raw_data(obj, probe, n_images=64, nphotons=1e9, seed=2, buffer=10)
    with_truth = export_npz(raw, tmp_path / "scan.npz")
    no_truth = tmp_path / "scan_no_truth.npz"
    np.savez(
        no_truth,
        diff3d=np.moveaxis(raw.diffraction, 0, -1),
        xcoords=raw.xcoords,
        ycoords=raw.ycoords,
        probeGuess=raw.probeGuess,
    )
    tiny = {"group_count": 16}
    settings = {"nepochs": 2, "group_limit": 4}
    hub, rc = runs.run_scenarios(
        ["gs1_ideal"],
        reports_dir=tmp_path / "a",
        overrides=tiny,
        settings={**settings, "data_path": str(with_truth)},
        guard_test=False,
    )
    assert rc == 0
    meta = json.loads((hub / "gs1_ideal" / "run_metadata.json").read_text())
    assert meta["counts"]["total"] == 64 and meta["settings"]["data_path"] == str(with_truth)
    comp = json.loads((hub / "gs1_ideal" / "comparison_metrics.json").read_text())
    assert comp["ground_truth_available"] is True and comp["amplitude"]["ssim"] is not None

    hub2, rc2 = runs.run_scenarios(
        ["gs1_ideal"],
        reports_dir=tmp_path / "b",
        overrides=tiny,
        settings={**settings, "data_path": str(no_truth)},
        guard_test=False,
    )
    assert rc2 == 0
    comp2 = json.loads((hub2 / "gs1_ideal" / "comparison_metrics.json").read_text())
    assert comp2["ground_truth_available"] is False and comp2["noise_floor"]["model"] > 0
    assert (hub2 / "gs1_ideal" / "inference_outputs" / "amplitude.png").is_file()
    assert not (hub2 / "gs1_ideal" / "ground_truth_amplitude.png").exists()
    assert "no ground-truth comparison" in (hub2 / "gs1_ideal_notes.md").read_text()

    # the telemetry in the hub describes the file's positions (the kernel wrote it from the data
    # it used); it used to describe a simulated 392-px scan instead
    tel = json.loads((hub / "reassembly_gs1_ideal.json").read_text())
    test_xy = np.stack([raw.xcoords, raw.ycoords], 1)[np.argsort(raw.ycoords, kind="stable")[32:]]
    a = tel["offsets"]["absolute"]
    assert tel["source"] == {"kind": "npz", "path": str(with_truth)}
    assert test_xy[:, 0].min() <= a["x_min"] <= a["x_max"] <= test_xy[:, 0].max() < 160
    assert test_xy[:, 1].min() <= a["y_min"] <= a["y_max"] <= test_xy[:, 1].max() < 160
    # and the reassembly-report command runs the same kernel code on the same file
    from ptycho_helpers.cli import main

    out = tmp_path / "cli.json"
    args = [
        "reassembly-report",
        "gs1_ideal",
        "--output-json",
        str(out),
        "--output-markdown",
        str(tmp_path / "t.md"),
    ]
    assert main([*args, "--data", str(with_truth), "--group-count", "16", "--group-limit", "4"]) == 0
    assert json.loads(out.read_text()) == tel
