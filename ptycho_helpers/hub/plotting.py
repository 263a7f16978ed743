"""PNGs with shared, recorded colour scaling (matplotlib Agg; atomic writes).

Display range rule (the only place it is decided): amplitude ``vmin = 0`` and one
``vmax`` shared by prediction and ground truth of a scenario — the caller's ``amp_vmax``
if given, else the larger of the truth maximum and the prediction's 99.5th percentile on
the covered region; phase ``±π``; differences symmetric about 0.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..core.io import atomic_path


def amplitude_range(
    pred: np.ndarray, truth: np.ndarray, mask: np.ndarray, amp_vmax: float | None = None
) -> dict[str, Any]:
    """The shared amplitude display range ``{vmin, vmax, rule}``."""
    if amp_vmax is not None:
        if not (math.isfinite(amp_vmax) and amp_vmax > 0):
            raise ValueError(f"amp_vmax={amp_vmax!r} must be a finite number > 0")
        return {"vmin": 0.0, "vmax": float(amp_vmax), "rule": "amp_vmax given by the caller"}
    p = np.abs(pred[mask]) if mask.any() else np.zeros(1)
    p = p[np.isfinite(p)]
    t = np.abs(truth[mask]) if mask.any() else np.zeros(1)
    vmax = max(float(t.max()) if t.size else 0.0, float(np.percentile(p, 99.5)) if p.size else 0.0)
    return {
        "vmin": 0.0,
        "vmax": vmax or 1.0,
        "rule": "max(truth max, prediction p99.5) on the covered region",
    }


def save_image(
    path: str | Path,
    image: np.ndarray,
    *,
    vmin: float,
    vmax: float,
    title: str,
    cmap: str = "gray",
    label: str = "",
    mask: np.ndarray | None = None,
) -> dict[str, Any]:
    """Save one image as a PNG with a colour bar; uncovered pixels (``~mask``/NaN) are shown
    in a neutral colour.  Returns the range used."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    data = np.asarray(image, dtype=np.float64)
    if mask is not None:
        data = np.where(mask, data, np.nan)
    cm = plt.get_cmap(cmap).with_extremes(bad="#d8c9a8")
    fig, ax = plt.subplots(figsize=(5, 4.2), dpi=100)
    im = ax.imshow(data, vmin=vmin, vmax=vmax, cmap=cm, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x (canvas px)")
    ax.set_ylabel("y (canvas px)")
    fig.colorbar(im, ax=ax, label=label)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return {"vmin": float(vmin), "vmax": float(vmax), "cmap": cmap}


def save_history_plot(
    path: str | Path, history: dict[str, list[float]], *, curve: dict[str, list[float]] | None = None
) -> None:
    """Training curves as a PNG: the loss against optimiser steps (log y) and, when the run
    has a learning curve with scores, SSIM against steps beside it (epoch losses without a
    curve)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    scores = [k for k in (curve or {}) if k not in ("step", "loss")]
    fig, axes = plt.subplots(
        1, 2 if scores else 1, figsize=(10 if scores else 5, 3.5), dpi=100, squeeze=False
    )
    ax = axes[0, 0]
    if curve and curve.get("step"):
        ax.plot(curve["step"], curve["loss"], marker=".", label="loss (epoch running mean)")
        ax.set_xlabel("optimiser step")
    else:
        for key in ("loss", "val_loss"):
            if key in history and history[key]:
                v = np.asarray(history[key], dtype=float)
                ax.plot(np.arange(1, v.size + 1), v, marker="o", label=key)
        ax.set_xlabel("epoch")
    ax.set_yscale("log")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=7)
    if scores:
        ax2 = axes[0, 1]
        for key in scores:
            ax2.plot(curve["step"], curve[key], marker=".", label=key)
        ax2.set_xlabel("optimiser step")
        ax2.set_ylabel("amplitude SSIM (first test groups)")
        ax2.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def save_convergence(path: str | Path, runs: dict[str, Any], *, title: str) -> None:
    """Classical convergence as a PNG: the engine's own error per iteration (log y) and, when
    recorded, amplitude SSIM against iterations, one line per start (``runs``: label →
    ``core.classical.ClassicalResult``).  Drawn on a bare ``Figure`` (no pyplot state)."""
    from matplotlib.figure import Figure

    with_curve = any(r.curve for r in runs.values())
    fig = Figure(figsize=(10 if with_curve else 5, 3.5), dpi=100)
    axes = fig.subplots(1, 2 if with_curve else 1, squeeze=False)
    ax = axes[0, 0]
    for label, r in runs.items():
        ax.plot(np.arange(1, len(r.error) + 1), r.error, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("engine error (normalised detector residual)")
    ax.legend(fontsize=7)
    if with_curve:
        ax2 = axes[0, 1]
        for label, r in runs.items():
            if r.curve:
                it, v = zip(*r.curve, strict=True)
                ax2.plot(it, v, marker=".", label=label)
        ax2.set_xlabel("iteration")
        ax2.set_ylabel("amplitude SSIM (covered region)")
        ax2.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, format="png")


#: one line of a metric plot: (label, x values, y values, matplotlib style)
Series = tuple[str, list[Any], list[float], str]


def save_metric_lines(
    path: str | Path, panels: list[tuple[str, str, list[Series]]], *, width: float = 5.0
) -> None:
    """Scores against a factor as a PNG, one panel per (x label, y label, lines): the sweep's
    and the ladder's plots.  x values are drawn as category labels; ``None`` scores are
    gaps.  Drawn on a bare ``Figure`` (no pyplot state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * len(panels), 3.8), dpi=100)
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (xlabel, ylabel, lines) in zip(axes[0], panels, strict=True):
        for label, xs, ys, style in lines:
            ax.plot([str(x) for x in xs], [float("nan") if y is None else y for y in ys], style, label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=6)
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, format="png")


def save_effects(path: str | Path, effects: dict[str, dict[str, dict[str, float]]]) -> None:
    """A study's effects with their intervals, one panel per metric (``effects``: metric →
    effect → {estimate, low, high}); a vertical line at 0.  Bare ``Figure``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5 * len(effects), 0.4 * max(len(e) for e in effects.values()) + 1.5), dpi=100)
    axes = fig.subplots(1, len(effects), squeeze=False)
    for ax, (metric, eff) in zip(axes[0], effects.items(), strict=True):
        labels = list(eff)
        y = np.arange(len(labels))[::-1]
        est = np.array([eff[k]["estimate"] for k in labels])
        lo = np.array([eff[k]["low"] for k in labels])
        hi = np.array([eff[k]["high"] for k in labels])
        ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="o", capsize=3)
        ax.axvline(0, color="0.5", lw=0.8)
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_xlabel(f"effect on {metric} (high − low), 95 % paired t interval")
    fig.tight_layout()
    with atomic_path(path, ".png") as tmp:
        fig.savefig(tmp, format="png")
