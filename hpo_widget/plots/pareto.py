"""Pareto front of a multi-objective study: the trade-offs no other trial beats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from .._optuna_compat import pareto_front
from ._common import (
    EMPTY_MESSAGE,
    MUTED,
    STATE_COLORS,
    Direction,
    dir_suffix,
    direction_names,
    floats,
    ints,
    is_constrained,
    is_feasible,
    mark_empty,
    new_figure,
    sorted_by_number,
    to_study_direction,
)

__all__ = ["NAME", "TITLE", "ParetoData", "pareto_data", "pareto_figure"]

NAME = "pareto"
TITLE = "Pareto front"


@dataclass(frozen=True, slots=True)
class ParetoData:
    """COMPLETE trials split into the Pareto front, dominated and infeasible ones.

    ``*_values`` hold one list per objective (columns), aligned with ``*_numbers``. The front is
    sorted by its first objective so it can be drawn as a line.
    """

    directions: list[str]
    objective_names: list[str]
    front_numbers: list[int] = field(default_factory=list)
    front_values: list[list[float]] = field(default_factory=list)
    dominated_numbers: list[int] = field(default_factory=list)
    dominated_values: list[list[float]] = field(default_factory=list)
    infeasible_numbers: list[int] = field(default_factory=list)
    infeasible_values: list[list[float]] = field(default_factory=list)

    @property
    def n_objectives(self) -> int:
        return len(self.directions)

    @property
    def is_empty(self) -> bool:
        return not (self.front_numbers or self.dominated_numbers or self.infeasible_numbers)


def pareto_data(
    trials: Sequence[FrozenTrial],
    directions: Sequence[Direction],
    *,
    objective_names: Sequence[str] | None = None,
) -> ParetoData:
    """Pareto front of COMPLETE trials, like :attr:`optuna.study.Study.best_trials`.

    As in Optuna, when any trial carries constraints, only feasible trials can be on the front;
    infeasible ones are returned separately.
    """
    dirs = direction_names(directions)
    n_obj = len(dirs)
    names = list(objective_names) if objective_names else [f"Objective {i}" for i in range(n_obj)]
    complete = [
        t
        for t in sorted_by_number(trials)
        if t.state == TrialState.COMPLETE and t.values is not None and len(t.values) == n_obj
    ]
    constrained = is_constrained(complete)
    feasible = [t for t in complete if is_feasible(t.system_attrs)] if constrained else complete
    infeasible = [t for t in complete if not is_feasible(t.system_attrs)] if constrained else []

    front_ids = {id(t) for t in pareto_front(feasible, [to_study_direction(d) for d in dirs])}
    front = sorted(
        (t for t in feasible if id(t) in front_ids), key=lambda t: (t.values[0], t.number)
    )
    dominated = [t for t in feasible if id(t) not in front_ids]

    def columns(ts: list[FrozenTrial]) -> list[list[float]]:
        return [[float(t.values[i]) for t in ts] for i in range(n_obj)]

    return ParetoData(
        dirs,
        names,
        [t.number for t in front],
        columns(front),
        [t.number for t in dominated],
        columns(dominated),
        [t.number for t in infeasible],
        columns(infeasible),
    )


def pareto_figure(
    data: ParetoData, *, axes: Sequence[int] | None = None, theme: str = "light"
) -> go.Figure:
    """Pareto front (``pareto-front``), dominated (``pareto-dominated``) and infeasible
    (``pareto-infeasible``) trials; 3-D for three objectives, else 2-D over ``axes``
    (default the first two objectives).
    """
    n_obj = data.n_objectives
    if axes is None:
        axes = (0, 1, 2) if n_obj == 3 else (0, 1)
    axes = [a for a in axes if 0 <= a < n_obj]
    three_d = len(axes) == 3

    def label(i: int) -> str:
        return data.objective_names[i] + dir_suffix(data.directions[i])

    def coords(numbers: list[int], cols: list[list[float]]) -> dict[str, Any]:
        if len(axes) < 2:  # Single objective: plot against trial number.
            return {"x": ints(numbers), "y": floats(cols[axes[0]] if axes else [])}
        out: dict[str, Any] = {"x": floats(cols[axes[0]]), "y": floats(cols[axes[1]])}
        if three_d:
            out["z"] = floats(cols[axes[2]])
        return out

    hover = "Trial %{customdata}<br>%{x:.6g}, %{y:.6g}" + (", %{z:.6g}" if three_d else "")
    parts = [
        ("front", "Pareto front", data.front_numbers, data.front_values, STATE_COLORS["COMPLETE"]),
        ("dominated", "Dominated", data.dominated_numbers, data.dominated_values, MUTED),
        ("infeasible", "Infeasible", data.infeasible_numbers, data.infeasible_values, "#d1d5db"),
    ]
    traces: list[Any] = []
    for part, name, numbers, cols, color in parts:
        common: dict[str, Any] = {
            "uid": f"pareto-{part}",
            "name": name,
            "customdata": ints(numbers),
            "hovertemplate": hover + "<extra>" + name + "</extra>",
            "showlegend": bool(numbers) or part != "infeasible",
            **coords(numbers, cols),
        }
        if three_d:
            traces.append(
                go.Scatter3d(mode="markers", marker={"color": color, "size": 4}, **common)
            )
        else:
            front = part == "front"
            traces.append(
                go.Scatter(
                    mode="lines+markers" if front and len(axes) == 2 else "markers",
                    marker={"color": color, "size": 8 if front else 6},
                    line={"color": color, "shape": "hv", "width": 1},
                    **common,
                )
            )
    if three_d:
        scene = {
            axis: {"title": {"text": label(i)}}
            for axis, i in zip(("xaxis", "yaxis", "zaxis"), axes, strict=True)
        }
        fig = new_figure(NAME, TITLE, traces, scene=scene, theme=theme)
    elif len(axes) == 2:
        fig = new_figure(
            NAME, TITLE, traces, xtitle=label(axes[0]), ytitle=label(axes[1]), theme=theme
        )
    else:
        ytitle = label(axes[0]) if axes else ""
        fig = new_figure(NAME, TITLE, traces, xtitle="Trial", ytitle=ytitle, theme=theme)
    if data.is_empty:
        mark_empty(fig, EMPTY_MESSAGE)
    return fig
