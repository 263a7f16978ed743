"""The results table of docs/results.md: report hubs -> committed data -> page (never typed by hand).

``collect``: for every finished run in the given hubs (scenario, profile, reconstruction:
the PINN, the PINN + physics refinement when the run refined, the network's physics input
alone when it has one) the medians over the seeds of amplitude SSIM beside its flat
baseline, Pearson r, MAE, least-squares scale, epochs, training and refinement time are
written to a committed JSON file with the command and commit that produced them.
``render``: that file -> the table between the results markers of ``docs/results.md``;
``render --check`` fails when the page is stale (run by the tests).

Run: .venv/bin/python scripts/results_table.py collect reports/<hub> [...] --out docs/data/results_stable.json
     .venv/bin/python scripts/results_table.py render [--check]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from ptycho_helpers.hub.results import run_rows

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- results:start -->", "<!-- results:end -->"
DATA = ROOT / "docs" / "data" / "results_stable.json"
PAGE = ROOT / "docs" / "results.md"
README = ROOT / "README.md"
MAKE_RUN = ROOT / "docs" / "data" / "make_run.json"
MR_START, MR_END = "<!-- make-run:start -->", "<!-- make-run:end -->"


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


def aggregate(rows: list[dict]) -> list[dict]:
    """One row per (scenario, profile, model/training, reconstruction): medians over its runs."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["profile"], r["variant"], r["stage"]), []).append(r)
    out = []
    for (sc, prof, variant, stage), rs in sorted(groups.items()):
        out.append(
            {
                "scenario": sc,
                "profile": prof,
                "variant": variant,
                "stage": stage,
                "runs": len(rs),
                "seeds": [x["seed"] for x in rs],
                **{k: _median(rs, k) for k in ("amp_ssim", "flat_ssim", "pearson_r", "mae", "ls_scale")},
                "epochs": _median(rs, "epochs"),
                "train_s": _median(rs, "train_s"),
                "refine_s": _median(rs, "refine_s"),
            }
        )
    return out


def markdown(doc: dict) -> str:
    lines = [
        "| scenario | profile | model/training | reconstruction | runs (seeds) | amp SSIM (median) | flat baseline | SSIM − flat | Pearson r | MAE | LS scale | epochs | train time | refine time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in doc["rows"]:
        seeds = ",".join(str(x) for x in r["seeds"])
        lines.append(
            f"| {r['scenario']} | {r['profile']} | {r['variant']} | {r['stage']} | {r['runs']} ({seeds}) | "
            f"{r['amp_ssim']:.3f} | {r['flat_ssim']:.3f} | {r['amp_ssim'] - r['flat_ssim']:+.3f} | "
            f"{r['pearson_r']:.3f} | {r['mae']:.3f} | {r['ls_scale']:.3f} | {r['epochs']:.0f} | {r['train_s']:.0f} s | "
            + (f"{r['refine_s']:.0f} s |" if r["refine_s"] is not None else "— |")
        )
    prov = doc["provenance"]
    lines += [
        "",
        f"Data: `docs/data/results_stable.json` (commit {prov['commit']}; {prov['machine']}). "
        f"Command: `{prov['command']}`.",
    ]
    return "\n".join(lines)


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def make_run_table(doc: dict) -> str:
    """The README's table: scenario, reconstruction, amp SSIM, flat, reference metric, r, from
    the summary rows of one ``make run`` (``docs/data/make_run.json``)."""
    header = [c.strip() for c in doc["summary_header"].strip("|").split("|")]
    keep = ["scenario", "reconstruction", "amp SSIM", "flat baseline", "reference-metric SSIM", "Pearson r"]
    lines = ["| " + " | ".join(keep) + " |", "|" + " --- |" * len(keep)]
    for row in doc["summary_rows"]:
        cells = dict(zip(header, (c.strip() for c in row.strip().strip("|").split("|")), strict=True))
        cells["scenario"] = cells["scenario"].split("]")[0].lstrip("[")
        lines.append("| " + " | ".join(cells[k] for k in keep) + " |")
    lines += ["", f"Command: {doc['command']}; commit {doc['git_sha'][:7]}."]
    return "\n".join(lines)


def make_run_record(hub: Path, command: str) -> dict:
    """The summary rows of one ``make run`` hub (its results table), its commit and the
    stage timings of each run: what ``docs/data/make_run.json`` holds."""
    lines = (hub / "summary.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| scenario |"))
    rows = [line for line in lines[start + 2 :] if line.startswith("| ")]
    if not rows:
        raise SystemExit(f"{hub}/summary.md has no results rows")
    metas = {p.parent.name: json.loads(p.read_text()) for p in sorted(hub.glob("*/run_metadata.json"))}
    shas = {m.get("git_sha") for m in metas.values()}
    if len(shas) != 1:
        raise SystemExit(f"{hub}: runs of several commits {shas}")
    return {
        "command": command,
        "git_sha": shas.pop(),
        "hub": f"{hub.name} (git-ignored, not committed; these rows are its summary.md)",
        "summary_header": lines[start],
        "summary_rows": rows,
        "timings_s": {name: m.get("timings_s") for name, m in metas.items()},
    }


def _fill(path: Path, start: str, end: str, table: str, check: bool) -> int:
    text = path.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{path} lacks the markers {start} ... {end}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    new = f"{head}{start}\n{table}\n{end}{tail}"
    if check:
        if new != text:
            print(f"{path.relative_to(ROOT)} is stale: run scripts/results_table.py render", file=sys.stderr)
            return 1
        return 0
    path.write_text(new)
    return 0


def render(check: bool) -> int:
    rc = _fill(PAGE, START, END, markdown(json.loads(DATA.read_text())), check)
    return rc | _fill(README, MR_START, MR_END, make_run_table(json.loads(MAKE_RUN.read_text())), check)


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="hubs -> the committed results data")
    c.add_argument("hubs", nargs="+", type=Path)
    c.add_argument("--out", type=Path, default=DATA)
    c.add_argument("--command", default="", help="the command that made the hubs (recorded)")
    c.add_argument("--machine", default="2 cores", help="where the hubs ran (recorded)")
    r = sub.add_parser("render", help="the committed data -> docs/results.md")
    r.add_argument("--check", action="store_true", help="exit 1 when the page is stale")
    m = sub.add_parser("make-run", help="one `make run` hub -> docs/data/make_run.json (then render)")
    m.add_argument("hub", type=Path)
    m.add_argument("--command", default="make run (python -m ptycho_helpers rerun)", help="recorded")
    a = ap.parse_args()
    if a.cmd == "render":
        return render(a.check)
    if a.cmd == "make-run":
        MAKE_RUN.write_text(
            json.dumps(make_run_record(a.hub, a.command), indent=1, ensure_ascii=False) + "\n"
        )
        return render(False)
    doc = {
        "provenance": {
            "command": a.command,
            "commit": _commit(),
            "machine": a.machine,
            "hubs": [h.name for h in a.hubs],
        },
        "rows": aggregate(collect(a.hubs)),
    }
    a.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
