"""``hpo-widget studies``, ``report``, ``stop`` and ``schema``: looking at and acting on stored
studies."""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

from optuna.trial import TrialState

from ._common import (
    EXIT_FAILED,
    EXIT_NO_RUN,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    _num,
    _open,
    _out,
    _table,
)


def _study_rows(storage: Any) -> list[dict[str, Any]]:
    """One row per study, counted from finished trials, not rows of the study: ``fail`` is the
    objective's failures, ``lost`` the trials the runner failed (a dead worker, Stop), which do
    not count, and ``n_trials`` the trials that count towards a budget.  ``waiting`` are the
    few budget tickets (or enqueued trials) not yet started."""
    import optuna
    from optuna.trial import TrialState

    from .._tickets import counts_towards_budget, is_lost

    rows = []
    for frozen in storage.get_all_studies():
        name = frozen.study_name
        study = optuna.load_study(
            study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler()
        )
        trials = study.get_trials(deepcopy=False)
        count = {s: sum(1 for t in trials if t.state == s) for s in TrialState}
        lost = sum(1 for t in trials if is_lost(t))
        row: dict[str, Any] = {
            "name": name,
            "directions": [d.name.lower() for d in study.directions],
            "complete": count[TrialState.COMPLETE],
            "pruned": count[TrialState.PRUNED],
            "fail": count[TrialState.FAIL] - lost,
            "lost": lost,
            "running": count[TrialState.RUNNING],
            "waiting": count[TrialState.WAITING],
            "n_trials": sum(1 for t in trials if counts_towards_budget(t)),
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


def _cmd_studies(args: argparse.Namespace) -> int:
    _, storage, description = _open(args.storage)
    rows = [] if storage is None else _study_rows(storage)
    if args.json:
        _out(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        _out(f"no studies in {description}")
        return EXIT_OK
    header = [
        "NAME", "DIRECTIONS", "COMPLETE", "PRUNED", "FAIL", "LOST", "RUNNING", "WAITING", "BEST"
    ]  # fmt: skip
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
            + [str(r[k]) for k in ("complete", "pruned", "fail", "lost", "running", "waiting")]
            + [best]
        )
    for line in _table(header, body, right={2, 3, 4, 5, 6, 7}):
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
        from ..plots.report import write_report

        path = write_report(study, output)
    except Exception as exc:
        raise CliError(
            f"report: could not write {output}: {type(exc).__name__}: {exc}", EXIT_FAILED
        ) from None
    _out(f"wrote {path}")
    return EXIT_OK


# -- stop ------------------------------------------------------------------------------------
def _cmd_stop(args: argparse.Namespace) -> int:
    """Write a stop into the study's run record; the driver, wherever it runs, ends the run."""
    from .. import run_record

    _, storage, description = _open(args.storage)
    try:
        if storage is None:
            raise KeyError(args.study)
        study_id = storage.get_study_id_from_name(args.study)
    except KeyError:
        raise CliError(f"stop: no study named {args.study} in {description}", EXIT_USAGE) from None
    asked = run_record.request_stop(storage, study_id, args.reason)
    if asked is None:
        _out(f"stop: study {args.study} has no running run; nothing to stop")
        return EXIT_NO_RUN
    if not args.wait:
        _out(f"stop: asked run {asked.id} of study {args.study} (driver {asked.driver}) to stop")
        return EXIT_OK
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        trials = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        if not trials:
            _out(f"stop: run {asked.id} of study {args.study} stopped; nothing is running")
            return EXIT_OK
        time.sleep(0.1)
    raise CliError(
        f"stop: asked run {asked.id} to stop, but trials still run after {args.wait:g} s; "
        f"is its driver ({asked.driver}) alive? Its workers' trials are re-queued once their "
        "heartbeat stops",
        EXIT_FAILED,
    )


# -- schema ----------------------------------------------------------------------------------
def _cmd_schema(args: argparse.Namespace) -> int:
    from ..spec import spec_schema

    text = json.dumps(spec_schema(), indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
        _out(f"wrote {args.output}")
    else:
        _out(text)
    return EXIT_OK
