"""Optimization history: every trial's objective value and the best-so-far step line."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from ._common import (
    BEST_COLOR,
    EMPTY_MESSAGE,
    MUTED,
    STATE_COLORS,
    STATE_NAME,
    Direction,
    by_number,
    chosen_objective,
    dir_suffix,
    floats,
    ints,
    is_feasible,
    mark_empty,
    new_figure,
)

__all__ = [
    "NAME",
    "TITLE",
    "HistoryCurve",
    "HistoryData",
    "best_steps",
    "history_data",
    "history_figure",
]

NAME = "history"
TITLE = "Optimization history"

_COMPLETE = TrialState.COMPLETE


@dataclass(frozen=True, slots=True)
class HistoryData:
    """Objective value of every trial and the best-so-far curve, in trial-number order.

    ``values[i]`` is ``None`` unless trial ``numbers[i]`` is COMPLETE. ``best[i]`` is the best
    value among feasible COMPLETE trials with number <= ``numbers[i]`` (``None`` before the first).
    """

    direction: str
    target_name: str
    numbers: list[int] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    feasible: list[bool] = field(default_factory=list)
    best: list[float | None] = field(default_factory=list)

    @property
    def n_complete(self) -> int:
        return sum(v is not None for v in self.values)

    @property
    def is_empty(self) -> bool:
        """True when no trial has a value yet (the figure shows its empty state)."""
        return not any(v is not None for v in self.values)

    @property
    def best_value(self) -> float | None:
        return self.best[-1] if self.best else None


def history_data(
    trials: Sequence[FrozenTrial],
    direction: Direction | Sequence[Direction] = "minimize",
    *,
    target_index: int = 0,
    target_name: str | None = None,
) -> HistoryData:
    """Objective values and best-so-far of ``trials`` (any order; sorted by number here).

    Written as one plain loop because that is fastest at notebook sizes (10k trials in a few
    milliseconds), cheap enough to recompute on every refresh.

    Args:
        trials: Trials of one study, e.g. ``study.get_trials(deepcopy=False)``; only read.
        direction: The study direction, or all directions of a multi-objective study.
        target_index: Which objective to use for a multi-objective study.
        target_name: Axis label; defaults to "Objective value" / "Objective <i>".
    """
    dname, target_name = chosen_objective(direction, target_index, target_name)
    maximize = dname == "maximize"

    numbers: list[int] = []
    states: list[str] = []
    values: list[float | None] = []
    feasible: list[bool] = []
    best: list[float | None] = []
    cur: float | None = None
    state_name = STATE_NAME
    prev = -1
    for t in trials:
        n = t.number
        if n < prev:  # Not in number order (unusual): sort once and start over.
            return history_data(
                sorted(trials, key=by_number),
                direction,
                target_index=target_index,
                target_name=target_name,
            )
        prev = n
        numbers.append(n)
        state = t.state
        states.append(state_name[state])
        if state == _COMPLETE:
            vals = t.values
            if vals is not None and len(vals) > target_index:
                v = float(vals[target_index])
                ok = is_feasible(t.system_attrs)
                values.append(v)
                feasible.append(ok)
                if ok and v == v and (cur is None or (v > cur if maximize else v < cur)):
                    cur = v
                best.append(cur)
                continue
        values.append(None)
        feasible.append(True)
        best.append(cur)
    return HistoryData(dname, target_name, numbers, states, values, feasible, best)


def history_figure(data: HistoryData, *, theme: str = "light") -> go.Figure:
    """Objective value per COMPLETE trial plus the best-so-far step line.

    Traces: ``history-values`` (feasible), ``history-infeasible``, ``history-best``.
    """
    x_ok: list[int] = []
    y_ok: list[float | None] = []
    x_bad: list[int] = []
    y_bad: list[float | None] = []
    y_best: list[float | None] = []
    for n, v, ok, b in zip(data.numbers, data.values, data.feasible, data.best, strict=True):
        if v is None:
            continue
        if ok:
            x_ok.append(n)
            y_ok.append(v)
            y_best.append(b)
        else:
            x_bad.append(n)
            y_bad.append(v)
    hover = "Trial %{x}<br>" + data.target_name + " %{y:.6g}<extra></extra>"
    x_ok_arr = ints(x_ok)
    traces = [
        go.Scatter(
            uid="history-values",
            name=data.target_name,
            x=x_ok_arr,
            y=floats(y_ok),
            mode="markers",
            marker={"color": STATE_COLORS["COMPLETE"], "size": 6, "opacity": 0.75},
            hovertemplate=hover,
        ),
        go.Scatter(
            uid="history-infeasible",
            name="Infeasible",
            x=ints(x_bad),
            y=floats(y_bad),
            mode="markers",
            marker={"color": MUTED, "size": 6},
            hovertemplate=hover,
            showlegend=bool(x_bad),
        ),
        go.Scatter(
            uid="history-best",
            name="Best value" + dir_suffix(data.direction),
            x=x_ok_arr,
            y=floats(y_best),
            mode="lines",
            line={"color": BEST_COLOR, "width": 2, "shape": "hv"},
            hovertemplate="Trial %{x}<br>Best %{y:.6g}<extra></extra>",
        ),
    ]
    fig = new_figure(NAME, TITLE, traces, xtitle="Trial", ytitle=data.target_name, theme=theme)
    if not (x_ok or x_bad):
        mark_empty(fig, EMPTY_MESSAGE)
    return fig


# -- live updates -------------------------------------------------------------------------------
def best_steps(x: np.ndarray, y: np.ndarray, maximize: bool) -> tuple[np.ndarray, np.ndarray]:
    """The best-so-far step line reduced to the points where it changes, plus the last one:
    an ``hv`` line through them is identical and sends O(improvements) points, not O(trials)."""
    if y.size == 0:
        return x, y
    best = np.maximum.accumulate(y) if maximize else np.minimum.accumulate(y)
    keep = np.empty(best.size, dtype=bool)
    keep[0] = True
    np.not_equal(best[1:], best[:-1], out=keep[1:])
    keep[-1] = True
    return x[keep], best[keep]


class HistoryCurve:
    """The history's points kept up to date trial by trial, for a live view.

    Rebuilding the figure for every finished trial would resend everything and reset the user's
    zoom.  A live view seeds this from a full :func:`history_data`, :meth:`add` s finished
    trials as they are reported (workers finish out of order; trial-number order is kept) and
    patches the ``history-values`` and ``history-best`` traces with :meth:`arrays`.
    """

    def __init__(self, maximize: bool = False) -> None:
        self.maximize = maximize
        self.numbers: list[int] = []
        self.values: list[float] = []
        self._seen: set[int] = set()

    def seed(self, data: HistoryData) -> None:
        """Start over from a full extraction (feasible points; every COMPLETE trial is seen)."""
        self.maximize = data.direction == "maximize"
        self.numbers, self.values = [], []
        for n, v, ok in zip(data.numbers, data.values, data.feasible, strict=True):
            if v is not None and ok:
                self.numbers.append(n)
                self.values.append(v)
        self._seen = {n for n, s in zip(data.numbers, data.states, strict=True) if s == "COMPLETE"}

    def add(self, number: int, value: float) -> bool:
        """Add a COMPLETE trial's value; False if that trial is already on the curve."""
        if number in self._seen:
            return False
        self._seen.add(number)
        if not self.numbers or number > self.numbers[-1]:
            self.numbers.append(number)
            self.values.append(value)
        else:
            i = bisect.bisect(self.numbers, number)
            self.numbers.insert(i, number)
            self.values.insert(i, value)
        return True

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``x, y`` of the values trace and ``x, y`` of the reduced best-so-far line."""
        x = np.asarray(self.numbers, dtype=np.int32)
        y = np.asarray(self.values, dtype=np.float64)
        return (x, y, *best_steps(x, y, self.maximize))
