"""A finished study hub -> committed study data (``docs/data/study_*.json``) with today's scores.

Re-reads every run folder of the hub with ``design_study.run_scores`` (so scores added
since the study ran, e.g. the classical engine and the ceiling beside the PINN, are in the
data) and redoes the analysis (effects, paired t and bootstrap intervals) on the plan the
hub recorded; writes ``{"provenance", "plan", "scores", "analysis", "verdict"}``. The hub
itself is never written (hubs are immutable).

Run: .venv/bin/python scripts/study_data.py reports/<study hub> --out docs/data/study_NAME.json \\
        --command "the study command" --machine "where it ran" [--test-sets rescored.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ptycho_helpers import design_study
from ptycho_helpers.hub.results import test_set_scores


def collect(hub: Path, test_sets: dict | None = None) -> dict:
    """``test_sets``: ``scripts/test_sets_of.py``'s output for a hub whose runs predate
    ``--test-sets`` (keys ``<hub>/<run>``); its scores fill the canonical-test-set metrics."""
    study = json.loads((hub / "study.json").read_text())
    plan = study["plan"]
    scores = {t["run_name"]: design_study.run_scores(hub / t["run_name"]) for t in plan["tasks"]}
    for run, block in (test_sets or {}).items():
        name = run.split("/", 1)[-1]
        if name in scores:
            scores[name].update(test_set_scores(block))
    analysis = design_study.analyse(plan, scores)
    return {
        "plan": plan,
        "scores": scores,
        "analysis": analysis,
        "verdict": design_study.verdict_lines(plan, analysis),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("hub", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--command", required=True, help="the study command (recorded)")
    ap.add_argument("--machine", default="2 CPU cores", help="where it ran (recorded)")
    ap.add_argument(
        "--test-sets",
        type=Path,
        help="scripts/test_sets_of.py's output for this hub (runs made before --test-sets existed)",
    )
    a = ap.parse_args(argv)
    if not (a.hub / "study.json").is_file():
        print(f"error: {a.hub} has no study.json (not a finished study hub)", file=sys.stderr)
        return 2
    metas = [json.loads(p.read_text()) for p in sorted(a.hub.glob("*/run_metadata.json"))]
    shas = sorted({(m.get("git_sha") or "")[:7] for m in metas} - {""})
    doc = {
        "provenance": {"command": a.command, "machine": a.machine, "hub": a.hub.name, "commits": shas},
        **collect(a.hub, json.loads(a.test_sets.read_text()) if a.test_sets else None),
    }
    a.out.write_text(json.dumps(doc, indent=1) + "\n")
    print("\n".join(doc["verdict"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
