"""Markdown written into hubs: per-scenario inspection notes and the hub's summary.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import results
from .summary_reading import _best, _ceiling_of, _legend, result_line  # noqa: F401 - used here and by readers


def _f(x: Any, nd: int = 3) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    try:
        return f"{float(x):.{nd}f}"
    except (TypeError, ValueError):
        return str(x)


def _cell(key: str, value: Any) -> str:
    if key in ("train_s", "total_s"):
        return _f(value, 1)
    return _f(value) if isinstance(value, float) or value is None else str(value)


def device_line(meta: dict[str, Any]) -> str:
    """Where the network ran, one line (``run_metadata.json["device"]``)."""
    d = meta.get("device") or {}
    if not d:
        return "Device: not recorded (a run from before --device existed)"
    where = f"GPU {d.get('name')}" if d.get("kind") == "gpu" else f"CPU ({d.get('cpus')} cores)"
    mem = d.get("memory_bytes")
    return (
        f"Device: {where}"
        + (f", {mem / 2**30:.0f} GiB" if mem else "")
        + f" (asked: {d.get('requested')}) · "
        f"Keras {d.get('keras_version')} on {d.get('backend')} {d.get('backend_version') or ''}".rstrip()
        + (f" · {d['precision']}" if d.get("precision") else "")
    )


def scenario_notes(name: str, meta: dict[str, Any], stats: dict[str, Any], comparison: dict[str, Any]) -> str:
    """Inspection notes drafted from the numbers, with an empty reviewer section."""
    if not comparison.get("ground_truth_available", True):
        return _notes_without_truth(name, meta, stats, comparison)
    amp, ph = stats["amplitude"], stats["phase"]
    c = comparison
    a = c["amplitude"]
    flat = c["baselines"]["flat"]
    blur8 = c["baselines"]["blur_sigma8"]
    prof = meta["profile"]
    nf = c.get("noise_floor", {})
    bias = a["bias"]
    ref = c.get("refined", {})
    ra = ref.get("amplitude")
    cl = c.get("classical") or {}
    crec = cl.get("classical", {})
    # further reconstructions of the same patches, one extra column each
    extra: list[tuple[str, dict[str, Any]]] = []
    if ra is not None:
        extra.append((f"refined ({ref['refinement']['steps']} physics steps)", ra))
    if cl.get("amplitude") is not None:
        extra.append(
            (f"classical {crec.get('engine')}, {crec.get('iterations')} it, flat start", cl["amplitude"])
        )
    if (cl.get("seeded") or {}).get("amplitude") is not None:
        extra.append(("classical, PINN start", cl["seeded"]["amplitude"]))
    rcol = "".join(f" {h} |" for h, _ in extra)
    rsep = " --- |" * len(extra)

    def refined_cell(key: str) -> str:  # the extra columns
        return "".join(f" {_f(sc.get(key))} |" for _, sc in extra)

    lines = [
        f"# {name} — inspection notes",
        "",
        f"Run started {meta['started_utc']} · profile active: {prof['active']}"
        + (f" ({prof.get('label')})" if prof.get("active") else ""),
        device_line(meta),
        f"Counts: {meta['counts']['total']} positions ({meta['counts']['train']} train / {meta['counts']['test']} test), "
        f"{meta['counts'].get('train_groups')} training groups, {meta['counts'].get('test_groups_stitched')} test groups stitched.",
        "",
        "## Ranges (covered region)",
        f"- amplitude: min {_f(amp['min'])}, max {_f(amp['max'])}, mean {_f(amp['mean'])}, std {_f(amp['std'])}, NaN {amp['nan_count']}",
        f"- phase: min {_f(ph['min'])}, max {_f(ph['max'])}, mean {_f(ph['mean'])}, NaN {ph['nan_count']}",
        f"- coverage: {_f(100 * stats['coverage_fraction'], 1)} % of the {stats['padded_size']}² canvas; "
        f"required canvas {stats['required_canvas']}, fits_canvas {stats['fits_canvas']}",
        "",
        "## Against the ground truth (covered region only)",
        "| quantity | PINN reconstruction | flat image at truth mean | truth blurred σ=8 px |" + rcol,
        "| --- | --- | --- | --- |" + rsep,
        f"| amplitude SSIM | {_f(a['ssim'])} | {_f(flat['ssim'])} | {_f(blur8['ssim'])} |"
        + refined_cell("ssim"),
        f"| amplitude Pearson r | {_f(a['pearson_r'])} | n/a | {_f(blur8['pearson_r'])} |"
        + refined_cell("pearson_r"),
        f"| amplitude MAE | {_f(a['mae'])} | {_f(flat['mae'])} | {_f(blur8['mae'])} |" + refined_cell("mae"),
        f"| LS amplitude scale | {_f(a['ls_scale'])} | n/a | n/a |" + refined_cell("ls_scale"),
        "",
        f"- least-squares amplitude scale (truth ≈ scale × prediction): {_f(a['ls_scale'])} "
        "(1 = no amplitude bias; the reference's sigmoid head gave ≈ 2.7)",
        f"- amplitude bias (prediction − truth): mean {_f(bias['mean'])}, median {_f(bias['median'])}, "
        f"p05 {_f(bias['p05'])}, p95 {_f(bias['p95'])}",
        f"- phase error after offset/plane removal: MAE {_f(c['phase']['mae'])} rad"
        + (
            " (truth phase is constant: phase correlation/SSIM/FRC undefined)"
            if c["phase"]["truth_constant"]
            else ""
        ),
        f"- noise floor (Poisson deviance/2 per px on the stitched test groups): true object {_f(nf.get('true_object'))}, "
        f"model {_f(nf.get('model'))}" + (f", refined {_f(nf.get('refined'))}" if "refined" in nf else ""),
    ]
    if ra is not None:
        lines.append(
            "- refined: the PINN's test patches after "
            f"{ref['refinement']['steps']} Adam steps (lr {ref['refinement']['learning_rate']}) on their own "
            "diffraction with the model's physics and loss — no ground truth used; same positions, region and baselines"
        )
    if crec:
        its = crec.get("iterations_to_flat_final", {})
        lines.append(
            f"- classical: {crec.get('engine')} with the known probe on the same {crec.get('patterns')} test patterns "
            f"(flat start `{crec.get('flat_start')}`, {crec.get('iterations')} iterations, {_f(crec.get('wall_s'), 1)} s; "
            f"PINN start {_f(crec.get('seeded_wall_s'), 1)} s), stitched at the PINN's positions and scored on the same region; "
            f"iterations to the flat start's final SSIM: flat {its.get('flat')}, PINN start {its.get('seeded')}; "
            f"positions rounded to the engine's pixel grid by at most {crec.get('position_rounding_max_px')} px"
        )
    bpj = c.get("backprojection") or {}
    if bpj.get("amplitude"):
        ba = bpj["amplitude"]
        lines.append(
            f"- network input alone ({bpj['iterations']}-iteration error-reduction back-projection of each test "
            f"pattern with the known probe, the image the heads start at): amplitude SSIM {_f(ba['ssim'])}, "
            f"Pearson r {_f(ba['pearson_r'])}; what training added: SSIM {a['ssim'] - ba['ssim']:+.3f}"
        )
    dn = c.get("dense") or {}
    if dn:
        if dn.get("same_as_main"):
            lines.append(
                f"- dense evaluation: the stitched block already holds all {dn['groups']} test groups"
            )
        else:
            da, dflat = dn.get("amplitude") or {}, (dn.get("baselines") or {}).get("flat") or {}
            dref = dn.get("reference") or {}
            lines.append(
                f"- dense evaluation, the network on all {dn['groups']} test groups ({dn['patterns']} patterns, "
                f"predicted and stitched in {_f(dn.get('wall_s'), 1)} s; `{name}/dense_outputs/`): amplitude SSIM "
                f"{_f(da.get('ssim'))} (flat {_f(dflat.get('ssim'))}), Pearson r {_f(da.get('pearson_r'))}, "
                f"reference-metric SSIM {_f((dref.get('amplitude') or {}).get('ssim'))} "
                f"(flat {_f((dref.get('flat_baseline') or {}).get('ssim'))}), coverage {_f(dn.get('coverage_fraction'))}"
            )
    if "twin_image_fraction" in c:
        lines.append(
            f"- twin-image diagnostic: {_f(100 * c['twin_image_fraction'], 1)} % of test patches correlate better "
            "with the 180°-rotated conjugate of the truth (gridsize 1 cannot tell them apart)"
        )
    lines += [
        "",
        "## Pictures",
        f"- `{name}/inference_outputs/amplitude.png` — stitched amplitude, grey scale 0…vmax shared with the truth",
        f"- `{name}/ground_truth_amplitude.png` — the truth on the same canvas and scale",
        *(
            [
                f"- `{name}/refined_outputs/amplitude.png`, `amplitude_diff.png` — the refined reconstruction, same scale"
            ]
            if ra is not None
            else []
        ),
        *(
            [
                f"- `{name}/classical_outputs/amplitude.png` (flat start), `pinn_start/amplitude.png`, "
                "`convergence.png` — the classical engine, same scale"
            ]
            if crec
            else []
        ),
        f"- `{name}/amplitude_diff.png` — prediction − truth (red: too bright, blue: too dark)",
        f"- `{name}/inference_outputs/phase.png`, `{name}/ground_truth_phase.png`, `{name}/phase_diff.png` — phase, ±π",
        f"- `{name}/train_outputs/history.png` — training curves",
        "- beige pixels are not covered by any stitched patch (no data, not zero)",
        "",
        "## Reviewer commentary",
        "",
        "",
    ]
    return "\n".join(lines)


def _notes_without_truth(
    name: str, meta: dict[str, Any], stats: dict[str, Any], comparison: dict[str, Any]
) -> str:
    amp = stats["amplitude"]
    nf = comparison.get("noise_floor", {})
    return "\n".join(
        [
            f"# {name} — inspection notes",
            "",
            f"Run started {meta['started_utc']} on imported data ({meta['settings'].get('data_path')}); "
            "the file has no objectGuess, so there is no ground-truth comparison.",
            device_line(meta),
            f"- amplitude: min {_f(amp['min'])}, max {_f(amp['max'])}, mean {_f(amp['mean'])}, NaN {amp['nan_count']}",
            f"- coverage: {_f(100 * stats['coverage_fraction'], 1)} % of the {stats['padded_size']}² canvas",
            f"- model Poisson deviance/2 per px on the stitched groups: {_f(nf.get('model'))}",
            "",
            "## Reviewer commentary",
            "",
            "",
        ]
    )


def _device_of(hub: Path | None, run: str) -> str:
    try:
        return device_line(json.loads((hub / run / "run_metadata.json").read_text())) if hub else ""
    except (OSError, ValueError):
        return "Device: run_metadata.json unreadable"


SUMMARY_COLUMNS = (  # status and times are per run, in the runs table above it (issue 30)
    "scenario",
    "stage",
    "amp_ssim",
    "flat_ssim",
    "blur8_ssim",
    "ref_ssim",
    "ref_flat_ssim",
    "pearson_r",
    "mae",
    "ls_scale",
    "coverage",
)


def hub_summary(
    hub_name: str, rows: list[dict[str, Any]], extra: list[str] | None = None, *, hub: Path | None = None
) -> str:
    """summary.md: what ran, the status of each scenario, key numbers (each reconstruction
    beside the flat and blur baselines, from :func:`results.result_rows`), pictures, links.

    ``rows`` are status rows ``{scenario, status, error}`` (the parent's final word on each
    run); the numbers are read from the run folders of ``hub`` when it is given."""
    headers = dict(results.COLUMNS)
    found_by = {
        r["scenario"]: (
            results.run_rows(hub / r["scenario"])
            if hub is not None
            else results.result_rows({"scenario": r["scenario"]}, None)
        )
        for r in rows
    }
    lines = [f"# Report hub {hub_name}", ""]
    results_lines = [
        result_line(r["scenario"], found_by[r["scenario"]], _ceiling_of(hub, r["scenario"]))
        for r in rows
        if r["status"] == "complete"
    ]
    if results_lines:
        lines += ["## Results", "", *results_lines, ""]
    stages = {row["stage"] for found in found_by.values() for row in found}
    lines += ["| run | status | train s | total s |", "| --- | --- | --- | --- |"]
    for r in rows:
        first = (found_by[r["scenario"]] or [{}])[0]
        lines.append(
            f"| [{r['scenario']}]({r['scenario']}/) | **{r['status']}** | "
            f"{_cell('train_s', first.get('train_s'))} | {_cell('total_s', first.get('total_s'))} |"
        )
    lines += ["", _legend(stages), ""]
    lines += ["| " + " | ".join(headers[k] for k in SUMMARY_COLUMNS) + " |"]
    lines += ["| " + " | ".join("---" for _ in SUMMARY_COLUMNS) + " |"]
    for r in rows:
        name = r["scenario"]
        best = _best(found_by[name])
        for row in found_by[name]:
            mark = " ★" if best is not None and row is best else ""
            row = {**row, "scenario": f"[{name}]({name}/)", "stage": row["stage"] + mark}
            lines.append("| " + " | ".join(_cell(k, row[k]) for k in SUMMARY_COLUMNS) + " |")
    lines.append("")
    for r in rows:
        s = r["scenario"]
        lines += [f"## {s}", ""]
        if r["status"] == "complete":
            lines += [
                f"![{s} amplitude]({s}/inference_outputs/amplitude.png) "
                + "".join(
                    f"![{s} {label}]({s}/{sub}/amplitude.png) "
                    for label, sub in (("refined", "refined_outputs"), ("classical", "classical_outputs"))
                    if hub is not None and (hub / s / sub / "amplitude.png").is_file()
                )
                + f"![{s} truth]({s}/ground_truth_amplitude.png)"
                + "".join(
                    f" ![{s} {label}]({s}/{rel})"
                    for label, rel in (
                        ("PINN - truth", "amplitude_diff.png"),
                        ("dense: the network on every test group", "dense_outputs/amplitude.png"),
                    )
                    if hub is not None and (hub / s / rel).is_file()
                ),
                "",
                "Images: the PINN, the other reconstructions and the truth at one grey scale (the "
                "truth's range on the covered region), the PINN's difference from the truth, and the "
                "dense image (its own, larger region).",
                "",
                _device_of(hub, s),
                "",
                f"Notes: [{s}_notes.md]({s}_notes.md) · log: [{s}_runner.log]({s}_runner.log) · "
                f"notebook: [{s}/scenario_run.ipynb]({s}/scenario_run.ipynb) · metrics: [{s}/comparison_metrics.json]({s}/comparison_metrics.json)",
            ]
        else:
            blocker = hub is None or (hub / "blocker.log").is_file()  # an interrupted run has none
            lines += [
                f"Status **{r['status']}**: {r.get('error') or 'see the log'}. Look at "
                + ("[blocker.log](blocker.log), " if blocker else "")
                + f"[{s}_runner.log]({s}_runner.log) and the executed notebook "
                f"[{s}/scenario_run.ipynb]({s}/scenario_run.ipynb) (papermill marks the failing cell).",
            ]
        lines.append("")
    lines += extra or []
    return "\n".join(lines) + "\n"
