"""Reference fidelity: the reference code's learning curves (measured with
``shared/reference_harness``) beside the workbook's grid runs at the same optimiser steps.

Collects
* reference curves: ``curve.json`` files written by the harness (``--reference
  LABEL=path``, label ``gs1 seed default`` etc.), with the harness provenance given by
  ``--provenance`` (a JSON file: command, commit, versions);
* workbook curves: ``train_outputs/learning_curve.json`` of complete ``gs1_grid`` /
  ``gs2_grid`` runs in the given hubs (the curve must score the whole test object:
  ``curve_groups=0``, so ``amp_ssim_reference`` is the reference metric), with each run's
  seed, head, scale setting, learned scale and final reference metric from its record.

Writes ``docs/data/reference_fidelity.json`` (the committed data every number of the page
comes from), ``docs/reference_fidelity.png`` and the generated table of
``docs/reference_fidelity.md`` (between its ``table`` markers).  ``--check`` rewrites
nothing and fails if the page's table differs from the committed JSON.

Run: .venv/bin/python scripts/fidelity_curves.py --reference "gs2 · seed default"=REF/gs2/curve.json \\
        --provenance prov.json --hubs reports/<hub> ...        (or --check)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from learning_curves import complete_runs  # the scripts folder is on sys.path when run

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "data" / "reference_fidelity.json"
PAGE = ROOT / "docs" / "reference_fidelity.md"
PLOT = ROOT / "docs" / "reference_fidelity.png"
START, END = "<!-- table:start (scripts/fidelity_curves.py) -->", "<!-- table:end -->"
STEPS = (250, 500, 1000, 1500, 2000)
#: the longest budgets this CPU affords (runs of >= 5,000 steps), against the published
#: reference-budget values (REFERENCE_PROTOCOLS.md: gs2 0.952, gs1 0.620 at about 50k steps)
LONG_STEPS = (1000, 2000, 4000, 6000, 8000, 10000)
PUBLISHED = {"gs1_grid": 0.620, "gs2_grid": 0.952}


def reference_rows(path: Path) -> list[dict]:
    return [
        {
            "step": r["step"],
            "amp_ssim": round(r["amp_ssim"], 4),
            "pearson_r": round(r["pearson_r"], 4),
            "flat_ssim": round(r["flat_ssim"], 4),
        }
        for r in json.loads(path.read_text())
    ]


def workbook_runs(hubs: list[Path]) -> list[dict]:
    runs = []
    for hub, folder, meta, c in complete_runs(hubs, "*_grid"):
        if "amp_ssim_reference" not in c:
            continue
        settings = meta.get("settings", {})
        ref = json.loads((folder / "comparison_metrics.json").read_text())["reference"]
        rows = []
        for i, step in enumerate(c["step"]):
            row = {"step": int(step), "amp_ssim": round(c["amp_ssim_reference"][i], 4)}
            if "pearson_r_reference" in c:
                row["pearson_r"] = round(c["pearson_r_reference"][i], 4)
            rows.append(row)
        runs.append(
            {
                "scenario": folder.name,
                "hub": hub.name,
                "seed": settings.get("seed"),
                "amp_activation": settings.get("amp_activation"),
                "intensity_scale": settings.get("intensity_scale", "data"),
                "precision": settings.get("precision", "float32"),
                "intensity_scale_learned": meta.get("scales", {}).get("intensity_scale_learned"),
                "steps": meta.get("training", {}).get("steps_run"),
                "git_sha": (meta.get("git_sha") or "")[:7] or None,
                "final_reference_ssim": round(ref["amplitude"]["ssim"], 4),
                "final_pearson_r": round(ref["amplitude"]["pearson_r"], 4),
                "flat_ssim": round(ref["flat_baseline"]["ssim"], 4),
                "rows": rows,
            }
        )
    return runs


def _value(rows: list[dict], step: int, key: str = "amp_ssim") -> float | None:
    return next((r[key] for r in rows if r["step"] == step and key in r), None)


def at(rows: list[dict], step: int, key: str = "amp_ssim") -> str:
    v = _value(rows, step, key)
    return "—" if v is None else f"{v:.3f}"


def table(data: dict) -> str:
    lines = [
        "| curve | " + " | ".join(f"{s:,}" for s in STEPS) + " | r at 1,000 | r at 2,000 | flat |",
        "| --- " * (len(STEPS) + 4) + "|",
    ]
    for label, rows in data["reference"].items():
        flat = rows[0]["flat_ssim"] if rows else float("nan")
        cells = " | ".join(at(rows, s) for s in STEPS)
        r1, r2 = at(rows, 1000, "pearson_r"), at(rows, 2000, "pearson_r")
        lines.append(f"| reference code, {label} | {cells} | {r1} | {r2} | {flat:.3f} |")
    for run in data["workbook"]:
        label = (
            f"workbook {run['scenario']}, seed {run['seed']}, {run['amp_activation']}, "
            f"scale {run['intensity_scale']}, code {run.get('git_sha') or '?'}"
            + (", mixed bf16" if run.get("precision", "float32") != "float32" else "")
        )
        cells = " | ".join(at(run["rows"], s) for s in STEPS)
        r1 = at(run["rows"], 1000, "pearson_r")
        r2 = (
            f"{run['final_pearson_r']:.3f}"
            if run.get("steps") == 2000
            else at(run["rows"], 2000, "pearson_r")
        )
        lines.append(f"| {label} | {cells} | {r1} | {r2} | {run['flat_ssim']:.3f} |")
    lines += ["", means_table(data)]
    long_runs = [r for r in data["workbook"] if (r.get("steps") or 0) >= 5000]
    if long_runs:
        lines += [
            "",
            "Longest CPU budget (reference metric on the whole test object; published: the paper's value at the "
            "reference budget of about 50,000 steps):",
            "",
            "| run | " + " | ".join(f"{s:,}" for s in LONG_STEPS) + " | final r | flat | published |",
            "| --- " * (len(LONG_STEPS) + 4) + "|",
        ]
        for run in long_runs:
            label = f"workbook {run['scenario']}, seed {run['seed']}, code {run.get('git_sha') or '?'}"
            cells = " | ".join(at(run["rows"], s) for s in LONG_STEPS)
            lines.append(
                f"| {label} | {cells} | {run['final_pearson_r']:.3f} | {run['flat_ssim']:.3f} | "
                f"{PUBLISHED.get(run['scenario'], float('nan')):.3f} |"
            )
    return "\n".join(lines)


#: the done-criterion's steps and tolerance (reference-model issue: ±0.05 at 500, 1,000, 2,000)
CRITERION_STEPS, TOLERANCE = (500, 1000, 2000), 0.05


def newest_per_seed(data: dict, scenario: str) -> list[dict]:
    """The newest workbook run of each seed with the grid profiles' settings (sigmoid head,
    reference scale, float32): what the grid profile gives today, one curve per seed."""
    best: dict[int, dict] = {}
    for run in data["workbook"]:
        if (
            run["scenario"] == scenario
            and run["amp_activation"] == "sigmoid"
            and run["intensity_scale"] == "reference"
            and run.get("precision", "float32") == "float32"
            and (run.get("steps") or 0) <= 2000
        ):
            if run["seed"] not in best or run["hub"] > best[run["seed"]]["hub"]:
                best[run["seed"]] = run
    return [best[k] for k in sorted(best)]


def seed_means(data: dict) -> list[dict]:
    """Per gridsize and criterion step: the reference's seeds and the workbook's (newest run
    per seed), their means and the difference of the means."""
    out = []
    for gs in ("gs1", "gs2"):
        runs = newest_per_seed(data, f"{gs}_grid")
        for step in CRITERION_STEPS:
            ref = [_value(rows, step) for k, rows in data["reference"].items() if k.startswith(gs)]
            ref = [v for v in ref if v is not None]
            measured = [(run["seed"], _value(run["rows"], step)) for run in runs]
            measured = [(seed, v) for seed, v in measured if v is not None]
            wb = [v for _, v in measured]
            if not ref or not wb:
                continue
            rm, wm = sum(ref) / len(ref), sum(wb) / len(wb)
            out.append(
                {
                    "gridsize": gs,
                    "step": step,
                    "reference": ref,
                    "workbook": wb,
                    "workbook_seeds": [seed for seed, _ in measured],
                    "reference_mean": round(rm, 4),
                    "workbook_mean": round(wm, 4),
                    "difference": round(wm - rm, 4),
                    "within": abs(wm - rm) <= TOLERANCE,
                }
            )
    return out


def means_table(data: dict) -> str:
    lines = [
        "Seed means at the criterion's steps (reference: every seed measured with the harness; workbook: the "
        "newest run of each seed with the grid profile's settings, float32):",
        "",
        "| gridsize | step | reference seeds | reference mean (n) | workbook seeds | workbook mean (n) | "
        f"difference | within ±{TOLERANCE} |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in seed_means(data):
        lines.append(
            f"| {m['gridsize']} | {m['step']:,} | {' / '.join(f'{v:.3f}' for v in m['reference'])} | "
            f"{m['reference_mean']:.3f} ({len(m['reference'])}) | {' / '.join(f'{v:.3f}' for v in m['workbook'])} | "
            f"{m['workbook_mean']:.3f} ({len(m['workbook'])}) | {m['difference']:+.3f} | {'yes' if m['within'] else '**no**'} |"
        )
    return "\n".join(lines)


def plot(data: dict, out: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2))
    axes = dict(zip(("gs1", "gs2"), fig.subplots(1, 2), strict=True))
    for label, rows in data["reference"].items():
        ax = axes["gs1" if label.startswith("gs1") else "gs2"]
        ax.plot(
            [r["step"] for r in rows], [r["amp_ssim"] for r in rows], "k-o", lw=2, label=f"reference {label}"
        )
    for run in data["workbook"]:
        ax = axes[run["scenario"][:3]]
        rows = [r for r in run["rows"] if r["step"] > 0]
        ax.plot(
            [r["step"] for r in rows],
            [r["amp_ssim"] for r in rows],
            "--.",
            label=f"workbook seed {run['seed']} {run['amp_activation']}/{run['intensity_scale']}",
        )
    for name, ax in axes.items():
        ax.set(xlabel="optimiser step", ylabel="amp SSIM (reference metric)", title=f"{name} grid protocol")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def write_page(text: str, tbl: str) -> str:
    a, b = text.index(START) + len(START), text.index(END)
    return text[:a] + "\n" + tbl + "\n" + text[b:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", action="append", default=[], help="LABEL=path/to/curve.json")
    ap.add_argument("--provenance", type=Path, help="JSON: how the reference curves were made")
    ap.add_argument("--hubs", nargs="*", type=Path, default=[])
    ap.add_argument("--check", action="store_true", help="fail if the page's table is stale")
    a = ap.parse_args(argv)
    if a.check:
        data = json.loads(DATA.read_text())
        if write_page(PAGE.read_text(), table(data)) != PAGE.read_text():
            print(f"error: the table in {PAGE} differs from {DATA}; rerun scripts/fidelity_curves.py")
            return 1
        return 0
    data = {
        "provenance": json.loads(a.provenance.read_text()) if a.provenance else {},
        "reference": {k: reference_rows(Path(v)) for k, v in (r.split("=", 1) for r in a.reference)},
        "workbook": workbook_runs(a.hubs),
    }
    DATA.write_text(json.dumps(data, indent=1) + "\n")
    plot(data, PLOT)
    PAGE.write_text(write_page(PAGE.read_text(), table(data)))
    print(table(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
