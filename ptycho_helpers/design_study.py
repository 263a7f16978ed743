"""A designed experiment (issue 27): a two-level (fractional) factorial over recorded
settings, every design row run with ≥ 3 seeds that vary object, scan and initialisation
together, on the sweep's Dask machinery; effects with paired intervals and a generated
verdict in one hub.

A factor is a named pair of levels, each a set of knob values (one factor may move several
knobs together, e.g. the amplitude head with the object units it matches):
``U=amp_activation:softplus,sigmoid+object_units:as_is,patch_max`` is factor ``U`` whose
low level sets ``amp_activation=softplus, object_units=as_is`` and whose high level sets
``sigmoid, patch_max``.  Generators (``D=ABC``) make a fraction of the full factorial
(``core.design``).  Seeds: each seed ``s`` sets ``seed``, ``object_seed`` and ``sim_seed``
to ``s`` (recorded separately in every run).  The plan and its estimated wall time are
printed before anything runs (``--dry-run`` stops there).
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from .core import design
from .hub import artifacts, plotting, reporting
from .hub import results as hub_results
from .hub.viewer import table_markdown
from .plan import plan_run
from .sweep import _parse_value, _slug, estimated_cost, parse_sets
from .tasks import INTERRUPTED_NOTE, check_scheduler, run_tasks

logger = logging.getLogger(__name__)

#: the scores a study analyses: the PINN row's masked and reference-metric SSIM
#: (``hub.results.run_rows``), the flat image's masked SSIM, the fill-free scores (the
#: reference metric on the largest covered rectangle, the interior-window masked SSIM) and
#: the share of the cell's information ceiling ``(SSIM − flat)/(ceiling − flat)`` where the
#: cell has one (gridsize 1: the twin bound) — ``run_scores``
#: effects smaller than this (SSIM units) are not named in the verdict even when their
#: interval excludes 0 (a flat baseline does not move with the dose: 1e-6 with no spread)
NEGLIGIBLE = 0.005

METRICS = (
    "amp_ssim",
    "ref_ssim",
    "flat_ssim",
    "ref_rect_ssim",
    "interior_ssim",
    "classical_ssim",
    "ceiling_ssim",
    "ceiling_share",
    # the same two test sets for every run of a seed whatever its protocol (run.test_sets):
    # an effect there is what the model learned, free of the test set it was scored on
    "tiles_ssim",
    "tiles_share",
    "random_half_ssim",
    "random_half_interior",
    "random_half_share",
)


def run_scores(folder: Path) -> dict[str, float | None]:
    """The study's scores of one run folder (``None`` where the run has none)."""
    pinn = [r for r in hub_results.run_rows(folder) if r["stage"] == "PINN"]
    if not pinn:
        return {}
    out: dict[str, float | None] = {m: pinn[0].get(m) for m in ("amp_ssim", "ref_ssim", "flat_ssim")}
    try:  # a failed or unfinished run has no (or a broken) comparison file: its scores are missing
        comp = hub_results.read_json(folder / "comparison_metrics.json") or {}
    except (OSError, ValueError):
        comp = {}
    fill_free = comp.get("fill_free") or {}
    rect = fill_free.get("reference_covered_rectangle") or {}
    out["ref_rect_ssim"] = (rect.get("amplitude") or {}).get("ssim")
    out["interior_ssim"] = fill_free.get("interior_masked_ssim")
    # beside the PINN on the same test patterns and region: the classical engine (flat
    # start) and the cell's ceiling, so an effect can be read as the data's or the network's
    out["classical_ssim"] = ((comp.get("classical") or {}).get("amplitude") or {}).get("ssim")
    out["ceiling_ssim"] = (comp.get("ceiling") or {}).get("amp_ssim")
    out["ceiling_share"] = (comp.get("ceiling") or {}).get("normalised_pinn")
    out.update(hub_results.test_set_scores(comp.get("test_sets")))
    return out


@contextlib.contextmanager
def _quiet_overrides():
    """Planning every run logs each knob that bypasses the profile; a study sets them on
    purpose (the plan lists them), so those warnings are held back while planning."""
    log = logging.getLogger("ptycho_helpers.scenarios")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def parse_factor(text: str) -> tuple[str, dict[str, tuple[Any, Any]]]:
    """``"U=amp_activation:softplus,sigmoid+object_units:as_is,patch_max"`` →
    ``("U", {"amp_activation": ("softplus", "sigmoid"), "object_units": ("as_is", "patch_max")})``."""
    if "=" not in text:
        raise ValueError(f"--factor {text!r}: expected NAME=KNOB:LOW,HIGH[+KNOB:LOW,HIGH]")
    name, spec = (s.strip() for s in text.split("=", 1))
    if not name.isidentifier():
        raise ValueError(f"--factor {text!r}: the factor name {name!r} must be a word (e.g. U, head)")
    knobs: dict[str, tuple[Any, Any]] = {}
    for part in spec.split("+"):
        if ":" not in part or part.count(",") != 1:
            raise ValueError(f"--factor {name}: {part!r} must be KNOB:LOW,HIGH (two levels)")
        knob, levels = part.split(":", 1)
        knob = knob.strip().replace("-", "_")
        low, high = (_parse_value(knob, v.strip()) for v in levels.split(","))
        if low == high:
            raise ValueError(f"--factor {name}: {knob} has the same value at both levels")
        if knob in knobs:
            raise ValueError(f"--factor {name}: {knob} given twice")
        knobs[knob] = (low, high)
    return name, knobs


def parse_fixed(items: list[str]) -> dict[str, Any]:
    """``["object_set=separate", "nphotons=1e4"]`` → ``{"object_set": "separate", "nphotons": 1e4}``:
    the sweep's ``--set`` parser (``sweep.parse_sets``), one value per knob (a study holds it)."""
    out: dict[str, Any] = {}
    for knob, values in parse_sets(items).items():
        if len(values) != 1:
            raise ValueError(f"--set {knob}={values}: a study holds one value; vary a knob with --factor")
        out[knob] = values[0]
    return out


def plan_study(
    scenario: str,
    factors: list[str],
    *,
    seeds: list[int],
    steps: int,
    generators: list[str] | None = None,
    fixed: list[str] | None = None,
) -> dict[str, Any]:
    """The design and its task records ``{run_name, scenario, values, row, levels, seed}``,
    every one validated by the kernel's planning code before anything runs.  ``fixed``:
    ``KNOB=VALUE`` settings held the same in every run (``--set``), recorded in the plan."""
    if len(seeds) < 3 or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds {seeds}: give at least 3 distinct seeds (intervals over seeds)")
    if steps < 1:
        raise ValueError(f"--steps {steps}: a study compares runs at a fixed optimiser-step budget >= 1")
    parsed = dict(parse_factor(f) for f in factors)
    if len(parsed) != len(factors) or len(parsed) < 2:
        raise ValueError("give at least 2 --factor options with distinct names")
    knob_owner: dict[str, str] = {}
    for fname, knobs in parsed.items():
        for k in knobs:
            if k in knob_owner or k in ("seed", "object_seed", "sim_seed", "steps"):
                raise ValueError(
                    f"knob {k} is moved by factor {knob_owner.get(k, fname)!r} and {fname!r}, or is set by the study"
                )
            knob_owner[k] = fname
    held = parse_fixed(fixed or [])
    for k in held:
        if k in knob_owner or k in ("seed", "object_seed", "sim_seed", "steps"):
            raise ValueError(
                f"--set {k}: that knob is moved by factor {knob_owner[k]!r}"
                if k in knob_owner
                else f"--set {k}: that knob is set by the study (seeds from --seeds, steps from --steps)"
            )
    if "test_sets" not in knob_owner:  # every model also scored on both protocols' test sets
        held.setdefault("test_sets", True)
    gens = dict(g.split("=", 1) for g in (generators or []) if "=" in g)
    if len(gens) != len(generators or []) or not set(gens) <= set(parsed):
        raise ValueError(
            f"--generator {generators}: each is FACTOR=WORD (e.g. D=ABC or B=P*G*U) of a given --factor"
        )
    base = [f for f in parsed if f not in gens]
    names, X = design.fractional_factorial(base, gens)
    design.check_design(X)
    tasks = []
    for row, levels in enumerate(X):
        values: dict[str, Any] = {**held, "steps": steps}
        for fname, level in zip(names, levels, strict=True):
            values.update({k: v[0 if level < 0 else 1] for k, v in parsed[fname].items()})
        tag = "".join(f"{f}{'+' if lv > 0 else '-'}" for f, lv in zip(names, levels, strict=True))
        for seed in seeds:
            vals = {**values, "seed": seed, "object_seed": seed, "sim_seed": seed}
            task = {
                "run_name": f"row{row:02d}_{_slug(tag)}__seed{seed}",
                "scenario": scenario,
                "values": vals,
                "row": row,
                "levels": dict(zip(names, (int(v) for v in levels), strict=True)),
                "seed": seed,
            }
            with _quiet_overrides():
                plan_run(scenario, vals)
            tasks.append(task)
    return {
        "scenario": scenario,
        "factors": {f: {k: list(v) for k, v in parsed[f].items()} for f in names},
        "fixed": held,
        "generators": gens,
        "names": names,
        "design": X.tolist(),
        "aliases": design.alias_groups(names, X),
        "seeds": list(seeds),
        "steps": steps,
        "tasks": tasks,
    }


def plan_markdown(plan: dict[str, Any], workers: int) -> str:
    rows = [
        {"row": i, **{f: ("+" if lv > 0 else "−") for f, lv in zip(plan["names"], r, strict=True)}}
        for i, r in enumerate(plan["design"])
    ]
    lines = [
        f"# Study plan: {plan['scenario']}, {len(plan['design'])} design rows × {len(plan['seeds'])} seeds = "
        f"{len(plan['tasks'])} runs at {plan['steps']} steps",
        "",
        "Factors (low → high):",
        "",
    ]
    for f, knobs in plan["factors"].items():
        lines.append(f"- **{f}**: " + "; ".join(f"`{k}` {v[0]} → {v[1]}" for k, v in knobs.items()))
    if plan.get("fixed"):
        lines.append(
            "- held in every run (`--set`): " + ", ".join(f"`{k}={v}`" for k, v in plan["fixed"].items())
        )
    if plan["generators"]:
        lines.append(f"- generators: {', '.join(f'{k} = {v}' for k, v in plan['generators'].items())}")
    aliased = [" = ".join(g) for g in plan["aliases"] if len(g) > 1]
    lines += [
        f"- aliased two-factor interactions: {', '.join(aliased) if aliased else 'none (all resolved)'}",
        f"- seeds (object, scan and initialisation together): {plan['seeds']}",
        "",
        table_markdown(rows),
        "",
        estimated_cost(len(plan["tasks"]), plan["steps"], workers) + ".",
    ]
    return "\n".join(lines)


def analyse(plan: dict[str, Any], scores: dict[str, dict[str, float | None]]) -> dict[str, Any]:
    """Effects of each metric with paired t intervals (the reported ones) and paired
    bootstrap intervals over seeds; the corner-to-corner gap and how much of it the main
    effects explain.  ``scores``: run name → {metric: value}.  Runs without a score are
    reported; a metric with any missing cell is not analysed."""
    names, X = plan["names"], np.array(plan["design"])
    out: dict[str, Any] = {"metrics": {}, "missing": [], "unavailable": []}
    for metric in METRICS:
        S = np.full((len(plan["seeds"]), len(X)), np.nan)
        for t in plan["tasks"]:
            v = (scores.get(t["run_name"]) or {}).get(metric)
            if v is not None:
                S[plan["seeds"].index(t["seed"]), t["row"]] = v
        if np.isnan(S).all():  # no run has it (e.g. no ceiling for gridsize 2): not a gap
            out["unavailable"].append(metric)
            continue
        if np.isnan(S).any():
            out["missing"] += [
                f"{t['run_name']}: {metric}"
                for t in plan["tasks"]
                if np.isnan(S[plan["seeds"].index(t["seed"]), t["row"]])
            ]
            continue
        t_ci = design.paired_t_intervals(names, X, S)
        boot = design.paired_bootstrap(names, X, S)
        low = np.where((X == -1).all(axis=1))[0]
        high = np.where((X == 1).all(axis=1))[0]
        gap = float(S[:, high[0]].mean() - S[:, low[0]].mean()) if len(low) and len(high) else None
        mains = float(sum(t_ci[n]["estimate"] for n in names))
        out["metrics"][metric] = {
            "scores": S.tolist(),
            "row_means": S.mean(axis=0).tolist(),
            "effects": {
                k: {**v, "bootstrap_low": boot[k]["low"], "bootstrap_high": boot[k]["high"]}
                for k, v in t_ci.items()
            },
            "gap_all_high_minus_all_low": gap,
            "sum_of_main_effects": mains,
        }
    return out


def verdict_lines(plan: dict[str, Any], analysis: dict[str, Any]) -> list[str]:
    lines = ["## Verdict (generated)", ""]
    for metric, a in analysis["metrics"].items():
        eff = a["effects"]
        clear = sorted(  # intervals that exclude 0, for effects of a size worth naming
            (
                k
                for k, v in eff.items()
                if (v["low"] > 0 or v["high"] < 0) and abs(v["estimate"]) >= NEGLIGIBLE
            ),
            key=lambda k: -abs(eff[k]["estimate"]),
        )
        lines.append(
            f"**{metric}** ({len(plan['seeds'])} seeds, {plan['steps']} steps; 95 % paired t intervals):"
        )
        for k in clear:
            v = eff[k]
            lines.append(f"- {k}: {v['estimate']:+.3f} [{v['low']:+.3f}, {v['high']:+.3f}]")
        if not clear:
            lines.append(
                f"- no effect of {NEGLIGIBLE} or more has an interval that excludes 0 at this budget and seed count"
            )
        if a["gap_all_high_minus_all_low"] is not None:
            gap, mains = a["gap_all_high_minus_all_low"], a["sum_of_main_effects"]
            rest = gap - mains
            lines.append(
                f"- all factors high − all low: {gap:+.3f}; sum of main effects {mains:+.3f}"
                + (
                    f"; the rest, {rest:+.3f}, is odd-order (three-factor …) terms"
                    if abs(rest) >= 5e-4
                    else ""
                )
                + " (two-factor interactions cancel in this contrast: read them in the list above)"
            )
        lines.append("")
    if analysis["missing"]:
        lines += [f"Missing scores ({len(analysis['missing'])}): " + "; ".join(analysis["missing"][:8]), ""]
    return lines


def effects_table(analysis: dict[str, Any]) -> str:
    rows = []
    for metric, a in analysis["metrics"].items():
        for k, v in a["effects"].items():
            rows.append(
                {
                    "metric": metric,
                    "effect": k,
                    "estimate": round(v["estimate"], 4),
                    "t 95 %": f"[{v['low']:+.3f}, {v['high']:+.3f}]",
                    "bootstrap 95 %": f"[{v['bootstrap_low']:+.3f}, {v['bootstrap_high']:+.3f}]",
                }
            )
    return table_markdown(rows) if rows else "(no complete metric to analyse)"


def run_study(
    scenario: str,
    factors: list[str],
    *,
    seeds: list[int],
    steps: int,
    generators: list[str] | None = None,
    fixed: list[str] | None = None,
    scheduler: str | None = None,
    workers: int = 2,
    reports_dir: str | Path | None = None,
    dry_run: bool = False,
    echo=print,
) -> tuple[Path | None, int]:
    """Plan (printed with its estimated cost), run, analyse and write the study hub:
    ``plan.md``, ``study.json``, ``effects.md`` (table + verdict), ``effects.png``, summary."""
    plan = plan_study(scenario, factors, seeds=seeds, steps=steps, generators=generators, fixed=fixed)
    echo(plan_markdown(plan, workers))
    if dry_run:
        return None, 0
    if scheduler is not None:
        check_scheduler(scheduler)
    hub = artifacts.create_hub(reports_dir or artifacts.default_reports_dir())
    artifacts.write_text(hub / "plan.md", plan_markdown(plan, workers) + "\n")
    t0 = time.perf_counter()
    results, interrupted = run_tasks(hub, plan["tasks"], scheduler=scheduler, workers=workers)
    scores = {t["run_name"]: run_scores(hub / t["run_name"]) for t in plan["tasks"]}
    analysis = analyse(plan, scores)
    artifacts.write_json(hub / "study.json", {"plan": plan, "scores": scores, "analysis": analysis})
    text = [
        plan_markdown(plan, workers),
        "",
        "## Effects",
        "",
        effects_table(analysis),
        "",
        *verdict_lines(plan, analysis),
    ]
    artifacts.write_text(hub / "effects.md", "\n".join(text) + "\n")
    if analysis["metrics"]:
        plotting.save_effects(hub / "effects.png", {m: a["effects"] for m, a in analysis["metrics"].items()})
    status = [
        {"scenario": t["run_name"], **results.get(t["run_name"], {"status": "failed"})} for t in plan["tasks"]
    ]
    extra = [f"- study: [effects.md](effects.md), wall time {time.perf_counter() - t0:.0f} s", ""]
    extra += INTERRUPTED_NOTE if interrupted else []
    artifacts.write_text(hub / "summary.md", reporting.hub_summary(hub.name, status, extra, hub=hub))
    artifacts.seal_hub(hub)
    if interrupted is not None:
        interrupted.hub = hub  # type: ignore[attr-defined]
        raise interrupted
    return hub, 0 if all(s.get("status") == "complete" for s in status) else 1
