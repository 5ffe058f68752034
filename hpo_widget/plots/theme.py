"""Light and dark looks for every figure: one small template per theme, and a way to switch.

Why here and not in a view: the live panel, the HTML report and the JupyterLab front end draw
the same figures, and each needs the dark look when JupyterLab is dark (a white Plotly block in
a dark notebook is what users complained about).  The dark template keeps the paper and plot
backgrounds transparent, so a figure takes the colour of whatever it sits on, and lightens
text, grid and lines like ``plotly_dark``.  Deciding *which* theme applies (reading
JupyterLab's theme) is the view's business; builders only take ``theme=``.

Both templates are deliberately small (layout only, plus one parcoords default in dark):
every figure carries a copy of its template and building a figure copies it; the full
``plotly_white`` costs ~15-30 ms per figure.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal, get_args

import plotly.graph_objects as go

__all__ = ["THEMES", "Palette", "Theme", "apply_theme", "check_theme", "palette", "template"]

#: A figure theme: the package's light look (default) or the dark one.
Theme = Literal["light", "dark"]
THEMES: tuple[str, ...] = get_args(Theme)

_FONT = "Inter, Segoe UI, Helvetica, Arial, sans-serif"
_COLORWAY = ["#2563eb", "#f59e0b", "#16a34a", "#dc2626", "#7c3aed", "#0891b2"]


@dataclass(frozen=True, slots=True)
class Palette:
    """The few colours a builder picks itself (the template cannot reach into traces)."""

    #: Text: axis labels, tick labels, annotations.
    text: str
    #: Secondary text: the empty-state message, footnotes.
    subtle: str
    grid: str
    line: str
    #: Opaque background (scene backgrounds, hover labels, marker outlines).
    background: str
    #: Outline drawn around markers on top of a coloured surface (contour points).
    outline: str


_PALETTES: dict[str, Palette] = {
    "light": Palette("#0f172a", "#6b7280", "#e5e7eb", "#cbd5e1", "white", "#1f2937"),
    "dark": Palette("#e5e7eb", "#9ca3af", "#334155", "#475569", "#111827", "#f8fafc"),
}


def check_theme(theme: str) -> Theme:
    """``theme`` if it is a known theme; the error lists the valid ones."""
    if theme not in _PALETTES:
        raise ValueError(f"unknown theme {theme!r}; choose one of {', '.join(THEMES)}")
    return theme  # type: ignore[return-value]


def palette(theme: str = "light") -> Palette:
    return _PALETTES[check_theme(theme)]


def template(theme: str = "light") -> go.layout.Template:
    """The package's template for ``theme``: clean grid, compact margins, no heavy defaults.

    Light has white backgrounds (as the figures always had); dark has transparent ones so the
    figure shows the notebook's own dark background through.  One object per theme (cached).
    """
    return _template(check_theme(theme))


@functools.cache
def _template(theme: str) -> go.layout.Template:
    p = palette(theme)
    dark = theme == "dark"
    background = "rgba(0,0,0,0)" if dark else "white"
    axis: dict[str, Any] = {
        "gridcolor": p.grid,
        "linecolor": p.line,
        "zerolinecolor": p.grid,
        "ticks": "",
        "automargin": True,
        "title": {"standoff": 12},
    }
    scene_axis: dict[str, Any] = {
        "backgroundcolor": background,
        "gridcolor": p.grid,
        "linecolor": p.line,
        "showbackground": True,
        "zerolinecolor": p.grid,
    }
    layout: dict[str, Any] = {
        "font": {"family": _FONT, "size": 13, "color": p.text},
        "title": {"x": 0.01, "xanchor": "left", "font": {"size": 16}},
        "paper_bgcolor": background,
        "plot_bgcolor": background,
        "colorway": _COLORWAY,
        "margin": {"l": 60, "r": 24, "t": 56, "b": 48},
        "hovermode": "closest",
        "hoverlabel": {"align": "left"},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        "xaxis": axis,
        "yaxis": axis,
        "scene": {"xaxis": scene_axis, "yaxis": scene_axis, "zaxis": scene_axis},
        # The empty-state message and footnotes take their colour from here, per theme.
        "annotationdefaults": {"font": {"color": p.subtle}},
    }
    data: dict[str, Any] = {}
    if dark:
        layout["hoverlabel"] = {"align": "left", "bgcolor": p.background, "font": {"color": p.text}}
        layout["legend"] = {**layout["legend"], "bgcolor": "rgba(0,0,0,0)"}
        # plotly.js draws a halo in the background colour behind parcoords tick labels; with a
        # transparent paper it guesses white, which smears light text on a dark notebook.
        data["parcoords"] = [{"tickfont": {"shadow": "none"}, "rangefont": {"shadow": "none"}}]
    return go.layout.Template(layout=layout, data=data or None)


def apply_theme(fig: go.Figure, theme: str) -> go.Figure:
    """Switch an already built figure to ``theme`` (in place; returns ``fig``).

    Swaps the template and records the theme in ``layout.meta``.  Builders that pick colours
    of their own (see :class:`Palette`) look best rebuilt with ``theme=``; this is for figures
    one cannot rebuild (e.g. a figure from elsewhere) and for a widget's layout.
    """
    fig.layout.template = template(check_theme(theme))
    fig.layout.meta = {**(fig.layout.meta or {}), "theme": theme}
    return fig
