"""scripts/study_data.py: a study hub -> committed data, re-scored with today's run_scores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ptycho_helpers import design_study

ROOT = Path(__file__).resolve().parents[2]


def test_study_data_rescored_from_the_runs_and_refuses_a_folder_that_is_no_study(tmp_path):
    plan = design_study.plan_study(
        "gs2_ideal", ["G=group_geometry:knn,square", "D=nphotons:1e4,1e9"], seeds=[1, 2, 3], steps=5
    )
    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / "study.json").write_text(json.dumps({"plan": plan, "scores": {}, "analysis": {}}))
    for t in plan["tasks"]:
        run = hub / t["run_name"]
        run.mkdir()
        g = plan["design"][t["row"]][0]
        (run / "run_metadata.json").write_text(
            json.dumps({"status": "complete", "scenario": "gs2_ideal", "git_sha": "abcdef0123"})
        )
        base = {"ssim": 0.2, "pearson_r": None, "mae": 0.5}
        comp = {  # the shape a run writes (the reader validates it)
            "scenario": "gs2_ideal",
            "ground_truth_available": True,
            "coverage_fraction": 0.3,
            "amplitude": {
                "ssim": 0.5 + 0.05 * g + 0.01 * t["seed"],
                "pearson_r": 0.9,
                "mae": 0.1,
                "ls_scale": 1.0,
            },
            "baselines": {"flat": base, "blur_sigma8": base},
            "noise_floor": {"metric": "dev/2", "model": 1.0},
            "classical": {
                "classical": {"engine": "PtyLab mPIE"},
                "amplitude": {"ssim": 0.6 + 0.02 * g + 0.01 * t["seed"]},
            },
        }
        (run / "comparison_metrics.json").write_text(json.dumps(comp))
    out = tmp_path / "data.json"
    cmd = [sys.executable, str(ROOT / "scripts" / "study_data.py"), str(hub), "--out", str(out)]
    res = subprocess.run([*cmd, "--command", "study ..."], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(out.read_text())
    effects = doc["analysis"]["metrics"]
    assert abs(effects["amp_ssim"]["effects"]["G"]["estimate"] - 0.10) < 1e-9
    assert abs(effects["classical_ssim"]["effects"]["G"]["estimate"] - 0.04) < 1e-9
    assert doc["provenance"]["commits"] == ["abcdef0"] and "- G: +0.100" in "\n".join(doc["verdict"])
    # a hub made before --test-sets: the rescored blocks (scripts/test_sets_of.py) fill the
    # canonical-test-set metrics, here with a known effect of G of +0.03 on the grid tiles
    rescored = {
        f"hub/{t['run_name']}": {
            "grid_tiles": {
                "tiles": {"amp_ssim": 0.7 + 0.015 * plan["design"][t["row"]][0] + 0.01 * t["seed"]}
            },
            "random_half": {"overlap": {"amp_ssim": 0.55, "interior_ssim": 0.5}},
        }
        for t in plan["tasks"]
    }
    (tmp_path / "rescored.json").write_text(json.dumps(rescored))
    res = subprocess.run(
        [*cmd, "--command", "s", "--test-sets", str(tmp_path / "rescored.json")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    effects = json.loads(out.read_text())["analysis"]["metrics"]
    assert abs(effects["tiles_ssim"]["effects"]["G"]["estimate"] - 0.03) < 1e-9
    assert abs(effects["random_half_ssim"]["effects"]["G"]["estimate"]) < 1e-12
    bad = subprocess.run(
        [*cmd[:2], str(tmp_path), "--out", str(out), "--command", "x"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "no study.json" in bad.stderr
