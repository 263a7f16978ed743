"""Issue 27: every model scored on both protocols' canonical test sets (``run.test_sets``).

The two test sets must be the same for every run of a seed whatever its protocol (so an
effect on them is what the model learned), on an object no protocol trains on; the scores
are checked on analytic cases (the truth itself scores 1 and reaches its ceiling)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from ptycho_helpers.core import physics
from ptycho_helpers.core.grid import grid_groups
from ptycho_helpers.core.reassemble import reassemble_patches
from ptycho_helpers.core.simulate import make_lines_object
from ptycho_helpers.run import test_sets
from ptycho_helpers.run.grid_protocol import probe_of
from ptycho_helpers.scenarios import resolve_run

SMALL = {"object_size": 150, "base_total_images": 48, "group_count": 16}


def _sets(scenario, **over):
    ctx = SimpleNamespace(resolved=resolve_run(scenario, {**SMALL, **over}), settings=None)
    ctx.settings = SimpleNamespace(custom_probe_path=None)
    return test_sets.canonical_test_sets(ctx.resolved, probe_of(ctx))


@pytest.mark.parametrize("scenario", ["gs1_ideal", "gs2_ideal"])
def test_the_same_two_test_sets_whatever_the_protocol(scenario):
    """The non-grid run and the grid-protocol run of the same seed get identical canonical
    test sets (positions, groups and noise draws), scanned on the grid protocol's test
    object, which neither trains on."""
    a = _sets(scenario, object_seed=7, sim_seed=7)
    b = _sets(scenario, object_seed=7, sim_seed=7, scan="grid", object_set="separate", train_stride=20)
    c = _sets(scenario, object_seed=8, sim_seed=8)
    for x, y, z in zip(a, b, c, strict=True):
        assert x.name == y.name and np.array_equal(x.data.diffraction, y.data.diffraction)
        assert np.array_equal(x.data.positions, y.data.positions) and x.unit == y.unit == 1.0
        assert not np.array_equal(x.data.positions, z.data.positions) or x.name == "grid_tiles"
        assert not np.array_equal(x.data.diffraction, z.data.diffraction)  # another seed: another draw
        assert np.array_equal(x.obj, make_lines_object(150, 7 + 1000))
    tiles, rand = a
    C = 4 if scenario == "gs2_ideal" else 1
    pos, groups = grid_groups(150, 64, 10, int(C**0.5), 4)
    assert tiles.data.n_groups == groups.n_groups == 81 and tiles.data.diffraction.shape[-1] == C
    assert np.allclose(tiles.data.positions.reshape(-1, 2), pos)
    # the held-out half: only positions with y above the split, one group at each
    ys = rand.data.positions[..., 1]
    anchors = rand.data.positions[:, 0, 1] if C == 1 else None
    assert C > 1 or anchors.min() >= 150 * 0.5 - 1
    assert rand.data.n_groups == 48 * C // 2 and ys.min() > 150 * 0.5 - 16  # K-NN members stay near


def test_patch_max_units_divide_the_object_like_the_run():
    a, b = _sets("gs1_ideal"), _sets("gs1_ideal", object_units="patch_max")
    for x, y in zip(a, b, strict=True):
        assert y.unit > 1.0 and np.array_equal(x.data.positions, y.data.positions)
        ratio = np.sqrt(np.mean(x.data.diffraction**2) / np.mean(y.data.diffraction**2))
        assert ratio == pytest.approx(y.unit, rel=0.02)  # the same draw, the object divided


def test_the_truth_scores_one_and_reaches_its_ceiling():
    """Analytic case: the true patches stitched score 1 on the masked and interior SSIM,
    the flat image below, and a ceiling equal to the score gives a normalised score of 1."""
    obj = make_lines_object(150, 3)
    pos, _ = grid_groups(150, 64, 10, 1)
    patches = physics.extract_patches(obj, pos, 64).astype(np.complex64)
    st = reassemble_patches(patches, pos, 10)
    s = test_sets.scores_of(st, st, obj)
    assert s["coverage_fraction"] == 1.0 and s["reference_filled_fraction"] == 0.0
    assert s["amp_ssim"] == pytest.approx(1.0) and s["interior_ssim"] == pytest.approx(1.0)
    assert s["ceiling_ssim"] == pytest.approx(1.0) and s["normalised"] == pytest.approx(1.0)
    assert s["flat_ssim"] < 0.5 and s["amp_pearson_r"] == pytest.approx(1.0)
    # half the patches darkened: the score drops, the ceiling does not
    worse = reassemble_patches(patches * np.where(np.arange(len(pos)) % 2, 0.5, 1.0)[:, None, None], pos, 10)
    w = test_sets.scores_of(worse, st, obj)
    assert w["amp_ssim"] < 0.99 and w["normalised"] == pytest.approx(
        (w["amp_ssim"] - w["flat_ssim"]) / (1.0 - w["flat_ssim"]), rel=1e-6
    )


def test_a_run_scores_both_test_sets_with_both_stitchings(tmp_path):
    pytest.importorskip("keras")
    from ptycho_helpers.run import stages

    knobs = {**SMALL, "batch_size": 8, "nepochs": 1, "group_limit": 6, "classical": "none", "test_sets": True}
    run = stages.run_scenario("gs1_ideal", tmp_path, knobs=knobs)
    comp = json.loads((run.ctx.folder / "comparison_metrics.json").read_text())
    ts = comp["test_sets"]
    assert ts["object_seed"] == 1042 and ts["stitchings"] == {"overlap": 20, "tiles": 10}
    assert ts["grid_tiles"]["groups"] == 81 and ts["random_half"]["groups"] == 24
    for name in test_sets.TEST_SETS:
        for stitching in test_sets.STITCHINGS:
            s = ts[name][stitching]
            assert 0 < s["flat_ssim"] < s["ceiling_ssim"] <= 1.0 and np.isfinite(s["amp_ssim"])
    assert ts["grid_tiles"]["tiles"]["coverage_fraction"] == 1.0
    assert ts["random_half"]["overlap"]["reference_filled_fraction"] > 0.2
    meta = json.loads((run.ctx.folder / "run_metadata.json").read_text())
    assert meta["timings_s"]["test_sets"] > 0 and meta["settings"]["test_sets"] is True
    # a saved model scored afterwards (scripts/test_sets_of.py) gets the same block
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "scripts" / "test_sets_of.py"
    spec = importlib.util.spec_from_file_location("test_sets_of", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    again = mod.score_run(run.ctx.folder)
    for name in test_sets.TEST_SETS:
        for stitching in test_sets.STITCHINGS:
            for key, value in ts[name][stitching].items():
                if value is None:  # e.g. no covered rectangle of 11 px on a sparse canvas
                    assert again[name][stitching][key] is None, key
                else:
                    assert again[name][stitching][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    bare = mod.score_run(run.ctx.folder, ceiling=False)  # --no-ceiling: the same scores, no bound
    tiles = bare["grid_tiles"]["tiles"]
    assert tiles["ceiling_ssim"] is None and tiles["normalised"] is None
    assert tiles["amp_ssim"] == pytest.approx(ts["grid_tiles"]["tiles"]["amp_ssim"], rel=1e-4)
