"""Write the committed notebook templates in notebooks/ (no outputs).

The notebooks are thin controllers: a markdown cell saying what they answer and write,
a `parameters` cell of literal typed assignments, then calls into ptycho_helpers.
Run:  .venv/bin/python scripts/make_notebooks.py   (--check: fail if the committed ones drifted)
The scenario notebook's parameters cell is generated from the knob table (ptycho_helpers.knobs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from ptycho_helpers.knobs import KNOBS, Knob
from ptycho_helpers.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[1] / "notebooks"
#: the project's kernel (registered into .venv by `make venv`): a facility's JupyterLab
#: then runs the notebooks with the package, not a bare python3
KERNEL = {"display_name": "ptycho-workbook (.venv)", "language": "python", "name": "ptycho-workbook"}


def _nb(cells):
    nb = new_notebook(cells=cells)
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating gives the same file
        cell.id = f"cell-{i:02d}"
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


#: Notebook-only parameters of the scenario notebook (everything else comes from the knob table).
RUN_PARAMETERS = (
    f'scenario: str = "gs1_ideal"  # {" | ".join(SCENARIOS)}',
    'hub_dir: str = ""  # hub root; writes hub_dir/<run_name>/ (empty: a new hub in reports/)',
    'run_name: str = ""  # folder name in the hub (empty: the scenario name)',
    'profile: str = ""  # named profile instead of the stable profile, e.g. "full" (sets nepochs/group_limit too)',
)


def knob_parameter_line(knob: Knob) -> str:
    """``name = None  # type: Optional[T] help (default D)`` for one row of the knob table."""
    choices = f" [{' | '.join(knob.choices)}]" if knob.choices else ""
    return (
        f"{knob.name} = None  # type: Optional[{knob.type_name}] {knob.help}{choices} ({knob.default_text})"
    )


def scenario_run() -> nbformat.NotebookNode:
    params = "\n".join(list(RUN_PARAMETERS) + [knob_parameter_line(k) for k in KNOBS])
    cells = [
        new_markdown_cell(
            "# Scenario run\n\n"
            "Runs one PINN ptychography scenario end to end — resolve the stable profile, simulate the lines "
            "object and its Poisson-noisy diffraction, split by y, group, train the PINN, reconstruct the "
            "test region, reconstruct the same test patterns with a classical engine (PtyLab mPIE, known probe, "
            "from a flat start and from the PINN's image; `classical`), run the network on every test group "
            "(the dense image), stitch, and compare every reconstruction with the ground truth on the same covered "
            "region beside the cell's information ceiling. An optional physics refinement of the predicted patches "
            "(`refine_steps`, off in every profile) can be turned on.\n\n"
            "**Writes** `hub_dir/<scenario>/`: `run_metadata.json`, `train_outputs/` (model bundle, history), "
            "`inference_outputs/` (amplitude/phase `.npy` + `.png`, `stats.json`), `classical_outputs/`, `dense_outputs/` "
            "(`refined_outputs/` when refining), ground-truth and difference "
            "maps, `comparison_metrics.json`; and `hub_dir/<scenario>_notes.md`, `hub_dir/reassembly_<scenario>.json/.md`. "
            "Parameters left at `None` take the named/stable profile's, the scenario's or the record's default."
        ),
        _params(params),
        _code(
            "from ptycho_helpers import runtime\n\n"
            "runtime.refuse_unknown_parameters(globals())  # a typo given to papermill stops here\n"
            "runtime.setup_notebook(device)  # the Keras backend on the chosen device, quietly; plain log lines\n"
            "from IPython.display import Image, Markdown, display\n\n"
            "from ptycho_helpers import knobs\n"
            "from ptycho_helpers.run import evaluate, outputs, record, stages\n"
            "from ptycho_helpers.run.classical import classical_scenario\n"
            "from ptycho_helpers.run.dense import dense_scenario"
        ),
        _code(
            "ctx = record.start_scenario(\n"
            "    scenario, hub_dir, run_name=run_name, profile=profile, knobs=knobs.collect(globals())\n"
            ")"
        ),
        _code(
            'print("scenario:", ctx.name)\n'
            'print("counts (total, train, test):", ctx.resolved.counts)\n'
            'print("profile active:", ctx.resolved.profile["active"])\n'
            'print("effective group_count / batch_size:", ctx.resolved.group_count, ctx.resolved.batch_size)',
            check=True,
        ),
        _code("sim = stages.simulate_scenario(ctx)\ngroups = stages.group_scenario(ctx, sim)"),
        _code("trained = stages.train_scenario(ctx, groups)"),
        _code(
            "reconstructed = stages.reconstruct_scenario(ctx, trained)\n"
            "refined = stages.refine_scenario(ctx, reconstructed)  # inactive when refine_steps == 0\n"
            "classical_rec = classical_scenario(ctx, refined)  # inactive when classical == 'none'\n"
            "dense_rec = dense_scenario(ctx, reconstructed)  # the network on every test group\n"
            "evaluation = evaluate.evaluate_scenario(ctx, refined, classical_rec, dense_rec)\n"
            "stats = outputs.write_scenario_outputs(ctx, evaluation)"
        ),
        _code(
            'display(Markdown((ctx.hub / f"{ctx.name}_notes.md").read_text()))\n'
            "for png in outputs.result_pngs(ctx):\n"
            "    display(Image(str(png)))"
        ),
        _code('meta = record.finish_scenario(ctx)\nprint("status:", meta.status)', check=True),
    ]
    return _nb(cells)


def compare_runs() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# Compare runs\n\n"
            "A table across scenarios and hubs (amplitude SSIM beside its flat and blur baselines, Pearson r, "
            "MAE, least-squares scale), truth, PINN and classical amplitude side by side at one shared scale "
            "with its colour bar, amplitude histograms prediction vs truth, and bias maps (PINN − truth; "
            "beige: not covered). By default it compares the newest hub holding several runs (the last "
            "`rerun`, sweep or study); name any hubs in `hubs`. Reads hubs; writes nothing."
        ),
        _params(
            'reports_dir: str = "reports"  # folder holding the hubs (relative: the repository\'s)\n'
            "hubs: list = []  # hub folder names to compare (empty: the newest hub with several runs)"
        ),
        _code(
            "from pathlib import Path\n\n"
            "import matplotlib.pyplot as plt\n"
            "from IPython.display import Markdown, display\n\n"
            "from ptycho_helpers.hub import viewer"
        ),
        _code(
            "reports = viewer.resolve_reports_dir(reports_dir)\n"
            'print("searching", reports)\n'
            "hub_paths = [reports / h for h in hubs] or viewer.default_compare_hubs(reports)\n"
            "runs, errors = viewer.load_runs(hub_paths)\n"
            "for name, err in errors.items():\n"
            '    print(f"skipped {name}: {err}")\n'
            'print("runs:", [f"{r.hub.name}/{r.name}" for r in runs] or f"no runs found under {reports} (run `make run` first)")',
            check=True,
        ),
        _code(
            "if runs:\n    display(Markdown(viewer.table_markdown(viewer.comparison_table(runs), labels=True)))"
        ),
        _code("if runs:\n    fig = viewer.side_by_side_figure(runs)\n    plt.show()"),
        _code("if runs:\n    fig = viewer.histogram_figure(runs)\n    plt.show()"),
        _code("if runs:\n    fig = viewer.bias_maps_figure(runs)\n    plt.show()"),
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
        _params('reports_dir: str = "reports"  # folder holding the hubs (relative: the repository\'s)'),
        _code("from IPython.display import display\n\nfrom ptycho_helpers.hub.inspector import RunInspector"),
        _code(
            "inspector = RunInspector(reports_dir)\n"
            'print("searching", inspector.reports_dir)\n'
            "display(inspector.widget)"
        ),
        _code("display(inspector.static())  # the same picture as a plain image, kept by executed copies"),
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
            "from ptycho_helpers import studies\n"
            "from ptycho_helpers.hub import viewer"
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


def discrepancy_study() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell(
            "# Discrepancy study: grid protocol → non-grid protocol, one factor at a time\n\n"
            "Why do non-grid (`sim_lines_4x`) reconstructions score worse than the legacy grid "
            "(`dose_experiments`) runs? This notebook runs the discrepancy ladder (`ptycho_helpers.ladder`, "
            "the same as `python -m ptycho_helpers ladder`): rung 0 is `gs{1,2}_grid`, each next rung changes "
            "exactly one recorded setting toward the non-grid protocol (or back with "
            '`direction = "nongrid-to-grid"`), every rung a papermill run on Dask at the same optimiser-step '
            "budget and seeds. It then shows the table (masked and reference SSIM, their flat baselines, "
            "Pearson r, seed spread), the plot and the generated verdict.\n\n"
            "**Writes** a new hub with one run folder per rung and seed, `ladder.md`, `ladder.json`, `ladder.png`. "
            "Budget: each rung costs one training of `steps` steps per seed; the next cell prints the plan "
            "(rungs × seeds) and its estimated wall time **before** anything long starts: read it, then run on."
        ),
        _params(
            "gridsize: int = 1  # 1 or 2\n"
            "steps: int = 400  # optimiser steps of every rung\n"
            "seeds: list = [1, 2]  # training seeds per rung (at least 2 for a seed spread)\n"
            'direction: str = "grid-to-nongrid"  # or "nongrid-to-grid"\n'
            "workers: int = 1  # LocalCluster workers (each trains with cores // workers threads)\n"
            'reports_dir: str = ""  # where the hub is created (empty: reports/)'
        ),
        _code(
            "from ptycho_helpers import runtime\n\n"
            "runtime.configure_logging()\n"
            "from IPython.display import Image, Markdown, display\n\n"
            "from ptycho_helpers import ladder"
        ),
        _code(
            "plan = ladder.plan_ladder(gridsize, steps=steps, seeds=list(seeds), direction=direction)\n"
            "print(ladder.plan_summary(plan, steps, workers))"
        ),
        _code(
            "hub, rc = ladder.run_ladder(\n"
            "    gridsize, steps=steps, seeds=list(seeds), direction=direction, workers=workers,\n"
            "    reports_dir=reports_dir or None,\n"
            ")\n"
            'print("hub:", hub, "| all rungs complete:", rc == 0)'
        ),
        _code('display(Markdown((hub / "ladder.md").read_text().replace("![ladder](ladder.png)", "")))'),
        _code('display(Image(str(hub / "ladder.png")))'),
    ]
    return _nb(cells)


NOTEBOOKS = {
    "scenario_run.ipynb": scenario_run,
    "compare_runs.ipynb": compare_runs,
    "inspect_run.ipynb": inspect_run,
    "bias_study.ipynb": bias_study,
    "discrepancy_study.ipynb": discrepancy_study,
}


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def drifted(root: Path = ROOT) -> list[str]:
    """Templates whose committed cells (type, source, tags) or kernel differ from the generator."""
    out = []
    for name, build in NOTEBOOKS.items():
        path = root / name
        if not path.is_file():
            out.append(f"{name} (missing)")
            continue
        committed, fresh = nbformat.read(path, as_version=4), build()
        if (
            _cells(committed) != _cells(fresh)
            or committed.metadata.get("kernelspec") != fresh.metadata["kernelspec"]
        ):
            out.append(name)
        elif any(
            c.get("outputs") or c.get("execution_count") for c in committed.cells if c.cell_type == "code"
        ):
            out.append(f"{name} (has outputs)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only check that the committed templates are current"
    )
    args = parser.parse_args(argv)
    if args.check:
        bad = drifted()
        if bad:
            print(
                f"notebook templates out of date: {', '.join(bad)}; run: .venv/bin/python scripts/make_notebooks.py",
                file=sys.stderr,
            )
            return 1
        print("notebook templates are current")
        return 0
    ROOT.mkdir(exist_ok=True)
    for name, build in NOTEBOOKS.items():
        nb = build()
        nbformat.validate(nb)
        nbformat.write(nb, ROOT / name)
        print(f"wrote {ROOT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
