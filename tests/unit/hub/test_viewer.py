"""Run inspector and comparison helpers, tested without a browser on a synthetic hub."""

from __future__ import annotations

import numpy as np
import pytest

from ptycho_helpers.hub import artifacts, viewer
from ptycho_helpers.hub.inspector import RunInspector


def _fake_run(hub, name, scale=1.0):
    folder = hub / name
    S = 40
    yy, xx = np.mgrid[0:S, 0:S]
    truth = 2 + np.sin(xx / 4.0)
    cov = np.zeros((S, S))
    cov[5:35, 8:30] = 1
    amp = np.where(cov > 0, truth * scale, np.nan)
    artifacts.write_npy(folder / "inference_outputs" / "amplitude.npy", amp.astype(np.float32))
    artifacts.write_npy(folder / "inference_outputs" / "phase.npy", np.zeros((S, S), np.float32))
    artifacts.write_npy(folder / "inference_outputs" / "coverage.npy", cov)
    artifacts.write_npy(folder / "ground_truth_amplitude.npy", truth.astype(np.float32))
    artifacts.write_npy(folder / "ground_truth_phase.npy", np.zeros((S, S), np.float32))
    base = {"ssim": 0.3, "pearson_r": None, "mae": 0.5}
    artifacts.write_json(
        folder / "comparison_metrics.json",
        {
            "amplitude": {"ssim": 0.9, "pearson_r": 0.99, "mae": 0.1, "ls_scale": 1 / scale},
            "baselines": {"flat": base, "blur_sigma8": base},
            "coverage_fraction": float(cov.mean()),
            "scenario": name,
            "ground_truth_available": True,
            "noise_floor": {"metric": "dev/2", "model": 1.0},
        },
    )
    artifacts.write_json(
        folder / "run_metadata.json",
        {"scenario": "gs1_ideal", "status": "complete", "timings_s": {"train": 1.0}},
    )
    artifacts.write_json(
        folder / "inference_outputs" / "stats.json",
        {"display_ranges": {"amplitude": {"vmin": 0, "vmax": 3.0}}},
    )


@pytest.fixture
def reports(tmp_path):
    _fake_run(tmp_path / "2026-01-01T000000Z", "gs1_ideal")
    _fake_run(tmp_path / "2026-01-02T000000Z", "gs1_ideal", scale=0.5)
    _fake_run(tmp_path / "2026-01-02T000000Z", "gs2_ideal")
    (tmp_path / "2026-01-03T000000Z").mkdir()  # a hub with no finished run
    return tmp_path


def test_list_and_load(reports):
    hubs = viewer.list_hubs(reports)
    assert [h.name for h in hubs][0] == "2026-01-03T000000Z"
    assert viewer.list_runs(hubs[1]) == ["gs1_ideal", "gs2_ideal"]
    run = viewer.load_run(hubs[1], "gs1_ideal")
    assert run.covered.sum() == 30 * 22
    with pytest.raises(FileNotFoundError, match="incomplete or missing"):
        viewer.load_run(hubs[0], "gs1_ideal")
    with pytest.raises(ValueError, match="unknown view"):
        run.image("nope")


def test_comparison_table_and_figures(reports):
    hub = viewer.list_hubs(reports)[1]
    runs = [viewer.load_run(hub, n) for n in viewer.list_runs(hub)]
    rows = viewer.comparison_table(runs)
    assert rows[0]["ls_scale"] == pytest.approx(2.0) and rows[0]["flat_ssim"] == 0.3
    assert "| hub | run |" in viewer.table_markdown(rows)
    expected = max(float(r.truth_amplitude[r.covered].max()) for r in runs)
    assert viewer.shared_vmax(runs) == pytest.approx(expected, rel=1e-6)
    for make in (viewer.side_by_side_figure, viewer.histogram_figure, viewer.bias_maps_figure):
        fig = make(runs)
        assert fig.axes
    diff = runs[0].image("amplitude difference")
    assert np.isnan(diff[0, 0]) and diff[10, 10] == pytest.approx(
        -0.5 * runs[0].truth_amplitude[10, 10], rel=1e-5
    )


def _png_pixels(data: bytes) -> np.ndarray:
    import io

    import matplotlib.image as mpimg

    return mpimg.imread(io.BytesIO(data), format="png")


def test_inspector_state_changes_render(reports):
    ins = RunInspector(reports)
    assert ins.hub.options == ("2026-01-02T000000Z", "2026-01-01T000000Z")  # hubs without runs are hidden
    assert ins.run.value == "gs1_ideal" and ins.vmax.value == 3.0 and ins.row.value == 20
    fig = ins.render()
    img = fig.axes[0].images[0]
    assert img.get_clim() == (0.0, 3.0) and len(fig.axes) == 3  # image, profile, colour bar
    n = ins.renders
    ins.vmax.value = 1.5
    assert ins.renders == n + 1  # one picture per change
    ins.view.value = "phase"
    assert ins.render().axes[0].images[0].get_clim() == pytest.approx((-np.pi, np.pi))
    ins.pmax.value = 0.01  # the phase itself stays on ±π ...
    assert ins.render().axes[0].images[0].get_clim() == pytest.approx((-np.pi, np.pi))
    ins.view.value = "phase difference"  # ... differences of a few mrad get their own range
    assert ins.render().axes[0].images[0].get_clim() == pytest.approx((-0.01, 0.01))
    ins.view.value = "amplitude difference"
    ins.dmax.value = 0.2  # the difference range is its own, not the amplitude maximum
    assert ins.render().axes[0].images[0].get_clim() == pytest.approx((-0.2, 0.2))
    ins.view.value = "amplitude"
    ins.row.value = 10
    lines = ins.render().axes[1].lines
    assert len(lines) == 2  # prediction and truth profiles
    np.testing.assert_allclose(lines[0].get_ydata()[8:30], ins.current.amplitude[10, 8:30])
    n = ins.renders
    ins.run.value = "gs2_ideal"
    assert ins.current.name == "gs2_ideal" and ins.renders == n + 1  # run → row → vmax: still once
    with pytest.raises(ValueError, match="outside the canvas"):
        viewer.line_profile(ins.current, "amplitude", 99)


def test_inspector_draws_without_pyplot_from_another_thread(reports):
    """Widget callbacks arrive on a second thread in a live kernel: the picture must not be blank."""
    import threading

    import matplotlib.pyplot as plt

    ins = RunInspector(reports)
    before = ins.image.value
    t = threading.Thread(target=lambda: setattr(ins.view, "value", "ground-truth amplitude"))
    t.start()
    plt.close("all")  # what the kernel's post-execute flush does meanwhile
    t.join()
    px = _png_pixels(ins.image.value)
    assert ins.image.value != before and px[..., :3].std() > 0.05  # drawn, not blank
    assert not plt.get_fignums()  # no pyplot figure was created


def test_inspector_shows_uncovered_and_errors_in_the_widget(reports, tmp_path):
    ins = RunInspector(reports)
    ins.row.value = 2  # outside the covered rows 5…34
    ax_profile = ins.render().axes[1]
    assert ax_profile.texts and "no covered pixels" in ax_profile.texts[0].get_text()
    cmap = ins.render().axes[0].images[0].get_cmap()
    assert (
        tuple(cmap.get_bad()[:3]) != tuple(cmap(1.0)[:3]) != tuple(cmap.get_over()[:3])
    )  # NaN ≠ white ≠ saturated
    assert "refined amplitude" not in ins.view.options  # this run has none: not offered
    ins.current = viewer.load_run(ins.reports_dir / ins.hub.value, ins.run.value)
    ins.view.options = [*ins.view.options, "refined amplitude"]  # forced: the error shows in the widget
    ins.view.value = "refined amplitude"
    assert "no refined reconstruction" in ins.status.value and ins.image.value == b""
    empty = RunInspector(tmp_path / "none")
    assert "no runs found under" in empty.status.value and empty.static() is not None


def test_relative_reports_dir_resolves_against_the_repository(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # a JupyterLab kernel starts in notebooks/, not the repository root
    assert viewer.resolve_reports_dir("reports") == artifacts.default_reports_dir().resolve()
    (tmp_path / "mine").mkdir()
    assert viewer.resolve_reports_dir("mine") == (tmp_path / "mine").resolve()


def test_refined_views_and_columns(reports):
    hub = viewer.list_hubs(reports)[1]
    plain = viewer.load_run(hub, "gs2_ideal")
    assert plain.refined_amplitude is None and [r["stage"] for r in viewer.comparison_table([plain])] == [
        "PINN"
    ]
    with pytest.raises(ValueError, match="no refined reconstruction"):
        plain.image("refined amplitude")
    folder = hub / "gs1_ideal"
    refined = np.where(plain.covered, plain.truth_amplitude, np.nan).astype(np.float32)
    artifacts.write_npy(folder / "refined_outputs" / "amplitude.npy", refined)
    comp = artifacts.read_json(folder / "comparison_metrics.json")
    comp["refined"] = {
        "refinement": {"steps": 7},
        "amplitude": {"ssim": 0.95, "pearson_r": 0.999, "mae": 0.01, "ls_scale": 1.0},
    }
    artifacts.write_json(folder / "comparison_metrics.json", comp)
    run = viewer.load_run(hub, "gs1_ideal")
    pinn, row = viewer.comparison_table([run])
    assert row["stage"] == "PINN + 7 refinement steps" and row["amp_ssim"] == 0.95 and row["ls_scale"] == 1.0
    assert row["flat_ssim"] == pinn["flat_ssim"] == 0.3
    np.testing.assert_array_equal(run.image("refined amplitude"), refined)
    assert np.nanmax(np.abs(run.image("refined amplitude difference"))) < 1e-6
    vals, truth = viewer.line_profile(run, "refined amplitude", 10)
    np.testing.assert_allclose(vals[8:30], truth[8:30], rtol=1e-6)


def test_run_without_ground_truth_loads_tabulates_and_draws(tmp_path):
    """Imported data without objectGuess: the viewer used to crash on the missing truth files."""
    hub = tmp_path / "2026-01-04T000000Z"
    _fake_run(hub, "gs1_ideal")
    for f in ("ground_truth_amplitude.npy", "ground_truth_phase.npy"):
        (hub / "gs1_ideal" / f).unlink()
    artifacts.write_json(
        hub / "gs1_ideal" / "comparison_metrics.json",
        {
            "scenario": "gs1_ideal",
            "ground_truth_available": False,
            "coverage_fraction": 0.4,
            "noise_floor": {"metric": "dev/2", "model": 2.0},
        },
    )
    run = viewer.load_run(hub, "gs1_ideal")
    assert not run.has_truth
    rows = viewer.comparison_table([run])
    assert len(rows) == 1 and rows[0]["amp_ssim"] is None and rows[0]["coverage"] == 0.4
    with pytest.raises(ValueError, match="no ground truth"):
        run.image("amplitude difference")
    for make in (viewer.side_by_side_figure, viewer.histogram_figure, viewer.bias_maps_figure):
        assert make([run]).axes
    vals, truth = viewer.line_profile(run, "amplitude", 10)
    assert truth is None and np.isfinite(vals).any()


def test_inspector_offers_only_the_views_a_run_has_and_the_dense_canvas(reports):
    """Issue 30: no refined view for a run without refinement (it gave a red error and a
    broken image); the dense reconstruction on its own canvas, with its truth profile; the
    phase difference starts on a range that shows it (±π made it plain white); long names
    are wrapped in the title, not cut."""
    hub = viewer.list_hubs(reports)[1]  # the newest: the inspector opens it
    folder = hub / "gs1_ideal"
    S = 50  # the dense canvas has its own size
    yy, xx = np.mgrid[0:S, 0:S]
    dense_truth = 2 + np.cos(xx / 5.0)
    dense = np.where(yy > 10, dense_truth + 0.1, np.nan).astype(np.float32)
    artifacts.write_npy(folder / "dense_outputs" / "amplitude.npy", dense)
    artifacts.write_npy(
        folder / "dense_outputs" / "amplitude_diff.npy", (dense - dense_truth).astype(np.float32)
    )
    phase = np.where(np.mgrid[0:40, 0:40][1] % 2 == 0, 0.2, -0.2).astype(np.float32)
    artifacts.write_npy(folder / "inference_outputs" / "phase.npy", phase)
    ins = RunInspector(reports)
    assert ins.run.value == "gs1_ideal"
    assert list(ins.view.options) == [*viewer.BASE_VIEWS, "dense amplitude", "dense amplitude difference"]
    assert ins.pmax.value == pytest.approx(0.2, rel=1e-3)  # 99th percentile of |Δφ|, not ±π
    ins.view.value = "dense amplitude"
    fig = ins.render()
    assert fig.axes[0].images[0].get_array().shape == (S, S)
    pred, truth = (ln.get_ydata() for ln in fig.axes[1].lines)
    np.testing.assert_allclose(pred[np.isfinite(pred)] - truth[np.isfinite(truth)], 0.1, atol=1e-5)
    ins.view.value = "dense amplitude difference"
    assert np.nanmax(ins.current.image("dense amplitude difference")) == pytest.approx(0.1, abs=1e-5)
    title = fig.axes[0].get_title(loc="left")
    assert title.startswith("gs1_ideal: dense amplitude\n") and hub.name in title
    ins.run.value = "gs2_ideal"  # no dense outputs: the view falls back to the amplitude
    assert "dense amplitude" not in ins.view.options and ins.view.value == "amplitude"


def test_compare_runs_defaults_to_the_newest_hub_with_several_runs_and_reads_like_a_table(reports):
    """Issue 30: after one extra single-run hub, compare_runs "compared" one run; its table
    had raw snake_case columns, the images PINN vs truth only, no colour bar, and the bias
    map's uncovered pixels were white (beige everywhere else)."""
    import matplotlib

    from ptycho_helpers.hub.inspector import NAN_COLOUR

    _fake_run(reports / "2026-01-05T000000Z", "gs1_ideal")  # a newer hub with one run
    assert [h.name for h in viewer.default_compare_hubs(reports)] == ["2026-01-02T000000Z"]
    hub = reports / "2026-01-02T000000Z"
    classical = np.where(viewer.load_run(hub, "gs1_ideal").covered, 1.5, np.nan).astype(np.float32)
    artifacts.write_npy(hub / "gs1_ideal" / "classical_outputs" / "amplitude.npy", classical)
    runs, errors = viewer.load_runs(viewer.default_compare_hubs(reports))
    assert not errors and [r.name for r in runs] == ["gs1_ideal", "gs2_ideal"]
    text = viewer.table_markdown(viewer.comparison_table(runs), labels=True)
    assert "| hub | run | scenario | status | reconstruction | amp SSIM | flat baseline |" in text
    fig = viewer.side_by_side_figure(runs)
    titles = [ax.get_title() for ax in fig.axes]
    assert any(t.startswith("gs1_ideal: classical") for t in titles)  # truth, PINN and classical
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes)
    assert any(t.get_text() == "no classical" for ax in fig.axes for t in ax.texts)  # gs2 has none
    bias = viewer.bias_maps_figure(runs)
    bad = bias.axes[0].images[0].get_cmap().get_bad()
    assert matplotlib.colors.to_hex(bad) == NAN_COLOUR
    only = reports / "only"
    _fake_run(only / "2026-01-01T000000Z", "gs1_ideal")
    assert [h.name for h in viewer.default_compare_hubs(only)] == ["2026-01-01T000000Z"]  # one run: that one
    assert viewer.default_compare_hubs(reports / "none") == []
