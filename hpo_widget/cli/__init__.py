"""The ``hpo-widget`` command line: run a spec headless, list studies, write reports, join runs.

::

    hpo-widget run SPEC.yaml [--n-trials N] [--timeout S] [--storage URL] [--backend NAME]
                             [--workers N] [--study NAME] [--quiet] [-v]
    hpo-widget studies [--storage URL] [--json]
    hpo-widget report STUDY [--storage URL] [-o report.html]
    hpo-widget stop STUDY [--storage URL] [--wait S]
    hpo-widget schema [-o spec.schema.json]
    hpo-widget worker --study NAME [--storage URL]
                      (--objective module:function [--space SPACE.yaml] | --spec SPEC.yaml)
                      [--threads K] [--wait S]
    hpo-widget spark-conf [--master k8s] [--conf KEY=VALUE ...] [--image IMAGE] [--executors N]

Exit codes: 0 success, 1 the run (or storage) failed, 2 bad spec or arguments, 3 ``worker`` found
no active run to join, 130 interrupted with Ctrl-C.  Everything printed goes through
:func:`~hpo_widget.storage.mask_password`, so storage passwords never reach a terminal or a log.

:func:`main` returns the exit code instead of exiting, so tests and other programs can call it
in-process: ``main(["run", "spec.yaml", "--n-trials", "5"])``.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from collections.abc import Callable
from typing import NoReturn

from .._version import __version__
from ..storage import mask_password
from . import spark_conf
from ._common import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, PROG, CliError, _err
from .run import _cmd_run, _ProgressBar
from .studies import _cmd_report, _cmd_schema, _cmd_stop, _cmd_studies
from .worker import _cmd_worker

__all__ = ["_ProgressBar", "build_parser", "main"]


# -- parser ----------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {mask_password(message)}\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return value


_STORAGE_HELP = (
    "storage URL: a .journal path, journal:///abs/path, sqlite:///file.db, "
    "postgresql://user:password@host/db or grpc://host:port (default: ./hpo_studies.journal "
    "or $HPO_WIDGET_STORAGE; relative paths are relative to the current directory); a "
    "grpc:// proxy of a driver wants the driver's token in $HPO_WIDGET_PROXY_TOKEN"
)


def build_parser() -> argparse.ArgumentParser:
    verbose = _Parser(add_help=False)
    verbose.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="show INFO logs, Optuna's included (default: warnings only)",
    )
    parser = _Parser(
        prog=PROG,
        description="Tune hyperparameters with Optuna: run YAML specs headless, list studies, "
        "write reports, and join runs as a worker.",
    )
    # Its own -v (parents share action objects, and this default must not reach subcommands,
    # where it would reset a -v given before the subcommand).
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show INFO logs, Optuna's included (default: warnings only)",
    )
    parser.set_defaults(handler=None)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser(
        "run",
        parents=[verbose],
        help="run a YAML spec headless with a progress bar",
        description="Run a spec until the study has n_trials finished trials in total (running "
        "it again resumes to that total), the timeout passes, or Ctrl-C (exit 130; resume with "
        "the same command).",
    )
    run.add_argument("spec", metavar="SPEC.yaml", help="the run spec (see hpo_widget.spec)")
    run.add_argument(
        "--n-trials", type=_positive_int, help="total finished trials the study should reach"
    )
    run.add_argument("--timeout", type=_positive_float, help="seconds for this run")
    run.add_argument("--storage", help=_STORAGE_HELP)
    run.add_argument("--backend", help="threading, loky, spark or dask")
    run.add_argument(
        "--workers",
        type=_non_negative_int,
        help="parallel workers; 0 = only external `hpo-widget worker` processes run trials",
    )
    run.add_argument("--study", help="study name (default: the spec's, or its file name)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=_cmd_run)

    studies = sub.add_parser(
        "studies",
        parents=[verbose],
        help="list the studies in a storage",
        description="List studies with their directions, trials by state and best value.",
    )
    studies.add_argument("--storage", help=_STORAGE_HELP)
    studies.add_argument("--json", action="store_true", help="machine-readable JSON output")
    studies.set_defaults(handler=_cmd_studies)

    report = sub.add_parser(
        "report",
        parents=[verbose],
        help="write a standalone HTML report of a study",
        description="Write one offline HTML file with the study's summary and figures.",
    )
    report.add_argument("study", metavar="STUDY", help="study name")
    report.add_argument("--storage", help=_STORAGE_HELP)
    report.add_argument("-o", "--output", metavar="FILE", help="output file (default: STUDY.html)")
    report.set_defaults(handler=_cmd_report)

    stop = sub.add_parser(
        "stop",
        parents=[verbose],
        help="stop a running study, wherever its driver runs",
        description="Write a stop into the study's run record in storage. The driver (a "
        "notebook kernel, `hpo-widget run`, on any host) sees it within a poll, fails the "
        "running trials as stopped (they run again on resume) and ends the run. Exit 3 if the "
        "study has no running run.",
    )
    stop.add_argument("study", metavar="STUDY", help="study name")
    stop.add_argument("--storage", help=_STORAGE_HELP)
    stop.add_argument(
        "--wait",
        type=_non_negative_float,
        default=30.0,
        help="seconds to wait until nothing runs (default 30; 0: ask and return)",
    )
    stop.add_argument(
        "--reason",
        default="stopped with `hpo-widget stop`",
        help="why, as the run's reason (shown in the panel and on the stopped trials)",
    )
    stop.set_defaults(handler=_cmd_stop)

    schema = sub.add_parser(
        "schema",
        parents=[verbose],
        help="print the JSON Schema of run specs, for editors that validate YAML",
        description="Print (or write) the JSON Schema of a run spec. With the YAML language "
        "server (VS Code's YAML extension), put `# yaml-language-server: $schema=spec.schema.json`"
        " at the top of a spec to get validation and completion as you type.",
    )
    schema.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    schema.set_defaults(handler=_cmd_schema)

    worker = sub.add_parser(
        "worker",
        parents=[verbose],
        help="join a running study as a worker process (what a Kubernetes Job pod runs)",
        description="Wait for an active run of STUDY (started by a driver such as "
        "`hpo-widget run SPEC --workers 0` or a notebook), run its trials until the budget is "
        "spent or the driver stops, print how many trials it ran and exit. Exit 3 if no run "
        "becomes active within --wait seconds.",
    )
    worker.add_argument("--study", help="study name (default with --spec: the spec's)")
    worker.add_argument("--storage", help=_STORAGE_HELP)
    what = worker.add_mutually_exclusive_group(required=True)
    what.add_argument("--objective", metavar="MODULE:FUNCTION", help="objective to import")
    what.add_argument(
        "--spec", metavar="SPEC.yaml", help="take objective, space, sampler from a spec"
    )
    worker.add_argument("--space", metavar="SPACE.yaml", help="search space (with --objective)")
    worker.add_argument("--sampler", help="sampler name (default: the spec's, or tpe)")
    worker.add_argument(
        "--pruner", help="pruner name (default: the spec's, or median; none for several objectives)"
    )
    worker.add_argument("--seed", type=int, help="sampler seed")
    worker.add_argument(
        "--threads", type=_positive_int, default=1, help="trials to run at once (default 1)"
    )
    worker.add_argument(
        "--wait",
        type=_non_negative_float,
        default=60.0,
        help="seconds to wait for an active run, and to stay idle before leaving (default 60)",
    )
    worker.add_argument(
        "--index",
        type=_non_negative_int,
        help="distinct number of this worker process, so seeded samplers differ between "
        "processes (default: $JOB_COMPLETION_INDEX or 0)",
    )
    worker.set_defaults(handler=_cmd_worker)

    spark_conf.add_parser(sub, [verbose])
    return parser


def _configure_logging(verbosity: int) -> None:
    import optuna

    if verbosity > 0:
        optuna.logging.set_verbosity(optuna.logging.INFO)
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    else:
        optuna.logging.set_verbosity(optuna.logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return its exit code (never raises ``SystemExit``)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else 2)
    handler: Callable[[argparse.Namespace], int] | None = args.handler
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    _configure_logging(args.verbose)
    try:
        return handler(args)
    except CliError as exc:
        _err(str(exc))
        return exc.code
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED
