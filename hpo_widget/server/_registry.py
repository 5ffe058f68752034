"""The storages the server knows, each opened once and kept for the server's life.

Why one long-lived storage object per storage: Optuna 5's ``JournalStorage`` replays only the
tail appended since its last read, and an RDB storage wrapped in Optuna's cached storage
re-reads only unfinished and new trials, so a poll costs what changed, not the whole study.
Opening a journal (or SQLite) path creates the file, so a storage whose file does not exist is
listed but never opened; listing the root directory only reads its entries.

Raw URLs stay in this module: the browser sees an opaque id and a masked description.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.storages import BaseStorage

from ..storage import StorageRef, describe_storage, mask_password, open_storage, resolve_storage
from . import _rdb
from ._protocol import StorageInfo, StorageSource

__all__ = ["StorageEntry", "StorageRegistry", "StorageUnavailable"]

_JOURNAL_SUFFIX = ".journal"


class StorageUnavailable(RuntimeError):
    """The storage cannot be opened or read now; the message is masked and says why."""


def _sqlite_path(url: str) -> str | None:
    """The database file of a ``sqlite:///`` URL (None for in-memory SQLite or other URLs)."""
    if not url.lower().startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.abspath(database)


@dataclass
class StorageEntry:
    """One storage: how to reach it (never sent), its id, and the caches of its views."""

    id: str
    ref: StorageRef
    sources: list[StorageSource]
    #: What the views keep between polls: summaries (``_summaries``), trial tables
    #: (``_trials_table``), figures (``_figures``).
    cache: dict[Any, Any] = field(default_factory=dict)
    #: Serializes refreshes: several tabs polling at once read storage once, the rest hit cache.
    lock: threading.RLock = field(default_factory=threading.RLock)
    error: str | None = None
    _storage: BaseStorage | None = None
    _engine: Any = None

    @property
    def kind(self) -> str:
        return self.ref.kind

    @property
    def file_path(self) -> str | None:
        """The file behind a journal or SQLite storage (None for servers)."""
        if self.ref.kind == "journal":
            return self.ref.location
        if self.ref.kind == "rdb":
            return _sqlite_path(self.ref.location)
        return None

    def exists(self) -> bool:
        path = self.file_path
        return path is None or os.path.isfile(path)

    @property
    def description(self) -> str:
        return describe_storage(self.ref)

    @property
    def label(self) -> str:
        path = self.file_path
        return os.path.basename(path) if path else mask_password(self.ref.location)

    def info(self) -> StorageInfo:
        return {
            "id": self.id,
            "label": self.label,
            "url": self.description,
            "kind": self.ref.kind,  # type: ignore[typeddict-item]  # memory is refused on add
            "sources": list(self.sources),
            "exists": self.exists(),
            "removable": self.sources == ["ui"],
            "error": self.error,
        }

    def open(self) -> BaseStorage:
        """The storage object, opened on first use (blocking: call it in the executor).

        A missing file raises :class:`StorageUnavailable` instead of being created.
        """
        with self.lock:
            if self._storage is not None:
                return self._storage
            if not self.exists():
                raise StorageUnavailable(f"{self.description} does not exist (yet)")
            try:
                storage = open_storage(self.ref)
            except RuntimeError as exc:  # open_storage's message is masked already
                self.error = mask_password(str(exc))
                raise StorageUnavailable(self.error) from None
            if isinstance(storage, optuna.storages.RDBStorage):
                self._engine = storage.engine
                # Optuna's own wrapper (what optuna.load_study applies to a URL): it re-reads
                # only unfinished and new trials on each access.
                storage = optuna.storages.get_storage(storage)
            self._storage = storage
            self.error = None
            return storage

    def change_token(self) -> tuple[Any, ...]:
        """Cheap value that differs whenever anything the views show may have changed.

        Journal: the file's identity, size and mtime (every write appends).  RDB: a few
        aggregates (:mod:`._rdb`).  Blocking for RDB: call it in the executor.
        """
        path = self.file_path
        if self.ref.kind == "journal":
            try:
                st = os.stat(path)  # type: ignore[arg-type]  # journal: always a path
            except FileNotFoundError:
                return ("missing",)
            return ("journal", st.st_ino, st.st_size, st.st_mtime_ns)
        if path is not None and not os.path.isfile(path):
            return ("missing",)
        self.open()
        try:
            return ("rdb", *_rdb.change_token(self._engine))
        except Exception as exc:
            self.error = mask_password(f"{self.description}: {type(exc).__name__}: {exc}")
            raise StorageUnavailable(self.error) from None


def _entry_id(ref: StorageRef, taken: Iterable[str]) -> str:
    """An opaque id that is stable across restarts and holds no secret.

    Derived from the *masked* location, so nothing about a password can be guessed from it;
    two URLs differing only in their password get a suffix.
    """
    base = "s" + hashlib.sha1(f"{ref.kind}:{mask_password(ref.location)}".encode()).hexdigest()[:10]
    taken = set(taken)
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


class StorageRegistry:
    """Storages from ``$HPO_WIDGET_STORAGE``, Jupyter config, the root directory and the UI.

    The root directory is looked at on every :meth:`entries` call (one ``scandir``), so a
    journal created by a run started in a terminal shows up at the next poll.
    """

    def __init__(
        self, root_dir: str, configured: Iterable[str] = (), env: str | None = None
    ) -> None:
        self.root_dir = os.path.abspath(root_dir)
        self._lock = threading.Lock()
        self._by_key: dict[tuple[str, str], StorageEntry] = {}
        self._by_id: dict[str, StorageEntry] = {}
        if env:
            self._add(self._resolve(env, relative_to=None), "env")
        for url in configured:
            self._add(self._resolve(url, relative_to=self.root_dir), "config")

    # -- resolving -----------------------------------------------------------------------
    def _resolve(self, url: str, *, relative_to: str | None) -> StorageRef:
        """``resolve_storage`` with relative file paths taken from the server root (the UI's
        and the config's idea of "here"), not the server process's working directory."""
        spec = url.strip()
        if relative_to is not None:
            if (spec.endswith(_JOURNAL_SUFFIX) or spec.endswith(".log")) and "://" not in spec:
                spec = os.path.join(relative_to, os.path.expanduser(spec))
            elif spec.startswith("journal://") and not spec.startswith("journal:///"):
                spec = "journal://" + os.path.join(relative_to, spec[len("journal://") :])
            elif spec.lower().startswith("sqlite:///") and not spec.startswith("sqlite:////"):
                rest = spec[len("sqlite:///") :]
                if rest and rest != ":memory:" and not rest.startswith("file:"):
                    spec = "sqlite:///" + os.path.join(relative_to, rest)
        ref = resolve_storage(spec)
        if ref.kind == "memory":
            raise ValueError("storage: 'memory' lives inside one process; the server cannot see it")
        if ref.kind == "grpc":
            raise ValueError(
                "storage: a gRPC storage proxy lives only as long as its run; add the storage "
                "it serves (a journal file or a database URL) instead"
            )
        return ref

    def _add(self, ref: StorageRef, source: StorageSource) -> StorageEntry:
        key = (ref.kind, ref.location)
        with self._lock:
            entry = self._by_key.get(key)
            if entry is not None:
                if source not in entry.sources:
                    entry.sources.append(source)
                return entry
            entry = StorageEntry(_entry_id(ref, self._by_id), ref, [source])
            self._by_key[key] = entry
            self._by_id[entry.id] = entry
            return entry

    # -- public --------------------------------------------------------------------------
    def add(self, url: str) -> StorageEntry:
        """A storage added through the UI (kept in memory for the server's life).

        ValueError (masked message) for a URL hpo_widget does not accept.
        """
        try:
            ref = self._resolve(url, relative_to=self.root_dir)
        except ValueError as exc:
            raise ValueError(mask_password(str(exc))) from None
        return self._add(ref, "ui")

    def remove(self, entry_id: str) -> bool:
        """Forget a storage added through the UI; False if it is not one (or unknown)."""
        with self._lock:
            entry = self._by_id.get(entry_id)
            if entry is None or entry.sources != ["ui"]:
                return False
            del self._by_id[entry_id]
            del self._by_key[(entry.ref.kind, entry.ref.location)]
            return True

    def scan_root(self) -> None:
        """Register the ``*.journal`` files at the top of the root directory (reads only)."""
        try:
            with os.scandir(self.root_dir) as it:
                found = [
                    e.path
                    for e in it
                    if e.name.endswith(_JOURNAL_SUFFIX)
                    and not e.name.startswith(".")
                    and e.is_file()
                ]
        except OSError:
            return
        for path in sorted(found):
            self._add(StorageRef("journal", os.path.abspath(path)), "root")

    def entries(self) -> list[StorageEntry]:
        """Every storage, root directory rescanned; root journals that vanished are dropped."""
        self.scan_root()
        with self._lock:
            gone = [
                e
                for e in self._by_id.values()
                if e.sources == ["root"] and not os.path.isfile(e.ref.location)
            ]
            for e in gone:
                del self._by_id[e.id]
                del self._by_key[(e.ref.kind, e.ref.location)]
            return list(self._by_id.values())

    def get(self, entry_id: str) -> StorageEntry | None:
        with self._lock:
            entry = self._by_id.get(entry_id)
        if entry is None:  # a journal created since the last listing
            self.scan_root()
            with self._lock:
                entry = self._by_id.get(entry_id)
        return entry
