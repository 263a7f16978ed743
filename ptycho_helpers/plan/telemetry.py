"""Reassembly telemetry of a scenario's stitched test groups (offsets, canvases, coverage).

Computed in the kernel by the group stage from the positions the run actually used (a
simulated scan or an imported NPZ) and written into the hub as
``reassembly_<run>.json``/``.md``.  The ``reassembly-report`` command calls the same
functions without training: it draws the same positions (the simulation's first draw, or
the file's) and groups them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RunSettings
from ..core.grid import grid_groups, halves_ranges, square_centres, square_groups
from ..core.grouping import Groups, group_positions
from ..core.reassemble import reassembly_telemetry
from ..core.simulate import draw_scan_positions, split_indices_by_axis
from ..hub import artifacts, interchange, results
from ..scenarios import ResolvedRun
from .resolve import plan_run


def test_groups(resolved: ResolvedRun, positions: np.ndarray, group_limit: int) -> Groups:
    """The test groups that get stitched: ``min(group_count·group_multiplier, group_limit)``
    groups of the test positions, seeded with ``sim_seed + 1``."""
    r = resolved
    n = min(r.group_count * r.spec.group_multiplier, group_limit, len(positions))
    return group_positions(
        positions,
        gridsize=r.spec.gridsize,
        n_groups=n,
        neighbor_count=r.params.neighbor_count,
        rng=r.params.sim_seed + 1,
    )


def grid_test_groups(groups: Groups, group_limit: int) -> Groups:
    """Grid protocol: the first ``group_limit`` test tiles in raster order."""
    n = min(groups.n_groups, group_limit)
    return Groups(groups.indices[:n], groups.centroids[:n], groups.relative[:n])


def fixed_test_groups(resolved: ResolvedRun, groups: Groups, group_limit: int) -> Groups:
    """The stitched test groups of a scan whose groups are fixed: a grid's first
    ``group_limit`` tiles in raster order; random squares' first
    ``min(group_count·group_multiplier, group_limit)``, as many as the K-NN test groups."""
    limit = group_limit
    if resolved.spec.scan != "grid":
        limit = min(limit, resolved.group_count * resolved.spec.group_multiplier)
    return grid_test_groups(groups, limit)


def telemetry_of(
    name: str,
    resolved: ResolvedRun,
    group_limit: int,
    groups: Groups,
    test_positions: np.ndarray,
    *,
    data_path: str | None = None,
) -> dict[str, Any]:
    """The telemetry record of the stitched groups ``groups`` of ``test_positions``."""
    p = resolved.params
    members = np.asarray(test_positions, dtype=np.float64)[groups.indices]  # (g, C, 2)
    tel = reassembly_telemetry(
        members.reshape(-1, 2), groups.relative, N=p.N, M=p.reassemble_M, gridsize=resolved.spec.gridsize
    )
    source = {"kind": "npz", "path": str(data_path)} if data_path else {"kind": "simulated", "path": None}
    return {
        "scenario": name,
        "group_limit": group_limit,
        "profile": resolved.profile,
        "source": source,
        **tel,
    }


#: the test object's random scan of ``object_set=separate`` is drawn with ``sim_seed + 1000``
#: (``run.grid_protocol.TEST_SIM_SEED_OFFSET`` is this value; ``plan`` may not import ``run``)
TEST_SIM_SEED_OFFSET = 1000


def square_test_groups(resolved: ResolvedRun) -> tuple[np.ndarray, Groups]:
    """Test member positions ``(g·4, 2)`` and groups of a square-geometry scan, as the
    simulation draws them (``run/grid_protocol.simulate_square_scenario``): halves split
    the one scan's centres by y; separate objects give the test object its own scan."""
    p, spec = resolved.params, resolved.spec
    C, off = spec.channels, spec.group_offset
    if spec.object_set == "separate":
        rng = np.random.default_rng(p.sim_seed + TEST_SIM_SEED_OFFSET)
        centres, members = square_centres(resolved.counts[2] // C, p.object_size, p.buffer, off, rng)
    else:
        rng = np.random.default_rng(p.sim_seed)
        centres, members = square_centres(resolved.counts[0] // C, p.object_size, p.buffer, off, rng)
        _, te = split_indices_by_axis(centres[:, 1], p.split_fraction)
        centres, members = centres[te], members[te]
    return members.reshape(-1, 2), square_groups(centres, off)


def scan_test_positions(resolved: ResolvedRun, settings: RunSettings) -> np.ndarray:
    """The test positions a run of ``resolved`` uses, without simulating diffraction: the
    imported file's, or the simulation's first draw (``draw_scan_positions``), split by y."""
    p = resolved.params
    if resolved.spec.group_geometry == "square":  # the members of the test squares
        return square_test_groups(resolved)[0]
    if resolved.spec.object_set == "separate":  # the test object's own scan (run/grid_protocol.py)
        return draw_scan_positions(
            resolved.counts[2],
            p.object_size,
            p.buffer,
            np.random.default_rng(p.sim_seed + TEST_SIM_SEED_OFFSET),
        )
    if settings.data_path is not None:
        xy = interchange.import_npz(settings.data_path).positions
    else:
        xy = draw_scan_positions(
            resolved.counts[0], p.object_size, p.buffer, np.random.default_rng(p.sim_seed)
        )
    _, test_idx = split_indices_by_axis(xy[:, 1], p.split_fraction)
    return xy[test_idx]


def reassembly_report(
    scenario: str, knobs: Mapping[str, Any] | None = None, *, profile: str | None = None
) -> dict[str, Any]:
    """Reassembly telemetry of a scenario's stitched test groups (no training needed);
    ``knobs`` as for a run (``group_limit``, ``data_path``, workload knobs, ...)."""
    resolved, settings, _ = plan_run(scenario, knobs, profile=profile)
    p, spec = resolved.params, resolved.spec
    if spec.group_geometry == "square" and spec.scan != "grid":
        positions, all_groups = square_test_groups(resolved)
        groups = fixed_test_groups(resolved, all_groups, settings.group_limit)
    elif spec.scan == "grid":
        halves = halves_ranges(p.object_size, p.split_fraction)[1] if spec.object_set == "halves" else None
        positions, all_groups = grid_groups(
            p.object_size, p.N, spec.test_stride, spec.gridsize, spec.group_offset, halves
        )
        groups = fixed_test_groups(resolved, all_groups, settings.group_limit)
    else:
        positions = scan_test_positions(resolved, settings)
        groups = test_groups(resolved, positions, settings.group_limit)
    return telemetry_of(
        scenario, resolved, settings.group_limit, groups, positions, data_path=settings.data_path
    )


def write_telemetry(hub: str | Path, tel: dict[str, Any]) -> None:
    """``reassembly_<run>.json`` and ``reassembly_<run>.md`` in the hub."""
    hub = Path(hub)
    artifacts.write_json(hub / f"reassembly_{tel['scenario']}.json", results.checked(results.Telemetry, tel))
    artifacts.write_text(hub / f"reassembly_{tel['scenario']}.md", telemetry_markdown(tel))


def telemetry_markdown(t: dict[str, Any]) -> str:
    o, m, s, c = t["offsets"], t["model_canvas"], t["stitch_canvas"], t["coverage"]
    return "\n".join(
        [
            f"# Reassembly telemetry — {t['scenario']}",
            "",
            f"gridsize {t['gridsize']}, N={t['N']}, M={t['M']}, {t['n_groups']} groups, {t['n_patches']} patches stitched "
            f"(group_limit {t['group_limit']}); positions: {t['source']['kind']}"
            + (f" `{t['source']['path']}`" if t["source"]["path"] else ""),
            "",
            "| quantity | value |",
            "| --- | --- |",
            f"| absolute x range | {o['absolute']['x_min']:.1f} … {o['absolute']['x_max']:.1f} |",
            f"| absolute y range | {o['absolute']['y_min']:.1f} … {o['absolute']['y_max']:.1f} |",
            f"| max centred offset | {o['centred']['max_abs']:.2f} px |",
            f"| max relative offset (member − centroid) | {(o['relative'] or {}).get('max_abs', 0):.2f} px |",
            f"| model canvas required / patch size | {m['required']} / {m['patch_size']} |",
            f"| stitching canvas padded / required | {s['padded_size']} / {s['required']} |",
            f"| fits | {s['fits']} |",
            f"| coverage loss vs unbounded canvas | {c['coverage_loss']:.4f} |",
            "",
        ]
    )
