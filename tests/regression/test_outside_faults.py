"""Faults an outside tester found (issue: orphaned runs, OS errors, late validation,
hub-name collisions, unreadable hubs, file modes); each case failed before its fix."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_faults import _spawn_cli, _start_cli, _training_started, _wait_for  # the same CLI-run helpers

from ptycho_helpers import runs
from ptycho_helpers.core.checks import check_name
from ptycho_helpers.hub import artifacts, viewer


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ptycho_helpers", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.mark.parametrize("bad", ["evil\n", "a\nb", "ok\r", "\n"])
def test_names_match_the_whole_string(bad):
    with pytest.raises(ValueError, match="not allowed"):
        check_name("run", bad)


def test_hub_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        artifacts.write_json(tmp_path / "a.json", {"x": 1})
        artifacts.write_text(tmp_path / "b.md", "x")
    finally:
        os.umask(old)
    for name in ("a.json", "b.md"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name  # mkstemp's 0600 before


def test_hubs_started_in_the_same_second_get_distinct_names(tmp_path):
    hubs = [artifacts.create_hub(tmp_path) for _ in range(3)]
    assert len({h.name for h in hubs}) == 3 and all(h.is_dir() for h in hubs)
    with pytest.raises(FileExistsError, match="never overwritten") as exc:
        artifacts.create_hub(tmp_path, hubs[0].name)  # an explicit stamp is never reused
    assert "omit the stamp" in str(exc.value)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--amp-vmax", "inf"], "amp_vmax"),
        (["--amp-vmax", "nan"], "amp_vmax"),
        (["--amp-vmax", "-1"], "amp_vmax"),
        (["--amp-vmax", "0"], "amp_vmax"),
        (["--seed", "4294967296"], "seed"),
        (["--nphotons", "1e30"], "nphotons"),
        (["--nphotons", "1e-30"], "nphotons"),
        (["--probe-scale", "1e-30"], "probe_scale"),
        (["--workers", "0"], "workers"),
    ],
)
def test_late_validation_now_happens_before_a_hub(tmp_path, args, match):
    sub = (
        ["sweep", "--scenario", "gs1_ideal", "--set", "nepochs=1"]
        if args[0] == "--workers"
        else ["run", "gs1_ideal"]
    )
    res = _cli(*sub, *args, "--reports-dir", str(tmp_path / "r"), cwd=tmp_path)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr and match in res.stderr
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_os_errors_are_one_line_exit_2(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    res = _cli("run", "gs1_ideal", "--reports-dir", str(blocker / "sub"), cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert str(blocker) in res.stderr
    res = _cli(
        "reassembly-report",
        "gs1_ideal",
        "--output-json",
        str(tmp_path),
        "--output-markdown",
        "t.md",
        cwd=tmp_path,
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
    # issue 29: it named the hidden temporary file (/tmp/.tq.v394cp2a.json), not the path given
    assert res.stderr.strip().splitlines()[-1] == f"error: Is a directory: {tmp_path}"


def test_readers_skip_broken_runs_and_say_what_they_searched(tmp_path):
    assert viewer.list_hubs(tmp_path / "nothing") == []
    with pytest.raises(FileNotFoundError, match="no runs found under"):
        viewer.require_runs(tmp_path / "nothing")
    hub = tmp_path / "2026-01-01T000000Z"
    (hub / "truncated").mkdir(parents=True)
    (hub / "truncated" / "comparison_metrics.json").write_text("{}")
    (hub / "truncated" / "run_metadata.json").write_text('{"status": "compl')
    (hub / "no_npy").mkdir()
    (hub / "no_npy" / "comparison_metrics.json").write_text("{}")
    (hub / "no_npy" / "run_metadata.json").write_text(json.dumps({"status": "complete"}))
    assert viewer.list_runs(hub) == []  # neither is a complete run
    loaded, errors = viewer.load_runs([hub])
    assert loaded == [] and sorted(errors) == ["no_npy", "truncated"]


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_sigterm_takes_the_ctrl_c_path(tmp_path):
    proc = _start_cli(tmp_path, "--nepochs", "500")
    try:
        _wait_for(lambda: _training_started(tmp_path), timeout=150)
        run = next(tmp_path.iterdir()) / "gs1_ideal"
        # while papermill writes it, the executed notebook exists only as the partial copy
        assert (run / "scenario_run.partial.ipynb").exists() and not (run / "scenario_run.ipynb").exists()
        kernels = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)  # the main process only, as `kill` does
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, err[-2000:]
    hub = next(tmp_path.iterdir())
    assert json.loads((hub / "gs1_ideal" / "run_metadata.json").read_text())["status"] == "interrupted"
    summary = (hub / "summary.md").read_text()
    # the signal is named as it was (a SIGTERM was recorded as "by the user (SIGINT)")
    assert "**interrupted**" in summary and "Interrupted (SIGTERM)." in summary
    assert err.strip().splitlines()[-1] == "interrupted (SIGTERM)"
    assert "# interrupted (SIGTERM)" in (hub / "gs1_ideal_runner.log").read_text()
    # the final notebook appeared in one rename (#17 item 13)
    assert (hub / "gs1_ideal" / "scenario_run.ipynb").exists()
    assert not (hub / "gs1_ideal" / "scenario_run.partial.ipynb").exists()
    time.sleep(2)
    assert not [k for k in kernels if _alive(k)], "the kernel outlived its parent"


def test_sigkill_of_the_parent_takes_the_kernel_with_it(tmp_path):
    proc = _start_cli(tmp_path, "--nepochs", "500")
    try:
        _wait_for(lambda: _training_started(tmp_path), timeout=150)
        kernels = _children(proc.pid)  # papermill
        kernels += [k for p in kernels for k in _children(p)]  # and its kernel
        assert len(kernels) >= 2
        proc.kill()  # SIGKILL of the main process only: nothing can run in it
        proc.communicate(timeout=30)
        t0 = time.time()
        while time.time() - t0 < 20 and any(_alive(k) for k in kernels):
            time.sleep(0.5)
        assert not [k for k in kernels if _alive(k)], "orphaned kernel kept training"
    finally:
        with contextlib.suppress(ProcessLookupError):  # papermill runs in its own session
            os.killpg(proc.pid, signal.SIGKILL)
    hub = next(tmp_path.iterdir())
    meta = json.loads((hub / "gs1_ideal" / "run_metadata.json").read_text())
    assert meta["status"] in ("running", "interrupted")  # never "complete"


def test_local_cluster_refuses_clients_without_its_credentials_and_opens_no_dashboard():
    import urllib.error
    import urllib.request

    from distributed import Client

    from ptycho_helpers import tasks

    client, cluster, _ = tasks._connect(None, 1)
    try:
        addr = cluster.scheduler_address
        assert addr.startswith("tls://127.0.0.1:"), addr
        assert client.submit(lambda: 41 + 1).result(timeout=60) == 42  # the sweep's own client works
        port = addr.rsplit(":", 1)[1]
        for intruder in (f"tcp://127.0.0.1:{port}", addr):  # plain TCP, or TLS without the credentials
            with pytest.raises((OSError, TimeoutError, ValueError, TypeError)):
                Client(intruder, timeout="3s")
        server = cluster.scheduler.http_server  # distributed always has one: it must serve nothing
        (_, http_port), *_ = [s.getsockname()[:2] for s in server._sockets.values()]
        for path in ("/status", "/json/identity.json", "/info/main/workers.html"):
            with pytest.raises(urllib.error.HTTPError, match="404"):
                urllib.request.urlopen(f"http://127.0.0.1:{http_port}{path}", timeout=5)
        assert all(s.getsockname()[0] == "127.0.0.1" for s in server._sockets.values())
    finally:
        client.close()
        cluster.close()


def test_ctrl_c_on_a_sweep_marks_interrupted_and_writes_the_tables(tmp_path):
    proc = _spawn_cli(
        "sweep",
        "--scenario",
        "gs1_ideal",
        "--set",
        "base_total_images=64",
        "--set",
        "group_count=32",
        "--set",
        "nepochs=500",
        "--set",
        "seed=1,2,3",
        "--workers",
        "2",
        "--reports-dir",
        str(tmp_path),
    )
    hub, err = _ctrl_c_when_training(proc, tmp_path, timeout=180)
    assert "Error" not in err, err[-3000:]
    rows = json.loads((hub / "sweep.json").read_text())
    assert rows and {r["status"] for r in rows} == {"interrupted"}, rows  # never "failed"
    summary = (hub / "summary.md").read_text()
    assert "**interrupted**" in summary and "Interrupted by the user" in summary


def _ctrl_c_when_training(proc, tmp_path: Path, timeout: float) -> tuple[Path, str]:
    """Ctrl-C as a terminal sends it (the whole process group) once a run trains; then what
    every interrupted sweep/ladder must show: exit 130, no traceback (issue 29 T1: four),
    the hub repeated (issue 30), every started run cleanly interrupted."""
    try:
        _wait_for(lambda: _training_started(tmp_path, "*"), timeout=timeout)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err, err[-3000:]
    hub = next(tmp_path.iterdir())
    assert f"hub: {hub}\n" in err
    _assert_cleanly_interrupted(hub)
    return hub, err


def _assert_cleanly_interrupted(hub: Path) -> None:
    """What an interrupted sweep/ladder leaves (issue 29 T1): every started run marked
    ``interrupted`` with its runner log saying so and its notebook renamed; no FAILED
    entry, no partial notebook, no ``running`` status; the third task of a 2-worker sweep
    never started."""
    assert not (hub / "blocker.log").exists()
    assert not list(hub.glob("*/scenario_run.partial.ipynb"))
    started = [f for f in hub.iterdir() if f.is_dir()]
    assert started
    for folder in started:
        meta = json.loads((folder / "run_metadata.json").read_text())
        assert meta["status"] == "interrupted", (folder.name, meta.get("error"))
        assert (folder / "scenario_run.ipynb").is_file()
        assert "# interrupted (SIGINT)" in (hub / f"{folder.name}_runner.log").read_text()


def test_ctrl_c_on_a_ladder_writes_its_table_and_summary(tmp_path):
    proc = _spawn_cli(
        "ladder",
        "--gridsize",
        "1",
        "--steps",
        "100000",
        "--seeds",
        "1",
        "--workers",
        "1",
        "--reports-dir",
        str(tmp_path),
    )
    hub, _ = _ctrl_c_when_training(proc, tmp_path, timeout=240)
    assert (hub / "ladder.md").is_file()
    assert "Interrupted by the user" in (hub / "summary.md").read_text()


def test_npz_edge_cases_are_clear_errors(tmp_path):
    import zipfile

    import numpy as np

    from ptycho_helpers.hub import interchange

    n, N = 4, 16
    good = {
        "xcoords": np.full(n, 20.0),
        "ycoords": np.full(n, 20.0),
        "diffraction": np.ones((n, N, N), np.float32),
        "probeGuess": np.ones((N, N), np.complex64),
        "objectGuess": np.ones((40, 40), np.complex64),
    }
    np.savez(tmp_path / "good.npz", **good)
    assert interchange.import_npz(tmp_path / "good.npz").n == n
    data = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.npz").write_text("not an archive\n")
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as zf:  # a header declaring 400 GB
        hdr = {"descr": "<f4", "fortran_order": False, "shape": (100000, 1000, 1000)}
        import io

        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, hdr)
        zf.writestr("diffraction.npy", buf.getvalue() + b"\0" * 64)
    cases = {
        "cut.npz": "truncated",
        "text.npz": "not an .npz (zip) archive",
        "huge.npz": "declares shape (100000, 1000, 1000)",
    }
    for name, match in cases.items():
        with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(")", r"\)")):
            interchange.import_npz(tmp_path / name)
    for change, match in (
        ({"probeGuess": np.zeros((N, N), np.complex64)}, "probeGuess .* is all zeros"),
        ({"diffraction": np.zeros((n, N, N), np.float32)}, "is all zeros"),
        ({"objectGuess": np.ones((10, 10), np.complex64)}, "does not contain the scan positions"),
        (
            {"diffraction": np.ones((n, 12, 12), np.float32), "probeGuess": np.ones((12, 12))},
            "divisible by 8",
        ),
        ({"diffraction": np.full((n, N, N), 1e20, np.float32)}, "overflow float32 once squared"),  # T5
        ({"xcoords": np.full((2, 2), 20.0)}, r"xcoords .* has shape \(2, 2\); expected one coordinate"),
    ):
        np.savez(tmp_path / "bad.npz", **{**good, **change})
        with pytest.raises(ValueError, match=match):
            interchange.import_npz(tmp_path / "bad.npz")


def _wide_scan(n, N):
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1e6, n), rng.uniform(0, 1e6, n)
    return {"xcoords": x, "ycoords": y, "diffraction": np.ones((n, N, N), np.float32)}


def _empty_training_split(n, N):
    y = np.linspace(0, 100, n)
    d = np.zeros((n, N, N), np.float32)
    d[y > 50] = 1.0  # the test split has counts
    d[0, 3, 3] = 1.0  # one pixel in the training split
    return {"xcoords": np.linspace(0, 100, n), "ycoords": y, "diffraction": d}


@pytest.mark.parametrize(
    "make, needle",
    [
        # positions spanning 1e6 px died in the kernel (MemoryError: 7.57 TiB in the telemetry)
        (_wide_scan, "are xcoords/ycoords in pixels?"),
        # a training split all zero but one pixel ran and diverged in the kernel
        (_empty_training_split, "patterns without counts"),
    ],
    ids=["huge-canvas", "empty-training-split"],
)
def test_imported_data_the_kernel_cannot_use_is_refused_before_a_hub(tmp_path, make, needle):
    """Issue 29 T5: --data files refused by the plan (exit 2, one line, no hub)."""
    n, N = 64, 32
    np.savez(tmp_path / "data.npz", probeGuess=np.ones((N, N), np.complex64), **make(n, N))
    res = _cli(
        "run", "gs1_ideal", "--data", str(tmp_path / "data.npz"), "--group-count", "8",
        "--reports-dir", str(tmp_path / "R"), cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr[-2000:]
    assert needle in res.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "R").exists()


def test_custom_probe_path_with_an_idealized_scenario_is_refused(tmp_path):
    probe = tmp_path / "probe.npz"
    np.savez(probe, probeGuess=np.ones((64, 64), np.complex64))
    res = _cli(
        "run",
        "gs1_ideal",
        "--custom-probe-path",
        str(probe),
        "--reports-dir",
        str(tmp_path / "r"),
        cwd=tmp_path,
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert "--probe-mode custom" in res.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_group_prediction_with_the_default_physics_input_is_refused_before_a_hub(tmp_path):
    res = _cli(
        "run", "gs2_ideal", "--prediction", "group", "--reports-dir", str(tmp_path / "r"), cwd=tmp_path
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert "--backprojection 0" in res.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_a_finished_hub_is_never_written_into_by_a_direct_run(tmp_path):
    from ptycho_helpers.run.record import start_scenario

    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / "summary.md").write_text("# Report hub\n")
    with pytest.raises(FileExistsError, match="finished hub.*omit hub_dir"):
        start_scenario("gs1_ideal", hub, knobs={"classical": "none"})
    assert sorted(p.name for p in hub.iterdir()) == ["summary.md"]


def test_a_failing_direct_papermill_run_is_marked_failed_with_a_blocker_log(tmp_path):
    """papermill without our CLI: a cell that fails after the run started leaves status
    ``failed`` and ``blocker.log`` (it stayed ``running`` forever before)."""
    import nbformat

    from ptycho_helpers.runs import SCENARIO_NOTEBOOK

    nb = nbformat.read(SCENARIO_NOTEBOOK, as_version=4)
    start = next(i for i, c in enumerate(nb.cells) if "start_scenario" in c.source)
    nb.cells.insert(start + 1, nbformat.v4.new_code_cell('raise RuntimeError("planted stage failure")'))
    planted = tmp_path / "planted.ipynb"
    nbformat.write(nb, planted)
    hub = tmp_path / "hub"
    env = {k: v for k, v in os.environ.items() if k != "PTYCHO_LAUNCHER_PID"}
    res = subprocess.run(
        [sys.executable, "-m", "papermill", str(planted), str(tmp_path / "out.ipynb"), "--cwd", str(tmp_path)]
        + ["-p", "scenario", "gs1_ideal", "-p", "hub_dir", str(hub), "-p", "classical", "none"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode != 0
    meta = json.loads((hub / "gs1_ideal" / "run_metadata.json").read_text())
    assert meta["status"] == "failed" and "planted stage failure" in meta["error"]
    assert "planted stage failure" in (hub / "blocker.log").read_text()


def _make_unwritable(folder: Path) -> str:
    """Make a run folder refuse writes mid-run: a read-only bind mount where this process
    may mount (root in a container, as the issue's reproduction), else the folder moved
    away and a file put at its path (every write under it then fails with ENOTDIR)."""
    if os.geteuid() == 0:
        ok = (
            subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode == 0
        )
        if (
            ok
            and subprocess.run(
                ["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True
            ).returncode
            == 0
        ):
            return "mount"
        if ok:
            subprocess.run(["umount", str(folder)], capture_output=True)
    os.rename(folder, folder.with_name(folder.name + ".moved"))
    folder.write_text("not a folder any more\n")
    return "swap"


def test_a_run_folder_that_stops_taking_writes_fails_with_blocker_status_and_summary(tmp_path):
    """Issue 29 T2: the run folder turns read-only mid-run.  Before: exit 2 with one line,
    run_metadata stayed ``running``, no blocker.log, no summary, the partial notebook stayed.
    Now the launcher settles it from the hub: the run is ``failed`` (status beside its
    runner log, because its own folder refuses it), blocker.log names the folder, and the
    hub's summary is written."""
    proc = _start_cli(tmp_path, "--nepochs", "500", "--classical", "none")
    how = None
    try:
        _wait_for(lambda: _training_started(tmp_path))
        hub = next(tmp_path.iterdir())
        how = _make_unwritable(hub / "gs1_ideal")
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        if how == "mount":
            subprocess.run(["umount", str(next(tmp_path.iterdir()) / "gs1_ideal")], capture_output=True)
    assert proc.returncode == 1, err[-2000:]
    assert "Traceback" not in err, err[-3000:]
    row = runs.scenario_status(hub, "gs1_ideal")
    assert row["status"] == "failed" and "no longer takes writes" in row["error"], row
    assert runs.find_incomplete(tmp_path) == []
    assert "gs1_ideal: FAILED" in (hub / "blocker.log").read_text()
    summary = (hub / "summary.md").read_text()
    assert "**failed**" in summary, summary


def test_a_full_file_system_is_refused_and_leaves_no_hub(tmp_path):
    """Issue 29 T4: a reports folder on an already-full file system: one line, exit 2 and
    (new) no empty hub left behind (a full tmpfs still makes folders)."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True
        ).returncode
    ):
        pytest.skip("needs a tmpfs mount (root in a container)")
    try:
        (mnt / "R").mkdir()
        with open(mnt / "filler", "wb") as f, contextlib.suppress(OSError):
            f.write(b"x" * (1 << 20))
        res = subprocess.run(
            [sys.executable, "-m", "ptycho_helpers", "run", "gs1_ideal", "--reports-dir", str(mnt / "R")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode == 2, res.stderr[-2000:]
        lines = res.stderr.strip().splitlines()
        assert lines[-1].startswith("error: No space left on device"), res.stderr[-2000:]
        assert "Traceback" not in res.stderr
        assert list((mnt / "R").iterdir()) == []
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_dangling_or_looping_reports_links_are_named(tmp_path):
    """Issue 29: a dangling or looping symlink as --reports-dir was reported as "File exists"."""
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "x")
    for link in ("loop", "dangling"):
        res = _cli("run", "gs1_ideal", "--reports-dir", str(tmp_path / link), cwd=tmp_path)
        assert res.returncode == 2 and "is a symbolic link to nothing" in res.stderr, res.stderr[-800:]
