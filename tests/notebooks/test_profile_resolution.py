"""A named profile resolves completely when papermill runs the template directly.

Regression: ``papermill scenario_run.ipynb out.ipynb -p profile full`` used to give the full
workload but the default 5 epochs and 64 stitched groups (the CLI added the profile's run
settings itself).  The kernel now resolves them; this runs the template's own first cells
(markdown, parameters, imports, start) under papermill and reads the metadata it wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill

ROOT = Path(__file__).resolve().parents[2]


def _first_cells(tmp_path: Path) -> Path:
    nb = nbformat.read(ROOT / "notebooks" / "scenario_run.ipynb", as_version=4)
    start = next(i for i, c in enumerate(nb.cells) if "record.start_scenario" in c.source)
    nb.cells = nb.cells[: start + 1]
    path = tmp_path / "start_only.ipynb"
    nbformat.write(nb, path)
    return path


def test_papermill_profile_full_applies_epochs_and_group_limit(tmp_path):
    template = _first_cells(tmp_path)
    papermill.execute_notebook(
        str(template),
        str(tmp_path / "out.ipynb"),
        parameters={"scenario": "gs2_ideal", "hub_dir": str(tmp_path / "hub"), "profile": "full"},
        cwd=str(ROOT),
        progress_bar=False,
    )
    meta = json.loads((tmp_path / "hub" / "gs2_ideal" / "run_metadata.json").read_text())
    assert meta["settings"]["nepochs"] == 30 and meta["settings"]["group_limit"] == 1000
    assert meta["resolved"]["params"]["base_total_images"] == 2000 and meta["resolved"]["batch_size"] == 16
    assert meta["profile"]["name"] == "gs2_ideal:full"
