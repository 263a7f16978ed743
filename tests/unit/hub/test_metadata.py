import json

from ptycho_helpers.hub import metadata


def test_committed_schema_is_current():
    assert metadata.SCHEMA_PATH.read_text() == metadata.schema_text(), (
        "schemas/run_metadata.schema.json is stale: run scripts/export_schema.py"
    )


def test_versions_and_host():
    v = metadata.package_versions()
    assert v["python"] and "numpy" in v
    assert metadata.host_info()["cpus"] >= 1


def test_a_live_run_reads_running_and_a_dead_one_incomplete(tmp_path):
    """Issue 30: a run whose kernel still runs (in another process) is "running", not
    "incomplete"; a dead pid, a reused pid (another start time) or another machine is not."""
    import subprocess
    import sys

    from ptycho_helpers import runs
    from ptycho_helpers.hub import metadata
    from ptycho_helpers.hub.results import run_rows

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = metadata.host_info()
    cases = {
        "alive": live,
        "dead": {**live, "pid": dead.pid},
        "reused": {**live, "pid_started": live["pid_started"] - 100.0},
        "elsewhere": {**live, "hostname": live["hostname"] + "-other"},
        "older_run": {},
    }
    hub = tmp_path / "2026-01-01T000000Z"
    for name, host in cases.items():
        (hub / name).mkdir(parents=True)
        (hub / name / "run_metadata.json").write_text(json.dumps({"status": "running", "host": host}))
    status = {name: runs.scenario_status(hub, name)["status"] for name in cases}
    assert status == {"alive": "running", **{n: "incomplete" for n in cases if n != "alive"}}
    assert {r["status"] for r in run_rows(hub / "alive")} == {"running"}
    assert sorted(r for _, r, _ in runs.find_incomplete(tmp_path)) == sorted(n for n in cases if n != "alive")
