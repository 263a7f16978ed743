"""Typed result records of a run (pydantic, beside ``RunMetadata``) and the one results-row
builder that every table uses (hub summary, viewer/compare, sweep, studies, README script).

``comparison_metrics.json``, ``inference_outputs/stats.json`` and
``reassembly_<run>.json`` are validated against these models when they are written and
when they are read; their JSON Schemas live in ``schemas/`` (``scripts/export_schema.py``;
a test fails when a committed copy is stale).  Deep metric blocks (FRC curves, baseline
details) stay open dictionaries; every top-level key is declared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..core.io import read_json
from .status import settled


class ImageScores(BaseModel):
    """Scores of one image against the truth on the covered region."""

    model_config = ConfigDict(extra="allow")
    ssim: float | None = None
    pearson_r: float | None = None
    mae: float | None = None
    ls_scale: float | None = None


class NoiseFloor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str
    true_object: float | None = None
    model: float
    refined: float | None = None


class RefinedBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refinement: dict[str, Any]
    alignment: dict[str, Any] | None = None
    amplitude: ImageScores | None = None
    amplitude_scaled: ImageScores | None = None
    phase: dict[str, Any] | None = None
    reference: dict[str, Any] | None = None


class ClassicalScores(BaseModel):
    """Scores of one further reconstruction of the same patches (the classical engine's; the
    physics input's in :class:`BackprojectionBlock`): same metric code, same covered region."""

    model_config = ConfigDict(extra="forbid")
    alignment: dict[str, Any] | None = None
    amplitude: ImageScores | None = None
    amplitude_scaled: ImageScores | None = None
    phase: dict[str, Any] | None = None
    reference: dict[str, Any] | None = None


class ClassicalBlock(BaseModel):
    """The classical engine on the stitched test patterns: its run record, the flat-start
    scores (top level) and the PINN-seeded ones (``seeded``)."""

    model_config = ConfigDict(extra="forbid")
    classical: dict[str, Any]
    alignment: dict[str, Any] | None = None
    amplitude: ImageScores | None = None
    amplitude_scaled: ImageScores | None = None
    phase: dict[str, Any] | None = None
    reference: dict[str, Any] | None = None
    seeded: ClassicalScores | None = None


class DenseBlock(BaseModel):
    """The network on every test group (``run.dense``): its own covered region and baselines."""

    model_config = ConfigDict(extra="forbid")
    groups: int
    patterns: int
    same_as_main: bool
    wall_s: float
    coverage_fraction: float | None = None
    covered_pixels: int | None = None
    alignment: dict[str, Any] | None = None
    amplitude: ImageScores | None = None
    amplitude_scaled: ImageScores | None = None
    phase: dict[str, Any] | None = None
    baselines: dict[str, ImageScores] | None = None
    reference: dict[str, Any] | None = None


class BackprojectionBlock(ClassicalScores):
    """The network's physics input alone (``--backprojection`` iterations), stitched like the
    PINN and scored like any further reconstruction: what the heads start from, so the
    network's own gain is PINN − this."""

    iterations: int


class Comparison(BaseModel):
    """``comparison_metrics.json``: the PINN's stitched reconstruction against the truth
    (when known), its baselines, the noise floor and the refined reconstruction."""

    model_config = ConfigDict(extra="forbid")
    scenario: str
    ground_truth_available: bool
    coverage_fraction: float
    region: str | None = None
    covered_pixels: int | None = None
    canvas_origin: list[float] | None = None
    alignment: dict[str, Any] | None = None
    amplitude: ImageScores | None = None
    amplitude_scaled: ImageScores | None = None
    phase: dict[str, Any] | None = None
    baselines: dict[str, ImageScores] | None = None
    noise_floor: NoiseFloor
    refined: RefinedBlock | None = None
    classical: ClassicalBlock | None = None
    twin_image_fraction: float | None = None
    backprojection: BackprojectionBlock | None = Field(
        default=None, description="the network's physics input alone, stitched like the PINN"
    )
    dense: DenseBlock | None = Field(
        default=None, description="the network on every test group, scored on its own covered region"
    )
    reference: dict[str, Any] | None = Field(
        default=None, description="the grid protocol's whole-image, mean-scaled SSIM of the same canvas"
    )
    fill_free: dict[str, Any] | None = Field(
        default=None,
        description="scores no fill of uncovered pixels enters: reference metric on the largest covered "
        "rectangle, interior-window masked SSIM",
    )
    ceiling: dict[str, Any] | None = Field(
        default=None,
        description="the cell's information ceiling (gridsize 1: the twin bound) and the normalised score",
    )
    test_sets: dict[str, Any] | None = Field(
        default=None,
        description="the model on both protocols' canonical test sets (grid tiles on an object no protocol "
        "trains on, random positions on its held-out half), each with both stitchings (run.test_sets)",
    )


class ValueStats(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    nan_count: int


class Stats(BaseModel):
    """``inference_outputs/stats.json``: the stitched image's value statistics, canvas and
    the display range of every PNG."""

    model_config = ConfigDict(extra="forbid")
    amplitude: ValueStats
    phase: ValueStats
    uncovered_pixels: int
    offsets: dict[str, Any]
    padded_size: int
    required_canvas: int
    fits_canvas: bool
    coverage_fraction: float
    canvas_origin: list[float]
    display_ranges: dict[str, Any]


class Telemetry(BaseModel):
    """``reassembly_<run>.json``: offsets, canvases and coverage of the stitched groups."""

    model_config = ConfigDict(extra="forbid")
    scenario: str
    group_limit: int
    profile: dict[str, Any]
    source: dict[str, str | None] = Field(description="kind: simulated | npz; path of the file")
    N: int
    M: int
    gridsize: int
    n_patches: int
    n_groups: int
    offsets: dict[str, Any]
    model_canvas: dict[str, Any]
    stitch_canvas: dict[str, Any]
    coverage: dict[str, Any]


#: name -> (model, committed schema file)
SCHEMAS: dict[str, type[BaseModel]] = {
    "comparison_metrics": Comparison,
    "stats": Stats,
    "reassembly_telemetry": Telemetry,
}
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


def schema_text(model: type[BaseModel]) -> str:
    return json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"


def checked(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` validated against ``model``, returned with exactly its own keys (so the
    file's content is unchanged; a missing or unknown key raises ``ValueError``)."""
    return model.model_validate(data).model_dump(mode="json", exclude_unset=True)


def read(model: type[BaseModel], path: str | Path):
    """Read and validate one result file; a broken file raises ``ValueError`` naming it."""
    try:
        return model.model_validate(read_json(path))
    except (ValueError, json.JSONDecodeError) as exc:
        raise ValueError(f"{str(path)!r} is not a valid {model.__name__} record: {exc}") from None


# --------------------------------------------------------------------------- results rows
#: The columns of every results table: (key, header).  One owner; tables pick from it.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("hub", "hub"),
    ("run", "run"),
    ("scenario", "scenario"),
    ("status", "status"),
    ("stage", "reconstruction"),
    ("amp_ssim", "amp SSIM"),
    ("flat_ssim", "flat baseline"),
    ("ref_ssim", "reference-metric SSIM"),
    ("ref_flat_ssim", "reference flat"),
    ("blur8_ssim", "blur σ8 baseline"),
    ("pearson_r", "Pearson r"),
    ("mae", "MAE"),
    ("ls_scale", "LS scale"),
    ("coverage", "coverage"),
    ("train_s", "train s"),
    ("total_s", "total s"),
)


def result_rows(
    meta: dict[str, Any] | None,
    comparison: Comparison | dict[str, Any] | None,
    *,
    hub: str = "",
    run: str = "",
) -> list[dict[str, Any]]:
    """One row per reconstruction of a run (the PINN; its physics input alone when it has
    one; PINN + refinement when it refined;
    the classical engine from a flat and from the PINN's start when it ran),
    each score beside the same flat and blur baselines.  A run without ground truth, or one
    that stopped before its comparison, still gets one row (scores ``None``)."""
    meta = meta or {}
    comp = Comparison.model_validate(comparison) if isinstance(comparison, dict) else comparison
    timings = meta.get("timings_s") or {}
    base = {
        "hub": hub,
        "run": run or meta.get("run_name") or meta.get("scenario"),
        "scenario": meta.get("scenario"),
        "status": meta.get("status", "incomplete"),
        "coverage": comp.coverage_fraction if comp else None,
        "train_s": timings.get("train"),
        "total_s": timings.get("total"),
    }
    b = comp.baselines if comp and comp.baselines else {}
    stages: list[tuple[str, ImageScores | None, dict | None, dict]] = [
        ("PINN", comp.amplitude if comp else None, comp.reference if comp else None, b)
    ]
    if comp and comp.backprojection is not None:
        k = comp.backprojection.iterations
        stages.append(
            (
                f"network input alone ({k}-iteration back-projection)",
                comp.backprojection.amplitude,
                comp.backprojection.reference,
                b,
            )
        )
    if comp and comp.refined is not None:
        steps = comp.refined.refinement.get("steps")
        stages.append((f"PINN + {steps} refinement steps", comp.refined.amplitude, comp.refined.reference, b))
    if comp and comp.classical is not None:
        c = comp.classical
        rec = c.classical
        name = f"{rec.get('engine', 'classical')}, {rec.get('iterations')} it"
        stages.append((f"classical ({name}, flat start)", c.amplitude, c.reference, b))
        if c.seeded is not None:
            stages.append((f"classical ({name}, PINN start)", c.seeded.amplitude, c.seeded.reference, b))
    if comp and comp.dense is not None and not comp.dense.same_as_main:
        d = comp.dense  # its own covered region, so its own baselines
        stages.append((f"PINN, all {d.groups} test groups", d.amplitude, d.reference, d.baselines or {}))
    rows = []
    for stage, a, ref, bl in stages:
        flat, blur = bl.get("flat"), bl.get("blur_sigma8")
        if stage.startswith("PINN, all") and comp.dense is not None:  # its own covered region
            base = {**base, "coverage": comp.dense.coverage_fraction}
        rows.append(
            {
                **base,
                "stage": stage,
                "amp_ssim": a.ssim if a else None,
                "flat_ssim": flat.ssim if flat else None,
                "blur8_ssim": blur.ssim if blur else None,
                "ref_ssim": (ref or {}).get("amplitude", {}).get("ssim"),
                "ref_flat_ssim": (ref or {}).get("flat_baseline", {}).get("ssim"),
                "pearson_r": a.pearson_r if a else None,
                "mae": a.mae if a else None,
                "ls_scale": a.ls_scale if a else None,
            }
        )
    return [{k: r[k] for k, _ in COLUMNS} for r in rows]


def run_rows(folder: str | Path) -> list[dict[str, Any]]:
    """The result rows of one run folder of a hub, from its files (never raises for a
    broken or unfinished run: its status says what is missing)."""
    folder = Path(folder)
    meta: dict[str, Any] = {}
    comp = None
    try:
        meta = read_json(folder / "run_metadata.json")
    except (OSError, ValueError):
        meta = {"status": "unreadable" if (folder / "run_metadata.json").exists() else "incomplete"}
    meta = settled(folder, meta)
    if (folder / "comparison_metrics.json").is_file():
        try:
            comp = read(Comparison, folder / "comparison_metrics.json")
        except (OSError, ValueError):
            meta = {**meta, "status": "unreadable"}
    return result_rows(meta, comp, hub=folder.parent.name, run=folder.name)


def select(rows: list[dict[str, Any]], keys: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    """The given columns of each row, in that order (unknown keys are an error)."""
    known = {k for k, _ in COLUMNS}
    unknown = [k for k in keys if k not in known and not all(k in r for r in rows)]
    if unknown:
        raise ValueError(f"unknown result column(s) {unknown}; columns: {', '.join(sorted(known))}")
    return [{k: r.get(k) for k in keys} for r in rows]


#: what a study reads from a ``test_sets`` block of ``comparison_metrics.json``
#: (``run.test_sets``): (test set, stitching, score) — the grid tiles stitched as the grid
#: protocol does (10×10 tiles), the random half as the non-grid one does (20×20 overlap)
TEST_SET_SCORES = {
    "tiles_ssim": ("grid_tiles", "tiles", "amp_ssim"),
    "tiles_share": ("grid_tiles", "tiles", "normalised"),
    "random_half_ssim": ("random_half", "overlap", "amp_ssim"),
    "random_half_interior": ("random_half", "overlap", "interior_ssim"),
    "random_half_share": ("random_half", "overlap", "normalised"),
}


def test_set_scores(block: dict[str, Any] | None) -> dict[str, float | None]:
    """The study's canonical-test-set metrics of one ``test_sets`` block (``None``: none)."""
    block = block or {}
    return {
        metric: ((block.get(name) or {}).get(stitching) or {}).get(key)
        for metric, (name, stitching, key) in TEST_SET_SCORES.items()
    }
