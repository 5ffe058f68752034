"""Plot data extraction and Plotly figures for Optuna studies (no widgets, no IPython).

Two steps, like Optuna's own visualization module: ``*_data`` functions turn trials into small
frozen dataclasses of plain lists (cheap enough to recompute on every refresh), and
``*_figure`` builders turn those into :class:`plotly.graph_objects.Figure` objects whose traces
have stable ``uid`` values for incremental updates. :func:`write_report` writes a standalone
offline HTML report.
"""

from __future__ import annotations

from .data import (
    DISPLAY_STATES,
    HistoryData,
    ImportanceData,
    IntermediateData,
    ParallelCoordinatesData,
    ParamAxis,
    ParetoData,
    TimelineData,
    history_data,
    importance_data,
    intermediate_data,
    parallel_coordinates_data,
    pareto_data,
    timeline_data,
)
from .figures import (
    EMPTY_ANNOTATION,
    EMPTY_MESSAGE,
    STATE_COLORS,
    TITLES,
    figures_for_study,
    history_figure,
    importance_figure,
    intermediate_figure,
    parallel_coordinates_figure,
    pareto_figure,
    template,
    timeline_figure,
    worker_counts_figure,
)
from .report import report_html, write_report

__all__ = [
    "DISPLAY_STATES",
    "EMPTY_ANNOTATION",
    "EMPTY_MESSAGE",
    "STATE_COLORS",
    "TITLES",
    "HistoryData",
    "ImportanceData",
    "IntermediateData",
    "ParallelCoordinatesData",
    "ParamAxis",
    "ParetoData",
    "TimelineData",
    "figures_for_study",
    "history_data",
    "history_figure",
    "importance_data",
    "importance_figure",
    "intermediate_data",
    "intermediate_figure",
    "parallel_coordinates_data",
    "parallel_coordinates_figure",
    "pareto_data",
    "pareto_figure",
    "report_html",
    "template",
    "timeline_data",
    "timeline_figure",
    "worker_counts_figure",
    "write_report",
]
