"""summary.md reads itself: a result line per scenario, the best row marked, a legend that
explains exactly the rows shown (issue 30)."""

from __future__ import annotations

from ptycho_helpers.hub import reporting


def _row(stage, ssim, flat=0.2):
    return {"stage": stage, "amp_ssim": ssim, "flat_ssim": flat}


FOUND = [
    _row("PINN", 0.557),
    _row("network input alone (5-iteration back-projection)", 0.550),
    _row("classical (PtyLab 0.3.7 mPIE, 50 it, flat start)", 0.939),
    _row("PINN, all 512 test groups", 0.99, flat=0.26),  # its own region: never "best"
]


def test_result_line_names_best_pinn_training_gain_and_ceiling():
    line = reporting.result_line(
        "gs2_ideal", FOUND, {"kind": "twin (gridsize 1: ...)", "amp_ssim": 0.66, "normalised_pinn": 0.5}
    )
    assert line.startswith(
        "- **gs2_ideal**: best: classical (PtyLab 0.3.7 mPIE, 50 it, flat start) 0.939 (flat 0.200)"
    )
    assert "PINN 0.557" in line and "training added +0.007 over its input (0.550)" in line
    assert "ceiling 0.660 (twin bound), the PINN at 50% of the way from flat to it" in line
    assert "0.990" not in line


def test_best_is_marked_and_legend_matches_the_rows():
    assert reporting._best(FOUND)["amp_ssim"] == 0.939
    legend = reporting._legend({r["stage"] for r in FOUND})
    assert "PINN + refinement" not in legend and "not comparable with the rows above" in legend
    assert "*PINN + refinement*" in reporting._legend({"PINN", "PINN + refinement (100 steps)"})
    # issue 28: with a physics input the PINN row is named for what it is
    assert "its physics input + the correction training learned" in legend
    assert "the network alone" in reporting._legend({"PINN"})


def test_summary_has_results_before_the_table():
    text = reporting.hub_summary("h", [{"scenario": "gs2_ideal", "status": "complete"}])
    assert text.index("Headline:") < text.index("| scenario |")


def test_summary_shows_the_difference_and_the_dense_image_when_the_run_made_them(tmp_path):
    """Issue 30: the summary showed the PINN and the truth only; the PINN's difference map
    and the dense image (files every run writes) are shown beside them."""
    run = tmp_path / "gs1_ideal"
    (run / "dense_outputs").mkdir(parents=True)
    for rel in ("amplitude_diff.png", "dense_outputs/amplitude.png"):
        (run / rel).write_bytes(b"png")
    text = reporting.hub_summary("h", [{"scenario": "gs1_ideal", "status": "complete"}], hub=tmp_path)
    assert "![gs1_ideal PINN - truth](gs1_ideal/amplitude_diff.png)" in text
    assert "(gs1_ideal/dense_outputs/amplitude.png)" in text
    (run / "amplitude_diff.png").unlink()
    assert "amplitude_diff.png" not in reporting.hub_summary(
        "h", [{"scenario": "gs1_ideal", "status": "complete"}], hub=tmp_path
    )


def test_status_and_times_are_per_run_not_per_row():
    """Issue 30: status and times were repeated on every reconstruction row; they are one
    row per run in a table of their own, and the results table holds scores only."""
    text = reporting.hub_summary(
        "h", [{"scenario": "gs1_ideal", "status": "complete"}, {"scenario": "gs2_ideal", "status": "failed"}]
    )
    assert "| run | status | train s | total s |" in text
    assert "| [gs2_ideal](gs2_ideal/) | **failed** |" in text
    header = next(line for line in text.splitlines() if line.startswith("| scenario |"))
    assert "status" not in header and "train s" not in header and "total s" not in header
    assert text.index("| run | status |") < text.index("Headline:") < text.index("| scenario |")


def test_a_ceiling_below_the_pinn_is_not_called_a_bound():
    """At 1e4 photons the per-group classical solve (50 iterations) fits the noise and
    scores below the PINN (measured: 0.465 vs 0.529): the result line must not report a
    share above 100 % of a 'bound'."""
    found = [_row("PINN", 0.529, 0.219)]
    ceiling = {
        "kind": "per-group classical solve (gridsize 2: ...)",
        "amp_ssim": 0.465,
        "normalised_pinn": 1.26,
    }
    line = reporting.result_line("gs2_ideal", found, ceiling)
    assert "below the PINN: not a bound for this data" in line and "126%" not in line
