"""The run record of one scenario: where it writes, what it resolved to, and the only
writer of ``run_metadata.json`` (start → stage sections and timings → finish)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import LAUNCHER_ENV, RunSettings
from ..core.checks import check_name
from ..hub import artifacts, metadata
from ..knobs import PROFILE_KNOBS
from ..pinn.device import describe_device
from ..plan import estimate_memory_bytes, plan_run
from ..scenarios import ResolvedRun

logger = logging.getLogger(__name__)


@dataclass
class ScenarioContext:
    """Where a scenario writes and what it resolved to (settings, not results).

    Stages report into the run metadata only through :meth:`update`, :meth:`merge` and
    :meth:`timed` (``tests/unit/run/test_record_api.py``);
    :meth:`save` is the one place ``run_metadata.json`` is written from the kernel.
    """

    name: str
    hub: Path
    folder: Path
    resolved: ResolvedRun
    settings: RunSettings
    meta: metadata.RunMetadata
    t0: float = field(default_factory=time.perf_counter)
    #: the kernel made this hub itself (a direct papermill/JupyterLab run with an empty
    #: ``hub_dir``): nobody else will write its ``summary.md``
    own_hub: bool = False

    def save(self) -> None:
        artifacts.write_json(self.folder / "run_metadata.json", self.meta.model_dump(mode="json"))

    def update(self, **sections: Any) -> None:
        """Set top-level metadata sections (``model=...``, ``training=...``) and save."""
        for key, value in sections.items():
            setattr(self.meta, key, value)
        self.save()

    def merge(self, section: str, **values: Any) -> None:
        """Add values to one metadata section (``scales``, ``seeds``, ``training``,
        ``counts``) and save: the stages' one way to record what they measured."""
        target = getattr(self.meta, section)
        if isinstance(target, dict):
            target.update(values)
        else:
            for key, value in values.items():
                setattr(target, key, value)
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
    # --device gpu that the backend cannot use: refused here
    device = {**describe_device(run_settings.device), "precision": run_settings.precision}
    if hub_dir:
        hub = Path(hub_dir)
        if (hub / "summary.md").exists():
            raise FileExistsError(
                f"{str(hub)!r} is a finished hub (it has summary.md) and hubs are never written into twice; "
                "omit hub_dir (papermill -p hub_dir '') for a new hub"
            )
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
        device=device,
        memory={"estimate_bytes": float(estimate_memory_bytes(resolved, run_settings))},
    )
    ctx = ScenarioContext(name, hub, folder, resolved, run_settings, meta, own_hub=not hub_dir)
    ctx.save()
    _fail_on_error(ctx)
    logger.info("%s: resolved %s", name, resolved.to_dict())
    return ctx


def mark_failed(ctx: ScenarioContext, error: str) -> None:
    """Status ``failed`` with the error; in a run nobody launched (a direct papermill run)
    also ``blocker.log`` in the hub, which the runner writes otherwise."""
    ctx.meta.status = "failed"
    ctx.meta.error = error
    ctx.meta.finished_utc = _now()
    ctx.save()
    if not os.environ.get(LAUNCHER_ENV):
        with open(ctx.hub / "blocker.log", "a") as blk:
            blk.write(f"=== {ctx.name}: FAILED (direct papermill run) ===\n{error}\n\n")
    _write_own_summary(ctx)


def _write_own_summary(ctx: ScenarioContext) -> None:
    """A hub the kernel made itself gets its ``summary.md`` from the kernel (a CLI run's
    parent writes it otherwise): every hub has one, however it was made."""
    if not ctx.own_hub or os.environ.get(LAUNCHER_ENV):
        return
    from ..hub import reporting

    row = {"scenario": ctx.name, "status": ctx.meta.status, "error": ctx.meta.error}
    extra = [
        "Made by a direct notebook run (papermill or JupyterLab): the executed notebook is where you saved it.",
        "",
    ]
    artifacts.write_text(
        ctx.hub / "summary.md", reporting.hub_summary(ctx.hub.name, [row], extra, hub=ctx.hub)
    )


def _fail_on_error(ctx: ScenarioContext) -> None:
    """Inside a kernel: an exception in any later cell marks this run ``failed`` before
    the traceback is shown, so a direct papermill run never stays ``running``
    (IPython's custom exception hook; KeyboardInterrupt is not an Exception and stays
    the runner's ``interrupted``)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def handler(self, etype, value, tb, tb_offset=None):
        if ctx.meta.status == "running":
            try:
                mark_failed(ctx, f"{etype.__name__}: {value}")
            except OSError:
                logger.exception("could not mark %s failed", ctx.name)
        self.showtraceback((etype, value, tb), tb_offset=tb_offset)

    shell.set_custom_exc((Exception,), handler)


def peak_rss_bytes() -> int:
    """This process's peak resident memory (Linux reports ru_maxrss in KiB, macOS in bytes)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def finish_scenario(ctx: ScenarioContext) -> metadata.RunMetadata:
    """Mark the run complete (the last write of a successful run)."""
    ctx.meta.timings_s["total"] = round(time.perf_counter() - ctx.t0, 3)
    ctx.meta.memory["peak_rss_bytes"] = float(peak_rss_bytes())
    ctx.meta.status = "complete"
    ctx.meta.finished_utc = _now()
    ctx.save()
    _write_own_summary(ctx)
    logger.info("%s: complete in %.1f s", ctx.name, ctx.meta.timings_s["total"])
    return ctx.meta
