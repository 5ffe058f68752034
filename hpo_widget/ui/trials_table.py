"""Trials table and failed-trial traceback viewer (the best-trial card is in best_trial.py).

The table is one HTML widget rendered from the trials (a page of at most ``page_size`` rows),
not a grid of widgets: thousands of trials would otherwise mean thousands of comm models.
Sorting, the state filter and paging happen in Python on plain data, so they cost nothing in
the browser and work the same in tests.  The parameter columns keep one order (first seen by
trial number) whatever the sort, so a column never jumps; a pruned trial's value is only the
last intermediate value it reported, so it is shown apart (muted, with a hover note) and
ranked after every complete trial, never among them.
"""

from __future__ import annotations

import base64
import csv
import io
import math
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
from optuna.trial import FrozenTrial, TrialState

from .. import _attrs
from .._tickets import is_lost
from ..plots import STATE_COLORS
from ._common import error_html, esc, fmt_seconds, fmt_value, note_html, text_box

__all__ = ["TrialsTable"]

_STATES = ("all", "COMPLETE", "PRUNED", "FAIL", "RUNNING")
_SORTS = [
    ("trial number ↑", "number"),
    ("trial number ↓", "-number"),
    ("value ↑", "value"),
    ("value ↓", "-value"),
    ("duration ↓", "-duration"),
]
MAX_PARAM_COLUMNS = 12
MAX_ATTR_COLUMNS = 6
#: Widths (em) of the pinned columns; each value column takes the "value" width.
_PIN_WIDTH_EM = {"#": 3.5, "state": 8.0, "value": 6.5, "duration": 5.5}


def _parse_range(text: str) -> tuple[float, float] | None:
    """``"0.1..0.5"``, ``"..0.5"``, ``"0.1.."`` or a single number (exactly that) -> bounds."""
    lo_text, sep, hi_text = text.partition("..")
    try:
        if not sep:
            x = float(text)
            return x, x
        lo = float(lo_text) if lo_text.strip() else -math.inf
        hi = float(hi_text) if hi_text.strip() else math.inf
    except ValueError:
        return None
    return (lo, hi) if lo <= hi else None


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
        # Filters: a value range, and one parameter's range ("2..6", "..0.1") or choices ("a, b").
        self.value_range = text_box(
            "value", "190px", "show trials whose (first) value is in this range, e.g. 0.1..0.5"
        )
        self.value_range.placeholder = "low..high"
        self.param = widgets.Dropdown(
            options=[("parameter…", "")], value="", layout={"width": "190px"}
        )
        self.param_range = text_box(
            "", "150px", "a range (2..6, ..0.1) or choices (gbtree, dart) of that parameter"
        )
        self.param_range.placeholder = "range or choices"
        self.filter_message = widgets.HTML()
        self.csv = widgets.Button(
            description="Export CSV", icon="download", tooltip="the filtered trials as a CSV file"
        )
        self.download = widgets.HTML()
        self.detail_number = widgets.BoundedIntText(
            value=-1,
            min=-1,
            max=10**9,
            description="trial #",
            tooltip="a trial's params, values, intermediate values, attributes and traceback",
            style={"description_width": "initial"},
            layout={"width": "150px"},
        )
        self.detail = widgets.HTML()
        self.detail.add_class("hpo-trial-detail")
        self.csv.on_click(lambda _: self.export_csv())
        for w in (self.value_range, self.param, self.param_range):
            w.observe(lambda _: self._first_page(), "value")
        self.detail_number.observe(lambda change: self.show_detail(change["new"]), "value")
        self.prev.on_click(lambda _: self.turn(-1))
        self.next.on_click(lambda _: self.turn(+1))
        self.sort.observe(lambda _: self._first_page(), "value")
        self.state.observe(lambda _: self._first_page(), "value")
        self.failed.observe(lambda change: self.show_traceback(change["new"]), "value")
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.sort, self.state, self.prev, self.page_label, self.next]),
                widgets.HBox(
                    [self.value_range, self.param, self.param_range, self.csv, self.download]
                ),
                self.filter_message,
                widgets.Box([self.html], layout={"max_height": "420px", "overflow": "auto"}),
                widgets.HBox([self.detail_number, self.failed]),
                self.detail,
                self.traceback,
            ]
        )
        self.render()

    # -- data -------------------------------------------------------------------------------
    def update(self, trials: Sequence[FrozenTrial], directions: Sequence[str]) -> None:
        """New trials (any thread); re-renders the current page and the failure list."""
        self._trials = trials
        self._directions = list(directions)
        param_options = [("parameter…", "")] + [(p, p) for p in self._all_params()]
        if list(self.param.options) != param_options:
            current = self.param.value
            with self.param.hold_trait_notifications():
                self.param.options = param_options
                self.param.value = current if (current, current) in param_options else ""
        self.render()
        if self.detail_number.value >= 0:
            self.show_detail(self.detail_number.value)
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
        keep = self._filter()
        trials = [
            t
            for t in self._trials
            if t.state != TrialState.WAITING
            and (wanted == "all" or t.state.name == wanted)
            and keep(t)
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

    def _filter(self) -> Callable[[FrozenTrial], bool]:
        """The value and parameter filters as one predicate; a filter that does not parse is
        said under the boxes and ignored (the table never goes blank on a typo)."""
        problems: list[str] = []
        checks: list[Callable[[FrozenTrial], bool]] = []
        text = self.value_range.value.strip()
        if text:
            bounds = _parse_range(text)
            if bounds is None:
                problems.append(f"value: {text!r} is not a range; write low..high, ..high or low..")
            else:
                v_lo, v_hi = bounds
                checks.append(lambda t: t.values is not None and v_lo <= t.values[0] <= v_hi)
        name, text = self.param.value, self.param_range.value.strip()
        if name and text:
            bounds = _parse_range(text)
            if bounds is not None:
                lo, hi = bounds
                checks.append(
                    lambda t: (
                        isinstance(t.params.get(name), int | float)
                        and not isinstance(t.params.get(name), bool)
                        and lo <= t.params[name] <= hi
                    )
                )
            elif ".." in text:
                problems.append(f"{name}: {text!r} is not a range; write low..high")
            else:
                choices = {c.strip() for c in text.split(",") if c.strip()}
                checks.append(lambda t: name in t.params and str(t.params[name]) in choices)
        self._set(self.filter_message, error_html(problems))
        return lambda t: all(check(t) for check in checks)

    def _all_params(self) -> list[str]:
        names: dict[str, None] = {}
        for t in sorted(self._trials, key=lambda t: t.number):
            for p in t.params:
                names.setdefault(p, None)
        return list(names)

    def user_attr_columns(self) -> list[str]:
        """User attributes (``trial.set_user_attr``) in the order first seen, as columns."""
        names: dict[str, None] = {}
        for t in sorted(self._trials, key=lambda t: t.number):
            for k in t.user_attrs:
                names.setdefault(k, None)
        return list(names)[:MAX_ATTR_COLUMNS]

    def to_csv(self) -> str:
        """The filtered, sorted trials (every page) as CSV: every parameter and user attribute."""
        params = self._all_params()
        attrs = self.user_attr_columns()
        n_obj = len(self._directions)
        values = ["value"] if n_obj == 1 else [f"value_{i}" for i in range(n_obj)]
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            [
                "number",
                "state",
                *values,
                "duration_s",
                *params,
                *(f"user_attrs_{a}" for a in attrs),
                "worker",
            ]
        )
        for t in self.rows():
            vals = list(t.values) if t.values is not None else [None] * n_obj
            writer.writerow(
                [t.number, _display_state(t), *vals[:n_obj], _duration(t)]
                + [t.params.get(p) for p in params]
                + [t.user_attrs.get(a) for a in attrs]
                + [t.system_attrs.get(_attrs.WORKER, "")]
            )
        return out.getvalue()

    def export_csv(self) -> str:
        """Offer :meth:`to_csv` as a download link (no server round trip, no file written)."""
        text = self.to_csv()
        data = base64.b64encode(text.encode("utf-8")).decode("ascii")
        n = max(0, text.count("\n") - 1)
        self._set(
            self.download,
            f'<a download="trials.csv" class="hpo-csv-link" '
            f'href="data:text/csv;charset=utf-8;base64,{data}">trials.csv ({n} rows)</a>',
        )
        return text

    def detail_html(self, number: int) -> str | None:
        """Everything about one trial: params, values, intermediate values, user attributes,
        worker, timing and, for a failure, its traceback."""
        trial = next((t for t in self._trials if t.number == number), None)
        if trial is None:
            return None

        def table(rows: Sequence[tuple[Any, Any]]) -> str:
            body = "".join(
                f'<tr><td class="hpo-left">{esc(k)}</td><td class="hpo-left">{esc(v)}</td></tr>'
                for k, v in rows
            )
            return f'<table class="hpo-table">{body}</table>' if rows else note_html("none")

        values = list(trial.values) if trial.values is not None else []
        parts = [
            f"<div><b>Trial {trial.number}</b> · {esc(_display_state(trial))} · "
            f"{esc(fmt_seconds(_duration(trial)))} · "
            f"{esc(trial.system_attrs.get(_attrs.WORKER, 'driver'))}</div>",
            "<div class='hpo-note'>values</div>",
            table([(f"value {i}", fmt_value(v)) for i, v in enumerate(values)]),
            "<div class='hpo-note'>params</div>",
            table([(k, fmt_value(v)) for k, v in trial.params.items()]),
            "<div class='hpo-note'>intermediate values</div>",
            table([(step, fmt_value(v)) for step, v in sorted(trial.intermediate_values.items())]),
            "<div class='hpo-note'>user attributes</div>",
            table(list(trial.user_attrs.items())),
        ]
        if trial.state == TrialState.FAIL:
            parts.append(f'<pre class="hpo-pre">{esc(self.traceback_text(number) or "")}</pre>')
        return "".join(parts)

    def show_detail(self, number: int) -> None:
        if number is None or number < 0:
            self._set(self.detail, "")
            return
        html = self.detail_html(number)
        self._set(self.detail, html if html is not None else note_html(f"No trial {number} here."))

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
        attrs = self.user_attr_columns()
        n_obj = len(self._directions)
        value_heads = ["value"] if n_obj == 1 else [f"value {i}" for i in range(n_obj)]
        pinned = ["#", "state", *value_heads, "duration"]
        head = [*pinned, *params, *(f"attr: {a}" for a in attrs), "worker"]
        # Number, state, value(s) and duration stay in view when a wide space scrolls sideways.
        offsets, left = [], 0.0
        for h in pinned:
            offsets.append(left)
            left += _PIN_WIDTH_EM.get(h, _PIN_WIDTH_EM["value"])

        def pin(i: int) -> str:
            if i >= len(pinned):
                return ""
            width = _PIN_WIDTH_EM.get(pinned[i], _PIN_WIDTH_EM["value"])
            return (
                f' style="position:sticky;left:{offsets[i]}em;min-width:{width}em;'
                f'max-width:{width}em;z-index:1;background:var(--jp-layout-color1, white)"'
            )

        out = ['<table class="hpo-table"><thead><tr>']
        out += [
            f'<th class="{"hpo-left" if h in ("state", "worker") else ""}" title="{esc(h)}"'
            f"{pin(i).replace('z-index:1', 'z-index:2').replace('var(--jp-layout-color1, white)', 'var(--jp-layout-color2, #f8fafc)')}>"
            f'<span class="hpo-trunc">{esc(h)}</span></th>'
            for i, h in enumerate(head)
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
                f"<td>{esc(fmt_seconds(_duration(t)))}</td>",
            ]
            cells = [c.replace("<td", "<td" + pin(i), 1) for i, c in enumerate(cells)]
            cells += [f"<td>{esc(fmt_value(t.params.get(p)))}</td>" for p in params]
            cells += [f"<td>{esc(fmt_value(t.user_attrs.get(a)))}</td>" for a in attrs]
            cells.append(f'<td class="hpo-left">{esc(t.system_attrs.get(_attrs.WORKER, ""))}</td>')
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
            self.value_range,
            self.param,
            self.param_range,
            self.filter_message,
            self.csv,
            self.download,
            self.detail_number,
            self.detail,
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
