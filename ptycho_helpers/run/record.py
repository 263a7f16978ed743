"""The run record of one scenario: where it writes, what it resolved to, and the only
writer of ``run_metadata.json`` (start → stage sections and timings → finish)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import RunSettings
from ..core.checks import check_name
from ..hub import artifacts, metadata
from ..knobs import PROFILE_KNOBS
from ..plan import plan_run
from ..scenarios import ResolvedRun

logger = logging.getLogger(__name__)


@dataclass
class ScenarioContext:
    """Where a scenario writes and what it resolved to (settings, not results).

    Stages report into the run metadata only through :meth:`update` and :meth:`timed`;
    :meth:`save` is the one place ``run_metadata.json`` is written from the kernel.
    """

    name: str
    hub: Path
    folder: Path
    resolved: ResolvedRun
    settings: RunSettings
    meta: metadata.RunMetadata
    t0: float = field(default_factory=time.perf_counter)

    def save(self) -> None:
        artifacts.write_json(self.folder / "run_metadata.json", self.meta.model_dump(mode="json"))

    def update(self, **sections: Any) -> None:
        """Set top-level metadata sections (``model=...``, ``training=...``) and save."""
        for key, value in sections.items():
            setattr(self.meta, key, value)
        self.save()

    def timed(self, stage: str, start: float) -> None:
        self.meta.timings_s[stage] = round(time.perf_counter() - start, 3)
        self.save()


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def start_scenario(
    scenario: str,
    hub_dir: str | Path | None = None,
    *,
    knobs: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    run_name: str | None = None,
    profile: str | None = None,
    reports_dir: str | Path | None = None,
    **settings: Any,
) -> ScenarioContext:
    """Validate, resolve the profile (workload *and* run settings), create
    ``hub_dir/<run_name or scenario>/`` and write metadata with status ``running``.

    ``knobs`` (or the older ``overrides`` + keyword settings) map knob names of
    :data:`ptycho_helpers.knobs.KNOBS` to values, ``None`` meaning "not given".  An empty
    ``hub_dir`` creates a new hub exclusively in ``reports_dir`` (default ``reports/``).
    Everything is validated before any file is written; a folder that already holds a run
    is refused.  ``run_name`` names the folder when one hub holds several runs of a
    scenario (studies, sweeps); it defaults to the scenario name.
    """
    check_name("scenario", scenario)
    name = check_name("run", run_name) if run_name else scenario
    values = {**dict(overrides or {}), **settings, **dict(knobs or {})}
    resolved, run_settings, given_overrides = plan_run(scenario, values, profile=profile or None)
    if hub_dir:
        hub = Path(hub_dir)
    else:
        hub = artifacts.create_hub(reports_dir or artifacts.default_reports_dir())
    folder = hub / name
    if (folder / "run_metadata.json").exists():
        raise FileExistsError(f"{str(folder)!r} already holds a run; hubs are never written into twice")
    for sub in ("", "train_outputs", "inference_outputs"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    total, train, test = resolved.counts
    p = resolved.params
    meta = metadata.RunMetadata(
        scenario=scenario,
        run_name=name,
        status="running",
        started_utc=_now(),
        resolved=resolved.to_dict(),
        settings=dataclasses.asdict(run_settings),
        overrides={k: given_overrides.get(k) for k in PROFILE_KNOBS},
        profile=metadata.ProfileBlock(**resolved.profile),
        counts=metadata.Counts(total=total, train=train, test=test),
        seeds={"object_seed": p.object_seed, "sim_seed": p.sim_seed, "train_seed": run_settings.seed},
        versions=metadata.package_versions(),
        git_sha=metadata.git_sha(),
        host=metadata.host_info(),
    )
    ctx = ScenarioContext(name, hub, folder, resolved, run_settings, meta)
    ctx.save()
    logger.info("%s: resolved %s", name, resolved.to_dict())
    return ctx


def finish_scenario(ctx: ScenarioContext) -> metadata.RunMetadata:
    """Mark the run complete (the last write of a successful run)."""
    ctx.meta.timings_s["total"] = round(time.perf_counter() - ctx.t0, 3)
    ctx.meta.status = "complete"
    ctx.meta.finished_utc = _now()
    ctx.save()
    logger.info("%s: complete in %.1f s", ctx.name, ctx.meta.timings_s["total"])
    return ctx.meta
