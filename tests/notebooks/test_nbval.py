"""nbval over every notebook template with small parameters.

Each template is executed once by papermill with tiny parameters (as a user would), then
nbval re-runs the executed copy in a fresh kernel (``--nbval-lax``: only cells marked
``# NBVAL_CHECK_OUTPUT`` are compared; timestamps, durations and hub paths are sanitised
by ``nbval_sanitize.cfg``).  The scenario notebook's hub path is switched between the two
runs, since a hub folder is never written twice.
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
TEMPLATES = [
    "scenario_run.ipynb",
    "compare_runs.ipynb",
    "inspect_run.ipynb",
    "bias_study.ipynb",
    "discrepancy_study.ipynb",  # runs the ladder: checked as a template, executed by test_ladder's code path
]
TINY_SCENARIO = {"nepochs": 1, "group_limit": 4, "base_total_images": 32, "group_count": 8}


def _retarget(nb_path: Path, old: str, new: str) -> None:
    nb = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.source = cell.source.replace(old, new)
    nbformat.write(nb, nb_path)


def _execute(name: str, out: Path, params: dict) -> Path:
    pm.execute_notebook(str(NOTEBOOKS / name), str(out), parameters=params, cwd=str(ROOT), progress_bar=False)
    return out


def _nbval(executed: Path) -> None:
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
        cwd=executed.parent,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "passed" in res.stdout


@pytest.fixture(scope="module")
def scenario_hub(tmp_path_factory) -> Path:
    """A reports folder holding one tiny executed scenario (hub 'hub_a')."""
    tmp = tmp_path_factory.mktemp("nb")
    reports = tmp / "reports"
    executed = _execute(
        "scenario_run.ipynb",
        tmp / "scenario_run.ipynb",
        {"scenario": "gs1_ideal", "hub_dir": str(reports / "hub_a"), **TINY_SCENARIO},
    )
    return executed


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_has_no_outputs_and_a_parameters_cell(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert nb.cells[0].cell_type == "markdown"
    assert "parameters" in nb.cells[1].metadata.get("tags", [])
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            assert "def " not in cell.source and "class " not in cell.source


def test_nbval_scenario_run(scenario_hub):
    reports = scenario_hub.parent / "reports"
    _retarget(scenario_hub, str(reports / "hub_a"), str(reports / "hub_b"))
    _nbval(scenario_hub)


@pytest.mark.parametrize("name", ["compare_runs.ipynb", "inspect_run.ipynb"])
def test_nbval_readers(name, scenario_hub, tmp_path):
    reports = scenario_hub.parent / "reports"
    params = {"reports_dir": str(reports)}
    if name == "compare_runs.ipynb":
        params["hubs"] = ["hub_a"]
    _nbval(_execute(name, tmp_path / name, params))


def test_nbval_bias_study(tmp_path):
    params = {
        "variants": ["softplus", "sigmoid"],
        "base_total_images": 32,
        "group_count": 8,
        "nepochs": 1,
        "group_limit": 4,
        "reports_dir": str(tmp_path / "reports"),
    }
    executed = _execute("bias_study.ipynb", tmp_path / "bias_study.ipynb", params)
    _nbval(executed)
    hubs = sorted((tmp_path / "reports").iterdir())
    assert len(hubs) == 2  # papermill's run and nbval's re-run, each a new hub
    assert (hubs[0] / "bias_study.md").is_file()
