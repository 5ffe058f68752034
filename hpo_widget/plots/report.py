"""A standalone, offline HTML report of a study: one file, plotly.js inlined once."""

from __future__ import annotations

import datetime
import html
import math
from collections import Counter
from collections.abc import Collection
from pathlib import Path
from typing import Any

import optuna
import plotly
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from .registry import FigureOptions, build_figures, kinds_for

__all__ = ["report_html", "write_report"]

#: Rows of the Pareto-front table in a multi-objective report.
MAX_PARETO_ROWS = 50

_CSS = """
body { font-family: Inter, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0;
       background: #f8fafc; color: #0f172a; }
header, section { max-width: 1100px; margin: 0 auto; padding: 16px 24px; }
header { padding-top: 28px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0 0 8px; }
.meta { color: #475569; margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 16px; }
.card { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px; padding: 12px 16px; }
section .card { padding: 8px; }
table { border-collapse: collapse; font-size: 14px; }
th, td { text-align: left; padding: 3px 12px 3px 0; border-bottom: 1px solid #f1f5f9;
         vertical-align: top; }
th { color: #475569; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.empty { color: #64748b; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return str(value)


def _table(header: list[str], rows: list[list[Any]], numeric: Collection[int] = ()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_e(_fmt(c))}</td>' if i in numeric else f"<td>{_e(_fmt(c))}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _best_section(study: Study, trials: list[FrozenTrial]) -> str:
    if not any(t.state == TrialState.COMPLETE for t in trials):
        return '<p class="empty">No completed trials yet.</p>'
    if len(study.directions) == 1:
        try:
            best = study.best_trial
        except ValueError as exc:  # e.g. no feasible trial in a constrained study
            return f'<p class="empty">{_e(exc)}</p>'
        rows: list[list[Any]] = [["Trial", best.number], ["Value", best.value]]
        rows += [[name, value] for name, value in best.params.items()]
        return "<h2>Best trial</h2>" + _table(["", ""], rows)
    front = sorted(study.best_trials, key=lambda t: t.number)
    names = study.metric_names or [f"Objective {i}" for i in range(len(study.directions))]
    params = list(dict.fromkeys(p for t in front for p in t.params))
    rows = [
        [t.number, *t.values, *(t.params.get(p, "") for p in params)]
        for t in front[:MAX_PARETO_ROWS]
    ]
    more = len(front) - MAX_PARETO_ROWS
    note = f'<p class="meta">{more} more Pareto-optimal trials not shown.</p>' if more > 0 else ""
    return (
        f"<h2>Pareto-optimal trials ({len(front)})</h2>"
        + _table(["Trial", *names, *params], rows, numeric=set(range(1 + len(names))))
        + note
    )


def report_html(study: Study, *, title: str | None = None, default_worker: str = "unknown") -> str:
    """The report as one HTML string (see :func:`write_report`)."""
    trials = study.get_trials(deepcopy=False)
    directions = list(study.directions)
    # A finished report leaves out a section whose data never came (no intermediate values).
    kinds = [k for k in kinds_for(directions, summary=True) if k.has_data(trials)]
    options = FigureOptions(tuple(study.metric_names or ()), default_worker)
    figs = build_figures(trials, directions, options, kinds=kinds)

    title = title if title is not None else f"Study report: {study.study_name}"
    direction_text = ", ".join(d.name.lower() for d in directions)
    counts = Counter(t.state.name for t in trials)
    count_rows: list[list[Any]] = [[s.name, counts[s.name]] for s in TrialState if counts[s.name]]
    count_rows.append(["Total", len(trials)])
    generated = datetime.datetime.now().isoformat(timespec="seconds")

    parts: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        # plotly.js inlined once; every figure below reuses it (works offline).
        '<script type="text/javascript">window.PlotlyConfig = {MathJaxConfig: "local"};</script>',
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>',
        "</head><body>",
        "<header>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">Study <b>{_e(study.study_name)}</b> &middot; direction: '
        f"{_e(direction_text)} &middot; generated {_e(generated)} with Optuna "
        f"{_e(optuna.__version__)}</p>",
        '<div class="cards">',
        f'<div class="card"><h2>Trials</h2>{_table(["State", "Count"], count_rows, {1})}</div>',
        f'<div class="card">{_best_section(study, trials)}</div>',
        "</div></header>",
    ]
    config = {"displaylogo": False, "responsive": True}
    for kind in kinds:
        fig = figs[kind.name]
        # The section heading carries the title (and the subtitle, e.g. which parameters a
        # contour plot pairs); drop the duplicates inside the plot.
        subtitle = fig.layout.title.subtitle.text
        fig.update_layout(title_text="", title_subtitle_text="")
        if fig.layout.margin.t is None:  # the template's room for the title; a figure's own
            fig.update_layout(margin_t=40)  # margin (tilted axis labels) stays
        div = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            config=config,
            default_height=f"{fig.layout.height or 460}px",
            div_id=f"hpo-{kind.name}",
        )
        parts.append(f'<section id="{kind.name}"><h2>{_e(kind.title)}</h2>')
        if subtitle:
            parts.append(f'<p class="meta">{_e(subtitle)}</p>')
        parts.append(f'<div class="card">{div}</div></section>')
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    study: Study,
    path: str | Path,
    *,
    title: str | None = None,
    default_worker: str = "unknown",
) -> Path:
    """Write a standalone HTML report of ``study`` to ``path`` and return the path.

    The file holds a summary (study name, directions, trial counts by state, best trial or
    Pareto-optimal trials with their parameters) and the figures of
    :func:`~hpo_widget.plots.figures_for_study` (every registered figure the study can show:
    history or Pareto front, importances, parallel coordinates, slice, contour and rank plots
    of the most important parameters, EDF, intermediate values when reported, timeline and
    trials per worker).
    plotly.js is inlined once, so the file opens offline; user strings are HTML-escaped.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = report_html(study, title=title, default_worker=default_worker)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
