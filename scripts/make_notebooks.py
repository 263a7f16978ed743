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
            'run_name: str = ""  # folder name in the hub (empty: the scenario name)',
            'profile: str = ""  # named profile instead of the stable profile, e.g. "full" (also pass its nepochs)',
            "object_amp_norm: bool = False  # bias study: scale the object to max amplitude 1",
            "learning_rate: float = 0.0005  # Adam learning rate (reference: 0.001)",
            'input_transform: str = "linear"  # network input: linear | log | linear+log',
            "dense_bottleneck: int = 0  # width of a dense bottleneck layer (0: none, the reference CNN)",
            "refine_steps: int = 100  # physics refinement of the test patches after the PINN (0: PINN only)",
            "refine_lr: float = 0.05  # refinement Adam step",
            'data_path: str = ""  # PtychoPINN-style .npz to use instead of the simulation (empty: simulate)',
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
            "test region, refine the predicted patches against their own diffraction with the model's physics "
            "(`refine_steps`, no ground truth used), stitch, and compare both reconstructions with the ground "
            "truth on the covered region.\n\n"
            "**Writes** `hub_dir/<scenario>/`: `run_metadata.json`, `train_outputs/` (model bundle, history), "
            "`inference_outputs/` (amplitude/phase `.npy` + `.png`, `stats.json`), `refined_outputs/`, ground-truth and difference "
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
            "    run_name=run_name or None, profile=profile or None, object_amp_norm=object_amp_norm, learning_rate=learning_rate,\n"
            "    data_path=data_path or None, input_transform=input_transform, dense_bottleneck=dense_bottleneck,\n"
            "    refine_steps=refine_steps, refine_lr=refine_lr,\n"
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
            "refined = scenario_run.refine_scenario(ctx, trained, groups, sim, rec)  # None when refine_steps == 0\n"
            "comparison = scenario_run.evaluate_scenario(ctx, sim, rec, stitched, trained, groups, refined)\n"
            "stats = scenario_run.write_scenario_outputs(ctx, sim, stitched, comparison, groups, refined)"
        ),
        _code(
            'display(Markdown((ctx.hub / f"{ctx.name}_notes.md").read_text()))\n'
            "for png in scenario_run.result_pngs(ctx):\n"
            "    display(Image(str(png)))"
        ),
        _code('meta = scenario_run.finish_scenario(ctx)\nprint("status:", meta.status)', check=True),
    ]
    return _nb(cells)


def compare_runs() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# Compare runs\n\n"
            "A table across scenarios and hubs (amplitude SSIM beside its flat and blur baselines, Pearson r, "
            "MAE, least-squares scale), side-by-side amplitude images at one shared scale, amplitude "
            "histograms prediction vs truth, and bias maps (prediction − truth). Reads hubs; writes nothing."
        ),
        _params(
            'reports_dir: str = "reports"  # folder holding the hubs\n'
            "hubs: list = []  # hub folder names to compare (empty: the newest hub)"
        ),
        _code(
            "from pathlib import Path\n\n"
            "import matplotlib.pyplot as plt\n"
            "from IPython.display import Markdown, display\n\n"
            "from ptycho_helpers import viewer"
        ),
        _code(
            "hub_paths = [Path(reports_dir) / h for h in hubs] or viewer.list_hubs(reports_dir)[:1]\n"
            "runs = [viewer.load_run(h, name) for h in hub_paths for name in viewer.list_runs(h)]\n"
            'print("runs:", [f"{r.hub.name}/{r.name}" for r in runs])',
            check=True,
        ),
        _code("display(Markdown(viewer.table_markdown(viewer.comparison_table(runs))))"),
        _code("fig = viewer.side_by_side_figure(runs)\nplt.show()"),
        _code("fig = viewer.histogram_figure(runs)\nplt.show()"),
        _code("fig = viewer.bias_maps_figure(runs)\nplt.show()"),
    ]
    return _nb(cells)


def inspect_run() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# Inspect a run\n\n"
            "Interactive view of one run of a hub: choose the hub and the run, the view (amplitude, phase, "
            "differences, ground truth, coverage), the amplitude colour maximum, and a row for the line "
            "profile (prediction vs truth). Reads hubs; writes nothing. Open in JupyterLab for the widgets."
        ),
        _params('reports_dir: str = "reports"  # folder holding the hubs'),
        _code("from IPython.display import display\n\nfrom ptycho_helpers import viewer"),
        _code("inspector = viewer.RunInspector(reports_dir)\ndisplay(inspector.widget)"),
        _code(
            'print("hubs with runs:", len(inspector.hub.options), "| runs in the selected hub:", len(inspector.run.options))',
            check=True,
        ),
    ]
    return _nb(cells)


def bias_study() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# Amplitude-bias study\n\n"
            "Does the reference's amplitude undershoot reproduce (a sigmoid head capped at 1 while the object "
            "amplitude reaches ≈ 4.9), and which variant removes it? Runs `gs1_ideal` variants — softplus, "
            "sigmoid, k·sigmoid, sigmoid with the object normalised to max 1 — each in a fresh kernel, into "
            "one new hub, and tabulates the least-squares scale (truth ≈ scale × prediction) and metrics.\n\n"
            "**Writes** a new hub with one folder per variant, `bias_study.md` and `bias_study.json`."
        ),
        _params(
            'scenario: str = "gs1_ideal"  # scenario to study\n'
            'variants: list = ["softplus", "sigmoid", "scaled_sigmoid", "sigmoid_objnorm"]  # variants to run\n'
            "base_total_images: int = 256  # scan positions (small study size)\n"
            "group_count: int = 128  # groups per split\n"
            "nepochs: int = 5  # training epochs\n"
            "group_limit: int = 64  # test groups stitched\n"
            'reports_dir: str = ""  # where the hub is created (empty: reports/)'
        ),
        _code(
            "from ptycho_helpers import runtime\n\n"
            "runtime.configure_logging()\n"
            "from IPython.display import Markdown, display\n\n"
            "from ptycho_helpers import studies, viewer"
        ),
        _code(
            "hub, rows = studies.bias_study(\n"
            "    scenario=scenario, variants=variants, reports_dir=reports_dir or None,\n"
            '    overrides={"base_total_images": base_total_images, "group_count": group_count},\n'
            '    settings={"nepochs": nepochs, "group_limit": group_limit},\n'
            ")"
        ),
        _code('print("statuses:", [r["status"] for r in rows])', check=True),
        _code("display(Markdown(viewer.table_markdown(rows)))"),
    ]
    return _nb(cells)


def main() -> None:
    ROOT.mkdir(exist_ok=True)
    for name, build in (
        ("scenario_run.ipynb", scenario_run),
        ("compare_runs.ipynb", compare_runs),
        ("inspect_run.ipynb", inspect_run),
        ("bias_study.ipynb", bias_study),
    ):
        nb = build()
        nbformat.validate(nb)
        nbformat.write(nb, ROOT / name)
        print(f"wrote {ROOT / name}")


if __name__ == "__main__":
    main()
