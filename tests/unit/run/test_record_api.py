"""The run record has one writer: stages report through ``ScenarioContext.update`` /
``merge`` / ``timed``, never by mutating ``ctx.meta`` themselves."""

from __future__ import annotations

import re
from pathlib import Path

RUN = Path(__file__).resolve().parents[3] / "ptycho_helpers" / "run"
#: an attribute write, an item write or an in-place update on the metadata, or an alias of it
MUTATION = re.compile(r"\.meta\.\w+(\.\w+)*\s*(=(?!=)|\[|\.update\(|\.append\()|=\s*\w+\.meta\.\w+\s*$")


def mutations(root: Path = RUN) -> list[str]:
    out = []
    for path in sorted(root.glob("*.py")):
        if path.name == "record.py":  # the record API itself
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if MUTATION.search(line):
                out.append(f"{path.name}:{i}: {line.strip()}")
    return out


def test_stages_write_the_run_record_only_through_its_api():
    assert mutations() == []


def test_a_planted_direct_write_is_caught(tmp_path):
    (tmp_path / "stage_x.py").write_text(
        "def f(ctx):\n    ctx.meta.scales['x'] = 1\n    ctx.meta.training.update(a=1)\n    c = ctx.meta.counts\n"
    )
    assert len(mutations(tmp_path)) == 3
