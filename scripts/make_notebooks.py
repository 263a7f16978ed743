"""Write the committed notebook templates in notebooks/ (no outputs).

The notebooks are thin controllers: a markdown cell saying what they answer and write,
a `parameters` cell of literal typed assignments, then calls into ptycho_helpers.
Run:  .venv/bin/python scripts/make_notebooks.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1] / "notebooks"
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def _nb(cells):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNEL
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def _params(text: str):
    cell = new_code_cell(text.strip("\n"))
    cell.metadata["tags"] = ["parameters"]
    return cell


def _code(text: str, check: bool = False):
    src = text.strip("\n")
    if check:
        src = "# NBVAL_CHECK_OUTPUT\n" + src
    return new_code_cell(src)


KNOBS = [
    ("base_total_images", "Optional[int]", "scan positions per gridsize**2 (profile default if None)"),
    ("group_count", "Optional[int]", "groups per split (profile default if None)"),
    ("batch_size", "Optional[int]", "training batch size (profile default if None)"),
    ("neighbor_count", "Optional[int]", "K, neighbour pool for gridsize > 1"),
    ("gridsize", "Optional[int]", "1 or 2 (scenario default if None)"),
    ("probe_mode", "Optional[str]", "idealized | custom (scenario default if None)"),
    ("probe_scale", "Optional[float]", "probe normalisation: mean of abs(disk*probe) is 1/probe_scale"),
    ("probe_big", "Optional[bool]", "model fills the patch border too"),
    ("probe_mask", "Optional[bool]", "multiply the probe by the disk r < N/4 in the model"),
    ("object_seed", "Optional[int]", "seed of the lines object"),
    ("sim_seed", "Optional[int]", "seed of positions, Poisson noise and grouping"),
    ("buffer", "Optional[float]", "scan positions lie in [buffer, size - buffer]"),
    ("nphotons", "Optional[float]", "mean photons per diffraction pattern"),
    ("split_fraction", "Optional[float]", "test share (largest y)"),
    ("image_multiplier", "Optional[int]", "extra factor on the number of positions"),
    ("group_multiplier", "Optional[int]", "extra factor on the number of groups"),
    ("amp_vmax", "Optional[float]", "amplitude colour-scale maximum (stats-based if None)"),
]


def scenario_run() -> nbformat.NotebookNode:
    params = "\n".join(
        [
            'scenario: str = "gs1_ideal"  # gs1_ideal | gs1_custom | gs2_ideal | gs2_custom',
            'hub_dir: str = ""  # hub root; writes hub_dir/<scenario>/ (empty: a new hub in reports/)',
            "nepochs: int = 5  # training epochs",
            "group_limit: int = 64  # test groups stitched: min(group_count, group_limit)",
            "seed: int = 42  # training seed (weights, validation draw, shuffling)",
            'amp_activation: str = "softplus"  # amplitude head: softplus | sigmoid | scaled_sigmoid',
            "register: bool = False  # sub-pixel registration before the metrics",
            "custom_probe_path = None  # type: Optional[str] .npz with probeGuess (default: shipped synthetic probe)",
        ]
        + [f"{k} = None  # type: {t} {h}" for k, t, h in KNOBS]
    )
    overrides = ",\n    ".join(f'"{k}": {k}' for k, _, _ in KNOBS)
    cells = [
        new_markdown_cell(
            "# Scenario run\n\n"
            "Runs one PINN ptychography scenario end to end — resolve the stable profile, simulate the lines "
            "object and its Poisson-noisy diffraction, split by y, group, train the PINN, reconstruct the "
            "test region, stitch, and compare with the ground truth on the covered region.\n\n"
            "**Writes** `hub_dir/<scenario>/`: `run_metadata.json`, `train_outputs/` (model bundle, history), "
            "`inference_outputs/` (amplitude/phase `.npy` + `.png`, `stats.json`), ground-truth and difference "
            "maps, `comparison_metrics.json`; and `hub_dir/<scenario>_notes.md`. "
            "Parameters left at `None` take the scenario's stable-profile / default value."
        ),
        _params(params),
        _code(
            "from ptycho_helpers import runtime\n\n"
            "runtime.setup_notebook()  # quiet TensorFlow start-up, one plain log line per record\n"
            "from IPython.display import Image, Markdown, display\n\n"
            "from ptycho_helpers import artifacts, runs, scenario_run"
        ),
        _code(
            "overrides = {\n    " + overrides + ",\n}\n"
            "hub = hub_dir or str(runs.default_reports_dir() / artifacts.utc_stamp())\n"
            "ctx = scenario_run.start_scenario(\n"
            "    scenario, hub, overrides=overrides, nepochs=nepochs, group_limit=group_limit, seed=seed,\n"
            "    amp_activation=amp_activation, custom_probe_path=custom_probe_path, register=register,\n"
            ")"
        ),
        _code(
            'print("scenario:", ctx.name)\n'
            'print("counts (total, train, test):", ctx.resolved.counts)\n'
            'print("profile active:", ctx.resolved.profile["active"])\n'
            'print("effective group_count / batch_size:", ctx.resolved.group_count, ctx.resolved.batch_size)',
            check=True,
        ),
        _code("sim = scenario_run.simulate_scenario(ctx)\ngroups = scenario_run.group_scenario(ctx, sim)"),
        _code("trained = scenario_run.train_scenario(ctx, groups, sim)"),
        _code(
            "rec, stitched = scenario_run.reconstruct_scenario(ctx, trained, groups)\n"
            "comparison = scenario_run.evaluate_scenario(ctx, sim, rec, stitched, trained, groups)\n"
            "stats = scenario_run.write_scenario_outputs(ctx, sim, stitched, comparison, groups)"
        ),
        _code(
            'display(Markdown((ctx.hub / f"{ctx.name}_notes.md").read_text()))\n'
            'display(Image(str(ctx.folder / "inference_outputs" / "amplitude.png")))\n'
            'display(Image(str(ctx.folder / "ground_truth_amplitude.png")))\n'
            'display(Image(str(ctx.folder / "amplitude_diff.png")))'
        ),
        _code('meta = scenario_run.finish_scenario(ctx)\nprint("status:", meta.status)', check=True),
    ]
    return _nb(cells)


def main() -> None:
    ROOT.mkdir(exist_ok=True)
    for name, build in (("scenario_run.ipynb", scenario_run),):
        nb = build()
        nbformat.validate(nb)
        nbformat.write(nb, ROOT / name)
        print(f"wrote {ROOT / name}")


if __name__ == "__main__":
    main()
