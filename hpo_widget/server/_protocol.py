"""Wire shapes of the REST API under ``/hpo-widget/api/``: what the JupyterLab front end reads.

Kept in one typed module (anywidget keeps its wire shapes in ``_protocols.py`` the same way) so
that the handlers, the tests and the TypeScript interfaces written from them agree on one
definition.  Every payload is plain JSON: numbers that JSON cannot carry (NaN, +-inf) are sent
as ``null`` in ``values`` and as the strings ``"inf"``/``"-inf"``/``"nan"`` nowhere else.

Times are POSIX seconds (floats), so the front end formats them in the user's time zone.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

#: Where the server learnt about a storage.
StorageSource = Literal["env", "config", "root", "ui"]
#: A study's state as the sidebar shows it (see :func:`hpo_widget.server._summaries.study_state`).
StudyState = Literal["running", "finished", "stopped", "failed"]
#: Which code cell ``GET .../code`` returns.
CodeKind = Literal["load", "resume"]


class StorageInfo(TypedDict):
    """One storage the server knows.  ``url`` is masked: a password never leaves the server."""

    id: str
    #: Short name for the sidebar's group header (a file name, or the masked URL).
    label: str
    #: Password-free description, e.g. ``journal file /home/u/hpo_studies.journal``.
    url: str
    kind: Literal["journal", "rdb", "grpc"]
    sources: list[StorageSource]
    #: False for a journal or SQLite file that does not exist (yet): listed, never created.
    exists: bool
    #: Only storages added through ``POST storages`` can be removed again.
    removable: bool
    #: Why the storage could not be opened the last time it was tried (masked), else None.
    error: str | None


class StoragesResponse(TypedDict):
    storages: list[StorageInfo]


class AddStorageRequest(TypedDict):
    """Body of ``POST storages``: any storage URL ``hpo_widget`` accepts (not ``memory``)."""

    url: str


class StudySummary(TypedDict):
    """One row of the sidebar.  Counts leave out WAITING tickets (budget placeholders)."""

    name: str
    state: StudyState
    #: Why it is in that state, in words (``"stopped through the study's storage"``), or None.
    state_reason: str | None
    #: Trials that count towards the budget (``hpo_widget._tickets.counts_towards_budget``).
    done: int
    #: The run record's ``n_trials`` (None: no budget, or never run by hpo_widget).
    target: int | None
    complete: int
    pruned: int
    #: Failures of the objective; trials lost to a dead worker or a Stop are in ``lost``.
    failed: int
    lost: int
    running: int
    directions: list[Literal["minimize", "maximize"]]
    #: Single objective: the best value and its trial (None before the first complete trial).
    best_value: float | None
    best_trial: int | None
    #: Multi-objective: the size of the Pareto front (None for one objective).
    pareto_size: int | None
    #: Latest trial start or finish, or the run's start (POSIX seconds), None if nothing yet.
    last_update: float | None
    #: ``host:pid`` of the run's driver (from the run record), None if never run by hpo_widget.
    driver: str | None


class StudiesResponse(TypedDict):
    storage: str
    studies: list[StudySummary]


class TrialRow(TypedDict):
    """One row of the dashboard's trials table."""

    number: int
    state: Literal["running", "complete", "pruned", "fail"]
    #: Objective values (COMPLETE trials), None otherwise; a non-finite value is None.
    values: list[float | None] | None
    params: dict[str, Any]
    #: Seconds from start to finish; None while running (the front end counts from ``start``).
    duration: float | None
    start: float | None
    complete: float | None
    #: ``host:pid:slot`` of the worker that ran it (None: not an hpo_widget worker).
    worker: str | None
    #: Failed by the runner, not by the objective (does not count; re-run with its params).
    lost: bool
    #: One line saying why it failed (FAIL only).
    fail_reason: str | None


class FigureKindInfo(TypedDict):
    name: str
    title: str
    label: str
    #: Takes seconds to compute (importances): fetch it apart from the others.
    slow: bool
    #: Shows one objective of a multi-objective study (``?objective=`` picks which).
    per_objective: bool


class StudyDetail(TypedDict):
    """``GET storages/{id}/studies/{name}``: the summary plus the trials table.

    ``full`` True: ``trials`` is the whole table (replace).  False: only the rows that changed
    since the cursor sent as ``?since=`` (merge by ``number``).  Send ``cursor`` back as
    ``?since=`` on the next poll.
    """

    storage: str
    study: StudySummary
    metric_names: list[str] | None
    param_names: list[str]
    figures: list[FigureKindInfo]
    trials: list[TrialRow]
    full: bool
    cursor: str


class FiguresResponse(TypedDict):
    """``GET .../figures?kinds=a,b``: Plotly figure JSON (``{"data": ..., "layout": ...}``)
    per kind, drawn by the front end with plotly.js."""

    figures: dict[str, Any]
    #: Requested kinds that do not apply to this study (e.g. ``pareto`` for one objective).
    skipped: dict[str, str]


class BestTrial(TypedDict):
    number: int
    values: list[float | None]
    params: dict[str, Any]


class BestResponse(TypedDict):
    """One trial for a single objective; the Pareto front (by number) for several."""

    directions: list[str]
    best: list[BestTrial]


class StopResponse(TypedDict):
    #: False when no run of the study was running (nothing was written).
    requested: bool
    run_id: str | None
    driver: str | None
    message: str


class ReportResponse(TypedDict):
    #: Path of the report relative to the server root (posix), to open in JupyterLab.
    path: str


class CodeResponse(TypedDict):
    kind: CodeKind
    code: str


class ErrorResponse(TypedDict):
    """What every error status carries (jupyter_server's APIHandler shape), masked."""

    message: str
    reason: str | None
