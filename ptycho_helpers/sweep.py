"""Sweeps on Dask distributed: the cartesian product of scenarios × knob values, each task
a papermill execution (fresh kernel) into its own folder of one hub.

A ``LocalCluster`` (processes, one thread per worker) is used unless a scheduler address
is given (e.g. a dask-jobqueue SLURM cluster).  Each task's kernel is told how many
threads TensorFlow may use (``PTYCHO_TF_THREADS`` = cores // workers on a LocalCluster) so
the workers do not oversubscribe the cores.  One failing task loses nothing else.
"""

from __future__ import annotations

import csv
import itertools
import logging
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

from .core.checks import check_name
from .hub import artifacts, plotting, reporting
from .hub import results as hub_results
from .knobs import SWEEP_TYPES
from .plan import plan_run

logger = logging.getLogger(__name__)

#: The result columns a sweep table carries (from ``hub.results.COLUMNS``), one row per
#: reconstruction (``stage``) of each task.
METRIC_KEYS = ("stage", "amp_ssim", "flat_ssim", "pearson_r", "mae", "ls_scale", "coverage", "train_s")


def _parse_value(knob: str, text: str) -> Any:
    typ = SWEEP_TYPES[knob]
    t = text.strip()
    if typ is bool:
        if t.lower() in ("true", "1", "yes"):
            return True
        if t.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"--set {knob}: expected true/false, got {text!r}")
    try:
        value = float(t) if typ is float else typ(t) if typ is str else int(float(t))
    except ValueError:
        raise ValueError(f"--set {knob}: {text!r} is not a valid {typ.__name__}") from None
    if typ is int and float(t) != value:
        raise ValueError(f"--set {knob}: {text!r} is not an integer")
    return value


def parse_sets(sets: list[str]) -> dict[str, list[Any]]:
    """``["nphotons=1e4,1e6", "nepochs=5"]`` → ``{"nphotons": [1e4, 1e6], "nepochs": [5]}``."""
    out: dict[str, list[Any]] = {}
    for item in sets:
        if "=" not in item:
            raise ValueError(f"--set {item!r}: expected KNOB=V1,V2,...")
        knob, values = item.split("=", 1)
        knob = knob.strip().replace("-", "_")
        if knob not in SWEEP_TYPES:
            raise ValueError(f"--set: unknown knob {knob!r}; sweepable: {', '.join(sorted(SWEEP_TYPES))}")
        if knob in out:
            raise ValueError(f"--set {knob} given twice")
        vals = [v for v in values.split(",") if v.strip()]
        if not vals:
            raise ValueError(f"--set {knob}: no values")
        out[knob] = [_parse_value(knob, v) for v in vals]
    return out


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "", str(value).replace("+", "p").replace("-", "m"))


def plan_tasks(scenarios: list[str], grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The cartesian product as task records ``{run_name, scenario, values}`` (validated)."""
    tasks = []
    keys = list(grid)
    for sc in scenarios:
        for combo in itertools.product(*(grid[k] for k in keys)) if keys else [()]:
            values = dict(zip(keys, combo, strict=True))
            name = check_name("run", "__".join([sc] + [f"{k}-{_slug(v)}" for k, v in values.items()]))
            plan_run(sc, values)
            tasks.append({"run_name": name, "scenario": sc, "values": values})
    names = [t["run_name"] for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError("two sweep tasks map to the same folder name; make the values distinct")
    return tasks


#: hubs whose runs were asked to stop, by signal name (per worker process: a worker of an
#: external cluster serves many sweeps, so the request names its hub)
_STOP_REQUESTS: dict[str, str] = {}


def _request_stop(hub: str, sig: str) -> None:
    """Executed on every worker when the sweep's process gets Ctrl-C/SIGTERM."""
    _STOP_REQUESTS[hub] = sig


def _run_task(hub: str, task: dict[str, Any], tf_threads: int | None) -> dict[str, Any]:
    """Executed on a Dask worker: one papermill run; never raises for a failed scenario.

    The task runs in a worker thread, which never sees a signal; the sweep's process asks
    the workers to stop (:func:`_request_stop`) and the run takes the same interrupt path as
    ``run`` does on Ctrl-C (papermill interrupted, notebook renamed, status ``interrupted``)."""
    from . import runs

    env = {"PTYCHO_TF_THREADS": str(tf_threads)} if tf_threads else None
    if _STOP_REQUESTS.get(hub):  # handed to this worker before the stop: never started
        return {
            "scenario": task["run_name"],
            "status": "interrupted",
            "error": f"interrupted ({_STOP_REQUESTS[hub]})",
        }
    try:
        row = runs.execute_scenario(
            Path(hub),
            task["scenario"],
            dict(task["values"]),
            run_name=task["run_name"],
            env=env,
            stop=lambda: _STOP_REQUESTS.get(hub),
        )
    except KeyboardInterrupt as exc:
        sig = runs.signal_name(exc)
        row = {"scenario": task["run_name"], "status": "interrupted", "error": f"interrupted ({sig})"}
    except Exception as exc:  # noqa: BLE001 - reported per task, the sweep goes on
        row = {"scenario": task["run_name"], "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    return row


#: seconds per optimiser step of one run on the 2-core CPU (measured: gs2_grid 0.32 s/step
#: alone, 0.47 s/step beside a second run; gs1 a little less) and the fixed cost of a run
#: (kernel start, simulation, evaluation); used only for printed estimates
SECONDS_PER_STEP = 0.4
SECONDS_PER_RUN = 90.0


def estimated_cost(n_runs: int, steps: int, workers: int) -> str:
    """The line a study or ladder prints before it starts: the rough wall time of ``n_runs``
    trainings of ``steps`` steps on this 2-core machine (more than 2 workers do not help)."""
    wall = (SECONDS_PER_RUN + steps * SECONDS_PER_STEP) * n_runs / max(1, min(workers, 2))
    return (
        f"Estimated wall time: about {wall / 60:.0f} min with {workers} worker(s) on 2 cores "
        f"(rough: {SECONDS_PER_STEP} s per step + {SECONDS_PER_RUN:.0f} s per run)"
    )


#: Dask's network protocols a scheduler address may name
SCHEDULER_PROTOCOLS = ("tcp", "tls", "ws", "wss")
#: seconds to wait for a scheduler to answer before refusing the address
SCHEDULER_TIMEOUT_S = 5


def check_scheduler(address: str) -> None:
    """Refuse, before a hub exists, an address that is not ``protocol://host:port`` or
    that does not answer as a Dask scheduler within a few seconds (a closed port, a silent
    service, a service that speaks another protocol).  Raises ``ValueError`` (exit 2)."""
    m = re.fullmatch(r"(\w+)://([^:/\s]+|\[[0-9a-fA-F:]+\]):(\d{1,5})/?", address or "")
    if not m or m.group(1) not in SCHEDULER_PROTOCOLS or not 0 < int(m.group(3)) < 65536:
        raise ValueError(
            f"--scheduler {address!r} is not a Dask scheduler address; give "
            f"{'|'.join(SCHEDULER_PROTOCOLS)}://host:port (e.g. tcp://host:8786), or leave it out for a local cluster"
        )
    import threading

    from dask.distributed import Client

    outcome: dict[str, Any] = {}

    def probe() -> None:  # a silent service accepts the socket and never answers: bound it
        try:
            client = Client(address, timeout=f"{SCHEDULER_TIMEOUT_S}s")
            outcome["ok"] = client.scheduler_info().get("type") == "Scheduler"
            client.close()
        except (
            BaseException
        ) as exc:  # OSError, TimeoutError, a protocol error, MemoryError on a foreign banner
            outcome["error"] = type(exc).__name__

    t = threading.Thread(target=probe, name="scheduler-probe", daemon=True)
    t.start()
    t.join(2 * SCHEDULER_TIMEOUT_S)
    if not outcome.get("ok"):
        why = outcome.get("error") or ("not a scheduler" if "ok" in outcome else "no answer")
        raise ValueError(
            f"--scheduler {address}: no Dask scheduler answered within {2 * SCHEDULER_TIMEOUT_S} s "
            f"({why}); start one (`dask scheduler`) or leave --scheduler out"
        )


def _connect(scheduler: str | None, workers: int):
    """A client of ``scheduler`` (a real cluster, secured by its own configuration: see the
    README) or of a private LocalCluster on 127.0.0.1 with temporary TLS credentials
    (distributed's ``Security.temporary``: a client without them cannot connect, so no other
    local user can run code in the workers) and no dashboards."""
    from dask.distributed import Client
    from distributed.security import Security

    if scheduler:
        return Client(scheduler), None, None
    n = int(workers)
    if n < 1:
        raise ValueError(f"workers={n} must be >= 1")
    security = Security.temporary()
    # the workers start with SIGINT ignored (inherited): a Ctrl-C at the terminal reaches
    # the whole process group, and only this process must act on it (execute_tasks)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        cluster = _local_cluster(n, security)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    return Client(cluster, security=security), cluster, max(1, (os.cpu_count() or 1) // n)


def _local_cluster(n: int, security):
    import dask
    from dask.distributed import LocalCluster

    # distributed always starts an HTTP server beside the scheduler and each worker; with no
    # routes and a random loopback port it serves nothing (no dashboard, no /json, no proxy)
    quiet_http = {"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}
    with dask.config.set(quiet_http):
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            protocol="tls",
            security=security,
            dashboard_address="127.0.0.1:0",
            worker_dashboard_address="127.0.0.1:0",
            scheduler_kwargs={"dashboard": False},
        )
    return cluster


def execute_tasks(
    hub: Path, tasks: list[dict[str, Any]], *, scheduler: str | None = None, workers: int = 2
) -> dict[str, dict[str, Any]]:
    """Run task records ``{run_name, scenario, values}`` on Dask (a LocalCluster unless a
    scheduler address is given), each a papermill run into ``hub/<run_name>/``; returns
    ``run_name -> status row``.  A failing or lost task fails alone."""
    from dask.distributed import as_completed

    client, cluster, tf_threads = _connect(scheduler, workers)
    results: dict[str, dict[str, Any]] = {}
    futures: dict[Any, dict[str, Any]] = {}

    def collect(fut) -> None:
        task = futures[fut]
        try:
            results[task["run_name"]] = fut.result()
        except Exception as exc:  # noqa: BLE001 - a lost worker fails this task only
            results[task["run_name"]] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        logger.info("%s: %s", task["run_name"], results[task["run_name"]]["status"])

    try:
        futures.update({client.submit(_run_task, str(hub), t, tf_threads, pure=False): t for t in tasks})
        for fut in as_completed(futures):
            collect(fut)
    except KeyboardInterrupt as exc:  # Ctrl-C / SIGTERM: what finished stays, the rest is interrupted
        _stop_tasks(client, hub, futures, collect, exc)
        for t in tasks:
            if t["run_name"] not in results:
                results[t["run_name"]] = _settle_interrupted(hub / t["run_name"], exc)
        raise Interrupted(results) from None
    finally:
        _close_quietly(client, cluster)
    return results


#: seconds the sweep waits for its running tasks to stop after Ctrl-C (each papermill gets
#: 20 s to end its kernel, then the run is renamed and marked)
STOP_WAIT_S = 45.0


def _stop_tasks(client, hub: Path, futures: dict, collect, exc: BaseException) -> None:
    """Ask every worker to stop this hub's runs, cancel the tasks not started, and collect
    the rows of the running ones as they end (a second Ctrl-C stops waiting)."""
    from dask.distributed import wait

    from .runs import signal_name

    sig = signal_name(exc)
    logger.warning("stopping the sweep's runs (%s)...", sig)
    try:
        client.run(_request_stop, str(hub), sig, wait=True)
        pending = [f for f in futures if f.status == "pending"]
        on_workers = {k for keys in client.processing().values() for k in keys}
        running = [f for f in pending if f.key in on_workers]
        client.cancel([f for f in pending if f.key not in on_workers])
        wait(running, timeout=STOP_WAIT_S)
        for fut in running:
            if fut.status == "finished":
                collect(fut)
    except KeyboardInterrupt:
        logger.warning("second interrupt: not waiting for the runs to end")
    except Exception as err:  # noqa: BLE001 - the cluster may already be gone
        logger.warning("could not stop the runs cleanly: %s", err)


def _settle_interrupted(folder: Path, exc: BaseException) -> dict[str, Any]:
    """The row of a task that ended without one: never started, or still running when the
    sweep stopped waiting.  Its notebook is renamed and its status set here, so no folder
    keeps a ``running`` status or a partial notebook."""
    from .runs import PARTIAL_NOTEBOOK, _mark, _publish_notebook, signal_name

    error = f"interrupted ({signal_name(exc)})"
    if folder.is_dir():
        _publish_notebook(folder / PARTIAL_NOTEBOOK, folder / "scenario_run.ipynb")
        _mark(folder, "interrupted", error)
    return {"status": "interrupted", "error": error}


def _close_quietly(client, cluster) -> None:
    """Close the client and the private cluster without distributed's shutdown noise
    (heartbeats to a closing scheduler log stream errors)."""
    quiet = [logging.getLogger(n) for n in ("distributed", "tornado", "asyncio")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.CRITICAL)
    try:
        client.close()
        if cluster is not None:
            cluster.close()
    finally:
        for lg, level in zip(quiet, levels, strict=True):
            lg.setLevel(level)


class Interrupted(KeyboardInterrupt):
    """A sweep or ladder stopped by Ctrl-C/SIGTERM; ``results`` holds every task's row."""

    def __init__(self, results: dict[str, dict[str, Any]]):
        super().__init__("interrupted")
        self.results = results


def run_tasks(hub: Path, tasks: list[dict[str, Any]], **kwargs: Any):
    """:func:`execute_tasks` for a caller that writes its tables either way: returns
    ``(results, None)``, or ``(results, Interrupted)`` to re-raise once the tables of what
    finished are written (sweep, ladder, study)."""
    try:
        return execute_tasks(hub, tasks, **kwargs), None
    except Interrupted as exc:
        return exc.results, exc


INTERRUPTED_NOTE = ["Interrupted by the user: the tables hold what finished.", ""]


def run_sweep(
    scenarios: list[str],
    sets: list[str],
    *,
    scheduler: str | None = None,
    workers: int = 2,
    reports_dir: str | Path | None = None,
) -> tuple[Path, int]:
    """Run a sweep into a new hub; returns (hub, 0 if every task completed else 1)."""
    grid = parse_sets(sets)
    tasks = plan_tasks(list(scenarios), grid)
    if scheduler is not None:
        check_scheduler(scheduler)
    hub = artifacts.create_hub(reports_dir or artifacts.default_reports_dir())
    logger.info("sweep of %d tasks into %s", len(tasks), hub)
    t0 = time.perf_counter()
    results, interrupted = run_tasks(hub, tasks, scheduler=scheduler, workers=workers)
    wall = time.perf_counter() - t0
    rows, status_rows = [], []
    for t in tasks:
        r = results.get(t["run_name"], {"status": "failed", "error": "no result"})
        status_rows.append({"scenario": t["run_name"], "status": r["status"], "error": r.get("error")})
        for row in hub_results.run_rows(hub / t["run_name"]):
            rows.append(
                {
                    "run_name": t["run_name"],
                    "scenario": t["scenario"],
                    **t["values"],
                    "status": r["status"],
                    **{k: row[k] for k in METRIC_KEYS},
                    "wall_s": r.get("wall_s"),
                    "error": r.get("error"),
                }
            )
    _write_tables(hub, rows, list(grid))
    extra = [
        "## Sweep",
        "",
        f"- grid: {grid}",
        f"- {len(tasks)} tasks, wall time {wall:.1f} s",
        f"- cluster: {scheduler or f'LocalCluster({workers} workers × 1 thread)'}",
        "- table: [sweep.csv](sweep.csv), [sweep.json](sweep.json); plot: ![sweep](sweep.png)",
        "",
    ] + (INTERRUPTED_NOTE if interrupted else [])
    artifacts.write_text(hub / "summary.md", reporting.hub_summary(hub.name, status_rows, extra, hub=hub))
    artifacts.seal_hub(hub)
    if interrupted is not None:
        interrupted.hub = hub  # type: ignore[attr-defined]
        raise interrupted
    return hub, 0 if all(r["status"] == "complete" for r in rows) else 1


def _write_tables(hub: Path, rows: list[dict[str, Any]], swept: list[str]) -> None:
    artifacts.write_json(hub / "sweep.json", rows)
    with artifacts.atomic_path(hub / "sweep.csv", ".csv") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _plot(hub / "sweep.png", rows, swept)


def _plot(path: Path, rows: list[dict[str, Any]], swept: list[str]) -> None:
    panels = []
    for knob in swept or ["scenario"]:
        lines = []
        for sc in sorted({r["scenario"] for r in rows}):
            sub = [
                r for r in rows if r["scenario"] == sc and r["status"] == "complete" and r["stage"] == "PINN"
            ]
            xs = sorted({r[knob] for r in sub}, key=str) if sub else []
            for metric, style in (("amp_ssim", "o-"), ("flat_ssim", "x--"), ("pearson_r", "s:")):
                ys = []
                for x in xs:
                    vals = [r[metric] for r in sub if r[knob] == x and r[metric] is not None]
                    ys.append(sum(vals) / len(vals) if vals else None)
                lines.append((f"{sc} {metric}", xs, ys, style))
        panels.append((knob, "metric (mean over other knobs)", lines))
    plotting.save_metric_lines(path, panels)
