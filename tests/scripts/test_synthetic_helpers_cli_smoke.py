"""Guard test named by the seed: the package imports and count derivation holds."""

from ptycho_helpers import RunParams, derive_counts


def test_sim_lines_pipeline_import_smoke():
    total, train, test = derive_counts(RunParams(), gridsize=1)
    assert total == train + test
    assert (total, train, test) == (2000, 1000, 1000)
    assert derive_counts(RunParams(), gridsize=2) == (8000, 4000, 4000)
