"""Slow figure data computed off the caller's thread, coalesced and throttled.

Why: a slow kind (``FigureKind.slow``, the importances: PED-ANOVA takes seconds on a long
study) must not block a notebook kernel's main thread, and a burst of finished trials must not
start a computation per trial.  Any live view (the panel, a dashboard) asks with
:meth:`BackgroundData.request` as often as it likes; at most one computation runs at a time,
at most once every ``interval`` seconds, and the result goes to ``deliver`` on the worker
thread.  Threads only, no widgets.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["BackgroundData"]

T = TypeVar("T")


class BackgroundData(Generic[T]):
    """Runs ``compute`` on a daemon thread when asked, at most once per ``interval`` seconds.

    ``on_error`` turns an exception into a result to deliver (a figure that says what went
    wrong), because an exception in a worker thread would otherwise vanish.
    """

    #: Seconds an idle thread waits for more work before it exits.
    linger = 10.0

    def __init__(
        self,
        compute: Callable[[], T],
        deliver: Callable[[T], None],
        *,
        on_error: Callable[[Exception], T],
        interval: float,
        name: str,
    ) -> None:
        self.compute = compute
        self.deliver = deliver
        self.on_error = on_error
        self.interval = interval
        self.name = name
        self.last_started = 0.0
        self.runs = 0
        self.thread_names: list[str] = []
        self.durations: list[float] = []
        self._wanted = threading.Event()
        self._closed = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        """Ask for a fresh computation (coalesced; starts the thread if it is not running)."""
        with self._lock:
            if self._closed.is_set():
                return
            self._idle.clear()
            self._wanted.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no computation is wanted or running (tests, benchmarks)."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while not self._closed.is_set():
            if not self._wanted.wait(self.linger):
                with self._lock:
                    if not self._wanted.is_set():
                        self._thread = None  # idle: leave; request() starts a new one
                        return
                continue
            delay = self.interval - (time.monotonic() - self.last_started)
            if delay > 0 and self._closed.wait(delay):
                break
            self._wanted.clear()
            self.last_started = time.monotonic()
            try:
                result = self.compute()
            except Exception as exc:  # show it; never raise in a thread
                result = self.on_error(exc)
            self.durations.append(time.monotonic() - self.last_started)
            self.thread_names.append(threading.current_thread().name)
            self.runs += 1
            self.deliver(result)
            if not self._wanted.is_set():
                self._idle.set()

    def close(self) -> None:
        """Stop for good: no more computations; a running one finishes but is not waited for."""
        self._closed.set()
        self._wanted.set()
        self._idle.set()
