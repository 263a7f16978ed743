"""`make lab` works as root (containers) and opens the inspector notebook (dry run of make:
the real JupyterLab is driven by tests/browser/)."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lab_command(*args: str) -> str:
    # -n prints the recipe without running it; the venv stamp is made "new" so nothing installs
    res = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "lab", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return res.stdout


def test_lab_adds_allow_root_only_as_root_and_opens_the_inspector():
    out = _lab_command()
    assert ("--allow-root" in out) == (os.geteuid() == 0)
    assert "--LabApp.default_url=/lab/tree/lab/inspect_run.ipynb" in out
    # issue 30: checkpoints mirror each notebook's folder (no two share one, none in a hub)
    assert "--ContentsManager.checkpoints_class=ptycho_helpers.hub.lab_checkpoints.MirroredCheckpoints" in out
    assert f"--LabApp.app_settings_dir={ROOT}/lab-settings" in out  # no "fetch news?" pop-up


def test_lab_passes_extra_flags():
    assert "--ServerApp.token=abc" in _lab_command("LAB_ARGS=--ServerApp.token=abc")
