"""The search-space form: one row of inputs per parameter, validated by :mod:`hpo_widget.space`.

The form keeps no model of its own: the rows' text is turned into the space's dict form and fed
to :meth:`SearchSpace.from_dict`, whose :class:`SearchSpaceError` problems (param, field,
message) are mapped back onto the row and field that is wrong.  So the form can never accept a
space the engine would reject, and its messages are the engine's, which say how to fix things.

Bounds are text boxes, not sliders: a slider rounds (``FloatSlider`` with step 0.1 shows 0.95
as 1.00 and writes 1.0 back) and cannot hold ``1e-5``.  Each parameter kind has its own editor
class (:class:`RangeEditor` for float/int, :class:`ChoicesEditor` for categorical), the way
ipywidgets' ``interact`` picks a widget per abbreviation.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
import yaml

from ..space import Problem, SearchSpace, SearchSpaceError
from ._common import (
    error_html,
    fmt_list,
    fmt_number,
    mark,
    note_html,
    parse_list,
    parse_number,
)

__all__ = ["ChoicesEditor", "ParamRow", "RangeEditor", "SpaceForm"]

KINDS = ("float", "int", "categorical")
_NO_PARENT = ""


def _text(placeholder: str, width: str, tooltip: str = "") -> widgets.Text:
    return widgets.Text(
        placeholder=placeholder,
        tooltip=tooltip or placeholder,
        layout=widgets.Layout(width=width),
        continuous_update=False,
    )


class RangeEditor:
    """Inputs of a float or int parameter: low, high, optional step, log scale."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.low = _text("low", "95px", "lower bound (inclusive)")
        self.high = _text("high", "95px", "upper bound (inclusive)")
        step_tip = "step between values (empty: continuous)" if kind == "float" else "step (1)"
        self.step = _text("step", "70px", step_tip)
        self.log = widgets.Checkbox(
            description="log", indent=False, layout=widgets.Layout(width="52px")
        )
        self.box = widgets.HBox([self.low, self.high, self.step, self.log])

    @property
    def fields(self) -> dict[str, widgets.DOMWidget]:
        return {"low": self.low, "high": self.high, "step": self.step, "log": self.log}

    def load(self, spec: Mapping[str, Any]) -> None:
        self.low.value = fmt_number(spec.get("low"))
        self.high.value = fmt_number(spec.get("high"))
        step = spec.get("step")
        self.step.value = "" if step is None or (self.kind == "int" and step == 1) else str(step)
        self.log.value = bool(spec.get("log", False))

    def copy_from(self, other: RangeEditor) -> None:
        """Keep the bounds when the kind switches between float and int."""
        for name in ("low", "high", "step"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if not mine.value:
                mine.value = theirs.value
        self.log.value = other.log.value

    def dump(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": self.kind}
        for name in ("low", "high", "step"):
            value = parse_number(getattr(self, name).value, self.kind)
            if value is not None:
                spec[name] = value
        if self.log.value:
            spec["log"] = True
        return spec


class ChoicesEditor:
    """Inputs of a categorical parameter: its choices, comma separated (or a JSON list)."""

    kind = "categorical"

    def __init__(self) -> None:
        self.choices = _text(
            "choices: a, b, c", "318px", 'comma separated; quote "1" to keep it a string'
        )
        self.box = widgets.HBox([self.choices])

    @property
    def fields(self) -> dict[str, widgets.DOMWidget]:
        return {"choices": self.choices}

    def load(self, spec: Mapping[str, Any]) -> None:
        choices = spec.get("choices")
        self.choices.value = fmt_list(choices) if isinstance(choices, list | tuple) else ""

    def dump(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": parse_list(self.choices.value)}


Editor = RangeEditor | ChoicesEditor


def _make_editor(kind: str) -> Editor:
    return ChoicesEditor() if kind == "categorical" else RangeEditor(kind)


class ParamRow:
    """One parameter: name, kind, the kind's editor, condition, reorder/remove, error line."""

    def __init__(self, form: SpaceForm, name: str = "", spec: Mapping[str, Any] | None = None):
        self.form = form
        self.name = _text("name", "135px", "parameter name")
        self.kind = widgets.Dropdown(options=KINDS, value="float", layout={"width": "112px"})
        self._editors: dict[str, Editor] = {}
        self.editor: Editor = self._editor("float")
        self.editor_box = widgets.HBox([self.editor.box], layout={"width": "330px"})
        self.parent = widgets.Dropdown(
            options=[("always", _NO_PARENT)],
            value=_NO_PARENT,
            tooltip="only sample this parameter when a categorical parameter takes some values",
            layout={"width": "130px"},
        )
        self.values = _text("when parent in …", "130px", "parent values, comma separated")
        small = {"width": "34px", "padding": "0"}
        self.up = widgets.Button(icon="arrow-up", tooltip="move up", layout=small)
        self.down = widgets.Button(icon="arrow-down", tooltip="move down", layout=small)
        self.remove = widgets.Button(icon="trash", tooltip="remove parameter", layout=small)
        self.error = widgets.HTML()
        self.error.add_class("hpo-row-error")
        self.line = widgets.HBox(
            [
                self.name,
                self.kind,
                self.editor_box,
                self.parent,
                self.values,
                self.up,
                self.down,
                self.remove,
            ]
        )
        self.widget = widgets.VBox([self.line, self.error])
        self.widget.add_class("hpo-param-row")
        self.up.on_click(lambda _: form.move(self, -1))
        self.down.on_click(lambda _: form.move(self, +1))
        self.remove.on_click(lambda _: form.remove(self))
        self.kind.observe(self._on_kind, "value")
        for w in (self.name, self.parent, self.values):
            w.observe(self._on_edit, "value")
        self.name.value = name
        if spec is not None:
            self.load(spec)

    # -- editors --------------------------------------------------------------------------
    def _editor(self, kind: str) -> Editor:
        editor = self._editors.get(kind)
        if editor is None:
            editor = self._editors[kind] = _make_editor(kind)
            for w in editor.fields.values():
                w.observe(self._on_edit, "value")
        return editor

    def _on_kind(self, change: dict[str, Any]) -> None:
        old, new = self.editor, self._editor(change["new"])
        with self.form.quiet():
            if isinstance(old, RangeEditor) and isinstance(new, RangeEditor):
                new.copy_from(old)
        self.editor = new
        self.editor_box.children = (new.box,)
        self.form.changed()

    def _on_edit(self, _change: dict[str, Any]) -> None:
        self.form.changed()

    # -- model ----------------------------------------------------------------------------
    def load(self, spec: Mapping[str, Any]) -> None:
        """Fill the inputs from a dict-form spec (possibly invalid: bad values stay visible)."""
        with self.form.quiet():
            kind = spec.get("type")
            self.kind.value = kind if kind in KINDS else "float"
            self.editor.load(spec)
            cond = spec.get("condition")
            if isinstance(cond, Mapping) and len(cond) == 1:
                ((parent, values),) = cond.items()
                self.set_parent_options([], keep=str(parent))
                self.parent.value = str(parent)
                self.values.value = fmt_list(values) if isinstance(values, list | tuple) else ""
            else:
                self.parent.value = _NO_PARENT
                self.values.value = ""

    @property
    def param_name(self) -> str:
        return self.name.value.strip()

    def spec(self) -> dict[str, Any]:
        spec = self.editor.dump()
        if self.parent.value != _NO_PARENT:
            spec["condition"] = {self.parent.value: parse_list(self.values.value)}
        return spec

    def set_parent_options(self, names: list[str], keep: str | None = None) -> None:
        """Categorical parameters this one may depend on; an unknown current parent stays
        listed (marked ``?``) so that the check reports it instead of dropping the condition."""
        current = keep if keep is not None else self.parent.value
        options: list[tuple[str, str]] = [("always", _NO_PARENT)]
        options += [(f"if {n}", n) for n in names if n != self.param_name]
        if current != _NO_PARENT and current not in [v for _, v in options]:
            options.append((f"if {current} (?)", current))
        if list(self.parent.options) != options:
            with self.parent.hold_sync():  # options and value in one message
                self.parent.options = options
                self.parent.value = current

    # -- errors ---------------------------------------------------------------------------
    def field_widgets(self) -> dict[str, widgets.DOMWidget]:
        return {
            "name": self.name,
            "type": self.kind,
            "condition": self.values,
            **self.editor.fields,
        }

    def show_problems(self, problems: list[Problem]) -> None:
        fields = self.field_widgets()
        bad = {p.field for p in problems}
        for fld, w in fields.items():
            mark(w, fld in bad)
        mark(self.parent, "condition" in bad)
        messages = []
        for p in problems:
            label = p.field if p.field is not None else self.param_name or "parameter"
            messages.append(f"{label}: {p.message}")
        html = error_html(messages)
        if self.error.value != html:
            self.error.value = html

    def set_disabled(self, disabled: bool) -> None:
        for w in (self.name, self.kind, self.parent, self.values, self.up, self.down, self.remove):
            w.disabled = disabled
        for editor in self._editors.values():
            for w in editor.fields.values():
                w.disabled = disabled

    def close(self) -> None:
        for editor in self._editors.values():
            editor.box.close()
            for w in editor.fields.values():
                w.close()
        for w in (self.name, self.kind, self.parent, self.values, self.up, self.down, self.remove):
            w.close()
        for w in (self.error, self.editor_box, self.line, self.widget):
            w.close()


class SpaceForm:
    """Edit a :class:`SearchSpace` as rows; ``space`` is the valid space or ``None``.

    Example::

        form = SpaceForm({"x": {"type": "float", "low": 0, "high": 1}})
        form.rows[0].editor.high.value = "-1"
        form.valid          # False; form.rows[0].error shows "high: must be greater than low..."
    """

    def __init__(self, space: SearchSpace | Mapping[str, Any] | None = None) -> None:
        self.rows: list[ParamRow] = []
        self.space: SearchSpace | None = SearchSpace.empty()
        self.problems: list[Problem] = []
        self.read_only = False
        self._quiet = 0
        self._callbacks: list[Callable[[SpaceForm], None]] = []

        self.rows_box = widgets.VBox()
        self.add_button = widgets.Button(description="+ parameter", tooltip="add a parameter")
        self.add_button.on_click(lambda _: self.add())
        self.error = widgets.HTML()
        self.error.add_class("hpo-form-error")
        self.note = widgets.HTML()
        # Import / export: one text area, JSON or YAML.
        self.io_text = widgets.Textarea(
            placeholder="Paste a search space as JSON or YAML and press Import, or press Export.",
            layout={"width": "98%", "height": "140px"},
        )
        self.export_json = widgets.Button(description="Export JSON")
        self.export_yaml = widgets.Button(description="Export YAML")
        self.import_button = widgets.Button(description="Import", button_style="info")
        self.io_message = widgets.HTML()
        self.export_json.on_click(lambda _: self.export("json"))
        self.export_yaml.on_click(lambda _: self.export("yaml"))
        self.import_button.on_click(lambda _: self.import_text())
        self.io_box = widgets.VBox(
            [
                self.io_text,
                widgets.HBox([self.export_json, self.export_yaml, self.import_button]),
                self.io_message,
            ]
        )
        self.io = widgets.Accordion(children=[self.io_box], titles=("Import / export",))
        self.io.selected_index = None
        self.widget = widgets.VBox([self.note, self.rows_box, self.error, self.add_button, self.io])
        self.widget.add_class("hpo-space-form")
        if space is not None:
            self.set_space(space)
        else:
            self.changed()

    # -- building -------------------------------------------------------------------------
    class _Quiet:
        def __init__(self, form: SpaceForm) -> None:
            self.form = form

        def __enter__(self) -> None:
            self.form._quiet += 1

        def __exit__(self, *exc: object) -> None:
            self.form._quiet -= 1

    def quiet(self) -> SpaceForm._Quiet:
        """Suspend validation while several inputs change together."""
        return SpaceForm._Quiet(self)

    def on_change(self, callback: Callable[[SpaceForm], None]) -> None:
        """Call ``callback(form)`` after every edit, once validation has run."""
        self._callbacks.append(callback)

    def add(self, name: str = "", spec: Mapping[str, Any] | None = None) -> ParamRow:
        if not name and spec is None:
            name = self._fresh_name()
            spec = {"type": "float", "low": 0.0, "high": 1.0}
        with self.quiet():
            row = ParamRow(self, name, spec)
        self.rows.append(row)
        self._layout_rows()
        self.changed()
        return row

    def _fresh_name(self) -> str:
        names = {r.param_name for r in self.rows}
        i = len(self.rows) + 1
        while f"param{i}" in names:
            i += 1
        return f"param{i}"

    def remove(self, row: ParamRow) -> None:
        if row in self.rows:
            self.rows.remove(row)
            self._layout_rows()
            row.close()
            self.changed()

    def move(self, row: ParamRow, delta: int) -> None:
        i = self.rows.index(row)
        j = i + delta
        if 0 <= j < len(self.rows):
            self.rows[i], self.rows[j] = self.rows[j], self.rows[i]
            self._layout_rows()
            self.changed()

    def _layout_rows(self) -> None:
        self.rows_box.children = tuple(r.widget for r in self.rows)

    def clear(self) -> None:
        rows, self.rows = self.rows, []
        self._layout_rows()
        for row in rows:
            row.close()

    def set_space(self, space: SearchSpace | Mapping[str, Any] | None) -> None:
        """Replace all rows (a dict may be invalid: its problems are shown on the rows)."""
        data = space.to_dict() if isinstance(space, SearchSpace) else dict(space or {})
        with self.quiet():
            self.clear()
            for name, spec in data.items():
                row = ParamRow(self, str(name), spec if isinstance(spec, Mapping) else {})
                self.rows.append(row)
        self._layout_rows()
        self.changed()

    # -- validation -----------------------------------------------------------------------
    def raw(self) -> dict[str, dict[str, Any]]:
        """The dict form of the rows as typed (first row wins on duplicate names)."""
        data: dict[str, dict[str, Any]] = {}
        for row in self.rows:
            if row.param_name and row.param_name not in data:
                data[row.param_name] = row.spec()
        return data

    def changed(self) -> None:
        """Re-validate and notify; called by every input's observer."""
        if self._quiet:
            return
        self.validate()
        for callback in list(self._callbacks):
            callback(self)

    def validate(self) -> SearchSpace | None:
        per_row: dict[int, list[Problem]] = {id(r): [] for r in self.rows}
        general: list[Problem] = []
        seen: dict[str, ParamRow] = {}
        for row in self.rows:
            name = row.param_name
            if not name:
                per_row[id(row)].append(Problem(None, "name", "must not be empty (name it)"))
            elif name in seen:
                msg = f"{name!r} is defined more than once (names must be unique; rename one)"
                per_row[id(row)].append(Problem(name, "name", msg))
            else:
                seen[name] = row
        space: SearchSpace | None = None
        try:
            space = SearchSpace.from_dict(self.raw())
        except SearchSpaceError as exc:
            for p in exc.problems:
                owner = seen.get(p.param) if p.param is not None else None
                if owner is not None:
                    per_row[id(owner)].append(p)
                else:
                    general.append(p)
        categorical = [r.param_name for r in self.rows if r.kind.value == "categorical"]
        with self.quiet():
            for row in self.rows:
                row.set_parent_options([n for n in categorical if n])
        for row in self.rows:
            row.show_problems(per_row[id(row)])
        html = error_html(str(p) for p in general)
        if self.error.value != html:
            self.error.value = html
        problems = [p for ps in per_row.values() for p in ps] + general
        self.problems = problems
        self.space = space if not problems else None
        return self.space

    @property
    def valid(self) -> bool:
        return self.space is not None

    # -- import / export ------------------------------------------------------------------
    def export(self, fmt: str) -> str:
        """Write the space into the text area (the valid space, else the rows as typed)."""
        if self.space is not None:
            text = self.space.to_json() if fmt == "json" else self.space.to_yaml()
            self.io_message.value = note_html(f"Exported {len(self.space)} parameter(s).")
        else:
            raw = self.raw()
            text = (
                json.dumps(raw, indent=2)
                if fmt == "json"
                else yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
            )
            self.io_message.value = error_html(["The form has errors; exported it as typed."])
        self.io_text.value = text
        return text

    def import_text(self, text: str | None = None) -> bool:
        """Load JSON or YAML from the text area; problems are listed and shown on the rows."""
        text = self.io_text.value if text is None else text
        self.io_text.value = text
        try:
            try:
                data = json.loads(text)
            except ValueError:
                data = yaml.safe_load(text)  # YAML, including JSON-like flow style
        except (ValueError, yaml.YAMLError) as exc:
            self.io_message.value = error_html([f"Could not read it as JSON or YAML: {exc}"])
            return False
        if not isinstance(data, Mapping):
            got = type(data).__name__
            msg = f"Expected a mapping of parameter name -> spec, got {got}."
            self.io_message.value = error_html([msg])
            return False
        self.set_space(data)
        if self.valid:
            self.io_message.value = note_html(f"Imported {len(self.rows)} parameter(s).")
            return True
        self.io_message.value = error_html(["Imported with problems; see the rows above."])
        return False

    # -- read-only (define-by-run) ---------------------------------------------------------
    def set_read_only(self, read_only: bool, note: str = "") -> None:
        self.read_only = read_only
        for row in self.rows:
            row.set_disabled(read_only)
        for w in (self.add_button, self.import_button):
            w.disabled = read_only
        self.add_button.layout.display = "none" if read_only else None
        self.note.value = note_html(note)

    def show_discovered(self, space: SearchSpace) -> None:
        """Show a space found in the trials (read-only), rebuilding rows only if it changed."""
        if self.space is not None and self.space.to_dict() == space.to_dict():
            return
        self.set_space(space)
        self.set_read_only(True, self.note_text)

    note_text = (
        "The objective samples its own parameters (define-by-run): this is the space seen in "
        "the trials so far, read-only."
    )

    def close(self) -> None:
        self.clear()
        for w in (
            self.add_button,
            self.error,
            self.note,
            self.io_text,
            self.export_json,
            self.export_yaml,
            self.import_button,
            self.io_message,
            self.io_box,
            self.io,
            self.rows_box,
            self.widget,
        ):
            w.close()
