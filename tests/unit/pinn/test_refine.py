"""Physics refinement of predicted patches (N=32, tiny seeded data, no network)."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import ptycho_helpers as ph
from ptycho_helpers.config import ModelConfig
from ptycho_helpers.core import physics
from ptycho_helpers.core.grouping import gather_groups
from ptycho_helpers.core.reassemble import even_ceil

pytest.importorskip("keras")
from ptycho_helpers.pinn.refine import refine_patches  # noqa: E402

N = 32


@pytest.fixture(scope="module")
def setup(lines_setup):
    return lines_setup


def _case(setup, gridsize, n_groups=12):
    obj, probe, raw = setup
    g = ph.group_positions(raw.positions, gridsize=gridsize, n_groups=n_groups, neighbor_count=4, rng=0)
    data = gather_groups(raw.diffraction, raw.positions, g)
    pad = even_ceil(data.max_offset) if gridsize > 1 else 0
    # no disk mask: at N=32 it clips the probe's blurred edge (radius N/4 = 8 vs ≈ 5.5 + blur),
    # and the clipped tail is measurable at 1e9 photons; unmasked, the truth is consistent
    mc = ModelConfig(N=N, gridsize=gridsize, combine_pad=pad, probe_mask=False)
    truth = physics.extract_patches(obj, np.floor(data.positions.reshape(-1, 2)), N)
    s = raw.photon_scale  # the simulation's own scale: the truth is then exactly consistent
    return data, mc, truth, probe, s


def _inside_probe(a):
    return a[:, physics.disk_mask(N, 4.0)]


def _rmse(a, b):
    return float(np.sqrt(np.mean((_inside_probe(np.abs(a)) - _inside_probe(np.abs(b))) ** 2)))


def test_truth_is_a_fixed_point_at_the_noise_floor(setup):
    data, mc, truth, probe, s = _case(setup, 1)
    out = refine_patches(
        truth, data, probe=probe, model_config=mc, photon_scale=s, steps=20, learning_rate=0.01
    )
    # deviance/2 per pixel: ≈ 1.5 at the truth, ≈ 500 from a blurred start; Adam's first steps
    # (≈ lr on every variable) cost a little before the decayed rate settles
    assert out.loss_start < 3.0
    assert out.loss_end < 5.0
    change = np.abs(_inside_probe(out.patches) - _inside_probe(truth)).mean() / np.abs(truth).mean()
    assert change < 0.02
    assert out.patches.shape == truth.shape and out.patches.dtype == np.complex64


@pytest.mark.parametrize("gridsize", [1, 2])
def test_refinement_restores_detail_from_a_blurred_start(setup, gridsize):
    data, mc, truth, probe, s = _case(setup, gridsize)
    blurred = np.stack([gaussian_filter(np.abs(t), 3.0) for t in truth]).astype(np.complex64)
    out = refine_patches(blurred, data, probe=probe, model_config=mc, photon_scale=s, steps=150, batch_size=5)
    assert out.loss_end < out.loss_start / 10
    assert _rmse(out.patches, truth) < 0.75 * _rmse(blurred, truth)
    assert out.steps == 150 and out.wall_s > 0


def test_groups_are_independent_and_keep_their_order(setup):
    data, mc, truth, probe, s = _case(setup, 1)
    blurred = np.stack([gaussian_filter(np.abs(t), 3.0) for t in truth]).astype(np.complex64)
    kw = dict(probe=probe, model_config=mc, photon_scale=s, steps=30)
    whole = refine_patches(blurred, data, **kw).patches
    in_batches = refine_patches(blurred, data, batch_size=5, **kw).patches
    # inside the probe (the pixels the data constrain) batching changes nothing
    # (Adam's arithmetic differs in the last bits: equal on average to 0.3 % of the amplitude ≈ 6;
    # a mix-up of groups would differ by ~1)
    diff = np.abs(_inside_probe(in_batches) - _inside_probe(whole))
    assert diff.mean() < 0.02 and diff.max() < 0.2


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: p[:-1], "patches must have shape"),
        (lambda p: np.where(np.arange(p.size).reshape(p.shape) == 5, np.nan, p), "NaN or inf"),
    ],
)
def test_bad_patches_are_refused(setup, change, message):
    data, mc, truth, probe, s = _case(setup, 1)
    with pytest.raises(ValueError, match=message):
        refine_patches(change(truth), data, probe=probe, model_config=mc, photon_scale=s, steps=1)


def test_bad_settings_are_refused(setup):
    data, mc, truth, probe, s = _case(setup, 1)
    with pytest.raises(ValueError, match="steps"):
        refine_patches(truth, data, probe=probe, model_config=mc, photon_scale=s, steps=0)
    with pytest.raises(ValueError, match="learning_rate"):
        refine_patches(truth, data, probe=probe, model_config=mc, photon_scale=s, steps=1, learning_rate=0)
