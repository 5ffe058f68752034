"""Serve the driver's storage to workers that cannot open it themselves (other processes for an
in-memory study, executors on other hosts for a local journal file).

Optuna's public ``run_grpc_proxy_server`` blocks forever and cannot report the port it bound, so
this builds the same server from Optuna's servicer and keeps a handle to stop it.

**Authentication.**  Optuna's proxy (5.0) is an insecure channel with no credentials: anyone
who reaches the port can read every study in the served storage, plant trials or set a run's
stop flag.  So every proxy requires a per-run token in the gRPC metadata of each call, checked
by a server interceptor (calls without it get ``UNAUTHENTICATED``).  Workers receive the token
inside their task (:attr:`hpo_widget.storage.StorageRef.secret`); ``hpo-widget worker``
processes read it from ``$HPO_WIDGET_PROXY_TOKEN``.  The token is not encryption (the channel
is plaintext, so anyone who can sniff it can replay the token): beyond loopback, keep the port
on a network only executors reach (on Kubernetes, a NetworkPolicy; see README).

**One call per claim.**  Besides Optuna's storage service the server has one method of its own,
``hpo_widget.Tickets/Claim``: the result of the worker's last trial (when the driver sampled it),
the stop check, the claim of a ticket, the worker's mark and the read of the claimed trial, which
a worker made as five round trips between trials (:func:`hpo_widget._worker.claim_for_worker`).
It replies with the trial in Optuna's own wire form, which the client hands to ``optuna.Trial``
instead of reading it again.  A client of a server without the method (an older hpo_widget)
falls back to the four calls.  A claim that finds the pool empty may wait on the server (the
request's ``wait``) until the driver offers a ticket or ends the run
(:meth:`StorageProxyServer.offered`): a worker then hears of either at once, instead of at its
next look, which at a run's end was up to half a second later for every idle worker.

Serving a JournalStorage (the embedded default) is sound although Optuna's docs still call it
unsupported (optuna#6084): JournalStorage tracks who owns a trial per *thread*, and the proxy runs
every client's calls on a few shared threads, so popping a WAITING trial could report success to
two clients.  Since optuna#6175 (July 2025, in the Optuna 5 we require) JournalStorage re-reads
the journal and checks that the trial is still WAITING under its lock before claiming it, and the
proxy serves the driver's own JournalStorage object, the one writer of the file.
tests/test_spark.py races 8 clients for 200 tickets to keep this true.
"""

from __future__ import annotations

import collections
import contextlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import optuna
from optuna.storages import BaseStorage, GrpcStorageProxy
from optuna.trial import FrozenTrial

from ._optuna_compat import (
    GrpcStorageProxyWithInterceptor,
    add_storage_servicer,
    probe_proxy,
    trial_from_wire,
    trial_id,
    trial_to_wire,
)
from ._worker import Told, claim_for_worker
from .storage import StorageRef

__all__ = ["TOKEN_ENV", "TOKEN_METADATA", "StorageProxyServer", "connect_proxy"]

_log = logging.getLogger(__name__)

#: gRPC metadata key carrying the run's token (lower case, as gRPC requires).
TOKEN_METADATA = "x-hpo-widget-token"
#: Where ``hpo-widget worker`` (and a driver that must share a known token) finds the token.
TOKEN_ENV = "HPO_WIDGET_PROXY_TOKEN"
_DENIED = (
    "hpo_widget storage proxy: missing or wrong token. Workers of a run get it with their "
    f"task; for `hpo-widget worker` set ${TOKEN_ENV} to the token the driver uses"
)


#: Shorter user-given tokens are refused: a guessable token is no protection.
_MIN_TOKEN_CHARS = 16
#: A study name nobody uses: looking it up is the cheapest call that proves the token works.
_PROBE_STUDY = "hpo_widget:token-check"
#: The server's own service and its claim method (:func:`_claims_service`).
_CLAIMS_SERVICE = "hpo_widget.Tickets"
CLAIM_METHOD = f"/{_CLAIMS_SERVICE}/Claim"
#: Methods after which a client may have changed a trial's state (the driver's refill cue).
_STATE_CHANGES = frozenset({"SetTrialStateValues", "Claim"})
#: First byte of a claim's reply: the run is over, the pool is empty, a trial follows.
_OVER, _EMPTY, _TRIAL = b"S", b"E", b"T"
#: Longest a claim waits on the server for an offer (a client asking more gets this).
MAX_CLAIM_WAIT = 1.0
#: Server threads kept free of waiting claims, for the calls of workers that run trials.
_THREADS_FOR_CALLS = 4


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bracket(host: str) -> str:
    """IPv6 literals need brackets in a gRPC target (``[::1]:50051``)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _then(handler: Any, hook: Callable[[], None]) -> Any:
    """``handler`` (unary-unary) calling ``hook`` once its call is done (errors ignored)."""
    inner = handler.unary_unary

    def behavior(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return inner(request, context)
        finally:
            with contextlib.suppress(Exception):
                hook()

    return grpc.unary_unary_rpc_method_handler(
        behavior,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class _RequireToken(grpc.ServerInterceptor):
    """Rejects every call whose metadata lacks the run's token (constant-time comparison), and
    counts the accepted ones by method (what ``benchmarks/round_trips.py`` reports)."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self._deny = grpc.unary_unary_rpc_method_handler(self._abort)
        self.calls: collections.Counter[str] = collections.Counter()
        self._count_lock = threading.Lock()
        #: Called after every trial state change a client made (a claim or a tell).
        self.after_state_change: Callable[[], None] | None = None

    @staticmethod
    def _abort(request: Any, context: grpc.ServicerContext) -> None:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, _DENIED)

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        given = dict(handler_call_details.invocation_metadata or ()).get(TOKEN_METADATA, "")
        if isinstance(given, str) and hmac.compare_digest(given.encode(), self._token):
            method = handler_call_details.method.rpartition("/")[2]
            with self._count_lock:
                self.calls[method] += 1
            handler = continuation(handler_call_details)
            hook = self.after_state_change
            if method in _STATE_CHANGES and hook is not None and handler is not None:
                return _then(handler, hook)
            return handler
        return self._deny


class _Offers:
    """Claims waiting on the server for the driver's next offer (new tickets, the run's end).

    A generation count, not a flag: a claim that read generation ``g`` before finding the pool
    empty waits only while it is still ``g``, so an offer made between its look and its wait
    is never missed.  At most ``limit`` claims wait at once; the server's other threads stay
    free for the calls of workers running trials (a claim that cannot wait returns at once and
    its worker looks again later, as without waiting).
    """

    def __init__(self, limit: int) -> None:
        self._changed = threading.Condition()
        self._generation = 0
        self._waiting = 0
        self._limit = limit

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def waiting(self) -> int:
        return self._waiting

    def offered(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    @contextlib.contextmanager
    def slot(self) -> Any:
        """Yields whether this claim may wait (a slot was free)."""
        with self._changed:
            free = self._waiting < self._limit
            if free:
                self._waiting += 1
        try:
            yield free
        finally:
            if free:
                with self._changed:
                    self._waiting -= 1

    def wait_past(self, generation: int, timeout: float) -> bool:
        """Wait up to ``timeout`` s for an offer after ``generation``; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._generation != generation, timeout)


def _claims_service(storage: BaseStorage, offers: _Offers) -> grpc.GenericRpcHandler:
    """``hpo_widget.Tickets/Claim`` on ``storage``: JSON ``{"study_id", "run_id", "worker",
    "told", "wait"}`` in (``told``: ``[trial_id, values]`` of the worker's last trial, or null;
    ``wait``: seconds an empty pool may be waited on, default 0), one of ``_OVER``, ``_EMPTY``
    or ``_TRIAL`` + the trial's wire form out."""

    def claim(request: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            args = json.loads(request)
            study_id, run_id, worker = int(args["study_id"]), str(args["run_id"]), args["worker"]
            told = args.get("told")
            if told is not None:
                told = (int(told[0]), [float(v) for v in told[1]])
            wait = min(max(float(args.get("wait") or 0.0), 0.0), MAX_CLAIM_WAIT)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"claim request: {exc!r}")
        try:
            generation = offers.generation
            outcome = claim_for_worker(storage, study_id, run_id, str(worker), told)
            if outcome is True and wait > 0:
                outcome = _wait_for_offer(storage, offers, generation, wait, args, context)
        except KeyError as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        if outcome is False:
            return _OVER
        if outcome is True:
            return _EMPTY
        return _TRIAL + trial_to_wire(outcome)

    return grpc.method_handlers_generic_handler(
        _CLAIMS_SERVICE, {"Claim": grpc.unary_unary_rpc_method_handler(claim)}
    )


def _wait_for_offer(
    storage: BaseStorage,
    offers: _Offers,
    generation: int,
    wait: float,
    args: dict[str, Any],
    context: grpc.ServicerContext,
) -> FrozenTrial | bool:
    """Claim again after each offer until a ticket is won, the run is over or ``wait`` s pass
    (True: still empty).  A client that gave up (cancelled, timed out) is not waited for."""
    outcome: FrozenTrial | bool = True
    deadline = time.monotonic() + wait
    with offers.slot() as may_wait:
        while may_wait and outcome is True and context.is_active():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not offers.wait_past(generation, remaining):
                break
            generation = offers.generation
            outcome = claim_for_worker(
                storage, int(args["study_id"]), str(args["run_id"]), str(args["worker"])
            )
    return outcome


class StorageProxyServer:
    """A gRPC storage proxy bound to ``host:port`` (port 0 picks a free one).

    Binds to 127.0.0.1 by default.  To let executors on other hosts connect, pass
    ``host="0.0.0.0"`` *and* ``advertise``, the address they dial (on Kubernetes the driver
    pod's IP or headless-service name).  ``token`` defaults to ``$HPO_WIDGET_PROXY_TOKEN`` or a
    fresh random one per run.
    """

    def __init__(
        self,
        storage: BaseStorage,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        advertise: str | None = None,
        max_workers: int = 16,
        token: str | None = None,
    ) -> None:
        if advertise is None and not _is_loopback(host):
            raise ValueError(
                f"storage_proxy.advertise: the proxy binds {host!r}, beyond loopback, so "
                "executors need the address to dial; set storage_proxy={'host': ..., "
                "'advertise': '<driver pod IP or headless-service name>'}"
            )
        given = token or os.environ.get(TOKEN_ENV) or None
        if given is not None and len(given) < _MIN_TOKEN_CHARS:
            raise ValueError(
                f"storage_proxy.token (or ${TOKEN_ENV}): a token must have at least "
                f"{_MIN_TOKEN_CHARS} characters; make one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        self.token = given or secrets.token_urlsafe(32)
        self._auth = _RequireToken(self.token)
        self._server = grpc.server(
            ThreadPoolExecutor(max_workers=max_workers), interceptors=[self._auth]
        )
        add_storage_servicer(self._server, storage)
        self._offers = _Offers(max(0, max_workers - _THREADS_FOR_CALLS))
        self._server.add_generic_rpc_handlers((_claims_service(storage, self._offers),))
        self.port = self._server.add_insecure_port(f"{_bracket(host)}:{port}")
        if self.port == 0:
            raise OSError(f"storage proxy: cannot bind {host}:{port}")
        self.host = host
        self.advertise = advertise or host
        self._server.start()
        _log.info("storage proxy listening on %s:%s (token required)", host, self.port)

    def on_state_change(self, hook: Callable[[], None] | None) -> None:
        """Call ``hook`` after each trial state change through this proxy: the driver's cue
        that a worker claimed a ticket (or told a result) and the pool may need a refill."""
        self._auth.after_state_change = hook

    def offered(self) -> None:
        """The driver offered tickets or ended the run: claims waiting for it look again."""
        self._offers.offered()

    @property
    def claims_waiting(self) -> int:
        """Claims waiting on this server for an offer right now."""
        return self._offers.waiting

    @property
    def calls(self) -> collections.Counter[str]:
        """Calls served so far, by storage method (a copy)."""
        with self._auth._count_lock:
            return collections.Counter(self._auth.calls)

    @property
    def ref(self) -> StorageRef:
        """What workers use to reach this proxy (the token travels with it, never printed)."""
        return StorageRef("grpc", f"{_bracket(self.advertise)}:{self.port}", secret=self.token)

    def close(self) -> None:
        self._offers.offered()  # waiting claims answer now, not at their deadline
        self._server.stop(grace=1.0)


_CallDetails = collections.namedtuple(
    "_CallDetails",
    ["method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"],
)


class _ClientCallDetails(_CallDetails, grpc.ClientCallDetails):
    pass


class _SendToken(grpc.UnaryUnaryClientInterceptor):
    def __init__(self, token: str) -> None:
        self._entry = (TOKEN_METADATA, token)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        metadata = [*(details.metadata or ()), self._entry]
        return continuation(
            _ClientCallDetails(
                details.method,
                details.timeout,
                metadata,
                details.credentials,
                details.wait_for_ready,
                details.compression,
            ),
            request,
        )


class AuthenticatedStorageProxy(GrpcStorageProxyWithInterceptor):
    """Optuna's gRPC storage client, sending the run's token with every call.

    Pickles like Optuna's client (Spark ships it to executors), token included.
    """

    def __init__(self, *, host: str, port: int, token: str) -> None:
        super().__init__(host=host, port=port, interceptor=_SendToken(token))

    def _setup(self) -> None:
        super()._setup()
        self._claim = self._channel.unary_unary(CLAIM_METHOD)
        #: Trials a claim just returned, by id: the next ``get_trial`` of one is answered from
        #: here (``optuna.Trial`` reads the trial it is built for), then forgotten.
        self._claimed: dict[int, FrozenTrial] = {}
        self._serves_claims = True

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        for key in ("_claim", "_claimed", "_serves_claims"):
            state.pop(key, None)
        return state

    def claim_for_worker(
        self, study_id: int, run_id: str, worker: str, told: Told | None = None, wait: float = 0.0
    ) -> FrozenTrial | bool | None:
        """:func:`hpo_widget._worker.claim_for_worker` on the server, in one call; None when the
        server has no such method (an older hpo_widget): then nothing was written, ``told``
        included, and the caller makes the calls itself.  ``wait``: seconds the server may hold
        a claim that finds the pool empty, for the driver's next offer (a server that cannot
        wait answers at once; older ones ignore it)."""
        if not self._serves_claims:
            return None
        request = json.dumps(
            {"study_id": study_id, "run_id": run_id, "worker": worker, "told": told, "wait": wait}
        )
        try:
            reply: bytes = self._claim(request.encode())
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                self._serves_claims = False
                return None
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise KeyError(exc.details()) from exc
            raise
        kind, body = reply[:1], reply[1:]
        if kind == _OVER:
            return False
        if kind == _EMPTY:
            return True
        trial = trial_from_wire(body)
        self._claimed[trial_id(trial)] = trial
        return trial

    def get_trial(self, trial_id: int) -> FrozenTrial:
        claimed = self._claimed.pop(trial_id, None)
        return claimed if claimed is not None else super().get_trial(trial_id)


def connect_proxy(ref: StorageRef, *, ready_timeout: float = 30.0) -> GrpcStorageProxy:
    """Open a client of the proxy ``ref`` points to, with its token (or ``$HPO_WIDGET_PROXY_TOKEN``).

    Without any token this is Optuna's plain client, for proxies started with Optuna's own
    ``run_grpc_proxy_server``.  One lookup proves the token at once, so a worker with a wrong
    or missing token fails when it opens storage, with a message, not at its first trial.
    """
    host, _, port = ref.location.rpartition(":")
    token = ref.secret or os.environ.get(TOKEN_ENV)
    with warnings.catch_warnings():
        # Experimental since Optuna 4.2; the runner depends on it on purpose, and the warning
        # would print once per Spark task.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        proxy: GrpcStorageProxy = (
            AuthenticatedStorageProxy(host=host, port=int(port), token=token)
            if token
            else GrpcStorageProxy(host=host, port=int(port))
        )
    error = probe_proxy(proxy, _PROBE_STUDY, ready_timeout)
    # NOT_FOUND is the expected answer: the server is up and accepted the token.
    if error is not None and error.code() != grpc.StatusCode.NOT_FOUND:
        proxy.close()
        if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise ConnectionError(
                f"no storage proxy answered at {ref.location} within {ready_timeout:g} s"
            ) from None
        if error.code() != grpc.StatusCode.UNAUTHENTICATED:
            raise error
        given = "its token" if token else "a client without a token"
        raise PermissionError(
            f"the proxy at {ref.location} refused {given}; a driver started with "
            f"${TOKEN_ENV} (or storage_proxy={{'token': ...}}) accepts workers that have "
            f"the same ${TOKEN_ENV}"
        ) from None
    return proxy
