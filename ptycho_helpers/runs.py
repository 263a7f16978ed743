"""Orchestration: scenarios executed by papermill (a fresh kernel each) into report hubs.

``rerun`` makes a new hub, runs gs1_ideal then gs2_ideal with their stable profiles,
collects the reassembly telemetry the kernels wrote, runs the guard test and writes ``summary.md``.
A failing scenario writes ``blocker.log``, is marked ``failed`` and the next one still runs.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import LAUNCHER_ENV
from .core.checks import check_name
from .hub import artifacts, reporting
from .hub.status import find_incomplete, hub_status_path, scenario_status  # noqa: F401 - the runner's API
from .hub.status import mark as _mark
from .plan import plan_run

logger = logging.getLogger(__name__)

REPO_ROOT = artifacts.REPO_ROOT
SCENARIO_NOTEBOOK = REPO_ROOT / "notebooks" / "scenario_run.ipynb"
GUARD_TEST = "tests/scripts/test_synthetic_helpers_cli_smoke.py::test_sim_lines_pipeline_import_smoke"
RERUN_SCENARIOS = ("gs1_ideal", "gs2_ideal")


default_reports_dir = artifacts.default_reports_dir


def _notebook_error(nb_path: Path) -> str | None:
    """The first error papermill recorded in an executed notebook, as 'Name: message'."""
    try:
        nb = json.loads(nb_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            if out.get("output_type") == "error":
                return f"{out.get('ename')}: {out.get('evalue')}"
    return None


def _folder_fault(folder: Path) -> str | None:
    """Why a run folder no longer takes writes (read-only, removed, replaced, full), or None."""
    probe = folder / ".write_probe"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return f"the run folder no longer takes writes: {exc.strerror or exc} ({folder})"
    return None


def _tail(path: Path, n: int = 80) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


#: a kernel log record (runtime.LOG_FORMAT): the lines streamed to the console
KERNEL_RECORD = re.compile(r"^\d\d:\d\d:\d\d (INFO|WARNING|ERROR|CRITICAL) ptycho_helpers")


def _copy_output(stream, log, name: str) -> None:
    """Copy papermill's output into the runner log, line by line as it comes, and stream the
    kernel's own log records (stages, epochs, steps, refinement, progress within an epoch)
    to this process's log, prefixed by the run name."""
    for line in stream:
        log.write(line)
        if KERNEL_RECORD.match(line):
            logger.info("%s | %s", name, line.rstrip()[9:])  # the kernel's clock is dropped, ours stays


#: the executed notebook while papermill still writes it (a SIGKILL of the runner leaves it)
PARTIAL_NOTEBOOK = "scenario_run.partial.ipynb"


def _publish_notebook(partial: Path, final: Path) -> None:
    """The executed notebook appears in one atomic rename, never half written (a folder
    that refuses the rename keeps the partial notebook; the run's status says why)."""
    try:
        if partial.exists():
            os.replace(partial, final)
    except OSError as exc:
        logger.warning(
            "%s: the executed notebook stays %s (%s)", final.parent.name, partial.name, exc.strerror or exc
        )


def signal_name(exc: BaseException) -> str:
    """Which signal stopped the run: the CLI raises ``KeyboardInterrupt("SIGTERM")`` for a
    SIGTERM; a bare ``KeyboardInterrupt`` is Ctrl-C (SIGINT)."""
    return str(exc.args[0]) if exc.args and str(exc.args[0]).startswith("SIG") else "SIGINT"


def _record_interrupt(folder: Path, log, sig: str = "SIGINT") -> None:
    """A run stopped by Ctrl-C/SIGTERM: a line in its runner log, status ``interrupted``."""
    log.write(f"# interrupted ({sig})\n")
    _mark(folder, "interrupted", f"interrupted ({sig})")
    logger.warning("%s: interrupted", folder.name)


def _sigint_default() -> None:  # in the papermill child, before exec
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait(proc: subprocess.Popen, stop: Callable[[], str | None] | None) -> int:
    """``proc.wait()``; with ``stop``, a stop request (the signal's name) raises
    ``KeyboardInterrupt(name)`` here as a Ctrl-C in this thread would."""
    if stop is None:
        return proc.wait()
    while True:
        try:
            return proc.wait(timeout=STOP_POLL_S)
        except subprocess.TimeoutExpired:
            sig = stop()
            if sig:
                raise KeyboardInterrupt(sig) from None


#: how often a run launched with ``stop`` checks for a stop request
STOP_POLL_S = 0.5


def execute_scenario(
    hub: Path,
    scenario: str,
    parameters: dict[str, Any],
    *,
    run_name: str | None = None,
    notebook: Path | None = None,
    env: dict[str, str] | None = None,
    stop: Callable[[], str | None] | None = None,
) -> dict[str, Any]:
    """Run the scenario notebook with papermill in a subprocess (fresh kernel).

    The run lands in ``hub/<run_name or scenario>/``; everything printed goes to
    ``hub/<name>_runner.log``.  On failure the failing output goes to ``hub/blocker.log``
    and the run is marked ``failed`` (``interrupted`` on Ctrl-C, which is re-raised after
    the bookkeeping).

    papermill runs in its own session with SIGINT at its default: a Ctrl-C at the terminal
    reaches only this process, which forwards it (a Dask worker, whose task runs in a worker
    thread that never sees signals, passes ``stop``: a callable polled while papermill runs
    that returns the name of the signal to stop on, or None).
    """
    check_name("scenario", scenario)
    name = check_name("run", run_name) if run_name else scenario
    folder = hub / name
    folder.mkdir(parents=True, exist_ok=False)
    log_path = hub / f"{name}_runner.log"
    out_nb = folder / "scenario_run.ipynb"
    # papermill rewrites its output after every cell: it writes a partial copy, which becomes
    # the executed notebook in one rename when papermill has ended (any outcome)
    partial_nb = folder / PARTIAL_NOTEBOOK
    params = {"scenario": scenario, "hub_dir": str(hub), "run_name": name, **parameters}
    cmd = [
        sys.executable,
        "-m",
        "papermill",
        str(notebook or SCENARIO_NOTEBOOK),
        str(partial_nb),
        "-y",
        json.dumps(params),
        "--log-output",
        "--no-progress-bar",
        "--cwd",
        str(REPO_ROOT),
    ]
    t0 = time.perf_counter()
    logger.info("%s: papermill -> %s (log %s)", scenario, out_nb, log_path)
    with open(log_path, "a", buffering=1) as log:
        log.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {' '.join(cmd)}\n")
        # the kernel (papermill's child) ends when this process dies (runtime.die_with_parent)
        # TQDM_DISABLE before the kernel imports anything: PtyLab's progress bars would be
        # saved into the notebook (tqdm reads the variable when it is first imported)
        child_env = {"TQDM_DISABLE": "1", **os.environ, **(env or {}), LAUNCHER_ENV: str(os.getpid())}
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=child_env,
            text=True,
            errors="replace",
            start_new_session=True,
            preexec_fn=_sigint_default,  # noqa: PLW1509 - one signal call before exec
        )
        reader = threading.Thread(target=_copy_output, args=(proc.stdout, log, name), daemon=True)
        reader.start()
        try:
            rc = _wait(proc, stop)
        except KeyboardInterrupt as exc:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            reader.join(timeout=5)
            _publish_notebook(partial_nb, out_nb)
            _record_interrupt(folder, log, signal_name(exc))
            raise
        reader.join(timeout=30)
        _publish_notebook(partial_nb, out_nb)
    wall = time.perf_counter() - t0
    row = scenario_status(hub, name)
    if rc == 0 and row["status"] == "complete":
        logger.info("%s: complete in %.1f s", name, wall)
        return {**row, "wall_s": wall}
    error = _notebook_error(out_nb) or _folder_fault(folder) or f"papermill exited with {rc}"
    if error.startswith("KeyboardInterrupt"):
        # the kernel got the Ctrl-C first (the terminal signals the whole process group):
        # the same bookkeeping, then the caller's Ctrl-C path (summary, exit 130)
        with open(log_path, "a") as log:
            _record_interrupt(folder, log)
        raise KeyboardInterrupt
    _mark(folder, "failed", error)
    with open(hub / "blocker.log", "a") as blk:
        blk.write(
            f"=== {name}: FAILED (papermill exit {rc}) ===\n{error}\n--- last lines of {log_path.name} ---\n"
        )
        blk.write(_tail(log_path) + "\n\n")
    logger.error("%s: FAILED - %s (see %s)", name, error, hub / "blocker.log")
    return {**scenario_status(hub, name), "wall_s": wall}


def _guard_test(hub: Path) -> dict[str, Any]:
    """The seed workflow's guard test, recorded in the hub (``pytest_cli_smoke.log``).

    Its result is reported in ``summary.md``, never folded into the reconstruction runs'
    exit code; without a test tree or pytest (an installed package) it is "skipped" with
    the reason."""
    log = hub / "pytest_cli_smoke.log"
    reason = None
    if not (REPO_ROOT / GUARD_TEST.split("::")[0]).exists():
        reason = f"{GUARD_TEST} not found (package installed without tests)"
    elif importlib.util.find_spec("pytest") is None:
        reason = "pytest is not installed"
    if reason is not None:
        artifacts.write_text(log, f"skipped: {reason}\n")
        return {"status": "skipped", "reason": reason}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", GUARD_TEST],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    artifacts.write_text(log, res.stdout + res.stderr)
    if res.returncode != 0:
        logger.warning("guard test %s failed (exit %d); see %s", GUARD_TEST, res.returncode, log)
    return {"status": "passed" if res.returncode == 0 else "failed", "returncode": res.returncode}


def run_scenarios(
    scenarios: list[str] | tuple[str, ...],
    *,
    reports_dir: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    stamp: str | None = None,
    guard_test: bool = True,
    profile: str | None = None,
) -> tuple[Path, int]:
    """Run scenarios into a new hub; returns (hub, exit code: 0 if all complete).

    ``overrides``/``settings`` map knob names (:data:`ptycho_helpers.knobs.KNOBS`) to
    values, ``None`` = not given; both are validated here with the kernel's own planning
    code before the hub exists, and the kernel resolves them again the same way.
    ``profile`` names a profile of ``NAMED_PROFILES`` (e.g. "full") used instead of the
    stable profiles; its nepochs/group_limit apply unless given.
    """
    values = {k: v for k, v in {**(overrides or {}), **(settings or {})}.items() if v is not None}
    for sc in scenarios:  # validate everything before creating anything
        plan_run(sc, values, profile=profile)
    reports = Path(reports_dir or artifacts.default_reports_dir())
    earlier = find_incomplete(reports)
    hub = artifacts.create_hub(reports, stamp)
    logger.info("new hub %s", hub)
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    try:
        for sc in scenarios:
            params = {**values, **({"profile": profile} if profile else {})}
            rows.append(execute_scenario(hub, sc, params))
    except KeyboardInterrupt as exc:
        done = {r["scenario"] for r in rows}
        rows += [scenario_status(hub, sc) for sc in scenarios if sc not in done]
        artifacts.write_text(
            hub / "summary.md",
            reporting.hub_summary(hub.name, rows, [f"Interrupted ({signal_name(exc)}).", ""], hub=hub),
        )
        exc.hub = hub  # type: ignore[attr-defined] - the CLI repeats it after "interrupted"
        raise
    with open(hub / "reassembly_cli.log", "a") as cli_log:  # the kernels wrote the telemetry
        for sc in scenarios:
            md = hub / f"reassembly_{sc}.md"
            cli_log.write(
                md.read_text() + "\n" if md.is_file() else f"# {sc}: no telemetry (the run stopped early)\n"
            )
    guard = _guard_test(hub) if guard_test else {"status": "not run"}
    wall = time.perf_counter() - t0
    extra = [
        "## Checks",
        "",
        f"- guard test `{GUARD_TEST}`: **{guard['status']}**"
        + (f" ({guard['reason']})" if guard.get("reason") else "")
        + " ([pytest_cli_smoke.log](pytest_cli_smoke.log)); reported here, not part of the exit code",
        "- reassembly telemetry: "
        + ", ".join(f"[{sc}](reassembly_{sc}.md)" for sc in scenarios)
        + " ([reassembly_cli.log](reassembly_cli.log))",
        f"- wall time of this hub: {wall:.1f} s",
        "",
    ]
    if earlier:
        extra += ["## Earlier hubs with incomplete runs", ""]
        extra += [f"- `{h}/{name}`: {status}" for h, name, status in earlier]
        extra.append("")
    artifacts.write_text(hub / "summary.md", reporting.hub_summary(hub.name, rows, extra, hub=hub))
    artifacts.seal_hub(hub)
    ok = all(r["status"] == "complete" for r in rows)  # the guard's result is reported, not folded in
    return hub, 0 if ok else 1


def rerun(reports_dir: str | Path | None = None, **kwargs: Any) -> tuple[Path, int]:
    """The main job: both ideal scenarios with their stable profiles, no flags
    (``profile="full"``: the documented full profile instead)."""
    return run_scenarios(RERUN_SCENARIOS, reports_dir=reports_dir, **kwargs)
