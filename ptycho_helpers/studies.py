"""Studies that run several variants of a scenario into one hub (papermill, fresh kernels).

``bias_study``: does the reference's amplitude undershoot reproduce, and which variant
removes it?  Variants are amplitude heads (softplus, sigmoid, k·sigmoid) and the object
amplitude normalised to max 1 (which makes a sigmoid head sufficient).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from . import runs
from .core.io import read_json, read_npy
from .hub import artifacts
from .hub.viewer import table_markdown
from .plan import plan_run

logger = logging.getLogger(__name__)

BIAS_VARIANTS: dict[str, dict[str, Any]] = {
    "softplus": {"amp_activation": "softplus"},
    "sigmoid": {"amp_activation": "sigmoid"},
    "scaled_sigmoid": {"amp_activation": "scaled_sigmoid"},
    "sigmoid_objnorm": {"amp_activation": "sigmoid", "object_amp_norm": True},
}


def bias_study(
    *,
    scenario: str = "gs1_ideal",
    variants: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    reports_dir: str | Path | None = None,
) -> tuple[Path, list[dict[str, Any]]]:
    """Run the amplitude-bias variants into one new hub; returns (hub, table rows).

    Each row: variant, status, least-squares scale, max predicted amplitude, truth max,
    SSIM and its flat baseline, Pearson r, MAE, and the input gain α of the run.
    """
    names = variants or list(BIAS_VARIANTS)
    unknown = sorted(set(names) - set(BIAS_VARIANTS))
    if unknown:
        raise ValueError(f"unknown bias variant(s) {unknown}; choose from {', '.join(BIAS_VARIANTS)}")
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    settings = {k: v for k, v in (settings or {}).items() if v is not None}
    for name in names:  # validate every variant before creating the hub
        plan_run(scenario, {**settings, **overrides, **BIAS_VARIANTS[name]})
    hub = artifacts.create_hub(reports_dir or artifacts.default_reports_dir())
    rows = []
    for name in names:
        run_name = f"{scenario}__{name}"
        status = runs.execute_scenario(
            hub, scenario, {**settings, **overrides, **BIAS_VARIANTS[name]}, run_name=run_name
        )
        row: dict[str, Any] = {"variant": name, "status": status["status"]}
        comp_path = hub / run_name / "comparison_metrics.json"
        if comp_path.exists():
            comp = read_json(comp_path)
            meta = read_json(hub / run_name / "run_metadata.json")
            stats = read_json(hub / run_name / "inference_outputs" / "stats.json")
            a = comp["amplitude"]
            row.update(
                ls_scale=a["ls_scale"],
                pred_amp_max=stats["amplitude"]["max"],
                truth_amp_max=float(read_npy(hub / run_name / "ground_truth_amplitude.npy").max()),
                ssim=a["ssim"],
                flat_ssim=comp["baselines"]["flat"]["ssim"],
                pearson_r=a["pearson_r"],
                mae=a["mae"],
                input_gain=meta["scales"].get("input_gain"),
            )
        rows.append(row)
    text = "# Amplitude-bias study\n\n" + table_markdown(rows) + "\n"
    artifacts.write_text(hub / "bias_study.md", text)
    artifacts.write_json(hub / "bias_study.json", rows)
    artifacts.write_text(hub / "summary.md", text)
    return hub, rows
