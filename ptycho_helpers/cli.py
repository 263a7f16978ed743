"""Command line: ``python -m ptycho_helpers {rerun,run,reassembly-report,sweep} ...``.

Bad input ends with exit code 2 and one line naming the bad value (a traceback only with
``--debug``); a run whose scenario failed exits 1; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from . import artifacts
from .config import AMP_ACTIVATIONS, INPUT_TRANSFORMS, PROBE_MODES
from .scenarios import KNOB_TYPES, NAMED_PROFILES, SCENARIOS, flag_name

logger = logging.getLogger("ptycho_helpers.cli")

USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, PermissionError, NotADirectoryError)


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _add_knobs(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("override knobs (default: the scenario's stable profile / RunParams)")
    for knob, typ in KNOB_TYPES.items():
        kw = {"choices": PROBE_MODES} if knob == "probe_mode" else {}
        parse = _bool if typ is bool else typ
        g.add_argument(flag_name(knob), dest=knob, type=parse, default=None, metavar=knob.upper(), **kw)


def _add_settings(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run settings")
    g.add_argument("--nepochs", type=int, default=None, help="training epochs (default 5)")
    g.add_argument("--group-limit", type=int, default=None, help="test groups stitched (default 64)")
    g.add_argument("--seed", type=int, default=None, help="training seed (default 42)")
    g.add_argument(
        "--amp-activation", choices=AMP_ACTIVATIONS, default=None, help="amplitude head (default softplus)"
    )
    g.add_argument("--custom-probe-path", default=None, help=".npz with probeGuess for probe_mode=custom")
    g.add_argument("--register", type=_bool, default=None, help="sub-pixel registration before metrics")
    g.add_argument(
        "--data",
        dest="data_path",
        default=None,
        help="train/reconstruct a PtychoPINN-style .npz instead of simulating",
    )
    g.add_argument(
        "--input-transform", choices=INPUT_TRANSFORMS, default=None, help="network input (default linear)"
    )
    g.add_argument(
        "--dense-bottleneck", type=int, default=None, help="width of a dense bottleneck (default 0: none)"
    )
    g.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="Adam learning rate (default 5e-4; the reference used 1e-3)",
    )
    g.add_argument(
        "--refine-steps",
        type=int,
        default=None,
        help="physics refinement steps on the test diffraction after the PINN (default 100; 0: PINN only)",
    )
    g.add_argument("--refine-lr", type=float, default=None, help="refinement Adam step (default 0.05)")
    g.add_argument(
        "--object-amp-norm", type=_bool, default=None, help="scale the object to max amplitude 1 (bias study)"
    )
    p.add_argument("--reports-dir", default=None, help="where hubs are created (default: <repo>/reports)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ptycho_helpers", description="ptycho-workbook command line"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{rerun,run,reassembly-report,sweep}")

    p = sub.add_parser(
        "rerun", help="rerun gs1_ideal and gs2_ideal with their stable profiles into a new hub"
    )
    p.add_argument("--reports-dir", default=None, help="where hubs are created (default: <repo>/reports)")
    p.add_argument(
        "--profile",
        choices=list(NAMED_PROFILES),
        default=None,
        help="a named profile instead of the stable profiles (full: ~10-20 min per scenario)",
    )

    p = sub.add_parser("run", help="run one scenario into a new hub, optionally overriding knobs")
    p.add_argument("scenario", help=f"one of {', '.join(SCENARIOS)}")
    p.add_argument(
        "--profile", choices=list(NAMED_PROFILES), default=None, help="a named profile (e.g. full)"
    )
    _add_knobs(p)
    _add_settings(p)

    p = sub.add_parser("reassembly-report", help="reassembly telemetry of a scenario's stitched test groups")
    p.add_argument("scenario")
    p.add_argument("--output-json", required=True)
    p.add_argument("--output-markdown", required=True)
    p.add_argument("--group-limit", type=int, default=64)

    p = sub.add_parser("sweep", help="cartesian sweep of scenarios x knob values on a Dask cluster")
    p.add_argument("--scenario", nargs="+", required=True)
    p.add_argument("--set", action="append", default=[], metavar="KNOB=V1,V2", help="knob values to sweep")
    p.add_argument(
        "--scheduler", default=None, help="address of an existing Dask scheduler (tcp://host:8786)"
    )
    p.add_argument("--workers", type=int, default=2, help="LocalCluster workers when no scheduler is given")
    p.add_argument("--reports-dir", default=None)
    return parser


def _run(args: argparse.Namespace) -> int:
    from . import runs

    if args.command == "rerun":
        hub, rc = runs.rerun(reports_dir=args.reports_dir, profile=args.profile)
        print(f"hub: {hub}\nsummary: {hub / 'summary.md'}")
        return rc
    if args.command == "run":
        overrides = {k: getattr(args, k) for k in KNOB_TYPES}
        settings = {k: getattr(args, k) for k in runs.SETTING_NAMES}
        hub, rc = runs.run_scenarios(
            [args.scenario],
            reports_dir=args.reports_dir,
            overrides=overrides,
            settings=settings,
            guard_test=False,
            profile=args.profile,
        )
        print(f"hub: {hub}\nsummary: {hub / 'summary.md'}")
        return rc
    if args.command == "reassembly-report":
        tel = runs.reassembly_report(args.scenario, group_limit=args.group_limit)
        artifacts.write_json(args.output_json, tel)
        artifacts.write_text(args.output_markdown, runs.telemetry_markdown(tel))
        print(json.dumps({k: tel[k] for k in ("scenario", "stitch_canvas", "coverage")}))
        return 0
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
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["main", "build_parser"]
