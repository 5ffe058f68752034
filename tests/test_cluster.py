"""The spark backend on a real standalone cluster: one master and two 1-core workers on 127.0.0.1
(LocalSparkCluster), shared by this module, with fault injection by PID.

The driver's embedded journal file is served to the executors through the gRPC storage proxy,
because a ``spark://`` master counts as remote.  The test that kills a worker JVM runs last:
the cluster has one worker fewer afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from optuna.storages import JournalStorage
from optuna.trial import TrialState

from hpo_widget import RunStatus, StudyRunner, _attrs
from hpo_widget import _proxy as proxy_module
from hpo_widget.backends.spark import SparkBackend
from hpo_widget.cluster import LocalSparkCluster, _descendants
from tests import spark_objectives as so
from tests._spark_fixtures import (
    all_running,
    assert_lost_trials_rerun,
    counts,
    lost,
    pid_alive,
    running_with_worker,
    wait_for,
    worker_pid,
)

pytestmark = [pytest.mark.spark, pytest.mark.cluster]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalSparkCluster]:
    from pyspark import SparkContext

    active = SparkContext._active_spark_context
    assert active is None, f"a SparkSession on {active and active.master} is still running"
    with LocalSparkCluster(n_workers=2, cores_per_worker=1, memory="1g") as c:
        yield c


@pytest.fixture(scope="module")
def backend(cluster: LocalSparkCluster) -> Iterator[SparkBackend]:
    """A SparkSession on the cluster with both executors registered."""
    so.register_by_value()
    b = SparkBackend(master=cluster.master_url, conf=cluster.conf, app_name="hpo_widget-cluster")
    try:
        assert b.remote
        b.session()
        wait_for(lambda: b.default_workers() == 2, 120, "two registered executors")
        yield b
    finally:
        b.close()


def test_cluster_runs_a_master_and_two_workers(cluster: LocalSparkCluster) -> None:
    assert cluster.master_url.startswith("spark://127.0.0.1:")
    assert len(cluster.worker_pids) == 2
    assert all(pid_alive(p) for p in [cluster.master_pid or -1, *cluster.worker_pids])
    with urllib.request.urlopen(f"{cluster.webui_url}/json/", timeout=5) as response:
        status = json.loads(response.read())
    assert status["aliveworkers"] == 2
    assert status["cores"] == 2


def test_iris_on_the_cluster_through_the_proxy_over_the_journal(
    backend: SparkBackend, cluster: LocalSparkCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[Any] = []
    real = proxy_module.StorageProxyServer

    def spy(storage: Any, **options: Any) -> Any:
        server = real(storage, **options)
        served.append((storage, server))
        return server

    monkeypatch.setattr(proxy_module, "StorageProxyServer", spy)
    port = _free_port()
    runner = StudyRunner(
        so.iris_objective,
        direction="maximize",
        backend=backend,
        seed=0,
        storage_proxy={"host": "127.0.0.1", "port": port, "advertise": "127.0.0.1"},
    )
    assert runner.storage_ref is not None and runner.storage_ref.kind == "journal"
    study = runner.start(n_trials=10).wait(timeout=180)
    assert counts(study) == {"COMPLETE": 10}
    # The driver's JournalStorage object itself was served, on the port asked for.
    assert len(served) == 1
    storage, server = served[0]
    assert isinstance(storage, JournalStorage) and storage is runner.study._storage
    assert server.ref.location == f"127.0.0.1:{port}"
    # Every trial ran in a Python worker below one of the cluster's worker JVMs.
    executors = {p for w in cluster.worker_pids for p, _ in _descendants(w)}
    assert {worker_pid(t) for t in study.trials} <= executors
    assert study.best_value > 0.9
    # The journal on disk holds the same study (a fresh reader replays the driver's writes).
    assert Path("hpo_studies.journal").exists()


@pytest.mark.postgres
def test_postgres_is_used_directly_by_the_executors(
    backend: SparkBackend, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_proxy(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a PostgreSQL study needs no storage proxy")

    monkeypatch.setattr(proxy_module, "StorageProxyServer", no_proxy)
    runner = StudyRunner(so.noop_objective, storage=postgres_url, backend=backend, seed=0)
    assert runner.storage_ref is not None and runner.storage_ref.kind == "rdb"
    study = runner.start(n_trials=20).wait(timeout=120)
    assert counts(study) == {"COMPLETE": 20}
    assert len({t.system_attrs[_attrs.WORKER] for t in study.trials}) == 2


def test_stop_on_the_cluster_within_two_seconds(backend: SparkBackend) -> None:
    runner = StudyRunner(so.Sleep(60), backend=backend, heartbeat_grace=30)
    runner.start(n_trials=4)
    try:
        running = wait_for(lambda: all_running(runner.study, 2), 60, "two running trials")
        start = time.perf_counter()
        runner.stop()
        latency = time.perf_counter() - start
    finally:
        runner.stop()
    print(f"\nstop() latency on the standalone cluster: {latency:.2f} s")
    assert latency < 2.0
    assert runner.status is RunStatus.STOPPED
    assert not runner.study.get_trials(states=(TrialState.RUNNING,))
    assert len(lost(runner.study)) == 2
    pids = {worker_pid(t) for t in running}
    wait_for(lambda: not any(pid_alive(p) for p in pids), 15, "the Python workers to be killed")


def _run_with_fault(backend: SparkBackend, inject: Any, n_trials: int) -> tuple[Any, float]:
    runner = StudyRunner(
        so.Sleep(1.5),
        backend=backend,
        heartbeat_grace=5,
        sampler="random",
        seed=0,
    )
    runner.start(n_trials=n_trials)
    try:
        victim = wait_for(lambda: running_with_worker(runner.study), 60, "a running trial")[0]
        inject(worker_pid(victim))
        hit = time.monotonic()
        wait_for(
            lambda: runner.study.trials[victim.number].state == TrialState.FAIL,
            30,
            "the lost trial to be failed",
        )
        detected = time.monotonic() - hit
        study = runner.wait(timeout=150)
    finally:
        runner.stop()
    assert runner.status is RunStatus.FINISHED
    c = counts(study)
    assert c["COMPLETE"] == n_trials, c
    assert not study.get_trials(states=(TrialState.RUNNING,))
    dead = study.trials[victim.number]
    assert dead.system_attrs[_attrs.LOST]
    # This host's worker PIDs are checked directly; on other hosts only the heartbeat tells.
    reason = dead.system_attrs[_attrs.FAIL_REASON]
    assert "exited mid-trial" in reason or "no heartbeat" in reason, reason
    assert_lost_trials_rerun(study)
    return study, detected


def test_killed_python_worker_is_retried_by_spark(backend: SparkBackend) -> None:
    _, detected = _run_with_fault(backend, lambda pid: os.kill(pid, signal.SIGKILL), 8)
    print(f"\nkilled Python worker: trial failed as lost {detected:.1f} s later (grace 5 s)")


def test_killed_worker_jvm_loses_only_its_trial(
    backend: SparkBackend, cluster: LocalSparkCluster
) -> None:
    killed: list[int] = []

    def kill_jvm(python_pid: int) -> None:
        index = cluster.worker_of(python_pid)
        assert index is not None, "the trial's Python worker is not below a worker JVM"
        killed.append(cluster.kill_worker(index, signal.SIGKILL))

    _, detected = _run_with_fault(backend, kill_jvm, 8)
    print(f"\nkilled worker JVM: trial failed as lost {detected:.1f} s later (grace 5 s)")
    assert not pid_alive(killed[0])
    wait_for(lambda: cluster.alive_workers() == 1, 90, "the master to notice the dead worker")


def test_stop_ends_every_process_it_started(
    backend: SparkBackend, cluster: LocalSparkCluster
) -> None:
    pids = [cluster.master_pid or -1, *cluster.worker_pids]
    pids += [p for w in cluster.worker_pids for p, _ in _descendants(w)]
    backend.close()
    cluster.stop()
    assert not [p for p in pids if pid_alive(p)]
    cluster.stop()  # idempotent


_OWNER = """
import sys, time
from hpo_widget.cluster import LocalSparkCluster
cluster = LocalSparkCluster(n_workers=1, memory="512m").start()
print(cluster.master_pid, *cluster.worker_pids, flush=True)
time.sleep(600)
"""


def test_a_killed_owner_takes_its_cluster_jvms_with_it(tmp_path: Path) -> None:
    """A SIGKILLed kernel runs no atexit hook: the JVMs still go (setpriv --pdeathsig)."""
    import subprocess
    import sys

    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        line = owner.stdout.readline() if owner.stdout else ""
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2 and all(pid_alive(p) for p in pids), line
    finally:
        owner.kill()  # by PID: the process this test started
        owner.wait(10)
    try:
        wait_for(lambda: not any(pid_alive(p) for p in pids), 30, "the cluster JVMs to exit")
    finally:
        for pid in pids:  # the JVMs our owner process started, if the test failed
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
