"""Dask backend: the same long-lived workers through joblib's ``dask`` backend.

The workers run :func:`hpo_widget._worker.run_worker` as Dask tasks, one per worker thread of the
cluster by default.  The backend talks to the scheduler through a client it owns (connected to
``address``, to the scheduler of a ``client`` you pass, or to a ``LocalCluster`` it starts), so
cancelling can close that client, which makes Dask drop the run's tasks and joblib return at once,
without touching a client of yours.  Dask cannot interrupt a task that already runs, so on a
``LocalCluster`` the backend started (worker processes that run nothing but this backend's
tasks) Stop also shuts that cluster down, killing its worker processes, and the next run starts
a fresh one: a hung objective cannot hold a worker thread after Stop (a resume would otherwise
queue behind it forever), and ``close()`` does not wait out distributed's 4 s grace per busy
worker.  On a cluster of yours (``address``, ``client``) running tasks are left alone: such a
worker finishes its current trial (the runner has already failed it as stopped), sees the stop
flag in storage and returns.  Worker processes of a local cluster exit with the driver:
distributed's own parent-alive pipe makes them ``os._exit`` when the driver process is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import weakref
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlparse

import joblib

from . import BACKEND_OPTIONS
from ._base import Backend, call_once_at_exit, check_options, shared_first_argument

__all__ = ["DaskBackend"]

_log = logging.getLogger(__name__)

_KNOWN_OPTIONS = BACKEND_OPTIONS["dask"]


#: Seconds close() waits for a cluster that a cancel() is shutting down.
_SHUTDOWN_WAIT = 30.0


def _shut_down(cluster: Any) -> None:
    """Close a LocalCluster without waiting for its busy workers.

    A nanny asks its worker to finish its tasks and kills it only after 4 s, and a hung
    objective never finishes; these workers run nothing but this backend's tasks, so each is
    SIGKILLed as soon as its nanny is closing (not before: a nanny that is not closing would
    restart it).
    """
    from distributed import Nanny
    from distributed.core import Status

    nannies = [w for w in getattr(cluster, "workers", {}).values() if isinstance(w, Nanny)]
    done = threading.Event()

    def kill_when_closing() -> None:
        left = list(nannies)
        while left and not done.wait(0.02):
            for nanny in list(left):
                if nanny.status not in (Status.closing, Status.closed):
                    continue
                left.remove(nanny)
                pid = nanny.pid
                if pid is not None and pid != os.getpid():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_closing, name="hpo-dask-kill", daemon=True)
    killer.start()
    try:
        cluster.close()
    finally:
        done.set()
        killer.join()


#: Backends of this process that started a LocalCluster (see _close_at_exit).
_OWNERS: weakref.WeakSet[DaskBackend] = weakref.WeakSet()


def _close_at_exit() -> None:
    """Shut the backends' clusters down at interpreter exit without distributed's 4 s grace
    per busy worker (a script that ends mid-run); runs before distributed's own hook, which
    was registered when distributed was imported."""
    for backend in list(_OWNERS):
        with contextlib.suppress(Exception):
            backend.close()


def _is_local_address(address: str) -> bool:
    host = urlparse(address if "://" in address else f"tcp://{address}").hostname or ""
    return host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "") or host in (
        socket.gethostname(),
        socket.getfqdn(),
    )


class DaskBackend(Backend):
    """Run the workers as Dask tasks (``pip install 'hpo_widget[dask]'``).

    Options (``StudyRunner(..., backend="dask", backend_options={...})``):

    ``address``
        Scheduler address, e.g. ``tcp://10.0.0.5:8786``.
    ``client``
        A ``distributed.Client``; the backend connects its own client to the same scheduler.
    ``n_workers``, ``threads_per_worker``, ``processes``, ``cluster_options``
        Without an address or client: the ``LocalCluster`` the backend starts (defaults 2, 1,
        True) and owns; :meth:`close` shuts it down.
    ``remote``
        Whether workers may run on other hosts (default: True when the scheduler is not on this
        host); remote workers reach a local journal or in-memory study through the gRPC proxy.

    Example::

        runner = StudyRunner(objective, backend="dask",
                             backend_options={"address": "tcp://scheduler:8786"})
    """

    name: ClassVar[str] = "dask"
    in_process: ClassVar[bool] = False

    def __init__(self, **options: Any) -> None:
        check_options("dask", options, _KNOWN_OPTIONS)
        if options.get("address") and options.get("client"):
            raise ValueError("backend_options: give either 'address' or 'client', not both")
        import distributed  # noqa: F401 - fail here, with make_backend's install hint

        super().__init__(**options)
        user_client = options.get("client")
        self._address: str | None = options.get("address") or (
            user_client.scheduler.address if user_client is not None else None
        )
        self._cluster_kwargs: dict[str, Any] = {
            "n_workers": int(options.get("n_workers", 2)),
            "threads_per_worker": int(options.get("threads_per_worker", 1)),
            "processes": bool(options.get("processes", True)),
            "dashboard_address": ":0",  # a free port: several clusters may run at once
            **dict(options.get("cluster_options") or {}),
        }
        remote = options.get("remote")
        self.remote = (
            bool(remote)
            if remote is not None
            else self._address is not None and not _is_local_address(self._address)
        )
        self._cluster: Any = None
        self._client: Any = None
        self._lock = threading.Lock()
        self._cancelled: set[int] = set()  # ids of clients closed by cancel()
        self._running = 0  # calls of run() in progress
        self._closing: list[threading.Thread] = []  # clusters a cancel() is shutting down

    # -- cluster and client ------------------------------------------------------------------
    def client(self) -> Any:
        """The backend's own client (connected on first use, again after a cancel)."""
        from distributed import Client, LocalCluster

        with self._lock:
            if self._client is not None and self._client.status == "running":
                return self._client
            address = self._address
            if address is None:
                if self._cluster is None:
                    _log.info("starting a Dask LocalCluster %s", self._cluster_kwargs)
                    self._cluster = LocalCluster(**self._cluster_kwargs)
                    _OWNERS.add(self)
                    call_once_at_exit(_close_at_exit)
                address = self._cluster.scheduler_address
            self._client = Client(address, set_as_default=False)
            return self._client

    @property
    def address(self) -> str | None:
        """Scheduler address (None until a backend-owned LocalCluster is started)."""
        if self._address is not None:
            return self._address
        return self._cluster.scheduler_address if self._cluster is not None else None

    def _owned_threads(self) -> int | None:
        """Worker threads of the LocalCluster this backend starts (None: not ours).  Known from
        its settings, so counting them neither starts a cluster nor waits for the fresh one
        that replaces a cluster a Stop shut down."""
        if self._address is not None:
            return None
        kwargs = self._cluster_kwargs
        return max(1, int(kwargs.get("n_workers") or 1)) * max(
            1, int(kwargs.get("threads_per_worker") or 1)
        )

    def default_workers(self) -> int:
        """One worker per Dask worker thread."""
        owned = self._owned_threads()
        if owned is not None:
            return owned
        return max(1, sum(self.client().nthreads().values()))

    # -- running ------------------------------------------------------------------------------
    def run(self, function: Callable[..., Any], args: list[tuple[Any, ...]]) -> list[Any]:
        if not args:
            return []
        with self._lock:
            self._running += 1
        try:
            client = self.client()
        except BaseException:
            with self._lock:
                self._running -= 1
            raise
        try:
            threads = self._owned_threads() or sum(client.nthreads().values())
            # Every worker gets the same task (the objective and what it captures): send it to
            # each Dask worker once, not inside every call (dask's sizeof cannot see the data
            # inside it, so joblib would not scatter it by itself).
            shared = shared_first_argument(args)
            if threads < 2:
                # joblib runs n_jobs=1 in this process instead of on the cluster: submit directly.
                if shared is not None:
                    [future] = client.scatter([shared], broadcast=True, hash=False)
                    args = [(future, *a[1:]) for a in args]
                futures = [client.submit(function, *a, pure=False) for a in args]
                return list(client.gather(futures))
            scatter = [shared] if shared is not None else None
            with joblib.parallel_config(backend="dask", client=client, scatter=scatter):
                parallel = joblib.Parallel(batch_size=1, pre_dispatch="all")
                return list(parallel(joblib.delayed(function)(*a) for a in args))
        except BaseException:  # also asyncio.CancelledError, which is not an Exception
            with self._lock:
                if id(client) in self._cancelled:
                    return []
            raise
        finally:
            with self._lock:
                self._running -= 1
                self._cancelled.discard(id(client))

    def cancel(self) -> None:
        """Close the backend's client, so Dask releases the run's tasks and joblib returns; a
        LocalCluster of the backend's own with running tasks is shut down (in the background),
        which kills the worker processes and with them the running trials."""
        with self._lock:
            client, self._client = self._client, None
            if client is not None:
                self._cancelled.add(id(client))
            cluster = None
            if self._running and self._cluster is not None and self._cluster_kwargs["processes"]:
                cluster, self._cluster = self._cluster, None  # the next run starts a fresh one
        if cluster is not None:
            closer = threading.Thread(
                target=_shut_down, args=(cluster,), name="hpo-dask-shutdown", daemon=True
            )
            closer.start()
            with self._lock:
                self._closing = [t for t in self._closing if t.is_alive()] + [closer]
        if client is not None:
            try:
                client.close(timeout=1)
            except Exception:
                _log.debug("dask backend: closing the client failed", exc_info=True)

    def close(self) -> None:
        """Close the client and, if the backend started it, the LocalCluster."""
        with self._lock:
            client, cluster, closing = self._client, self._cluster, self._closing
            self._client = self._cluster = None
            self._closing = []
        if client is not None:
            client.close()
        if cluster is not None:
            _shut_down(cluster)
        for closer in closing:
            closer.join(_SHUTDOWN_WAIT)

    def describe(self) -> str:
        where = self.address or "local cluster (not started)"
        return f"dask ({where})"
