"""Small helpers shared by the panel's parts: value parsing, HTML snippets, error marking.

Kept apart so that every part formats numbers, durations and errors the same way and so that
the parsing rules of the form (what ``"1e-3"`` or ``"true"`` in a text box means) live in one
place that the tests can pin down.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable
from typing import Any

import ipywidgets as widgets

from ..storage import mask_password

#: CSS class put on an input whose value is wrong (styled by :data:`STYLE`).
INVALID = "hpo-invalid"

#: One <style> block for the whole panel: red borders on invalid inputs, compact tables.
STYLE = """<style>
.hpo-panel .hpo-invalid input, .hpo-panel .hpo-invalid select,
.hpo-panel .hpo-invalid textarea { border-color: #dc2626 !important;
  box-shadow: 0 0 0 1px #dc2626 inset; }
.hpo-panel .hpo-error { color: #b91c1c; font-size: 12px; line-height: 1.35; }
.hpo-panel .hpo-note { color: #6b7280; font-size: 12px; line-height: 1.35; }
.hpo-panel table.hpo-table { border-collapse: collapse; font-size: 12px; }
.hpo-panel table.hpo-table th, .hpo-panel table.hpo-table td {
  padding: 2px 8px; border-bottom: 1px solid #e5e7eb; text-align: right; white-space: nowrap; }
.hpo-panel table.hpo-table th { background: #f8fafc; position: sticky; top: 0; }
.hpo-panel table.hpo-table td.hpo-left, .hpo-panel table.hpo-table th.hpo-left {
  text-align: left; }
.hpo-panel pre.hpo-pre { font-size: 12px; max-height: 320px; overflow: auto;
  background: #f8fafc; padding: 6px; margin: 0; white-space: pre-wrap; }
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
