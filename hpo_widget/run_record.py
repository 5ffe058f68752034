"""The run record: what every process working on a study knows about its current run.

A driver (a :class:`~hpo_widget.StudyRunner` in a kernel or ``hpo-widget run``) writes it to the
study's system attrs when a run starts; its workers, ``hpo-widget worker`` processes on other
hosts, ``hpo-widget stop`` and the JupyterLab sidebar read it.  Storage is the only channel
they share, so a stop is a write here: any process that can write the study can stop a run,
and the driver ends it within a poll or two.

The attr is a plain JSON dict (Optuna stores system attrs as JSON), read leniently so that a
record written by an older or newer hpo_widget never breaks a run.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from optuna.storages import BaseStorage

from . import _attrs

__all__ = ["RunRecord", "close_run", "open_run", "read", "request_stop", "stop_study"]


@dataclass(frozen=True)
class RunRecord:
    """One run of a study, as stored in its system attrs."""

    #: Random id of the run; a new driver run writes a new id, which retires the old run.
    id: str
    #: The study's total of finished trials the run works towards (None: until stopped).
    n_trials: int | None = None
    #: The run is over (finished, stopped, or taken over): workers leave.
    stop: bool = False
    #: How often workers stamp their trials, so the driver's grace holds (seconds).
    heartbeat_interval: float | None = None
    #: ``host:pid`` of the driver, for people looking at a running study.
    driver: str | None = None
    #: When the run started (seconds since the epoch).
    started: float | None = None
    #: Who or what asked for the stop when it came from outside the driver.
    stop_reason: str | None = None

    @property
    def active(self) -> bool:
        return not self.stop

    def to_attr(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_attr(cls, value: Any) -> RunRecord | None:
        if not isinstance(value, dict) or not isinstance(value.get("id"), str):
            return None
        target = value.get("n_trials")
        interval = value.get("heartbeat_interval")
        started = value.get("started")
        return cls(
            id=value["id"],
            n_trials=int(target) if isinstance(target, int | float) else None,
            stop=bool(value.get("stop")),
            heartbeat_interval=float(interval) if isinstance(interval, int | float) else None,
            driver=value.get("driver") if isinstance(value.get("driver"), str) else None,
            started=float(started) if isinstance(started, int | float) else None,
            stop_reason=(
                value.get("stop_reason") if isinstance(value.get("stop_reason"), str) else None
            ),
        )


def read(storage: BaseStorage, study_id: int) -> RunRecord | None:
    """The study's current run record (None: it never ran under hpo_widget)."""
    return RunRecord.from_attr(storage.get_study_system_attrs(study_id).get(_attrs.RUN))


def open_run(
    storage: BaseStorage,
    study_id: int,
    run_id: str,
    *,
    n_trials: int | None,
    heartbeat_interval: float,
) -> RunRecord:
    """Start a run: write a fresh record (this retires any other driver's run of the study)."""
    record = RunRecord(
        id=run_id,
        n_trials=n_trials,
        heartbeat_interval=heartbeat_interval,
        driver=f"{socket.gethostname()}:{os.getpid()}",
        started=time.time(),
    )
    storage.set_study_system_attr(study_id, _attrs.RUN, record.to_attr())
    return record


def close_run(storage: BaseStorage, study_id: int, run_id: str) -> None:
    """Mark run ``run_id`` over (its workers, ``hpo-widget worker`` ones included, leave).

    A record another driver wrote since is left alone: that run goes on.
    """
    record = read(storage, study_id)
    if record is not None and record.id == run_id and not record.stop:
        storage.set_study_system_attr(
            study_id, _attrs.RUN, dataclasses.replace(record, stop=True).to_attr()
        )


def request_stop(
    storage: BaseStorage, study_id: int, reason: str = "stop requested through the storage"
) -> RunRecord | None:
    """Ask the study's running driver to stop; returns the run asked, None if none runs.

    The driver sees it at its next poll (``poll_interval``, 0.2 s by default), fails the
    in-flight trials as stopped (they are re-run on resume) and ends the run.
    """
    record = read(storage, study_id)
    if record is None or record.stop:
        return None
    stopped = dataclasses.replace(record, stop=True, stop_reason=reason)
    storage.set_study_system_attr(study_id, _attrs.RUN, stopped.to_attr())
    return record


def stop_study(
    storage: BaseStorage, study_name: str, reason: str = "stop requested through the storage"
) -> RunRecord | None:
    """:func:`request_stop` by study name; KeyError if there is no such study."""
    return request_stop(storage, storage.get_study_id_from_name(study_name), reason)
