"""Generate the README's results table from report hubs (never typed by hand).

For every finished run in the given hubs: scenario, profile, reconstruction (the PINN alone,
the PINN + physics refinement when the run refined, the network's physics input alone when
it has one), amplitude SSIM beside its flat
baseline, Pearson r, MAE, least-squares scale, epochs, training and refinement time.  With
``--readme`` the table replaces the block between the README's results markers.

Run: .venv/bin/python scripts/results_table.py reports/<hub> [reports/<hub> ...] [--readme]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from ptycho_helpers.hub.results import run_rows

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- results:start -->", "<!-- results:end -->"


def collect(hubs: list[Path]) -> list[dict]:
    """The result rows (``hub.results.run_rows``, one per reconstruction) of every finished
    run, with the run's profile, model/training variant, seed, epochs and refinement time."""
    rows = []
    for hub in hubs:
        for meta_path in sorted(hub.glob("*/run_metadata.json")):
            meta = json.loads(meta_path.read_text())
            if (
                meta.get("status") != "complete"
                or not (meta_path.parent / "comparison_metrics.json").exists()
            ):
                continue
            prof, st = meta["profile"], meta["settings"]
            variant = f"Adam {st.get('learning_rate')}"
            if st.get("backprojection"):
                variant += f", physics input {st['backprojection']}"
            if st.get("dense_bottleneck"):
                variant += f", dense {st['dense_bottleneck']}"
            if st.get("input_transform", "linear") != "linear":
                variant += f", input {st['input_transform']}"
            if st.get("amp_activation", "softplus") != "softplus":
                variant += f", {st['amp_activation']}"
            run = {
                "variant": variant,
                "profile": prof.get("name", "").split(":")[1]
                if ":" in prof.get("name", "")
                else ("stable" if prof.get("active") else "none"),
                "seed": st.get("seed"),
                "epochs": meta["training"].get("epochs_run"),
            }
            refine_s = (meta.get("refinement") or {}).get("wall_s")
            for r in run_rows(meta_path.parent):
                rows.append({**r, **run, "refine_s": refine_s if r["stage"] != "PINN" else None})
    return rows


def _median(rows: list[dict], key: str) -> float | None:
    values = [x[key] for x in rows if x[key] is not None]
    return statistics.median(values) if values else None


def markdown(rows: list[dict]) -> str:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["profile"], r["variant"], r["stage"]), []).append(r)
    lines = [
        "| scenario | profile | model/training | reconstruction | runs (seeds) | amp SSIM (median) | flat baseline | SSIM − flat | Pearson r | MAE | LS scale | epochs | train time | refine time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (sc, prof, variant, stage), rs in sorted(groups.items()):
        seeds = ",".join(str(x["seed"]) for x in rs)
        refine_s = _median(rs, "refine_s")
        lines.append(
            f"| {sc} | {prof} | {variant} | {stage} | {len(rs)} ({seeds}) | {_median(rs, 'amp_ssim'):.3f} | {_median(rs, 'flat_ssim'):.3f} | "
            f"{_median(rs, 'amp_ssim') - _median(rs, 'flat_ssim'):+.3f} | {_median(rs, 'pearson_r'):.3f} | {_median(rs, 'mae'):.3f} | {_median(rs, 'ls_scale'):.3f} | "
            f"{_median(rs, 'epochs'):.0f} | {_median(rs, 'train_s'):.0f} s | "
            + (f"{refine_s:.0f} s |" if refine_s is not None else "— |")
        )
    lines.append("")
    lines.append(
        "Train time: wall seconds of `fit` on the 2-core machine; runs from sweep hubs share the cores "
        "(2 Dask workers, 1 TensorFlow thread each), runs from `rerun` hubs have both cores."
    )
    lines.append("Source hubs: " + ", ".join(sorted({f"`{r['hub']}`" for r in rows})))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("hubs", nargs="+", type=Path)
    ap.add_argument("--readme", action="store_true", help="write the table into README.md")
    a = ap.parse_args()
    table = markdown(collect(a.hubs))
    print(table)
    if a.readme:
        readme = ROOT / "README.md"
        text = readme.read_text()
        if START not in text or END not in text:
            raise SystemExit(f"README.md lacks the markers {START} ... {END}")
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        readme.write_text(f"{head}{START}\n{table}\n{END}{tail}")


if __name__ == "__main__":
    main()
