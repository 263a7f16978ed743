"""The bad-input matrix: every case ends in a specific exception (API) or exit code 2 with
one line naming the bad value (CLI), without a traceback and without writing anything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ptycho_helpers as ph
from ptycho_helpers.config import ModelConfig, RunSettings, TrainConfig
from ptycho_helpers.hub import artifacts


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    d = tmp_path_factory.mktemp("probes")
    np.savez(d / "small.npz", probeGuess=np.ones((8, 8), np.complex64))
    np.savez(d / "nan.npz", probeGuess=np.full((64, 64), np.nan, np.complex64))
    np.savez(d / "text.npz", probeGuess=np.full((64, 64), "a"))
    np.savez(d / "nokey.npz", probe=np.ones((64, 64)))
    np.savez(d / "pickled.npz", probeGuess=np.array([{"a": 1}], dtype=object))
    (d / "snap_bad.json").write_text("{not json")
    (d / "snap_type.json").write_text(json.dumps({"run_params": {"N": "64"}, "scenarios": []}))
    (d / "a_file").write_text("x")
    return d


def _api_and_cli(api, cli, match):
    return pytest.param(api, cli, match, id=match[:40])


R = ph.resolve_run
CASES = [
    (lambda p: R("gs9"), ["run", "gs9"], "unknown scenario 'gs9'"),
    (lambda p: ph.RunParams(N=30), None, "N=30 is not allowed"),
    (lambda p: ModelConfig(N=36), None, "divisible by 8"),
    (
        lambda p: R("gs1_ideal", {"nphotons": 0}),
        ["run", "gs1_ideal", "--nphotons", "0"],
        "nphotons=0.0 is out of range",
    ),
    (
        lambda p: R("gs1_ideal", {"nphotons": float("nan")}),
        ["run", "gs1_ideal", "--nphotons", "nan"],
        "nphotons must be a finite",
    ),
    (lambda p: R("gs1_ideal", {"nphotons": -5}), ["run", "gs1_ideal", "--nphotons", "-5"], "nphotons=-5.0"),
    (
        lambda p: R("gs1_ideal", {"split_fraction": 0}),
        ["run", "gs1_ideal", "--split-fraction", "0"],
        "split_fraction=0.0",
    ),
    (
        lambda p: R("gs1_ideal", {"split_fraction": 1}),
        ["run", "gs1_ideal", "--split-fraction", "1"],
        "split_fraction=1.0",
    ),
    (
        lambda p: R("gs1_ideal", {"group_count": 300}),
        ["run", "gs1_ideal", "--group-count", "300"],
        "group_count=300 exceeds",
    ),
    (lambda p: R("gs1_ideal", {"batch_size": 0}), ["run", "gs1_ideal", "--batch-size", "0"], "batch_size=0"),
    (
        lambda p: R("gs2_ideal", {"base_total_images": 1}),
        ["run", "gs2_ideal", "--base-total-images", "1"],
        "raise base_total_images",
    ),
    (lambda p: R("gs1_ideal", {"buffer": -1}), ["run", "gs1_ideal", "--buffer", "-1"], "buffer=-1.0"),
    (
        lambda p: R("gs1_ideal", {"buffer": 200}),
        ["run", "gs1_ideal", "--buffer", "200"],
        "leaves no scan area",
    ),
    (
        lambda p: RunSettings(custom_probe_path=str(p / "missing.npz")),
        ["run", "gs1_custom", "--custom-probe-path", "{d}/missing.npz"],
        "does not exist",
    ),
    (
        lambda p: ph.make_probe(64, "custom", p / "small.npz"),
        ["run", "gs1_custom", "--custom-probe-path", "{d}/small.npz"],
        "shape (8, 8)",
    ),
    (
        lambda p: ph.make_probe(64, "custom", p / "nan.npz"),
        ["run", "gs1_custom", "--custom-probe-path", "{d}/nan.npz"],
        "NaN",
    ),
    (
        lambda p: ph.make_probe(64, "custom", p / "text.npz"),
        ["run", "gs1_custom", "--custom-probe-path", "{d}/text.npz"],
        "dtype <U1",
    ),
    (
        lambda p: ph.make_probe(64, "custom", p / "nokey.npz"),
        ["run", "gs1_custom", "--custom-probe-path", "{d}/nokey.npz"],
        "no 'probeGuess'",
    ),
    (
        lambda p: ph.make_probe(64, "custom", p / "pickled.npz"),
        ["run", "gs1_custom", "--custom-probe-path", "{d}/pickled.npz"],
        "pickled",
    ),
    (lambda p: ph.load_snapshot(p / "snap_bad.json"), None, "not valid JSON"),
    (lambda p: ph.load_snapshot(p / "snap_type.json"), None, "snapshot key 'run_params'"),
    (lambda p: R("gs1/../x"), ["run", "gs1/../x"], "not allowed"),
    (lambda p: R(".."), ["run", ".."], "not allowed"),
    (
        lambda p: artifacts.create_hub(p / "a_file" / "reports"),
        ["rerun", "--reports-dir", "{d}/a_file/reports"],
        "a_file",
    ),
    (lambda p: R("gs1_ideal", {"gridsize": 5}), ["run", "gs1_ideal", "--gridsize", "5"], "gridsize=5"),
    (
        lambda p: R("gs1_ideal", {"probe_mode": "measured"}),
        ["run", "gs1_ideal", "--probe-mode", "measured"],
        "measured",
    ),
    (
        lambda p: R("gs2_ideal", {"neighbor_count": 3}),
        ["run", "gs2_ideal", "--neighbor-count", "3"],
        "neighbor_count=3",
    ),
    (lambda p: RunSettings(nepochs=0), ["run", "gs1_ideal", "--nepochs", "0"], "nepochs=0"),
    (lambda p: RunSettings(group_limit=0), ["run", "gs1_ideal", "--group-limit", "0"], "group_limit=0"),
    (lambda p: RunSettings(amp_vmax=-1.0), None, "amp_vmax=-1.0"),
    (
        lambda p: R("gs1_ideal", {"probe_scale": 0}),
        ["run", "gs1_ideal", "--probe-scale", "0"],
        "probe_scale=0.0",
    ),
    (
        lambda p: R("gs1_ideal", {"image_multiplier": 0}),
        ["run", "gs1_ideal", "--image-multiplier", "0"],
        "image_multiplier=0",
    ),
    (lambda p: ph.RunParams(reassemble_M=80), None, "reassemble_M=80 exceeds"),
    (lambda p: ModelConfig(amp_activation="relu"), ["run", "gs1_ideal", "--amp-activation", "relu"], "relu"),
    (lambda p: R("gs1_ideal", {"sim_seed": -1}), ["run", "gs1_ideal", "--sim-seed", "-1"], "sim_seed=-1"),
    (
        lambda p: RunSettings(learning_rate=0),
        ["run", "gs1_ideal", "--learning-rate", "0"],
        "learning_rate=0.0",
    ),
    (lambda p: TrainConfig(batch_size=-3), None, "batch_size=-3"),
    (
        lambda p: R("gs1_ideal", {"base_total_images": 10**9}),
        ["run", "gs1_ideal", "--base-total-images", "1000000000"],
        "GiB",
    ),
    (lambda p: R("gs1_ideal", {"bogus": 1}), ["run", "gs1_ideal", "--bogus", "1"], "bogus"),
]


def test_matrix_has_at_least_30_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("api, cli, match", CASES, ids=[c[2][:40] for c in CASES])
def test_bad_input(api, cli, match, probes, tmp_path):
    from ptycho_helpers.plan import preflight

    with pytest.raises(
        (ValueError, TypeError, FileNotFoundError, FileExistsError, NotADirectoryError)
    ) as exc:
        out = api(probes)
        if isinstance(out, ph.scenarios.ResolvedRun):  # resolution passed: the preflight must refuse
            preflight(out, RunSettings())
    assert match in str(exc.value) or match in type(exc.value).__name__
    if cli is None:
        return
    reports = tmp_path / "reports"
    args = [a.replace("{d}", str(probes)) for a in cli]
    if "--reports-dir" not in args:
        args += ["--reports-dir", str(reports)]
    res = subprocess.run(
        [sys.executable, "-m", "ptycho_helpers", *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error") or "error:" in ln]
    assert len(lines) == 1 and match.split("{")[0] in res.stderr, res.stderr
    assert not reports.exists() or not any(reports.iterdir()), "a bad input wrote something"


def test_existing_hub_is_refused(tmp_path):
    artifacts.create_hub(tmp_path, "2026-01-01T000000Z")
    with pytest.raises(FileExistsError, match="never overwritten"):
        artifacts.create_hub(tmp_path, "2026-01-01T000000Z")
    with pytest.raises(ValueError, match="not allowed"):
        artifacts.create_hub(tmp_path, "../escape")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-01-01T000000Z"]


def test_cli_names_are_paths_safe():
    root = Path("/tmp/reports")
    for bad in ("a/b", "..", ".", "x y", "a\\b", ""):
        with pytest.raises(ValueError):
            ph.ScenarioSpec(bad)
    assert (root / ph.ScenarioSpec("ok-name_1.2").name).parent == root


@pytest.mark.parametrize("flag", ["--nepoch", "--step", "--learning-rat"])
def test_cli_refuses_abbreviated_flags(flag, capsys):
    """argparse's prefix matching took `--nepoch 1` as `--nepochs 1`; the CLI is strict."""
    from ptycho_helpers.cli import build_parser

    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["run", "gs1_ideal", flag, "1"])
    assert exc.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_a_dense_bottleneck_too_large_for_memory_is_refused_before_a_hub():
    """Issue 29 T5: the planner sizes the dense bottleneck's weights (with gradients and
    Adam moments); 1e7 units need about 3 TB and are refused with the knob to lower."""
    from ptycho_helpers.plan import plan_run
    from ptycho_helpers.plan.resolve import model_bytes

    assert model_bytes(64, 0) == 0
    assert model_bytes(64, 512) == int(512 * 8 * 8 * 256 * 1.25 * 16)
    with pytest.raises(ValueError, match="dense bottleneck alone needs .* GiB: lower --dense-bottleneck"):
        plan_run("gs1_ideal", {"dense_bottleneck": 10_000_000})


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda: __import__("ptycho_helpers.config").config.TrainConfig(steps=10**12),
            "steps=1000000000000 is out of range",
        ),
        (
            lambda: __import__("ptycho_helpers.config").config.RunSettings(steps=10**12),
            "steps=1000000000000 is out of range",
        ),
        (
            lambda: __import__("ptycho_helpers.ladder").ladder.plan_ladder(1, steps=0, seeds=[1]),
            "give steps >= 1",
        ),
    ],
    ids=["train-steps-1e12", "settings-steps-1e12", "ladder-steps-0"],
)
def test_step_budgets_out_of_range_are_refused(call, match):
    """Issue 29: --steps 1e12 was accepted; a ladder with --steps 0 silently meant the epoch budget."""
    with pytest.raises(ValueError, match=match):
        call()
