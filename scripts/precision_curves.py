"""fp32 against mixed_bfloat16 on learning curves (issue 26): the committed data and table.

Reads the complete runs of the given hubs (``run <scenario> --steps 2000 --precision P
--curve-every 250 ...``), keeps each run's learning curve (the run's own curve metric: the
reference metric on the whole test object for the grid scenarios, masked amplitude SSIM of
every test group otherwise), its final score and its training seconds per step, and writes
``docs/data/precision_curves.json`` and the table between the markers in
``docs/benchmarks.md``.  ``--check`` fails when the page's table differs from the data
(run in the tests).

Run: .venv/bin/python scripts/precision_curves.py --hubs HUB [HUB ...] [--note TEXT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from learning_curves import complete_runs  # the scripts folder is on sys.path when run

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "precision_curves.json"
PAGE = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- precision:start (scripts/precision_curves.py) -->", "<!-- precision:end -->"
STEPS = (500, 1000, 1500, 2000)


def runs_of(hubs: list[Path]) -> list[dict]:
    out = []
    for hub, _, meta, c in complete_runs(hubs):
        key = "amp_ssim_reference" if "amp_ssim_reference" in c else "amp_ssim"
        settings = meta.get("settings", {})
        steps = int(meta.get("training", {}).get("steps_run") or c["step"][-1])
        out.append(
            {
                "scenario": meta["scenario"],
                "precision": settings.get("precision", "float32"),
                "seed": settings.get("seed"),
                "object_seed": meta.get("seeds", {}).get("object_seed"),
                "metric": "reference metric, whole test object" if key != "amp_ssim" else "masked SSIM",
                "git_sha": (meta.get("git_sha") or "")[:7] or None,
                "hub": hub.name,
                "train_s_per_step": round(meta["timings_s"]["train"] / steps, 4),
                "curve": {int(s): round(v, 4) for s, v in zip(c["step"], c[key], strict=True)},
            }
        )
    return out


def _at(run: dict, step: int) -> float | None:
    return run["curve"].get(step, run["curve"].get(str(step)))


def table(data: dict) -> str:
    runs = data["runs"]
    lines = [
        "| scenario | precision | seeds | "
        + " | ".join(f"SSIM at {s:,}" for s in STEPS)
        + " | s/step (concurrent) |",
        "| --- | --- | --- | " + " | ".join("---" for _ in STEPS) + " | --- |",
    ]
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        groups.setdefault((r["scenario"], r["precision"]), []).append(r)
    for (scenario, precision), rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: r["seed"])
        cells = []
        for s in STEPS:
            vals = [v for v in (_at(r, s) for r in rs) if v is not None]
            cells.append(
                " / ".join(f"{v:.3f}" for v in vals)
                + (f" (mean {statistics.mean(vals):.3f})" if len(vals) > 1 else "")
                if vals
                else "—"
            )
        sps = " / ".join(f"{r['train_s_per_step']:.2f}" for r in rs)
        seeds = ", ".join(str(r["seed"]) for r in rs)
        lines.append(f"| {scenario} | {precision} | {seeds} | " + " | ".join(cells) + f" | {sps} |")
    return "\n".join(lines)


def write_page(text: str, tbl: str) -> str:
    a, b = text.index(START) + len(START), text.index(END)
    return text[:a] + "\n" + tbl + "\n" + text[b:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hubs", nargs="*", type=Path, default=[])
    ap.add_argument("--note", default="", help="how the runs were made (commands, machine load)")
    ap.add_argument("--check", action="store_true", help="fail if the page's table is stale")
    a = ap.parse_args(argv)
    if a.check:
        data = json.loads(DATA.read_text())
        if write_page(PAGE.read_text(), table(data)) != PAGE.read_text():
            print(f"error: the table in {PAGE} differs from {DATA}; rerun scripts/precision_curves.py")
            return 1
        return 0
    runs = runs_of(a.hubs)
    both = {
        sc
        for sc in {r["scenario"] for r in runs}
        if len({r["precision"] for r in runs if r["scenario"] == sc}) > 1
    }
    data = {"note": a.note, "runs": [r for r in runs if r["scenario"] in both]}  # only scenarios run at both
    DATA.write_text(json.dumps(data, indent=1) + "\n")
    PAGE.write_text(write_page(PAGE.read_text(), table(data)))
    print(table(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
