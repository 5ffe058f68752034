"""The dashboard's payload and its incremental trials table.

Finished trials are immutable in Optuna (it refuses writes to them), which lets the table
rebuild rows only for trials that were unfinished or new at the last poll; a client polls with
the cursor it got and receives only the rows changed since.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from .. import _attrs
from .. import _optuna_compat as compat
from .._tickets import is_lost
from ..storage import mask_password
from ._figures import figure_infos
from ._payload import finite, ts
from ._protocol import StudyDetail, TrialRow
from ._registry import StorageEntry
from ._summaries import load_study, summary_of

__all__ = ["TrialTable", "study_detail", "trial_row"]


def trial_row(t: FrozenTrial) -> TrialRow:
    """One table row; WAITING tickets get none (see :class:`TrialTable`)."""
    start, complete = ts(t.datetime_start), ts(t.datetime_complete)
    reason = t.system_attrs.get(_attrs.FAIL_REASON) if t.state == TrialState.FAIL else None
    worker = t.system_attrs.get(_attrs.WORKER)
    return {
        "number": t.number,
        "state": t.state.name.lower(),  # type: ignore[typeddict-item]  # WAITING never gets here
        "values": [finite(v) for v in t.values] if t.values is not None else None,
        "params": dict(t.params),
        "duration": complete - start if start is not None and complete is not None else None,
        "start": start,
        "complete": complete,
        "worker": worker if isinstance(worker, str) else None,
        "lost": is_lost(t),
        "fail_reason": mask_password(str(reason)) if reason is not None else None,
    }


class TrialTable:
    """The rows of one study, kept between polls, with a revision per row.

    A cursor is ``<epoch>.<revision>``: rows changed after that revision are what a client
    lacks.  Trial numbers cannot serve as the cursor: tickets are numbered when issued, not
    when run, trials finish out of order, and a retry runs under a new number.  The epoch
    changes whenever the table is rebuilt (server restart, study replaced), which makes the
    client's cursor unknown and gets it the full table.
    """

    def __init__(self) -> None:
        self.epoch = uuid.uuid4().hex[:8]
        self.revision = 0
        self.rows: dict[int, TrialRow] = {}
        self.changed: dict[int, int] = {}
        self.finished: set[int] = set()
        #: Every parameter name seen, in order of first appearance (the table's columns).
        self.param_names: dict[str, None] = {}

    @property
    def cursor(self) -> str:
        return f"{self.epoch}.{self.revision}"

    def update(self, trials: Sequence[FrozenTrial]) -> None:
        revision = self.revision + 1
        changed = False
        for t in trials:
            n = t.number
            if n in self.finished or t.state == TrialState.WAITING:
                continue
            row = trial_row(t)
            if self.rows.get(n) != row:
                self.rows[n] = row
                self.changed[n] = revision
                self.param_names.update(dict.fromkeys(row["params"]))
                changed = True
            if t.state.is_finished():
                self.finished.add(n)
        if changed:
            self.revision = revision

    def since(self, cursor: str | None) -> tuple[list[TrialRow], bool]:
        """(rows, full): every row when ``cursor`` is not one of this table's, else the
        rows changed after it."""
        epoch, _, rev = (cursor or "").partition(".")
        if epoch != self.epoch or not rev.isdigit():
            return [self.rows[n] for n in sorted(self.rows)], True
        after = int(rev)
        return [self.rows[n] for n in sorted(self.changed) if self.changed[n] > after], False


def _table(entry: StorageEntry, study: optuna.Study, token: Any) -> TrialTable:
    """The study's table, brought up to date with storage unless ``token`` is unchanged."""
    tables: dict[int, tuple[Any, TrialTable]] = entry.cache.setdefault("tables", {})
    sid = compat.study_id(study)
    held = tables.get(sid)
    if held is not None and held[0] == token:
        return held[1]
    trials = study.get_trials(deepcopy=False)
    table = held[1] if held is not None else TrialTable()
    if len(trials) < len(table.rows):  # the study was replaced under the same id
        table = TrialTable()
    table.update(trials)
    tables[sid] = (token, table)
    return table


def study_detail(
    entry: StorageEntry,
    name: str,
    token: Any,
    *,
    since: str | None = None,
    since_trial: int | None = None,
) -> StudyDetail:
    """The dashboard's payload: summary, the figure kinds that apply, and the trials table
    (all rows, those changed since cursor ``since``, or those numbered ``since_trial`` on)."""
    with entry.lock:
        study = load_study(entry, name)
        summary = summary_of(entry, name, token)
        table = _table(entry, study, token)
        rows, full = table.since(since)
        if since_trial is not None:
            rows = [r for r in rows if r["number"] >= since_trial]
        metric_names = study.metric_names
        return {
            "storage": entry.id,
            "study": summary,
            "metric_names": list(metric_names) if metric_names else None,
            "param_names": list(table.param_names),
            "figures": figure_infos(study.directions),
            "trials": rows,
            "full": full,
            "cursor": table.cursor,
        }
