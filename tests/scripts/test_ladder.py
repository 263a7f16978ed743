"""The discrepancy ladder: planning (one recorded setting per rung) and a tiny real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptycho_helpers import ladder, plan


@pytest.fixture(autouse=True)
def _plenty_of_memory(monkeypatch):
    """Planning checks memory against what is free *now*; keep these tests independent of
    whatever else the machine runs (the estimate itself is tested in test_plan)."""
    monkeypatch.setattr(plan.resolve, "available_memory_bytes", lambda: 1 << 40)


@pytest.mark.parametrize("gridsize", [1, 2])
@pytest.mark.parametrize("direction", ladder.DIRECTIONS)
def test_each_rung_differs_from_its_neighbour_in_exactly_its_recorded_settings(gridsize, direction):
    tasks = ladder.plan_ladder(gridsize, steps=100, seeds=[1], direction=direction)
    assert tasks[0]["changed"] == [] and all(t["values"]["steps"] == 100 for t in tasks)
    for prev, cur in zip(tasks, tasks[1:], strict=False):
        a, b = prev["values"], cur["values"]
        differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        assert differ == cur["changed"], (cur["label"], differ)
        assert len(differ) == 1 or "scan" in differ  # only the protocol rung changes more
    ends = (tasks[0]["values"], tasks[-1]["values"])
    grid_end = ends[0] if direction == "grid-to-nongrid" else ends[1]
    assert grid_end.get("scan", "grid") == "grid" and grid_end.get("prediction", "group") != "member"
    nongrid_end = ends[1] if grid_end is ends[0] else ends[0]
    assert (
        grid_end.get("backprojection", 0) == 0 and nongrid_end["backprojection"] == 5
    )  # 0: the grid profile's


def test_two_seeds_make_two_runs_per_rung_and_verdict_uses_the_spread():
    tasks = ladder.plan_ladder(2, steps=10, seeds=[1, 2])
    assert len(tasks) == 2 * len({t["rung"] for t in tasks})
    rows = [
        {"rung": 0, "change": "a", "amp_ssim": 0.30, "ref_ssim": 0.5, "seed_spread": 0.02},
        {"rung": 1, "change": "b", "amp_ssim": 0.31, "ref_ssim": 0.4, "seed_spread": 0.01},
    ]
    v = ladder.verdict(rows)
    assert any("rung 1" in line and "reference SSIM -0.100" in line for line in v)
    assert not any("masked" in line for line in v)
    # a noisy rung elsewhere does not hide a clean step: the noise is the pair's own spread
    rows += [
        {"rung": 2, "change": "c", "amp_ssim": 0.36, "ref_ssim": 0.4, "seed_spread": 0.005},
        {"rung": 3, "change": "d", "amp_ssim": 0.10, "ref_ssim": 0.4, "seed_spread": 0.3},
    ]
    v = ladder.verdict(rows)
    assert any("rung 2" in line and "masked SSIM +0.050" in line for line in v)
    assert not any("rung 3" in line for line in v)  # -0.26 within the 0.3 spread


def test_tiny_ladder_writes_table_plot_and_verdict(tmp_path, monkeypatch):
    """Two rungs of a tiny grid on a LocalCluster: a real papermill run each."""
    monkeypatch.setattr(ladder, "RUNGS", ladder.RUNGS[:1])  # start + one change keeps it short
    real = ladder.plan_ladder

    def tiny(*a, **k):
        tasks = real(*a, **k)
        for t in tasks:
            t["values"].update({"object_size": 128, "train_stride": 16, "group_count": 30})
        return tasks

    monkeypatch.setattr(ladder, "plan_ladder", tiny)
    hub, rc = ladder.run_ladder(2, steps=4, seeds=[1], workers=2, reports_dir=tmp_path)
    assert rc == 0
    data = json.loads((hub / "ladder.json").read_text())
    assert [r["rung"] for r in data["rows"]] == [0, 1] and data["rows"][1]["settings"] == "prediction"
    assert all(r["amp_ssim"] is not None and r["ref_ssim"] is not None for r in data["rows"])
    assert "## Verdict" in (hub / "ladder.md").read_text()
    assert (hub / "ladder.png").read_bytes()[:4] == b"\x89PNG"


def test_repeated_seeds_are_refused():
    """`ladder --seeds 42 42` planned every run twice (24 tasks); now one clear error."""
    with pytest.raises(ValueError, match=r"\[42\] more than once"):
        ladder.plan_ladder(1, steps=10, seeds=[42, 42])


def test_the_plan_and_its_cost_are_stated_before_anything_runs():
    """Issue 30: the study notebook and the CLI print the task count and an estimated wall
    time first (the notebook's defaults are 28 trainings)."""
    tasks = ladder.plan_ladder(1, steps=400, seeds=[1, 2])
    text = ladder.plan_summary(tasks, 400, 1)
    assert text.startswith(
        f"Ladder plan: {len({t['rung'] for t in tasks})} rungs × 2 seeds [1, 2] = {len(tasks)} trainings"
    )
    assert "Estimated wall time: about" in text
    import nbformat

    nb = nbformat.read(
        Path(__file__).resolve().parents[2] / "notebooks" / "discrepancy_study.ipynb", as_version=4
    )
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    plan_cell = next(i for i, c in enumerate(code) if "plan_summary" in c)
    run_cell = next(i for i, c in enumerate(code) if "run_ladder" in c)
    assert plan_cell < run_cell
