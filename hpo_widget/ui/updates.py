"""The panel thread: applies what the runner queued to the widgets, coalesced, off the runner.

The runner's thread only queues events (a few appends and :meth:`UpdateThread.wake`); this
thread calls the panel's ``apply`` at most every ``min_interval`` seconds and at least every
half second while a run goes (so elapsed and ETA keep moving).  It exits once the panel is idle,
so an idle panel holds no thread and can be garbage collected, and it never prints: an error
in ``apply`` goes to ``on_error`` (the status line), since text written from a thread would
land in whatever cell runs at that moment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["UpdateThread"]


class UpdateThread:
    """Calls ``apply`` from a daemon thread started by :meth:`ensure` until ``idle()``."""

    #: Longest wait for a wake-up before applying anyway (seconds).
    TICK = 0.5

    def __init__(
        self,
        apply: Callable[[], None],
        *,
        idle: Callable[[], bool],
        on_error: Callable[[str], None],
        lock: threading.RLock,
        min_interval: float,
        name: str = "hpo-panel",
    ) -> None:
        self._apply = apply
        self._idle = idle
        self._on_error = on_error
        self._lock = lock
        self.min_interval = min_interval
        self._name = name
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Something was queued: apply it soon (thread-safe, cheap)."""
        self._wake.set()

    def ensure(self) -> None:
        """Start the thread unless it runs."""
        with self._lock:
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end (it does not apply again); see :meth:`join`."""
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for a stopped thread to end (not when called from the thread itself)."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.TICK)
            if self._stop.is_set():
                break
            self._wake.clear()
            try:
                self._apply()
            except Exception as exc:  # never let the thread die or print
                self._on_error(f"Panel update failed: {type(exc).__name__}: {exc}")
            with self._lock:
                if self._idle():
                    self._thread = None
                    return
            self._stop.wait(self.min_interval)
        with self._lock:
            if self._thread is threading.current_thread():
                self._thread = None
