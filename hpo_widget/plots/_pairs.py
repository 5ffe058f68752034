"""What the two pair figures (contour and rank) share: where a trial's point goes on a panel
and how the figure says that only the top parameters are paired."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ._common import EMPTY_MESSAGE, floats, mark_empty
from ._params import ParamColumn, ParamFigureData
from .slice import jitter

__all__ = ["caption_pairs", "point_coords"]


def point_coords(
    col: ParamColumn, rows: Sequence[int] | np.ndarray, numbers: np.ndarray
) -> np.ndarray:
    """``col``'s values at ``rows``; categorical ones spread by the trials' jitter."""
    v = floats([col.values[i] for i in rows])
    return v + jitter(numbers) if col.kind == "categorical" else v


def caption_pairs(fig: go.Figure, data: ParamFigureData, n_pairs: int, too_few: str) -> go.Figure:
    """Subtitle a figure that pairs only some parameters; mark one with nothing to draw."""
    if n_pairs and data.n_params > len(data.params):
        what = "most important" if data.ranked else "first"
        n = len(data.params)
        fig.layout.title.subtitle.text = f"Pairs of the {what} {n} of {data.n_params} parameters"
    if data.is_empty:
        mark_empty(fig, too_few if data.numbers else EMPTY_MESSAGE)
    return fig
