"""The ``hpo-widget`` command line: run a spec headless, list studies, write reports, join runs.

::

    hpo-widget run SPEC.yaml [--n-trials N] [--timeout S] [--storage URL] [--backend NAME]
                             [--workers N] [--study NAME] [--quiet] [-v]
    hpo-widget studies [--storage URL] [--json]
    hpo-widget report STUDY [--storage URL] [-o report.html]
    hpo-widget worker --study NAME [--storage URL]
                      (--objective module:function [--space SPACE.yaml] | --spec SPEC.yaml)
                      [--threads K] [--wait S]

Exit codes: 0 success, 1 the run (or storage) failed, 2 bad spec or arguments, 3 ``worker`` found
no active run to join, 130 interrupted with Ctrl-C.  Everything printed goes through
:func:`~hpo_widget.storage.mask_password`, so storage passwords never reach a terminal or a log.

:func:`main` returns the exit code instead of exiting, so tests and other programs can call it
in-process: ``main(["run", "spec.yaml", "--n-trials", "5"])``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

from ._version import __version__
from .storage import mask_password

__all__ = ["main"]

PROG = "hpo-widget"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_RUN, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class CliError(Exception):
    """Ends a command with ``message`` on stderr and exit code ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _err(message: str) -> None:
    print(mask_password(message), file=sys.stderr, flush=True)


def _out(message: str = "") -> None:
    print(mask_password(message), file=sys.stdout, flush=True)


def _invalid_spec(path: str, problems: Sequence[str]) -> CliError:
    lines = [f"{PROG}: invalid spec {path}:"] + [f"  {p}" for p in problems]
    return CliError("\n".join(lines), EXIT_USAGE)


# -- formatting ------------------------------------------------------------------------------
def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    whole = max(0, round(seconds))
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _best_text(study: Any) -> str | None:
    """ "0.973 (trial 12)" or "pareto front: 3 trials"; None before the first complete trial."""
    try:
        if len(study.directions) > 1:
            front = study.best_trials
            return f"pareto front: {len(front)} trials" if front else None
        best = study.best_trial
        return f"{_num(best.value)} (trial {best.number})"
    except ValueError:
        return None


class _ProgressBar:
    """One progress line on stderr: redrawn with ``\\r`` on a terminal, otherwise one line per
    ~10 % of the target (or of the timeout, or every 30 s without either) so logs stay short."""

    def __init__(
        self,
        runner: Any,
        *,
        stream: IO[str],
        tty: bool,
        enabled: bool,
        timeout: float | None,
    ) -> None:
        self.runner = runner
        self.stream = stream
        self.tty = tty
        self.enabled = enabled
        self.timeout = timeout
        self.finished_before = runner.progress.finished
        self.started = time.time()
        self._lock = threading.Lock()
        self._last_draw = 0.0
        self._last_bucket = -1
        self._last_len = 0
        self._last_key: tuple[int, ...] = ()
        self._done = False

    def on_event(self, event: Any) -> None:
        self.update()

    def tick(self) -> None:
        self.update(tick=True)

    def line(self) -> str:
        p = self.runner.progress
        elapsed = time.time() - self.started
        new = p.finished - self.finished_before
        counts = f"complete {p.complete}  pruned {p.pruned}  failed {p.failed}"
        best = _best_text(self.runner.study)
        tail = f"  best {best}" if best else ""
        if p.target is not None:
            left = max(p.target - p.finished, 0)
            eta = 0.0 if left == 0 else (elapsed / new * left if new > 0 else None)
            width = 20
            filled = min(width, int(width * p.finished / p.target)) if p.target else width
            bar = "#" * filled + "." * (width - filled)
            return (
                f"[{bar}] {p.finished}/{p.target}  {counts}{tail}  "
                f"elapsed {_duration(elapsed)}  ETA {_duration(eta)}"
            )
        limit = f" of {_duration(self.timeout)}" if self.timeout else ""
        return f"{p.finished} trials  {counts}{tail}  elapsed {_duration(elapsed)}{limit}"

    def update(self, *, tick: bool = False, final: bool = False) -> None:
        if not self.enabled or self._done:
            return
        with self._lock:
            if self._done:
                return
            now = time.time()
            if self.tty:
                if not final and now - self._last_draw < (0.5 if tick else 0.1):
                    return
                text = self.line()
                pad = " " * max(0, self._last_len - len(text))
                self.stream.write("\r" + text + pad + ("\n" if final else ""))
                self._last_len = len(text)
            else:
                p = self.runner.progress
                if p.target:
                    bucket = min(10, 10 * p.finished // p.target)
                    due = bucket > self._last_bucket
                    if due:
                        self._last_bucket = bucket
                else:
                    every = self.timeout / 10 if self.timeout else 30.0
                    due = now - self._last_draw >= every
                if not (due or final):
                    return
                key = (p.finished, p.complete, p.pruned, p.failed)
                if key != self._last_key:  # the final line would often repeat the 100 % one
                    self._last_key = key
                    self.stream.write(self.line() + "\n")
            self._last_draw = now
            if final:
                self._done = True
            self.stream.flush()

    def finish(self) -> None:
        self.update(final=True)


# -- run -------------------------------------------------------------------------------------
def _release_run(runner: Any) -> None:
    """Mark the finished run stopped in storage so ``hpo-widget worker`` processes leave.

    The runner only does this when it launched workers itself; with ``--workers 0`` (or when the
    target was already reached) the flag would stay "running" and external workers of a
    timeout-only run would never stop.
    """
    from . import _attrs

    try:
        study = runner.study
        storage = study._storage
        run = storage.get_study_system_attrs(study._study_id).get(_attrs.RUN)
        if isinstance(run, dict) and not run.get("stop"):
            storage.set_study_system_attr(study._study_id, _attrs.RUN, {**run, "stop": True})
    except Exception as exc:  # best effort: the run itself is over either way
        logging.getLogger(__name__).warning("could not mark the run stopped: %s", exc)


def _summary(runner: Any, finished_before: int, elapsed: float) -> list[str]:
    p = runner.progress
    new = p.finished - finished_before
    target = f"; target {p.target}" if p.target is not None else ""
    rows = [
        ("study", runner.study_name),
        ("storage", runner.storage_description),
        (
            "trials",
            f"{p.complete} complete, {p.pruned} pruned, {p.failed} failed "
            f"({new} new in this run{target})",
        ),
    ]
    study = runner.study
    best = _best_text(study)
    rows.append(("best", best or "no completed trial yet"))
    if best and len(study.directions) == 1:
        params = ", ".join(f"{k}={v!r}" for k, v in study.best_trial.params.items())
        rows.append(("params", params or "(none)"))
    rows.append(("elapsed", f"{elapsed:.1f} s"))
    return [f"{k:<8} {v}" for k, v in rows]


def _cmd_run(args: argparse.Namespace) -> int:
    from .runner import RunError
    from .spec import RunSpec, SpecError

    try:
        spec = RunSpec.from_file(args.spec).with_overrides(
            study=args.study,
            storage=args.storage,
            backend=args.backend,
            n_workers=args.workers,
            n_trials=args.n_trials,
            timeout=args.timeout,
        )
        runner = spec.build_runner()
    except SpecError as exc:
        raise _invalid_spec(args.spec, exc.problems) from None
    except RuntimeError as exc:  # the storage could not be opened
        raise CliError(f"{PROG}: {exc}", EXIT_FAILED) from None
    except Exception as exc:  # e.g. the objective's module raised while being imported
        raise _invalid_spec(args.spec, [f"{type(exc).__name__}: {exc}"]) from None

    if spec.n_trials is None and spec.timeout is None:
        _err(f"{PROG}: no n_trials or timeout: running until Ctrl-C")
    bar = _ProgressBar(
        runner,
        stream=sys.stderr,
        tty=sys.stderr.isatty(),
        enabled=not args.quiet,
        timeout=spec.timeout,
    )
    unsubscribe = runner.subscribe(bar.on_event)
    started = time.time()
    try:
        runner.start(n_trials=spec.n_trials, timeout=spec.timeout)
        while True:
            try:
                runner.wait(timeout=0.25)
                break
            except TimeoutError:
                bar.tick()
    except KeyboardInterrupt:
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C: leave at once
            runner.stop()
        bar.finish()
        _release_run(runner)
        _err("stopped; resume with the same command")
        return EXIT_INTERRUPTED
    except RunError as exc:
        bar.finish()
        _release_run(runner)
        raise CliError(f"{PROG}: run failed: {exc}", EXIT_FAILED) from None
    finally:
        unsubscribe()
        runner.close()
    bar.finish()
    _release_run(runner)
    for line in _summary(runner, bar.finished_before, time.time() - started):
        _out(line)
    return EXIT_OK


# -- storage helpers -------------------------------------------------------------------------
def _open(url: str | None) -> tuple[Any, Any | None, str]:
    """(ref, storage or None when an embedded/journal file does not exist yet, description)."""
    from .storage import describe_storage, open_storage, resolve_storage

    try:
        ref = resolve_storage(url)
    except ValueError as exc:
        raise CliError(f"{PROG}: {exc}", EXIT_USAGE) from None
    description = describe_storage(ref)
    if ref.kind == "journal" and not os.path.exists(ref.location):
        return ref, None, description  # do not create an empty file just to list nothing
    try:
        return ref, open_storage(ref), description
    except RuntimeError as exc:
        raise CliError(f"{PROG}: {exc}", EXIT_FAILED) from None


def _study_rows(storage: Any) -> list[dict[str, Any]]:
    import optuna
    from optuna.trial import TrialState

    rows = []
    for frozen in storage.get_all_studies():
        name = frozen.study_name
        study = optuna.load_study(
            study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler()
        )
        trials = study.get_trials(deepcopy=False)
        count = {s: sum(1 for t in trials if t.state == s) for s in TrialState}
        row: dict[str, Any] = {
            "name": name,
            "directions": [d.name.lower() for d in study.directions],
            "complete": count[TrialState.COMPLETE],
            "pruned": count[TrialState.PRUNED],
            "fail": count[TrialState.FAIL],
            "running": count[TrialState.RUNNING],
            "waiting": count[TrialState.WAITING],
            "n_trials": len(trials),
            "best_value": None,
            "best_trial": None,
            "pareto_front": None,
        }
        try:
            if len(study.directions) == 1:
                row["best_value"] = study.best_value
                row["best_trial"] = study.best_trial.number
            else:
                row["pareto_front"] = len(study.best_trials)
        except ValueError:
            pass
        rows.append(row)
    return rows


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, *rows]:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _cmd_studies(args: argparse.Namespace) -> int:
    _, storage, description = _open(args.storage)
    rows = [] if storage is None else _study_rows(storage)
    if args.json:
        _out(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        _out(f"no studies in {description}")
        return EXIT_OK
    header = ["NAME", "DIRECTIONS", "COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING", "BEST"]
    body = []
    for r in rows:
        if r["best_value"] is not None:
            best = f"{_num(r['best_value'])} (#{r['best_trial']})"
        elif r["pareto_front"]:
            best = f"pareto {r['pareto_front']}"
        else:
            best = "-"
        body.append(
            [r["name"], ",".join(r["directions"])]
            + [str(r[k]) for k in ("complete", "pruned", "fail", "running", "waiting")]
            + [best]
        )
    for line in _table(header, body, right={2, 3, 4, 5, 6}):
        _out(line)
    return EXIT_OK


# -- report ----------------------------------------------------------------------------------
def _cmd_report(args: argparse.Namespace) -> int:
    import optuna

    _, storage, description = _open(args.storage)
    names = [] if storage is None else [s.study_name for s in storage.get_all_studies()]
    if storage is None or args.study not in names:
        available = ", ".join(names) or "none"
        raise CliError(
            f"report: no study named {args.study} in {description}; available: {available}",
            EXIT_USAGE,
        )
    study = optuna.load_study(
        study_name=args.study, storage=storage, sampler=optuna.samplers.RandomSampler()
    )
    output = args.output or re.sub(r"[^\w.-]+", "_", args.study) + ".html"
    try:
        from .plots.report import write_report

        path = write_report(study, output)
    except Exception as exc:
        raise CliError(
            f"report: could not write {output}: {type(exc).__name__}: {exc}", EXIT_FAILED
        ) from None
    _out(f"wrote {path}")
    return EXIT_OK


# -- worker ----------------------------------------------------------------------------------
def _active_run(storage: Any, study_name: str) -> dict[str, Any] | None:
    from . import _attrs

    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        return None
    run = storage.get_study_system_attrs(study_id).get(_attrs.RUN)
    if isinstance(run, dict) and run.get("id") and not run.get("stop"):
        return run
    return None


def _worker_objective(
    args: argparse.Namespace,
) -> tuple[Any, Any, str, str | None, Any, Any, float]:
    """(trial objective, space, study name, storage URL, sampler spec, pruner spec, heartbeat
    interval in seconds)."""
    from .objectives import as_trial_objective, load_callable
    from .samplers import PrunerSpec, SamplerSpec
    from .space import SearchSpace, SearchSpaceError
    from .spec import RunSpec, SpecError

    space: Any = None
    if args.spec:
        if args.space:
            raise CliError(f"{PROG}: worker: --space goes with --objective; put it in the spec")
        try:
            spec = RunSpec.from_file(args.spec).with_overrides(
                study=args.study,
                storage=args.storage,
                sampler=args.sampler,
                pruner=args.pruner,
                seed=args.seed,
            )
            objective, space = spec.build_objective()
        except SpecError as exc:
            raise _invalid_spec(args.spec, exc.problems) from None
        assert spec.study is not None  # from_file defaults it to the file's stem
        study_name, storage_url = spec.study, spec.storage
        sampler = SamplerSpec(spec.sampler, dict(spec.sampler_options), spec.seed)
        pruner = PrunerSpec(spec.pruner, dict(spec.pruner_options))
        # Beat well within the driver's grace, as the runner's own workers do.
        heartbeat = max(0.5, min(10.0, spec.heartbeat_grace / 3))
    else:
        if not args.study:
            raise CliError(f"{PROG}: worker: --study is required with --objective")
        if args.space:
            try:
                space = SearchSpace.from_yaml(Path(args.space).read_text(encoding="utf-8"))
            except OSError as exc:
                raise CliError(f"{PROG}: worker: cannot read {args.space}: {exc}") from None
            except SearchSpaceError as exc:
                lines = [f"{PROG}: invalid space {args.space}:"]
                lines += [f"  {p}" for p in str(exc).splitlines()]
                raise CliError("\n".join(lines)) from None
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # like `python -m`: modules in the cwd import
        try:
            objective = load_callable(args.objective, field="objective")
            sampler = SamplerSpec(args.sampler or "tpe", {}, args.seed)
            pruner = PrunerSpec(args.pruner or "none", {})
        except ValueError as exc:
            raise CliError(f"{PROG}: worker: {exc}") from None
        study_name, storage_url = args.study, args.storage
        heartbeat = 5.0  # the driver's default grace is 30 s
    try:
        trial_objective = as_trial_objective(objective, space)
    except (ValueError, TypeError) as exc:
        raise CliError(f"{PROG}: worker: {exc}") from None
    return trial_objective, space, study_name, storage_url, sampler, pruner, heartbeat


def _budget_left(storage: Any, study_name: str, run: dict[str, Any]) -> tuple[bool, int, int]:
    """(run still active, counted trials, trials RUNNING or WAITING)."""
    from optuna.trial import TrialState

    from .runner import counts_towards_budget

    current = _active_run(storage, study_name)
    if current is None or current.get("id") != run.get("id"):
        return False, 0, 0
    study_id = storage.get_study_id_from_name(study_name)
    trials = storage.get_all_trials(study_id, deepcopy=False)
    counted = sum(1 for t in trials if counts_towards_budget(t))
    pending = sum(1 for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING))
    return True, counted, pending


def _slot_loop(
    task: Any, slot: int, storage: Any, run: dict[str, Any], idle_limit: float
) -> tuple[int, str | None]:
    """Run trials in one slot until the run's budget is spent, it stops, or nothing turns up for
    ``idle_limit`` seconds (trials of other workers may still be re-queued if those die)."""
    from ._worker import run_worker

    done, idle_since = 0, time.monotonic()
    while True:
        result = run_worker(task, slot)
        done += result.n_trials
        if result.error:
            return done, result.error
        if result.n_trials:
            idle_since = time.monotonic()
        if not task.use_tickets:
            return done, None  # ask mode returns only on stop or error
        active, counted, pending = _budget_left(storage, task.study_name, run)
        target = run.get("n_trials")
        if not active or (target is not None and counted >= target and not pending):
            return done, None
        if time.monotonic() - idle_since >= idle_limit:
            return done, None
        time.sleep(0.5)


def _cmd_worker(args: argparse.Namespace) -> int:
    from ._worker import WorkerTask
    from .storage import describe_storage, open_storage, resolve_storage

    objective, space, study_name, storage_url, sampler, pruner, heartbeat = _worker_objective(args)
    try:
        ref = resolve_storage(storage_url)
    except ValueError as exc:
        raise CliError(f"{PROG}: worker: {exc}") from None
    if ref.kind == "memory":
        raise CliError(
            f"{PROG}: worker: in-memory storage cannot be shared with a driver; use a journal "
            "file, a database URL or grpc://host:port"
        )
    try:
        storage = open_storage(ref)
    except RuntimeError as exc:
        raise CliError(f"{PROG}: worker: {exc}", EXIT_FAILED) from None
    description = describe_storage(ref)

    deadline = time.monotonic() + args.wait
    run = _active_run(storage, study_name)
    if run is None and args.wait > 0:
        _err(f"worker: waiting up to {args.wait:g} s for a run of study {study_name!r} ...")
    try:
        while run is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CliError(
                    f"worker: no active run of study {study_name!r} in {description} after "
                    f"{args.wait:g} s; start a driver first (e.g. `{PROG} run SPEC --workers 0`)",
                    EXIT_NO_RUN,
                )
            time.sleep(min(0.5, left))
            run = _active_run(storage, study_name)
    except KeyboardInterrupt:
        _err("worker: interrupted")
        return EXIT_INTERRUPTED

    task = WorkerTask(
        objective=objective,
        study_name=study_name,
        storage=ref,
        run_id=run["id"],
        sampler=sampler,
        pruner=pruner,
        space=space,
        use_tickets=run.get("n_trials") is not None,
        heartbeat_interval=heartbeat,
    )
    index = args.index
    if index is None:
        index = int(os.environ.get("JOB_COMPLETION_INDEX", "0") or 0)
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def body(slot: int) -> None:
        try:
            out = _slot_loop(task, slot, storage, run, idle_limit=max(args.wait, 1.0))
        except Exception as exc:  # _slot_loop's own storage reads failed
            out = (0, f"{type(exc).__name__}: {exc}")
        with lock:
            results.append(out)

    threads = [
        threading.Thread(target=body, args=(index * args.threads + i,), daemon=True)
        for i in range(args.threads)
    ]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.25)
    except KeyboardInterrupt:
        ran = sum(n for n, _ in results)
        _err(
            f"worker: interrupted after {ran} finished trial(s); the driver re-queues the trials "
            "that were running once their heartbeat stops"
        )
        return EXIT_INTERRUPTED
    ran = sum(n for n, _ in results)
    errors = [e for _, e in results if e and e != "interrupted"]
    _out(f"worker: ran {ran} trial(s) in study {study_name} (run {run['id']})")
    if errors:
        _err(f"worker: a worker slot failed:\n{errors[0]}")
        return EXIT_FAILED
    return EXIT_OK


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
    worker.add_argument("--pruner", help="pruner name (default: the spec's, or none)")
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
