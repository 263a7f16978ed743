"""Score the saved models of finished hubs on both protocols' canonical test sets
(``run.test_sets``) at no training cost: for hubs made before ``--test-sets`` existed, or
without it.  Each run folder's bundle (``train_outputs/``) is loaded, the run's settings
are read from its ``run_metadata.json``, and the ``test_sets`` block it would have had is
written — into one JSON file, never into the hub (hubs are immutable).

Run: .venv/bin/python scripts/test_sets_of.py reports/<hub> [...] --out scratch/test_sets.json [--no-ceiling]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace


def resolved_of(meta: dict):
    """The run's resolved settings (``params``, ``spec``) from its metadata."""
    from ptycho_helpers.config import RunParams, ScenarioSpec

    r = meta["resolved"]
    return SimpleNamespace(
        params=RunParams.from_dict(r["params"]), spec=ScenarioSpec.from_dict(r["scenario"])
    )


def score_run(folder: Path, ceiling: bool = True) -> dict:
    from ptycho_helpers.pinn.bundle import load_bundle
    from ptycho_helpers.run.test_sets import score_model

    meta = json.loads((folder / "run_metadata.json").read_text())
    bundle = load_bundle(folder / "train_outputs")
    t = time.perf_counter()
    block = score_model(
        resolved_of(meta),
        bundle.diffraction_to_obj,
        bundle.model_config,
        bundle.scales.input_gain,
        bundle.probe,
        ceiling=ceiling,
    )
    block["wall_s"] = round(time.perf_counter() - t, 1)
    return block


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("hubs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--no-ceiling",
        action="store_true",
        help="leave the ceilings out (gridsize 2: a classical solve of every test group, most of the cost)",
    )
    a = ap.parse_args(argv)
    folders = sorted(
        f.parent
        for hub in a.hubs
        for f in hub.glob("*/run_metadata.json")
        if (f.parent / "train_outputs" / "bundle.json").is_file()
    )
    if not folders:
        print(f"error: no run folder with a saved model in {[str(h) for h in a.hubs]}", file=sys.stderr)
        return 2
    done = json.loads(a.out.read_text()) if a.out.is_file() else {}
    for folder in folders:
        key = f"{folder.parent.name}/{folder.name}"
        if key in done:
            continue
        done[key] = score_run(folder, ceiling=not a.no_ceiling)
        a.out.write_text(json.dumps(done, indent=1) + "\n")  # after every run: an interruption loses one
        tiles, rand = done[key]["grid_tiles"]["tiles"], done[key]["random_half"]["overlap"]
        print(f"{key}: grid tiles {tiles['amp_ssim']:.3f}, random half {rand['amp_ssim']:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
