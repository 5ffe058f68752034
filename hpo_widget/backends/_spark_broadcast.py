"""Send what every worker of a run shares to the executors once, as one Spark broadcast.

joblibspark runs each trial worker as its own one-task Spark job whose closure holds the worker's
arguments, so an objective that captures a large object (a training array, a DataFrame) is
pickled once per worker, and PySpark turns every closure over its broadcast threshold (1 MiB) into
a broadcast of its own: with 8 workers the driver holds 8 copies and sends 8.  Every worker of a
run gets the same :class:`~hpo_widget._worker.WorkerTask` (the objective inside it), so the
backend pickles that object once and broadcasts it; each task's closure then carries only a
broadcast handle, and executors fetch the blocks once (BitTorrent-style, cached per executor JVM).

The broadcast holds a :mod:`._shared_bundle`: the task's pickle with its arrays out of band.  On
an executor the JVM writes a broadcast's bytes to a local file and hands each Python worker the
file's path (PySpark reads the value from it lazily); the worker maps that file copy-on-write
instead, so the Python workers of an executor share one copy of the data and none of them reads
or copies it before its first trial.  Where PySpark gives no file (``spark.io.encryption.enabled``
streams broadcasts through a socket), the worker unpickles the bundle from the value: one copy
per worker, as before.  Small tasks skip all this: a broadcast costs a few round trips that a
kilobyte closure does not need.
"""

from __future__ import annotations

import functools
import logging
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._base import shared_first_argument
from ._shared_bundle import Bundle, BundleError, current_shared, load_buffer, load_file, pack

__all__ = ["BROADCAST_MIN_BYTES", "Shipment", "ship_shared"]

_log = logging.getLogger("hpo_widget.backends.spark")

#: Bytes before the value in PySpark's broadcast file: ``pickle.dump(bytearray, f, 5)`` writes
#: PROTO 5 (2 bytes), BYTEARRAY8 and an 8-byte length, then the bytes themselves.
_BROADCAST_FILE_HEAD = 11
_BYTEARRAY8 = b"\x80\x05\x96"
_LEN8 = struct.Struct("<Q")

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
        return self.function(current_shared(self.key, lambda: _load(self.broadcast)), *rest)


def _load(broadcast: Any) -> Any:
    """The shared object, mapped from the executor's broadcast file when PySpark names one."""
    global last_load
    # PySpark's executor-side Broadcast keeps the file the JVM wrote in ``_path`` and reads it
    # only when ``value`` is first asked for; tests/test_spark.py checks this stays so.
    path = getattr(broadcast, "_path", None)
    if isinstance(path, str) and "_value" not in vars(broadcast):
        try:
            shared = load_file(path)
        except (OSError, BundleError) as exc:
            _log.debug("spark backend: mapping the broadcast file %s failed: %s", path, exc)
        else:
            last_load = "mapped"
            return shared
    last_load = "copied"
    return load_buffer(broadcast.value)


#: How this Python worker process last got a run's shared object ("mapped" from the broadcast
#: file, or "copied" from the broadcast's value); tests read it through an objective.
last_load = ""


def _broadcast_bundle(sc: Any, bundle: Bundle) -> Any:
    """``sc.broadcast(bundle.to_bytearray())``, written straight to the broadcast's file.

    PySpark pickles a broadcast's value into its file; building the bytearray first would hold
    a second copy of the data on the driver and take a copy's time before the first trial.  The
    file is byte for byte what ``pickle.dump(bytearray, f, 5)`` writes, so PySpark's own
    ``value`` still reads it.  ``SparkContext.broadcast`` is ``Broadcast(sc, value,
    sc._pickled_broadcast_vars)``; without that attribute (another PySpark) the plain call is
    made.
    """
    registry = getattr(sc, "_pickled_broadcast_vars", None)
    if registry is None:
        return sc.broadcast(bundle.to_bytearray())
    return _bundle_broadcast_class()(sc, bundle, registry)


@functools.cache
def _bundle_broadcast_class() -> type:
    from pyspark.core.broadcast import Broadcast

    class BundleBroadcast(Broadcast):
        """A driver-side broadcast whose value is a :class:`Bundle`, pickled as a bytearray.
        Executors get a plain ``Broadcast`` (its pickle names only the broadcast's id)."""

        def dump(self, value: Bundle, f: Any) -> None:
            f.write(_BYTEARRAY8 + _LEN8.pack(value.nbytes))
            value.write(f)
            f.write(b"\x94.")  # MEMOIZE, STOP: what pickle writes after the bytes
            f.close()

    return BundleBroadcast


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
    bundle = pack(shared, base=_BROADCAST_FILE_HEAD)
    if bundle.nbytes < min_bytes:
        return Shipment(function, args)
    nbytes = bundle.nbytes
    broadcast = _broadcast_bundle(sc, bundle)
    del bundle  # the broadcast's file holds it now
    _log.info(
        "spark backend: the objective and its data (%.1f MiB pickled) go to the executors "
        "once, as a broadcast shared by %d workers",
        nbytes / 2**20,
        len(args),
    )
    rest = [a[1:] for a in args]
    return Shipment(_CallWithShared(function, broadcast), rest, broadcast, nbytes)
