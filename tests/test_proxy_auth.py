"""The gRPC storage proxy requires the run's token (issue 8, defect 7): real gRPC on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import grpc
import optuna
import pytest

from hpo_widget import StudyRunner, _attrs
from hpo_widget import _proxy as proxy_module
from hpo_widget._optuna_compat import add_storage_servicer
from hpo_widget._proxy import (
    CLAIM_METHOD,
    TOKEN_ENV,
    AuthenticatedStorageProxy,
    StorageProxyServer,
    _RequireToken,
    connect_proxy,
)
from hpo_widget._worker import WorkerTask, run_worker
from hpo_widget.storage import StorageRef, open_storage, resolve_storage
from tests import spark_objectives as so
from tests._spark_fixtures import assert_one_evaluation_each
from tests._waiting import wait_for


@pytest.fixture
def served() -> Iterator[tuple[StorageProxyServer, optuna.storages.InMemoryStorage, int]]:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="guarded")
    storage.set_study_system_attr(study._study_id, _attrs.RUN, {"id": "r1", "stop": False})
    proxy = StorageProxyServer(storage)
    try:
        yield proxy, storage, study._study_id
    finally:
        proxy.close()


def plain_client(proxy: StorageProxyServer) -> optuna.storages.GrpcStorageProxy:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        client = optuna.storages.GrpcStorageProxy(host="127.0.0.1", port=proxy.port)
    client.wait_server_ready(timeout=30)
    return client


def test_the_runs_token_opens_the_proxy(served: tuple) -> None:
    proxy, _, study_id = served
    assert proxy.ref.secret and "secret=***" in repr(proxy.ref)
    assert proxy.token not in repr(proxy.ref) and proxy.token not in str(proxy.ref)
    client = open_storage(proxy.ref)
    assert client.get_study_id_from_name("guarded") == study_id
    # Shipped to an executor: the unpickled client still sends the token.
    again = pickle.loads(pickle.dumps(client))
    assert again.get_study_system_attrs(study_id)[_attrs.RUN]["id"] == "r1"


@pytest.mark.parametrize("token", [None, "wrong"])
def test_calls_without_the_token_are_unauthenticated(served: tuple, token: str | None) -> None:
    proxy, storage, study_id = served
    if token is None:
        client = plain_client(proxy)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            client = AuthenticatedStorageProxy(host="127.0.0.1", port=proxy.port, token=token)
    attacks = [
        lambda: client.get_all_studies(),  # read every study
        lambda: client.set_study_system_attr(study_id, _attrs.RUN, {"id": "r1", "stop": True}),
        lambda: client.create_new_trial(study_id),  # plant a trial
        # claim a ticket through the server's own method
        lambda: client._channel.unary_unary(CLAIM_METHOD)(b'{"study_id": 0}'),
    ]
    for attack in attacks:
        with pytest.raises(grpc.RpcError) as info:
            attack()
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "missing or wrong token" in (info.value.details() or "")
    assert storage.get_study_system_attrs(study_id)[_attrs.RUN]["stop"] is False
    assert storage.get_all_trials(study_id) == []


_EXECUTOR = textwrap.dedent(
    """
    import pickle, sys
    client = pickle.loads(sys.stdin.buffer.read())
    print(client.get_study_id_from_name("guarded"))
    """
)


def test_a_pickled_client_works_in_another_process(served: tuple) -> None:
    proxy, _, study_id = served
    payload = pickle.dumps(connect_proxy(proxy.ref))
    out = subprocess.run(
        [sys.executable, "-c", _EXECUTOR], input=payload, capture_output=True, timeout=120
    )
    assert out.returncode == 0, out.stderr.decode()
    assert int(out.stdout) == study_id


def test_a_worker_without_the_token_fails_when_it_opens_storage(
    served: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `hpo-widget worker --storage grpc://...` does: a ref parsed from a URL, no secret.
    proxy, _, study_id = served
    bare = resolve_storage(f"grpc://127.0.0.1:{proxy.port}")
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(RuntimeError, match=TOKEN_ENV) as info:
        open_storage(bare)
    assert "refused a client without a token" in str(info.value)
    monkeypatch.setenv(TOKEN_ENV, "x" * 40)
    with pytest.raises(RuntimeError, match="refused its token"):
        open_storage(bare)
    monkeypatch.setenv(TOKEN_ENV, proxy.token)
    assert open_storage(bare).get_study_id_from_name("guarded") == study_id


def test_a_driver_can_share_a_known_token(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "k8s-secret-" + "a" * 32
    monkeypatch.setenv(TOKEN_ENV, token)
    proxy = StorageProxyServer(optuna.storages.InMemoryStorage())
    try:
        assert proxy.token == token and proxy.ref.secret == token
    finally:
        proxy.close()
    with pytest.raises(ValueError, match=r"storage_proxy\.token"):
        StorageProxyServer(optuna.storages.InMemoryStorage(), token="changeme")


def test_binding_beyond_loopback_needs_an_advertise_address() -> None:
    with pytest.raises(ValueError, match=r"storage_proxy\.advertise") as info:
        StorageProxyServer(optuna.storages.InMemoryStorage(), host="0.0.0.0")
    assert "driver pod IP or headless-service name" in str(info.value)
    proxy = StorageProxyServer(
        optuna.storages.InMemoryStorage(), host="0.0.0.0", advertise="127.0.0.1"
    )
    try:
        assert proxy.ref.location == f"127.0.0.1:{proxy.port}"
        assert open_storage(proxy.ref).get_all_studies() == []
    finally:
        proxy.close()


def test_optuna_private_api_the_client_relies_on_is_still_there(served: tuple) -> None:
    # Fails loudly when an Optuna release renames what AuthenticatedStorageProxy re-wraps.
    proxy, _, _ = served
    client = plain_client(proxy)
    assert callable(getattr(optuna.storages.GrpcStorageProxy, "_setup", None))
    for name in ("_channel", "_stub", "_cache"):
        assert hasattr(client, name), f"GrpcStorageProxy.{name} moved"
    assert client._cache.grpc_client is client._stub, "GrpcClientCache no longer holds the stub"
    from optuna.storages._grpc import servicer
    from optuna.storages._grpc.auto_generated import api_pb2_grpc

    assert hasattr(servicer, "OptunaStorageProxyService")
    assert hasattr(api_pb2_grpc, "add_StorageServiceServicer_to_server")
    # The authenticated client's stub and cache really sit on the intercepted channel.
    ours = connect_proxy(proxy.ref)
    assert ours._cache.grpc_client is ours._stub
    assert type(ours._channel).__module__ == "grpc._interceptor"


def test_a_run_through_the_proxy_still_reaches_its_total() -> None:
    # storage="memory" with loky processes: every worker call goes through the proxy.
    runner = StudyRunner(so.noop_objective, storage="memory", backend="loky", n_workers=2)
    assert_one_evaluation_each(runner.start(n_trials=40).wait(timeout=300), 40)
    runner.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_worker_waits_for_a_proxy_that_comes_up_after_it() -> None:
    # A Spark task can start before the driver's proxy listens (a restarted driver pod): the
    # first lookup waits for the channel, on the client's own channel, with its token.
    import threading

    port, token = _free_port(), "late-" + "b" * 32
    ref = resolve_storage(f"grpc://127.0.0.1:{port}")
    ref = dataclasses.replace(ref, secret=token)
    opened: list[object] = []
    client = threading.Thread(target=lambda: opened.append(connect_proxy(ref, ready_timeout=60)))
    client.start()
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="late")
    proxy = StorageProxyServer(storage, port=port, token=token)
    try:
        client.join(timeout=60)
        assert opened, "the client gave up on a proxy that came up"
        assert opened[0].get_study_id_from_name("late") == study._study_id  # type: ignore[attr-defined]
    finally:
        proxy.close()


def test_no_proxy_answering_is_a_clear_error_after_the_ready_timeout() -> None:
    ref = resolve_storage(f"grpc://127.0.0.1:{_free_port()}")
    with pytest.raises(ConnectionError, match=r"no storage proxy answered at 127\.0\.0\.1:\d+"):
        connect_proxy(ref, ready_timeout=0.5)


def _tickets(storage: optuna.storages.BaseStorage, study_id: int, n: int) -> list[int]:
    waiting = optuna.trial.create_trial(state=optuna.trial.TrialState.WAITING)
    return [storage.create_new_trial(study_id, template_trial=waiting) for _ in range(n)]


def test_a_claim_is_one_call_that_checks_the_run_claims_and_marks(served: tuple) -> None:
    proxy, storage, study_id = served
    (tid,) = _tickets(storage, study_id, 1)
    client = open_storage(proxy.ref)
    before = proxy.calls
    trial = client.claim_for_worker(study_id, "r1", "host:1:0")
    assert isinstance(trial, optuna.trial.FrozenTrial) and trial._trial_id == tid
    stored = storage.get_trial(tid)
    assert stored.state == optuna.trial.TrialState.RUNNING
    assert stored.system_attrs[_attrs.WORKER] == "host:1:0" == trial.system_attrs[_attrs.WORKER]
    # optuna.Trial reads the trial it is built for: the claim's copy answers, once.
    study = optuna.load_study(study_name="guarded", storage=client)
    assert optuna.Trial(study, tid).number == trial.number
    client.get_trial(tid)  # read again: that one goes to the server
    calls = proxy.calls - before
    assert calls["Claim"] == 1 and calls["GetTrial"] == 1
    assert calls.get("SetTrialStateValues", 0) == calls.get("GetStudySystemAttributes", 0) == 0
    # The next claim carries the result; the pool is empty now: wait.
    assert client.claim_for_worker(study_id, "r1", "w", told=(tid, [0.25])) is True
    assert storage.get_trial(tid).state == optuna.trial.TrialState.COMPLETE
    assert storage.get_trial(tid).value == 0.25
    # A result for a trial that has ended meanwhile (the driver failed it) is dropped.
    assert client.claim_for_worker(study_id, "r1", "w", told=(tid, [9.0])) is True
    assert storage.get_trial(tid).value == 0.25
    assert client.claim_for_worker(study_id, "another run", "w") is False  # not this run's
    running, waiting = _tickets(storage, study_id, 2)
    assert client.claim_for_worker(study_id, "r1", "w") is not True
    storage.set_study_system_attr(study_id, _attrs.RUN, {"id": "r1", "stop": True})
    # Stopped: the result it carries is kept, nothing more is claimed.
    assert client.claim_for_worker(study_id, "r1", "w", told=(running, [1.0])) is False
    assert storage.get_trial(running).value == 1.0
    assert storage.get_trial(waiting).state == optuna.trial.TrialState.WAITING
    with pytest.raises(KeyError):
        client.claim_for_worker(study_id + 99, "r1", "w")


@pytest.fixture
def optuna_only_server() -> Iterator[tuple[StorageRef, optuna.storages.InMemoryStorage, int]]:
    """A proxy with the token but only Optuna's service: an older hpo_widget driver."""
    from concurrent.futures import ThreadPoolExecutor

    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="guarded")
    storage.set_study_system_attr(study._study_id, _attrs.RUN, {"id": "r1", "stop": False})
    token = "t" * 32
    server = grpc.server(ThreadPoolExecutor(max_workers=4), interceptors=[_RequireToken(token)])
    add_storage_servicer(server, storage)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield StorageRef("grpc", f"127.0.0.1:{port}", secret=token), storage, study._study_id
    finally:
        server.stop(grace=1.0)


@pytest.mark.parametrize("server", ["ours", "optuna only"])
def test_a_worker_claims_marks_and_tells_with_or_without_the_claim_method(
    server: str, served: tuple, optuna_only_server: tuple
) -> None:
    if server == "ours":
        proxy, storage, study_id = served
        ref = proxy.ref
    else:
        ref, storage, study_id = optuna_only_server
    ids = _tickets(storage, study_id, 5)
    task = WorkerTask(so.noop_objective, study_name="guarded", storage=ref, run_id="r1")
    result = run_worker(task, slot=0)
    assert result.error is None and result.n_trials == 5
    for tid in ids:
        trial = storage.get_trial(tid)
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert trial.system_attrs[_attrs.WORKER] == result.worker
    if server == "ours":
        assert proxy.calls["Claim"] == 6  # five trials, then the empty pool


def _claim_in_thread(client: object, *args: object, **kwargs: object) -> tuple[Any, list]:
    out: list = []
    thread = threading.Thread(
        target=lambda: out.append(client.claim_for_worker(*args, **kwargs)),  # type: ignore[attr-defined]
        daemon=True,
    )
    thread.start()
    return thread, out


def test_a_claim_on_an_empty_pool_waits_on_the_server_for_the_drivers_offer(
    served: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long cap: if the offer did not wake the claim it would answer "empty" only after 60 s.
    monkeypatch.setattr(proxy_module, "MAX_CLAIM_WAIT", 60.0)
    proxy, storage, study_id = served
    client = open_storage(proxy.ref)
    thread, out = _claim_in_thread(client, study_id, "r1", "host:1:0", wait=60.0)
    wait_for(lambda: proxy.claims_waiting == 1, 30, "the claim to wait on the server", 0.005)
    proxy.offered()  # an offer that brought nothing: the claim keeps waiting
    (tid,) = _tickets(storage, study_id, 1)
    proxy.offered()
    thread.join(30)
    assert out and isinstance(out[0], optuna.trial.FrozenTrial), out
    assert out[0]._trial_id == tid
    assert storage.get_trial(tid).system_attrs[_attrs.WORKER] == "host:1:0"
    assert proxy.claims_waiting == 0


def test_a_waiting_claim_hears_at_once_that_the_run_is_over(
    served: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proxy_module, "MAX_CLAIM_WAIT", 60.0)
    proxy, storage, study_id = served
    client = open_storage(proxy.ref)
    thread, out = _claim_in_thread(client, study_id, "r1", "w", wait=60.0)
    wait_for(lambda: proxy.claims_waiting == 1, 30, "the claim to wait on the server", 0.005)
    storage.set_study_system_attr(study_id, _attrs.RUN, {"id": "r1", "stop": True})
    proxy.offered()
    thread.join(30)
    assert out == [False]


def test_claims_wait_only_while_server_threads_stay_free_for_other_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(proxy_module, "MAX_CLAIM_WAIT", 60.0)
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="small")
    storage.set_study_system_attr(study._study_id, _attrs.RUN, {"id": "r1", "stop": False})
    # Four threads, all kept for calls: no claim may hold one waiting.
    proxy = StorageProxyServer(storage, max_workers=4)
    try:
        client = open_storage(proxy.ref)
        thread, out = _claim_in_thread(client, study._study_id, "r1", "w", wait=60.0)
        wait_for(lambda: not thread.is_alive(), 30, "the claim to answer without waiting")
        assert out == [True]  # empty, now: the worker looks again later
    finally:
        proxy.close()
    offers = proxy_module._Offers(1)
    with offers.slot() as first, offers.slot() as second:
        assert (first, second, offers.waiting) == (True, False, 1)
    assert offers.waiting == 0
