"""Run status as the hub's readers and the launcher see it: the final status a launcher
writes (``mark``; beside the run when its folder refuses it, :func:`hub_status_path`),
and the status row of a run from its files (``running`` only while its kernel lives)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from . import artifacts, metadata


def hub_status_path(folder: Path) -> Path:
    """Where a run's final status goes when its own folder no longer takes writes (made
    read-only, removed, full): ``<hub>/<run>_status.json``, beside its runner log.  It wins
    over the folder's own ``running`` metadata in every reader."""
    return folder.parent / f"{folder.name}_status.json"


def settled(folder: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """A run's metadata as every reader reports it: the launcher's status beside the folder
    (:func:`hub_status_path`) wins, and ``running`` whose kernel is gone is ``incomplete``."""
    final = hub_status_path(folder)
    if final.is_file():
        try:
            meta = {
                **meta,
                **{k: v for k, v in artifacts.read_json(final).items() if k in ("status", "error")},
            }
        except (OSError, ValueError):
            pass
    if meta.get("status") == "running" and not metadata.process_alive(meta.get("host")):
        meta = {**meta, "status": "incomplete"}  # nobody is running it now: the process died
    return meta


def mark(folder: Path, status: str, error: str | None) -> None:
    """Set the final status in run_metadata.json (or status.json if the run never started);
    if the folder refuses the write, in :func:`hub_status_path` (and raise if that fails too)."""
    try:
        mark_in_folder(folder, status, error)
    except OSError as exc:
        artifacts.write_json(
            hub_status_path(folder),
            {
                "status": status,
                "error": f"{error} (the run folder refused the status: {exc.strerror or exc})",
            },
        )


def mark_in_folder(folder: Path, status: str, error: str | None) -> None:
    meta_path = folder / "run_metadata.json"
    if meta_path.exists():
        meta = artifacts.read_json(meta_path)
        if meta.get("status") == "complete" and status != "complete":
            return
        meta["status"] = status
        meta["error"] = error
        meta["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        artifacts.write_json(meta_path, meta)
    else:
        artifacts.write_json(folder / "status.json", {"status": status, "error": error})


def scenario_status(hub: Path, scenario: str) -> dict[str, Any]:
    """Status row of one scenario in a hub (reads what is there; never writes)."""
    folder = hub / scenario
    for p in (folder / "run_metadata.json", folder / "status.json"):
        if p.exists():
            data = settled(folder, artifacts.read_json(p))
            return {
                "scenario": scenario,
                "status": data.get("status", "incomplete"),
                "error": data.get("error"),
                "headline": data.get("headline"),
                "timings_s": data.get("timings_s"),
            }
    data = settled(folder, {"status": "incomplete", "error": "no metadata written"})
    return {"scenario": scenario, "status": data["status"], "error": data["error"]}


def find_incomplete(reports_dir: str | Path) -> list[tuple[str, str, str]]:
    """Runs in existing hubs that never finished (metadata still ``running`` and its kernel
    gone; a run still alive in another process is not listed): (hub, run, status)."""
    root = Path(reports_dir)
    if not root.is_dir():
        return []
    out = []
    for meta_path in sorted(root.glob("*/*/run_metadata.json")):
        try:
            meta = artifacts.read_json(meta_path)
            status = (
                settled(meta_path.parent, meta).get("status") if meta.get("status") == "running" else None
            )
        except (OSError, ValueError):
            status = "unreadable"
        if status in ("incomplete", "unreadable"):
            out.append((meta_path.parent.parent.name, meta_path.parent.name, status))
    return out
