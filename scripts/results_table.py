"""The results table of docs/results.md: report hubs -> committed data -> page (never typed by hand).

``collect``: for every finished run in the given hubs (scenario, profile, reconstruction:
the PINN, the PINN + physics refinement when the run refined, the network's physics input
alone when it has one) the medians over the seeds of amplitude SSIM beside its flat
baseline, Pearson r, MAE, least-squares scale, epochs, training and refinement time are
written to a committed JSON file with the command and commit that produced them.
``render``: that file -> the table between the results markers of ``docs/results.md``;
``render --check`` fails when the page is stale (run by the tests).

``dose``: the runs of the given hubs (any scenario, dose, seed, step budget) -> one row per
run in ``docs/data/dose.json`` (PINN, its physics input alone, flat, the classical engine
from a flat start and from the PINN, the per-group solve, and the classical engine's SSIM
at every monitored iteration), rendered as the dose table and the time-to-accuracy table
of ``docs/results.md`` (issue 28).

Run: .venv/bin/python scripts/results_table.py collect reports/<hub> [...] --out docs/data/results_stable.json
     .venv/bin/python scripts/results_table.py dose reports/<hub> [...] --command "..."
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
DOSE = ROOT / "docs" / "data" / "dose.json"
DOSE_START, DOSE_END = "<!-- dose:start -->", "<!-- dose:end -->"
TTA_START, TTA_END = "<!-- time-to-accuracy:start -->", "<!-- time-to-accuracy:end -->"
BENCH = ROOT / "docs" / "data" / "benchmarks.json"
BENCH_PAGE = ROOT / "docs" / "benchmarks.md"
BENCH_START, BENCH_END = "<!-- bench:start (scripts/results_table.py bench) -->", "<!-- bench:end -->"


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
    return _median_of([x[key] for x in rows])


def _median_of(values: list) -> float | None:
    values = [v for v in values if v is not None]
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


def _ssim(block: dict | None) -> float | None:
    amp = (block or {}).get("amplitude") or {}
    return None if amp.get("ssim") is None else round(amp["ssim"], 4)


def dose_rows(hubs: list[Path]) -> list[dict]:
    """One row per finished run of ``hubs``: what the dose and time-to-accuracy tables read."""
    rows = []
    for hub in hubs:
        for meta_path in sorted(hub.glob("*/run_metadata.json")):
            meta = json.loads(meta_path.read_text())
            cm_path = meta_path.parent / "comparison_metrics.json"
            if meta.get("status") != "complete" or not cm_path.exists():
                continue
            cm = json.loads(cm_path.read_text())
            cl = cm.get("classical") or {}
            info = cl.get("classical") or {}
            t = meta.get("timings_s") or {}
            rows.append(
                {
                    "scenario": meta["scenario"],
                    "seed": meta["seeds"]["train_seed"],
                    "object_seed": meta["seeds"]["object_seed"],
                    "sim_seed": meta["seeds"]["sim_seed"],
                    "nphotons": meta["resolved"]["params"]["nphotons"],
                    "steps": meta["training"].get("steps_run"),
                    "train_groups": meta["counts"]["train_groups"],
                    "physics_input": (meta.get("model") or {}).get("physics_input", "member"),
                    "test_groups": meta["counts"]["test_groups_stitched"],
                    "flat_ssim": round(cm["baselines"]["flat"]["ssim"], 4),
                    "input_alone_amp_ssim": _ssim(cm.get("backprojection")),
                    "pinn_amp_ssim": _ssim(cm),
                    "classical_flat_start_amp_ssim": _ssim(cl),
                    "classical_pinn_start_amp_ssim": _ssim(cl.get("seeded")),
                    "classical_iterations": info.get("iterations"),
                    "classical_ssim_curve": info.get("ssim_curve"),
                    "classical_pinn_start_ssim_curve": info.get("seeded_ssim_curve"),
                    "ceiling_amp_ssim": None
                    if (cm.get("ceiling") or {}).get("amp_ssim") is None
                    else round(cm["ceiling"]["amp_ssim"], 4),
                    "train_s": t.get("train"),
                    "inference_s": t.get("inference"),
                    "classical_s": info.get("wall_s"),
                    "classical_pinn_start_s": info.get("seeded_wall_s"),
                    "git_sha": meta.get("git_sha"),
                }
            )
    return sorted(
        rows,
        key=lambda r: (
            r["scenario"],
            r["nphotons"],
            r["train_groups"],
            r["steps"] or 0,
            r.get("physics_input", "member"),
            r["seed"],
        ),
    )


def _f(x: float | None, fmt: str = ".3f") -> str:
    return "—" if x is None else format(x, fmt)


def _cells(rows: list[dict]) -> dict[tuple, list[dict]]:
    """The runs of each (scenario, dose, training/test groups, step budget, physics input),
    in the data's order."""
    cells: dict[tuple, list[dict]] = {}
    for r in rows:
        groups = f"{r['train_groups']} / {r['test_groups']}"
        key = (r["scenario"], r["nphotons"], groups, r["steps"], r.get("physics_input", "member"))
        cells.setdefault(key, []).append(r)
    return cells


DOSE_KEYS = (
    "flat_ssim",
    "input_alone_amp_ssim",
    "pinn_amp_ssim",
    "classical_flat_start_amp_ssim",
    "ceiling_amp_ssim",
)


def _added(r: dict) -> float | None:
    """What training added over the physics input (``None`` without one)."""
    return None if r["input_alone_amp_ssim"] is None else r["pinn_amp_ssim"] - r["input_alone_amp_ssim"]


def dose_table(doc: dict) -> str:
    """Per run, then the median of each (scenario, dose, budget) over its seeds."""
    lines = [
        "| scenario | photons | groups (train / test) | steps | physics input | seed | flat | input alone | PINN | "
        'what training added | classical mPIE (flat start) | per-group solve ("ceiling") |',
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def line(cell: tuple, seed: str, r: dict, added: float | None, bold: str = "") -> str:
        sc, ph, groups, steps, physics_input = cell
        return (
            f"| {sc} | {_photons(ph)} | {groups} | {steps} | {physics_input} | {seed} | {_f(r['flat_ssim'])} | {_f(r['input_alone_amp_ssim'])} | "
            f"{bold}{_f(r['pinn_amp_ssim'])}{bold} | {_f(added, '+.3f')} | "
            f"{bold}{_f(r['classical_flat_start_amp_ssim'])}{bold} | {_f(r['ceiling_amp_ssim'])} |"
        )

    for cell, rs in _cells(doc["rows"]).items():
        lines += [line(cell, str(r["seed"]), r, _added(r)) for r in rs]
        if len(rs) > 1:
            med = {k: _median(rs, k) for k in DOSE_KEYS}
            lines.append(line(cell, f"median of {len(rs)}", med, _median_of([_added(r) for r in rs]), "**"))
    prov = doc["provenance"]
    lines += ["", f"Data: `docs/data/dose.json` ({prov['machine']}). Command: `{prov['command']}`."]
    return "\n".join(lines)


def first_reach(curve: list | None, target: float | None) -> int | None:
    """First monitored iteration whose SSIM reaches ``target`` (``None``: never reached)."""
    if not curve or target is None:
        return None
    return next((int(it) for it, v in curve if v >= target), None)


def time_to_accuracy(doc: dict) -> str:
    """Wall seconds to reach two SSIM levels: the PINN's and the classical engine's best
    (over its monitored iterations; at low dose it overfits the noise after a few), per
    (scenario, dose, budget), medians over seeds. A classical iteration costs its stage's
    wall time / iterations (the monitoring is inside that time); the PINN's training is
    shown apart, it is paid once per model, not per scan."""
    lines = [
        "| scenario | photons | groups (train / test) | steps | physics input | seeds | "
        "PINN: SSIM, inference s (training s) | "
        "classical (flat start): best SSIM at iteration; at 50 | classical: s to the PINN's SSIM | "
        "classical: s to its best | PINN + classical finish: s to the classical best |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (sc, ph, groups, steps, physics_input), rs in _cells(
        [r for r in doc["rows"] if r.get("classical_ssim_curve")]
    ).items():
        cols: dict[str, list] = {k: [] for k in ("best", "best_it", "to_pinn", "to_best", "finish")}
        for r in rs:
            per_it = r["classical_s"] / r["classical_iterations"]
            b_it, b = max(r["classical_ssim_curve"], key=lambda c: c[1])
            cols["best"].append(b)
            cols["best_it"].append(b_it)
            it = first_reach(r["classical_ssim_curve"], r["pinn_amp_ssim"])
            cols["to_pinn"].append(None if it is None else it * per_it)
            cols["to_best"].append(b_it * per_it)
            seeded_it = first_reach(r["classical_pinn_start_ssim_curve"], b)
            cols["finish"].append(
                None
                if seeded_it is None
                else r["inference_s"] + seeded_it * r["classical_pinn_start_s"] / r["classical_iterations"]
            )
        med = {k: _median_of(v) for k, v in cols.items()}
        never = sum(v is None for v in cols["finish"])
        note = (
            f" ({never} of {len(rs)} never, in {rs[0]['classical_iterations']} iterations)" if never else ""
        )
        lines.append(
            f"| {sc} | {_photons(ph)} | {groups} | {steps} | {physics_input} | {len(rs)} | "
            f"{_median_of([r['pinn_amp_ssim'] for r in rs]):.3f}, {_median_of([r['inference_s'] for r in rs]):.1f} s "
            f"({_median_of([r['train_s'] for r in rs]):.0f} s) | {med['best']:.3f} at {med['best_it']:.0f}; "
            f"{_median_of([r['classical_flat_start_amp_ssim'] for r in rs]):.3f} | {_f(med['to_pinn'], '.1f')} | "
            f"{med['to_best']:.1f} | {_f(med['finish'], '.1f')}{note} |"
        )
    return "\n".join(lines)


def _photons(ph: float) -> str:
    return f"{ph:.0e}".replace("e+0", "e").replace("e+", "e")


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


def bench_table(doc: dict) -> str:
    """The table of one ``make bench`` run (``benchmarks/table.py``, as in its results.md)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import table
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    prov = doc["provenance"]
    m = doc["results"]["machine"]
    return (
        table.markdown(doc["results"])
        + f"\n\nOne run of `{prov['command']}` ({prov['date']}, commit {prov['commit']}; {m['cpus']} CPUs, "
        f"{prov['machine']}); data: `docs/data/benchmarks.json`."
        + "".join(f" The `{k}` rows come from a later run: {v}." for k, v in prov.get("sections", {}).items())
    )


def render(check: bool) -> int:
    rc = _fill(PAGE, START, END, markdown(json.loads(DATA.read_text())), check)
    rc |= _fill(README, MR_START, MR_END, make_run_table(json.loads(MAKE_RUN.read_text())), check)
    dose = json.loads(DOSE.read_text())
    rc |= _fill(PAGE, DOSE_START, DOSE_END, dose_table(dose), check)
    rc |= _fill(PAGE, TTA_START, TTA_END, time_to_accuracy(dose), check)
    return rc | _fill(BENCH_PAGE, BENCH_START, BENCH_END, bench_table(json.loads(BENCH.read_text())), check)


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
    d = sub.add_parser("dose", help="hubs -> docs/data/dose.json (then render)")
    d.add_argument("hubs", nargs="+", type=Path)
    d.add_argument("--command", required=True, help="the command that made the hubs (recorded)")
    d.add_argument("--machine", default="2 CPU cores", help="where the hubs ran (recorded)")
    b = sub.add_parser(
        "bench", help="benchmarks/results.json of one `make bench` -> docs/data/benchmarks.json"
    )
    b.add_argument("results", type=Path)
    b.add_argument("--date", required=True, help="when it ran (recorded)")
    b.add_argument("--commit", required=True, help="the commit it ran at (recorded)")
    b.add_argument("--machine", default="idle", help="the cores' load while it ran (recorded)")
    b.add_argument(
        "--section",
        action="append",
        default=[],
        metavar="NAME=FILE[=NOTE]",
        help="a results_NAME.json of a later run of one benchmark (e.g. runs, backends) that replaces that "
        "section; its ratios are against baselines of its own run; NOTE (when and why) is recorded",
    )
    a = ap.parse_args()
    if a.cmd == "bench":
        results = json.loads(a.results.read_text())
        if results.get("smoke") or "runs" not in results:
            raise SystemExit(f"{a.results} is a --smoke run; the docs take a full `make bench`")
        prov = {"command": "make bench", "date": a.date, "commit": a.commit, "machine": a.machine}
        for spec in a.section:
            name, path, *note = spec.split("=", 2)
            part = json.loads(Path(path).read_text())
            results[name] = {k: v for k, v in part.items() if k not in ("benchmark", "machine")}
            prov.setdefault("sections", {})[name] = f"`python benchmarks/bench_{name}.py`" + (
                f", {note[0]}" if note else ""
            )
        BENCH.write_text(json.dumps({"provenance": prov, "results": results}, indent=1) + "\n")
        return render(False)
    if a.cmd == "dose":
        doc = {"provenance": {"command": a.command, "machine": a.machine}, "rows": dose_rows(a.hubs)}
        DOSE.write_text(json.dumps(doc, indent=1) + "\n")
        return render(False)
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
