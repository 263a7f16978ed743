"""Member patches -> the group object the physics sees (gridsize 2), no network needed."""

import numpy as np
import pytest

import ptycho_helpers as ph
from ptycho_helpers.config import ModelConfig
from ptycho_helpers.core import geometry, physics
from ptycho_helpers.core.grouping import gather_groups
from ptycho_helpers.core.reassemble import even_ceil
from ptycho_helpers.pinn.infer import combined_patches

N = 32


@pytest.fixture(scope="module")
def gs2(lines_setup):
    obj, probe, raw = lines_setup
    g = ph.group_positions(raw.positions, gridsize=2, n_groups=6, neighbor_count=4, rng=0)
    data = gather_groups(raw.diffraction, raw.positions, g)
    truth = physics.extract_patches(obj, np.floor(data.positions.reshape(-1, 2)), N)
    return data, truth, probe, even_ceil(data.max_offset)


def _mc(pad):
    return ModelConfig(N=N, gridsize=2, combine_pad=pad)


def _intensity(patches, data, probe, pad):
    return geometry.model_intensity(
        patches.reshape(-1, 4, N, N), data.geometry, probe, probe_mask=True, probe_big=False, pad=pad
    )


def _trade(truth, data, rng):
    """Member 0 brighter, member 1 darker by the same amount on the pixels both cover: the
    sum over members (so the combined object and the diffraction) does not change."""
    support = physics.support_mask(N, False).astype(bool)
    traded = truth.reshape(-1, 4, N, N).copy()
    off = np.rint(data.geometry[..., :2]).astype(int)
    for b in range(traded.shape[0]):
        dx, dy = off[b, 0] - off[b, 1]  # member-0 pixel (k, j) is member-1 pixel (k + dy, j + dx)
        for k, j in zip(*np.nonzero(support), strict=True):
            k1, j1 = k + dy, j + dx
            if 0 <= k1 < N and 0 <= j1 < N and support[k1, j1]:
                d = 0.3 * rng.standard_normal()
                traded[b, 0, k, j] += d
                traded[b, 1, k1, j1] -= d
    return traded.reshape(-1, N, N)


def test_members_trading_brightness_do_not_change_the_physics_or_the_combined_patches(gs2):
    """Regression: gs2 stitched the raw member outputs, which can trade brightness on their
    overlap without changing the loss (measured: 7 % too bright); the combined cuts are what
    the data determine, and they do not see the trade."""
    data, truth, probe, pad = gs2
    traded = _trade(truth, data, np.random.default_rng(0))
    assert np.abs(traded - truth).max() > 0.5  # the raw members differ ...
    np.testing.assert_allclose(  # ... the physics cannot tell ...
        _intensity(traded, data, probe, pad), _intensity(truth, data, probe, pad), rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(  # ... and neither can the combined patches
        combined_patches(traded, data, _mc(pad)),
        combined_patches(truth, data, _mc(pad)),
        atol=1e-5,
    )


def test_consistent_members_are_a_fixed_point(gs2):
    data, truth, probe, pad = gs2
    once = combined_patches(truth, data, _mc(pad))
    inner = physics.support_mask(N, False).astype(bool)
    np.testing.assert_allclose(once[:, inner], truth[:, inner], rtol=1e-5)
    np.testing.assert_allclose(combined_patches(once, data, _mc(pad)), once, rtol=1e-5)


def test_gridsize_one_is_unchanged_and_bad_shapes_are_refused(gs2):
    data, truth, probe, pad = gs2
    with pytest.raises(ValueError, match="patches must have shape"):
        combined_patches(truth[:-1], data, _mc(pad))
    raw = ph.simulate_nongrid_raw_data(
        ph.make_lines_object(128, 3), probe, n_images=8, nphotons=1e6, seed=2, buffer=8
    )
    g1 = gather_groups(
        raw.diffraction, raw.positions, ph.group_positions(raw.positions, gridsize=1, n_groups=8, rng=0)
    )
    p = physics.extract_patches(ph.make_lines_object(128, 3), np.floor(g1.positions.reshape(-1, 2)), N)
    np.testing.assert_array_equal(combined_patches(p, g1, ModelConfig(N=N)), p.astype(np.complex64))
