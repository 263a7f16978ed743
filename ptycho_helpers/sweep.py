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
import re
import time
from pathlib import Path
from typing import Any

from .core.checks import check_name
from .hub import artifacts, plotting, reporting
from .hub import results as hub_results
from .knobs import SWEEP_TYPES
from .plan import plan_run
from .tasks import INTERRUPTED_NOTE, check_scheduler, run_tasks

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
