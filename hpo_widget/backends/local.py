"""Workers on this machine: threads (share the kernel's memory) or loky processes (own GIL)."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import joblib

from ._base import Backend

#: Seconds between a loky worker's looks at its driver (see _die_with_driver).
_DRIVER_CHECK = 0.5
_EXIT_CODES = re.compile(r"exit codes of the workers are \{(?P<codes>[^}]*)\}")


class ThreadingBackend(Backend):
    """Threads in the driver process; best for objectives that release the GIL (NumPy, torch)."""

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
    watched.  When the driver dies its children are re-parented, which ``getppid`` shows.
    """

    def watch() -> None:
        while os.getppid() == driver_pid:
            time.sleep(_DRIVER_CHECK)
        os._exit(1)

    threading.Thread(target=watch, name="hpo-driver-watch", daemon=True).start()


class LokyBackend(Backend):
    """Worker processes through joblib's loky; each has its own interpreter and GIL.

    Each run gets its own loky executor rather than joblib's shared reusable one: Stop must
    kill exactly these processes at once (asking joblib's executor to shut down with other
    arguments waits for running trials), and ``joblib.Parallel(n_jobs=1)`` would run the
    objective inside the kernel, where a crashing objective takes the kernel with it.
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
        executor = ProcessPoolExecutor(
            max_workers=len(args), initializer=_die_with_driver, initargs=(os.getpid(),)
        )
        with self._lock:
            self._executors[executor] = False
        try:
            futures = [executor.submit(function, *a) for a in args]
            return [f.result() for f in futures]
        except BaseException as exc:
            with self._lock:
                cancelled = self._executors.get(executor, False)
            if cancelled:
                return []
            match = _EXIT_CODES.search(str(exc))
            if match is not None:
                raise RuntimeError(
                    f"loky backend: a worker process exited unexpectedly (exit codes: "
                    f"{match['codes']}); a negative code is the signal that killed it"
                ) from None
            raise
        finally:
            with self._lock:
                self._executors.pop(executor, None)
            executor.shutdown(wait=False, kill_workers=True)

    def cancel(self) -> None:
        # Kill this backend's worker processes: their running trials die with them (the runner
        # fails them as stopped) and run() returns at once.
        with self._lock:
            executors = list(self._executors)
            for executor in executors:
                self._executors[executor] = True
        for executor in executors:
            executor.shutdown(wait=False, kill_workers=True)
