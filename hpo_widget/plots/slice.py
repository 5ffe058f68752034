"""Slice plot: the objective against each parameter on its own, one small panel per parameter.

The first figure to read after the history: it shows where on each axis the good trials are
and whether the sampler has concentrated there (points coloured by trial number, later trials
darker).  Parameters come most important first when importances are known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Unpack

import numpy as np
import plotly.graph_objects as go
from optuna.trial import FrozenTrial

from ._common import EMPTY_MESSAGE, MUTED, Direction, floats, ints, mark_empty, new_figure, objects
from ._grid import anchored, grid, grid_height, param_axis
from ._params import ParamChoice, ParamColumn, ParamFigureData, select_params

__all__ = ["NAME", "TITLE", "SliceData", "jitter", "slice_data", "slice_figure"]

NAME = "slice"
TITLE = "Slice plot"

#: Panels per row, and the most panels drawn (most important first).
COLUMNS = 4
MAX_PARAMS = 12
#: Above this many points per panel, WebGL markers: SVG stalls the browser at 10k x 12.
GL_POINTS = 1500
_JITTER = 0.3


@dataclass(frozen=True, slots=True)
class SliceData(ParamFigureData):
    """COMPLETE trials with a finite objective, their objective and one
    :class:`~hpo_widget.plots._params.ParamColumn` per panel."""


def slice_data(
    trials: Sequence[FrozenTrial],
    direction: Direction | Sequence[Direction] = "minimize",
    *,
    max_params: int = MAX_PARAMS,
    **choice: Unpack[ParamChoice],
) -> SliceData:
    """One column per parameter over COMPLETE trials with a finite objective; at most
    ``max_params`` panels.  ``choice`` as for :func:`hpo_widget.plots._params.select_params`
    (the objective, its label, which parameters and in what order)."""
    selected = select_params(trials, direction, max_params=max_params, **choice)
    return SliceData(**selected.shared())


def jitter(numbers: np.ndarray) -> np.ndarray:
    """A small offset per trial in [-0.15, 0.15) that depends only on the trial number, so a
    categorical panel spreads its points and a redraw puts each point where it was.

    The golden-ratio (Weyl) sequence spreads consecutive trial numbers evenly and gives
    distinct numbers distinct offsets, unlike a random draw or a modular hash."""
    frac = np.modf(numbers.astype(float) * 0.6180339887498949)[0]
    return (frac - 0.5) * _JITTER


def _panel_traces(
    i: int, col: ParamColumn, data: SliceData, axes: dict[str, str], gl: bool
) -> list[Any]:
    values = floats(col.values)  # inactive (None) becomes NaN
    idx = np.flatnonzero(~np.isnan(values))
    numbers = ints(data.numbers)[idx]
    x = values[idx]
    y = floats(data.objective)[idx]
    ok = np.array(data.feasible, dtype=bool)[idx] if len(idx) else np.empty(0, dtype=bool)
    extra: dict[str, Any] = {}
    if col.kind == "categorical":
        x = x + jitter(numbers)
        labels = np.array(col.labels, dtype=object)
        extra["text"] = objects(list(labels[x.round().astype(int)])) if len(x) else objects([])
        xfmt = "%{text}"
    else:
        xfmt = "%{x:.4g}"
    hover = f"Trial %{{customdata}}<br>{col.name} {xfmt}<br>{data.target_name} %{{y:.6g}}<extra></extra>"
    scatter = go.Scattergl if gl else go.Scatter
    out = []
    for part, sel in (("p", ok), ("infeasible", ~ok)):
        marker: dict[str, Any] = {"size": 5, "opacity": 0.8}
        if part == "p":
            marker.update(color=numbers[sel], coloraxis="coloraxis")
        else:
            marker.update(color=MUTED)
        out.append(
            scatter(
                uid=f"{NAME}-{part}{i}",
                name=col.name if part == "p" else "Infeasible",
                x=x[sel],
                y=y[sel],
                customdata=numbers[sel],
                mode="markers",
                marker=marker,
                hovertemplate=hover,
                showlegend=part == "infeasible" and i == 0 and bool((~ok).any()),
                **{k: v[sel] for k, v in extra.items()},
                **axes,
            )
        )
    return out


def slice_figure(data: SliceData, *, theme: str = "light") -> go.Figure:
    """A panel per parameter, objective on y (shared), points coloured by trial number.

    Traces ``slice-p<i>`` (feasible) and ``slice-infeasible<i>`` per panel ``i``; log
    parameters on log axes, categorical ones at their choice index with labelled ticks and a
    per-trial jitter.
    """
    n = len(data.params)
    panels = grid(max(n, 1), COLUMNS)
    gl = len(data.numbers) > GL_POINTS
    traces: list[Any] = []
    layout: dict[str, Any] = {}
    for panel, col in zip(panels, data.params, strict=False):
        axes = {"xaxis": panel.x, "yaxis": panel.y}
        traces += _panel_traces(panel.index, col, data, axes, gl)
        yaxis: dict[str, Any] = {"title": {"text": data.target_name if panel.col == 0 else ""}}
        if panel.index:
            yaxis.update(matches="y", showticklabels=panel.col == 0)
        layout.update(anchored(panel, param_axis(col), yaxis))
    if not traces:  # empty state: one empty trace keeps the figure's shape simple
        traces.append(go.Scatter(uid=f"{NAME}-p0", name="", x=[], y=[], mode="markers"))
        layout.update(anchored(panels[0], {}, {"title": {"text": data.target_name}}))
    rows = panels[-1].row + 1
    fig = new_figure(
        NAME,
        TITLE,
        traces,
        theme=theme,
        height=grid_height(rows),
        showlegend=any(t.showlegend for t in traces),
        coloraxis={
            "colorscale": "Blues",
            "colorbar": {"title": {"text": "Trial"}, "thickness": 12},
        },
        **layout,
    )
    if data.n_params > n > 0:
        what = "most important" if data.ranked else "first"
        fig.layout.title.subtitle.text = f"The {what} {n} of {data.n_params} parameters"
    if data.is_empty:
        mark_empty(fig, "No parameters to show" if data.numbers else EMPTY_MESSAGE)
    return fig
