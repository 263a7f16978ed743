"""The grid protocol's scan and groups against REFERENCE_PROTOCOLS.md §A."""

from __future__ import annotations

import numpy as np
import pytest

import ptycho_helpers as ph
from ptycho_helpers.core.grid import grid_group_counts, grid_groups, patch_max_scale, simulate_grid


@pytest.mark.parametrize(
    ("gridsize", "stride", "per_axis"),
    [(1, 4, 83), (2, 4, 82), (1, 10, 33), (2, 10, 33)],
)
def test_counts_match_the_protocol_page(gridsize, stride, per_axis):
    """gs1: 2·83² training patterns; gs2: 2·82² groups; test 33² tiles (392 px, N = 64)."""
    pos, g = grid_groups(392, 64, stride, gridsize)
    assert g.n_groups == per_axis**2 and pos.shape == (per_axis**2 * gridsize**2, 2)
    assert grid_group_counts(392, 64, stride, stride, gridsize) == (per_axis**2, per_axis**2)
    # valid extraction: every patch lies inside the object
    assert pos.min() >= 32 and pos.max() <= 392 - 32


def test_fixed_2x2_groups_at_plus_minus_2_in_a_fixed_order():
    pos, g = grid_groups(392, 64, 4, 2)
    np.testing.assert_array_equal(g.relative[0], [[-2, -2], [2, -2], [-2, 2], [2, 2]])
    assert np.all(g.relative == g.relative[0])  # the same order in every group
    np.testing.assert_array_equal(pos[g.indices], g.absolute)
    np.testing.assert_array_equal(g.centroids[0], [34, 34])
    assert np.all(np.diff(np.unique(g.centroids[:, 0])) == 4)  # stride between groups
    assert len(np.unique(g.indices)) == g.indices.size  # no pattern shared between groups


def test_gs1_grid_points():
    pos, g = grid_groups(392, 64, 10, 1)
    np.testing.assert_array_equal(np.unique(pos[:, 0]), 32 + 10 * np.arange(33))
    np.testing.assert_array_equal(g.indices[:, 0], np.arange(33 * 33))


def test_simulate_grid_units_and_layout():
    objs = [ph.make_lines_object(128, s) for s in (1, 2)]
    test = ph.make_lines_object(128, 9)
    probe = ph.normalize_probe_guess(ph.make_probe(64), 4.0)
    scan = simulate_grid(
        objs, test, probe, gridsize=2, train_stride=16, test_stride=10, offset=4, nphotons=1e9, seed=1
    )
    n_per = scan.train.n // 2
    assert (
        scan.train_groups.indices.max() == scan.train.n - 1 and scan.train_groups.n_groups == 2 * n_per // 4
    )
    # patch-max units: the mean of the per-patch maxima of the scaled test object is 1
    te_pos = scan.test.positions
    assert patch_max_scale(test / scan.test_scale, te_pos, 64) == pytest.approx(1.0, rel=1e-5)
    assert patch_max_scale(test, te_pos, 64) == pytest.approx(scan.test_scale, rel=1e-6)
    assert np.isfinite(scan.train.diffraction).all() and scan.test.diffraction.shape == (196, 64, 64)
