"""The standalone cluster itself: one master and two 1-core workers on 127.0.0.1
(LocalSparkCluster), shared by this module, with fault injection by PID.

Here: what the cluster runs, the embedded journal served to the executors through the gRPC
proxy on the port asked for, a killed worker JVM, and that every process the cluster started
ends (also when its owner is SIGKILLed).  The test that kills a worker JVM runs before the
one that stops the cluster: the cluster has one worker fewer afterwards.  Exact totals on every
storage (PostgreSQL reached directly, the others through the proxy), resume, Stop, failing and
pruned trials and a killed Python worker (which Spark retries) are part of the contract every
backend keeps: tests/test_backend_contract.py.
"""

from __future__ import annotations

import json
import os
import signal
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
from tests._postgres import free_port
from tests._spark_fixtures import (
    Held,
    assert_lost_trials_rerun,
    assert_one_evaluation_each,
    pid_alive,
    running_with_worker,
    spark_cluster,
    wait_for,
    worker_pid,
)

pytestmark = [pytest.mark.spark, pytest.mark.cluster]


@pytest.fixture(scope="module")
def cluster_and_backend() -> Iterator[tuple[LocalSparkCluster, SparkBackend]]:
    with spark_cluster(n_workers=2) as pair:
        yield pair


@pytest.fixture(scope="module")
def cluster(cluster_and_backend: tuple[LocalSparkCluster, SparkBackend]) -> LocalSparkCluster:
    return cluster_and_backend[0]


@pytest.fixture(scope="module")
def backend(cluster_and_backend: tuple[LocalSparkCluster, SparkBackend]) -> SparkBackend:
    """A SparkSession on the cluster with both executors registered."""
    return cluster_and_backend[1]


def test_cluster_runs_a_master_and_two_workers(cluster: LocalSparkCluster) -> None:
    assert cluster.master_url.startswith("spark://127.0.0.1:")
    assert len(cluster.worker_pids) == 2
    assert all(pid_alive(p) for p in [cluster.master_pid or -1, *cluster.worker_pids])
    with urllib.request.urlopen(f"{cluster.webui_url}/json/", timeout=5) as response:
        status = json.loads(response.read())
    assert status["aliveworkers"] == 2
    assert status["cores"] == 2


def test_the_embedded_journal_is_served_to_the_executors_through_the_proxy(
    backend: SparkBackend, cluster: LocalSparkCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[Any] = []
    real = proxy_module.StorageProxyServer

    def spy(storage: Any, **options: Any) -> Any:
        server = real(storage, **options)
        served.append((storage, server))
        return server

    monkeypatch.setattr(proxy_module, "StorageProxyServer", spy)
    port = free_port()
    runner = StudyRunner(
        so.noop_objective,  # (Optuna's iris example on Spark: tests/test_spark.py)
        backend=backend,
        seed=0,
        storage_proxy={"host": "127.0.0.1", "port": port, "advertise": "127.0.0.1"},
    )
    assert runner.storage_ref is not None and runner.storage_ref.kind == "journal"
    study = runner.start(n_trials=10).wait(timeout=180)
    assert_one_evaluation_each(study, 10)
    # The driver's JournalStorage object itself was served, on the port asked for.
    assert len(served) == 1
    storage, server = served[0]
    assert isinstance(storage, JournalStorage) and storage is runner.study._storage
    assert server.ref.location == f"127.0.0.1:{port}"
    # Every trial ran in a Python worker below one of the cluster's worker JVMs.
    executors = {p for w in cluster.worker_pids for p, _ in _descendants(w)}
    assert {worker_pid(t) for t in study.trials} <= executors
    # The journal on disk holds the same study (a fresh reader replays the driver's writes).
    assert Path("hpo_studies.journal").exists()


def test_executors_map_a_large_objective_from_their_own_broadcast_file(
    backend: SparkBackend, cluster: LocalSparkCluster
) -> None:
    """16 MB captured: each executor JVM fetches the broadcast and writes it to a file of its
    own, and the Python workers below it map that file rather than unpickling a copy."""
    runner = StudyRunner(so.ReportsHowItsArrayArrived(2_000_000), backend=backend, seed=0)
    study = runner.start(n_trials=8).wait(timeout=180)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 8
    assert all(t.value == t.params["i"] * 0.5 for t in study.trials)
    assert backend.last_broadcast_bytes >= 16_000_000
    assert {(t.user_attrs["mapped"], t.user_attrs["writeable"]) for t in study.trials} == {
        (True, True)
    }
    executors = {p for w in cluster.worker_pids for p, _ in _descendants(w)}
    assert {worker_pid(t) for t in study.trials} <= executors


def test_killed_worker_jvm_loses_only_its_trial(
    backend: SparkBackend, cluster: LocalSparkCluster, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    runner = StudyRunner(
        Held(str(gate)), backend=backend, heartbeat_grace=5, sampler="random", seed=0
    )
    runner.start(n_trials=6)
    try:
        victim = wait_for(lambda: running_with_worker(runner.study), 60, "a held trial")[0]
        index = cluster.worker_of(worker_pid(victim))
        assert index is not None, "the trial's Python worker is not below a worker JVM"
        killed = cluster.kill_worker(index, signal.SIGKILL)
        hit = time.monotonic()
        wait_for(
            lambda: runner.study.trials[victim.number].state == TrialState.FAIL,
            60,
            "the lost trial to be failed",
        )
        print(f"\nkilled worker JVM: trial failed as lost {time.monotonic() - hit:.1f} s later")
        gate.touch()
        study = runner.wait(timeout=150)
    finally:
        gate.touch()
        runner.stop()
    assert runner.status is RunStatus.FINISHED
    assert_one_evaluation_each(study, 6)
    dead = study.trials[victim.number]
    assert dead.system_attrs[_attrs.LOST]
    # The executor's Python worker went with the JVM: its PID or its heartbeat tells.
    reason = dead.system_attrs[_attrs.FAIL_REASON]
    assert "exited mid-trial" in reason or "no heartbeat" in reason, reason
    assert_lost_trials_rerun(study)
    assert not pid_alive(killed)
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
