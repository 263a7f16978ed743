"""The README's Layout section lists exactly the package's modules and folders."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _layout_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Layout", 1)[1]
    return section.split("```", 2)[1]


def test_layout_lists_every_module_and_nothing_else():
    block = _layout_block()
    listed, folder = set(), ""
    for line in block.splitlines():
        m = re.match(r"^(\s*)(\S+)", line)
        if not m or m.group(2) == "ptycho_helpers/":
            continue
        indent, name = len(m.group(1)), m.group(2)
        if indent == 2 and name.endswith("/"):
            folder = name
        elif indent == 2:
            folder = ""
            listed.add(name)
        elif indent == 4:
            listed.add(folder + name)
    pkg = ROOT / "ptycho_helpers"
    actual = {
        str(p.relative_to(pkg)) for p in pkg.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")
    }
    assert listed == actual, {
        "missing from README": sorted(actual - listed),
        "not in tree": sorted(listed - actual),
    }


def test_reference_fidelity_table_matches_its_committed_data():
    """docs/reference_fidelity.md's table is generated from docs/data/reference_fidelity.json."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    res = subprocess.run(
        [sys.executable, str(root / "scripts" / "fidelity_curves.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr
