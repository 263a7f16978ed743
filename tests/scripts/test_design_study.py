"""The designed study (issue 27): its plan (design, tasks, validation before any hub), its
analysis on synthetic scores with a known effect, and the CLI's dry run."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ptycho_helpers import design_study
from ptycho_helpers.core import design

FACTORS = [
    "U=amp_activation:softplus,sigmoid+object_units:as_is,patch_max",
    "S=probe_big:false,true",
    "M=reassemble_M:20,10",
    "P=prediction:member,group",
]


@pytest.fixture(scope="module")
def plan():
    return design_study.plan_study("gs2_grid", FACTORS, seeds=[1, 2, 3], steps=7, generators=["P=USM"])


def test_plan_is_a_balanced_orthogonal_half_fraction(plan):
    X = np.array(plan["design"])
    assert X.shape == (8, 4) and plan["names"] == ["U", "S", "M", "P"]
    design.check_design(X)
    assert sorted(len(g) for g in plan["aliases"]) == [2, 2, 2]
    assert len(plan["tasks"]) == 24 and len({t["run_name"] for t in plan["tasks"]}) == 24


def test_every_run_differs_from_its_design_row_in_exactly_the_recorded_settings(plan):
    factors = {f: design_study.parse_factor(text)[1] for f, text in zip("USMP", FACTORS, strict=True)}
    for t in plan["tasks"]:
        expected = {"steps": 7, "seed": t["seed"], "object_seed": t["seed"], "sim_seed": t["seed"]}
        expected["test_sets"] = True  # every model also scored on both protocols' test sets
        for f, level in t["levels"].items():
            expected.update({k: v[0 if level < 0 else 1] for k, v in factors[f].items()})
        assert t["values"] == expected, t["run_name"]
        assert t["levels"] == dict(zip(plan["names"], plan["design"][t["row"]], strict=True))


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"seeds": [1, 2]}, "at least 3 distinct seeds"),
        ({"seeds": [1, 1, 2]}, "at least 3 distinct seeds"),
        (
            {"factors": ["U=amp_activation:softplus,sigmoid", "V=amp_activation:softplus,sigmoid"]},
            "moved by factor",
        ),
        ({"factors": ["U=amp_activation:softplus", "S=probe_big:false,true"]}, "KNOB:LOW,HIGH"),
        ({"factors": ["U=amp_activation:softplus,bogus", "S=probe_big:false,true"]}, "amp_activation"),
        ({"factors": ["U=seed:1,2", "S=probe_big:false,true"]}, "set by the study"),
        ({"generators": ["Z=US"]}, "--generator"),
        ({"steps": 0}, "step budget"),
    ],
)
def test_bad_plans_are_refused_before_anything_runs(kw, match):
    args = {"factors": FACTORS[:3], "seeds": [1, 2, 3], "steps": 5, **kw}
    with pytest.raises(ValueError, match=match):
        design_study.plan_study("gs2_grid", args.pop("factors"), **args)


def test_held_settings_are_in_every_run_and_may_not_overlap_a_factor():
    plan = design_study.plan_study(
        "gs1_grid", FACTORS[:2], seeds=[1, 2, 3], steps=5, fixed=["object_set=separate", "nphotons=1e4"]
    )
    assert plan["fixed"] == {"object_set": "separate", "nphotons": 1e4, "test_sets": True}
    off = design_study.plan_study(
        "gs1_grid", FACTORS[:2], seeds=[1, 2, 3], steps=5, fixed=["test_sets=false"]
    )
    assert off["fixed"] == {"test_sets": False} and not any(t["values"]["test_sets"] for t in off["tasks"])
    assert all(
        t["values"]["object_set"] == "separate" and t["values"]["nphotons"] == 1e4 for t in plan["tasks"]
    )
    assert (
        "held in every run (`--set`): `object_set=separate`, `nphotons=10000.0`"
        in design_study.plan_markdown(plan, 2)
    )
    for fixed, match in (
        (["amp_activation=sigmoid"], "moved by factor 'U'"),
        (["seed=3"], "set by the study"),
        (["nphotons=1e4,1e6"], "holds one value"),
        (["bogus=1"], "unknown knob"),
        (["object_set=halves", "group_count=5000"], "exceeds the"),
    ):
        with pytest.raises(ValueError, match=match):
            design_study.plan_study("gs1_grid", FACTORS[:2], seeds=[1, 2, 3], steps=5, fixed=fixed)


def test_analysis_recovers_a_known_effect_and_writes_a_verdict(plan):
    """Synthetic scores: U raises SSIM by 0.10, everything else is seed level and noise."""
    rng = np.random.default_rng(0)
    X = np.array(plan["design"])
    level = {1: 0.0, 2: 0.05, 3: -0.04}
    scores = {
        t["run_name"]: {
            "amp_ssim": 0.5 + level[t["seed"]] + 0.05 * X[t["row"], 0] + rng.normal(0, 0.005),
            "ref_ssim": None if t["row"] == 3 else 0.3,
        }
        for t in plan["tasks"]
    }
    a = design_study.analyse(plan, scores)
    u = a["metrics"]["amp_ssim"]["effects"]["U"]
    assert u["low"] < 0.10 < u["high"] and u["low"] > 0
    assert "ref_ssim" not in a["metrics"] and len(a["missing"]) == 3  # one row × 3 seeds unscored
    assert "ceiling_share" in a["unavailable"]  # no run has it: not counted as missing
    text = "\n".join(design_study.verdict_lines(plan, a))
    assert "- U: +0.09" in text or "- U: +0.10" in text
    assert "Missing scores (3)" in text
    assert a["metrics"]["amp_ssim"]["gap_all_high_minus_all_low"] == pytest.approx(0.10, abs=0.03)
    assert "bootstrap 95 %" in design_study.effects_table(a)


def test_cli_dry_run_prints_the_plan_and_cost_and_writes_nothing(tmp_path):
    args = [sys.executable, "-m", "ptycho_helpers", "study", "--scenario", "gs1_grid", "--steps", "100"]
    for f in FACTORS[:3]:
        args += ["--factor", f]
    res = subprocess.run(
        [*args, "--dry-run", "--reports-dir", str(tmp_path / "R")], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert (
        "Study plan: gs1_grid, 8 design rows × 3 seeds = 24 runs" in res.stdout
        and "Estimated wall time" in res.stdout
    )
    assert not (tmp_path / "R").exists() and "WARNING" not in res.stderr
    bad = subprocess.run([*args, "--seeds", "1", "2"], capture_output=True, text=True)
    assert bad.returncode == 2 and "at least 3 distinct seeds" in bad.stderr.strip().splitlines()[-1]


def test_run_scores_of_an_unfinished_run_are_missing_not_an_error(tmp_path):
    """A failed run (no comparison_metrics.json) used to crash the study's analysis."""
    folder = tmp_path / "row00_Um__seed1"
    folder.mkdir()
    (folder / "run_metadata.json").write_text('{"status": "failed"}')
    scores = design_study.run_scores(folder)
    assert all(v is None for v in scores.values())


def test_verdict_does_not_read_two_factor_interactions_into_the_all_high_minus_all_low_gap():
    """A pure two-factor interaction (y = 0.2·x1·x2 in a 2² design) leaves the all-high −
    all-low gap at 0: in that contrast two-factor interactions cancel, so "gap − sum of
    main effects" is never "left to interactions" (it used to say so, and read 0.000)."""
    plan = design_study.plan_study(
        "gs2_ideal", ["G=group_geometry:knn,square", "D=nphotons:1e4,1e9"], seeds=[1, 2, 3], steps=5
    )
    X = np.array(plan["design"])
    level = {1: 0.0, 2: 0.03, 3: -0.02}
    scores = {
        t["run_name"]: {
            "amp_ssim": 0.5
            + level[t["seed"]]
            + 0.1 * X[t["row"], 0] * X[t["row"], 1]
            + 0.0005 * X[t["row"], 1]
        }
        for t in plan["tasks"]
    }
    a = design_study.analyse(plan, scores)
    m = a["metrics"]["amp_ssim"]
    assert m["effects"]["G×D"]["estimate"] == pytest.approx(0.2)
    assert m["gap_all_high_minus_all_low"] == pytest.approx(0.001, abs=1e-9)  # D alone
    text = "\n".join(design_study.verdict_lines(plan, a))
    assert "- G×D: +0.200" in text
    assert "left to interactions" not in text and "two-factor interactions cancel" in text
    assert "- D:" not in text  # +0.001 with no spread: clear, but too small to name


def test_run_scores_put_the_classical_engine_and_the_ceiling_beside_the_pinn(tmp_path):
    """Issue 27: every study score beside the classical engine and the cell's ceiling, read
    from the run's own comparison file (same patterns, same region)."""
    import json

    folder = tmp_path / "row00_Gm__seed1"
    folder.mkdir()
    (folder / "run_metadata.json").write_text(json.dumps({"status": "complete", "scenario": "gs2_ideal"}))
    base = {"ssim": 0.2, "pearson_r": None, "mae": 0.5}
    comp = {  # the shape a run writes (the reader validates it)
        "scenario": "gs2_ideal",
        "ground_truth_available": True,
        "coverage_fraction": 0.3,
        "amplitude": {"ssim": 0.55, "pearson_r": 0.9, "mae": 0.1, "ls_scale": 1.0},
        "baselines": {"flat": base, "blur_sigma8": base},
        "noise_floor": {"metric": "dev/2", "model": 1.0},
        "classical": {"classical": {"engine": "PtyLab mPIE"}, "amplitude": {"ssim": 0.61}},
        "ceiling": {"amp_ssim": 0.48, "normalised_pinn": 1.25},
    }
    (folder / "comparison_metrics.json").write_text(json.dumps(comp))
    scores = design_study.run_scores(folder)
    assert scores["amp_ssim"] == 0.55 and scores["classical_ssim"] == 0.61 and scores["ceiling_ssim"] == 0.48
    assert set(design_study.METRICS) <= set(scores)
