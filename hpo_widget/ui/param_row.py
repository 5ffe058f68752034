"""One parameter of the search-space form: name, kind, the kind's editor, condition, buttons.

A :class:`ParamRow` holds no rules: :class:`~.space_form.SpaceForm` validates every row
together (names must be unique, conditions name categorical parameters) and hands each row its
problems to show.  The row tells the form of every edit and asks it to move or remove it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ..space import Problem
from ._common import error_html, fmt_list, mark, no_null_tooltips, parse_list
from .param_editors import KINDS, Editor, RangeEditor, make_editor, text_input

if TYPE_CHECKING:
    from .space_form import SpaceForm

__all__ = ["NO_PARENT", "ParamRow"]

#: The condition dropdown's value for an unconditional parameter.
NO_PARENT = ""
#: The name box's hover text while the name fits (a longer name is its own hover text).
NAME_TIP = "the parameter's name, as the objective reads it"


class ParamRow:
    """One parameter: name, kind, the kind's editor, condition, reorder/remove, error line."""

    def __init__(self, form: SpaceForm, name: str = "", spec: Mapping[str, Any] | None = None):
        self.form = form
        # Wide enough for "RandomForest__max_depth"; longer names show in full on hover.
        self.name = text_input("name", "190px", NAME_TIP)
        self.kind = widgets.Dropdown(
            options=KINDS,
            value="float",
            tooltip="float, int or categorical",
            layout={"width": "112px"},
        )
        self._editors: dict[str, Editor] = {}
        self.editor: Editor = self._editor("float")
        self.editor_box = widgets.HBox([self.editor.box], layout={"width": "330px"})
        self.parent = widgets.Dropdown(
            options=[("always", NO_PARENT)],
            value=NO_PARENT,
            tooltip="only sample this parameter when a categorical parameter takes some values",
            layout={"width": "130px"},
        )
        self.values = text_input("when parent in …", "130px", "parent values, comma separated")
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
        self.name.observe(self._on_name, "value")
        self.name.value = name
        if spec is not None:
            self.load(spec)
        no_null_tooltips(self.widget)

    # -- editors --------------------------------------------------------------------------
    def _editor(self, kind: str) -> Editor:
        editor = self._editors.get(kind)
        if editor is None:
            editor = self._editors[kind] = make_editor(kind)
            for w in editor.fields.values():
                w.observe(self._on_edit, "value")
            no_null_tooltips(editor.box)
        return editor

    def _on_name(self, change: dict[str, Any]) -> None:
        """The full name on hover once it may not fit the box."""
        name = str(change["new"])
        self.name.tooltip = name if len(name) > 20 else NAME_TIP

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
                self.parent.value = NO_PARENT
                self.values.value = ""

    @property
    def param_name(self) -> str:
        return self.name.value.strip()

    def spec(self) -> dict[str, Any]:
        spec = self.editor.dump()
        if self.parent.value != NO_PARENT:
            spec["condition"] = {self.parent.value: parse_list(self.values.value)}
        return spec

    def set_parent_options(self, names: list[str], keep: str | None = None) -> None:
        """Categorical parameters this one may depend on; an unknown current parent stays
        listed (marked ``?``) so that the check reports it instead of dropping the condition."""
        current = keep if keep is not None else self.parent.value
        options: list[tuple[str, str]] = [("always", NO_PARENT)]
        options += [(f"if {n}", n) for n in names if n != self.param_name]
        if current != NO_PARENT and current not in [v for _, v in options]:
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
