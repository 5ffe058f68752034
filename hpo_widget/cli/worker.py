"""``hpo-widget worker``: join a running study as a worker process (a Kubernetes Job pod)."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .. import run_record
from ..config import RunConfig
from ..run_record import RunRecord
from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NO_RUN,
    EXIT_OK,
    PROG,
    CliError,
    _err,
    _invalid_spec,
    _out,
)


def _active_run(storage: Any, study_name: str) -> RunRecord | None:
    """The study's run that workers may join, or None (no such study, or no active run)."""
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        return None
    record = run_record.read(storage, study_id)
    return record if record is not None and record.active else None


def _worker_objective(args: argparse.Namespace) -> tuple[Any, Any, RunConfig]:
    """(trial objective, space, run config: study, storage, sampler, pruner, heartbeat grace)."""
    from ..objectives import as_trial_objective, load_callable
    from ..space import SearchSpace, SearchSpaceError
    from ..spec import RunSpec, SpecError

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
        config = spec.config
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
            config = RunConfig.from_options(
                study_name=args.study,
                storage=args.storage,
                sampler=args.sampler or "tpe",
                pruner=args.pruner,
                seed=args.seed,
                heartbeat_grace=15.0,  # beats every 5 s: within the driver's default 30 s
            ).checked()
        except ValueError as exc:
            raise CliError(f"{PROG}: worker: {exc}") from None
    try:
        trial_objective = as_trial_objective(objective, space)
    except (ValueError, TypeError) as exc:
        raise CliError(f"{PROG}: worker: {exc}") from None
    return trial_objective, space, config


def _budget_left(storage: Any, study_name: str, run: RunRecord) -> tuple[bool, int, int]:
    """(run still active, counted trials, trials RUNNING or WAITING)."""
    from .._tickets import budget

    current = _active_run(storage, study_name)
    if current is None or current.id != run.id:
        return False, 0, 0
    study_id = storage.get_study_id_from_name(study_name)
    counted, pending = budget(storage.get_all_trials(study_id, deepcopy=False))
    return True, counted, pending


def _slot_loop(
    task: Any, slot: int, storage: Any, run: RunRecord, idle_limit: float
) -> tuple[int, str | None]:
    """Run trials in one slot until the run's budget is spent, it stops, or nothing turns up for
    ``idle_limit`` seconds (trials of other workers may still be re-queued if those die)."""
    from .._worker import run_worker

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
        target = run.n_trials
        if not active or (target is not None and counted >= target and not pending):
            return done, None
        if time.monotonic() - idle_since >= idle_limit:
            return done, None
        time.sleep(0.5)


def _cmd_worker(args: argparse.Namespace) -> int:
    from .._run_loop import heartbeat_interval
    from .._worker import WorkerTask
    from ..samplers import SamplerSpec, pruner_spec_for
    from ..storage import describe_storage, open_storage, resolve_storage

    objective, space, config = _worker_objective(args)
    study_name = config.study_name
    assert study_name is not None  # required with --objective; a spec defaults it
    try:
        ref = resolve_storage(config.storage)  # type: ignore[arg-type]  # never an object here
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

    n_objectives = len(storage.get_study_directions(storage.get_study_id_from_name(study_name)))
    interval = heartbeat_interval(config.heartbeat_grace)
    if run.heartbeat_interval is not None:
        interval = min(interval, run.heartbeat_interval)  # what the driver's grace needs
    task = WorkerTask(
        objective=objective,
        study_name=study_name,
        storage=ref,
        run_id=run.id,
        sampler=SamplerSpec(config.sampler, dict(config.sampler_options), config.seed),
        pruner=pruner_spec_for(
            config.pruner, dict(config.pruner_options), n_objectives=n_objectives
        ),
        space=space,
        use_tickets=run.n_trials is not None,
        heartbeat_interval=interval,
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
    _out(f"worker: ran {ran} trial(s) in study {study_name} (run {run.id})")
    if errors:
        _err(f"worker: a worker slot failed:\n{errors[0]}")
        return EXIT_FAILED
    return EXIT_OK
