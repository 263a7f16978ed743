"""Import of a PtychoPINN-style scenario snapshot JSON (run parameters + scenarios)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import RunParams, ScenarioSpec
from ..core.checks import check_int, check_name
from ..scenarios import SCENARIOS

_SNAPSHOT_TOP = {"run_params", "scenarios"}
_SNAPSHOT_SCENARIO = {"name", "inputs", "defaults", "group_count", "neighbor_count", "reassemble_M"}
_SNAPSHOT_INPUTS = {"gridsize", "probe_mode", "probe_scale", "probe_big", "probe_mask"}


def _expect(obj: Any, typ: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, typ) or isinstance(obj, bool) and typ is not bool:
        names = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise TypeError(f"snapshot key {where!r} must be {names}, got {type(obj).__name__}")
    return obj


def _no_unknown(d: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ValueError(f"snapshot {where} has unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def load_snapshot(
    source: str | Path | Mapping[str, Any],
) -> tuple[RunParams, dict[str, ScenarioSpec], dict[str, dict]]:
    """Import a PtychoPINN-style scenario snapshot JSON.

    The file holds ``run_params`` (RunParams fields) and ``scenarios``, a list of
    ``{name, inputs{gridsize, probe_mode, probe_scale, probe_big, probe_mask},
    defaults{probe_big, probe_mask}, group_count, neighbor_count, reassemble_M}``.
    A null input takes the scenario default (``defaults``, else the built-in scenario of
    that name, else the ScenarioSpec default).

    Returns
    -------
    params : RunParams
    scenarios : dict name -> ScenarioSpec
    extras : dict name -> {group_count, neighbor_count, reassemble_M} given per scenario
    """
    if isinstance(source, Mapping):
        data = dict(source)
        label = "<mapping>"
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"snapshot file {str(path)!r} does not exist")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"snapshot {str(path)!r} is not valid JSON: {exc}") from None
        label = str(path)
    _expect(data, dict, "<top level>")
    _no_unknown(data, _SNAPSHOT_TOP | {"version", "source", "generated"}, "top level")
    for key in _SNAPSHOT_TOP:
        if key not in data:
            raise ValueError(f"snapshot {label} is missing the key {key!r}")
    rp = _expect(data["run_params"], dict, "run_params")
    try:
        params = RunParams.from_dict(rp)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"snapshot key 'run_params': {exc}") from None
    scenarios: dict[str, ScenarioSpec] = {}
    extras: dict[str, dict] = {}
    for i, sc in enumerate(_expect(data["scenarios"], list, "scenarios")):
        where = f"scenarios[{i}]"
        _expect(sc, dict, where)
        _no_unknown(sc, _SNAPSHOT_SCENARIO, where)
        if "name" not in sc:
            raise ValueError(f"snapshot key {where!r} is missing 'name'")
        name = check_name("scenario", _expect(sc["name"], str, f"{where}.name"))
        inputs = _expect(sc.get("inputs") or {}, dict, f"{where}.inputs")
        _no_unknown(inputs, _SNAPSHOT_INPUTS, f"{where}.inputs")
        defaults = _expect(sc.get("defaults") or {}, dict, f"{where}.defaults")
        _no_unknown(defaults, _SNAPSHOT_INPUTS, f"{where}.defaults")
        base = SCENARIOS.get(name) or ScenarioSpec(name)
        values = {}
        for key in _SNAPSHOT_INPUTS:
            v = inputs.get(key)
            if v is None:
                v = defaults.get(key)
            if v is None:
                v = getattr(base, key)
            values[key] = v
        try:
            scenarios[name] = ScenarioSpec(name=name, **values)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"snapshot key '{where}.inputs': {exc}") from None
        extra = {}
        for key in ("group_count", "neighbor_count", "reassemble_M"):
            if sc.get(key) is not None:
                extra[key] = check_int(f"{where}.{key}", sc[key], minimum=1)
        extras[name] = extra
    return params, scenarios, extras
