"""The Run / Stop / Resume buttons and the line saying why Run is disabled.

Which buttons are enabled follows from the run's status and the panel's problems alone
(:meth:`ControlBar.refresh`), so that the buttons never offer what the runner would refuse.  A
disabled button loses its colour too: a green Run or red Stop at 60% opacity still looks
clickable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets

from ..events import RunStatus
from ._common import error_html

__all__ = ["ControlBar"]

#: Statuses Resume continues from.
_RESUMABLE = (RunStatus.STOPPED, RunStatus.FAILED)


class ControlBar:
    """Buttons calling ``on_run`` / ``on_stop`` / ``on_resume``, and the problems line."""

    def __init__(
        self,
        on_run: Callable[[], Any],
        on_stop: Callable[[], Any],
        on_resume: Callable[[], Any],
    ) -> None:
        self.run_button = widgets.Button(
            description="Run",
            button_style="success",
            icon="play",
            tooltip="start the study with these settings (runs in the background)",
        )
        self.stop_button = widgets.Button(
            description="Stop",
            icon="stop",
            disabled=True,
            tooltip="cancel the run; trials in flight are re-run on Resume",
        )
        self.resume_button = widgets.Button(
            description="Resume",
            icon="forward",
            disabled=True,
            tooltip="continue the study to the same total of trials",
        )
        self.run_button.add_class("hpo-run")
        self.stop_button.add_class("hpo-stop")
        self.resume_button.add_class("hpo-resume")
        self.run_button.on_click(lambda _: on_run())
        self.stop_button.on_click(lambda _: on_stop())
        self.resume_button.on_click(lambda _: on_resume())
        self.problems = widgets.HTML()
        self.widget = widgets.HBox(
            [self.run_button, self.stop_button, self.resume_button],
            layout={"align_items": "center"},
        )

    def refresh(self, problems: Sequence[str], status: RunStatus | None, running: bool) -> None:
        """Show ``problems`` and enable what applies (``status``: ``None`` before a runner)."""
        html = error_html(problems)
        if self.problems.value != html:
            self.problems.value = html
        self.run_button.disabled = running or bool(problems)
        self.stop_button.disabled = not running
        self.resume_button.disabled = running or status not in _RESUMABLE
        for button, style in ((self.run_button, "success"), (self.stop_button, "danger")):
            wanted = "" if button.disabled else style
            if button.button_style != wanted:
                button.button_style = wanted

    def close(self) -> None:
        for w in (self.run_button, self.stop_button, self.resume_button, self.problems):
            w.close()
        self.widget.close()
