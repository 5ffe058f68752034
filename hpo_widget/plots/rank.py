"""Rank plot: trials over pairs of the top parameters, coloured by how their objective ranks.

Like the contour plot it shows where in a pair's plane the good trials are, but without any
interpolation: every point is a trial and its colour is its rank (best blue, worst red), so an
outlier objective value cannot wash out the colour scale the way it does on a value scale.
Pairs and parameter order are the contour plot's (importances when known).
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
from ._params import ParamChoice, ParamFigureData, pairs_of, select_params
from .slice import GL_POINTS

__all__ = ["NAME", "TITLE", "RankData", "rank_data", "rank_figure", "rank_fractions"]

NAME = "rank"
TITLE = "Rank plot"
MAX_PARAMS = 3
TOO_FEW_PARAMS = "Rank plots need trials with two or more parameters"
#: Colour-bar ticks: best, quartiles, worst.
_TICK_RANKS = (0.0, 0.25, 0.5, 0.75, 1.0)


def rank_fractions(values: Sequence[float], maximize: bool) -> list[float]:
    """Each value's rank scaled to [0, 1], 0 the best; ties share their average rank (as in
    Optuna's rank plot). A single value ranks 0.5."""
    v = floats(values)
    n = v.size
    if n == 0:
        return []
    if n == 1:
        return [0.5]
    _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    starts = np.cumsum(counts) - counts
    frac = (starts + (counts - 1) / 2.0)[inverse] / (n - 1)
    return (1.0 - frac if maximize else frac).tolist()


@dataclass(frozen=True, slots=True)
class RankData(ParamFigureData):
    """COMPLETE trials with a finite objective, their rank and the top parameters.

    ``rank[i]`` is :func:`rank_fractions` of ``objective`` (0 best); ``pairs`` index
    ``params``; ``ticks`` maps colour-bar ranks to objective values (quantiles).
    """

    rank: list[float] = field(default_factory=list)
    pairs: list[tuple[int, int]] = field(default_factory=list)
    ticks: list[tuple[float, float]] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.pairs or not self.numbers


def rank_data(
    trials: Sequence[FrozenTrial],
    direction: Direction | Sequence[Direction] = "minimize",
    *,
    max_params: int = MAX_PARAMS,
    **choice: Unpack[ParamChoice],
) -> RankData:
    """Ranks of COMPLETE trials with a finite objective over pairs of the top ``max_params``
    parameters (``choice`` as for :func:`hpo_widget.plots._params.select_params`).  Infeasible
    trials are ranked with the others (their value is real) but drawn grey."""
    selected = select_params(trials, direction, max_params=max_params, **choice)
    maximize = selected.direction == "maximize"
    ticks: list[tuple[float, float]] = []
    if selected.objective:
        q = np.quantile(floats(selected.objective), [1 - r if maximize else r for r in _TICK_RANKS])
        ticks = [(r, float(v)) for r, v in zip(_TICK_RANKS, q, strict=True)]
    return RankData(
        **selected.shared(),
        rank=rank_fractions(selected.objective, maximize),
        pairs=pairs_of(len(selected.params)),
        ticks=ticks,
    )


def rank_figure(data: RankData, *, theme: str = "light") -> go.Figure:
    """A scatter per parameter pair coloured by rank (``rank-p<i>``; infeasible trials grey in
    ``rank-infeasible<i>``), one colour bar labelled with objective quantiles."""
    panels = grid(max(len(data.pairs), 1), 3)
    numbers = ints(data.numbers)
    rank = floats(data.rank)
    feasible = np.array(data.feasible, dtype=bool)
    scatter = go.Scattergl if len(data.numbers) > GL_POINTS else go.Scatter
    traces: list[Any] = []
    layout: dict[str, Any] = {}
    for panel, (i, j) in zip(panels, data.pairs, strict=False):
        cx, cy = data.params[i], data.params[j]
        both = ints(
            [
                k
                for k, (a, b) in enumerate(zip(cx.values, cy.values, strict=True))
                if a is not None and b is not None
            ]
        )
        # The rank rather than the value in the hover: 1-D customdata (the trial number) is
        # sent as a binary array, 2-D as nested JSON lists (0.5 s per redraw at 10k trials).
        where = f"Trial %{{customdata}}<br>{cx.name} %{{x:.4g}}<br>{cy.name} %{{y:.4g}}"
        hovers = {
            "p": f"{where}<br>{data.target_name} rank %{{marker.color:.0%}} (0% = best)",
            "infeasible": f"{where}<br>infeasible",
        }
        for part in ("p", "infeasible"):
            sel = both[feasible[both]] if part == "p" else both[~feasible[both]]
            marker: dict[str, Any] = {"size": 6, "line": {"width": 0}}
            if part == "p":
                marker.update(color=rank[sel], coloraxis="coloraxis")
            else:
                marker.update(color=MUTED)
            traces.append(
                scatter(
                    uid=f"{NAME}-{part}{panel.index}",
                    name="Trials" if part == "p" else "Infeasible",
                    x=point_coords(cx, sel, numbers[sel]),
                    y=point_coords(cy, sel, numbers[sel]),
                    customdata=numbers[sel],
                    mode="markers",
                    marker=marker,
                    hovertemplate=hovers[part] + "<extra></extra>",
                    showlegend=part == "infeasible" and panel.index == 0 and bool(sel.size),
                    xaxis=panel.x,
                    yaxis=panel.y,
                )
            )
        layout.update(anchored(panel, param_axis(cx), param_axis(cy)))
    if not traces:
        traces = [go.Scatter(uid=f"{NAME}-p0", x=[], y=[], mode="markers")]
    fig = new_figure(
        NAME,
        TITLE,
        traces,
        theme=theme,
        height=440 if len(panels) <= 3 else 760,
        showlegend=any(t.showlegend for t in traces),
        coloraxis={
            "colorscale": "RdYlBu_r",
            "cmin": 0.0,
            "cmax": 1.0,
            "colorbar": {
                "title": {"text": data.target_name},
                "thickness": 12,
                "tickvals": [r for r, _ in data.ticks],
                "ticktext": [f"{v:.4g}" for _, v in data.ticks],
            },
        },
        **layout,
    )
    return caption_pairs(fig, data, len(data.pairs), TOO_FEW_PARAMS)
