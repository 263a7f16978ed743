"""Task records ``{run_name, scenario, values}`` run on Dask, each a papermill run in a
hub: the private TLS LocalCluster (or a checked scheduler address), the per-task runner,
and the Ctrl-C/SIGTERM path every sweep, ladder and study shares (issue 29 T1)."""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


#: hubs whose runs were asked to stop, by signal name (per worker process: a worker of an
#: external cluster serves many sweeps, so the request names its hub)
_STOP_REQUESTS: dict[str, str] = {}


def _request_stop(hub: str, sig: str) -> None:
    """Executed on every worker when the sweep's process gets Ctrl-C/SIGTERM."""
    _STOP_REQUESTS[hub] = sig


def _interrupted(sig: str) -> dict[str, str]:
    """The status of a task stopped by ``sig`` (what ``run`` records for its run)."""
    return {"status": "interrupted", "error": f"interrupted ({sig})"}


def _run_task(hub: str, task: dict[str, Any], tf_threads: int | None) -> dict[str, Any]:
    """Executed on a Dask worker: one papermill run; never raises for a failed scenario.

    The task runs in a worker thread, which never sees a signal; the sweep's process asks
    the workers to stop (:func:`_request_stop`) and the run takes the same interrupt path as
    ``run`` does on Ctrl-C (papermill interrupted, notebook renamed, status ``interrupted``)."""
    from . import runs

    env = {"PTYCHO_TF_THREADS": str(tf_threads)} if tf_threads else None
    if _STOP_REQUESTS.get(hub):  # handed to this worker before the stop: never started
        return {"scenario": task["run_name"], **_interrupted(_STOP_REQUESTS[hub])}
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
        row = {"scenario": task["run_name"], **_interrupted(runs.signal_name(exc))}
    except Exception as exc:  # noqa: BLE001 - reported per task, the sweep goes on
        row = {"scenario": task["run_name"], "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    return row


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
    from .hub.status import mark as _mark
    from .runs import PARTIAL_NOTEBOOK, _publish_notebook, signal_name

    row = _interrupted(signal_name(exc))
    if folder.is_dir():
        _publish_notebook(folder / PARTIAL_NOTEBOOK, folder / "scenario_run.ipynb")
        _mark(folder, row["status"], row["error"])
    return row


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
