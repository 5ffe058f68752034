"""The live panels of this kernel, so that none is left running where nobody can see it.

Every panel registers itself when it is built (:func:`register`), and the registry enforces
the rules that keep a notebook free of orphans:

* re-running the cell that made a panel closes the old panel (it is gone from view);
* a panel that takes over a study name stops the other panel running that study, so two
  panels never append to one study at once (:func:`stop_others`);
* an ``atexit`` hook closes whatever is left when the kernel shuts down, which stops the runs
  and releases their backends (no orphan RUNNING trials, no stray Spark jobs).

Panels are held weakly: one that nobody references can be garbage collected.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .panel import Panel

__all__ = [
    "close_all",
    "current_cell_id",
    "live_panels",
    "register",
    "running_panels",
    "stop_others",
    "unregister",
]

_PANELS: weakref.WeakSet[Panel] = weakref.WeakSet()
_PANELS_LOCK = threading.Lock()


def live_panels() -> list[Panel]:
    """Panels that are not closed (weakly held: a panel nobody references can go away)."""
    with _PANELS_LOCK:
        return [p for p in _PANELS if not p.closed]


def running_panels() -> list[Panel]:
    """Live panels whose study is running now."""
    return [p for p in live_panels() if p.running]


def close_all() -> None:
    """Close every live panel: stop their runs and release their backends (runs at exit)."""
    for panel in live_panels():
        with contextlib.suppress(Exception):
            panel.close()


atexit.register(close_all)


def register(panel: Panel) -> None:
    """Add a new panel; close the panel of the same cell and stop a run of the same study."""
    name = panel.study_name
    for other in live_panels():
        if other is panel:
            continue
        if panel.cell_id is not None and other.cell_id == panel.cell_id:
            other.close()  # the cell was re-run: the old panel is gone from view
        elif other.study_name == name and other.running:
            other.stop()
            other.status_line.show(f"Stopped: a newer panel took over study {name!r}.")
    with _PANELS_LOCK:
        _PANELS.add(panel)


def unregister(panel: Panel) -> None:
    """Forget a closed panel."""
    with _PANELS_LOCK:
        _PANELS.discard(panel)


def stop_others(panel: Panel) -> None:
    """Stop every other panel running ``panel``'s study (``panel`` is about to start it)."""
    name = panel.study_name
    for other in running_panels():
        if other is not panel and other.study_name == name:
            other.stop()
            other.status_line.show(f"Stopped: another panel runs study {name!r}.")


def current_cell_id() -> str | None:
    """JupyterLab's id of the executing cell (None outside a kernel): what "the same cell" means
    for :func:`register`."""
    try:
        from IPython import get_ipython

        ip = get_ipython()
        kernel = getattr(ip, "kernel", None)
        if kernel is None:
            return None
        parent = kernel.get_parent("shell") or {}
        cell = (parent.get("metadata") or {}).get("cellId")
        return str(cell) if cell else None
    except Exception:
        return None
