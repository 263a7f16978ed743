"""Reading hubs back, cross-run comparison figures, and the interactive run inspector.

The widget logic lives here so it is tested with pytest without a browser; the
notebooks (``inspect_run.ipynb``, ``compare_runs.ipynb``) only call these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.io import read_json, read_npy
from .artifacts import default_reports_dir
from .results import COLUMNS, result_rows

VIEWS = (
    "amplitude",
    "phase",
    "amplitude difference",
    "phase difference",
    "ground-truth amplitude",
    "coverage",
    "refined amplitude",
    "refined amplitude difference",
    "classical amplitude",
    "classical amplitude difference",
    "dense amplitude",
    "dense amplitude difference",
)
#: uncovered pixels (no data: NaN) and values beyond the colour range, distinct from the maps
#: (the inspector and the compare figures)
NAN_COLOUR, OVER_COLOUR, UNDER_COLOUR = "#e9d8a6", "#ff00ff", "#00c8ff"
#: views every run with results has; the rest depend on its stages (``RunView.views``)
BASE_VIEWS = VIEWS[:6]
#: further reconstructions: view prefix -> (RunView attribute, folder, what to do when absent)
FURTHER = {
    "refined": ("refined_amplitude", "refined_outputs", "no refined reconstruction (refine_steps=0)"),
    "classical": ("classical_amplitude", "classical_outputs", "no classical reconstruction (classical=none)"),
}


@dataclass(frozen=True)
class RunView:
    """The arrays and numbers of one finished run in a hub (read-only)."""

    hub: Path
    name: str
    amplitude: np.ndarray
    phase: np.ndarray
    coverage: np.ndarray
    truth_amplitude: np.ndarray | None  # None: imported data without a ground truth
    truth_phase: np.ndarray | None
    metadata: dict[str, Any]
    comparison: dict[str, Any]
    stats: dict[str, Any]
    refined_amplitude: np.ndarray | None = None  # physics-refined reconstruction, when the run refined
    classical_amplitude: np.ndarray | None = None  # the classical engine's (flat start), when it ran
    dense_amplitude: np.ndarray | None = None  # the network on every test group, on its own canvas
    dense_difference: np.ndarray | None = None  # dense minus truth on that canvas (NaN uncovered)

    def views(self) -> list[str]:
        """The views this run can show: no refined, classical or dense view for a run that
        did not make that reconstruction, no difference without a ground truth."""
        out = [
            v for v in BASE_VIEWS if self.has_truth or not ("difference" in v or v.startswith("ground-truth"))
        ]
        for prefix, (attr, _, _) in FURTHER.items():
            if getattr(self, attr) is not None:
                out += [
                    v for v in VIEWS if v.startswith(prefix) and (self.has_truth or "difference" not in v)
                ]
        if self.dense_amplitude is not None:
            out.append("dense amplitude")
            if self.dense_difference is not None:
                out.append("dense amplitude difference")
        return out

    @property
    def covered(self) -> np.ndarray:
        return self.coverage > 0

    @property
    def has_truth(self) -> bool:
        return self.truth_amplitude is not None

    def image(self, view: str) -> np.ndarray:
        if ("difference" in view or view.startswith("ground-truth")) and not self.has_truth:
            raise ValueError(
                f"view {view!r}: run {self.name!r} has no ground truth (imported data without one)"
            )
        if view == "amplitude":
            return self.amplitude
        if view == "phase":
            return self.phase
        if view == "amplitude difference":
            return np.where(self.covered, self.amplitude - self.truth_amplitude, np.nan)
        if view == "phase difference":
            return np.where(self.covered, np.angle(np.exp(1j * (self.phase - self.truth_phase))), np.nan)
        if view == "ground-truth amplitude":
            return np.where(self.covered, self.truth_amplitude, np.nan)
        if view == "coverage":
            return self.coverage
        if view.startswith("dense"):  # its own canvas: all test groups, its own covered region
            img = self.dense_amplitude if view == "dense amplitude" else self.dense_difference
            if img is None:
                raise ValueError(
                    f"view {view!r}: run {self.name!r} has no dense reconstruction (its own test groups only)"
                )
            return img
        for prefix, (attr, _, absent) in FURTHER.items():
            if view.startswith(prefix):
                img = getattr(self, attr)
                if img is None:
                    raise ValueError(f"view {view!r}: run {self.name!r} has {absent}")
                if view == f"{prefix} amplitude":
                    return img
                if view == f"{prefix} amplitude difference":
                    return np.where(self.covered, img - self.truth_amplitude, np.nan)
        raise ValueError(f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")


def resolve_reports_dir(reports_dir: str | Path | None = None) -> Path:
    """The folder of hubs a reader means: an absolute path as given; a relative one against
    the working folder when it exists there, else against the repository (a JupyterLab
    kernel starts in ``notebooks/``, where ``reports`` would find nothing)."""
    if reports_dir in (None, ""):
        return default_reports_dir()
    p = Path(reports_dir).expanduser()
    if p.is_absolute() or p.is_dir():
        return p.resolve()
    return (default_reports_dir().parent / p).resolve()


def list_hubs(reports_dir: str | Path) -> list[Path]:
    """Hub folders under ``reports_dir``, newest first."""
    root = Path(reports_dir)
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)


#: the files a finished run has and the viewer reads
RUN_FILES = (
    "run_metadata.json",
    "comparison_metrics.json",
    "inference_outputs/amplitude.npy",
    "inference_outputs/phase.npy",
    "inference_outputs/coverage.npy",
    "inference_outputs/stats.json",
)


def _complete(folder: Path) -> bool:
    if not all((folder / n).is_file() for n in RUN_FILES):
        return False
    try:
        return read_json(folder / "run_metadata.json").get("status") == "complete"
    except (OSError, ValueError):
        return False


def list_runs(hub: str | Path) -> list[str]:
    """Names of the complete runs in a hub (status ``complete`` and every file the viewer
    reads); a broken or unfinished run is left out, never an error."""
    h = Path(hub)
    return sorted(p.parent.name for p in h.glob("*/comparison_metrics.json") if _complete(p.parent))


def load_runs(hubs: list[Path]) -> tuple[list[RunView], dict[str, str]]:
    """Every loadable run of ``hubs`` and, per run folder that has results but does not
    load, its error (one broken run never hides the good ones)."""
    runs, errors = [], {}
    for h in hubs:
        for p in sorted(Path(h).glob("*/comparison_metrics.json")):
            name = p.parent.name
            try:
                if not _complete(p.parent):
                    raise ValueError("not a complete run (status or files missing)")
                runs.append(load_run(h, name))
            except (OSError, ValueError, KeyError) as exc:
                errors[name if len(hubs) == 1 else f"{Path(h).name}/{name}"] = str(exc)
    return runs, errors


def require_runs(reports_dir: str | Path) -> list[Path]:
    """The hubs holding complete runs, newest first; a clear error naming the folder searched."""
    root = Path(reports_dir).resolve()
    hubs = [h for h in list_hubs(root) if list_runs(h)]
    if not hubs:
        raise FileNotFoundError(f"no runs found under {str(root)!r} (run `make run` first)")
    return hubs


def _optional(path: Path) -> np.ndarray | None:
    return read_npy(path) if path.is_file() else None


def load_run(hub: str | Path, name: str) -> RunView:
    """Load one run of a hub; a clear error when it is missing or incomplete."""
    folder = Path(hub) / name
    needed = ["inference_outputs/amplitude.npy", "comparison_metrics.json", "run_metadata.json"]
    missing = [n for n in needed if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"run {str(folder)!r} is incomplete or missing: no {', '.join(missing)}")
    return RunView(
        hub=Path(hub),
        name=name,
        amplitude=read_npy(folder / "inference_outputs" / "amplitude.npy"),
        phase=read_npy(folder / "inference_outputs" / "phase.npy"),
        coverage=read_npy(folder / "inference_outputs" / "coverage.npy"),
        truth_amplitude=_optional(folder / "ground_truth_amplitude.npy"),
        truth_phase=_optional(folder / "ground_truth_phase.npy"),
        metadata=read_json(folder / "run_metadata.json"),
        comparison=read_json(folder / "comparison_metrics.json"),
        stats=read_json(folder / "inference_outputs" / "stats.json"),
        **{attr: _optional(folder / sub / "amplitude.npy") for attr, sub, _ in FURTHER.values()},
        dense_amplitude=_optional(folder / "dense_outputs" / "amplitude.npy"),
        dense_difference=_optional(folder / "dense_outputs" / "amplitude_diff.npy"),
    )


def comparison_table(runs: list[RunView]) -> list[dict[str, Any]]:
    """One row per reconstruction of each run (:func:`results.result_rows`): SSIM beside its
    flat and blur baselines, r, MAE, LS scale, coverage, times.  Runs without ground truth
    get rows with empty scores."""
    return [row for r in runs for row in result_rows(r.metadata, r.comparison, hub=r.hub.name, run=r.name)]


def default_compare_hubs(reports_dir: str | Path) -> list[Path]:
    """What ``compare_runs`` compares when no hub is named: the newest hub holding several
    runs (the last ``rerun``, sweep or study), else the newest hub with a run.  (It took
    the newest hub, so one extra single-run hub made it "compare" one run.)"""
    with_runs = [(h, len(list_runs(h))) for h in list_hubs(reports_dir)]
    with_runs = [(h, n) for h, n in with_runs if n]
    several = [h for h, n in with_runs if n > 1]
    return several[:1] or [h for h, _ in with_runs[:1]]


def table_markdown(rows: list[dict[str, Any]], *, labels: bool = False) -> str:
    """A Markdown table of ``rows``; ``labels``: the result columns' readable names
    (``results.COLUMNS``) instead of their keys."""
    if not rows:
        return "(no runs)"
    keys = list(rows[0])
    names = dict(COLUMNS) if labels else {}

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        return "n/a" if v is None else str(v)

    lines = [
        "| " + " | ".join(names.get(k, k) for k in keys) + " |",
        "| " + " | ".join("---" for _ in keys) + " |",
    ]
    lines += ["| " + " | ".join(fmt(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def shared_vmax(runs: list[RunView]) -> float:
    """One amplitude display maximum for several runs (max of truth max / prediction p99.5)."""
    vals = [1e-9]
    for r in runs:
        m = r.covered
        if m.any():
            if r.has_truth:
                vals.append(float(np.nanmax(r.truth_amplitude[m])))
            vals.append(float(np.nanpercentile(r.amplitude[m], 99.5)))
    return max(vals)


def _cmap(name: str):
    """A colour map whose NaN (uncovered) pixels are beige, as in the inspector."""
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad=NAN_COLOUR)


def side_by_side_figure(runs: list[RunView]):
    """Truth, PINN and (when the run has it) the classical engine's amplitude of every run
    at one shared colour scale with its colour bar; uncovered pixels beige."""
    import matplotlib.pyplot as plt

    vmax = shared_vmax(runs)
    views = ["ground-truth amplitude", "amplitude"]
    if any(r.classical_amplitude is not None for r in runs):
        views.append("classical amplitude")
    fig, axes = plt.subplots(
        len(runs), len(views), figsize=(3.6 * len(views), 3.4 * len(runs)), squeeze=False
    )
    label = {"ground-truth amplitude": "truth", "amplitude": "PINN", "classical amplitude": "classical"}
    im = None
    for row, r in zip(axes, runs, strict=True):
        for ax, view in zip(row, views, strict=True):
            ax.set_axis_off()
            if view not in r.views():
                ax.text(0.5, 0.5, f"no {label[view]}", ha="center", va="center", transform=ax.transAxes)
                continue
            im = ax.imshow(np.where(r.covered, r.image(view), np.nan), vmin=0, vmax=vmax, cmap=_cmap("gray"))
            ax.set_title(f"{r.name}: {label[view]}\n{r.hub.name}", fontsize=8)
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.02, label="amplitude")
    fig.suptitle(f"amplitude, shared scale 0…{vmax:.2f} (beige: not covered)", fontsize=9)
    return fig


def histogram_figure(runs: list[RunView], bins: int = 60):
    """Amplitude histograms, prediction vs truth, on the covered pixels of each run."""
    import matplotlib.pyplot as plt

    vmax = shared_vmax(runs)
    fig, axes = plt.subplots(1, len(runs), figsize=(4 * len(runs), 3), squeeze=False)
    for ax, r in zip(axes[0], runs, strict=True):
        m = r.covered
        edges = np.linspace(0, vmax, bins + 1)
        if r.has_truth:
            ax.hist(r.truth_amplitude[m], bins=edges, alpha=0.6, label="truth")
        ax.hist(r.amplitude[m][np.isfinite(r.amplitude[m])], bins=edges, alpha=0.6, label="prediction")
        ax.set_title(f"{r.name}", fontsize=8)
        ax.set_xlabel("amplitude")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def bias_maps_figure(runs: list[RunView]):
    """Prediction − truth amplitude maps at one symmetric scale."""
    import matplotlib.pyplot as plt

    runs = [r for r in runs if r.has_truth]
    if not runs:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.text(0.5, 0.5, "no run with a ground truth", ha="center", va="center")
        ax.set_axis_off()
        return fig
    diffs = [r.image("amplitude difference") for r in runs]
    lim = max([float(np.nanmax(np.abs(d))) for d in diffs if np.isfinite(d).any()] + [1e-9])
    fig, axes = plt.subplots(1, len(runs), figsize=(4 * len(runs), 3.4), squeeze=False)
    for ax, r, d in zip(axes[0], runs, diffs, strict=True):
        im = ax.imshow(d, vmin=-lim, vmax=lim, cmap=_cmap("RdBu_r"))  # beige where not covered
        ax.set_title(f"{r.name}: PINN − truth", fontsize=8)
        ax.set_axis_off()
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def line_profile(run: RunView, view: str, row: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Values of ``view`` along canvas row ``row`` and, for amplitude views, the truth."""
    img = run.image(view)
    if not 0 <= row < img.shape[0]:
        raise ValueError(f"row={row} is outside the canvas (0…{img.shape[0] - 1})")
    truth = None
    if view.startswith("dense"):  # its own canvas: covered where it has a value
        covered = np.isfinite(run.dense_amplitude[row])
        if view == "dense amplitude" and run.dense_difference is not None:
            truth = np.where(covered, run.dense_amplitude[row] - run.dense_difference[row], np.nan)
        return np.where(covered, img[row], np.nan), truth
    if not run.has_truth:
        pass
    elif view in ("amplitude", "refined amplitude", "classical amplitude"):
        truth = np.where(run.covered[row], run.truth_amplitude[row], np.nan)
    elif view == "phase":
        truth = np.where(run.covered[row], run.truth_phase[row], np.nan)
    vals = np.where(run.covered[row], img[row], np.nan) if view != "coverage" else img[row]
    return vals, truth
