"""Empirical distribution function: what fraction of trials reached each objective value.

Optuna's EDF compares studies; a notebook panel shows one study, so the second line compares
the study with itself: the latest quarter of its trials.  A latest-quarter curve left of (for
minimization) the all-trials curve says the sampler is still concentrating on good regions; on
top of it, the search has stopped learning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go
from optuna.trial import FrozenTrial

from ._common import (
    BEST_COLOR,
    EMPTY_MESSAGE,
    STATE_COLORS,
    Direction,
    dir_suffix,
    floats,
    mark_empty,
    new_figure,
)
from ._params import target_rows

__all__ = ["NAME", "TITLE", "EdfData", "EdfLine", "edf_data", "edf_figure", "edf_steps"]

NAME = "edf"
TITLE = "Empirical distribution of objective values"
#: Most points per line: the exact step function at 10k trials is 10k points for a curve that
#: 1k points draw identically at panel width.
MAX_POINTS = 1000
#: The "latest trials" line appears from this many trials on (fewer make a noisy curve).
MIN_FOR_LATEST = 20
LATEST_FRACTION = 0.25


def edf_steps(
    values: Sequence[float], max_points: int = MAX_POINTS
) -> tuple[list[float], list[float]]:
    """The EDF of ``values`` as step points ``(x, y)``: ``y[i]`` is the fraction of values
    <= ``x[i]``, x ascending, at most ``max_points`` points (always keeping the last)."""
    v = np.sort(floats(values))
    n = v.size
    if n == 0:
        return [], []
    # Last position of each distinct value: the step heights of the function.
    last = np.flatnonzero(np.append(v[1:] != v[:-1], True))
    x, y = v[last], (last + 1) / n
    if x.size > max_points:
        keep = np.unique(np.linspace(0, x.size - 1, max_points).round().astype(np.int64))
        x, y = x[keep], y[keep]
    return x.tolist(), y.tolist()


@dataclass(frozen=True, slots=True)
class EdfLine:
    name: str
    n_trials: int
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EdfData:
    """One EDF line for all COMPLETE trials with a finite objective, and one for the latest
    :data:`LATEST_FRACTION` of them (by trial number) once there are enough."""

    direction: str
    target_name: str
    lines: list[EdfLine] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.lines or not self.lines[0].x


def edf_data(
    trials: Sequence[FrozenTrial],
    direction: Direction | Sequence[Direction] = "minimize",
    *,
    target_index: int = 0,
    target_name: str | None = None,
) -> EdfData:
    """EDF lines of objective ``target_index`` (infeasible trials included: their value is
    still an outcome of the search)."""
    target = target_rows(trials, direction, target_index=target_index, target_name=target_name)
    values = target.values
    lines = [EdfLine("All trials", len(values), *edf_steps(values))] if values else []
    if len(values) >= MIN_FOR_LATEST:
        order = np.argsort(np.array(target.numbers), kind="stable")
        k = max(1, round(len(values) * LATEST_FRACTION))
        latest = floats(values)[order[-k:]].tolist()
        lines.append(EdfLine(f"Latest {LATEST_FRACTION:.0%}", k, *edf_steps(latest)))
    return EdfData(target.direction, target.target_name, lines)


def edf_figure(data: EdfData, *, theme: str = "light") -> go.Figure:
    """Step lines ``edf-all`` and ``edf-latest`` (both always present, possibly empty)."""
    colors = {"all": STATE_COLORS["COMPLETE"], "latest": BEST_COLOR}
    by_part = {"all": data.lines[0] if data.lines else None}
    by_part["latest"] = data.lines[1] if len(data.lines) > 1 else None
    traces = []
    for part, line in by_part.items():
        name = line.name if line else ("All trials" if part == "all" else "Latest trials")
        traces.append(
            go.Scatter(
                uid=f"{NAME}-{part}",
                name=f"{name} ({line.n_trials})" if line else name,
                x=floats(line.x if line else []),
                y=floats(line.y if line else []),
                mode="lines",
                line={"shape": "hv", "width": 2, "color": colors[part]},
                hovertemplate=f"{data.target_name} \u2264 %{{x:.6g}}: %{{y:.1%}} of trials"
                "<extra>" + name + "</extra>",
                showlegend=line is not None,
            )
        )
    fig = new_figure(
        NAME,
        TITLE,
        traces,
        xtitle=data.target_name + dir_suffix(data.direction),
        ytitle="Fraction of trials",
        theme=theme,
    )
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    if data.is_empty:
        mark_empty(fig, EMPTY_MESSAGE)
    return fig
