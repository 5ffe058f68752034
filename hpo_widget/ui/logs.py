"""Log lines and warnings from worker threads, shown in the panels instead of in random cells.

Optuna logs "Trial N finished ..." for every trial and the runner logs warnings, both from
worker threads; in a kernel, text written from a thread lands in whatever cell runs at that
moment (ipywidgets#4020).  :func:`route_thread_logs` (called on every Run) sends what other
threads log or warn to the running panels' :class:`LogView` instead; from the main thread, or
with no panel running, everything is written to stderr as before.
"""

from __future__ import annotations

import logging
import sys
import threading
import warnings
from collections import deque
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import optuna

from ..storage import mask_password
from ._common import esc
from .registry import running_panels

if TYPE_CHECKING:
    from .panel import Panel

__all__ = ["LogView", "route_thread_logs"]


class LogView:
    """The last few warnings of a run, under the status line (newest last, repeats counted)."""

    def __init__(self, lines: int = 4) -> None:
        self.widget = widgets.HTML()
        self.widget.add_class("hpo-log")
        self._lines: deque[tuple[str, int]] = deque(maxlen=lines)

    def add(self, level: str, message: str) -> None:
        """Show ``level: first line of message`` (``level``: a logging level or warning class)."""
        # Logging levels read better quietly ("warning: ..."); warning classes keep their name.
        label = level.lower() if level.isupper() else level
        line = f"{label}: {message.splitlines()[0] if message else ''}"
        # A warning raised by every trial would push everything else out: count repeats.
        if self._lines and self._lines[-1][0] == line:
            self._lines[-1] = (line, self._lines[-1][1] + 1)
        else:
            self._lines.append((line, 1))
        html = "".join(
            f'<div class="hpo-note">{esc(text)}{f" ({n} times)" if n > 1 else ""}</div>'
            for text, n in self._lines
        )
        if self.widget.value != html:
            self.widget.value = html

    def close(self) -> None:
        self.widget.close()


def _worker_targets() -> list[Panel]:
    """The panels a record goes to: the running ones, when it comes from a worker thread
    (none on the main thread, whose output belongs to the cell it runs)."""
    if threading.current_thread() is threading.main_thread():
        return []
    return running_panels()


def _show(panels: list[Panel], level: str, message: str) -> None:
    for panel in panels:
        panel.log_view.add(level, mask_password(message))


class _ThreadLogRouter(logging.Handler):
    """Records from worker threads go to the running panels (warnings shown in their log line,
    per-trial INFO dropped: the panel already shows trials); others are written to stderr."""

    _FORMAT = logging.Formatter("[%(levelname)1.1s %(asctime)s] %(message)s")

    def __init__(self) -> None:
        super().__init__(logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            panels = _worker_targets()
            if not panels:
                if record.name.startswith("optuna") or record.levelno >= logging.WARNING:
                    sys.stderr.write(self._FORMAT.format(record) + "\n")
            elif record.levelno >= logging.WARNING:
                _show(panels, record.levelname, record.getMessage())
        except Exception:
            self.handleError(record)


_ROUTER: _ThreadLogRouter | None = None


def route_thread_logs() -> None:
    """Install the router (on every Run): replaces Optuna's default stderr handler and sends
    warnings raised in worker threads (e.g. Optuna's ExperimentalWarning) to the running panels.

    The log handler goes in once.  The ``warnings.showwarning`` hook is checked each time:
    ``warnings.catch_warnings`` blocks (pytest wraps every test in one) put back the function
    they found when they exit, which may drop a hook installed inside them.
    """
    global _ROUTER
    if _ROUTER is None:
        _ROUTER = _ThreadLogRouter()
        optuna.logging.disable_default_handler()
        logging.getLogger("optuna").addHandler(_ROUTER)
        logging.getLogger("hpo_widget").addHandler(_ROUTER)
    if getattr(warnings.showwarning, "_hpo_widget_hook", False):
        return
    original = warnings.showwarning

    def showwarning(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        panels = _worker_targets()
        if panels:
            _show(panels, category.__name__, str(message))
        else:
            original(message, category, *args, **kwargs)

    showwarning._hpo_widget_hook = True  # type: ignore[attr-defined]
    warnings.showwarning = showwarning
