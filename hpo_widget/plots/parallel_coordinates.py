"""Parallel coordinates: the objective plus one axis per parameter, a line per trial."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.graph_objects as go
from optuna.trial import FrozenTrial

from ._common import (
    EMPTY_MESSAGE,
    Direction,
    floats,
    mark_empty,
    new_figure,
    truncate,
)
from ._params import param_columns, param_kinds, target_rows

__all__ = [
    "NAME",
    "TITLE",
    "ParallelCoordinatesData",
    "ParamAxis",
    "parallel_coordinates_data",
    "parallel_coordinates_figure",
]

NAME = "parallel_coordinates"
TITLE = "Parallel coordinates"

_MISSING_LABEL = "(inactive)"


@dataclass(frozen=True, slots=True)
class ParamAxis:
    """One parameter axis of a parallel-coordinates plot.

    ``values[i]`` belongs to ``ParallelCoordinatesData.numbers[i]`` and is ``None`` when the
    parameter was inactive in that trial (conditional search space). Values are plotted as is
    for ``kind`` "float"/"int", as ``log10`` for "log", and as the index into ``ticktext`` for
    "categorical".
    """

    name: str
    kind: str
    values: list[float | None]
    tickvals: list[float] = field(default_factory=list)
    ticktext: list[str] = field(default_factory=list)

    @property
    def has_missing(self) -> bool:
        return any(v is None for v in self.values)


@dataclass(frozen=True, slots=True)
class ParallelCoordinatesData:
    """Complete trials with a finite objective, their objective (colour) and parameter axes."""

    direction: str
    target_name: str
    numbers: list[int] = field(default_factory=list)
    objective: list[float] = field(default_factory=list)
    axes: list[ParamAxis] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.numbers


def _log_ticks(values: Iterable[float | None]) -> tuple[list[float], list[str]]:
    present = [v for v in values if v is not None]
    if not present:
        return [], []
    lo, hi = min(present), max(present)
    ticks = [float(e) for e in range(math.ceil(lo), math.floor(hi) + 1)]
    if not ticks or ticks[0] - lo > 1e-9:
        ticks.insert(0, lo)
    if hi - ticks[-1] > 1e-9:
        ticks.append(hi)
    return ticks, [f"{10.0**v:.3g}" for v in ticks]


def parallel_coordinates_data(
    trials: Sequence[FrozenTrial],
    params: Sequence[str] | None = None,
    *,
    direction: Direction | Sequence[Direction] = "minimize",
    target_index: int = 0,
    target_name: str | None = None,
) -> ParallelCoordinatesData:
    """Parameter axes over COMPLETE trials with a finite objective.

    Axes follow ``params`` when given (unknown names are dropped), otherwise all parameters seen,
    sorted by name. Categorical choices keep their distribution's order; log-scaled parameters
    are transformed with ``log10`` and get decade ticks.
    """
    target = target_rows(
        trials, direction, target_index=target_index, target_name=target_name
    )  # order does not matter for parallel coordinates
    kinds = param_kinds(target.rows)
    names = [p for p in params if p in kinds] if params is not None else sorted(kinds)
    axes: list[ParamAxis] = []
    for col in param_columns(target.rows, names, kinds):
        values = col.values
        tickvals: list[float] = []
        ticktext: list[str] = col.labels
        if col.kind == "categorical":
            tickvals = [float(i) for i in range(len(col.labels))]
        elif col.kind == "log":
            log10 = math.log10
            values = [None if v is None else log10(v) for v in values]
            tickvals, ticktext = _log_ticks(values)
        axes.append(ParamAxis(col.name, col.kind, values, tickvals, ticktext))
    return ParallelCoordinatesData(
        target.direction, target.target_name, target.numbers, target.values, axes
    )


def _linear_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = (hi - lo) / (n - 1)
    return [lo + i * step for i in range(n)]


def _dimension(
    label: str,
    values: Sequence[float | None],
    *,
    tickvals: Sequence[float] = (),
    ticktext: Sequence[str] = (),
) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    dim: dict[str, Any] = {"label": label}
    if not present:
        dim.update(values=np.zeros(len(values)), range=[0.0, 1.0])
        return dim
    lo, hi = min(present), max(present)
    if tickvals:
        lo, hi = min(lo, min(tickvals)), max(hi, max(tickvals))
    has_missing = len(present) != len(values)
    if not has_missing:
        dim.update(values=floats(values), range=[lo, hi])
        if tickvals:
            dim.update(tickvals=list(tickvals), ticktext=list(ticktext))
        return dim
    # Inactive (conditional) parameters are drawn on a labelled sentinel below the range.
    span = hi - lo
    sentinel = lo - (0.15 * span if span > 0 else 1.0)
    if not tickvals:
        tickvals = _linear_ticks(lo, hi)
        ticktext = [f"{v:.3g}" for v in tickvals]
    arr = floats(values)
    arr[np.isnan(arr)] = sentinel
    dim.update(
        values=arr,
        range=[sentinel, hi],
        tickvals=[sentinel, *tickvals],
        ticktext=[_MISSING_LABEL, *ticktext],
    )
    return dim


#: From this many axes on, titles are tilted and shortened: at 360 px each in a 1,200 px panel
#: ten straight titles overlapped (the issue that asked for this).
CROWDED_AXES = 7
#: From this many axes on, the figure is given a width (``AXIS_PX`` per axis) instead of
#: squeezing into its container; the view scrolls sideways rather than overlapping titles.
WIDE_AXES = 10
AXIS_PX = 96
_FOOTNOTE_CHARS = 110


def shorten(label: str, n: int) -> str:
    """``label`` cut to ``n`` characters in the middle: the end of a name ("...max_depth") is
    what tells "RandomForest__max_depth" from "RandomForest__min_samples"."""
    if len(label) <= n:
        return label
    head = max(1, n // 3)
    tail = n - head - 1
    return label[:head] + "\u2026" + label[len(label) - tail :]


def _labels(full: list[str], crowded: bool) -> list[str]:
    if not crowded:
        return [truncate(label) for label in full]
    short = [shorten(label, 18) for label in full]
    # Two names shortened alike say nothing: keep those whole.
    clash = {s for s in short if short.count(s) > 1}
    return [f if s in clash and s != f else s for s, f in zip(short, full, strict=True)]


def _footnote(pairs: list[tuple[str, str]]) -> list[str]:
    """``short = full`` entries for the shortened titles, wrapped into lines."""
    lines: list[str] = []
    line = "Shortened axes: "
    for short, full in pairs:
        entry = f"{short} = {full}"
        if len(line) + len(entry) > _FOOTNOTE_CHARS and line.strip():
            lines.append(line.rstrip("; "))
            line = ""
        line += entry + "; "
    lines.append(line.rstrip("; "))
    return lines


def parallel_coordinates_figure(
    data: ParallelCoordinatesData, *, theme: str = "light"
) -> go.Figure:
    """Objective plus one axis per parameter, lines coloured by the objective.

    Trace: ``parallel_coordinates-lines``. Log parameters show decade ticks, categorical ones
    their choices, inactive conditional parameters a ``(inactive)`` tick below the range.

    Readable with many parameters: from :data:`CROWDED_AXES` axes the titles are tilted and
    shortened in the middle, with the full names in a footnote and in ``layout.meta
    ["axis_names"]`` (parcoords has no hover on titles); from :data:`WIDE_AXES` the width
    follows the number of axes.
    """
    full = [data.target_name] + [a.name + (" (log)" if a.kind == "log" else "") for a in data.axes]
    n_dims = len(full)
    crowded = n_dims >= CROWDED_AXES
    labels = _labels(full, crowded)
    dims = [_dimension(labels[0], data.objective)]
    for axis, label in zip(data.axes, labels[1:], strict=True):
        dims.append(_dimension(label, axis.values, tickvals=axis.tickvals, ticktext=axis.ticktext))
    trace = go.Parcoords(
        uid="parallel_coordinates-lines",
        name="Trials",
        dimensions=dims if not data.is_empty else [],
        line={
            "color": floats(data.objective),
            "colorscale": "Blues",
            "reversescale": data.direction == "minimize",
            "showscale": not data.is_empty,
            "colorbar": {"title": {"text": truncate(data.target_name, 16)}},
        },
        labelangle=-35 if crowded else -20,
    )
    shortened = [(s, f) for s, f in zip(labels, full, strict=True) if s != f]
    notes = _footnote(shortened) if shortened and not data.is_empty else []
    # The colorbar lives in the right margin; leave it room so it does not cover the last axis.
    margin = {"l": 70, "r": 130, "t": 136 if crowded else 96, "b": 40 + 18 * len(notes)}
    sizing: dict[str, Any] = {}
    if crowded:
        sizing["height"] = 500 + 18 * len(notes)
    if n_dims >= WIDE_AXES:
        sizing["width"] = margin["l"] + margin["r"] + AXIS_PX * n_dims
    fig = new_figure(NAME, TITLE, [trace], theme=theme, margin=margin, **sizing)
    fig.layout.meta = {**fig.layout.meta, "axis_names": full}
    if notes:
        fig.add_annotation(
            name="axis-names",
            text="<br>".join(notes),
            xref="paper",
            yref="paper",
            x=0.0,
            y=0.0,
            xanchor="left",
            yanchor="top",
            yshift=-24,
            align="left",
            showarrow=False,
            font={"size": 11},
        )
    if data.is_empty:
        mark_empty(fig, EMPTY_MESSAGE)
    return fig
