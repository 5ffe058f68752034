from __future__ import annotations

import abc
import atexit
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar


def describe_exit_code(code: int) -> str:
    """``3`` or ``-9 (SIGKILL)``: a negative exit code is the signal that killed the process."""
    if code < 0:
        try:
            return f"{code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"{code} (signal {-code})"
    return str(code)


def check_options(backend: str, options: Iterable[str], known: Sequence[str]) -> None:
    """Raise ValueError naming the ``options`` (keyword names) that are not in ``known``."""
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(
            f"backend_options: unknown {', '.join(map(repr, unknown))} for the {backend} "
            f"backend; known options are {', '.join(known)}"
        )


_exit_hooks_lock = threading.Lock()
_exit_hooks: set[Callable[[], None]] = set()


def shared_first_argument(args: list[tuple[Any, ...]]) -> Any:
    """The one object every worker call gets first (the run's worker task, with the objective
    and all it captures), or None when the calls differ: what a backend ships once per
    executor instead of once per call."""
    if len(args) < 2 or any(not a or a[0] is not args[0][0] for a in args):
        return None
    return args[0][0]


def call_once_at_exit(hook: Callable[[], None], *, before_thread_joins: bool = False) -> None:
    """Register ``hook`` to run at interpreter exit, once however often this is called.

    Backends kill or close the worker processes they own there, so a script or kernel that
    ends mid-run exits instead of waiting on a running (perhaps hung) trial.
    ``before_thread_joins`` runs it before the interpreter joins non-daemon threads (loky's
    executor threads wait for running tasks there); hooks run newest first, so registering
    after the library's own hook puts ours first.
    """
    with _exit_hooks_lock:
        if hook in _exit_hooks:
            return
        _exit_hooks.add(hook)
    register = getattr(threading, "_register_atexit", None) if before_thread_joins else None
    if register is not None:
        try:
            register(hook)
            return
        except RuntimeError:  # the interpreter is already shutting down
            pass
    atexit.register(hook)


class WorkerProcessExited(RuntimeError):
    """A worker process of a backend died mid-run (``os._exit``, a signal, the OOM killer).

    Raised by :meth:`Backend.run`; the runner uses the message as the reason of the trials the
    process held, so it names the exit code (``exit_codes``, negative: the signal).
    """

    def __init__(self, backend: str, exit_codes: Sequence[int], consequence: str = "") -> None:
        self.backend = backend
        self.exit_codes = tuple(exit_codes)
        self.consequence = consequence
        codes = ", ".join(describe_exit_code(c) for c in self.exit_codes) or "unknown"
        plural = "s" if len(self.exit_codes) > 1 else ""
        message = f"{backend} worker process exited with code{plural} {codes}"
        super().__init__(message + (f"; {consequence}" if consequence else ""))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.backend, self.exit_codes, self.consequence))


class Backend(abc.ABC):
    """Runs ``n`` copies of a worker function concurrently and can cancel them.

    ``in_process`` backends share the driver's memory (its storage object and stop event);
    ``remote`` ones may place workers on other hosts, so storage must be reachable over the network.
    """

    name: ClassVar[str]
    in_process: ClassVar[bool] = False
    #: Whether :meth:`prepare` starts anything (a front end prepares only such backends).
    prepares: ClassVar[bool] = False
    #: Not a ClassVar: some backends only know once configured (Spark: from the master URL).
    remote: bool = False
    #: What the backend waits for now ("waiting for executors: 0 of 2 registered; ..."), ""
    #: when nothing; the run loop shows it in the status line and the CLI prints it.
    status_text: str = ""
    _status_callback: Callable[[str], None] | None = None

    def __init__(self, **options: Any) -> None:
        self.options = options

    def watch_status(self, callback: Callable[[str], None] | None) -> None:
        """Send :attr:`status_text` to ``callback`` whenever it changes (None: stop).

        A run attaches itself for its lifetime; the current text is sent at once, so a run
        started while the backend already waits (a session built by an earlier run) sees it.
        """
        self._status_callback = callback
        if callback is not None and self.status_text:
            callback(self.status_text)

    def _report_status(self, text: str) -> None:
        """Called by a backend (from any thread) when what it waits for changes."""
        if text == self.status_text:
            return
        self.status_text = text
        callback = self._status_callback
        if callback is not None:
            try:
                callback(text)
            except Exception:  # a broken subscriber must not break the backend
                import logging

                logging.getLogger(__name__).exception("backend status callback failed")

    def default_storage_proxy(self) -> dict[str, Any]:
        """Options of the storage proxy a run starts when workers cannot open its storage
        (``RunConfig.storage_proxy`` entries win).  Default: loopback, a free port."""
        return {}

    @abc.abstractmethod
    def default_workers(self) -> int:
        """How many workers to run when the user does not say (usually the free slots)."""

    @abc.abstractmethod
    def run(self, function: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
        """Call ``function(*a)`` for every ``a`` concurrently; block until all return.

        Returns ``[]`` at once after :meth:`cancel`.  When a worker process dies, raise an
        error naming its exit code if the backend knows it (:class:`WorkerProcessExited`).
        """

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Start, in the background, what the first run would otherwise wait for (a Spark
        session and its Python workers).  Returns at once and never raises: a start that
        fails is reported by the run that needs it."""

    def cancel(self) -> None:  # noqa: B027 - optional hook
        """Called from another thread on Stop: end the running workers now, killing their
        processes where the backend can (a hung objective must not outlive Stop)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources held across runs (sessions, pools, worker processes)."""

    def describe(self) -> str:
        return self.name
