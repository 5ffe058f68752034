"""Contour plot: the objective over pairs of the most important parameters.

Shows interactions a slice plot cannot (a good learning rate that depends on the batch size).
Only pairs of the top few parameters are drawn, ranked by the importances when they are known
(the registry hands them over) and in suggestion order until then: all pairs of 10 parameters
would be 45 unreadable panels.

Why binned means rather than Optuna's grid: ``optuna.visualization.plot_contour`` puts every
distinct parameter value on the grid, an n x n matrix (10k trials: 10^8 cells).  Here each axis
gets at most ``bins`` grid points (log-spaced for log parameters, one per choice for
categorical ones), each trial goes to its nearest grid point, and a cell holds the mean
objective of its feasible trials; plotly interpolates empty cells (``connectgaps``).  That is
one ``bincount`` per pair, whatever the number of trials.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Unpack

import numpy as np
import plotly.graph_objects as go
from optuna.trial import FrozenTrial

from ._common import MUTED, Direction, floats, ints, new_figure
from ._grid import anchored, grid, param_axis
from ._pairs import caption_pairs, point_coords
from ._params import ParamChoice, ParamColumn, ParamFigureData, pairs_of, select_params
from .slice import GL_POINTS
from .theme import palette

__all__ = ["NAME", "TITLE", "ContourData", "ContourGrid", "contour_data", "contour_figure"]

NAME = "contour"
TITLE = "Contour plot"
#: Parameters whose pairs are drawn by default: 3 parameters give 3 pairs.
MAX_PARAMS = 3
BINS = 20
TOO_FEW_PARAMS = "Contour plots need trials with two or more parameters"


@dataclass(frozen=True, slots=True)
class ContourGrid:
    """The binned objective of one parameter pair.

    ``x``/``y`` index :attr:`ContourData.params`; ``xs``/``ys`` are the grid points in
    parameter units (choice index for categorical axes); ``z[j][i]`` is the mean objective of
    the feasible trials nearest to ``(xs[i], ys[j])``, ``None`` where there are none.  ``z`` is
    empty when an axis has a single value (nothing to draw a surface over).  ``rows`` are
    the positions (into ``ContourData.numbers``) of the trials having both parameters.
    """

    x: int
    y: int
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    z: list[list[float | None]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ContourData(ParamFigureData):
    """COMPLETE trials with a finite objective, the top parameters and a grid per pair."""

    pairs: list[ContourGrid] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.pairs or not self.numbers


def _plot_space(col: ParamColumn, rows: np.ndarray) -> np.ndarray:
    v = floats([col.values[i] for i in rows])
    return np.log10(v) if col.kind == "log" else v


def _axis_grid(col: ParamColumn, v: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Grid points (parameter units) and each value's nearest grid index."""
    if col.kind == "categorical":
        n = max(len(col.labels), 1)
        return np.arange(n, dtype=float), v.astype(np.int64)
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        points = np.array([lo])
        index = np.zeros(v.size, dtype=np.int64)
    else:
        if col.kind == "int" and hi - lo + 1 <= bins:
            n = int(hi - lo) + 1  # one point per integer
        else:
            n = min(bins, int(np.unique(v).size))
        n = max(n, 2)
        points = np.linspace(lo, hi, n)
        index = np.rint((v - lo) / (hi - lo) * (n - 1)).astype(np.int64)
    return (10.0**points if col.kind == "log" else points), index


def _pair_grid(
    data_cols: list[ParamColumn],
    i: int,
    j: int,
    objective: np.ndarray,
    feasible: np.ndarray,
    bins: int,
) -> ContourGrid:
    cx, cy = data_cols[i], data_cols[j]
    both = np.array(
        [a is not None and b is not None for a, b in zip(cx.values, cy.values, strict=True)],
        dtype=bool,
    )
    rows = np.flatnonzero(both)
    if rows.size == 0:
        return ContourGrid(i, j)
    xs, xi = _axis_grid(cx, _plot_space(cx, rows), bins)
    ys, yi = _axis_grid(cy, _plot_space(cy, rows), bins)
    z: list[list[float | None]] = []
    if xs.size >= 2 and ys.size >= 2:
        ok = feasible[rows]
        flat = yi[ok] * xs.size + xi[ok]
        size = xs.size * ys.size
        counts = np.bincount(flat, minlength=size)
        sums = np.bincount(flat, weights=objective[rows][ok], minlength=size)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        grid2d = mean.reshape(ys.size, xs.size)
        z = [[None if np.isnan(c) else float(c) for c in row] for row in grid2d]
    return ContourGrid(i, j, [float(v) for v in xs], [float(v) for v in ys], z, rows.tolist())


def contour_data(
    trials: Sequence[FrozenTrial],
    direction: Direction | Sequence[Direction] = "minimize",
    *,
    max_params: int = MAX_PARAMS,
    bins: int = BINS,
    **choice: Unpack[ParamChoice],
) -> ContourData:
    """Binned objective over each pair of the first ``max_params`` parameters (3 gives 3
    pairs, 4 gives 6), at most ``bins`` grid points per numeric axis; ``choice`` as for
    :func:`hpo_widget.plots._params.select_params`."""
    selected = select_params(trials, direction, max_params=max_params, **choice)
    cols = selected.params
    objective = floats(selected.objective)
    feasible = np.array(selected.feasible, dtype=bool)
    pairs = [_pair_grid(cols, i, j, objective, feasible, bins) for i, j in pairs_of(len(cols))]
    return ContourData(**selected.shared(), pairs=pairs)


def contour_figure(data: ContourData, *, theme: str = "light") -> go.Figure:
    """A panel per parameter pair: the binned objective as a filled contour (``contour-z<i>``)
    under the trials themselves (``contour-points<i>``; infeasible ones grey in
    ``contour-infeasible<i>``).

    One colour axis for all panels, darkest where the objective is best; log parameters on
    log axes, categorical ones at their choice index.
    """
    pal = palette(theme)
    panels = grid(max(len(data.pairs), 1), 3)
    scatter = go.Scattergl if len(data.numbers) > GL_POINTS else go.Scatter
    numbers = ints(data.numbers)
    objective = floats(data.objective)
    traces: list[Any] = []
    layout: dict[str, Any] = {}
    for panel, pair in zip(panels, data.pairs, strict=False):
        cx, cy = data.params[pair.x], data.params[pair.y]
        axes = {"xaxis": panel.x, "yaxis": panel.y}
        z: Any = []
        if pair.z:
            z = floats([v for row in pair.z for v in row]).reshape(len(pair.z), -1)
        traces.append(
            go.Contour(
                uid=f"{NAME}-z{panel.index}",
                name=f"{cx.name} \u00d7 {cy.name}",
                x=floats(pair.xs) if pair.z else [],
                y=floats(pair.ys) if pair.z else [],
                z=z,
                connectgaps=True,
                coloraxis="coloraxis",
                contours={"coloring": "heatmap"},
                line={"width": 0.5, "color": pal.grid},
                hovertemplate=f"{cx.name} %{{x:.4g}}<br>{cy.name} %{{y:.4g}}<br>"
                f"mean {data.target_name} \u2248 %{{z:.6g}}<extra></extra>",
                **axes,
            )
        )
        rows = ints(pair.rows)
        ok = np.array(data.feasible, dtype=bool)[rows] if rows.size else np.empty(0, dtype=bool)
        x, y = (
            point_coords(cx, pair.rows, numbers[rows]),
            point_coords(cy, pair.rows, numbers[rows]),
        )
        value = f"{data.target_name} %{{marker.color:.6g}}"
        # Feasible points are coloured by their own objective on the surface's colour scale
        # (an outline sets them apart), which also puts the value in the hover without a 2-D
        # customdata: a live widget sends 2-D arrays as nested JSON lists (0.5 s at 10k).
        # Infeasible points are grey; one colour per trace, as a per-point list of colour
        # strings is validated string by string (1 s at 10k trials).
        for part, sel in (("points", ok), ("infeasible", ~ok)):
            feasible_part = part == "points"
            marker: dict[str, Any] = {"size": 5, "line": {"width": 0.6, "color": pal.outline}}
            if feasible_part:
                marker.update(color=objective[rows][sel], coloraxis="coloraxis")
            else:
                marker.update(color=MUTED, opacity=0.7)
            traces.append(
                scatter(
                    uid=f"{NAME}-{part}{panel.index}",
                    name="Trials" if feasible_part else "Infeasible",
                    x=x[sel],
                    y=y[sel],
                    customdata=numbers[rows][sel],
                    mode="markers",
                    marker=marker,
                    hovertemplate="Trial %{customdata}"
                    + (f"<br>{value}" if feasible_part else " (infeasible)")
                    + "<extra></extra>",
                    showlegend=False,
                    **axes,
                )
            )
        layout.update(anchored(panel, param_axis(cx), param_axis(cy)))
    if not traces:  # empty state, in the same shape as one pair
        traces = [
            go.Contour(uid=f"{NAME}-z0", z=[], coloraxis="coloraxis"),
            go.Scatter(uid=f"{NAME}-points0", x=[], y=[], mode="markers", showlegend=False),
            go.Scatter(uid=f"{NAME}-infeasible0", x=[], y=[], mode="markers", showlegend=False),
        ]
    fig = new_figure(
        NAME,
        TITLE,
        traces,
        theme=theme,
        height=440 if len(panels) <= 3 else 760,
        showlegend=False,
        coloraxis={
            "colorscale": "Blues",
            "reversescale": data.direction == "minimize",
            "colorbar": {"title": {"text": data.target_name}, "thickness": 12},
        },
        **layout,
    )
    return caption_pairs(fig, data, len(data.pairs), TOO_FEW_PARAMS)
