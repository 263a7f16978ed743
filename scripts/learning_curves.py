"""Overlay the learning curves (SSIM and loss against optimiser steps) of runs from hubs.

Reads ``<hub>/<run>/train_outputs/learning_curve.json`` of every complete run in the given
hubs (optionally only runs whose name contains ``--match``) and writes one PNG with two
panels — amplitude SSIM on the fixed monitor groups, and the training loss — plus a JSON
of the curves.  Hubs are never written into: the output goes where ``--out`` says.

Run: .venv/bin/python scripts/learning_curves.py reports/<hub> [...] --out curves.png [--match gs2_grid]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def complete_runs(hubs: list[Path], pattern: str = "*"):
    """``(hub, run folder, run_metadata, learning curve)`` of every complete run whose
    folder name matches ``pattern`` (a glob) in the given hubs, in name order (also read by
    ``fidelity_curves.py`` and ``precision_curves.py``)."""
    for hub in hubs:
        for path in sorted(hub.glob(f"{pattern}/train_outputs/learning_curve.json")):
            folder = path.parents[1]
            meta = json.loads((folder / "run_metadata.json").read_text())
            if meta.get("status") == "complete":
                yield hub, folder, meta, json.loads(path.read_text())


def collect(hubs: list[Path], match: str | None = None) -> dict[str, dict]:
    return {
        f"{hub.name}/{folder.name}": curve
        for hub, folder, _, curve in complete_runs(hubs)
        if not match or match in folder.name
    }


def plot(curves: dict[str, dict], out: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2))
    ax_s, ax_l = fig.subplots(1, 2)
    for name, c in curves.items():
        label = name.split("/", 1)[1]
        if "amp_ssim" in c:
            ax_s.plot(c["step"], c["amp_ssim"], label=label)
        ax_l.plot(c["step"], c["loss"], label=label)
    ax_s.set(xlabel="optimiser step", ylabel="amplitude SSIM (monitor groups)", title="learning curve")
    ax_l.set(xlabel="optimiser step", ylabel="training loss", yscale="log", title="loss")
    ax_s.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("hubs", nargs="+", type=Path)
    ap.add_argument(
        "--out", type=Path, required=True, help="PNG to write (a .json with the curves beside it)"
    )
    ap.add_argument("--match", default=None, help="only runs whose name contains this")
    a = ap.parse_args(argv)
    curves = collect(a.hubs, a.match)
    if not curves:
        print(f"error: no complete runs with a learning curve under {', '.join(map(str, a.hubs))}")
        return 2
    a.out.parent.mkdir(parents=True, exist_ok=True)
    plot(curves, a.out)
    a.out.with_suffix(".json").write_text(json.dumps(curves, indent=1) + "\n")
    print(f"wrote {a.out} ({len(curves)} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
