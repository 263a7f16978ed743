"""Boundary checks shared by every layer: numbers, choices and names, with messages that
say what was expected (``group_count=300 is out of range; it must be >= 1``).

A leaf module: it imports nothing of the package, so the config records and every layer
can use it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import numpy as np

NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")  # used with fullmatch: "$" would pass "name\n"


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as a Python int; reject bools, non-integral floats, out of range."""
    if isinstance(value, np.integer):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ValueError(f"{name} must be an integer, got {value!r}")
        value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}={value} is out of range; it must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}={value} is out of range; it must be <= {maximum}")
    return value


def check_float(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive: bool = False,
) -> float:
    """Return ``value`` as a finite Python float within the given bounds."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if exclusive:
        lo_bad = minimum is not None and out <= minimum
        hi_bad = maximum is not None and out >= maximum
        rng = f"in ({minimum}, {maximum})" if maximum is not None else f"> {minimum}"
    else:
        lo_bad = minimum is not None and out < minimum
        hi_bad = maximum is not None and out > maximum
        rng = f"in [{minimum}, {maximum}]" if maximum is not None else f">= {minimum}"
    if lo_bad or hi_bad:
        raise ValueError(f"{name}={out!r} is out of range; it must be {rng}")
    return out


def check_bool(name: str, value: Any) -> bool:
    """Accept only real booleans (``0``/``"false"`` are rejected to avoid silent surprises)."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise TypeError(f"{name} must be true or false, got {value!r}")


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {', '.join(allowed)}")
    return value


#: longest name (bytes): a run's files beside its folder (``<name>_runner.log``,
#: ``<name>_status.json``) must stay within the 255-byte file-name limit of common file systems
MAX_NAME_BYTES = 200


def check_name(kind: str, value: Any) -> str:
    """Names used as file/folder names: ``[A-Za-z0-9_.-]+``, not ``.``/``..``, at most
    :data:`MAX_NAME_BYTES` long."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value) or set(value) == {"."}:
        raise ValueError(
            f"{kind} name {value!r} is not allowed; use letters, digits, '_', '-', '.' "
            "(no path separators, not '.' or '..')"
        )
    if len(value.encode()) > MAX_NAME_BYTES:
        raise ValueError(
            f"{kind} name {value[:40]}... is {len(value.encode())} bytes long; names are limited to "
            f"{MAX_NAME_BYTES} (file-name limit of the file system); vary fewer settings in one sweep"
        )
    return value


def setting(
    default: Any,
    doc: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive: bool = False,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """Declare a record field once: its default, a one-line doc and its bounds or choices.

    :meth:`Record.check_fields` validates every such field from this declaration (the type
    from the annotation); the knob table, the CLI help, the notebook parameters and the
    options page read the doc and the choices from here.
    """
    meta = {"doc": doc, "minimum": minimum, "maximum": maximum, "exclusive": exclusive, "choices": choices}
    return dataclasses.field(default=default, metadata=meta)


def same_as(record: type, name: str, default: Any = dataclasses.MISSING) -> Any:
    """The field ``name`` of another record, declared there once (doc, bounds, choices),
    optionally with another default: a run setting that lands in a model/training record."""
    f = {x.name: x for x in dataclasses.fields(record)}[name]
    return dataclasses.field(
        default=f.default if default is dataclasses.MISSING else default, metadata=f.metadata
    )


def base_type(type_text: Any) -> str:
    """The value type a field annotation names: ``"float | None"`` → ``"float"``."""
    return str(type_text).split("|")[0].strip()


def check_declared(name: str, type_text: str, value: Any, meta: Any) -> Any:
    """Validate one value against a field declared with :func:`setting` (its type text and
    metadata): the one rule records, profiles and the knob table share."""
    base = base_type(type_text)
    if value is None and "None" in type_text:
        return None
    if meta["choices"] is not None:
        return check_choice(name, value, meta["choices"])
    if base == "int":
        return check_int(name, value, minimum=meta["minimum"], maximum=meta["maximum"])
    if base == "float":
        return check_float(
            name, value, minimum=meta["minimum"], maximum=meta["maximum"], exclusive=meta["exclusive"]
        )
    if base == "bool":
        return check_bool(name, value)
    if base == "str" and not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r}")
    return value


class Record:
    """Dict conversion for the frozen config records: ``from_dict`` refuses unknown keys
    and names the allowed ones; :meth:`check_fields` validates the fields declared with
    :func:`setting`."""

    def check_fields(self) -> None:
        """Validate and normalise (``np.int64`` → ``int``, ``1`` → ``1.0``) every field
        declared with :func:`setting`, in declaration order."""
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if "doc" in f.metadata:
                value = check_declared(f.name, str(f.type), getattr(self, f.name), f.metadata)
                object.__setattr__(self, f.name, value)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        if not isinstance(data, dict):
            raise TypeError(f"{cls.__name__}.from_dict expects a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} key(s) {unknown}; allowed keys: {sorted(known)}")
        return cls(**data)
