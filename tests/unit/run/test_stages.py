"""Each stage of the run layer on a tiny in-process run: records chain, metadata sections,
files written; and the in-process ``run_scenario`` equals the stage-by-stage calls."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("keras")

from ptycho_helpers.hub import results  # noqa: E402
from ptycho_helpers.run import classical as classical_stage  # noqa: E402
from ptycho_helpers.run import dense as dense_stage  # noqa: E402
from ptycho_helpers.run import evaluate, outputs, record, stages  # noqa: E402

TINY = {
    "base_total_images": 48,
    "group_count": 16,
    "batch_size": 8,
    "nepochs": 1,
    "group_limit": 6,
    "refine_steps": 2,
    "classical_iterations": 4,
}


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    hub = tmp_path_factory.mktemp("hub")
    ctx = record.start_scenario("gs1_ideal", hub, knobs=TINY)
    sim = stages.simulate_scenario(ctx)
    groups = stages.group_scenario(ctx, sim)
    trained = stages.train_scenario(ctx, groups)
    recon = stages.reconstruct_scenario(ctx, trained)
    refined = stages.refine_scenario(ctx, recon)
    classical = classical_stage.classical_scenario(ctx, refined)
    dense = dense_stage.dense_scenario(ctx, recon)
    ev = evaluate.evaluate_scenario(ctx, refined, classical, dense)
    stats = outputs.write_scenario_outputs(ctx, ev)
    meta = record.finish_scenario(ctx)
    return ctx, sim, groups, trained, recon, refined, ev, stats, meta


def test_start_validates_before_writing(tmp_path):
    with pytest.raises(ValueError, match="group_count=500 exceeds"):
        record.start_scenario("gs1_ideal", tmp_path / "h", knobs={**TINY, "group_count": 500})
    assert not (tmp_path / "h").exists()


def test_start_refuses_a_folder_that_holds_a_run(staged):
    ctx = staged[0]
    with pytest.raises(FileExistsError, match="already holds a run"):
        record.start_scenario("gs1_ideal", ctx.hub, knobs=TINY)


def test_named_profile_resolves_settings_in_the_kernel(tmp_path):
    ctx = record.start_scenario("gs1_ideal", tmp_path, profile="full")
    assert ctx.settings.nepochs == 30 and ctx.settings.group_limit == 1000
    ctx2 = record.start_scenario("gs1_ideal", tmp_path, run_name="b", profile="full", knobs={"nepochs": 2})
    assert ctx2.settings.nepochs == 2 and ctx2.settings.group_limit == 1000


def test_empty_hub_dir_creates_a_new_hub_exclusively(tmp_path):
    ctx = record.start_scenario("gs1_ideal", "", knobs=TINY, reports_dir=tmp_path)
    assert ctx.hub.parent == tmp_path and (ctx.folder / "run_metadata.json").is_file()


def test_records_chain_in_pipeline_order(staged):
    ctx, sim, groups, trained, recon, refined, ev, stats, meta = staged
    assert groups.sim is sim and trained.groups is groups and recon.trained is trained
    assert refined.reconstructed is recon and ev.refined is refined
    assert sim.train.n + sim.test.n == 48
    assert groups.test.n_groups == 6 and recon.rec.patches.shape == (6, 64, 64)
    assert refined.active and refined.stitched.image.shape == recon.stitched.image.shape


def test_each_stage_reports_through_the_record(staged):
    ctx, *_, meta = staged
    on_disk = json.loads((ctx.folder / "run_metadata.json").read_text())
    assert on_disk["status"] == "complete" == meta.status
    assert set(on_disk["timings_s"]) >= {
        "simulate",
        "group",
        "train",
        "inference",
        "stitch",
        "refine",
        "classical",
        "ceiling",
        "evaluate",
        "write",
        "total",
    }
    assert on_disk["refinement"]["steps"] == 2 and on_disk["model"]["gridsize"] == 1
    assert on_disk["counts"]["test_groups_stitched"] == 6 and on_disk["headline"]["amp_ssim"] is not None


def test_outputs_and_kernel_telemetry(staged):
    ctx, sim, groups, *_ = staged
    for rel in (
        "inference_outputs/amplitude.npy",
        "refined_outputs/amplitude.npy",
        "comparison_metrics.json",
    ):
        assert (ctx.folder / rel).is_file(), rel
    tel = json.loads((ctx.hub / "reassembly_gs1_ideal.json").read_text())
    assert tel == groups.telemetry and tel["source"]["kind"] == "simulated" and tel["n_groups"] == 6
    comp = json.loads((ctx.folder / "comparison_metrics.json").read_text())
    assert (
        comp["refined"]["refinement"]
        == json.loads((ctx.folder / "run_metadata.json").read_text())["refinement"]
    )


def test_classical_block_scores_the_same_patterns_on_the_same_region(staged):
    ctx, sim, groups, trained, recon, refined, ev, *_ = staged
    c = ev.comparison["classical"]
    rec = c["classical"]
    assert rec["engine"].startswith("PtyLab ") and rec["iterations"] == 4 and rec["patterns"] == 6
    assert len(rec["error"]) == 4 and len(rec["ssim_curve"]) == 5  # every iteration + the start
    assert c["amplitude"]["ssim"] is not None and c["seeded"]["amplitude"]["ssim"] is not None
    np.testing.assert_array_equal(ev.classical.stitched.coverage, recon.stitched.coverage)
    for rel in ("amplitude.npy", "amplitude.png", "pinn_start/amplitude.png", "convergence.png"):
        assert (ctx.folder / "classical_outputs" / rel).is_file(), rel
    stages_ = [r["stage"] for r in results.run_rows(ctx.folder)]
    assert any(st.startswith("classical") and "flat start" in st for st in stages_)
    assert "classical" in (ctx.hub / "gs1_ideal_notes.md").read_text()


def test_dense_block_scores_every_test_position(staged):
    """Besides the group_limit block (6 stitched groups here), the network reconstructs and
    scores every test position, with its own covered region, baselines and PNGs."""
    ctx, sim, groups, trained, recon, refined, ev, stats, meta = staged
    d = ev.comparison["dense"]
    assert d["groups"] == sim.test.n and d["patterns"] == sim.test.n and not d["same_as_main"]
    assert groups.test.n_groups == 6 < d["groups"]
    main_cov = ev.comparison["coverage_fraction"]
    assert d["coverage_fraction"] > 0 and d["covered_pixels"] > ev.comparison["covered_pixels"]
    assert main_cov > 0
    for key in ("ssim", "pearson_r", "mae"):
        assert np.isfinite(d["amplitude"][key])
    assert "flat" in d["baselines"] and "amplitude" in d["reference"]
    assert (ctx.folder / "dense_outputs" / "amplitude.png").is_file()
    rows = results.run_rows(ctx.folder)
    dense_rows = [r for r in rows if r["stage"].startswith("PINN, all")]
    assert len(dense_rows) == 1 and dense_rows[0]["flat_ssim"] == d["baselines"]["flat"]["ssim"]
    assert "dense evaluation" in (ctx.hub / f"{ctx.name}_notes.md").read_text()


def test_reassembly_report_equals_the_kernel_telemetry(staged):
    """The parent-free report draws the same positions and groups as the run did."""
    from ptycho_helpers.plan.telemetry import reassembly_report, scan_test_positions

    ctx, sim, groups, *_ = staged
    np.testing.assert_array_equal(scan_test_positions(ctx.resolved, ctx.settings), sim.test.positions)
    assert reassembly_report("gs1_ideal", TINY) == groups.telemetry


def test_refine_off_gives_inactive_record_and_no_refined_block(tmp_path):
    ctx, ev, _ = stages.run_scenario(
        "gs1_ideal", tmp_path, knobs={**TINY, "refine_steps": 0, "group_limit": 2, "classical": "none"}
    )
    assert not ev.refined.active and "refined" not in ev.comparison
    assert not (ctx.folder / "refined_outputs").exists()
    assert not ev.classical.active and "classical" not in ev.comparison  # --classical none
    assert not (ctx.folder / "classical_outputs").exists()
    assert json.loads((ctx.folder / "run_metadata.json").read_text())["classical"] == {}


GRID_TINY = {"object_size": 128, "train_stride": 8, "steps": 6, "curve_every": 3, "classical_iterations": 2}


@pytest.mark.parametrize(("scenario", "groups"), [("gs2_grid", 40), ("gs1_grid", 60)])
def test_grid_scenario_runs_with_both_evaluations(tmp_path, scenario, groups):
    """A tiny grid-protocol run: fixed groups, seamless 10-px tiles covering the canvas, the
    masked and the reference evaluation side by side, a step budget and a learning curve."""
    ctx, ev, _ = stages.run_scenario(scenario, tmp_path, knobs={**GRID_TINY, "group_count": groups})
    c = ev.comparison
    assert c["coverage_fraction"] == 1.0 and c["reference"]["filled_fraction"] == 0.0
    assert c["amplitude"]["ssim"] is not None and c["reference"]["amplitude"]["trim"] == 2
    meta = json.loads((ctx.folder / "run_metadata.json").read_text())
    assert meta["training"]["steps_run"] == 6 and meta["training"]["config"]["lr_schedule"] == "constant"
    assert meta["training"]["config"]["mae_weight"] == (1.0 if scenario == "gs1_grid" else 0.0)
    assert meta["counts"]["test_groups_stitched"] == 49 and meta["counts"]["train_groups"] == groups
    assert meta["model"]["prediction"] == ("group" if scenario == "gs2_grid" else "member")
    assert meta["scales"]["object_unit_test"] > 1 and meta["seeds"]["test_object"] == 1042
    curve = json.loads((ctx.folder / "train_outputs" / "learning_curve.json").read_text())
    assert curve["step"] == [0, 3, 6] and len(curve["amp_ssim"]) == 3 and curve["loss"][0] is None
    assert c["classical"]["amplitude"]["ssim"] is not None  # data units multiplied back like the PINN's
    # issue 27: every cell has its ceiling on its own region (gs2: a per-group classical solve)
    ceil = c["ceiling"]
    assert ceil["kind"].startswith("twin" if scenario == "gs1_grid" else "per-group classical solve")
    assert c["baselines"]["flat"]["ssim"] < ceil["amp_ssim"] <= 1.0
    img = ev.reconstructed.stitched.image
    assert img.shape == (70, 70) and np.isfinite(img).all()  # 7 × 7 tiles of 10 px
    # regression: the stitched output is multiplied back to the object's units (it was not)
    from ptycho_helpers.pinn.infer import predict_patches

    trained = ev.reconstructed.trained
    raw = predict_patches(
        trained.pinn.diffraction_to_obj, trained.groups.test, input_gain=trained.scales.input_gain
    )
    ratio = np.abs(ev.reconstructed.rec.patches).sum() / np.abs(raw.patches).sum()
    assert ratio == pytest.approx(meta["scales"]["object_unit_test"], rel=1e-5)


def test_default_run_scores_the_network_input_alone(staged):
    """The default model has the physics input (backprojection 5): its stitched image alone
    is scored on the same region as the PINN, with a result row and a notes line, and the
    learning curve starts at step 0 (the untrained model, i.e. that image)."""
    ctx, sim, groups, trained, recon, refined, ev, *_ = staged
    assert (
        trained.pinn.config.backprojection == 5
        and trained.pinn.config.input_gain == trained.scales.input_gain
    )
    b = ev.comparison["backprojection"]
    assert b["iterations"] == 5 and np.isfinite(b["amplitude"]["ssim"])
    rows = [r for r in results.run_rows(ctx.folder) if r["stage"].startswith("network input alone")]
    assert len(rows) == 1 and rows[0]["amp_ssim"] == b["amplitude"]["ssim"]
    assert "network input alone (5-iteration" in (ctx.hub / f"{ctx.name}_notes.md").read_text()
    curve = json.loads((ctx.folder / "train_outputs" / "learning_curve.json").read_text())
    assert curve["step"][0] == 0 and curve["loss"][0] is None


def test_every_hub_has_its_ceiling_and_fill_free_scores(staged):
    """gs1: the twin ceiling on the same region and metric, above the flat image and at most
    1, with the PINN as a share of the gap; the fill-free scores beside the masked one."""
    ctx, sim, groups, trained, recon, refined, ev, *_ = staged
    c = ev.comparison
    flat = c["baselines"]["flat"]["ssim"]
    ceil = c["ceiling"]
    assert ceil["kind"].startswith("twin") and flat < ceil["amp_ssim"] <= 1.0
    assert ceil["normalised_pinn"] == pytest.approx(
        (c["amplitude"]["ssim"] - flat) / (ceil["amp_ssim"] - flat)
    )
    ff = c["fill_free"]
    assert ff["interior_masked_ssim_flat"] is None or ff["interior_masked_ssim_flat"] < 0.5
    saved = json.loads((ctx.folder / "comparison_metrics.json").read_text())
    assert saved["ceiling"] == ceil


def test_a_hub_the_kernel_made_itself_gets_its_summary(tmp_path, monkeypatch):
    """Issue 30: a direct notebook run (no launcher, empty hub_dir) writes summary.md with
    its result line."""
    from ptycho_helpers.config import LAUNCHER_ENV

    monkeypatch.delenv(LAUNCHER_ENV, raising=False)
    knobs = {**TINY, "classical": "none", "refine_steps": 0}
    run = stages.run_scenario("gs1_ideal", "", knobs=knobs, reports_dir=tmp_path / "R")
    summary = (run.ctx.hub / "summary.md").read_text()
    assert (
        "## Results" in summary and "- **gs1_ideal**: best:" in summary and "direct notebook run" in summary
    )


def test_a_run_into_a_given_hub_leaves_the_summary_to_its_maker(staged):
    ctx = staged[0]
    assert not ctx.own_hub and not (ctx.hub / "summary.md").exists()


def test_patch_max_units_apply_to_a_non_grid_scan(tmp_path):
    """``object_units=patch_max`` was recorded but silently ignored off the grid protocol
    (a study factor on it would have measured nothing).  Now the object is divided by the
    mean of its scan patches' maxima: same positions and counts, diffraction ÷ scale."""
    from ptycho_helpers.core.grid import patch_max_scale

    sims = {}
    for units in ("as_is", "patch_max"):
        ctx = record.start_scenario("gs1_ideal", tmp_path / units, knobs={**TINY, "object_units": units})
        sims[units] = (ctx, stages.simulate_scenario(ctx))
    (_, a), (ctx, b) = sims["as_is"], sims["patch_max"]
    scale = ctx.meta.scales["object_unit_train"]
    assert scale > 1.5  # the lines object's amplitudes reach well above 1 as simulated
    np.testing.assert_array_equal(a.raw.xcoords, b.raw.xcoords)
    xy = np.stack([b.raw.xcoords, b.raw.ycoords], 1)
    assert patch_max_scale(b.raw.objectGuess, xy, ctx.resolved.params.N) == pytest.approx(1.0)
    assert b.unit_scale == scale and np.array_equal(b.obj, a.obj)  # the truth stays in its units
    # the same counts except where float rounding of the rate moves a Poisson draw (~4 %)
    want = a.raw.diffraction / scale
    close = np.isclose(b.raw.diffraction, want, rtol=1e-4, atol=1e-7)
    assert close.mean() > 0.9
    assert b.raw.diffraction.sum() / want.sum() == pytest.approx(1.0, rel=1e-3)


def test_grid_scan_of_one_objects_halves(tmp_path):
    """Issue 27: the scan can vary without the object set (scan=grid, object_set=halves):
    one object, the training grid on the half the non-grid protocol trains on (centres
    y < size·(1 − split_fraction)), the test tiles on the other; the planner's test tiles
    are the simulation's."""
    from ptycho_helpers.core.simulate import make_lines_object
    from ptycho_helpers.plan import telemetry

    knobs = {**GRID_TINY, "object_set": "halves", "group_count": 30}
    ctx = record.start_scenario("gs1_grid", tmp_path, knobs=knobs)
    p = ctx.resolved.params
    sim = stages.simulate_scenario(ctx)
    b = p.object_size * (1 - p.split_fraction)
    assert sim.train.ycoords.max() < b <= sim.test.ycoords.min()
    np.testing.assert_array_equal(sim.obj, make_lines_object(p.object_size, p.object_seed))
    assert (
        ctx.meta.seeds["train_objects"] == [p.object_seed] and ctx.meta.seeds["test_object"] == p.object_seed
    )
    assert sim.train.n == ctx.resolved.counts[1] and sim.test.n == ctx.resolved.counts[2]
    groups = stages.group_scenario(ctx, sim)
    assert groups.train.n_groups == 30
    rep = telemetry.reassembly_report("gs1_grid", knobs)
    assert rep["n_groups"] == groups.test.n_groups == groups.telemetry["n_groups"]
    assert rep["stitch_canvas"] == groups.telemetry["stitch_canvas"]


@pytest.mark.parametrize("object_set", ["halves", "separate"])
def test_random_scans_in_fixed_squares(tmp_path, object_set):
    """Issue 27: group geometry varies without the scan (group_geometry=square): random
    centres, four members at ±group_offset/2 around each, the groups made with the scan;
    halves split the centres by y; the planner's test positions and stitched groups are
    the simulation's; a full tiny run trains and scores."""
    from ptycho_helpers.plan import telemetry

    knobs = {**TINY, "group_geometry": "square", "object_set": object_set, "group_count": 6}
    ctx = record.start_scenario("gs2_ideal", tmp_path, knobs=knobs)
    sim = stages.simulate_scenario(ctx)
    for raw, g in ((sim.train, sim.train_groups), (sim.test, sim.test_groups)):
        members = raw.positions[g.indices]  # (g, 4, 2)
        np.testing.assert_allclose(members - g.centroids[:, None, :], g.relative)
        np.testing.assert_allclose(np.abs(g.relative), ctx.resolved.spec.group_offset / 2)
    if object_set == "halves":
        b_lo, b_hi = sim.train_groups.centroids[:, 1].max(), sim.test_groups.centroids[:, 1].min()
        assert b_lo <= b_hi  # split by centre y
    planned = telemetry.scan_test_positions(ctx.resolved, ctx.settings)
    np.testing.assert_allclose(planned, np.stack([sim.test.xcoords, sim.test.ycoords], 1))
    groups = stages.group_scenario(ctx, sim)
    assert groups.train.n_groups == 6 and groups.test.n_groups == min(6, ctx.settings.group_limit)
    rep = telemetry.reassembly_report("gs2_ideal", knobs)
    assert (
        rep["n_groups"] == groups.telemetry["n_groups"]
        and rep["stitch_canvas"] == groups.telemetry["stitch_canvas"]
    )
    with pytest.raises(ValueError, match="needs gridsize 2"):
        record.start_scenario("gs1_ideal", tmp_path / "x", knobs={**TINY, "group_geometry": "square"})
    if object_set == "halves":  # end to end: trains, stitches, scores, with its ceiling
        _, ev, _ = stages.run_scenario("gs2_ideal", tmp_path / "run", knobs={**knobs, "classical": "none"})
        c = ev.comparison
        assert np.isfinite(c["amplitude"]["ssim"]) and c["ceiling"]["kind"].startswith("per-group")


def test_random_scans_of_separate_objects(tmp_path):
    """Issue 27: the object set can vary without the scan (scan=random, object_set=separate):
    each training object and the grid protocol's test object get the non-grid number of
    random positions; K-NN groups never mix objects; the planner's test positions are the
    simulation's."""
    from ptycho_helpers.core.simulate import make_lines_object
    from ptycho_helpers.plan import telemetry

    knobs = {**TINY, "object_set": "separate", "n_objects": 2, "group_count": 12}
    ctx = record.start_scenario("gs2_ideal", tmp_path, knobs=knobs)
    total, train_n, test_n = ctx.resolved.counts
    assert (train_n, test_n) == (2 * test_n, test_n) and total == 3 * test_n
    sim = stages.simulate_scenario(ctx)
    p = ctx.resolved.params
    assert sim.train.n == train_n and sim.test.n == test_n
    np.testing.assert_array_equal(sim.obj, make_lines_object(p.object_size, p.object_seed + 1000))
    side = p.object_size + 2 * p.N
    owner = (sim.train.xcoords // side).astype(int)
    assert sorted(set(owner)) == [0, 1] and np.all(np.bincount(owner) == test_n)
    groups = stages.group_scenario(ctx, sim)
    member_owner = (groups.train.positions[..., 0] // side).astype(int)  # (g, C)
    assert set(member_owner[:, 0]) == {0, 1}
    assert np.all(member_owner.min(axis=1) == member_owner.max(axis=1))  # no group spans two objects
    planned = telemetry.scan_test_positions(ctx.resolved, ctx.settings)
    np.testing.assert_allclose(planned, np.stack([sim.test.xcoords, sim.test.ycoords], 1))
    assert ctx.meta.seeds["train_objects"] == [p.object_seed, p.object_seed + 1]
