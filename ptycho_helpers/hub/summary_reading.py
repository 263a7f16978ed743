"""The reading part of a hub's ``summary.md`` (issue 30): which reconstruction is best on
the common region, one result sentence per scenario (best, PINN, what training added over
its input, the ceiling), and a legend that explains exactly the rows shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import results


def _same_region(row: dict[str, Any]) -> bool:
    """Rows scored on the main covered region (the dense row has its own, larger one)."""
    return not row["stage"].startswith("PINN, all ")


def _best(found: list[dict[str, Any]]) -> dict[str, Any] | None:
    scored = [r for r in found if _same_region(r) and r.get("amp_ssim") is not None]
    return max(scored, key=lambda r: r["amp_ssim"]) if scored else None


def _ceiling_of(hub: Path | None, name: str) -> dict[str, Any] | None:
    if hub is None:
        return None
    try:
        return (results.read_json(hub / name / "comparison_metrics.json") or {}).get("ceiling")
    except (OSError, ValueError):
        return None


def result_line(name: str, found: list[dict[str, Any]], ceiling: dict[str, Any] | None = None) -> str:
    """One sentence per scenario: the best reconstruction beside the flat image, the PINN,
    what training added over its input, the classical engine, the ceiling when known."""
    best = _best(found)
    if best is None:
        return f"- **{name}**: no scored reconstruction (no ground truth or the run stopped early)."
    by = {r["stage"].split(" (")[0]: r for r in found if _same_region(r) and r.get("amp_ssim") is not None}
    flat = best["flat_ssim"]
    parts = [f"best: {best['stage']} {best['amp_ssim']:.3f} (flat {flat:.3f})"]
    pinn = by.get("PINN")
    if pinn is not None and pinn is not best:
        parts.append(f"PINN {pinn['amp_ssim']:.3f}")
    inp = by.get("network input alone")
    if pinn is not None and inp is not None:
        parts.append(
            f"training added {pinn['amp_ssim'] - inp['amp_ssim']:+.3f} over its input ({inp['amp_ssim']:.3f})"
        )
    if ceiling and ceiling.get("amp_ssim") is not None:
        share = ceiling.get("normalised_pinn")
        if share is not None and share > 1:  # e.g. a per-group solve on low-dose data fits the noise
            where = ", below the PINN: not a bound for this data (the solve fits the noise)"
        elif share is not None:
            where = f", the PINN at {share:.0%} of the way from flat to it"
        else:
            where = ""
        parts.append(f"ceiling {ceiling['amp_ssim']:.3f} ({ceiling['kind'].split(' (')[0]} bound){where}")
    return f"- **{name}**: " + "; ".join(parts) + "."


def _legend(stages: set[str]) -> str:
    """What the table's rows are, only for the rows shown, and which SSIM is the headline."""
    text = [
        "Headline: *amp SSIM*, masked amplitude SSIM on the covered test region (every row but the dense one "
        "is scored on the same region; ★ marks the best). *reference-metric*: the grid protocol's whole-image, "
        "mean-scaled SSIM (on non-grid canvases uncovered pixels are filled, so read it there as coverage)."
    ]
    if "PINN" in stages:
        if any(s.startswith("network input alone") for s in stages):  # issue 28: say what it is
            text.append(
                "*PINN*: the network's output = its physics input + the correction training learned "
                "(no refinement, no classical engine)."
            )
        else:
            text.append("*PINN*: the network alone (no refinement, no classical engine).")
    if any(s.startswith("network input alone") for s in stages):
        text.append(
            "*network input alone*: the physics input the network reads and starts from; PINN minus it is what "
            "training added."
        )
    if any(s.startswith("PINN + refinement") for s in stages):
        text.append("*PINN + refinement*: its patches refined on their own diffraction.")
    if any(s.startswith("classical") for s in stages):
        text.append(
            "*classical*: PtyLab, known probe, from a flat start and from the PINN's image, same patterns."
        )
    if any(s.startswith("PINN, all ") for s in stages):
        text.append(
            "*PINN, all N test groups*: the network on every test group, scored on its own (larger) covered region "
            "with its own baselines: not comparable with the rows above it."
        )
    text.append(
        "*flat baseline*: a constant image at the truth's mean; *blur σ8*: the truth blurred by 8 px; *LS scale*: "
        "the least-squares factor truth ≈ scale × prediction (1 = no amplitude bias)."
    )
    return " ".join(text)
