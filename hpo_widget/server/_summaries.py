"""Study lookup, a study's state, and the studies list (the sidebar's rows).

Every view reads through the entry's long-lived storage object and keeps what it computed in
``entry.cache`` keyed by the storage's change token, so an unchanged storage is answered from
memory and several browser tabs polling the same storage cost one read.  Blocking: the
handlers run all of it in the executor.
"""

from __future__ import annotations

import datetime
import socket
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from .. import _attrs
from .._reaper import pid_alive
from .._run_loop import STOPPED_BY_USER
from .._tickets import counts_towards_budget, is_lost
from ..run_record import RunRecord
from ..storage import mask_password
from ._payload import direction_names, finite, ts
from ._protocol import StudyState, StudySummary
from ._registry import StorageEntry

__all__ = [
    "RUN_FAILED",
    "SAMPLER",
    "StudyNotFound",
    "driver_gone",
    "drivers_alive",
    "load_study",
    "study_state",
    "study_summaries",
    "summary_of",
]

#: The fail reason ``hpo_widget._run_loop`` gives in-flight trials when a run breaks.
RUN_FAILED = "run failed"


class StudyNotFound(KeyError):
    """No study of that name in the storage."""


#: Loading a study builds a sampler; the views never sample, so the cheapest one will do.
SAMPLER = optuna.samplers.RandomSampler(seed=0)


def load_study(entry: StorageEntry, name: str) -> optuna.Study:
    storage = entry.open()
    try:
        return optuna.Study(study_name=name, storage=storage, sampler=SAMPLER)
    except KeyError:
        raise StudyNotFound(name) from None


# -- state -------------------------------------------------------------------------------------
def driver_gone(record: RunRecord) -> bool:
    """True when the run's driver ran on this host and its process no longer exists."""
    host, sep, pid = (record.driver or "").rpartition(":")
    if not sep or not pid.isdigit() or host != socket.gethostname():
        return False  # another host: storage is all we can see
    return not pid_alive(int(pid))


def study_state(
    record: RunRecord | None, *, done: int, running: int, last_lost_reason: str | None
) -> tuple[StudyState, str | None]:
    """running / finished / stopped / failed, from the run record and the trials.

    The record says whether a run is on (``stop`` False) and whether someone asked it to stop
    from outside (``stop_reason``); a run that ended by itself leaves no reason, so the fail
    reason its driver gave the in-flight trials tells a broken run ("run failed") and a Stop
    in its panel apart from a run that reached its budget.  A study never run by hpo_widget is
    running while it has RUNNING trials.
    """
    if record is None:
        return ("running", "trials run outside hpo_widget") if running else ("finished", None)
    if not record.stop:
        if driver_gone(record):
            return "failed", f"its driver ({record.driver}) is gone without ending the run"
        return "running", None
    if record.stop_reason:
        return "stopped", record.stop_reason
    if record.n_trials is not None and done >= record.n_trials:
        return "finished", None
    if last_lost_reason == RUN_FAILED:
        return "failed", "the run failed (see the driver's output)"
    if last_lost_reason == STOPPED_BY_USER:
        return "stopped", STOPPED_BY_USER
    if record.n_trials is None:
        return "finished", None  # no budget: a timeout or a stop rule ended it
    return "stopped", last_lost_reason


# -- the studies list ------------------------------------------------------------------------
def _summarize(
    study_id: int,
    name: str,
    directions: Sequence[StudyDirection],
    record: RunRecord | None,
    trials: Sequence[FrozenTrial],
    memo: dict[int, tuple[Any, StudySummary]],
    storage: Any,
) -> StudySummary:
    complete = pruned = failed = lost = running = done = 0
    last: datetime.datetime | None = None
    last_lost: FrozenTrial | None = None
    for t in trials:
        st = t.state
        if st == TrialState.WAITING:
            continue  # a budget ticket, not a trial anyone ran
        if st == TrialState.RUNNING:
            running += 1
            stamp = t.datetime_start
        else:
            stamp = t.datetime_complete
            if st == TrialState.COMPLETE:
                complete += 1
            elif st == TrialState.PRUNED:
                pruned += 1
            elif is_lost(t):
                lost += 1
                if last_lost is None or t.number > last_lost.number:
                    last_lost = t
            else:
                failed += 1
            if counts_towards_budget(t):
                done += 1
        if stamp is not None and (last is None or stamp > last):
            last = stamp
    gone = record is not None and not record.stop and driver_gone(record)
    key = (len(trials), complete, pruned, failed, lost, running, record, last, gone)
    cached = memo.get(study_id)
    if cached is not None and cached[0] == key:
        return cached[1]

    lost_reason = None
    if last_lost is not None and (
        record is None
        or record.started is None
        or (ts(last_lost.datetime_complete) or 0.0) >= record.started
    ):
        lost_reason = last_lost.system_attrs.get(_attrs.FAIL_REASON)
    state, reason = study_state(record, done=done, running=running, last_lost_reason=lost_reason)
    best_value = best_trial = pareto_size = None
    if complete:
        study = optuna.Study(study_name=name, storage=storage, sampler=SAMPLER)
        try:
            if len(directions) == 1:
                best = study.best_trial  # Optuna's rule (feasible trials first)
                best_value, best_trial = finite(best.value), best.number
            else:
                pareto_size = len(study.best_trials)
        except ValueError:
            pass
    updated = ts(last)
    if record is not None and record.started is not None:
        updated = max(updated or 0.0, record.started)
    summary: StudySummary = {
        "name": name,
        "state": state,
        "state_reason": mask_password(reason) if reason else None,
        "done": done,
        "target": record.n_trials if record is not None else None,
        "complete": complete,
        "pruned": pruned,
        "failed": failed,
        "lost": lost,
        "running": running,
        "directions": direction_names(directions),
        "best_value": best_value,
        "best_trial": best_trial,
        "pareto_size": pareto_size,
        "last_update": updated,
        "driver": record.driver if record is not None else None,
    }
    memo[study_id] = (key, summary)
    return summary


def study_summaries(entry: StorageEntry, token: Any) -> list[StudySummary]:
    """Every study of the storage, one sidebar row each (cached for ``token``)."""
    with entry.lock:
        cached = entry.cache.get("studies")
        if cached is not None and cached[0] == token:
            return list(cached[1])
        storage = entry.open()
        memo: dict[int, tuple[Any, StudySummary]] = entry.cache.setdefault("summaries", {})
        rows = []
        seen = set()
        for frozen in storage.get_all_studies():
            study_id = storage.get_study_id_from_name(frozen.study_name)
            seen.add(study_id)
            # The record from the study listing: one read for all studies, not one per study.
            record = RunRecord.from_attr(frozen.system_attrs.get(_attrs.RUN))
            trials = storage.get_all_trials(study_id, deepcopy=False)
            rows.append(
                _summarize(
                    study_id, frozen.study_name, frozen.directions, record, trials, memo, storage
                )
            )
        for gone in set(memo) - seen:
            del memo[gone]
        rows.sort(key=lambda r: r["name"])
        entry.cache["studies"] = (token, rows)
        return list(rows)


def drivers_alive(entry: StorageEntry) -> tuple[bool, ...]:
    """Whether the local drivers of the studies last seen running still live.

    Part of every change token: a killed kernel writes nothing, so only this tells the
    sidebar that its run is over.  No storage access (the last summaries, and ``kill -0``).
    """
    cached = entry.cache.get("studies")
    if cached is None:
        return ()
    return tuple(
        not driver_gone(RunRecord(id="", driver=row["driver"]))
        for row in cached[1]
        if row["state"] == "running" and row["driver"]
    )


def summary_of(entry: StorageEntry, name: str, token: Any) -> StudySummary:
    for row in study_summaries(entry, token):
        if row["name"] == name:
            return row
    raise StudyNotFound(name)
