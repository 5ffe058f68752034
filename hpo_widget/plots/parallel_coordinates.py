"""Parallel coordinates: the objective plus one axis per parameter, a line per trial."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.graph_objects as go
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from ._common import (
    EMPTY_MESSAGE,
    Direction,
    default_target_name,
    direction_names,
    floats,
    mark_empty,
    new_figure,
    truncate,
)

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


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


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


def _axis_kind(dist: BaseDistribution) -> str:
    if isinstance(dist, CategoricalDistribution):
        return "categorical"
    if isinstance(dist, (FloatDistribution, IntDistribution)):
        if dist.log:
            return "log"
        return "int" if isinstance(dist, IntDistribution) else "float"
    return "float"


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


def _categorical_axis(
    name: str, raw: list[Any], dist_dicts: list[dict[str, BaseDistribution]]
) -> tuple[list[float | None], list[float], list[str]]:
    """Choice indices, with ticks: the union of the distributions' choices in their order, then
    any value outside them. Keys include the type so that True and 1 stay distinct."""
    index: dict[tuple[type, Any], int] = {}
    labels: list[str] = []
    seen_choices: set[tuple[Any, ...]] = set()
    for dd in dist_dicts:
        d = dd.get(name)
        if type(d) is CategoricalDistribution and d.choices not in seen_choices:
            seen_choices.add(d.choices)
            for c in d.choices:
                if (type(c), c) not in index:
                    index[(type(c), c)] = len(labels)
                    labels.append(str(c))
    values: list[float | None] = []
    for v in raw:
        if v is _MISSING:
            values.append(None)
            continue
        i = index.get((type(v), v))
        if i is None:
            i = index[(type(v), v)] = len(labels)
            labels.append(str(v))
        values.append(float(i))
    return values, [float(i) for i in range(len(labels))], labels


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
    dirs = direction_names(direction)
    dname = dirs[target_index] if target_index < len(dirs) else "minimize"
    if target_name is None:
        target_name = default_target_name(len(dirs), target_index)

    rows: list[FrozenTrial] = []
    objective: list[float] = []
    for t in trials:  # Order does not matter for parallel coordinates.
        if t.state != TrialState.COMPLETE:
            continue
        vals = t.values
        if vals is None or len(vals) <= target_index:
            continue
        v = float(vals[target_index])
        if math.isfinite(v):
            rows.append(t)
            objective.append(v)

    # Optuna refuses a different distribution kind for an existing parameter name, so the
    # first distribution seen decides an axis's kind; identical key sets are skipped.
    param_dicts = [t.params for t in rows]
    dist_dicts = [t.distributions for t in rows]
    kinds: dict[str, str] = {}
    seen_keys: set[tuple[str, ...]] = set()
    for dd in dist_dicts:
        keys = tuple(dd)
        if keys in seen_keys:
            continue
        seen_keys.add(keys)
        for name, dist in dd.items():
            if name not in kinds:
                kinds[name] = _axis_kind(dist)
    names = [p for p in params if p in kinds] if params is not None else sorted(kinds)

    axes: list[ParamAxis] = []
    for name in names:
        kind = kinds[name]
        raw = [pd.get(name, _MISSING) for pd in param_dicts]
        values: list[float | None]
        tickvals: list[float] = []
        ticktext: list[str] = []
        if kind == "categorical":
            values, tickvals, ticktext = _categorical_axis(name, raw, dist_dicts)
        elif kind == "log":
            log10 = math.log10
            values = [log10(v) if isinstance(v, (float, int)) and v > 0 else None for v in raw]
            tickvals, ticktext = _log_ticks(values)
        else:
            values = [float(v) if isinstance(v, (float, int)) else None for v in raw]
        axes.append(ParamAxis(name, kind, values, tickvals, ticktext))
    return ParallelCoordinatesData(dname, target_name, [t.number for t in rows], objective, axes)


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
    dim: dict[str, Any] = {"label": truncate(label)}
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


def parallel_coordinates_figure(data: ParallelCoordinatesData) -> go.Figure:
    """Objective plus one axis per parameter, lines coloured by the objective.

    Trace: ``parallel_coordinates-lines``. Log parameters show decade ticks, categorical ones
    their choices, inactive conditional parameters a ``(inactive)`` tick below the range.
    """
    dims = [_dimension(data.target_name, data.objective)]
    for axis in data.axes:
        label = axis.name + (" (log)" if axis.kind == "log" else "")
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
        labelangle=-20,
    )
    # The colorbar lives in the right margin; leave it room so it does not cover the last axis.
    fig = new_figure(NAME, TITLE, [trace], margin={"l": 70, "r": 130, "t": 96, "b": 40})
    if data.is_empty:
        mark_empty(fig, EMPTY_MESSAGE)
    return fig
