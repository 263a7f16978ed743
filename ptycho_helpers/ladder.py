"""The discrepancy ladder (REFERENCE_PROTOCOLS.md): from one protocol to the other, one
recorded factor at a time, every rung a run of one hub at the same optimiser-step budget,
executed on Dask through the sweep machinery; a table, a plot and a short verdict.

Rung 0 is ``gs{1,2}_grid`` (the legacy grid protocol); each next rung changes one setting
of the knob table toward the non-grid protocol.  The last rung changes the scan and the
object set together (a grid scan of separate objects → random positions on the y-halves
of one object; the workbook runs only these two pairs) and sizes the non-grid workload so
the groups fit.  A last rung adds the workbook's physics input (``backprojection``) to the
non-grid end.  ``direction="nongrid-to-grid"`` walks the same rungs back.
"""

from __future__ import annotations

import logging
import re
import statistics
import time
from pathlib import Path
from typing import Any

from .hub import artifacts, plotting, reporting
from .hub import results as hub_results
from .hub.viewer import table_markdown
from .plan import plan_run
from .sweep import estimated_cost
from .tasks import INTERRUPTED_NOTE, check_scheduler, run_tasks

logger = logging.getLogger(__name__)

#: (label, changes grid -> non-grid).  One recorded setting per rung, except the protocol rung.
RUNGS: tuple[tuple[str, dict[str, tuple[Any, Any]]], ...] = (
    ("one object per group → one patch per member", {"prediction": ("group", "member")}),
    ("amplitude MAE → Poisson NLL", {"loss": ("mae", "poisson")}),
    ("patch-max object units → as simulated", {"object_units": ("patch_max", "as_is")}),
    # the model the reference used on its grid data; the non-grid end's model (the head must
    # match the units: docs/reference_fidelity.md)
    ("sigmoid amplitude head → softplus", {"amp_activation": ("sigmoid", "softplus")}),
    ("trainable reference intensity scale → fixed data scales", {"intensity_scale": ("reference", "data")}),
    ("constant learning rate → plateau halving", {"lr_schedule": ("constant", "plateau")}),
    ("Adam 1e-3 → 5e-4", {"learning_rate": (1e-3, 5e-4)}),
    ("no validation split → 5 %", {"validation_fraction": (0.0, 0.05)}),
    ("probe scale 4 → 10", {"probe_scale": (4.0, 10.0)}),
    ("no probe mask → disk mask", {"probe_mask": (False, True)}),
    ("full support → central N/2", {"probe_big": (True, False)}),
    ("10×10 seamless tiles → 20×20 overlap average", {"reassemble_M": (10, 20)}),
    (
        "grid scan of separate objects → random positions on y-halves of one object",
        {"scan": ("grid", "random"), "object_set": ("separate", "halves"), "group_count": (None, 1000)},
    ),
    # not a protocol difference: the workbook's default model on top of the non-grid protocol
    # (per member pattern, so after the prediction rung; undone first going back)
    ("reference CNN → physics input (back-projection, 5 iterations)", {"backprojection": (0, 5)}),
)
DIRECTIONS = ("grid-to-nongrid", "nongrid-to-grid")


def plan_ladder(gridsize: int, *, steps: int, seeds: list[int], direction: str = "grid-to-nongrid"):
    """The rungs as task records ``{run_name, scenario, values, rung, label, changed, seed}``
    (validated with the kernel's planning code)."""
    if gridsize not in (1, 2):
        raise ValueError(f"gridsize must be 1 or 2, got {gridsize}")
    if steps < 1:
        raise ValueError(f"--steps {steps}: every rung runs a fixed optimiser-step budget; give steps >= 1")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r}: choose one of {', '.join(DIRECTIONS)}")
    repeated = sorted({s for s in seeds if list(seeds).count(s) > 1})
    if repeated:
        raise ValueError(
            f"--seeds lists {repeated} more than once; give distinct seeds (each plans every rung)"
        )
    scenario = f"gs{gridsize}_grid"
    rungs = [(lbl, ch) for lbl, ch in RUNGS if not (gridsize == 1 and "prediction" in ch)]
    rungs = [(lbl, ch) for lbl, ch in rungs if not (gridsize == 2 and "loss" in ch)]  # gs2 is Poisson in both
    side = 0 if direction == "grid-to-nongrid" else 1
    values: dict[str, Any] = {"steps": steps}
    if side == 1:  # start from the non-grid end: every change applied
        for _, ch in rungs:
            values.update({k: v[1] for k, v in ch.items() if v[1] is not None})
        rungs = list(reversed(rungs))
    states = [("start: " + ("grid protocol" if side == 0 else "non-grid protocol"), [], dict(values))]
    for label, ch in rungs:
        for k, v in ch.items():
            new = v[1 - side]
            if new is None:
                values.pop(k, None)
            else:
                values[k] = new
        states.append((label if side == 0 else "undo: " + label, sorted(ch), dict(values)))
    tasks = []
    for i, (label, changed, vals) in enumerate(states):
        for seed in seeds:
            slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:40]
            task = {
                "run_name": f"r{i:02d}_{slug}__seed{seed}",
                "scenario": scenario,
                "values": {**vals, "seed": seed},
                "rung": i,
                "label": label,
                "changed": changed,
                "seed": seed,
            }
            plan_run(scenario, task["values"])
            tasks.append(task)
    return tasks


def plan_summary(tasks: list[dict[str, Any]], steps: int, workers: int) -> str:
    """What a ladder will run and roughly how long it takes, printed before anything long
    starts (the same rough per-step rate as the designed study's estimate)."""
    rungs = sorted({t["rung"] for t in tasks})
    seeds = sorted({t["seed"] for t in tasks})
    lines = [
        f"Ladder plan: {len(rungs)} rungs × {len(seeds)} seeds {seeds} = {len(tasks)} trainings of {steps} steps"
    ]
    lines += [f"  rung {r}: {next(t['label'] for t in tasks if t['rung'] == r)}" for r in rungs]
    lines.append(estimated_cost(len(tasks), steps, workers))
    return "\n".join(lines)


def _spread(values: list[float]) -> float:
    return max(values) - min(values) if len(values) > 1 else 0.0


def summarize(tasks: list[dict[str, Any]], hub: Path) -> list[dict[str, Any]]:
    """One row per rung: median (over seeds) masked and reference SSIM, their flat
    baselines, Pearson r, the seed spread."""
    rows = []
    for rung in sorted({t["rung"] for t in tasks}):
        mine = [t for t in tasks if t["rung"] == rung]
        scores = [r for t in mine for r in hub_results.run_rows(hub / t["run_name"]) if r["stage"] == "PINN"]
        ok = [r for r in scores if r["amp_ssim"] is not None]

        def med(key: str, ok: list[dict[str, Any]] = ok) -> float | None:
            vals = [r[key] for r in ok if r[key] is not None]
            return statistics.median(vals) if vals else None

        rows.append(
            {
                "rung": rung,
                "change": mine[0]["label"],
                "settings": ", ".join(mine[0]["changed"]) or "—",
                "runs": f"{len(ok)}/{len(mine)}",
                "amp_ssim": med("amp_ssim"),
                "flat_ssim": med("flat_ssim"),
                "ref_ssim": med("ref_ssim"),
                "ref_flat_ssim": med("ref_flat_ssim"),
                "pearson_r": med("pearson_r"),
                "seed_spread": _spread([r["amp_ssim"] for r in ok]),
            }
        )
    return rows


def verdict(rows: list[dict[str, Any]]) -> list[str]:
    """The rungs that move the masked or the reference SSIM by more than the seed spread of
    the two rungs compared (the larger of their spreads: a noisy rung elsewhere in the
    ladder does not hide a clean step)."""
    out = []
    for prev, cur in zip(rows, rows[1:], strict=False):
        noise = max(prev["seed_spread"], cur["seed_spread"])
        for key, name in (("amp_ssim", "masked"), ("ref_ssim", "reference")):
            if prev[key] is None or cur[key] is None:
                continue
            d = cur[key] - prev[key]
            if abs(d) > noise:
                out.append(
                    f"- rung {cur['rung']} ({cur['change']}): {name} SSIM {d:+.3f} (seed spread {noise:.3f})"
                )
    spreads = [r["seed_spread"] for r in rows]
    head = f"Seed spread per rung: {min(spreads, default=0):.3f}…{max(spreads, default=0):.3f}" + (
        "" if any(spreads) else " (one seed: every change counts)"
    )
    return [head, ""] + (out or ["- no rung moves SSIM by more than the seed spread"])


def run_ladder(
    gridsize: int,
    *,
    steps: int,
    seeds: list[int],
    direction: str = "grid-to-nongrid",
    scheduler: str | None = None,
    workers: int = 2,
    reports_dir: str | Path | None = None,
) -> tuple[Path, int]:
    """Plan, run and tabulate the ladder into a new hub; returns (hub, 0 if all completed)."""
    tasks = plan_ladder(gridsize, steps=steps, seeds=seeds, direction=direction)
    logger.info("%s", plan_summary(tasks, steps, workers))
    if scheduler is not None:
        check_scheduler(scheduler)
    hub = artifacts.create_hub(reports_dir or artifacts.default_reports_dir())
    t0 = time.perf_counter()
    results, interrupted = run_tasks(hub, tasks, scheduler=scheduler, workers=workers)
    rows = summarize(tasks, hub)
    artifacts.write_json(hub / "ladder.json", {"tasks": tasks, "rows": rows})
    table = table_markdown(rows)
    text = "\n".join(
        [
            f"# Discrepancy ladder (gridsize {gridsize}, {direction}, {steps} steps, seeds {seeds})",
            "",
            table,
            "",
            "## Verdict",
            "",
            *verdict(rows),
            "",
            "![ladder](ladder.png)",
            "",
        ]
    )
    artifacts.write_text(hub / "ladder.md", text)
    _plot(hub / "ladder.png", rows)
    status = [{"scenario": t["run_name"], **results.get(t["run_name"], {"status": "failed"})} for t in tasks]
    extra = [f"- ladder: [ladder.md](ladder.md), wall time {time.perf_counter() - t0:.0f} s", ""]
    extra += INTERRUPTED_NOTE if interrupted else []
    artifacts.write_text(hub / "summary.md", reporting.hub_summary(hub.name, status, extra, hub=hub))
    artifacts.seal_hub(hub)
    if interrupted is not None:
        interrupted.hub = hub  # type: ignore[attr-defined]
        raise interrupted
    return hub, 0 if all(s.get("status") == "complete" for s in status) else 1


def _plot(path: Path, rows: list[dict[str, Any]]) -> None:
    x = [r["rung"] for r in rows]
    styles = (
        ("amp_ssim", "o-"),
        ("flat_ssim", "x--"),
        ("ref_ssim", "s-"),
        ("ref_flat_ssim", "+--"),
        ("pearson_r", "d:"),
    )
    lines = [(key, x, [r[key] for r in rows], style) for key, style in styles]
    plotting.save_metric_lines(
        path, [("rung (see ladder.md)", "score (median over seeds)", lines)], width=8.0
    )
