"""Each run setting is declared once (type, default, bounds/choices, doc) and every declared
field has a reader in the package: a dead option fails here."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from ptycho_helpers.config import ModelConfig, RunParams, RunSettings, ScenarioSpec, TrainConfig
from ptycho_helpers.core.checks import Record, setting

PKG = Path(__file__).resolve().parents[2] / "ptycho_helpers"
RECORDS = (RunParams, ScenarioSpec, ModelConfig, TrainConfig, RunSettings)
#: where fields are declared, exposed or given values, not read
NOT_READERS = {"config.py", "knobs.py", "profiles.py"}


def _sources() -> str:
    return "\n".join(p.read_text() for p in PKG.rglob("*.py") if p.name not in NOT_READERS)


def unread_fields(records, source: str) -> list[str]:
    """Fields no package module reads as ``x.<name>`` / ``getattr(x, "<name>")`` /
    ``["<name>"]``; a run setting passed on by ``same_as`` counts as read when its
    declaring record's field is."""

    def read(name: str) -> bool:
        return (
            re.search(rf"\.{name}\b|getattr\([^)]*[\"']{name}[\"']|\[[\"']{name}[\"']\]", source) is not None
        )

    declared = {f.name: dict(f.metadata) for r in (ModelConfig, TrainConfig) for f in dataclasses.fields(r)}
    out = []
    for record in records:
        for f in dataclasses.fields(record):
            if f.name == "name":
                continue
            shared = (
                declared.get(f.name) == dict(f.metadata)
                and record is not ModelConfig
                and record is not TrainConfig
            )
            if not read(f.name) and not shared:
                out.append(f"{record.__name__}.{f.name}")
    return out


def test_every_declared_field_has_a_reader():
    assert unread_fields(RECORDS, _sources()) == []


def test_a_planted_dead_field_is_caught():
    @dataclasses.dataclass(frozen=True)
    class Planted(Record):
        realspace_weight_planted: float = setting(0.0, "validated, never read", minimum=0.0)

    assert unread_fields((Planted,), _sources()) == ["Planted.realspace_weight_planted"]


def test_every_knob_field_is_declared_with_a_doc():
    for record in (RunParams, ScenarioSpec, TrainConfig, RunSettings):
        for f in dataclasses.fields(record):
            if f.name != "name":
                assert f.metadata.get("doc"), f"{record.__name__}.{f.name} has no one-line doc"


def test_shared_settings_are_the_same_declaration_not_a_copy():
    """A run setting that lands in the model/training record carries that record's bounds:
    the bound is written once, in ModelConfig/TrainConfig."""
    with pytest.raises(ValueError, match="backprojection=51 is out of range; it must be <= 50"):
        RunSettings(backprojection=51)
    with pytest.raises(ValueError, match="learning_rate=0.0 is out of range"):
        RunSettings(learning_rate=0.0)
    rs = {f.name: f for f in dataclasses.fields(RunSettings)}
    mc = {f.name: f for f in dataclasses.fields(ModelConfig)}
    assert dict(rs["backprojection"].metadata) == dict(mc["backprojection"].metadata)
    assert rs["backprojection"].default == 5 and mc["backprojection"].default == 0


def test_the_model_rule_is_written_once():
    src = (PKG / "config.py").read_text() + (PKG / "plan" / "resolve.py").read_text()
    assert src.count("raise ValueError(SCALE_RULE)") == 1
    assert src.count("works per member pattern") == 1
