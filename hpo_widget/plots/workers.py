"""Trials per worker: how the work spread over the cluster, and where it failed.

Built from the timeline's data (:func:`hpo_widget.plots.timeline.timeline_data`): the registry
gives both kinds the same data function, so a caller that shows both extracts it once.
"""

from __future__ import annotations

import plotly.graph_objects as go

from ._common import DISPLAY_STATES, STATE_COLORS, mark_empty, new_figure, worker_rows_height
from .timeline import EMPTY_TIMELINE, TimelineData

__all__ = ["NAME", "TITLE", "worker_counts_figure"]

NAME = "worker_counts"
TITLE = "Trials per worker"


def worker_counts_figure(data: TimelineData, *, theme: str = "light") -> go.Figure:
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
    fig = new_figure(
        NAME,
        TITLE,
        traces,
        xtitle="Trials",
        ytitle="Worker",
        barmode="stack",
        legend={"traceorder": "normal"},  # plotly reverses stacked bars' legend by default
        height=worker_rows_height(len(workers)),
        theme=theme,
    )
    fig.update_yaxes(
        type="category", categoryorder="array", categoryarray=workers, autorange="reversed"
    )
    if data.is_empty:
        mark_empty(fig, EMPTY_TIMELINE)
    return fig
