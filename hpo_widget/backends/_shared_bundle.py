"""One file that every worker process on a host maps, instead of each unpickling its own copy.

A run's worker task (the objective and what it captures: training arrays, DataFrames, a preset's
dataset) is the same for every worker.  Pickled the usual way, each worker process reads the
whole pickle and builds its own copy of every array: eight workers on a host hold eight copies
and spend the first trial's seconds building them.  Here the task is pickled once with pickle
protocol 5 and its large buffers (NumPy arrays, and objects that pickle through them) kept *out
of band*, the way joblib's memmapping and Dask's serializers do it.  The bundle lays the buffers out
64-byte aligned after the small pickle stream.  A worker memory-maps the file copy-on-write and
unpickles the stream over views of the mapping: the arrays cost no read and no copy, pages are
shared through the page cache by every process on the host, and a worker that writes to its
array gets private pages (the file and the other workers never see the write).

Layout: ``MAGIC``, the header's length (8 bytes, little endian), a JSON header with the
``[offset, length]`` of the stream and of each buffer (from the bundle's start), then the pieces.
The bundle can sit inside another file at a known offset (PySpark's broadcast file puts it after
the pickle opcode of the ``bytearray`` holding it, see :mod:`._spark_broadcast`); ``find`` looks
for ``MAGIC`` in the file's first bytes.
"""

from __future__ import annotations

import json
import mmap
import os
import pickle
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ._base import shared_first_argument

__all__ = [
    "MAGIC",
    "Bundle",
    "BundleError",
    "MappedCall",
    "current_shared",
    "load_buffer",
    "load_file",
    "pack",
    "ship_as_file",
]

MAGIC = b"\x93hpo-widget-b1\n\x00"  # 16 bytes: no pickle or text file starts with it
_ALIGN = 64
_LEN = struct.Struct("<Q")
#: How far into a file a bundle may start (PySpark's pickle opcode and length: 11 bytes).
_SEARCH = 256


class BundleError(ValueError):
    """The bytes are not a bundle this version wrote."""


def _dumps() -> Callable[..., bytes]:
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - PySpark (a dependency) bundles its own copy
        from pyspark import cloudpickle
    return cloudpickle.dumps


def _aligned(position: int) -> int:
    return -(-position // _ALIGN) * _ALIGN


@dataclass
class Bundle:
    """A pickled object with its buffers out of band, laid out for a bundle at ``base``
    bytes into its file (so that the buffers are aligned in the file, where they are mapped)."""

    stream: bytes
    buffers: list[memoryview]
    base: int = 0
    header: bytes = field(init=False, default=b"")
    pieces: list[tuple[int, memoryview]] = field(init=False, default_factory=list)
    nbytes: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        lengths = [len(self.stream), *(b.nbytes for b in self.buffers)]
        header = b""
        while True:  # a longer header moves the pieces, which lengthens it: settles in 2-3
            position = len(MAGIC) + _LEN.size + len(header)
            offsets = []
            for length in lengths:
                position = _aligned(self.base + position) - self.base
                offsets.append(position)
                position += length
            new = json.dumps(
                {"pieces": [[o, n] for o, n in zip(offsets, lengths, strict=True)]}
            ).encode()
            if new == header:
                break
            header = new
        self.header = header
        self.pieces = list(zip(offsets, [memoryview(self.stream), *self.buffers], strict=True))
        self.nbytes = position

    def write(self, out: BinaryIO) -> None:
        """Write the bundle at ``out``'s position (``base`` bytes into the file)."""
        out.write(MAGIC + _LEN.pack(len(self.header)) + self.header)
        written = len(MAGIC) + _LEN.size + len(self.header)
        for offset, piece in self.pieces:
            out.write(b"\0" * (offset - written))
            out.write(piece)
            written = offset + piece.nbytes

    def to_bytearray(self) -> bytearray:
        """The whole bundle in memory (what a Spark broadcast is built from)."""
        data = bytearray(self.nbytes)
        view = memoryview(data)  # slice-assigning a bytearray itself makes a temporary copy
        head = MAGIC + _LEN.pack(len(self.header)) + self.header
        view[: len(head)] = head
        for offset, piece in self.pieces:
            view[offset : offset + piece.nbytes] = piece
        view.release()
        return data


def pack(obj: Any, *, base: int = 0) -> Bundle:
    """Pickle ``obj`` (cloudpickle, so notebook objectives travel by value) with its large
    contiguous buffers out of band; the buffers are views of ``obj``'s memory, not copies."""
    buffers: list[pickle.PickleBuffer] = []
    stream = _dumps()(obj, protocol=5, buffer_callback=buffers.append)
    return Bundle(stream, [b.raw() for b in buffers], base)


def _unpack(view: memoryview) -> Any:
    if bytes(view[: len(MAGIC)]) != MAGIC:
        raise BundleError("not an hpo_widget bundle")
    start = len(MAGIC) + _LEN.size
    (size,) = _LEN.unpack(view[len(MAGIC) : start])
    try:
        pieces = json.loads(bytes(view[start : start + size]))["pieces"]
    except (ValueError, KeyError) as exc:
        raise BundleError(f"unreadable bundle header: {exc}") from None
    if any(o + n > len(view) for o, n in pieces):
        raise BundleError("the bundle is shorter than its header says (a truncated file?)")
    (stream_at, stream_len), *rest = pieces
    buffers = [view[o : o + n] for o, n in rest]
    return pickle.loads(view[stream_at : stream_at + stream_len], buffers=buffers)


def load_buffer(data: bytearray | memoryview) -> Any:
    """Unpickle a bundle held in memory; arrays are views of ``data`` (writable when it is)."""
    return _unpack(memoryview(data))


def load_file(path: str | os.PathLike[str]) -> Any:
    """Unpickle the bundle in the file at ``path`` over a copy-on-write mapping of it.

    The mapping lives as long as the objects built on it; the file may be deleted once this
    returns (the mapping keeps its pages).
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < len(MAGIC):
            raise BundleError(f"{path} is too short to hold a bundle")
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    start = mapped.find(MAGIC, 0, min(size, _SEARCH + len(MAGIC)))
    if start < 0:
        mapped.close()
        raise BundleError(f"{path} holds no hpo_widget bundle in its first {_SEARCH} bytes")
    return _unpack(memoryview(mapped)[start:])


class MappedCall:
    """Picklable stand-in for ``function(shared, *rest)`` whose ``shared`` is the bundle in a
    file on this host, mapped once per worker process (what the loky backend sends)."""

    def __init__(self, function: Callable[..., Any], path: str) -> None:
        self.function = function
        self.path = path

    def __call__(self, *rest: Any) -> Any:
        return self.function(current_shared(self.path, lambda: load_file(self.path)), *rest)


def current_shared(key: str, load: Callable[[], Any]) -> Any:
    """The run's shared object in this worker process: loaded by its first call, then reused.
    Only the current run's object stays alive in a process that a later run reuses."""
    shared = _current.get(key)
    if shared is None:
        shared = load()
        _current.clear()
        _current[key] = shared
    return shared


#: Per worker process: the current run's key -> its shared object.
_current: dict[str, Any] = {}


def ship_as_file(
    function: Callable[..., Any], args: list[tuple[Any, ...]], min_bytes: int
) -> tuple[Callable[..., Any], list[tuple[Any, ...]], str | None]:
    """Write the first argument every call shares to one bundle file when it pickles to at least
    ``min_bytes``: the calls then carry its path, and the caller deletes the file (third item)
    when they are over.  Otherwise the calls are returned unchanged, with no file."""
    shared = shared_first_argument(args)
    if shared is None:
        return function, args, None
    bundle = pack(shared)
    if bundle.nbytes < min_bytes:
        return function, args, None
    fd, path = tempfile.mkstemp(prefix="hpo-widget-shared-", suffix=".bundle")
    try:
        with os.fdopen(fd, "wb") as out:
            bundle.write(out)
    except BaseException:
        os.unlink(path)
        raise
    return MappedCall(function, path), [a[1:] for a in args], path
