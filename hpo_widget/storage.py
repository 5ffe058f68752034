"""Where studies live: storage URLs, the embedded default, and password masking.

A study must survive a kernel restart and be readable by every worker, so the runner never keeps
trials only in memory unless asked to.  The embedded default is an Optuna *journal file* in the
working directory: it needs no server and, unlike SQLite, is safe for several local processes
writing at once (Optuna's FAQ advises against SQLite for parallel writers).

Accepted forms (``storage=`` everywhere in this package):

==============================  =============================================================
``None``                        embedded journal file ``./hpo_studies.journal`` (or the path in
                                ``$HPO_WIDGET_STORAGE``)
``"memory"``                    process-local, for tests and throw-away experiments
``"journal:///abs/path"``       a journal file (``journal://rel/path`` or any path ending in
                                ``.journal`` works too)
``"sqlite:///x.db"``            Optuna RDB storage; fine for one writer
``"postgresql://u:p@h/db"``     Optuna RDB storage; the choice for clusters
``"grpc://host:port"``          an Optuna gRPC storage proxy (what Spark executors use)
an Optuna ``BaseStorage``       used as is
==============================  =============================================================
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import optuna.storages.journal
from optuna.storages import BaseStorage

__all__ = [
    "DEFAULT_STORAGE_FILE",
    "StorageRef",
    "describe_storage",
    "mask_password",
    "open_storage",
    "resolve_storage",
]

DEFAULT_STORAGE_FILE = "hpo_studies.journal"
_RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")
_PASSWORD_RE = re.compile(
    r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<at>@)"
)


def mask_password(text: str) -> str:
    """Replace the password of every URL inside ``text`` with ``***``.

    Applied to every repr, log line, error and UI string that may contain a storage URL, because
    notebooks get shared and tracebacks get pasted into issues.
    """
    return _PASSWORD_RE.sub(lambda m: f"{m['head']}***{m['at']}", text)


@dataclass(frozen=True)
class StorageRef:
    """A picklable recipe for opening the same storage in another thread, process or machine.

    ``kind`` is one of ``memory``, ``journal``, ``rdb``, ``grpc``; ``location`` is the path, URL
    or ``host:port``.  ``repr`` masks passwords.
    """

    kind: str
    location: str

    def __repr__(self) -> str:
        return f"StorageRef(kind={self.kind!r}, location={mask_password(self.location)!r})"

    def __str__(self) -> str:
        return describe_storage(self)

    @property
    def shareable_across_processes(self) -> bool:
        """True when another process on this host can open it directly."""
        return self.kind in ("journal", "rdb", "grpc")

    @property
    def shareable_across_hosts(self) -> bool:
        """True when a process on another machine can open it directly (not a local file)."""
        if self.kind == "grpc":
            return True
        if self.kind == "rdb":
            return not self.location.startswith("sqlite")
        return False


def _journal_path(spec: str) -> str:
    if spec.startswith("journal://"):
        rest = spec[len("journal://") :]
        return rest if rest.startswith("/") else os.path.abspath(rest)
    return os.path.abspath(spec)


def resolve_storage(storage: str | os.PathLike[str] | None) -> StorageRef:
    """Turn a user-facing storage value into a :class:`StorageRef`, with a clear error if unknown."""
    if storage is None or (isinstance(storage, str) and storage.strip() == ""):
        default = os.environ.get("HPO_WIDGET_STORAGE") or DEFAULT_STORAGE_FILE
        if "://" in default:
            return resolve_storage(default)
        return StorageRef("journal", os.path.abspath(default))
    if isinstance(storage, os.PathLike):
        return StorageRef("journal", os.path.abspath(os.fspath(storage)))
    if not isinstance(storage, str):
        raise TypeError(
            f"storage: expected a URL string, a path or an Optuna storage, got {type(storage).__name__}"
        )
    spec = storage.strip()
    if spec in ("memory", ":memory:", "inmemory"):
        return StorageRef("memory", "memory")
    if spec.startswith("journal://") or spec.endswith((".journal", ".log")):
        return StorageRef("journal", _journal_path(spec))
    if spec.startswith("grpc://"):
        hostport = spec[len("grpc://") :].rstrip("/")
        host, sep, port = hostport.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ValueError(
                f"storage: {mask_password(spec)!r} is not a gRPC address; use grpc://HOST:PORT"
            )
        return StorageRef("grpc", hostport)
    scheme = spec.split("://", 1)[0].split("+", 1)[0].lower() if "://" in spec else ""
    if scheme in _RDB_SCHEMES:
        return StorageRef("rdb", spec)
    raise ValueError(
        f"storage: cannot use {mask_password(spec)!r}. Use nothing for the embedded default, "
        "'memory', a path ending in .journal, 'journal:///path', 'sqlite:///file.db', "
        "'postgresql://user:password@host/db' or 'grpc://host:port'."
    )


def describe_storage(ref: StorageRef | BaseStorage) -> str:
    """Human-readable, password-free description for status lines and reports."""
    if isinstance(ref, BaseStorage):
        return type(ref).__name__
    if ref.kind == "memory":
        return "in-memory (lost when the process ends)"
    if ref.kind == "journal":
        return f"journal file {ref.location}"
    if ref.kind == "grpc":
        return f"gRPC proxy grpc://{ref.location}"
    return mask_password(ref.location)


def open_storage(ref: StorageRef, *, rdb_options: dict[str, Any] | None = None) -> BaseStorage:
    """Open the storage ``ref`` points to; connection errors come back with the password masked."""
    try:
        if ref.kind == "memory":
            # Fresh each time: the runner owns it and serves it to out-of-process workers.
            return optuna.storages.InMemoryStorage()
        if ref.kind == "journal":
            Path(ref.location).parent.mkdir(parents=True, exist_ok=True)
            backend = optuna.storages.journal.JournalFileBackend(ref.location)
            return optuna.storages.JournalStorage(backend)
        if ref.kind == "grpc":
            host, _, port = ref.location.rpartition(":")
            with warnings.catch_warnings():
                # Experimental since Optuna 4.2; the runner depends on it on purpose, and the
                # warning would print once per Spark task.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                proxy = optuna.storages.GrpcStorageProxy(host=host, port=int(port))
            proxy.wait_server_ready(timeout=30)
            return proxy
        options = dict(rdb_options or {})
        if ref.location.startswith("sqlite"):
            # Several threads share one engine; give SQLite a busy timeout instead of failing.
            options.setdefault("engine_kwargs", {"connect_args": {"timeout": 30}})
        else:
            options.setdefault("engine_kwargs", {"pool_pre_ping": True})
        return optuna.storages.RDBStorage(ref.location, **options)
    except Exception as exc:  # re-raised with a masked message; never leak the password
        raise RuntimeError(
            f"storage: could not open {describe_storage(ref)}: {mask_password(str(exc))}"
        ) from None
