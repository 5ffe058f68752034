"""Serve the driver's storage to workers that cannot open it themselves (other processes for an
in-memory study, executors on other hosts for a local journal file).

Optuna's public ``run_grpc_proxy_server`` blocks forever and cannot report the port it bound, so
this builds the same server from Optuna's servicer and keeps a handle to stop it.

Serving a JournalStorage (the embedded default) is sound although Optuna's docs still call it
unsupported (optuna#6084): JournalStorage tracks who owns a trial per *thread*, and the proxy runs
every client's calls on a few shared threads, so popping a WAITING trial could report success to
two clients.  Since optuna#6175 (July 2025, in the Optuna 5 we require) JournalStorage re-reads
the journal and checks that the trial is still WAITING under its lock before claiming it, and the
proxy serves the driver's own JournalStorage object, the one writer of the file.
tests/test_spark.py races 8 clients for 200 tickets to keep this true.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from optuna.storages import BaseStorage

from .storage import StorageRef

_log = logging.getLogger(__name__)


class StorageProxyServer:
    """A gRPC storage proxy bound to ``host:port`` (port 0 picks a free one).

    Binds to 127.0.0.1 by default; pass ``host="0.0.0.0"`` and an ``advertise`` address (e.g. the
    driver pod's headless-service name on Kubernetes) to let executors on other hosts connect.
    The channel is unauthenticated and unencrypted, so only open it on a trusted network.
    """

    def __init__(
        self,
        storage: BaseStorage,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        advertise: str | None = None,
        max_workers: int = 16,
    ) -> None:
        import grpc
        from optuna.storages._grpc import servicer
        from optuna.storages._grpc.auto_generated import api_pb2_grpc

        self._server = grpc.server(ThreadPoolExecutor(max_workers=max_workers))
        api_pb2_grpc.add_StorageServiceServicer_to_server(
            servicer.OptunaStorageProxyService(storage), self._server
        )
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if self.port == 0:
            raise OSError(f"storage proxy: cannot bind {host}:{port}")
        self.host = host
        self.advertise = advertise or ("127.0.0.1" if host in ("0.0.0.0", "::") else host)
        self._server.start()
        _log.info("storage proxy listening on %s:%s", host, self.port)

    @property
    def ref(self) -> StorageRef:
        """What workers use to reach this proxy."""
        return StorageRef("grpc", f"{self.advertise}:{self.port}")

    def close(self) -> None:
        self._server.stop(grace=1.0)
