"""Report-hub layout and atomic writes (temp file in the same folder + ``os.replace``).

A hub is ``reports/<YYYY-MM-DDTHHMMSSZ>/``; it is created exclusively (never reused) and
every file in it is written through a temporary file, so a crash leaves either the old
state or the complete new file — never a truncated one.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
from pathlib import Path

from ..core.checks import check_name
from ..core.io import (  # noqa: F401 - the hub's file primitives, re-exported for hub writers
    atomic_path,
    read_json,
    read_npy,
    read_npz,
    write_json,
    write_npy,
    write_text,
)

logger = logging.getLogger(__name__)

STAMP_FORMAT = "%Y-%m-%dT%H%M%SZ"
REPO_ROOT = Path(__file__).resolve().parents[2]


def default_reports_dir() -> Path:
    """``<repository>/reports``: where hubs go unless a caller names another folder."""
    return REPO_ROOT / "reports"


def utc_stamp(now: _dt.datetime | None = None) -> str:
    """UTC time stamp used as a hub name, e.g. ``2026-11-28T133000Z``."""
    now = now or _dt.datetime.now(_dt.UTC)
    return now.astimezone(_dt.UTC).strftime(STAMP_FORMAT)


def create_hub(reports_dir: str | Path, stamp: str | None = None) -> Path:
    """Create a new, empty hub folder ``reports_dir/<stamp>``; never reuses an existing one.

    Without ``stamp`` the name is the current UTC second, with ``-2``, ``-3``... appended
    when another run took that second (concurrent starts all succeed).

    Raises
    ------
    FileExistsError
        When the hub already exists (hubs are immutable).
    PermissionError
        When ``reports_dir`` is not writable.
    """
    root = Path(reports_dir)
    name = check_name("hub", stamp or utc_stamp())
    if root.is_symlink() and not root.exists():  # mkdir would say "File exists"
        raise ValueError(
            f"reports directory {str(root)!r} is a symbolic link to nothing (dangling, or a loop); "
            "point --reports-dir at a folder"
        )
    root.mkdir(parents=True, exist_ok=True)
    if not os.access(root, os.W_OK):
        raise PermissionError(f"reports directory {str(root)!r} is not writable")
    for k in range(1, 1000):
        hub = root / (name if k == 1 else f"{name}-{k}")
        try:
            hub.mkdir()
        except FileExistsError:
            if stamp is not None:
                raise FileExistsError(
                    f"hub {str(hub)!r} already exists; hubs are never overwritten - "
                    "omit the stamp to get a new one"
                ) from None
            continue
        _check_takes_data(hub)
        return hub
    raise FileExistsError(f"999 hubs named {name!r}* exist under {str(root)!r}")


#: bytes written (and removed) to check that a new hub takes data
PROBE_BYTES = 1 << 20


def _check_takes_data(hub: Path) -> None:
    """A new hub must take data (a full file system still makes folders): write and remove
    a 1 MiB probe; on failure remove the empty hub and raise ``OSError`` naming the folder."""
    probe = hub / ".space_probe"
    try:
        with open(probe, "wb") as f:
            f.write(b"\0" * PROBE_BYTES)
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
            hub.rmdir()
        raise OSError(exc.errno, f"{exc.strerror} (nothing was written)", str(hub.parent)) from None


def seal_hub(hub: str | Path) -> int:
    """Make every file of a finished hub read-only (folders stay writable, so a hub can
    still be deleted): an executed notebook opened in JupyterLab opens read-only and is
    never rewritten by autosave.  Returns the number of files sealed."""
    n = 0
    for path in Path(hub).rglob("*"):
        if path.is_file() and not path.is_symlink():
            mode = path.stat().st_mode
            try:
                os.chmod(path, mode & ~0o222)
            except OSError:  # a read-only run folder (its status says so): already unwritable
                continue
            n += 1
    return n
