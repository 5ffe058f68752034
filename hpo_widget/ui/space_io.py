"""The form's "Import / export" section: one text area, JSON or YAML.

Export writes the valid space (:meth:`SearchSpace.to_json` / ``to_yaml``), else the rows as
typed, so nothing typed is lost.  Import reads either format and checks it with the engine
(:meth:`SearchSpace.from_dict`) *before* it touches the form: rows typed by hand are work, so a
text that does not parse or holds any problem changes nothing, and the message names each wrong
field (``x.type: unknown type 'floatt' ...``).  A good import can be undone in one step
(:meth:`SpaceForm.undo`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import yaml

from ..space import SearchSpace, SearchSpaceError
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
        """Load JSON or YAML from the text area into the form, only if it is a valid space.

        Returns whether it was imported; if not, the form is as it was and the message says
        why, naming each wrong field.
        """
        text = self.text.value if text is None else text
        self.text.value = text
        unchanged = "Nothing was imported; the form is unchanged."
        try:
            data = read_space_text(text)
            if not data:
                raise ValueError("The mapping is empty: no parameter to import.")
            SearchSpace.from_dict(data)
        except SearchSpaceError as exc:
            self.message.value = error_html([unchanged, *(str(p) for p in exc.problems)])
            return False
        except ValueError as exc:
            self.message.value = error_html([unchanged, str(exc)])
            return False
        self.form.replace(data, "import")
        self.message.value = note_html(
            f"Imported {len(self.form.rows)} parameter(s) (Undo import puts the form back)."
        )
        return True

    def close(self) -> None:
        close_tree(self.widget)
