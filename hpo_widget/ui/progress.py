"""Where the run is: the progress bar (trials by state, elapsed, ETA) and the status line.

Both render engine state (:class:`~hpo_widget.runner.Progress`,
:class:`~hpo_widget.events.StatusChanged`) and send a comm message only when the HTML changes,
since the panel re-renders them on every tick.
"""

from __future__ import annotations

import ipywidgets as widgets

from ..events import RunStatus, StatusChanged
from ..plots import STATE_COLORS
from ..runner import Progress
from ._common import esc, fmt_duration

__all__ = ["ProgressBar", "StatusLine", "progress_html"]

#: Status line colours, JupyterLab's theme variables (the fallbacks outside JupyterLab): the
#: text keeps the theme's font colour and only the bullet is coloured, so it reads in light and
#: dark themes alike (a green text on a dark background did not).
_STATUS_COLORS = {
    RunStatus.FAILED: "var(--jp-error-color1, #d32f2f)",
    RunStatus.FINISHED: "var(--jp-success-color1, #388e3c)",
    RunStatus.RUNNING: "var(--jp-brand-color1, #1976d2)",
}
_GREY = "var(--jp-ui-font-color2, #6b7280)"
_ERROR_TEXT = "var(--jp-error-color1, #d32f2f)"


def progress_html(
    complete: int,
    pruned: int,
    failed: int,
    running: int,
    target: int | None,
    elapsed: float,
    eta: float | None,
    status: str,
) -> str:
    """A bar with one segment per finished state, and a line of counts, elapsed time and ETA."""
    finished = complete + pruned + failed
    total = max(target or 0, finished, 1)
    segments = "".join(
        f'<div style="width:{100 * n / total:.2f}%;background:{STATE_COLORS[state]}"></div>'
        for n, state in ((complete, "COMPLETE"), (pruned, "PRUNED"), (failed, "FAIL"))
        if n
    )
    bar = (
        '<div class="hpo-progress-bar" style="display:flex;height:10px;'
        'background:var(--jp-layout-color3, #e5e7eb);border-radius:5px;overflow:hidden;margin:4px 0">'
        f"{segments}</div>"
    )
    parts = [f"{finished} / {target} finished" if target else f"{finished} finished"]
    parts.append(f"{complete} complete · {pruned} pruned · {failed} failed")
    if running:
        parts.append(f"{running} running")
    if elapsed:
        parts.append(f"elapsed {fmt_duration(elapsed)}")
    if eta is not None and status == "running":
        parts.append(f"ETA {fmt_duration(eta)}")
    text = " · ".join(parts)
    return f'{bar}<div class="hpo-progress-text" style="font-size:12px">{esc(text)}</div>'


class ProgressBar:
    """The progress widget of a panel."""

    def __init__(self) -> None:
        self.widget = widgets.HTML()
        self.widget.add_class("hpo-progress")
        self.widget.layout.width = "100%"

    def show(self, progress: Progress | None, idle_target: int | None = None) -> None:
        """Render ``progress``; before any run, an empty bar towards ``idle_target`` trials."""
        p = progress
        if p is None:
            html = progress_html(0, 0, 0, 0, idle_target, 0.0, None, "idle")
        else:
            html = progress_html(
                p.complete,
                p.pruned,
                p.failed,
                p.running,
                p.target,
                p.elapsed,
                p.eta,
                p.status.value,
            )
        if self.widget.value != html:
            self.widget.value = html

    def close(self) -> None:
        self.widget.close()


class StatusLine:
    """One line saying what the run does, or why it did not start."""

    def __init__(self) -> None:
        self.widget = widgets.HTML()
        self.widget.add_class("hpo-status")

    def show(self, text: str, color: str = _GREY, *, text_color: str | None = None) -> None:
        html = (
            f'<div style="color:{text_color or "var(--jp-ui-font-color1, #111827)"}">'
            f'<span style="color:{color}">●</span> {esc(text)}</div>'
            if text
            else ""
        )
        if self.widget.value != html:
            self.widget.value = html

    def error(self, text: str) -> None:
        self.show(text, _ERROR_TEXT, text_color=_ERROR_TEXT)

    def show_event(self, event: StatusChanged, note: str = "") -> None:
        """The line for a runner status; ``note`` is appended while starting or running."""
        s = event.status
        text = {
            # The start-up phase the engine announces ("starting spark (local[2])").
            RunStatus.STARTING: (event.message[:1].upper() + event.message[1:] + "…")
            if event.message
            else "Starting…",
            RunStatus.RUNNING: f"Running: {event.message}",
            RunStatus.STOPPING: "Stopping…",
            RunStatus.STOPPED: "Stopped. Resume continues to the same total.",
            RunStatus.FINISHED: f"Finished: {event.message}",
            RunStatus.FAILED: f"Failed: {event.message}",
        }.get(s, s.value)
        if s in (RunStatus.STARTING, RunStatus.RUNNING):
            # What the backend waits for (pending executors) first: it is why nothing moves.
            text = " · ".join(part for part in (text, event.detail, note) if part)
        self.show(text, _STATUS_COLORS.get(s, _GREY))

    def close(self) -> None:
        self.widget.close()
