"""Plotly figure builders for the dataclasses of :mod:`hpo_widget.plots.data`.

Each builder returns a fresh :class:`plotly.graph_objects.Figure` with:

* the package template (:func:`template`), a title from :data:`TITLES` and axis labels;
* a fixed set of traces whose ``uid`` is ``"<kind>-<part>"`` (for example ``"history-best"``
  or ``"timeline-COMPLETE"``), present even when empty, so an incremental updater can find a
  trace by ``uid`` and replace or extend its arrays without rebuilding the figure (uids use
  only ``[A-Za-z0-9_-]``: plotly.js builds CSS selectors from them, and a ``:`` broke the
  parallel-coordinates colorbar in Chromium);
* ``layout.meta == {"kind": <kind>, "empty": <bool>}``;
* when there is nothing to draw, an annotation named :data:`EMPTY_ANNOTATION` carrying a
  message such as :data:`EMPTY_MESSAGE` instead of an error.

No widgets are created here; a UI may wrap these figures in a ``FigureWidget``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from optuna.study import Study

from .data import (
    DISPLAY_STATES,
    HistoryData,
    ImportanceData,
    IntermediateData,
    ParallelCoordinatesData,
    ParetoData,
    TimelineData,
    history_data,
    importance_data,
    intermediate_data,
    parallel_coordinates_data,
    pareto_data,
    timeline_data,
)

__all__ = [
    "EMPTY_ANNOTATION",
    "EMPTY_MESSAGE",
    "STATE_COLORS",
    "TITLES",
    "figures_for_study",
    "history_figure",
    "importance_figure",
    "intermediate_figure",
    "parallel_coordinates_figure",
    "pareto_figure",
    "template",
    "timeline_figure",
    "worker_counts_figure",
]

#: Default empty-state message.
EMPTY_MESSAGE = "No completed trials yet"
#: ``name`` of the empty-state annotation (an updater removes it once data arrives).
EMPTY_ANNOTATION = "empty-state"

#: Figure titles by kind; :func:`figures_for_study` uses the same keys.
TITLES: dict[str, str] = {
    "history": "Optimization history",
    "pareto": "Pareto front",
    "importance": "Hyperparameter importance",
    "parallel_coordinates": "Parallel coordinates",
    "intermediate": "Intermediate values",
    "timeline": "Trial timeline by worker",
    "worker_counts": "Trials per worker",
}

#: One colour per display state, shared by all figures.
STATE_COLORS: dict[str, str] = {
    "COMPLETE": "#2563eb",
    "PRUNED": "#f59e0b",
    "FAIL": "#dc2626",
    "LOST": "#7c3aed",
    "RUNNING": "#16a34a",
    "WAITING": "#9ca3af",
}

_BEST_COLOR = "#e11d48"
_MUTED = "#94a3b8"
_EVALUATOR_LABELS = {
    "PedAnovaImportanceEvaluator": "PED-ANOVA",
    "FanovaImportanceEvaluator": "fANOVA",
    "MeanDecreaseImpurityImportanceEvaluator": "MDI",
}
_MISSING_LABEL = "(inactive)"


_AXIS: dict[str, Any] = {
    "gridcolor": "#e5e7eb",
    "linecolor": "#cbd5e1",
    "zerolinecolor": "#e5e7eb",
    "ticks": "",
    "automargin": True,
    "title": {"standoff": 12},
}
_SCENE_AXIS: dict[str, Any] = {
    "backgroundcolor": "white",
    "gridcolor": "#e5e7eb",
    "linecolor": "#cbd5e1",
    "showbackground": True,
    "zerolinecolor": "#e5e7eb",
}


@functools.cache
def template() -> go.layout.Template:
    """The package's clean template: white background, light grid, compact margins.

    Deliberately small (layout only) because every figure carries a copy of its template and
    building a figure copies it: the full ``plotly_white`` costs ~15-30 ms per figure.
    """
    return go.layout.Template(
        layout={
            "font": {"family": "Inter, Segoe UI, Helvetica, Arial, sans-serif", "size": 13},
            "title": {"x": 0.01, "xanchor": "left", "font": {"size": 16}},
            "paper_bgcolor": "white",
            "plot_bgcolor": "white",
            "colorway": ["#2563eb", "#f59e0b", "#16a34a", "#dc2626", "#7c3aed", "#0891b2"],
            "margin": {"l": 60, "r": 24, "t": 56, "b": 48},
            "hovermode": "closest",
            "hoverlabel": {"align": "left"},
            "legend": {
                "orientation": "h",
                "yanchor": "bottom",
                "y": 1.0,
                "xanchor": "right",
                "x": 1.0,
            },
            "xaxis": _AXIS,
            "yaxis": _AXIS,
            "scene": {"xaxis": _SCENE_AXIS, "yaxis": _SCENE_AXIS, "zaxis": _SCENE_AXIS},
        }
    )


def _figure(
    kind: str, traces: Sequence[Any], *, xtitle: str = "", ytitle: str = "", **layout: Any
) -> go.Figure:
    fig = go.Figure(
        data=list(traces),
        layout={
            "template": template(),
            "title": {"text": TITLES[kind]},
            "xaxis": {"title": {"text": xtitle}},
            "yaxis": {"title": {"text": ytitle}},
            "meta": {"kind": kind, "empty": False},
            **layout,
        },
    )
    return fig


def _mark_empty(fig: go.Figure, message: str) -> go.Figure:
    fig.add_annotation(
        name=EMPTY_ANNOTATION,
        text=message,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 15, "color": "#6b7280"},
    )
    fig.layout.meta = {**(fig.layout.meta or {}), "empty": True}
    return fig


# Plotly validates Python lists element by element (~10 ms per 10k values) but copies numpy
# arrays in one go, and serializes them as compact typed arrays; builders hand it numpy.
def _floats(values: Sequence[float | None]) -> np.ndarray:
    """Float array; ``None`` and non-finite values become NaN (a gap / no point in plotly)."""
    arr = np.array(values, dtype=float) if len(values) else np.empty(0, dtype=float)
    if arr.size:
        arr[~np.isfinite(arr)] = np.nan
    return arr


def _ints(values: Sequence[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64) if len(values) else np.empty(0, dtype=np.int64)


def _objects(values: Sequence[Any]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def _dir_suffix(direction: str) -> str:
    return " (max)" if direction == "maximize" else " (min)"


def _truncate(label: str, n: int = 24) -> str:
    return label if len(label) <= n else label[: n - 1] + "\u2026"


# --------------------------------------------------------------------------------------------


def history_figure(data: HistoryData) -> go.Figure:
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
    x_ok_arr = _ints(x_ok)
    traces = [
        go.Scatter(
            uid="history-values",
            name=data.target_name,
            x=x_ok_arr,
            y=_floats(y_ok),
            mode="markers",
            marker={"color": STATE_COLORS["COMPLETE"], "size": 6, "opacity": 0.75},
            hovertemplate=hover,
        ),
        go.Scatter(
            uid="history-infeasible",
            name="Infeasible",
            x=_ints(x_bad),
            y=_floats(y_bad),
            mode="markers",
            marker={"color": _MUTED, "size": 6},
            hovertemplate=hover,
            showlegend=bool(x_bad),
        ),
        go.Scatter(
            uid="history-best",
            name="Best value" + _dir_suffix(data.direction),
            x=x_ok_arr,
            y=_floats(y_best),
            mode="lines",
            line={"color": _BEST_COLOR, "width": 2, "shape": "hv"},
            hovertemplate="Trial %{x}<br>Best %{y:.6g}<extra></extra>",
        ),
    ]
    fig = _figure("history", traces, xtitle="Trial", ytitle=data.target_name)
    if not (x_ok or x_bad):
        _mark_empty(fig, EMPTY_MESSAGE)
    return fig


def importance_figure(data: ImportanceData) -> go.Figure:
    """Horizontal bars, most important parameter on top. Trace: ``importance-bars``."""
    params = list(reversed(data.params))
    values = list(reversed(data.importances))
    evaluator = _EVALUATOR_LABELS.get(data.evaluator, data.evaluator)
    xtitle = f"Importance for {data.target_name}" + (f" ({evaluator})" if evaluator else "")
    traces = [
        go.Bar(
            uid="importance-bars",
            name="Importance",
            x=values,
            y=params,
            orientation="h",
            text=[f"{v:.2f}" for v in values],
            textposition="outside",
            cliponaxis=False,
            marker={"color": STATE_COLORS["COMPLETE"]},
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    ]
    fig = _figure(
        "importance",
        traces,
        xtitle=xtitle,
        ytitle="Parameter",
        showlegend=False,
    )
    fig.update_xaxes(rangemode="tozero")
    if data.is_empty:
        _mark_empty(fig, data.message or EMPTY_MESSAGE)
    return fig


def _linear_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = (hi - lo) / (n - 1)
    return [lo + i * step for i in range(n)]


def _parcoords_dimension(
    label: str,
    values: Sequence[float | None],
    *,
    tickvals: Sequence[float] = (),
    ticktext: Sequence[str] = (),
) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    dim: dict[str, Any] = {"label": _truncate(label)}
    if not present:
        dim.update(values=np.zeros(len(values)), range=[0.0, 1.0])
        return dim
    lo, hi = min(present), max(present)
    if tickvals:
        lo, hi = min(lo, min(tickvals)), max(hi, max(tickvals))
    has_missing = len(present) != len(values)
    if not has_missing:
        dim.update(values=_floats(values), range=[lo, hi])
        if tickvals:
            dim.update(tickvals=list(tickvals), ticktext=list(ticktext))
        return dim
    # Inactive (conditional) parameters are drawn on a labelled sentinel below the range.
    span = hi - lo
    sentinel = lo - (0.15 * span if span > 0 else 1.0)
    if not tickvals:
        tickvals = _linear_ticks(lo, hi)
        ticktext = [f"{v:.3g}" for v in tickvals]
    arr = _floats(values)
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
    dims = [_parcoords_dimension(data.target_name, data.objective)]
    for axis in data.axes:
        label = axis.name + (" (log)" if axis.kind == "log" else "")
        dims.append(
            _parcoords_dimension(label, axis.values, tickvals=axis.tickvals, ticktext=axis.ticktext)
        )
    trace = go.Parcoords(
        uid="parallel_coordinates-lines",
        name="Trials",
        dimensions=dims if not data.is_empty else [],
        line={
            "color": _floats(data.objective),
            "colorscale": "Blues",
            "reversescale": data.direction == "minimize",
            "showscale": not data.is_empty,
            "colorbar": {"title": {"text": _truncate(data.target_name, 16)}},
        },
        labelangle=-20,
    )
    # The colorbar lives in the right margin; leave it room so it does not cover the last axis.
    fig = _figure("parallel_coordinates", [trace], margin={"l": 70, "r": 130, "t": 96, "b": 40})
    if data.is_empty:
        _mark_empty(fig, EMPTY_MESSAGE)
    return fig


def intermediate_figure(data: IntermediateData, *, target_name: str = "Value") -> go.Figure:
    """Learning curves, one trace per state (``intermediate-<STATE>``), trials split by gaps.

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
    mode = "lines+markers" if n_points <= 2000 else "lines"
    traces = [
        go.Scatter(
            uid=f"intermediate-{state}",
            name=state.capitalize(),
            x=_floats(xs),
            y=_floats(ys),
            customdata=_floats(cs),
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
    fig = _figure("intermediate", traces, xtitle="Step", ytitle=target_name)
    if data.is_empty:
        _mark_empty(fig, "No intermediate values reported yet")
    return fig


def pareto_figure(data: ParetoData, *, axes: Sequence[int] | None = None) -> go.Figure:
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
        return data.objective_names[i] + _dir_suffix(data.directions[i])

    def coords(numbers: list[int], cols: list[list[float]]) -> dict[str, Any]:
        if len(axes) < 2:  # Single objective: plot against trial number.
            return {"x": _ints(numbers), "y": _floats(cols[axes[0]] if axes else [])}
        out: dict[str, Any] = {"x": _floats(cols[axes[0]]), "y": _floats(cols[axes[1]])}
        if three_d:
            out["z"] = _floats(cols[axes[2]])
        return out

    hover = "Trial %{customdata}<br>%{x:.6g}, %{y:.6g}" + (", %{z:.6g}" if three_d else "")
    parts = [
        ("front", "Pareto front", data.front_numbers, data.front_values, STATE_COLORS["COMPLETE"]),
        ("dominated", "Dominated", data.dominated_numbers, data.dominated_values, _MUTED),
        ("infeasible", "Infeasible", data.infeasible_numbers, data.infeasible_values, "#d1d5db"),
    ]
    traces: list[Any] = []
    for part, name, numbers, cols, color in parts:
        common: dict[str, Any] = {
            "uid": f"pareto-{part}",
            "name": name,
            "customdata": _ints(numbers),
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
        fig = _figure(
            "pareto",
            traces,
            scene={
                "xaxis": {"title": {"text": label(axes[0])}},
                "yaxis": {"title": {"text": label(axes[1])}},
                "zaxis": {"title": {"text": label(axes[2])}},
            },
        )
    elif len(axes) == 2:
        fig = _figure("pareto", traces, xtitle=label(axes[0]), ytitle=label(axes[1]))
    else:
        fig = _figure("pareto", traces, xtitle="Trial", ytitle=label(axes[0]) if axes else "")
    if data.is_empty:
        _mark_empty(fig, EMPTY_MESSAGE)
    return fig


def timeline_figure(data: TimelineData, *, min_bar: float | None = None) -> go.Figure:
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
    numbers = _ints(data.numbers)
    rows = _ints([row[w] for w in data.worker])
    starts = _floats(data.starts)
    durations = _floats(data.ends) - starts
    traces = []
    for state, idx in groups.items():
        sel = _ints(idx)
        extra: dict[str, Any] = {}
        hover = (
            "Trial %{customdata[0]}<br>Start %{customdata[1]:.2f} s, took %{customdata[2]:.2f} s"
        )
        if state in ("FAIL", "LOST"):
            extra["hovertext"] = _objects([data.fail_reasons[i] or "" for i in idx])
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
    height = max(320, min(900, 140 + 26 * len(data.workers)))
    fig = _figure(
        "timeline",
        traces,
        xtitle="Seconds since the first trial started",
        ytitle="Worker",
        barmode="overlay",
        height=height,
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
        _mark_empty(fig, "No trials yet")
    return fig


def worker_counts_figure(data: TimelineData) -> go.Figure:
    """Stacked horizontal bars: trials per worker and state (``worker_counts-<STATE>``)."""
    workers = list(data.workers)
    traces = []
    for state in DISPLAY_STATES:
        counts = [data.counts.get(w, {}).get(state, 0) for w in workers]
        traces.append(
            go.Bar(
                uid=f"worker_counts-{state}",
                name=state.capitalize(),
                orientation="h",
                y=workers,
                x=counts,
                marker={"color": STATE_COLORS[state]},
                hovertemplate="%{y}: %{x}<extra>" + state.capitalize() + "</extra>",
                showlegend=any(counts),
            )
        )
    height = max(320, min(900, 140 + 26 * len(workers)))
    fig = _figure(
        "worker_counts",
        traces,
        xtitle="Trials",
        ytitle="Worker",
        barmode="stack",
        legend={"traceorder": "normal"},  # plotly reverses stacked bars' legend by default
        height=height,
    )
    fig.update_yaxes(
        type="category", categoryorder="array", categoryarray=workers, autorange="reversed"
    )
    if data.is_empty:
        _mark_empty(fig, "No trials yet")
    return fig


# --------------------------------------------------------------------------------------------


def figures_for_study(
    study: Study,
    *,
    default_worker: str = "unknown",
    now: float | None = None,
    importance: bool = True,
) -> dict[str, go.Figure]:
    """All figures for ``study``, keyed like :data:`TITLES`.

    Single-objective studies get ``"history"``, multi-objective ones ``"pareto"`` instead. Every
    other key is always present (possibly in its empty state). ``importance=False`` skips the
    importance computation (the slowest part) and returns its empty figure.
    """
    trials = study.get_trials(deepcopy=False)
    directions = list(study.directions)
    names = study.metric_names
    multi = len(directions) > 1
    figs: dict[str, go.Figure] = {}
    if multi:
        figs["pareto"] = pareto_figure(pareto_data(trials, directions, objective_names=names))
    else:
        target = names[0] if names else None
        figs["history"] = history_figure(history_data(trials, directions, target_name=target))
    if importance:
        imp = importance_data(study)
    else:
        imp = ImportanceData(message="Importances not computed.")
    figs["importance"] = importance_figure(imp)
    pc_name = names[0] if names else None
    figs["parallel_coordinates"] = parallel_coordinates_figure(
        parallel_coordinates_data(trials, direction=directions, target_name=pc_name)
    )
    figs["intermediate"] = intermediate_figure(intermediate_data(trials))
    tl = timeline_data(trials, default_worker=default_worker, now=now)
    figs["timeline"] = timeline_figure(tl)
    figs["worker_counts"] = worker_counts_figure(tl)
    return figs
