"""Command line: ``python -m ptycho_helpers {rerun,run,reassembly-report,sweep} ...``.

Bad input ends with exit code 2 and one line naming the bad value (a traceback only with
``--debug``); a run whose scenario failed exits 1; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from .hub import artifacts
from .knobs import KNOBS, Knob
from .scenarios import NAMED_PROFILES, SCENARIOS

logger = logging.getLogger("ptycho_helpers.cli")

USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, PermissionError, NotADirectoryError)


def _positive(text: str) -> int:
    """An int >= 1 (``--workers 0`` used to become 1 silently)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


class _Once(argparse.Action):
    """A knob flag given twice is an error (argparse silently kept the last value)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) is not None:
            parser.error(
                f"{option_string} given twice ({getattr(namespace, self.dest)!r} and {values!r}); give it once"
            )
        setattr(namespace, self.dest, values)


def _debug_flag(p: argparse.ArgumentParser) -> None:
    """``--debug`` after the subcommand too (SUPPRESS: not given here keeps the global value)."""
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")


def _describe(knob: Knob) -> str:
    one_of = f"; one of {', '.join(knob.choices)}" if knob.choices else ""
    return f"{knob.help} ({knob.default_text}{one_of})"


def _add_knobs(p: argparse.ArgumentParser) -> None:
    """One flag per row of the knob table (:data:`ptycho_helpers.knobs.KNOBS`)."""
    groups = {
        True: p.add_argument_group("override knobs (default: the scenario's stable profile / RunParams)"),
        False: p.add_argument_group("run settings"),
    }
    for knob in KNOBS:
        parse = _bool if knob.type is bool else knob.type
        kw: dict[str, Any] = {"choices": knob.choices} if knob.choices else {}
        groups[knob.is_profile_knob].add_argument(
            knob.cli_flag,
            dest=knob.name,
            type=parse,
            default=None,
            metavar=knob.name.upper(),
            help=_describe(knob),
            action=_Once,
            **kw,
        )
    p.add_argument("--reports-dir", default=None, help="where hubs are created (default: <repo>/reports)")


class _StrictParser(argparse.ArgumentParser):
    """No prefix matching: ``--nepoch 1`` is an error, not ``--nepochs 1``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _StrictParser(prog="python -m ptycho_helpers", description="ptycho-workbook command line")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="{rerun,run,reassembly-report,sweep,ladder}",
        parser_class=_StrictParser,
    )

    p = sub.add_parser(
        "rerun", help="rerun gs1_ideal and gs2_ideal with their stable profiles into a new hub"
    )
    _debug_flag(p)
    p.add_argument("--reports-dir", default=None, help="where hubs are created (default: <repo>/reports)")
    p.add_argument(
        "--profile",
        choices=list(NAMED_PROFILES),
        default=None,
        help="a named profile instead of the stable profiles (full: ~10-20 min per scenario)",
    )

    p = sub.add_parser("run", help="run one scenario into a new hub, optionally overriding knobs")
    _debug_flag(p)
    p.add_argument("scenario", help=f"one of {', '.join(SCENARIOS)}")
    p.add_argument(
        "--profile", choices=list(NAMED_PROFILES), default=None, help="a named profile (e.g. full)"
    )
    _add_knobs(p)

    p = sub.add_parser(
        "reassembly-report",
        help="reassembly telemetry of a scenario's stitched test groups (the kernel's code; honours --data)",
    )
    _debug_flag(p)
    p.add_argument("scenario")
    p.add_argument("--output-json", required=True)
    p.add_argument("--output-markdown", required=True)
    p.add_argument(
        "--profile", choices=list(NAMED_PROFILES), default=None, help="a named profile (e.g. full)"
    )
    _add_knobs(p)

    p = sub.add_parser(
        "ladder", help="the discrepancy ladder: grid -> non-grid protocol one recorded factor at a time"
    )
    _debug_flag(p)
    p.add_argument("--gridsize", type=int, choices=(1, 2), default=2)
    p.add_argument("--steps", type=int, default=500, help="optimiser steps of every rung (default 500)")
    p.add_argument("--seeds", type=int, nargs="+", default=[42], help="training seeds per rung (default 42)")
    p.add_argument("--direction", choices=("grid-to-nongrid", "nongrid-to-grid"), default="grid-to-nongrid")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    p.add_argument(
        "--workers", type=_positive, default=2, help="LocalCluster workers when no scheduler is given"
    )
    p.add_argument("--reports-dir", default=None)

    p = sub.add_parser(
        "study",
        help="a designed experiment: two-level (fractional) factorial over recorded settings, >= 3 seeds, "
        "effects with intervals and a verdict",
    )
    _debug_flag(p)
    p.add_argument("--scenario", required=True)
    p.add_argument(
        "--factor",
        action="append",
        default=[],
        metavar="NAME=KNOB:LOW,HIGH[+KNOB:LOW,HIGH]",
        help="a two-level factor (one or more knobs moved together)",
    )
    p.add_argument(
        "--generator", action="append", default=[], metavar="FACTOR=WORD", help="e.g. D=ABC (a fraction)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        dest="fixed",
        metavar="KNOB=VALUE",
        help="a setting held the same in every run, e.g. --set object_set=separate --set nphotons=1e4",
    )
    p.add_argument(
        "--seeds", type=int, nargs="+", default=[1, 2, 3], help="object+scan+init seeds (default 1 2 3)"
    )
    p.add_argument("--steps", type=_positive, default=500, help="optimiser steps of every run (default 500)")
    p.add_argument(
        "--dry-run", action="store_true", help="print the plan and its estimated cost, run nothing"
    )
    p.add_argument(
        "--scheduler", default=None, help="address of an existing Dask scheduler (tcp://host:8786)"
    )
    p.add_argument(
        "--workers", type=_positive, default=2, help="LocalCluster workers when no scheduler is given"
    )
    p.add_argument("--reports-dir", default=None)

    p = sub.add_parser("sweep", help="cartesian sweep of scenarios x knob values on a Dask cluster")
    _debug_flag(p)
    p.add_argument("--scenario", nargs="+", required=True)
    p.add_argument("--set", action="append", default=[], metavar="KNOB=V1,V2", help="knob values to sweep")
    p.add_argument(
        "--scheduler", default=None, help="address of an existing Dask scheduler (tcp://host:8786)"
    )
    p.add_argument(
        "--workers", type=_positive, default=2, help="LocalCluster workers when no scheduler is given"
    )
    p.add_argument("--reports-dir", default=None)
    return parser


def _knob_values(args: argparse.Namespace) -> dict[str, Any]:
    return {k.name: getattr(args, k.name) for k in KNOBS}


def _run(args: argparse.Namespace) -> int:
    from . import runs

    if args.command == "rerun":
        hub, rc = runs.rerun(reports_dir=args.reports_dir, profile=args.profile)
        print(f"hub: {hub}\nsummary: {hub / 'summary.md'}")
        return rc
    if args.command == "run":
        hub, rc = runs.run_scenarios(
            [args.scenario],
            reports_dir=args.reports_dir,
            settings=_knob_values(args),
            guard_test=False,
            profile=args.profile,
        )
        print(f"hub: {hub}\nsummary: {hub / 'summary.md'}")
        return rc
    if args.command == "reassembly-report":
        from .plan.telemetry import reassembly_report, telemetry_markdown

        tel = reassembly_report(args.scenario, _knob_values(args), profile=args.profile)
        artifacts.write_json(args.output_json, tel)
        artifacts.write_text(args.output_markdown, telemetry_markdown(tel))
        print(json.dumps({k: tel[k] for k in ("scenario", "stitch_canvas", "coverage")}))
        return 0
    if args.command == "ladder":
        from . import ladder

        hub, rc = ladder.run_ladder(
            args.gridsize,
            steps=args.steps,
            seeds=args.seeds,
            direction=args.direction,
            scheduler=args.scheduler,
            workers=args.workers,
            reports_dir=args.reports_dir,
        )
        print(f"hub: {hub}\nladder: {hub / 'ladder.md'}")
        return rc
    if args.command == "study":
        from . import design_study

        hub, rc = design_study.run_study(
            args.scenario,
            args.factor,
            seeds=args.seeds,
            steps=args.steps,
            generators=args.generator,
            fixed=args.fixed,
            scheduler=args.scheduler,
            workers=args.workers,
            reports_dir=args.reports_dir,
            dry_run=args.dry_run,
        )
        if hub is not None:
            print(f"hub: {hub}\neffects: {hub / 'effects.md'}")
        return rc
    if args.command == "sweep":
        from . import sweep

        hub, rc = sweep.run_sweep(
            args.scenario,
            args.set,
            scheduler=args.scheduler,
            workers=args.workers,
            reports_dir=args.reports_dir,
        )
        print(f"hub: {hub}\nsummary: {hub / 'summary.md'}")
        return rc
    raise AssertionError(args.command)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .runtime import configure_logging

    configure_logging(stream=sys.stderr)
    got: list[int] = []

    def terminate(signum: int, _frame: Any) -> None:  # SIGTERM takes the Ctrl-C path, named
        got.append(signum)
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, terminate)
    # a shell starts background jobs with SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler: Ctrl-C (or `kill -INT`) must always take the Ctrl-C path
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _run(args)
    except KeyboardInterrupt as exc:
        hub = getattr(exc, "hub", None)
        if hub is not None:  # what finished is there, with its summary
            print(f"hub: {hub}\nsummary: {Path(hub) / 'summary.md'}", file=sys.stderr)
        print("interrupted" + (" (SIGTERM)" if got else " (SIGINT)"), file=sys.stderr)
        return 128 + signal.SIGTERM if got else 130
    except USER_ERRORS as exc:
        if args.debug:
            raise
        if isinstance(exc, OSError) and exc.strerror:  # not the raw "[Errno 17] ..."
            print(
                f"error: {exc.strerror}: {exc.filename}" if exc.filename else f"error: {exc.strerror}",
                file=sys.stderr,
            )
        else:
            print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # read-only or full file system, a folder where a file should be...
        if args.debug:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["main", "build_parser"]
