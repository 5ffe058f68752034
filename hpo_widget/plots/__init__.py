"""Plot data extraction and Plotly figures for Optuna studies (no widgets, no IPython).

Two steps, like Optuna's own visualization module: ``*_data`` functions turn trials into small
frozen dataclasses of plain lists (cheap enough to recompute on every refresh), and
``*_figure`` builders turn those into :class:`plotly.graph_objects.Figure` objects whose traces
have stable ``uid`` values for incremental updates.  Each figure is one module (its dataclass,
``*_data`` and ``*_figure``); :data:`FIGURES` in :mod:`hpo_widget.plots.registry` lists them
all for the views (live panel, report, dashboard).  :func:`write_report` writes a standalone
offline HTML report.  Builders take ``theme="light" | "dark"`` (:mod:`hpo_widget.plots.theme`).
"""

from __future__ import annotations

from ._common import (
    DISPLAY_STATES,
    EMPTY_ANNOTATION,
    EMPTY_MESSAGE,
    STATE_COLORS,
)
from .background import BackgroundData
from .contour import ContourData, ContourGrid, contour_data, contour_figure
from .edf import EdfData, EdfLine, edf_data, edf_figure
from .history import HistoryData, history_data, history_figure
from .importance import ImportanceData, importance_data, importance_figure
from .intermediate import IntermediateData, intermediate_data, intermediate_figure
from .parallel_coordinates import (
    ParallelCoordinatesData,
    ParamAxis,
    parallel_coordinates_data,
    parallel_coordinates_figure,
)
from .pareto import ParetoData, pareto_data, pareto_figure
from .rank import RankData, rank_data, rank_figure
from .registry import (
    FIGURES,
    TITLES,
    FigureKind,
    FigureOptions,
    build_figures,
    figure_kind,
    figures_for_study,
    kinds_for,
    resolve_objective,
)
from .report import report_html, write_report
from .slice import SliceData, slice_data, slice_figure
from .theme import THEMES, Theme, apply_theme, template
from .timeline import TimelineData, timeline_data, timeline_figure
from .workers import worker_counts_figure

__all__ = [
    "DISPLAY_STATES",
    "EMPTY_ANNOTATION",
    "EMPTY_MESSAGE",
    "FIGURES",
    "STATE_COLORS",
    "THEMES",
    "TITLES",
    "BackgroundData",
    "ContourData",
    "ContourGrid",
    "EdfData",
    "EdfLine",
    "FigureKind",
    "FigureOptions",
    "HistoryData",
    "ImportanceData",
    "IntermediateData",
    "ParallelCoordinatesData",
    "ParamAxis",
    "ParetoData",
    "RankData",
    "SliceData",
    "Theme",
    "TimelineData",
    "apply_theme",
    "build_figures",
    "contour_data",
    "contour_figure",
    "edf_data",
    "edf_figure",
    "figure_kind",
    "figures_for_study",
    "history_data",
    "history_figure",
    "importance_data",
    "importance_figure",
    "intermediate_data",
    "intermediate_figure",
    "kinds_for",
    "parallel_coordinates_data",
    "parallel_coordinates_figure",
    "pareto_data",
    "pareto_figure",
    "rank_data",
    "rank_figure",
    "report_html",
    "resolve_objective",
    "slice_data",
    "slice_figure",
    "template",
    "timeline_data",
    "timeline_figure",
    "worker_counts_figure",
    "write_report",
]
