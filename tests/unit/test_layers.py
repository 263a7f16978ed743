"""The package's layering (DESIGN §2): each layer imports only downward.

Static: every ``import``/``from`` of every module is read with ``ast`` (function-level
imports included) and checked against the table below.  Dynamic: importing the package
and the parent-side modules loads neither TensorFlow nor Keras.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "ptycho_helpers"
TOP_CONFIG = {"config", "knobs", "scenarios", "profiles"}
LAYERS = {"core", "pinn", "run", "hub", "plan"}
#: layer -> the layers it may import ("top-config" = config, knobs, scenarios, profiles).
#: ``plan`` is the one seam both processes call: the parent (runs, sweep, cli) and the
#: kernel (run) import it; it imports neither. No exceptions.
ALLOWED = {
    "core": {"core"},
    "config": {"core", "top-config"},
    "pinn": {"core", "pinn", "top-config"},
    "hub": {"core", "hub", "top-config"},
    "plan": {"core", "hub", "top-config", "plan"},
    "run": {"core", "pinn", "hub", "run", "top-config", "plan"},
    "parent": {"core", "hub", "top-config", "parent", "plan"},
}
THIRD_PARTY_FORBIDDEN = {
    "core": {"tensorflow", "keras", "torch", "jax"},
    "hub": {"tensorflow", "keras"},
    "plan": {"tensorflow", "keras", "torch", "jax"},
}


def _layer_of(rel: Path) -> str:
    if len(rel.parts) > 1:
        return rel.parts[0]
    name = rel.stem
    return "config" if name in TOP_CONFIG else "parent"


def _target(module: str) -> str | None:
    """Classify ``ptycho_helpers.x.y`` by the table's vocabulary."""
    parts = module.split(".")
    if parts[0] != "ptycho_helpers":
        return None
    if len(parts) == 1:
        return "parent"  # the package __init__
    head = parts[1]
    if head in LAYERS:
        return head
    if head in TOP_CONFIG:
        return "top-config"
    return "parent"


def _imports(path: Path, root: Path) -> list[tuple[int, str]]:
    rel = path.relative_to(root)
    pkg_parts = ["ptycho_helpers", *rel.parts[:-1]]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[: len(pkg_parts) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:  # from . import a, b
                    out += [(node.lineno, f"{mod}.{a.name}") for a in node.names]
                    continue
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
    return out


def violations(root: Path = PKG) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        layer = _layer_of(rel)
        for line, mod in _imports(path, root):
            top = mod.split(".")[0]
            if top in THIRD_PARTY_FORBIDDEN.get(layer, set()):
                bad.append(f"{rel}:{line} imports {mod} (layer {layer} is numpy-only)")
            target = _target(mod)
            if target is None:
                continue
            if target not in ALLOWED[layer]:
                bad.append(f"{rel}:{line} imports {mod} ({layer} may import only {sorted(ALLOWED[layer])})")
    return bad


def test_every_import_goes_downward():
    assert violations() == []


@pytest.mark.parametrize(
    "module, planted, expected",
    [
        # a core module importing the run layer or TensorFlow
        (
            "core/physics.py",
            "from ..run import stages\n    import keras",
            ["imports ptycho_helpers.run", "keras"],
        ),
        # the seam: plan importing the kernel side (run) or the parent side (runs)
        (
            "plan/telemetry.py",
            "from ..run import record\n    from .. import runs",
            ["imports ptycho_helpers.run ", "imports ptycho_helpers.runs"],
        ),
    ],
    ids=["core-upward", "plan-upward"],
)
def test_planted_violation_is_caught(tmp_path, module, planted, expected):
    """The rule checker itself fails on a planted upward import."""
    import shutil

    shutil.copytree(PKG, tmp_path / "ptycho_helpers")
    path = tmp_path / "ptycho_helpers" / module
    path.write_text(path.read_text() + f"\n\ndef _x():\n    {planted}\n")
    bad = violations(tmp_path / "ptycho_helpers")
    for text in expected:
        assert any(module in b and text in b for b in bad), (text, bad)


@pytest.mark.parametrize(
    "module", ["ptycho_helpers", "ptycho_helpers.cli", "ptycho_helpers.runs", "ptycho_helpers.sweep"]
)
def test_parent_side_imports_no_tensorflow(module):
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_module_over_400_lines():
    long = {
        str(p.relative_to(PKG)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}
