"""Atomic file writes (temp file in the same folder + ``os.replace``, mode from the umask)
and safe reads (no pickles).

A crash leaves either the old state or the complete new file, never a truncated one.
Every layer that writes files (the model bundle in ``pinn``, the hub in ``hub``) uses
these, so the rule lives in one place.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(target))
    try:  # an error names the user's path, never the hidden temporary file
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp", dir=target.parent)
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror, str(target)) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
        except OSError as exc:
            if exc.filename != str(tmp_path):
                raise
            raise type(exc)(exc.errno, exc.strerror, str(target)) from None
        try:
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600 and os.replace keeps it
            os.replace(tmp_path, target)
        except OSError as exc:
            raise type(exc)(exc.errno, exc.strerror, str(target)) from None
    finally:
        with contextlib.suppress(OSError):
            if tmp_path.exists():
                tmp_path.unlink()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, tuple | set):
        return list(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def _sanitize(obj: Any) -> Any:
    """Replace non-finite floats by None so the JSON is standard (no NaN literals)."""
    if isinstance(obj, dict):
        return {str(k): _sanitize(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_sanitize(v) for v in obj]
    if isinstance(obj, float | np.floating) and not math.isfinite(float(obj)):
        return None
    return obj


def write_json(path: str | Path, data: Any) -> Path:
    """Atomically write ``data`` as indented, standard JSON (NaN/inf become null)."""
    text = json.dumps(_sanitize(data), indent=2, default=_json_default, allow_nan=False)
    with atomic_path(path, ".json") as tmp:
        tmp.write_text(text + "\n")
    return Path(path)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path, ".txt") as tmp:
        tmp.write_text(text)
    return Path(path)


def write_npy(path: str | Path, array: np.ndarray) -> Path:
    """Atomically write one array (``np.save``, no pickles)."""
    with atomic_path(path, ".npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.asarray(array), allow_pickle=False)
    return Path(path)


def read_npy(path: str | Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def _check_npz_members(p: Path) -> None:
    """Refuse, before anything is loaded, a file that is not a zip archive, a truncated
    archive, a pickled member, or a member whose header declares more data than it holds
    (a crafted header would otherwise make numpy allocate it)."""
    import zipfile

    if not zipfile.is_zipfile(p):
        raise ValueError(f"{str(p)!r} is not an .npz (zip) archive, or it is truncated")
    try:
        with zipfile.ZipFile(p) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as fh:
                    try:
                        version = np.lib.format.read_magic(fh)
                        header = (
                            np.lib.format.read_array_header_1_0(fh)
                            if version == (1, 0)
                            else np.lib.format.read_array_header_2_0(fh)
                        )
                    except ValueError as exc:
                        raise ValueError(
                            f"{str(p)!r}: member {info.filename!r} is not a readable array ({exc})"
                        ) from None
                shape, _, dtype = header
                if dtype.hasobject:
                    raise ValueError(
                        f"{str(p)!r} holds pickled (object) arrays; only plain numeric arrays are read"
                    )
                declared = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if declared > info.file_size:
                    raise ValueError(
                        f"{str(p)!r}: member {info.filename!r} declares shape {tuple(shape)} {dtype} "
                        f"({declared:.3g} bytes) but holds only {info.file_size} bytes"
                    )
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ValueError(f"{str(p)!r} is not a readable .npz file (truncated or damaged: {exc})") from None


def read_npz(path: str | Path, what: str = "file") -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` (``allow_pickle=False``), with one clear error for a
    missing file, a pickled (object) array or a file that is not an npz."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} {str(p)!r} does not exist")
    _check_npz_members(p)
    try:
        with np.load(p, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise ValueError(
                f"{str(p)!r} holds pickled (object) arrays; only plain numeric arrays are read"
            ) from None
        raise
    except (OSError, EOFError, __import__("zipfile").BadZipFile) as exc:
        raise ValueError(f"{str(p)!r} is not a readable .npz file: {exc}") from None
