"""Intermediate values: the learning curves trials reported, coloured by how they ended.

Shows whether pruning stops the right trials; only meaningful when the objective reports
(the registry entry says it needs intermediate values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import plotly.graph_objects as go
from optuna.trial import FrozenTrial

from ._common import (
    DISPLAY_STATES,
    STATE_COLORS,
    display_state,
    floats,
    mark_empty,
    new_figure,
    sorted_by_number,
)

__all__ = [
    "EMPTY_INTERMEDIATE",
    "NAME",
    "TITLE",
    "IntermediateData",
    "intermediate_data",
    "intermediate_figure",
]

NAME = "intermediate"
TITLE = "Intermediate values"
EMPTY_INTERMEDIATE = "No intermediate values reported yet"

#: Above this many points the markers are dropped: lines alone stay readable and fast.
_MAX_MARKERS = 2000


@dataclass(frozen=True, slots=True)
class IntermediateData:
    """Reported intermediate values of every trial that reported any, steps ascending."""

    numbers: list[int] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    steps: list[list[int]] = field(default_factory=list)
    values: list[list[float]] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.numbers


def intermediate_data(trials: Sequence[FrozenTrial]) -> IntermediateData:
    """Per-trial ``(step, value)`` curves with the trial state, for pruning plots."""
    numbers: list[int] = []
    states: list[str] = []
    steps: list[list[int]] = []
    values: list[list[float]] = []
    for t in sorted_by_number(trials):
        iv = t.intermediate_values
        if not iv:
            continue
        items = sorted(iv.items())
        numbers.append(t.number)
        states.append(display_state(t))
        steps.append([int(s) for s, _ in items])
        values.append([float(v) for _, v in items])
    return IntermediateData(numbers, states, steps, values)


def intermediate_figure(
    data: IntermediateData, *, target_name: str = "Value", theme: str = "light"
) -> go.Figure:
    """Learning curves, one trace per state (``intermediate-<STATE>``), trials split by gaps.

    One trace per state rather than per trial keeps 10k curves cheap to draw and to patch.
    Each trace's ``customdata`` holds the trial number of every point (NaN at the gaps).
    """
    groups: dict[str, tuple[list[float | None], list[float | None], list[float | None]]] = {
        s: ([], [], []) for s in DISPLAY_STATES if s != "WAITING"
    }
    n_points = 0
    for number, state, steps, values in zip(
        data.numbers, data.states, data.steps, data.values, strict=True
    ):
        xs, ys, cs = groups.get(state) or groups["FAIL"]
        xs.extend(steps)
        ys.extend(values)
        cs.extend([number] * len(steps))
        xs.append(None)
        ys.append(None)
        cs.append(None)
        n_points += len(steps)
    mode = "lines+markers" if n_points <= _MAX_MARKERS else "lines"
    traces = [
        go.Scatter(
            uid=f"intermediate-{state}",
            name=state.capitalize(),
            x=floats(xs),
            y=floats(ys),
            customdata=floats(cs),
            mode=mode,
            connectgaps=False,
            line={"color": STATE_COLORS[state], "width": 1.5},
            marker={"size": 4},
            opacity=0.8,
            hovertemplate="Trial %{customdata}<br>Step %{x}<br>%{y:.6g}<extra>"
            + state.capitalize()
            + "</extra>",
            showlegend=bool(xs),
        )
        for state, (xs, ys, cs) in groups.items()
    ]
    fig = new_figure(NAME, TITLE, traces, xtitle="Step", ytitle=target_name, theme=theme)
    if data.is_empty:
        mark_empty(fig, EMPTY_INTERMEDIATE)
    return fig
