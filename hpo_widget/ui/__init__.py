"""The notebook panel (the only part of hpo_widget that imports ipywidgets).

Example::

    from hpo_widget.ui import Panel
    Panel(objective, space=space, storage="memory")   # last line of a cell: shows the panel
"""

from __future__ import annotations

from .best_trial import BestTrialCard
from .live_figure import LiveFigure
from .panel import Panel, close_all, live_panels
from .settings import Settings
from .space_form import SpaceForm
from .trials_table import TrialsTable

__all__ = [
    "BestTrialCard",
    "LiveFigure",
    "Panel",
    "Settings",
    "SpaceForm",
    "TrialsTable",
    "close_all",
    "live_panels",
]
