"""Send what every worker of a run shares to the executors once, as one Spark broadcast.

joblibspark runs each trial worker as its own one-task Spark job whose closure holds the worker's
arguments, so an objective that captures a large object (a training array, a DataFrame) is
pickled once per worker, and PySpark turns every closure over its broadcast threshold (1 MiB) into
a broadcast of its own: with 8 workers the driver holds 8 copies and sends 8.  Every worker of a
run gets the same :class:`~hpo_widget._worker.WorkerTask` (the objective inside it), so the
backend pickles that object once and broadcasts it; each task's closure then carries only a
broadcast handle, executors fetch the blocks once (BitTorrent-style, cached per executor JVM) and
each Python worker unpickles its copy on first use.  Small tasks skip all this: a broadcast costs
a few round trips that a kilobyte closure does not need.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._base import shared_first_argument

__all__ = ["BROADCAST_MIN_BYTES", "Shipment", "ship_shared"]

_log = logging.getLogger("hpo_widget.backends.spark")

#: Shared arguments pickled at least this large travel as one broadcast (PySpark's own
#: threshold for broadcasting a task closure, ``spark.broadcast.UDFCompressionThreshold``).
BROADCAST_MIN_BYTES = 1 << 20


@dataclass
class Shipment:
    """What to hand joblib: the function and per-worker args, and the broadcast to destroy
    when the run is over (None when nothing was broadcast)."""

    function: Callable[..., Any]
    args: list[tuple[Any, ...]]
    broadcast: Any = None
    nbytes: int = 0

    def done(self) -> None:
        """Free the broadcast's blocks on the driver and the executors."""
        if self.broadcast is None:
            return
        try:
            self.broadcast.destroy()
        except Exception:  # the session may be gone already; its blocks went with it
            _log.debug("spark backend: destroying the shared broadcast failed", exc_info=True)
        self.broadcast = None


class _CallWithShared:
    """Picklable stand-in for ``function(shared, *rest)`` that reads ``shared`` from a
    broadcast; the unpickled value is kept per Python worker process."""

    def __init__(self, function: Callable[..., Any], broadcast: Any) -> None:
        self.function = function
        self.broadcast = broadcast
        self.key = uuid.uuid4().hex

    def __call__(self, *rest: Any) -> Any:
        from pyspark import cloudpickle

        shared = _unpacked.get(self.key)
        if shared is None:
            shared = cloudpickle.loads(self.broadcast.value)
            _unpacked.clear()  # only the current run's object stays alive in a reused worker
            _unpacked[self.key] = shared
        return self.function(shared, *rest)


#: Per Python worker process: shipment key -> unpickled shared object.
_unpacked: dict[str, Any] = {}


def ship_shared(
    sc: Any,
    function: Callable[..., Any],
    args: list[tuple[Any, ...]],
    min_bytes: int | None = None,
) -> Shipment:
    """Broadcast the first argument when every worker gets the same object and it pickles to at
    least ``min_bytes`` (default :data:`BROADCAST_MIN_BYTES`, read at call time so a benchmark
    can turn the broadcast off); otherwise hand the call through unchanged."""
    if min_bytes is None:
        min_bytes = BROADCAST_MIN_BYTES
    shared = shared_first_argument(args)
    if shared is None:
        return Shipment(function, args)
    from pyspark import cloudpickle

    payload = cloudpickle.dumps(shared)
    if len(payload) < min_bytes:
        return Shipment(function, args)
    nbytes = len(payload)
    broadcast = sc.broadcast(payload)
    del payload  # the broadcast's file holds it now
    _log.info(
        "spark backend: the objective and its data (%.1f MiB pickled) go to the executors "
        "once, as a broadcast shared by %d workers",
        nbytes / 2**20,
        len(args),
    )
    rest = [a[1:] for a in args]
    return Shipment(_CallWithShared(function, broadcast), rest, broadcast, nbytes)
