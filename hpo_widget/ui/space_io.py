"""The form's "Import / export" section: one text area, JSON or YAML.

Export writes the valid space (:meth:`SearchSpace.to_json` / ``to_yaml``), else the rows as
typed, so nothing typed is lost; import reads either format and loads it into the form, whose
rows then show the space's problems.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import yaml

from ._common import close_tree, error_html, note_html

if TYPE_CHECKING:
    from .space_form import SpaceForm

__all__ = ["SpaceIO", "read_space_text"]


def read_space_text(text: str) -> Mapping[str, Any]:
    """The mapping of parameter name -> spec in JSON or YAML ``text``; ValueError says why not."""
    try:
        try:
            data = json.loads(text)
        except ValueError:
            data = yaml.safe_load(text)  # YAML, including JSON-like flow style
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"Could not read it as JSON or YAML: {exc}") from None
    if not isinstance(data, Mapping):
        got = type(data).__name__
        raise ValueError(f"Expected a mapping of parameter name -> spec, got {got}.")
    return data


class SpaceIO:
    """The text area, Export JSON / Export YAML / Import buttons and their message."""

    def __init__(self, form: SpaceForm) -> None:
        self.form = form
        self.text = widgets.Textarea(
            placeholder="Paste a search space as JSON or YAML and press Import, or press Export.",
            layout={"width": "98%", "height": "140px"},
        )
        self.export_json = widgets.Button(description="Export JSON")
        self.export_yaml = widgets.Button(description="Export YAML")
        self.import_button = widgets.Button(description="Import", button_style="info")
        self.message = widgets.HTML()
        self.export_json.on_click(lambda _: self.export("json"))
        self.export_yaml.on_click(lambda _: self.export("yaml"))
        self.import_button.on_click(lambda _: self.import_text())
        self.box = widgets.VBox(
            [
                self.text,
                widgets.HBox([self.export_json, self.export_yaml, self.import_button]),
                self.message,
            ]
        )
        self.widget = widgets.Accordion(children=[self.box], titles=("Import / export",))
        self.widget.selected_index = None

    def export(self, fmt: str) -> str:
        """Write the space into the text area (the valid space, else the rows as typed)."""
        space = self.form.space
        if space is not None:
            text = space.to_json() if fmt == "json" else space.to_yaml()
            self.message.value = note_html(f"Exported {len(space)} parameter(s).")
        else:
            raw = self.form.raw()
            text = (
                json.dumps(raw, indent=2)
                if fmt == "json"
                else yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
            )
            self.message.value = error_html(["The form has errors; exported it as typed."])
        self.text.value = text
        return text

    def import_text(self, text: str | None = None) -> bool:
        """Load JSON or YAML from the text area; problems are listed and shown on the rows."""
        text = self.text.value if text is None else text
        self.text.value = text
        try:
            data = read_space_text(text)
        except ValueError as exc:
            self.message.value = error_html([str(exc)])
            return False
        form = self.form
        form.set_space(data)
        if form.valid:
            self.message.value = note_html(f"Imported {len(form.rows)} parameter(s).")
            return True
        self.message.value = error_html(["Imported with problems; see the rows above."])
        return False

    def close(self) -> None:
        close_tree(self.widget)
