"""Small multiples without ``make_subplots``: axis pairs laid out on a grid by domain.

Why not ``plotly.subplots.make_subplots``: it builds a figure of its own (a template copy and
validation of every axis, ~10-20 ms) that would then be rebuilt by our ``new_figure``; the
slice, contour and rank plots only need axis domains, anchors and scales, computed here as a
plain layout dict.  Axis settings for a parameter (log, categorical ticks, ranges) also live
here so the three figures scale a parameter the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ._params import ParamColumn

__all__ = ["Panel", "anchored", "grid", "grid_height", "param_axis"]


@dataclass(frozen=True, slots=True)
class Panel:
    """One cell of the grid: trace axis ids (``"x2"``) and layout keys (``"xaxis2"``)."""

    index: int
    row: int
    col: int
    x: str
    y: str
    xdomain: tuple[float, float]
    ydomain: tuple[float, float]

    @property
    def xkey(self) -> str:
        return "xaxis" + self.x[1:]

    @property
    def ykey(self) -> str:
        return "yaxis" + self.y[1:]


def grid(n: int, cols: int, *, gap_x: float = 0.07, gap_y: float = 0.16) -> list[Panel]:
    """``n`` panels, ``cols`` per row, filled row by row from the top."""
    cols = max(1, min(cols, n))
    rows = max(1, math.ceil(n / cols))
    width = (1.0 - gap_x * (cols - 1)) / cols
    height = (1.0 - gap_y * (rows - 1)) / rows
    panels = []
    for i in range(n):
        r, c = divmod(i, cols)
        x0 = c * (width + gap_x)
        y1 = 1.0 - r * (height + gap_y)
        suffix = "" if i == 0 else str(i + 1)
        panels.append(
            Panel(
                i,
                r,
                c,
                "x" + suffix,
                "y" + suffix,
                (round(x0, 6), round(min(1.0, x0 + width), 6)),
                (round(max(0.0, y1 - height), 6), round(y1, 6)),
            )
        )
    return panels


def grid_height(rows: int, *, row_px: int = 300, extra: int = 110) -> int:
    """Figure height for ``rows`` rows of panels: bounded so 30 parameters stay scrollable."""
    return max(380, min(2400, extra + row_px * rows))


def param_axis(column: ParamColumn, title: str | None = None) -> dict[str, Any]:
    """Axis settings for a parameter: log type for log params, choice labels for categorical
    ones (drawn at their index, see :class:`~hpo_widget.plots._params.ParamColumn`)."""
    axis: dict[str, Any] = {"title": {"text": column.name if title is None else title}}
    if column.kind == "log":
        axis["type"] = "log"
    elif column.kind == "int":
        present = [v for v in column.values if v is not None]
        if present and max(present) - min(present) <= 12:
            axis["dtick"] = 1  # whole numbers only: "1.5 layers" is no tick to read
    elif column.kind == "categorical":
        n = len(column.labels)
        axis.update(
            type="linear",
            tickmode="array",
            tickvals=list(range(n)),
            ticktext=list(column.labels),
            range=[-0.5, n - 0.5] if n else None,
            zeroline=False,
        )
    return axis


def anchored(panel: Panel, xaxis: dict[str, Any], yaxis: dict[str, Any]) -> dict[str, Any]:
    """Layout entries for ``panel``'s two axes, placed on the grid and anchored to each other."""
    return {
        panel.xkey: {**xaxis, "domain": list(panel.xdomain), "anchor": panel.y},
        panel.ykey: {**yaxis, "domain": list(panel.ydomain), "anchor": panel.x},
    }
