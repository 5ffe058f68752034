"""Events a :class:`~hpo_widget.StudyRunner` publishes to its subscribers.

They are small frozen dataclasses of plain data so that a UI, a CLI progress bar or a test can
consume them without touching Optuna objects, and so that they can cross threads safely.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class RunStatus(enum.StrEnum):
    """Lifecycle of one ``start()`` call."""

    IDLE = "idle"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FINISHED = "finished"
    FAILED = "failed"


class StartPhase(enum.StrEnum):
    """Where a run is before its first trial finishes (:attr:`StatusChanged.phase`).

    A first Spark run spends most of its first half-minute starting the session, then its
    Python workers; a bare "Starting…" for that long reads as a hang, so each phase is
    announced.  What the backend itself waits for (executors N of M) is :attr:`~StatusChanged.
    detail`.
    """

    #: Nothing to report: trials are finishing.
    NONE = ""
    #: The backend is being started (a Spark session, a Dask cluster, a process pool).
    BACKEND = "backend"
    #: Workers were launched; no trial of this run has finished yet.
    FIRST_TRIAL = "first_trial"


@dataclass(frozen=True)
class TrialFinished:
    """A trial reached COMPLETE, PRUNED or FAIL (seen in storage by the runner's monitor)."""

    number: int
    state: str
    values: tuple[float, ...] | None
    params: dict[str, Any]
    duration: float | None
    worker: str | None
    error: str | None = None
    intermediate: dict[int, float] = field(default_factory=dict)
    datetime_start: float | None = None
    datetime_complete: float | None = None


@dataclass(frozen=True)
class StatusChanged:
    """The run moved to a new :class:`RunStatus`; ``message`` explains failures and why a run
    ended early (``StudyRunner.stop_reason``: empty when :meth:`StudyRunner.stop` ended it).

    ``detail`` is what a starting or running run waits for, from its backend (``waiting for
    executors: 0 of 2 registered; 2 pods Pending (Unschedulable: ...)``); the same status is
    announced again, with the new detail, whenever that changes, and "" once nothing is awaited.
    """

    status: RunStatus
    message: str = ""
    n_complete: int = 0
    n_pruned: int = 0
    n_failed: int = 0
    n_target: int | None = None
    detail: str = ""
    #: The start-up phase (:class:`StartPhase`) while no trial of the run has finished yet.
    phase: StartPhase = StartPhase.NONE


@dataclass(frozen=True)
class WorkerSeen:
    """A worker id appeared in storage for the first time in this run."""

    worker: str


Event = TrialFinished | StatusChanged | WorkerSeen

__all__ = ["Event", "RunStatus", "StartPhase", "StatusChanged", "TrialFinished", "WorkerSeen"]
