"""The command line: help, bad input (exit 2, one line, no traceback, no hub), telemetry."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ptycho_helpers.cli import main


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "ptycho_helpers", *args], capture_output=True, text=True, cwd=cwd
    )


def test_help_lists_commands():
    res = _cli("--help")
    assert res.returncode == 0
    for cmd in ("rerun", "run", "reassembly-report", "sweep"):
        assert cmd in res.stdout
    for cmd in ("rerun", "run", "reassembly-report", "sweep"):
        assert _cli(cmd, "--help").returncode == 0
    help_text = " ".join(_cli("run", "--help").stdout.split())
    assert "--base-total-images" in help_text
    # issue 30: every option with a fixed set of values names them in its help line
    for choices in (
        "one of mPIE, ePIE, none",
        "one of softplus, sigmoid, scaled_sigmoid",
        "one of plateau, constant",
    ):
        assert choices in help_text, choices


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "gs9"], "unknown scenario 'gs9'"),
        (["run", "gs1_ideal", "--nphotons", "nan"], "nphotons"),
        (["run", "gs1_ideal", "--split-fraction", "1.5"], "split_fraction"),
        (["run", "gs1_ideal", "--group-count", "300"], "group_count=300 exceeds the 256 test positions"),
        (["run", "gs1_ideal", "--batch-size", "0"], "batch_size"),
        (["run", "gs1_ideal", "--custom-probe-path", "/nonexistent.npz"], "does not exist"),
        (["run", "../evil"], "not allowed"),
    ],
)
def test_bad_input_exit_2_one_line_no_hub(tmp_path, args, needle):
    code = main([*args, "--reports-dir", str(tmp_path / "reports")])
    assert code == 2
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


@pytest.mark.parametrize("backend, needle", [("bogus", "not a backend"), ("torch", None)])
def test_keras_backend_is_checked_before_a_hub(tmp_path, monkeypatch, backend, needle):
    """Issue 29 T5: KERAS_BACKEND=bogus failed only inside the kernel, after the hub."""
    import importlib.util

    monkeypatch.setenv("KERAS_BACKEND", backend)
    if needle is None:  # a real backend that may be missing: refused only when it is
        if importlib.util.find_spec(backend) is not None:
            pytest.skip(f"{backend} is installed here")
        needle = "is not installed"
    res = _cli("sweep", "--scenario", "gs1_ideal", "--set", "seed=1,2", "--reports-dir", str(tmp_path / "R"))
    assert res.returncode == 2 and needle in res.stderr.strip().splitlines()[-1], res.stderr[-1000:]
    assert not (tmp_path / "R").exists()


def test_bad_input_message_without_traceback(tmp_path):
    res = _cli("run", "gs1_ideal", "--group-count", "300", "--reports-dir", str(tmp_path))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "error: group_count=300 exceeds the 256 test positions" in res.stderr
    res = _cli("--debug", "run", "gs1_ideal", "--group-count", "300", "--reports-dir", str(tmp_path))
    assert "Traceback" in res.stderr


def test_debug_after_the_subcommand_and_duplicate_flags(tmp_path):
    res = _cli("run", "gs1_ideal", "--group-count", "300", "--debug", "--reports-dir", str(tmp_path))
    assert res.returncode != 0 and "Traceback" in res.stderr  # --debug works after the subcommand
    res = _cli("run", "gs1_ideal", "--batch-size", "4", "--batch-size", "8", "--reports-dir", str(tmp_path))
    assert res.returncode == 2 and "--batch-size given twice" in res.stderr
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    res = _cli("run", "gs1_ideal", "--reports-dir", str(blocker))
    last = res.stderr.strip().splitlines()[-1]
    assert res.returncode == 2 and "[Errno" not in last and str(blocker) in last, res.stderr[-1000:]


def test_unknown_flag_is_rejected():
    res = _cli("run", "gs1_ideal", "--bogus", "1")
    assert res.returncode == 2 and "unrecognized arguments: --bogus" in res.stderr


def test_reassembly_report(tmp_path):
    js, md = tmp_path / "t.json", tmp_path / "t.md"
    assert (
        main(
            [
                "reassembly-report",
                "gs2_ideal",
                "--output-json",
                str(js),
                "--output-markdown",
                str(md),
                "--group-limit",
                "16",
            ]
        )
        == 0
    )
    t = json.loads(js.read_text())
    assert t["scenario"] == "gs2_ideal" and t["n_groups"] == 16 and t["n_patches"] == 64
    assert t["stitch_canvas"]["fits"] is True and t["coverage"]["coverage_loss"] == 0.0
    assert isinstance(t["stitch_canvas"]["padded_size"], int)
    assert "Reassembly telemetry" in md.read_text()


def test_profile_flag_on_run_and_rerun():
    assert "--profile" in _cli("rerun", "--help").stdout
    assert "--profile" in _cli("run", "--help").stdout
    res = _cli("rerun", "--profile", "fast")
    assert res.returncode == 2 and "invalid choice: 'fast'" in res.stderr


def test_every_run_setting_flag_reaches_the_notebook(monkeypatch):
    """Regression: ``--input-transform`` and ``--dense-bottleneck`` were parsed but dropped
    (a hand-kept list of setting names), so ``run`` silently trained the default model."""
    from ptycho_helpers import runs
    from ptycho_helpers.cli import build_parser

    seen = {}

    def fake_run(scenarios, *, settings, **kw):
        seen.update(settings)
        return runs.default_reports_dir(), 0

    monkeypatch.setattr(runs, "run_scenarios", fake_run)
    flags = [
        "--dense-bottleneck",
        "8",
        "--input-transform",
        "log",
        "--refine-steps",
        "7",
        "--refine-lr",
        "0.01",
    ]
    assert main(["run", "gs1_ideal", *flags]) == 0
    assert seen["dense_bottleneck"] == 8 and seen["input_transform"] == "log"
    assert seen["refine_steps"] == 7 and seen["refine_lr"] == 0.01
    from ptycho_helpers.knobs import KNOBS

    run = build_parser()._subparsers._group_actions[0].choices["run"]
    dests = {a.dest for g in run._action_groups for a in g._group_actions}
    assert {k.name for k in KNOBS} <= dests, {k.name for k in KNOBS} - dests
