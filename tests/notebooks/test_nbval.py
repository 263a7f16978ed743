"""nbval over the notebook templates with small parameters.

Each template is executed once by papermill with tiny parameters (as a user would), then
nbval re-runs the executed copy in a fresh kernel (``--nbval-lax``: only cells marked
``# NBVAL_CHECK_OUTPUT`` are compared; timings, paths and figures are not).  The hub path
is switched between the two runs, since a hub folder is never written twice.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def _tiny_parameters(name: str, tmp: Path) -> dict:
    if name == "scenario_run.ipynb":
        return {
            "scenario": "gs1_ideal",
            "hub_dir": str(tmp / "hub_a"),
            "nepochs": 1,
            "group_limit": 4,
            "base_total_images": 32,
            "group_count": 8,
        }
    raise KeyError(name)


def _retarget(nb_path: Path, old: str, new: str) -> None:
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.source = cell.source.replace(old, new)
    nbformat.write(nb, nb_path)


@pytest.mark.parametrize("name", ["scenario_run.ipynb"])
def test_notebook_template_has_no_outputs_and_a_parameters_cell(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert nb.cells[0].cell_type == "markdown"
    assert "parameters" in nb.cells[1].metadata.get("tags", [])
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            assert "def " not in cell.source and "class " not in cell.source


@pytest.mark.parametrize("name", ["scenario_run.ipynb"])
def test_nbval_on_executed_template(name, tmp_path):
    params = _tiny_parameters(name, tmp_path)
    executed = tmp_path / name
    pm.execute_notebook(
        str(NOTEBOOKS / name), str(executed), parameters=params, cwd=str(ROOT), progress_bar=False
    )
    _retarget(executed, str(tmp_path / "hub_a"), str(tmp_path / "hub_b"))
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval-lax",
            "--nbval-sanitize-with",
            str(Path(__file__).with_name("nbval_sanitize.cfg")),
            str(executed),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "passed" in res.stdout
