"""The search-space form: one row of inputs per parameter, validated by :mod:`hpo_widget.space`.

The form keeps no model of its own: the rows' text is turned into the space's dict form and fed
to :meth:`SearchSpace.from_dict`, whose :class:`SearchSpaceError` problems (param, field,
message) are mapped back onto the row and field that is wrong.  So the form can never accept a
space the engine would reject, and its messages are the engine's, which say how to fix things.

Its parts: a :class:`~.param_row.ParamRow` per parameter, holding the editor of its kind
(:mod:`.param_editors`), and the import / export section (:mod:`.space_io`).  Replacing every
row at once (an import, a preset) is one step that :meth:`SpaceForm.undo` takes back: rows typed
by hand should never be one click away from being lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets

from ..space import Problem, SearchSpace, SearchSpaceError
from ._common import close_tree, error_html, note_html
from .param_editors import ChoicesEditor, RangeEditor
from .param_row import ParamRow
from .space_io import SpaceIO

__all__ = ["ChoicesEditor", "ParamRow", "RangeEditor", "SpaceForm"]


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
        #: The rows (name, spec as typed) before the last import or preset, and what it was.
        self._undo: tuple[str, list[tuple[str, dict[str, Any]]]] | None = None
        self.undo_button = widgets.Button(
            description="Undo",
            tooltip="Put the parameters back as they were before the last import or preset",
            layout={"display": "none"},
        )
        self.undo_button.on_click(lambda _: self.undo())
        self.error = widgets.HTML()
        self.error.add_class("hpo-form-error")
        self.note = widgets.HTML()
        self.io = SpaceIO(self)
        # The section's inputs, as the form's own (what tests and notebooks click).
        self.io_text, self.io_message = self.io.text, self.io.message
        self.export_json, self.export_yaml = self.io.export_json, self.io.export_yaml
        self.import_button = self.io.import_button
        self.widget = widgets.VBox(
            [
                self.note,
                self.rows_box,
                self.error,
                widgets.HBox([self.add_button, self.undo_button]),
                self.io.widget,
            ]
        )
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
        self._set_rows(list(data.items()))

    def _set_rows(self, items: list[tuple[Any, Any]]) -> None:
        with self.quiet():
            self.clear()
            for name, spec in items:
                row = ParamRow(self, str(name), spec if isinstance(spec, Mapping) else {})
                self.rows.append(row)
        self._layout_rows()
        self.changed()

    def replace(self, space: SearchSpace | Mapping[str, Any], what: str) -> None:
        """Replace all rows by ``space`` (an import, a preset: ``what``), keeping the rows as
        they were for one :meth:`undo`."""
        before = [(row.param_name, row.spec()) for row in self.rows]
        self.set_space(space)
        self._undo = (what, before)
        self.undo_button.description = f"Undo {what}"
        self.undo_button.tooltip = f"Put the parameters back as they were before this {what}" + (
            " (the objective stays the preset's)" if what == "preset" else ""
        )
        self.undo_button.layout.display = None

    @property
    def can_undo(self) -> str | None:
        """What :meth:`undo` would take back (``"import"``, ``"preset"``), or None."""
        return self._undo[0] if self._undo is not None else None

    def undo(self) -> bool:
        """Put back the rows the last import or preset replaced (one step); False if none."""
        if self._undo is None:
            return False
        _, before = self._undo
        self._undo = None
        self.undo_button.layout.display = "none"
        self._set_rows(before)
        return True

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

    # -- import / export (:class:`~.space_io.SpaceIO`) --------------------------------------
    def export(self, fmt: str) -> str:
        """Write the space into the text area (the valid space, else the rows as typed)."""
        return self.io.export(fmt)

    def import_text(self, text: str | None = None) -> bool:
        """Load JSON or YAML from the text area if it is a valid space (else change nothing
        and say why); see :meth:`.space_io.SpaceIO.import_text`."""
        return self.io.import_text(text)

    # -- read-only (define-by-run) ---------------------------------------------------------
    def set_read_only(self, read_only: bool, note: str = "") -> None:
        self.read_only = read_only
        for row in self.rows:
            row.set_disabled(read_only)
        for w in (self.add_button, self.import_button, self.undo_button):
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
        close_tree(self.widget)  # the section of import / export too
