"""Trials table, failed-trial traceback viewer and best-trial card.

The table is one HTML widget rendered from the trials (a page of at most ``page_size`` rows),
not a grid of widgets: thousands of trials would otherwise mean thousands of comm models.
Sorting, the state filter and paging happen in Python on plain data, so they cost nothing in
the browser and work the same in tests.  The parameter columns keep one order (first seen by
trial number) whatever the sort, so a column never jumps; a pruned trial's value is only the
last intermediate value it reported, so it is shown apart (muted, with a hover note) and
ranked after every complete trial, never among them.
"""

from __future__ import annotations

import keyword
import math
import pprint
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
from optuna.trial import FrozenTrial, TrialState

from .. import _attrs
from .._tickets import counts_towards_budget, is_lost
from ..plots import STATE_COLORS
from ._common import esc, fmt_seconds, fmt_value, note_html

__all__ = ["BestTrialCard", "TrialsTable", "retrain_snippet"]

_STATES = ("all", "COMPLETE", "PRUNED", "FAIL", "RUNNING")
_SORTS = [
    ("trial number ↑", "number"),
    ("trial number ↓", "-number"),
    ("value ↑", "value"),
    ("value ↓", "-value"),
    ("duration ↓", "-duration"),
]
MAX_PARAM_COLUMNS = 12
#: Hover note of a pruned trial's value.
PRUNED_VALUE_NOTE = "pruned: the last intermediate value it reported, not a final value"


def _display_state(t: FrozenTrial) -> str:
    if is_lost(t):
        return "LOST"
    return t.state.name


def _duration(t: FrozenTrial) -> float | None:
    if t.datetime_start is None:
        return None
    if t.datetime_complete is None:
        return None
    return (t.datetime_complete - t.datetime_start).total_seconds()


class TrialsTable:
    """Sortable, filterable, paged HTML table of trials plus a traceback viewer for failures.

    Example::

        table = TrialsTable()
        table.update(study.get_trials(deepcopy=False), ["minimize"])
        table.sort.value = "-value"; table.state.value = "FAIL"
    """

    def __init__(self, page_size: int = 200) -> None:
        self.page_size = page_size
        self.page = 0
        self._trials: Sequence[FrozenTrial] = []
        self._directions: list[str] = ["minimize"]
        self.sort = widgets.Dropdown(options=_SORTS, value="number", description="sort")
        self.sort.layout.width = "210px"
        self.state = widgets.Dropdown(options=_STATES, value="all", description="state")
        self.state.layout.width = "190px"
        self.prev = widgets.Button(
            description="◀", tooltip="previous page", layout={"width": "36px"}
        )
        self.next = widgets.Button(description="▶", tooltip="next page", layout={"width": "36px"})
        self.page_label = widgets.HTML()
        self.html = widgets.HTML()
        self.html.add_class("hpo-trials-table")
        self.failed = widgets.Dropdown(
            options=[("—", -1)],
            value=-1,
            description="failed trial",
            style={"description_width": "initial"},
        )
        self.failed.layout.width = "260px"
        self.traceback = widgets.HTML()
        self.traceback.add_class("hpo-traceback")
        self.prev.on_click(lambda _: self.turn(-1))
        self.next.on_click(lambda _: self.turn(+1))
        self.sort.observe(lambda _: self._first_page(), "value")
        self.state.observe(lambda _: self._first_page(), "value")
        self.failed.observe(lambda change: self.show_traceback(change["new"]), "value")
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.sort, self.state, self.prev, self.page_label, self.next]),
                widgets.Box([self.html], layout={"max_height": "420px", "overflow": "auto"}),
                widgets.HBox([self.failed]),
                self.traceback,
            ]
        )
        self.render()

    # -- data -------------------------------------------------------------------------------
    def update(self, trials: Sequence[FrozenTrial], directions: Sequence[str]) -> None:
        """New trials (any thread); re-renders the current page and the failure list."""
        self._trials = trials
        self._directions = list(directions)
        self.render()
        failed = [t.number for t in trials if t.state == TrialState.FAIL]
        options = [("—", -1)] + [(f"#{n}", n) for n in failed[-200:]]
        if list(self.failed.options) != options:
            current = self.failed.value
            with self.failed.hold_sync():
                self.failed.options = options
                self.failed.value = current if current in failed[-200:] else -1

    def rows(self) -> list[FrozenTrial]:
        """Trials after filter and sort (all pages)."""
        wanted = self.state.value
        trials = [
            t
            for t in self._trials
            if t.state != TrialState.WAITING and (wanted == "all" or t.state.name == wanted)
        ]
        key = self.sort.value
        reverse = key.startswith("-")
        key = key.lstrip("-")
        if key == "number":
            trials.sort(key=lambda t: t.number, reverse=reverse)
        elif key == "value":

            def valued(t: FrozenTrial, state: TrialState) -> bool:
                return t.state == state and t.values is not None and math.isfinite(t.values[0])

            complete = [t for t in trials if valued(t, TrialState.COMPLETE)]
            pruned = [t for t in trials if valued(t, TrialState.PRUNED)]
            ranked = {t.number for t in complete} | {t.number for t in pruned}
            rest = [t for t in trials if t.number not in ranked]
            complete.sort(key=lambda t: t.values[0], reverse=reverse)
            pruned.sort(key=lambda t: t.values[0], reverse=reverse)
            # Complete trials ranked first, pruned ones apart after them, the rest last.
            trials = complete + pruned + rest
        elif key == "duration":
            timed = [t for t in trials if _duration(t) is not None]
            rest = [t for t in trials if _duration(t) is None]
            timed.sort(key=lambda t: _duration(t) or 0.0, reverse=reverse)
            trials = timed + rest
        return trials

    def _first_page(self) -> None:
        self.page = 0
        self.render()

    def turn(self, delta: int) -> None:
        self.page += delta
        self.render()

    def render(self) -> None:
        rows = self.rows()
        pages = max(1, math.ceil(len(rows) / self.page_size))
        self.page = min(max(self.page, 0), pages - 1)
        start = self.page * self.page_size
        shown = rows[start : start + self.page_size]
        self.prev.disabled = self.page == 0
        self.next.disabled = self.page >= pages - 1
        label = (f"{start + 1}-{start + len(shown)} of {len(rows)}" if rows else "no trials") + (
            f" · page {self.page + 1}/{pages}" if pages > 1 else ""
        )
        self._set(self.page_label, note_html(label))
        self._set(self.html, self._table(shown))

    @staticmethod
    def _set(w: widgets.HTML, value: str) -> None:
        if w.value != value:
            w.value = value

    def param_columns(self) -> list[str]:
        """Parameter columns in the order the study first used them (by trial number), so
        sorting or paging never reorders them."""
        names: dict[str, None] = {}
        for t in sorted(self._trials, key=lambda t: t.number):
            for p in t.params:
                names.setdefault(p, None)
        return list(names)[:MAX_PARAM_COLUMNS]

    def _table(self, trials: list[FrozenTrial]) -> str:
        if not trials:
            return note_html("No trials to show yet.")
        params = self.param_columns()
        n_obj = len(self._directions)
        value_heads = ["value"] if n_obj == 1 else [f"value {i}" for i in range(n_obj)]
        head = ["#", "state", *value_heads, *params, "duration", "worker"]
        out = ['<table class="hpo-table"><thead><tr>']
        out += [
            f'<th class="{"hpo-left" if h in ("state", "worker") else ""}" title="{esc(h)}">'
            f'<span class="hpo-trunc">{esc(h)}</span></th>'
            for h in head
        ]
        out.append("</tr></thead><tbody>")
        for t in trials:
            state = _display_state(t)
            color = STATE_COLORS.get(state, "#111827")
            values = list(t.values) if t.values is not None else [None] * n_obj
            value_cell = (
                f'<td class="hpo-pruned" title="{esc(PRUNED_VALUE_NOTE)}">{{}}</td>'
                if t.state == TrialState.PRUNED
                else "<td>{}</td>"
            )
            cells = [
                f"<td>{t.number}</td>",
                # A coloured dot, not coloured text: blue text reads as a link.
                f'<td class="hpo-left hpo-state"><span style="color:{color}">●</span> '
                f"{esc(state)}</td>",
                *(value_cell.format(esc(fmt_value(v))) for v in values[:n_obj]),
                *(f"<td>{esc(fmt_value(t.params.get(p)))}</td>" for p in params),
                f"<td>{esc(fmt_seconds(_duration(t)))}</td>",
                f'<td class="hpo-left">{esc(t.system_attrs.get(_attrs.WORKER, ""))}</td>',
            ]
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody></table>")
        return "".join(out)

    # -- failures ---------------------------------------------------------------------------
    def traceback_text(self, number: int) -> str | None:
        for t in self._trials:
            if t.number == number:
                attrs = t.system_attrs
                return (
                    attrs.get(_attrs.TRACEBACK)
                    or attrs.get(_attrs.FAIL_REASON)
                    or ("This trial failed without a recorded traceback.")
                )
        return None

    def show_traceback(self, number: int) -> None:
        """Show the traceback the worker stored for failed trial ``number``."""
        if number is None or number < 0:
            self._set(self.traceback, "")
            return
        if self.failed.value != number and number in [v for _, v in self.failed.options]:
            self.failed.value = number  # the observer comes back here
            return
        text = self.traceback_text(number)
        if text is None:
            self._set(self.traceback, note_html(f"Trial {number} is not in this study."))
            return
        self._set(
            self.traceback,
            f'<div class="hpo-note">Trial {number} traceback:</div><pre class="hpo-pre">{esc(text)}</pre>',
        )

    def close(self) -> None:
        for w in (
            self.sort,
            self.state,
            self.prev,
            self.next,
            self.page_label,
            self.html,
            self.failed,
            self.traceback,
        ):
            w.close()
        for child in self.widget.children:
            child.close()
        self.widget.close()


def _identifier(name: str | None) -> str | None:
    if name and name.isidentifier() and not keyword.iskeyword(name) and name != "<lambda>":
        return name
    return None


def retrain_snippet(
    params: dict[str, Any], objective: Any = None, *, takes_trial: bool = False
) -> str:
    """Code that re-evaluates the objective with ``params`` (for non-preset objectives)."""
    lines = ["best_params = " + pprint.pformat(params, sort_dicts=False, width=88)]
    name = _identifier(getattr(objective, "__name__", None))
    if name is None:
        lines.append("# use best_params to train your final model")
    elif takes_trial:
        lines += [
            "import optuna",
            "",
            "# FixedTrial replays the parameters through your objective's suggest_* calls",
            f"result = {name}(optuna.trial.FixedTrial(best_params))",
            "result",
        ]
    else:
        lines += ["", f"result = {name}(best_params)", "result"]
    return "\n".join(lines) + "\n"


class BestTrialCard:
    """The best trial (or the Pareto front) with "copy params" and "insert code cell".

    ``code_for(params)`` is supplied by the panel: it knows whether the objective is a preset
    (retrain with :meth:`SklearnPreset.retrain_code`) or a plain function.  Putting text on the
    clipboard needs JavaScript, so "copy" shows the code selected-ready in a text area instead.
    """

    def __init__(self, code_for: Callable[[dict[str, Any]], str]) -> None:
        self.code_for = code_for
        self.params: dict[str, Any] | None = None
        self.summary = widgets.HTML(note_html("No completed trial yet."))
        self.summary.add_class("hpo-best")
        self.copy = widgets.Button(description="Copy params", icon="copy", disabled=True)
        self.insert = widgets.Button(
            description="Insert code cell",
            icon="plus",
            disabled=True,
            tooltip="a new cell that retrains with the best parameters",
        )
        self.code = widgets.Textarea(layout={"width": "98%", "height": "150px", "display": "none"})
        self.code.add_class("hpo-code")
        self.message = widgets.HTML()
        self.copy.on_click(lambda _: self.copy_params())
        self.insert.on_click(lambda _: self.insert_code())
        self.widget = widgets.VBox(
            [self.summary, widgets.HBox([self.copy, self.insert]), self.message, self.code]
        )

    def update(self, trials: Sequence[FrozenTrial], directions: Sequence[str]) -> None:
        complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
        if not complete:
            return
        if len(directions) == 1:
            maximize = directions[0] == "maximize"
            best = (max if maximize else min)(complete, key=lambda t: t.values[0])
            head = (
                f"<b>Best value {esc(fmt_value(best.values[0]))}</b> "
                f"(trial {best.number} of {sum(1 for t in trials if counts_towards_budget(t))}"
                " finished)"
            )
        else:
            from ..plots import pareto_data

            front = pareto_data(complete, list(directions)).front_numbers
            by_number = {t.number: t for t in complete}
            best = by_number[front[0]]
            values = ", ".join(fmt_value(v) for v in best.values)
            head = (
                f"<b>{len(front)} trial(s) on the Pareto front</b>; showing trial "
                f"{best.number} ({esc(values)})"
            )
        self.params = dict(best.params)
        rows = "".join(
            f'<tr><td class="hpo-left">{esc(k)}</td><td>{esc(fmt_value(v))}</td></tr>'
            for k, v in best.params.items()
        )
        html = f'<div>{head}</div><table class="hpo-table">{rows}</table>'
        if self.summary.value != html:
            self.summary.value = html
        self.copy.disabled = self.insert.disabled = False

    def copy_params(self) -> str:
        """Show the params as code, ready to select and copy (no JavaScript needed)."""
        if self.params is None:
            return ""
        text = "best_params = " + pprint.pformat(self.params, sort_dicts=False, width=88) + "\n"
        self._show(text, "Select the code below and copy it (Ctrl/Cmd+C).")
        return text

    def insert_code(self) -> str:
        """Code that retrains with the best params: offered as the next cell and shown here."""
        if self.params is None:
            return ""
        code = self.code_for(self.params)
        inserted = False
        try:
            from IPython import get_ipython

            ip = get_ipython()
            if ip is not None:
                ip.set_next_input(code)
                inserted = True
        except Exception:
            inserted = False
        note = (
            "Offered as a new cell below (when the notebook supports it); the code is also here:"
            if inserted
            else "Copy this code into a new cell:"
        )
        self._show(code, note)
        return code

    def _show(self, text: str, note: str) -> None:
        self.code.value = text
        self.code.layout.display = None
        self.message.value = note_html(note)

    def close(self) -> None:
        for w in (self.summary, self.copy, self.insert, self.code, self.message):
            w.close()
        for child in self.widget.children:
            child.close()
        self.widget.close()
