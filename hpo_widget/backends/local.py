"""Workers on this machine: threads (share the kernel's memory) or loky processes (own GIL)."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

import joblib

from ._base import Backend, WorkerProcessExited, call_once_at_exit
from ._shared_bundle import ship_as_file

#: Seconds between a loky worker's looks at its driver (see _die_with_driver).
_DRIVER_CHECK = 0.5
#: How loky's TerminatedWorkerError lists exit codes: ``{EXIT(3), SIGKILL(-9)}``.
_EXIT_CODES = re.compile(r"exit codes of the workers are \{(?P<codes>[^}]*)\}")
_EXIT_CODE = re.compile(r"\((?P<code>-?\d+)\)")
#: A run's shared worker task pickled at least this large goes to the worker processes as one
#: memory-mapped file instead of inside every call (joblib's own memmapping threshold).
SHARED_FILE_MIN_BYTES = 1 << 20


class ThreadingBackend(Backend):
    """Threads in the driver process; best for objectives that release the GIL (NumPy, torch).

    Python cannot kill a thread: on Stop the runner fails the running trials as stopped and
    returns, while a thread whose objective hangs runs on until the objective returns (its
    result is then dropped).  The threads are daemon threads, so they never keep the kernel or
    a script from exiting.  Use ``loky`` for objectives that may hang or crash.
    """

    name: ClassVar[str] = "threading"
    in_process: ClassVar[bool] = True

    def default_workers(self) -> int:
        return os.cpu_count() or 1

    def run(self, function: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
        return list(
            joblib.Parallel(n_jobs=len(args), backend="threading")(
                joblib.delayed(function)(*a) for a in args
            )
        )


def _die_with_driver(driver_pid: int) -> None:
    """Loky worker initializer: leave as soon as the driver process is gone.

    A killed kernel (OOM, crash) cannot stop its workers, and loky's own idle timeout (300 s)
    only starts once the current task returns, so orphans went on running trials nobody
    watched.  When the driver dies its children are re-parented (to init or a subreaper), which
    ``getppid`` shows at once and for good: unlike probing whether a PID exists, this cannot be
    fooled by the PID being reused.  (``PR_SET_PDEATHSIG`` would fire when the driver *thread*
    that spawned the worker ends, which is every run's backend thread.)
    """

    def watch() -> None:
        while os.getppid() == driver_pid:
            time.sleep(_DRIVER_CHECK)
        os._exit(1)

    threading.Thread(target=watch, name="hpo-driver-watch", daemon=True).start()


def _exited(exc: BaseException) -> WorkerProcessExited | None:
    """loky's report of a worker process that died, as an error naming its exit code."""
    match = _EXIT_CODES.search(str(exc))
    if match is None:
        return None
    codes = tuple(int(m["code"]) for m in _EXIT_CODE.finditer(match["codes"]))
    return WorkerProcessExited("loky", codes, "the other worker processes of the run were stopped")


#: Loky backends of this process that have run (see _kill_at_exit).
_USED: weakref.WeakSet[LokyBackend] = weakref.WeakSet()


def _kill_at_exit() -> None:
    """Kill the worker processes of running calls when the interpreter exits.

    loky's own exit hook joins its executor threads, which wait for running tasks: a script
    or kernel that ends while a trial runs (a hung one: forever) would never exit.  Runs
    before loky's hook (registered after it; hooks run newest first).  The trials
    stay RUNNING in storage, as after a crash, and are reaped when the study is resumed.
    """
    for backend in list(_USED):
        backend.cancel()


#: Seconds Stop waits for a cancelled run's worker processes to be gone.
CANCEL_WAIT = 5.0


def _wait_dead(processes: list[Any], timeout: float) -> None:
    """Return once ``processes`` have exited (killing what is left at ``timeout``).

    loky's executor kills its workers from its manager thread, after ``shutdown`` returned:
    until then a worker can still claim a ticket or write its params, after the runner
    failed the run's in-flight trials, and leave a trial RUNNING past the Stop (reaped, with
    a warning, only when the study is resumed).
    """
    from joblib.externals.loky.backend.utils import kill_process_tree

    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                kill_process_tree(process)
            process.join(1.0)


class LokyBackend(Backend):
    """Worker processes through joblib's loky; each has its own interpreter and GIL.

    Each run gets its own loky executor rather than joblib's shared reusable one: Stop must
    kill exactly these processes at once (asking joblib's executor to shut down with other
    arguments waits for running trials), and ``joblib.Parallel(n_jobs=1)`` would run the
    objective inside the kernel, where a crashing objective takes the kernel with it.  Functions
    and arguments travel with cloudpickle, as with joblib, so objectives defined in a notebook
    work.  Worker processes exit within about a second when the driver process dies.

    A large objective (one that captures its training data) is written once to a file that
    every worker process maps copy-on-write (:mod:`._shared_bundle`), as joblib's memmapping
    does for large array arguments: the driver does not pickle it once per worker, and the
    workers share its pages instead of each holding a copy.
    """

    name: ClassVar[str] = "loky"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._lock = threading.Lock()
        self._executors: dict[Any, bool] = {}  # executor of each running call -> cancelled

    def default_workers(self) -> int:
        return os.cpu_count() or 1

    def run(self, function: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
        from joblib.externals.loky.process_executor import ProcessPoolExecutor

        if not args:
            return []
        function, args, shared_file = ship_as_file(function, args, SHARED_FILE_MIN_BYTES)
        executor = ProcessPoolExecutor(
            max_workers=len(args), initializer=_die_with_driver, initargs=(os.getpid(),)
        )
        with self._lock:
            self._executors[executor] = False
        _USED.add(self)
        try:
            futures = [executor.submit(function, *a) for a in args]
            call_once_at_exit(_kill_at_exit, before_thread_joins=True)
            return [f.result() for f in futures]
        except BaseException as exc:
            with self._lock:
                cancelled = self._executors.get(executor, False)
            if cancelled:
                return []
            exited = _exited(exc)
            if exited is not None:
                # A worker process died (os._exit, a signal, the OOM killer): loky breaks the
                # whole pool and kills the others, so the run ends here; the runner re-queues
                # the trials and names this exit code as their reason.
                raise exited from None
            raise
        finally:
            with self._lock:
                self._executors.pop(executor, None)
            executor.shutdown(wait=False, kill_workers=True)
            if shared_file is not None:
                # The worker processes that mapped it keep its pages until they exit.
                os.unlink(shared_file)

    def cancel(self) -> None:
        # Kill this backend's worker processes (and their children): their running trials die
        # with them (the runner fails them as stopped) and run() returns at once.
        with self._lock:
            executors = list(self._executors)
            for executor in executors:
                self._executors[executor] = True
        processes = [p for executor in executors for p in dict(executor._processes).values()]
        for executor in executors:
            executor.shutdown(wait=False, kill_workers=True)
        _wait_dead(processes, CANCEL_WAIT)

    def close(self) -> None:
        self.cancel()
