"""Property tests (hypothesis): profile resolution, grouping and stitching invariants."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ptycho_helpers import (
    STABLE_PROFILES,
    RunParams,
    canvas_requirement,
    group_positions,
    reassemble_patches,
    resolve_profile,
)

KNOB_VALUES = {
    "base_total_images": st.integers(64, 4000),
    "group_count": st.integers(1, 32),
    "batch_size": st.integers(1, 64),
    "neighbor_count": st.integers(4, 8),
    "nphotons": st.floats(1e3, 1e10),
}


@settings(max_examples=60, deadline=None)
@given(
    scenario=st.sampled_from(["gs1_ideal", "gs2_ideal", "gs1_custom", "gs2_custom"]),
    given_knobs=st.dictionaries(st.sampled_from(sorted(KNOB_VALUES)), st.none(), max_size=5),
    data=st.data(),
)
def test_profile_resolution_properties(scenario, given_knobs, data):
    overrides = {k: data.draw(KNOB_VALUES[k]) if data.draw(st.booleans()) else None for k in given_knobs}
    params, gc, bs, rec = resolve_profile(scenario, RunParams(), overrides)
    json.dumps(rec)
    profile = STABLE_PROFILES.get(scenario)
    given = {k: v for k, v in overrides.items() if v is not None}
    for k, v in given.items():  # the caller always wins
        value = bs if k == "batch_size" else getattr(params, k)
        assert value == v
    if profile is None:
        assert rec["active"] is False
        return
    for knob, preferred in profile.items():
        if knob == "label":
            continue
        if knob in given:
            assert rec["skipped"][knob] == {
                "preferred": preferred,
                "override": given[knob],
                "reason": rec["skipped"][knob]["reason"],
            }
            assert knob not in rec["applied"]
        else:
            assert rec["applied"][knob] == preferred
    assert rec["effective_group_count"] == gc == params.group_count and rec["effective_batch_size"] == bs
    # physics never changes unless asked
    if "nphotons" not in given:
        assert params.nphotons == RunParams().nphotons


@settings(max_examples=40, deadline=None)
@given(n=st.integers(6, 60), gridsize=st.sampled_from([1, 2]), seed=st.integers(0, 10_000), data=st.data())
def test_grouping_properties(n, gridsize, seed, data):
    pos = np.random.default_rng(seed).uniform(0, 200, (n, 2))
    k = data.draw(st.integers(4, max(4, n - 1))) if gridsize == 2 else 4
    g_count = data.draw(st.integers(1, n))
    g = group_positions(pos, gridsize=gridsize, n_groups=g_count, neighbor_count=k, rng=seed)
    C = gridsize**2
    assert g.indices.shape == (g_count, C)
    assert g.indices.min() >= 0 and g.indices.max() < n
    for row in g.indices:
        assert len(set(row)) == C  # no member twice
    np.testing.assert_allclose(g.absolute, pos[g.indices], atol=1e-9)
    np.testing.assert_allclose(g.relative.sum(axis=1), 0, atol=1e-9)
    if gridsize == 1:
        assert len(set(g.indices[:, 0])) == g_count


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 12), M=st.integers(2, 12), seed=st.integers(0, 10_000), spread=st.floats(0, 40))
def test_stitching_properties(n, M, seed, spread):
    rng = np.random.default_rng(seed)
    N = 16
    M = min(M, N)
    pos = rng.uniform(100 - spread, 100 + spread, (n, 2))
    patches = (rng.uniform(0.5, 2, (n, N, N)) * np.exp(1j * rng.uniform(-1, 1, (n, N, N)))).astype(
        np.complex64
    )
    st_ = reassemble_patches(patches, pos, M)
    side = st_.image.shape[0]
    assert type(side) is int or isinstance(side, int)
    assert np.all(st_.coverage >= 0)
    assert np.all(np.isfinite(st_.image[st_.covered]))
    assert np.all(np.isnan(st_.image[~st_.covered]))
    # the canvas fits every patch: bilinear weights sum to one per pixel -> no mass lost
    assert (
        st_.coverage.sum() == np.float64(n * M * M) or abs(st_.coverage.sum() - n * M * M) < 1e-6 * n * M * M
    )
    # the canvas holds every patch about its integer-grid centre floor(mean) (offsets below
    # 1e-9 px are rounding, which the stitcher absorbs)
    assert side >= canvas_requirement(M, np.round(pos - np.floor(pos.mean(axis=0)), 9))
    # overlap-averaged values stay within the range of the inputs
    amp = np.abs(st_.image[st_.covered])
    assert amp.max() <= 2 + 1e-4
