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
``"sqlite:///x.db"``            Optuna RDB storage; claims are atomic (``BEGIN IMMEDIATE``), but
                                every transaction waits for the file lock
``"postgresql://u:p@h/db"``     Optuna RDB storage; the choice for clusters
``"grpc://host:port"``          an Optuna gRPC storage proxy (what Spark executors use)
an Optuna ``BaseStorage``       used as is
==============================  =============================================================
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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
#: ``scheme://user:PASSWORD@host``.  The password runs to the last ``@`` before the path (an
#: unencoded ``@`` in a password must not leave its tail showing), or, if it holds a ``/``, to
#: the first ``@``.
_URL_PASSWORD_RE = re.compile(
    r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^\s/]*|[^\s@]*)(?P<at>@)"
)
#: ``password=...`` as a URL query parameter (libpq reads ``?password=``), in a libpq keyword
#: string (``host=h password='a b'``) or an ODBC string (``PWD=...;``); also ``sslpassword``.
_KEYWORD_PASSWORD_RE = re.compile(
    r"(?P<key>(?<!\w)(?:[a-z_]*password|passwd|pwd)\s*=\s*)"
    r"(?P<pw>'(?:[^'\\]|\\.)*'|[^\s&#;'\"]*)",
    re.IGNORECASE,
)


def mask_password(text: str) -> str:
    """Replace every password inside ``text`` with ``***``: in URLs, query strings and libpq
    keyword strings.

    Applied to every repr, log line, error and UI string that may contain a storage URL, because
    notebooks get shared and tracebacks get pasted into issues.
    """
    text = _URL_PASSWORD_RE.sub(lambda m: f"{m['head']}***{m['at']}", text)
    return _KEYWORD_PASSWORD_RE.sub(
        lambda m: m["key"] + ("'***'" if m["pw"].startswith("'") else "***"), text
    )


@dataclass(frozen=True)
class StorageRef:
    """A picklable recipe for opening the same storage in another thread, process or machine.

    ``kind`` is one of ``memory``, ``journal``, ``rdb``, ``grpc``; ``location`` is the path, URL
    or ``host:port``.  ``repr`` masks passwords.
    """

    kind: str
    location: str
    #: Per-run secret a ``grpc`` proxy requires from its clients (see :mod:`hpo_widget._proxy`);
    #: travels to workers inside their task, never printed.
    secret: str | None = None

    def __repr__(self) -> str:
        secret = ", secret=***" if self.secret else ""
        return f"StorageRef(kind={self.kind!r}, location={mask_password(self.location)!r}{secret})"

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


# -- journal files: a torn last record is cut off, never appended to --------------------------
_logger = logging.getLogger(__name__)
_TAIL_CHUNK = 64 * 1024


def _line_start(f: IO[bytes], end: int) -> int:
    """Offset just after the last newline before ``end`` (0 when there is none)."""
    pos = end
    while pos > 0:
        step = min(_TAIL_CHUNK, pos)
        f.seek(pos - step)
        newline = f.read(step).rfind(b"\n")
        if newline >= 0:
            return pos - step + newline + 1
        pos -= step
    return 0


def _torn_offset(f: IO[bytes], size: int, *, check_json: bool) -> int | None:
    """Where the torn tail of a journal starts, or None when it ends with a whole record.

    Torn means a last line without its newline (the writer died mid-append) or, with
    ``check_json``, a last line that is not JSON (a write whose middle never reached the disk).
    """
    if size == 0:
        return None
    f.seek(size - 1)
    if f.read(1) != b"\n":
        return _line_start(f, size)
    if not check_json:
        return None
    start = _line_start(f, size - 1)
    f.seek(start)
    try:
        json.loads(f.read(size - start))
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
        return start
    return None


def _cut_torn_tail(path: str, *, check_json: bool) -> None:
    """Move a torn tail into a sidecar file and truncate the journal to its last whole record.

    Call with the journal's lock held: no write is in progress then, so a partial line is torn
    for sure and not one being written.  Optuna's reader skips a torn last line, but appends
    after it are glued onto it and from then on every reader fails on that line.
    """
    with open(path, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        offset = _torn_offset(f, size, check_json=check_json)
        if offset is None:
            return
        f.seek(offset)
        torn = f.read()
        sidecar = f"{path}.torn-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{offset}"
        with open(sidecar, "wb") as out:
            out.write(torn)
            out.flush()
            os.fsync(out.fileno())
        f.truncate(offset)
        f.flush()
        os.fsync(f.fileno())
    _logger.warning(
        "journal %s: cut a torn last record (%d bytes at offset %d, left by a write that was "
        "interrupted); the cut bytes are kept in %s",
        path,
        len(torn),
        offset,
        sidecar,
    )


#: Seconds after which a journal lock whose holder wrote nothing is taken as abandoned (Optuna:
#: 30).  A writer holds it for one append and its fsync, milliseconds; a worker process killed
#: while holding it (Stop kills loky workers, a lost executor) left every other writer, the
#: driver's Stop among them, waiting the full 30 s (seen in CI: Stop took 30.8 s).
JOURNAL_LOCK_GRACE = 5
#: Suffix of the file this package's journal writers queue on (``flock``) before Optuna's lock.
JOURNAL_QUEUE_SUFFIX = ".hpo-queue"


class _WriterQueue:
    """Writers of this package wait their turn in the kernel (``flock``), then take Optuna's lock.

    Optuna's journal lock is a symlink that a waiting writer polls, sleeping 1 ms, then 2, 4, ...
    up to 1 s between looks.  Workers and a driver that write hundreds of times a second lose
    most of their time in those sleeps: profiled on Spark ``local[2]`` with TPE, 35% of each
    worker's wall time was spent sleeping in ``JournalFileSymlinkLock.acquire``.  A blocking
    ``flock`` wakes the next writer the moment the previous one is done, so among our writers
    Optuna's lock is always free when they reach it, and Optuna's lock still excludes every
    other writer of the file (Optuna itself, optuna-dashboard).  The kernel drops a dead
    process's ``flock``; where the file system has no ``flock`` (some NFS mounts) writers only
    take Optuna's lock, as before.
    """

    def __init__(self, journal_path: str) -> None:
        self._path = journal_path + JOURNAL_QUEUE_SUFFIX
        self._usable = True

    def wait_turn(self) -> int | None:
        """Block until this writer's turn; the descriptor to :meth:`release` (None: no queue)."""
        if not self._usable:
            return None
        import fcntl

        try:
            # One descriptor per turn: a flock is per open file, so threads of one process
            # sharing a descriptor would all hold it at once.
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            self._usable = False
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            os.close(fd)
            self._usable = False
            return None
        return fd

    def release(self, fd: int | None) -> None:
        if fd is not None:
            os.close(fd)  # closing the last descriptor of the open file releases the flock

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Hold this writer's turn for the block."""
        fd = self.wait_turn()
        try:
            yield
        finally:
            self.release(fd)


class _SealingJournalFileBackend(optuna.storages.journal.JournalFileBackend):
    """Optuna's journal file, sealed against torn writes (a writer killed mid-append).

    On open, a torn tail is cut off (see :func:`_cut_torn_tail`); every append first checks,
    under the journal's lock, that the file ends with a whole record.  The file stays a plain
    Optuna journal that Optuna and optuna-dashboard read as before; the lock is Optuna's own
    (``<journal>.lock``), so other Optuna writers are excluded too.
    """

    def __init__(self, file_path: str) -> None:
        self._path = file_path
        self._journal_lock = optuna.storages.journal.JournalFileSymlinkLock(
            file_path, grace_period=JOURNAL_LOCK_GRACE
        )
        super().__init__(file_path, lock_obj=self._journal_lock)
        self._queue = _WriterQueue(file_path)
        with open(file_path, "rb") as f:
            torn = _torn_offset(f, os.fstat(f.fileno()).st_size, check_json=True) is not None
        if torn:  # look again under the lock: the tail may be an append still being written
            self._journal_lock.acquire()
            try:
                _cut_torn_tail(file_path, check_json=True)
            finally:
                self._journal_lock.release()

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        # Optuna 5's JournalFileBackend.append_logs (same record format), plus the seal.
        with self.held():
            self.append_held(logs)

    def append_held(self, logs: list[dict[str, Any]]) -> None:
        """Append ``logs`` as Optuna's records while the caller holds :meth:`held`."""
        data = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
        _cut_torn_tail(self._path, check_json=False)
        with open(self._path, "ab") as f:
            f.write(data.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """This package's writer queue and Optuna's lock: every append, and a read-then-append
        that no other writer may come between (:func:`hpo_widget._optuna_compat.journal_batch`)."""
        with self._queue.turn():
            self._journal_lock.acquire()
            try:
                yield
            finally:
                self._journal_lock.release()


@contextlib.contextmanager
def writers_held(storage: BaseStorage) -> Iterator[None]:
    """Hold this package's journal writers (their :class:`_WriterQueue`) for the block.

    What Stop kills worker processes under: our writers take Optuna's symlink lock only
    while they hold the queue's ``flock``, so none holds it while the block runs.  A worker
    killed holding it left a lock that every other writer (the resumed run too) waited out
    for :data:`JOURNAL_LOCK_GRACE`, then broke with a warning in the notebook.  A no-op for
    every other storage.
    """
    backend = sealed_journal(storage)
    if backend is None:
        yield
        return
    with backend._queue.turn():
        yield


def sealed_journal(storage: BaseStorage) -> _SealingJournalFileBackend | None:
    """``storage``'s journal file backend when this package opened it, else None."""
    backend = getattr(storage, "_backend", None)
    return backend if isinstance(backend, _SealingJournalFileBackend) else None


def journal_file(storage: BaseStorage) -> str | None:
    """The path of ``storage``'s journal file when it is one this package opened, else None."""
    backend = sealed_journal(storage)
    return None if backend is None else backend._path


class JournalGrowth:
    """Tells a waiter that a journal file grew: every claim, tell and write appends to it.

    Workers that reach a journal file themselves (loky processes, Spark ``local[*]``) leave
    the driver no call to hear them by, as the gRPC proxy does; a look at the file's size
    every ``look`` seconds (one ``stat``, microseconds) lets the driver refill the ticket pool
    within milliseconds of a claim instead of at its next timed look, which backs off to
    0.2 s while the pool stays full and left workers waiting on an empty pool.
    """

    def __init__(self, path: str, look: float = 0.002) -> None:
        self._path = path
        self._look = look
        self._size = self._stat()

    def _stat(self) -> int:
        try:
            return os.stat(self._path).st_size
        except OSError:
            return -1

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the file to grow; True if it did (or ``stop``
        was set, which ends the wait as well)."""
        end = time.monotonic() + timeout
        while True:
            size = self._stat()
            if size != self._size:
                self._size = size
                return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            if stop is not None:
                if stop.wait(min(self._look, left)):
                    return True
            else:
                time.sleep(min(self._look, left))


# -- relational databases ------------------------------------------------------------------------
#: Table creation by several processes at once on a new database (a driver and
#: ``hpo-widget worker`` processes started together) races inside Optuna: both see no table,
#: both create it, one fails; so does the version row both insert.  Retried, it finds them made.
_CREATION_RACE = ("already exists", "database is locked", "unique constraint", "duplicate key")
_OPEN_ATTEMPTS = 6
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433}


def _postgres_driver_url(url: str) -> str:
    """A ``postgresql://`` URL naming a driver that is installed.

    The ``postgres`` extra installs psycopg 3 (``psycopg[binary]``): it is the maintained
    driver (psycopg2 gets only fixes) and the one SQLAlchemy 2.1 picks for a bare
    ``postgresql://``.  Naming it keeps the URL's meaning under SQLAlchemy 2.0 too (whose default
    is psycopg2).  Where only psycopg2 is installed (what this extra installed before) it is
    used, rather than failing with "Failed to import DB access module".  ``postgres://`` (as
    Heroku writes it) means ``postgresql://``; a URL naming its driver is left alone.
    """
    scheme, sep, rest = url.partition("://")
    base, _, driver = scheme.partition("+")
    if not sep or base.lower() not in ("postgresql", "postgres"):
        return url
    if driver:
        return f"postgresql+{driver}://{rest}"
    if importlib.util.find_spec("psycopg") is not None:
        return f"postgresql+psycopg://{rest}"
    if importlib.util.find_spec("psycopg2") is not None:
        return f"postgresql+psycopg2://{rest}"
    raise ImportError("no PostgreSQL driver (psycopg or psycopg2) is installed")


def _begin_immediate(storage: optuna.storages.RDBStorage) -> None:
    """Make every SQLite transaction of ``storage`` take the write lock when it begins.

    Optuna claims a WAITING trial with a read then a write in one transaction and relies on
    ``SELECT ... FOR UPDATE``, which SQLite ignores; and Python's sqlite3 opens the transaction
    only at the first write.  Two processes could both read WAITING and both run the trial.
    With ``BEGIN IMMEDIATE`` the second waits (up to the busy timeout) until the first commits
    and then reads RUNNING.  This is SQLAlchemy's documented recipe: sqlite3's own BEGIN is
    off (``isolation_level=None`` in ``connect_args``, so also on the connections Optuna made
    while creating the tables) and SQLAlchemy emits ours; sqlite3 still commits and rolls back.
    """
    import sqlalchemy

    def begin(conn: sqlalchemy.engine.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    sqlalchemy.event.listen(storage.engine, "begin", begin)


class _SQLiteStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage on SQLite with atomic claims (see :func:`_begin_immediate`).

    A subclass, so that a copy unpickled in another process gets the listener too (Optuna
    rebuilds the engine in ``__setstate__``).
    """

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        _begin_immediate(self)

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        _begin_immediate(self)


def _rdb_options(url: str, rdb_options: dict[str, Any] | None) -> dict[str, Any]:
    options = dict(rdb_options or {})
    engine_kwargs = dict(options.get("engine_kwargs") or {})
    if url.startswith("sqlite"):
        connect_args = dict(engine_kwargs.get("connect_args") or {})
        # Several threads and processes share the file: wait for the lock instead of failing.
        connect_args.setdefault("timeout", 30)
        connect_args["isolation_level"] = None  # SQLAlchemy emits BEGIN IMMEDIATE instead
        engine_kwargs["connect_args"] = connect_args
    else:
        engine_kwargs.setdefault("pool_pre_ping", True)
    options["engine_kwargs"] = engine_kwargs
    return options


def _open_rdb(url: str, rdb_options: dict[str, Any] | None) -> optuna.storages.RDBStorage:
    """Open an RDB storage, retrying the table-creation race (see ``_CREATION_RACE``)."""
    import sqlalchemy.exc

    url = _postgres_driver_url(url)
    options = _rdb_options(url, rdb_options)
    cls = _SQLiteStorage if url.startswith("sqlite") else optuna.storages.RDBStorage
    race = (
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.IntegrityError,
        sqlalchemy.exc.ProgrammingError,
    )
    attempt = 0
    while True:
        try:
            return cls(url, **options)
        except race as exc:
            attempt += 1
            if attempt >= _OPEN_ATTEMPTS or not any(s in str(exc).lower() for s in _CREATION_RACE):
                raise
            _logger.debug("storage: retrying after %s", mask_password(str(exc).splitlines()[0]))
            time.sleep(min(1.0, 0.05 * 2**attempt) * (0.5 + random.random()))


def _rdb_problem(url: str, exc: BaseException) -> str:
    """What failed, in words a person can act on: host and port, login, database, driver."""
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    if isinstance(exc, ImportError):
        cause = exc.__cause__ or exc
        return (
            f"the database driver is missing ({cause}); for PostgreSQL run "
            "pip install 'hpo_widget[postgres]' (psycopg 3)"
        )
    orig = exc.orig if isinstance(exc, sqlalchemy.exc.DBAPIError) else exc
    lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip()]
    detail = "; ".join(ln for ln in lines if not ln.startswith("(Background on this error"))
    try:
        u = make_url(url)
    except sqlalchemy.exc.ArgumentError:
        return detail
    if u.get_backend_name() == "sqlite":
        return detail
    where = f"{u.host or 'localhost'}:{u.port or _DEFAULT_PORTS.get(u.get_backend_name(), '?')}"
    low = detail.lower()
    if "authentication failed" in low or "access denied" in low or "no password" in low:
        what = f"the server at {where} refused user {u.username!r}: check the user and password"
    elif "does not exist" in low and "database" in low:
        what = f"database {u.database!r} does not exist on {where}: create it or fix the name"
    elif any(
        s in low
        for s in ("connection refused", "could not connect", "timeout", "translate host", "resolve")
    ):
        what = f"cannot reach a database server at {where}: is it running and listening there?"
    else:
        what = f"the database server at {where} failed"
    return f"{what} ({detail})" if detail else what


def open_storage(ref: StorageRef, *, rdb_options: dict[str, Any] | None = None) -> BaseStorage:
    """Open the storage ``ref`` points to, ready for several processes at once.

    A journal's torn tail is cut off first; a new database's tables may be created by several
    processes at once (retried); SQLite claims are made atomic.  Errors come back as
    ``RuntimeError`` saying what failed, with the password masked.
    """
    try:
        if ref.kind == "memory":
            # Fresh each time: the runner owns it and serves it to out-of-process workers.
            return optuna.storages.InMemoryStorage()
        if ref.kind == "journal":
            Path(ref.location).parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(_SealingJournalFileBackend(ref.location))
        if ref.kind == "grpc":
            from ._proxy import connect_proxy  # grpc is heavy: only for proxy clients

            return connect_proxy(ref)
        return _open_rdb(ref.location, rdb_options)
    except Exception as exc:  # re-raised with a masked message; never leak the password
        problem = _rdb_problem(ref.location, exc) if ref.kind == "rdb" else str(exc)
        raise RuntimeError(
            f"storage: could not open {describe_storage(ref)}: {mask_password(problem)}"
        ) from None
