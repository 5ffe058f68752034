"""Trial timeline by worker: when each trial ran, where, and how it ended.

Shows idle workers, stragglers and failures clustered on one host; its data (per worker
start/end/state and counts) also feeds :mod:`hpo_widget.plots.workers`.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from .. import _attrs
from .._tickets import is_lost
from ._common import (
    DISPLAY_STATES,
    STATE_COLORS,
    STATE_NAME,
    by_number,
    floats,
    ints,
    mark_empty,
    new_figure,
    objects,
    worker_rows_height,
)

__all__ = ["EMPTY_TIMELINE", "NAME", "TITLE", "TimelineData", "timeline_data", "timeline_figure"]

NAME = "timeline"
TITLE = "Trial timeline by worker"
EMPTY_TIMELINE = "No trials yet"


@dataclass(frozen=True, slots=True)
class TimelineData:
    """Started trials as bars per worker.

    ``starts``/``ends`` are seconds since ``origin`` (POSIX time of the earliest start); a
    RUNNING trial ends at ``now``. ``workers`` lists worker ids in order of first appearance and
    ``counts[worker][state]`` counts trials per worker and display state (see
    :data:`DISPLAY_STATES`). WAITING trials (not started) are left out.
    """

    origin: float | None = None
    numbers: list[int] = field(default_factory=list)
    worker: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    fail_reasons: list[str | None] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not self.numbers

    def totals(self) -> dict[str, int]:
        """Trials per worker, all states together."""
        return {w: sum(c.values()) for w, c in self.counts.items()}


def timeline_data(
    trials: Sequence[FrozenTrial],
    *,
    default_worker: str = "unknown",
    now: float | None = None,
) -> TimelineData:
    """Start/end/state of every started trial, grouped by :data:`hpo_widget._attrs.WORKER`.

    Args:
        trials: Trials of one study.
        default_worker: Worker id for trials without the worker attribute (a local run may pass
            "driver").
        now: POSIX time used as the end of RUNNING trials; defaults to ``time.time()``.
    """
    if now is None:
        now = time.time()
    worker_key = _attrs.WORKER
    reason_key = _attrs.FAIL_REASON
    state_name = STATE_NAME

    numbers: list[int] = []
    worker: list[str] = []
    states: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    reasons: list[str | None] = []
    counts: dict[str, dict[str, int]] = {}
    first: dict[str, float] = {}
    # Offsets from the first start seen: naive datetime arithmetic is ~3x cheaper than
    # ``datetime.timestamp()`` (which goes through the local-time zone rules every call).
    ref: datetime.datetime | None = None
    now_offset = 0.0
    prev = -1
    for t in trials:
        n = t.number
        if n < prev:  # Not in number order (unusual): sort once and start over.
            return timeline_data(
                sorted(trials, key=by_number), default_worker=default_worker, now=now
            )
        prev = n
        ds = t.datetime_start
        if ds is None:
            continue
        state = t.state
        if state == TrialState.WAITING:
            continue
        if ref is None:
            ref = ds
            now_offset = now - ref.timestamp()
        sa = t.system_attrs
        w = sa.get(worker_key)
        if type(w) is not str:
            w = default_worker if w is None else str(w)
        if state == TrialState.FAIL:
            name = "LOST" if is_lost(t) else "FAIL"
            reason = sa.get(reason_key)
            reasons.append(None if reason is None else str(reason))
        else:
            name = state_name[state]
            reasons.append(None)
        start = (ds - ref).total_seconds()
        dc = t.datetime_complete
        end = now_offset if dc is None else (dc - ref).total_seconds()
        numbers.append(n)
        worker.append(w)
        states.append(name)
        starts.append(start)
        ends.append(end if end >= start else start)
        c = counts.get(w)
        if c is None:
            c = counts[w] = {}
            first[w] = start
        elif start < first[w]:
            first[w] = start
        c[name] = c.get(name, 0) + 1

    origin: float | None = None
    if ref is not None:
        shift = min(starts)
        origin = ref.timestamp() + shift
        if shift:
            starts = [s - shift for s in starts]
            ends = [e - shift for e in ends]
    # Workers in order of their first trial's start.
    workers = sorted(first, key=first.__getitem__)
    return TimelineData(
        origin,
        numbers,
        worker,
        states,
        starts,
        ends,
        reasons,
        workers,
        {w: counts[w] for w in workers},
    )


def timeline_figure(
    data: TimelineData, *, min_bar: float | None = None, theme: str = "light"
) -> go.Figure:
    """Gantt-like bars per worker coloured by state, one trace per state (``timeline-<STATE>``).

    x is seconds since the first trial started. y is the worker's row, the index into
    ``data.workers`` (the y axis labels rows with the worker ids; numbers instead of category
    strings keep 10k bars cheap for plotly). ``customdata`` rows are ``[number, start,
    duration]``; the FAIL and LOST traces carry the fail reason as ``hovertext``. Bars shorter
    than ``min_bar`` seconds (default 0.2% of the time span) are widened to stay visible.
    """
    span = max(data.ends, default=0.0)
    if min_bar is None:
        min_bar = span * 0.002
    row = {w: i for i, w in enumerate(data.workers)}
    groups: dict[str, list[int]] = {s: [] for s in DISPLAY_STATES}
    for i, state in enumerate(data.states):
        groups[state].append(i)
    numbers = ints(data.numbers)
    rows = ints([row[w] for w in data.worker])
    starts = floats(data.starts)
    durations = floats(data.ends) - starts
    traces = []
    for state, idx in groups.items():
        sel = ints(idx)
        extra: dict[str, Any] = {}
        hover = (
            "Trial %{customdata[0]}<br>Start %{customdata[1]:.2f} s, took %{customdata[2]:.2f} s"
        )
        if state in ("FAIL", "LOST"):
            extra["hovertext"] = objects([data.fail_reasons[i] or "" for i in idx])
            hover += "<br>%{hovertext}"
        traces.append(
            go.Bar(
                uid=f"timeline-{state}",
                name=state.capitalize(),
                orientation="h",
                y=rows[sel],
                base=starts[sel],
                x=np.maximum(durations[sel], min_bar),
                width=0.7,
                customdata=np.column_stack([numbers[sel], starts[sel], durations[sel]]),
                marker={"color": STATE_COLORS[state], "line": {"width": 0}},
                hovertemplate=hover + "<extra>" + state.capitalize() + "</extra>",
                showlegend=bool(idx),
                **extra,
            )
        )
    fig = new_figure(
        NAME,
        TITLE,
        traces,
        xtitle="Seconds since the first trial started",
        ytitle="Worker",
        barmode="overlay",
        height=worker_rows_height(len(data.workers)),
        theme=theme,
    )
    fig.update_yaxes(
        tickmode="array",
        tickvals=list(range(len(data.workers))),
        ticktext=list(data.workers),
        autorange="reversed",
        zeroline=False,
        showgrid=False,
    )
    if data.is_empty:
        mark_empty(fig, EMPTY_TIMELINE)
    return fig
