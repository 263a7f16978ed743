"""The documentation: a short README, generated pages that are never stale, a site that
builds without warnings, and a layout page that lists exactly the package's modules."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"


def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args], capture_output=True, text=True, cwd=ROOT
    )


def _layout_block() -> str:
    return (ROOT / "docs" / "layout.md").read_text().split("```", 2)[1]


def test_layout_lists_every_module_and_nothing_else():
    block = _layout_block()
    listed, folder = set(), ""
    for line in block.splitlines():
        m = re.match(r"^(\s*)(\S+)", line)
        if not m or m.group(2) == "ptycho_helpers/":
            continue
        indent, name = len(m.group(1)), m.group(2)
        if indent == 2 and name.endswith("/"):
            folder = name
        elif indent == 2:
            folder = ""
            listed.add(name)
        elif indent == 4:
            listed.add(folder + name)
    pkg = ROOT / "ptycho_helpers"
    actual = {
        str(p.relative_to(pkg)) for p in pkg.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")
    }
    assert listed == actual, {
        "missing from docs/layout.md": sorted(actual - listed),
        "not in tree": sorted(listed - actual),
    }


@pytest.mark.parametrize(
    "script,args",
    [
        ("fidelity_curves.py", ["--check"]),
        ("precision_curves.py", ["--check"]),
        ("make_options_page.py", ["--check"]),
        ("results_table.py", ["render", "--check"]),
    ],
)
def test_generated_pages_match_their_source(script, args):
    res = _script(script, *args)
    assert res.returncode == 0, res.stdout + res.stderr


def test_options_page_check_fails_on_a_hand_edit(tmp_path):
    page = tmp_path / "options.md"
    page.write_text((ROOT / "docs" / "options.md").read_text().replace("training batch size", "batch size"))
    res = _script("make_options_page.py", "--check", "--page", str(page))
    assert res.returncode == 1 and "stale" in res.stderr


def test_options_page_lists_every_knob():
    from ptycho_helpers.knobs import KNOBS

    text = (ROOT / "docs" / "options.md").read_text()
    assert all(f"| `{k.name}` | `{k.cli_flag}` |" in text for k in KNOBS)


def test_readme_is_a_front_page_whose_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert text.splitlines()[3:5] == [
        "make run     # main job: new .venv if missing, then rerun gs1_ideal + gs2_ideal (stable profiles) into reports/<UTC stamp>/",
        "make test    # tests: new .venv if missing, then ruff + the whole pytest suite + the docs build (what CI runs)",
    ]
    links = re.findall(r"\]\(([^)#]+)\)", text)
    missing = [x for x in links if not x.startswith("http") and not (ROOT / x).exists()]
    assert links and missing == []


def test_no_page_cites_a_hub_stamp():
    """Numbers come from committed data or a command, never from a git-ignored hub."""
    stamp = re.compile(r"reports/\d{4}-\d{2}-\d{2}T\d{6}Z")
    pages = [ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")]
    assert [p.name for p in pages if stamp.search(p.read_text())] == []


def test_site_builds_without_warnings(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "site" / "options" / "index.html").exists()


def test_make_run_record_reads_a_hub_summary_and_refuses_mixed_commits(tmp_path):
    """The README's make-run table comes from one hub: its results rows, one commit."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("results_table", ROOT / "scripts" / "results_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    hub = tmp_path / "2026-01-01T000000Z"
    for name, sha in (("gs1_ideal", "abc"), ("gs2_ideal", "abc")):
        (hub / name).mkdir(parents=True)
        (hub / name / "run_metadata.json").write_text(
            json.dumps({"git_sha": sha, "timings_s": {"total": 1.0}})
        )
    header = "| scenario | reconstruction | amp SSIM | flat baseline | reference-metric SSIM | Pearson r |"
    row = "| [gs1_ideal](gs1_ideal/) | PINN | 0.6 | 0.2 | 0.3 | 0.8 |"
    (hub / "summary.md").write_text(
        f"# hub\n\n| run | status |\n| --- | --- |\n\n{header}\n| --- |\n{row}\n\n## gs1\n"
    )
    rec = mod.make_run_record(hub, "make run")
    assert rec["summary_header"] == header and rec["summary_rows"] == [row] and rec["git_sha"] == "abc"
    assert "| gs1_ideal | PINN | 0.6 | 0.2 | 0.3 | 0.8 |" in mod.make_run_table(rec)
    (hub / "gs2_ideal" / "run_metadata.json").write_text(json.dumps({"git_sha": "def"}))
    with pytest.raises(SystemExit, match="several commits"):
        mod.make_run_record(hub, "make run")


def test_dose_tables_read_a_hub_and_time_the_classical_engine_by_its_iterations(tmp_path):
    """Issue 28: the dose and time-to-accuracy tables come from the runs' own files; the
    seconds to a level are the first monitored iteration reaching it × wall s / iterations."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("results_table", ROOT / "scripts" / "results_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    run = tmp_path / "hub" / "gs2_ideal"
    run.mkdir(parents=True)
    (run / "run_metadata.json").write_text(
        json.dumps(
            {
                "scenario": "gs2_ideal",
                "status": "complete",
                "seeds": {"train_seed": 1, "object_seed": 1, "sim_seed": 1},
                "resolved": {"params": {"nphotons": 1e4}},
                "training": {"steps_run": 155},
                "counts": {"train_groups": 128, "test_groups_stitched": 64},
                "timings_s": {"train": 100.0, "inference": 3.0},
                "git_sha": "abc",
            }
        )
    )
    curve = [[0, 0.2], [2, 0.5], [4, 0.62], [6, 0.6], [10, 0.58]]
    seeded = [[0, 0.55], [2, 0.63], [4, 0.6], [10, 0.59]]
    (run / "comparison_metrics.json").write_text(
        json.dumps(
            {
                "amplitude": {"ssim": 0.55},
                "baselines": {"flat": {"ssim": 0.2}},
                "backprojection": {"amplitude": {"ssim": 0.5}},
                "ceiling": {"amp_ssim": 0.45},
                "classical": {
                    "amplitude": {"ssim": 0.58},
                    "seeded": {"amplitude": {"ssim": 0.59}},
                    "classical": {
                        "iterations": 10,
                        "wall_s": 5.0,
                        "seeded_wall_s": 10.0,
                        "ssim_curve": curve,
                        "seeded_ssim_curve": seeded,
                    },
                },
            }
        )
    )
    doc = {"provenance": {"command": "c", "machine": "m"}, "rows": mod.dose_rows([tmp_path / "hub"])}
    assert (
        "| gs2_ideal | 1e4 | 128 / 64 | 155 | member | 1 | 0.200 | 0.500 | 0.550 | +0.050 | 0.580 | 0.450 |"
        in mod.dose_table(doc)
    )
    # to the PINN's 0.55: iteration 4 at 0.5 s each = 2.0 s; to the best (0.62 at 4): 2.0 s;
    # from the PINN: 3 s inference + iteration 2 at 1 s each = 5.0 s
    row = "| gs2_ideal | 1e4 | 128 / 64 | 155 | member | 1 | 0.550, 3.0 s (100 s) | 0.620 at 4; 0.580 | 2.0 | 2.0 | 5.0 |"
    assert row in mod.time_to_accuracy(doc)
    assert mod.first_reach(curve, 0.7) is None


def test_fidelity_seed_means_take_the_newest_grid_profile_run_of_each_seed():
    """Issue 24: the criterion is read on seed means; each workbook seed counts once (its
    newest run with the grid profile's settings), bf16 and other heads are left out."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import fidelity_curves as fc
    finally:
        sys.path.remove(str(ROOT / "scripts"))

    def run(seed, hub, value, **kw):
        base = {"scenario": "gs1_grid", "amp_activation": "sigmoid", "intensity_scale": "reference"}
        return {
            **base,
            "seed": seed,
            "hub": hub,
            "steps": 2000,
            "rows": [{"step": 500, "amp_ssim": value}],
            **kw,
        }

    data = {
        "reference": {
            "gs1 · a": [{"step": 500, "amp_ssim": 0.30}],
            "gs1 · b": [{"step": 500, "amp_ssim": 0.34}],
        },
        "workbook": [
            run(1, "2026-01-01T000000Z", 0.10),  # superseded by the newer run of seed 1
            run(1, "2026-01-02T000000Z", 0.40),
            run(2, "2026-01-01T000000Z", 0.30),
            run(2, "2026-01-03T000000Z", 0.90, precision="mixed_bfloat16"),
            run(3, "2026-01-03T000000Z", 0.90, amp_activation="softplus"),
        ],
    }
    (m,) = fc.seed_means(data)
    assert m["reference_mean"] == 0.32 and m["workbook"] == [0.40, 0.30] and m["difference"] == 0.03
    assert m["within"] and "| gs1 | 500 |" in fc.means_table(data)
