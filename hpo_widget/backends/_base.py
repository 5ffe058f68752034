from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar


class Backend(abc.ABC):
    """Runs ``n`` copies of a worker function concurrently and can cancel them.

    ``in_process`` backends share the driver's memory (its storage object and stop event);
    ``remote`` ones may place workers on other hosts, so storage must be reachable over the network.
    """

    name: ClassVar[str]
    in_process: ClassVar[bool] = False
    #: Not a ClassVar: some backends only know once configured (Spark: from the master URL).
    remote: bool = False

    def __init__(self, **options: Any) -> None:
        self.options = options

    @abc.abstractmethod
    def default_workers(self) -> int:
        """How many workers to run when the user does not say (usually the free slots)."""

    @abc.abstractmethod
    def run(self, function: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
        """Call ``function(*a)`` for every ``a`` concurrently; block until all return."""

    def cancel(self) -> None:  # noqa: B027 - optional hook
        """Best-effort interruption of running workers, called from another thread."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources held across runs (sessions, pools)."""

    def describe(self) -> str:
        return self.name
