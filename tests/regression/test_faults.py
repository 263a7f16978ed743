"""Faults: Ctrl-C, SIGKILL, a diverging run, and writers killed mid-write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ptycho_helpers import runs

TINY = ["--base-total-images", "64", "--group-count", "32", "--group-limit", "4"]


def _spawn_cli(*args: str) -> subprocess.Popen:
    """``python -m ptycho_helpers ARGS`` in its own process group (a terminal's job)."""
    return subprocess.Popen(
        [sys.executable, "-m", "ptycho_helpers", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _start_cli(tmp_path: Path, *extra: str) -> subprocess.Popen:
    return _spawn_cli("run", "gs1_ideal", *TINY, *extra, "--reports-dir", str(tmp_path))


def _wait_for(predicate, timeout: float = 120.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError("timed out waiting for the run to reach training")


def _training_started(tmp_path: Path, run: str = "gs1_ideal") -> bool:
    logs = list(tmp_path.glob(f"*/{run}_runner.log"))
    return bool(logs) and "epoch 1/" in logs[0].read_text(errors="replace")


def test_ctrl_c_during_training_marks_interrupted_and_exits_130(tmp_path):
    proc = _start_cli(tmp_path, "--nepochs", "500")
    try:
        _wait_for(lambda: _training_started(tmp_path))
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    hub = next(tmp_path.iterdir())
    meta = json.loads((hub / "gs1_ideal" / "run_metadata.json").read_text())
    assert meta["status"] == "interrupted"
    log = (hub / "gs1_ideal_runner.log").read_text()
    assert "epoch 1/500" in log and "interrupted" in log
    assert "**interrupted**" in (hub / "summary.md").read_text()
    assert f"hub: {hub}\n" in err and err.strip().endswith("interrupted (SIGINT)")  # issue 30
    # the kernel's records reach the console while it runs, prefixed by the run (#18 M7)
    assert "gs1_ideal | INFO ptycho_helpers.pinn.train: epoch 1/500" in err, err[-3000:]


def test_sigkill_leaves_running_status_reported_as_incomplete(tmp_path):
    proc = _start_cli(tmp_path, "--nepochs", "500")
    try:
        _wait_for(lambda: _training_started(tmp_path))
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    hub = next(tmp_path.iterdir())
    meta = json.loads((hub / "gs1_ideal" / "run_metadata.json").read_text())
    assert meta["status"] == "running"  # nobody could update it
    # its kernel (own session) ends within a few seconds (runtime.die_with_parent); until
    # then the run is alive and reads "running"
    _wait_for(lambda: runs.scenario_status(hub, "gs1_ideal")["status"] == "incomplete", timeout=60)
    assert runs.find_incomplete(tmp_path) == [(hub.name, "gs1_ideal", "incomplete")]
    assert not (hub / "summary.md").exists()
    # the next run makes a new hub and reports the earlier incomplete run in its summary
    new_hub, rc = runs.run_scenarios(
        ["gs1_ideal"],
        reports_dir=tmp_path,
        overrides={"base_total_images": 32, "group_count": 8},
        settings={"nepochs": 1, "group_limit": 2},
        guard_test=False,
    )
    assert rc == 0 and new_hub != hub
    summary = (new_hub / "summary.md").read_text()
    assert "Earlier hubs with incomplete runs" in summary and f"{hub.name}/gs1_ideal" in summary


def test_nan_loss_fails_the_scenario_and_the_next_one_runs(tmp_path):
    hub = tmp_path / "hub"
    tiny = {"base_total_images": 32, "group_count": 8, "nepochs": 3, "group_limit": 2}
    # the reference CNN (backprojection 0) diverges at this rate within 3 steps
    absurd = {**tiny, "learning_rate": 1e6, "backprojection": 0}
    bad = runs.execute_scenario(hub, "gs1_ideal", absurd, run_name="absurd_lr")
    good = runs.execute_scenario(hub, "gs1_ideal", tiny, run_name="normal")
    assert bad["status"] == "failed" and "TrainingDiverged" in bad["error"]
    assert good["status"] == "complete"
    blocker = (hub / "blocker.log").read_text()
    assert "absurd_lr: FAILED" in blocker and "non-finite loss" in blocker
    summary = json.loads((hub / "absurd_lr" / "train_outputs" / "history_summary.json").read_text())
    assert summary["loss"]["has_nan"] is True


WRITER = r"""
import sys, numpy as np
from ptycho_helpers.hub import artifacts
out = sys.argv[1]
big = np.random.default_rng(0).normal(size=(400, 400))
i = 0
while True:
    i += 1
    artifacts.write_npy(f"{out}/array.npy", big * i)
    artifacts.write_json(f"{out}/data.json", {"i": i, "values": list(range(20000))})
    print(i, flush=True)
"""


@pytest.mark.parametrize("delay", [0.4, 0.9, 1.7])
def test_killed_writer_leaves_no_truncated_file(tmp_path, delay):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()  # at least one complete round
    time.sleep(delay)
    proc.kill()
    proc.wait()
    arr = np.load(tmp_path / "array.npy", allow_pickle=False)
    assert arr.shape == (400, 400)
    data = json.loads((tmp_path / "data.json").read_text())
    assert len(data["values"]) == 20000
    # temporary files are hidden dot-files and never carry the final name
    assert {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} == {"array.npy", "data.json"}
