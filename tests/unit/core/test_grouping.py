import numpy as np
import pytest
from numpy.testing import assert_allclose

from ptycho_helpers import group_positions


def test_gridsize1_groups_are_single_positions(rng):
    pos = rng.uniform(0, 100, (30, 2))
    g = group_positions(pos, gridsize=1, n_groups=10, rng=0)
    assert g.indices.shape == (10, 1)
    assert len(set(g.indices[:, 0])) == 10  # without replacement
    assert_allclose(g.centroids, pos[g.indices[:, 0]])
    assert_allclose(g.relative, 0)


def test_gridsize2_members_are_true_nearest_neighbours(rng):
    pos = rng.uniform(0, 100, (50, 2))
    g = group_positions(pos, gridsize=2, n_groups=20, neighbor_count=6, rng=1)
    assert g.indices.shape == (20, 4)
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    # recover the seed of each group: a point whose 6 nearest others contain all members
    for members in g.indices:
        ok = False
        for seed in range(50):
            nn = [j for j in np.argsort(d[seed]) if j != seed][:6]
            if seed not in members and set(members) <= set(nn):
                ok = True
                break
        assert ok
    # sign convention: member = centroid + relative
    assert_allclose(g.absolute, pos[g.indices])
    assert_allclose(g.relative.mean(axis=1), 0, atol=1e-12)


def test_grouping_seeded(rng):
    pos = rng.uniform(0, 100, (40, 2))
    a = group_positions(pos, gridsize=2, n_groups=10, neighbor_count=5, rng=3)
    b = group_positions(pos, gridsize=2, n_groups=10, neighbor_count=5, rng=3)
    assert np.array_equal(a.indices, b.indices)


def test_grouping_errors(rng):
    pos = rng.uniform(0, 100, (4, 2))
    with pytest.raises(ValueError, match="need at least 5"):
        group_positions(pos, gridsize=2, n_groups=2, neighbor_count=4)
    with pytest.raises(ValueError, match="neighbor_count=3 is below"):
        group_positions(rng.uniform(0, 100, (40, 2)), gridsize=2, n_groups=2, neighbor_count=3)
    with pytest.raises(ValueError, match="exceeds"):
        group_positions(pos, gridsize=1, n_groups=5)
    with pytest.raises(ValueError, match="shape"):
        group_positions(np.zeros((4, 3)), gridsize=1, n_groups=1)
