"""The best-trial card's two buttons, as a small anywidget (front-end code in best_actions.js).

Why not ipywidgets buttons: a click on one reaches the kernel first, and from there neither the
clipboard (the browser only lets a page write it during the user's gesture) nor the notebook
(``set_next_input`` puts the code below whichever cell runs *next*, and only then) can be
reached.  Here the click is handled in the browser with the code the card holds at that
moment; the kernel keeps that code current (:attr:`code`, :attr:`params_text`) and hears back
what happened, to say so or to show the code for copying where the browser could not help.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import anywidget
import traitlets

__all__ = ["INSERT_EVENT", "BestTrialActions"]

#: The DOM event the "Insert code cell" button dispatches (handled by the JupyterLab extension).
INSERT_EVENT = "hpo-widget:insert-cell"


class ActionListener(Protocol):
    def __call__(self, event: str, error: str) -> None: ...


class BestTrialActions(anywidget.AnyWidget):
    _esm = Path(__file__).with_name("best_actions.js")

    #: The text "Copy params" writes to the clipboard.
    params_text = traitlets.Unicode("").tag(sync=True)
    #: The cell "Insert code cell" inserts.
    code = traitlets.Unicode("").tag(sync=True)
    enabled = traitlets.Bool(False).tag(sync=True)

    def __init__(self, on_action: ActionListener, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_action = on_action
        self.on_msg(self._message)

    def _message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and isinstance(content.get("event"), str):
            self._on_action(content["event"], str(content.get("error", "")))
