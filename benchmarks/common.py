"""Shared helpers of the benchmarks: best-of-k timing and JSON/markdown output."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    """Smallest wall time (s) of ``repeats`` calls (the least disturbed measurement)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def machine() -> dict:
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()}


def write_result(name: str, result: dict, out: Path | None = None) -> Path:
    path = out or HERE / f"results_{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"benchmark": name, "machine": machine(), **result}, indent=2) + "\n")
    tmp.replace(path)
    return path
