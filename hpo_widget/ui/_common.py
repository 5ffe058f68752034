"""Small helpers shared by the panel's parts: value parsing, HTML snippets, error marking,
and the input building blocks (a text box, a choice of a name or an object with its options).

Kept apart so that every part formats numbers, durations and errors the same way and so that
the parsing rules of the form (what ``"1e-3"`` or ``"true"`` in a text box means) live in one
place that the tests can pin down.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import ipywidgets as widgets

from ..storage import mask_password

#: CSS class put on an input whose value is wrong (styled by :data:`STYLE`).
INVALID = "hpo-invalid"

#: One <style> block for the whole panel: red borders on invalid inputs, compact tables.  Colours
#: are JupyterLab's theme variables (with the light look as fallback outside JupyterLab), so
#: the panel follows the light and dark themes.
STYLE = """<style>
.hpo-panel .hpo-invalid input, .hpo-panel .hpo-invalid select,
.hpo-panel .hpo-invalid textarea { border-color: var(--jp-error-color1, #dc2626) !important;
  box-shadow: 0 0 0 1px var(--jp-error-color1, #dc2626) inset; }
.hpo-panel .hpo-error { color: var(--jp-error-color1, #b91c1c); font-size: 12px; line-height: 1.35; }
.hpo-panel .hpo-note { color: var(--jp-ui-font-color2, #6b7280); font-size: 12px; line-height: 1.35; }
.hpo-panel table.hpo-table { border-collapse: collapse; font-size: 12px; }
.hpo-panel table.hpo-table th, .hpo-panel table.hpo-table td {
  padding: 2px 8px; border-bottom: 1px solid var(--jp-border-color2, #e5e7eb); text-align: right; white-space: nowrap; }
.hpo-panel table.hpo-table th { background: var(--jp-layout-color2, #f8fafc);
  color: var(--jp-ui-font-color1, #111827); position: sticky; top: 0; }
.hpo-panel table.hpo-table td.hpo-left, .hpo-panel table.hpo-table th.hpo-left {
  text-align: left; }
.hpo-panel table.hpo-table th .hpo-trunc { display: inline-block; max-width: 14em;
  overflow: hidden; text-overflow: ellipsis; vertical-align: bottom; }
.hpo-panel table.hpo-table td.hpo-pruned { color: var(--jp-ui-font-color2, #6b7280); font-style: italic; }
.hpo-panel table.hpo-table td.hpo-state { cursor: default; }
.hpo-panel .jupyter-button:disabled, .hpo-panel .widget-button:disabled {
  opacity: 0.45; filter: grayscale(1); cursor: not-allowed; box-shadow: none; }
.hpo-panel pre.hpo-pre { font-size: 12px; max-height: 320px; overflow: auto;
  background: var(--jp-layout-color2, #f8fafc); color: var(--jp-content-font-color1, #111827);
  padding: 6px; margin: 0; white-space: pre-wrap; }
</style>"""


def esc(value: Any) -> str:
    """HTML-escaped text with any storage password masked (everything shown goes through here)."""
    return html.escape(mask_password(str(value)))


def error_html(messages: Iterable[str]) -> str:
    items = [m for m in messages if m]
    if not items:
        return ""
    return "".join(f'<div class="hpo-error">{esc(m)}</div>' for m in items)


def note_html(text: str) -> str:
    return f'<div class="hpo-note">{esc(text)}</div>' if text else ""


def mark(widget: widgets.DOMWidget, invalid: bool) -> None:
    """Add or remove the invalid marker, sending a message only when it changes."""
    has = INVALID in widget._dom_classes
    if invalid and not has:
        widget.add_class(INVALID)
    elif not invalid and has:
        widget.remove_class(INVALID)


def fmt_value(value: Any) -> str:
    """Compact display of an objective value or parameter."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.6g}"
    return str(value)


def fmt_duration(seconds: float | None) -> str:
    """``h:mm:ss`` / ``m:ss``; empty for unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_seconds(seconds: float | None) -> str:
    """A trial's duration: ``0.31 s``, ``12.4 s``, then ``m:ss``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return fmt_duration(seconds)


# -- text box parsing --------------------------------------------------------------------------


def parse_number(text: str, kind: str) -> Any:
    """What a bound typed into a text box means: ``None`` when empty, an int or float when it
    parses, otherwise the text itself so that the search-space checks name the field."""
    s = text.strip()
    if not s:
        return None
    if kind == "int":
        try:
            return int(s)
        except ValueError:
            pass
    try:
        return float(s)
    except ValueError:
        return s


def fmt_number(value: Any) -> str:
    """Inverse of :func:`parse_number` (``repr`` keeps ``1.0`` visibly a float, ``1e-05`` exact)."""
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


_WORDS: dict[str, Any] = {"true": True, "false": False, "null": None, "none": None}


def parse_scalar(text: str) -> Any:
    """A category value from text: quoted -> str, true/false/null, int, float, else str."""
    s = text.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        if s[0] == '"':
            try:
                return str(json.loads(s))
            except ValueError:
                pass
        return s[1:-1]
    if s.lower() in _WORDS:
        return _WORDS[s.lower()]
    try:
        return int(s)
    except ValueError:
        pass
    try:
        f = float(s)
    except ValueError:
        return s
    return f if math.isfinite(f) else s


def parse_list(text: str) -> list[Any]:
    """Comma-separated category values, or a JSON list (``[1, "a,b"]``) for awkward strings."""
    s = text.strip()
    if not s:
        return []
    if s.startswith("["):
        try:
            data = json.loads(s)
        except ValueError:
            data = None
        if isinstance(data, list):
            return data
    return [parse_scalar(part) for part in s.split(",")]


def fmt_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        plain = value.strip() == value and value and "," not in value
        if plain and parse_scalar(value) == value and type(parse_scalar(value)) is str:
            return value
        return json.dumps(value)
    return repr(value) if isinstance(value, float) else str(value)


def fmt_list(values: Iterable[Any]) -> str:
    return ", ".join(fmt_scalar(v) for v in values)


def close_tree(*roots: widgets.Widget) -> None:
    """Close widgets and everything inside them (closing a box leaves its children open)."""
    for root in roots:
        close_tree(*getattr(root, "children", ()))
        root.close()


# -- input building blocks ---------------------------------------------------------------------

_INITIAL = {"description_width": "initial"}
#: The dropdown value of a choice given as an object.
OBJECT = "<object>"
#: Choice -> its main options: option -> (label, Optuna's default, tooltip).  The widget follows
#: the default's type (a tuple: a dropdown of its values, the first one the default).
OptionSpecs = Mapping[str, Mapping[str, tuple[str, Any, str]]]


def no_null_tooltips(root: widgets.Widget) -> None:
    """Give every widget under ``root`` without a tooltip an empty one.

    ipywidgets 8 writes a described widget's ``tooltip`` into its label's ``title`` as it is,
    so ``None`` (the default) shows the word "null" on hover; an empty string shows nothing.
    """
    stack, seen = [root], set()
    while stack:
        w = stack.pop()
        if id(w) in seen:
            continue
        seen.add(id(w))
        if w.has_trait("tooltip") and w.tooltip is None:
            w.tooltip = ""
        stack.extend(c for c in getattr(w, "children", ()) or () if isinstance(c, widgets.Widget))


def text_box(description: str, width: str, tooltip: str = "", **kw: Any) -> widgets.Text:
    style = kw.pop("style", _INITIAL)
    return widgets.Text(
        description=description, tooltip=tooltip, style=style, layout={"width": width}, **kw
    )


def _option_widget(label: str, default: Any, tooltip: str) -> widgets.ValueWidget:
    # No label as its own tooltip: a tooltip says what the option does, or there is none.
    named = {"description": label, "tooltip": tooltip}
    if isinstance(default, bool):
        margin = {"width": "auto", "margin": "0 12px 0 8px"}
        return widgets.Checkbox(value=default, indent=False, layout=margin, **named)
    if isinstance(default, tuple):
        return widgets.Dropdown(options=default, layout={"width": "110px"}, **named)
    box = widgets.IntText if isinstance(default, int) else widgets.Text
    return box(value=default, style=_INITIAL, layout={"width": "190px"}, **named)


class Options:
    """The option widgets of one choice; only values that differ from the defaults are passed
    on, so the defaults stay Optuna's (and specs stay small)."""

    def __init__(self, spec: Mapping[str, tuple[str, Any, str]]) -> None:
        self.items: dict[str, tuple[widgets.ValueWidget, Any]] = {
            key: (_option_widget(*row), row[1][0] if isinstance(row[1], tuple) else row[1])
            for key, row in spec.items()
        }
        self.box = widgets.HBox([w for w, _ in self.items.values()])

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, (w, default) in self.items.items():
            value = w.value
            if isinstance(default, str) and isinstance(value, str):
                value = value.strip()
                if value != default:
                    out[key] = int(value) if value.isdigit() else value
            elif value != default:
                out[key] = value
        return out

    def load(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Show ``options``; returns those without a widget (passed on unchanged)."""
        rest = {}
        for key, value in options.items():
            if key in self.items:
                w, default = self.items[key]
                w.value = str(value) if isinstance(default, str) else value
            else:
                rest[key] = value
        return rest


class Choice:
    """A dropdown of names for a field that also takes an object, and each name's options.

    An object (an Optuna sampler, a Backend) is shown by its class name and stays locked; a
    name the dropdown lacks (a typo) is shown as it is, so that its problem can name it.
    Options without a widget are passed on while the choice they came with stays selected.
    """

    def __init__(
        self,
        name: str,
        choices: list[Any],
        specs: OptionSpecs,
        tooltip: str = "",
        style: Mapping[str, str] = _INITIAL,
    ) -> None:
        pairs = [c if isinstance(c, tuple) else (c, c) for c in choices]  # (label, name)
        self.dropdown = widgets.Dropdown(
            options=pairs, description=name, tooltip=tooltip, style=dict(style)
        )
        self.options = {choice: Options(spec) for choice, spec in specs.items()}
        self.box = widgets.HBox()  # shows the current choice's options
        self._none = Options({})
        self.object: Any = None
        self._rest: tuple[str, dict[str, Any]] = ("", {})

    @property
    def current(self) -> Options:
        return self.options.get(self.dropdown.value, self._none)

    def load(self, value: Any, options: Mapping[str, Any]) -> None:
        key = value if isinstance(value, str) else OBJECT
        if key not in [v for _, v in self.dropdown.options]:
            label = value if isinstance(value, str) else type(value).__name__
            self.dropdown.options = [*self.dropdown.options, (label, key)]
        self.dropdown.value = key
        if key == OBJECT:
            self.object = value
            self.dropdown.disabled = True
        self._rest = (key, self.current.load(options))

    @property
    def value(self) -> Any:
        """The name chosen, or the object."""
        return self.object if self.dropdown.value == OBJECT else self.dropdown.value

    def option_values(self) -> dict[str, Any]:
        choice, rest = self._rest
        return {**(rest if self.dropdown.value == choice else {}), **self.current.values()}

    def inputs(self) -> list[widgets.ValueWidget]:
        """Every option widget (of all names)."""
        return [w for opts in self.options.values() for w, _ in opts.items.values()]

    def target(self, option: str) -> widgets.DOMWidget:
        """The box of ``option`` of the current choice, else the dropdown."""
        item = self.current.items.get(option)
        return item[0] if item else self.dropdown

    def show(self) -> None:
        self.box.children = (self.current.box,)

    def close(self) -> None:
        for opts in (*self.options.values(), self._none):
            close_tree(opts.box)
        close_tree(self.dropdown, self.box)
