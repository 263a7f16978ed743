"""Sweeps on a real 2-worker Dask LocalCluster at tiny sizes."""

from __future__ import annotations

import csv
import json

import pytest

from ptycho_helpers import sweep


def test_parse_sets_and_plan():
    grid = sweep.parse_sets(["nphotons=1e4,1e6", "nepochs=2", "probe-mask=true,false"])
    assert grid == {"nphotons": [1e4, 1e6], "nepochs": [2], "probe_mask": [True, False]}
    tasks = sweep.plan_tasks(["gs1_ideal"], {"nphotons": [1e4, 1e6]})
    assert [t["run_name"] for t in tasks] == ["gs1_ideal__nphotons-10000.0", "gs1_ideal__nphotons-1000000.0"]
    for bad, match in (
        (["nphotons"], "KNOB=V1"),
        (["colour=red"], "unknown knob"),
        (["nepochs=1.5"], "integer"),
        (["nphotons=abc"], "not a valid float"),
        (["nphotons=1,2", "nphotons=3"], "twice"),
    ):
        with pytest.raises(ValueError, match=match):
            sweep.parse_sets(bad)
    with pytest.raises(ValueError, match="nphotons"):
        sweep.plan_tasks(["gs1_ideal"], {"nphotons": [-1.0]})


def test_sweep_on_local_cluster_with_one_failing_task(tmp_path):
    sets = [
        "base_total_images=32",
        "group_count=8",
        "group_limit=2",
        "nepochs=3",
        "nphotons=1e6,1e9",
        "learning_rate=0.001,1e6",
        # the reference CNN: 1e6 diverges within its 3 steps; the default physics-input model
        # starts at its back-projection behind a zero-initialised layer and may not
        "backprojection=0",
    ]
    hub, rc = sweep.run_sweep(["gs1_ideal"], sets, workers=2, reports_dir=tmp_path)
    assert rc == 1  # the absurd learning rate diverges
    rows = json.loads((hub / "sweep.json").read_text())
    # one row per reconstruction: a complete task has the PINN, the classical engine from
    # its two starts and the PINN on all 16 test positions (dense), a failed one a row
    assert len({r["run_name"] for r in rows}) == 4 and len(rows) == 10
    by_lr = {}
    for r in rows:
        if r["stage"] == "PINN":
            by_lr.setdefault(r["learning_rate"], []).append(r["status"])
        assert (hub / r["run_name"] / "run_metadata.json").is_file()
    assert by_lr[0.001] == ["complete", "complete"]
    assert by_lr[1e6] == ["failed", "failed"]
    complete = [r for r in rows if r["status"] == "complete"]
    assert all(r["amp_ssim"] is not None and r["flat_ssim"] is not None for r in complete)
    engine = "classical (PtyLab 0.3.7 mPIE, 50 it"
    assert {r["stage"] for r in complete} == {
        "PINN",
        f"{engine}, flat start)",
        f"{engine}, PINN start)",
        "PINN, all 16 test groups",
    }
    with open(hub / "sweep.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 10
    assert (hub / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert "TrainingDiverged" in (hub / "blocker.log").read_text()
    assert "LocalCluster(2 workers" in (hub / "summary.md").read_text()


def _serve(banner: bytes | None):
    """A local TCP service that is not a Dask scheduler: it sends ``banner`` (an SSH-like
    greeting) or stays silent.  Returns (port, stop)."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held = []

    def loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            held.append(c)
            if banner:
                c.sendall(banner)

    threading.Thread(target=loop, daemon=True).start()

    def stop():
        srv.close()
        for c in held:
            c.close()

    return srv.getsockname()[1], stop


@pytest.mark.parametrize("banner", [b"SSH-2.0-OpenSSH_9.6\r\n", None], ids=["foreign-banner", "silent"])
def test_a_service_that_is_not_a_scheduler_is_refused_before_a_hub(tmp_path, banner):
    port, stop = _serve(banner)
    try:
        with pytest.raises(ValueError, match=f"tcp://127.0.0.1:{port}: no Dask scheduler answered"):
            sweep.run_sweep(
                ["gs1_ideal"], ["seed=1,2"], scheduler=f"tcp://127.0.0.1:{port}", reports_dir=tmp_path / "R"
            )
    finally:
        stop()
    assert not (tmp_path / "R").exists()


@pytest.mark.parametrize("address", ["notaurl", "http://host:8786", "tcp://host:0", "tcp://host"])
def test_a_malformed_scheduler_address_is_refused_at_once(tmp_path, address):
    with pytest.raises(ValueError, match="is not a Dask scheduler address"):
        sweep.run_sweep(["gs1_ideal"], ["seed=1,2"], scheduler=address, reports_dir=tmp_path / "R")
    assert not (tmp_path / "R").exists()


def test_a_real_scheduler_passes_the_check():
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, protocol="tcp", dashboard_address=None) as cluster:
        sweep.check_scheduler(cluster.scheduler_address)


def test_a_run_name_too_long_for_the_file_system_is_refused_before_a_hub(tmp_path):
    """Issue 29 T4: a many-setting sweep made run names over 255 bytes; the refusal came
    only after the hub and a TLS cluster were made (an empty hub stayed)."""
    sets = [
        "base_total_images=2000",
        "group_count=1000",
        "neighbor_count=4",
        "object_seed=42",
        "sim_seed=42",
        "buffer=10.0",
        "nphotons=1000000000.0",
        "split_fraction=0.5",
        "object_size=392",
        "reassemble_M=20",
        "nepochs=5",
        "group_limit=64",
        "learning_rate=0.0005",
        "classical_iterations=50",
        "curve_groups=16",
        "validation_fraction=0.05",
    ]
    with pytest.raises(ValueError, match="bytes long; names are limited to 200"):
        sweep.run_sweep(["gs1_ideal"], sets, reports_dir=tmp_path / "R")
    assert not (tmp_path / "R").exists()
