"""``run_metadata.json``: the pydantic v2 model that defines it, and its JSON Schema.

The schema is exported to ``schemas/run_metadata.schema.json`` by
``scripts/export_schema.py`` (a test checks the committed copy is current).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["running", "complete", "failed", "interrupted", "incomplete"]
SCHEMA_VERSION = "run_metadata/1"
VERSIONED_PACKAGES = (
    "numpy",
    "scipy",
    "scikit-image",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "jax",
    "jaxlib",
    "torch",
    "papermill",
    "matplotlib",
    "ptylab",
)


class ProfileBlock(BaseModel):
    """Was a stable profile used, and how (DESIGN §4)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    active: bool
    label: str | None = None
    defaults: dict[str, Any] | None = None
    applied: dict[str, Any] | None = None
    skipped: dict[str, dict[str, Any]] | None = None
    effective_group_count: int
    effective_batch_size: int


class Counts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    total: int
    train: int
    test: int
    train_groups: int | None = None
    test_groups_available: int | None = None
    test_groups_stitched: int | None = None
    patches_stitched: int | None = None


class RunMetadata(BaseModel):
    """Everything needed to know what a scenario run did and whether it finished."""

    model_config = ConfigDict(extra="forbid")
    schema_version: str = SCHEMA_VERSION
    scenario: str
    run_name: str | None = Field(default=None, description="folder name in the hub (default: the scenario)")
    status: Status
    started_utc: str
    finished_utc: str | None = None
    error: str | None = None
    resolved: dict[str, Any] = Field(description="RunParams, ScenarioSpec, group_count, batch_size, counts")
    settings: dict[str, Any] = Field(description="run settings that are not profile knobs")
    overrides: dict[str, Any] = Field(description="knobs the caller gave (None = not given)")
    profile: ProfileBlock
    counts: Counts
    seeds: dict[str, int | list[int]] = Field(
        description="object, simulation and training seeds (grid: per object)"
    )
    scales: dict[str, float] = Field(default_factory=dict)
    model: dict[str, Any] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)
    timings_s: dict[str, float] = Field(default_factory=dict)
    headline: dict[str, Any] = Field(default_factory=dict)
    refinement: dict[str, Any] = Field(
        default_factory=dict,
        description="physics refinement of the test patches (steps, learning_rate, loss_start/end, wall_s); empty when off",
    )
    classical: dict[str, Any] = Field(
        default_factory=dict,
        description="classical engine on the stitched test patterns (engine, iterations, starts, wall_s); empty when off",
    )
    device: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "where the network ran: requested (auto|gpu|cpu), kind, name, memory_bytes, backend and versions, "
            "precision (float32 | mixed_bfloat16)"
        ),
    )
    memory: dict[str, float] = Field(
        default_factory=dict,
        description="estimate_bytes (the planner's, before the run) and peak_rss_bytes (the kernel's measured peak)",
    )
    stats: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict)
    versions: dict[str, str | None] = Field(default_factory=dict)
    git_sha: str | None = None
    host: dict[str, Any] = Field(default_factory=dict)


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_sha(repo: Path | None = None) -> str | None:
    root = repo or Path(__file__).resolve().parents[2]
    try:
        res = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() or None if res.returncode == 0 else None


def host_info() -> dict[str, Any]:
    """The machine, and the process that writes the run (hostname, pid and the pid's start
    time: a reader tells a live run from a dead one by them, :func:`process_alive`)."""
    import os

    import psutil

    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "tf_threads": os.environ.get("PTYCHO_TF_THREADS") or "all",
        "hostname": platform.node(),
        "pid": os.getpid(),
        "pid_started": psutil.Process().create_time(),
    }


def process_alive(host: dict[str, Any] | None) -> bool:
    """Whether the process recorded by :func:`host_info` still runs: same machine, the pid
    exists and started at the recorded time (a reused pid started later).  Unknown (an
    older run, another machine) counts as not alive."""
    import psutil

    host = host or {}
    if host.get("hostname") != platform.node() or not host.get("pid") or host.get("pid_started") is None:
        return False
    try:
        return abs(psutil.Process(int(host["pid"])).create_time() - float(host["pid_started"])) < 1.0
    except (psutil.Error, ValueError, TypeError):
        return False


def schema_text() -> str:
    return json.dumps(RunMetadata.model_json_schema(), indent=2, sort_keys=True) + "\n"


SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "run_metadata.schema.json"
