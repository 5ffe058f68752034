"""Workers on this machine: threads (share the kernel's memory) or loky processes (own GIL)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, ClassVar

import joblib

from ._base import Backend


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


class LokyBackend(Backend):
    """Worker processes through joblib's loky; each has its own interpreter and GIL."""

    name: ClassVar[str] = "loky"

    def default_workers(self) -> int:
        return os.cpu_count() or 1

    def run(self, function: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
        return list(
            joblib.Parallel(n_jobs=len(args), backend="loky")(
                joblib.delayed(function)(*a) for a in args
            )
        )

    def cancel(self) -> None:
        # Terminate the reusable executor's processes: the running trials die with them and the
        # runner marks them failed; the next run starts fresh processes.
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=False, kill_workers=True)
