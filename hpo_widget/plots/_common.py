"""What every figure module shares: the look, the empty state, directions, states, feasibility.

A figure module (one per figure, see :mod:`hpo_widget.plots.registry`) takes its colours,
template and empty-state marking from here, so all figures look alike and an incremental
updater can treat them alike (``layout.meta``, the :data:`EMPTY_ANNOTATION`).  Nothing here
knows about a particular figure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

import numpy as np
import plotly.graph_objects as go
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from .._tickets import is_lost
from .theme import template

__all__ = [
    "DISPLAY_STATES",
    "EMPTY_ANNOTATION",
    "EMPTY_MESSAGE",
    "STATE_COLORS",
    "Direction",
    "template",
]

#: A study direction as Optuna's enum or its lower-case name ("minimize" / "maximize").
Direction = StudyDirection | str

#: States shown on timeline / worker plots, in legend order. ``LOST`` is a FAIL trial that
#: :data:`hpo_widget._attrs.LOST` marks as failed for reasons outside the objective.
DISPLAY_STATES: tuple[str, ...] = ("COMPLETE", "PRUNED", "FAIL", "LOST", "RUNNING", "WAITING")

#: Default empty-state message.
EMPTY_MESSAGE = "No completed trials yet"
#: ``name`` of the empty-state annotation (an updater removes it once data arrives).
EMPTY_ANNOTATION = "empty-state"

#: One colour per display state, shared by all figures.
STATE_COLORS: dict[str, str] = {
    "COMPLETE": "#2563eb",
    "PRUNED": "#f59e0b",
    "FAIL": "#dc2626",
    "LOST": "#7c3aed",
    "RUNNING": "#16a34a",
    "WAITING": "#9ca3af",
}
BEST_COLOR = "#e11d48"
MUTED = "#94a3b8"

STATE_NAME: dict[TrialState, str] = {s: s.name for s in TrialState}
by_number = attrgetter("number")


# -- look ---------------------------------------------------------------------------------------
# The templates live in :mod:`hpo_widget.plots.theme`; ``template()`` is the light one.


def new_figure(
    kind: str,
    title: str,
    traces: Sequence[Any],
    *,
    xtitle: str = "",
    ytitle: str = "",
    theme: str = "light",
    **layout: Any,
) -> go.Figure:
    """A figure in the package's look whose ``layout.meta`` tells an updater what it shows.

    Builders give every trace a stable ``uid`` ``"<kind>-<part>"``, present even when empty, so
    an updater can patch traces in place; uids use only ``[A-Za-z0-9_-]`` because plotly.js
    builds CSS selectors from them (a ``:`` broke the parallel-coordinates colorbar).
    ``theme`` picks the template (:mod:`hpo_widget.plots.theme`); ``layout.meta`` says which.
    """
    return go.Figure(
        data=list(traces),
        layout={
            "template": template(theme),
            "title": {"text": title},
            "xaxis": {"title": {"text": xtitle}},
            "yaxis": {"title": {"text": ytitle}},
            "meta": {"kind": kind, "empty": False, "theme": theme},
            **layout,
        },
    )


def mark_empty(fig: go.Figure, message: str) -> go.Figure:
    """Say why there is nothing to draw, where an error or a blank plot would confuse."""
    fig.add_annotation(
        name=EMPTY_ANNOTATION,
        text=message,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 15},  # colour from the theme's annotation defaults
    )
    fig.layout.meta = {**(fig.layout.meta or {}), "empty": True}
    return fig


# Plotly validates Python lists element by element (~10 ms per 10k values) but copies numpy
# arrays in one go, and serializes them as compact typed arrays; builders hand it numpy.
def floats(values: Sequence[float | None]) -> np.ndarray:
    """Float array; ``None`` and non-finite values become NaN (a gap / no point in plotly)."""
    arr = np.array(values, dtype=float) if len(values) else np.empty(0, dtype=float)
    if arr.size:
        arr[~np.isfinite(arr)] = np.nan
    return arr


def ints(values: Sequence[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64) if len(values) else np.empty(0, dtype=np.int64)


def objects(values: Sequence[Any]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def dir_suffix(direction: str) -> str:
    return " (max)" if direction == "maximize" else " (min)"


def truncate(label: str, n: int = 24) -> str:
    return label if len(label) <= n else label[: n - 1] + "\u2026"


def worker_rows_height(n_workers: int) -> int:
    """Figure height for one bar row per worker: readable for 1 worker, bounded for 100."""
    return max(320, min(900, 140 + 26 * n_workers))


# -- directions ---------------------------------------------------------------------------------
def direction_name(direction: Direction) -> str:
    if isinstance(direction, StudyDirection):
        if direction == StudyDirection.NOT_SET:
            return "minimize"
        return direction.name.lower()
    name = str(direction).lower()
    if name not in ("minimize", "maximize"):
        raise ValueError(f"direction must be 'minimize' or 'maximize', not {direction!r}")
    return name


def direction_names(directions: Direction | Sequence[Direction]) -> list[str]:
    if isinstance(directions, (StudyDirection, str)):
        return [direction_name(directions)]
    return [direction_name(d) for d in directions]


def to_study_direction(name: str) -> StudyDirection:
    return StudyDirection.MAXIMIZE if name == "maximize" else StudyDirection.MINIMIZE


def default_target_name(n_objectives: int, target_index: int) -> str:
    return "Objective value" if n_objectives <= 1 else f"Objective {target_index}"


def chosen_objective(direction: Any, target_index: int, target_name: str | None) -> tuple[str, str]:
    """The direction and label of objective ``target_index``; ``ValueError`` for an objective
    the study does not have, so a wrong selector is an error rather than an empty figure."""
    dirs = direction_names(direction)
    if not 0 <= target_index < max(len(dirs), 1):
        raise ValueError(f"target_index {target_index} out of range for {len(dirs)} objective(s)")
    dname = dirs[target_index] if dirs else "minimize"
    return dname, default_target_name(
        len(dirs), target_index
    ) if target_name is None else target_name


# -- trials -------------------------------------------------------------------------------------
def sorted_by_number(trials: Sequence[FrozenTrial]) -> Sequence[FrozenTrial]:
    """Return ``trials`` ordered by trial number, without copying when already ordered."""
    prev = -1
    for t in trials:
        n = t.number
        if n < prev:
            return sorted(trials, key=by_number)
        prev = n
    return trials


def is_feasible(system_attrs: dict[str, Any]) -> bool:
    """Whether all constraint values Optuna stored in ``system_attrs`` are <= 0."""
    for key, value in system_attrs.items():
        if not key.startswith("constraints"):
            continue
        if key == "constraints":  # Old format: a list of values.
            if value is not None and any(c > 0.0 for c in value):
                return False
        elif key.startswith("constraints:") and value > 0.0:
            return False
    return True


def is_constrained(trials: Iterable[FrozenTrial]) -> bool:
    for t in trials:
        for key in t.system_attrs:
            if key == "constraints" or key.startswith("constraints:"):
                return True
    return False


def display_state(trial: FrozenTrial) -> str:
    """The trial's state name, ``LOST`` for a FAIL the runner marked as lost."""
    if is_lost(trial):
        return "LOST"
    return STATE_NAME[trial.state]
