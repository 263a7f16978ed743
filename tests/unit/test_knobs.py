"""The one knob table drives the CLI, the sweep types, RunSettings and the notebook."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

from ptycho_helpers import knobs
from ptycho_helpers.config import RunParams, RunSettings, TrainConfig
from ptycho_helpers.knobs import BY_NAME, KNOBS, SWEEP_TYPES, split_values

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import make_notebooks  # noqa: E402


def test_table_covers_run_settings_and_defaults_come_from_records():
    assert {k.name for k in KNOBS if k.target == "settings"} == {
        f.name for f in dataclasses.fields(RunSettings)
    }
    assert BY_NAME["nepochs"].default == TrainConfig().nepochs == RunSettings().nepochs
    assert BY_NAME["learning_rate"].default == TrainConfig().learning_rate == RunSettings().learning_rate
    assert BY_NAME["batch_size"].default == TrainConfig().batch_size
    assert BY_NAME["group_count"].default == RunParams().group_count
    assert BY_NAME["gridsize"].default is None  # the scenario decides
    names = [k.name for k in KNOBS]
    assert len(names) == len(set(names))


def test_split_values_routes_by_target_and_rejects_unknown():
    overrides, settings = split_values({"batch_size": 4, "nepochs": 2, "gridsize": 2, "seed": None})
    assert overrides == {"batch_size": 4, "gridsize": 2} and settings == {"nepochs": 2}
    with pytest.raises(ValueError, match="unknown knob"):
        split_values({"nepoch": 3})


def test_cli_has_one_typed_flag_per_knob():
    from ptycho_helpers.cli import build_parser

    run = build_parser()._subparsers._group_actions[0].choices["run"]
    actions = {a.dest: a for g in run._action_groups for a in g._group_actions}
    for k in KNOBS:
        a = actions[k.name]
        assert k.cli_flag in a.option_strings and a.default is None
        if k.type in (int, float):
            assert a.type is k.type
        if k.choices:
            assert tuple(a.choices) == k.choices
    assert actions["data_path"].option_strings == ["--data"]


def test_sweep_types_are_the_table_without_paths():
    assert dict(SWEEP_TYPES) == {k.name: k.type for k in KNOBS if not k.path}
    assert "data_path" not in SWEEP_TYPES and "nepochs" in SWEEP_TYPES


def test_papermill_sees_the_table_in_the_template():
    """papermill's own inspection of the committed template: every knob, typed, default None."""
    params = papermill.inspect_notebook(str(ROOT / "notebooks" / "scenario_run.ipynb"))
    for k in KNOBS:
        p = params[k.name]
        assert p["inferred_type_name"] == f"Optional[{k.type.__name__}]", (k.name, p)
        assert p["default"] == "None", (k.name, p)
        assert k.help.split(" (")[0] in p["help"], (k.name, p["help"])
    extra = set(params) - {k.name for k in KNOBS}
    assert extra == set(knobs.RUN_PARAMETER_NAMES)
    from ptycho_helpers.scenarios import SCENARIOS

    for name in SCENARIOS:  # issue 30: --help-notebook listed 4 of the 6 scenarios
        assert name in params["scenario"]["help"], name


def test_generator_check_passes_on_committed_templates():
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_notebooks.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr


def test_generator_check_fails_on_drift(tmp_path, monkeypatch):
    """A planted drift: one default edited by hand in a copy of the template."""
    shutil.copytree(ROOT / "notebooks", tmp_path / "nb")
    path = tmp_path / "nb" / "scenario_run.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = cell.source.replace("nepochs = None", "nepochs = 5")
    nbformat.write(nb, path)
    assert make_notebooks.drifted(tmp_path / "nb") == ["scenario_run.ipynb"]
    # a knob added to the table without regenerating the template is drift too
    new = dataclasses.replace(BY_NAME["reassemble_M"], target="params")  # one more parameters line
    monkeypatch.setattr(make_notebooks, "KNOBS", (*KNOBS, new))
    assert "scenario_run.ipynb" in make_notebooks.drifted(ROOT / "notebooks")


def test_unknown_notebook_parameters_are_named():
    import types

    ns = {"nepochs": 2, "scenario": "gs1_ideal", "nepoch": 2, "_hidden": 1, "np": types, "In": []}
    assert knobs.unknown_parameters(ns, hidden={"In": []}) == ["nepoch"]


def test_papermill_with_a_misspelt_parameter_stops_before_anything_is_written(tmp_path):
    """Issue 29: ``papermill -p nepoch 2`` only warned and the run trained with the default
    epochs; the scenario notebook now refuses it in its first cell, before a hub exists."""
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(ROOT / "notebooks" / "scenario_run.ipynb"),
            str(tmp_path / "out.ipynb"),
            "-p",
            "nepoch",
            "2",
            "-p",
            "hub_dir",
            str(tmp_path / "hub"),
            "--cwd",
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode != 0
    assert "unknown notebook parameter(s) ['nepoch']" in res.stderr + res.stdout
    assert not (tmp_path / "hub").exists()
