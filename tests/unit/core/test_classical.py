"""The classical engine adapter (PtyLab) against our physics: the same forward intensity,
the same geometry (a 1-px shift of the positions drops the score), a tiny reconstruction
beats the flat baseline, and a broken install is one clear error."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ptycho_helpers.core import classical, metrics, physics
from ptycho_helpers.core.reassemble import reassemble_patches
from ptycho_helpers.core.simulate import make_lines_object


@pytest.fixture(scope="module")
def setup(tiny_probe):
    obj = make_lines_object(80, 5)
    N = tiny_probe.shape[0]
    g = np.arange(24.0, 57.0, 4.0)  # a dense 9x9 grid of integer positions
    pos = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    amp = np.sqrt(physics.far_field_intensity(physics.extract_patches(obj, pos, N) * tiny_probe))
    return obj, tiny_probe, pos, amp


def _score(result, obj, pos, N, M=16):
    patches = classical.patches_at(result.image, result.canvas, pos, N)
    st = reassemble_patches(patches, pos, M)
    return metrics.masked_amp_ssim(st, obj), st


def test_forward_model_is_ours(setup):
    obj, probe, pos, _ = setup
    ours = physics.far_field_intensity(physics.extract_patches(obj, pos[:5], probe.shape[0]) * probe)
    theirs = classical.forward_intensity(obj, pos[:5], probe)
    assert np.max(np.abs(theirs - ours)) / ours.max() < 1e-5
    np.testing.assert_allclose(theirs.sum(axis=(1, 2)), ours.sum(axis=(1, 2)), rtol=1e-5)  # Parseval
    shifted = classical.forward_intensity(obj, pos[:5] + [1.0, 0.0], probe)
    assert np.max(np.abs(shifted - ours)) / ours.max() > 1e-3  # positions are not ignored


def test_canvas_holds_every_patch_and_rounding_is_recorded():
    pos = np.array([[10.4, 20.0], [30.0, 12.6]])
    c = classical.canvas_for(pos, 8, margin=2)
    ul, worst = classical.corners(pos, 8)
    assert np.all(ul - np.asarray(c.origin) >= 2) and np.all(ul - np.asarray(c.origin) + 8 <= c.side)
    assert c.side % 2 == 0 and worst == pytest.approx(0.4)


def test_tiny_reconstruction_beats_flat_and_a_shift_drops_it(setup):
    obj, probe, pos, amp = setup
    N = probe.shape[0]
    res = classical.reconstruct(
        amp, pos, probe, iterations=30, engine="mPIE", every=10, monitor=lambda im, c: 0.0
    )
    ssim, st = _score(res, obj, pos, N)
    flat = metrics.image_metrics(
        np.full(st.image.shape, np.nanmean(np.abs(st.image))),
        np.abs(metrics.truth_on_canvas(obj, st)),
        st.covered,
    )["ssim"]
    assert ssim > flat + 0.3, (ssim, flat)
    assert res.error[-1] < 0.2 * res.error[0]
    assert [i for i, _ in res.curve] == [0, 10, 20, 30]
    # the engine told the positions 1 px off: the score must drop
    wrong = classical.reconstruct(amp, pos + [1.0, 0.0], probe, iterations=30, engine="mPIE")
    assert _score(wrong, obj, pos, N)[0] < ssim - 0.1


def test_reconstruction_is_deterministic_and_seeded_start_is_used(setup):
    obj, probe, pos, amp = setup
    a = classical.reconstruct(amp, pos, probe, iterations=3, engine="mPIE", seed=1)
    b = classical.reconstruct(amp, pos, probe, iterations=3, engine="mPIE", seed=1)
    np.testing.assert_array_equal(a.image, b.image)
    side, (ox, oy) = a.canvas.side, a.canvas.origin
    start = physics.extract_patches(obj, np.array([[ox + side / 2, oy + side / 2]]), side)[0]  # the truth
    start[0, 0] = np.nan  # uncovered pixels of a seed get the flat mean
    seeded = classical.reconstruct(amp, pos, probe, iterations=1, engine="ePIE", start=start, canvas=a.canvas)
    assert seeded.start == "image" and np.all(np.isfinite(seeded.image))
    assert _score(seeded, obj, pos, probe.shape[0])[0] > 0.95 > _score(a, obj, pos, probe.shape[0])[0]


def test_bad_inputs_are_clear(setup):
    _, probe, pos, amp = setup
    with pytest.raises(ValueError, match="choose one of mPIE, ePIE"):
        classical.reconstruct(amp, pos, probe, iterations=1, engine="DM")
    with pytest.raises(ValueError, match="not all zero"):
        classical.reconstruct(amp * 0, pos, probe, iterations=1)


def test_missing_engine_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "PtyLab", None)  # an import of PtyLab now fails
    with pytest.raises(classical.ClassicalEngineError, match="--classical none"):
        classical.engine_version()


def test_missing_engine_is_refused_before_a_run_starts(monkeypatch):
    import importlib.util

    from ptycho_helpers import plan

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "PtyLab" else real(name, *a)
    )
    with pytest.raises(ValueError, match="PtyLab is not installed.*--classical none"):
        plan.plan_run("gs1_ideal", {})
    plan.plan_run("gs1_ideal", {"classical": "none"})  # skipping the stage needs no engine


def test_quiet_progress_disables_ptylabs_bars_and_restores_them():
    """PtyLab's tqdm.auto bars became ~100 frozen widgets in every executed notebook."""
    import importlib

    from ptycho_helpers.core.classical import quiet_progress

    engine_module = importlib.import_module(
        "PtyLab.Engines.mPIE"
    )  # the module (the package exports the class)

    before = engine_module.tqdm, engine_module.trange
    with quiet_progress():
        assert engine_module.tqdm([1, 2]).disable and engine_module.trange(3).disable
        assert list(engine_module.trange(3)) == [0, 1, 2]
    assert (engine_module.tqdm, engine_module.trange) == before
