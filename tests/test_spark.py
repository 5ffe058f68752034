"""What only the spark backend does, on one local[2] SparkSession shared by this module: master
recognition, options, one long-lived task per slot, loopback-only ports, one worker not run in
the driver, executors that cannot import the objective.

Exact totals, resume, Stop (which kills the tasks' Python workers), failing and pruned trials
and a killed Python worker (local[2] never retries a task: the runner relaunches) are part of
the contract every backend keeps: tests/test_backend_contract.py.  Throughput figures are in
benchmarks/dispatch.py.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from hpo_widget import RunError, RunStatus, StudyRunner, _attrs
from hpo_widget._proxy import StorageProxyServer
from hpo_widget._worker import claim_ticket
from hpo_widget.backends import make_backend
from hpo_widget.backends.spark import SparkBackend, is_local_master
from hpo_widget.storage import StorageRef, open_storage
from tests import spark_objectives as so
from tests._spark_fixtures import counts, local_spark, worker_pid

# --------------------------------------------------------------------------------------------
# No JVM needed


def test_local_masters_are_recognised() -> None:
    assert is_local_master("local")
    assert is_local_master("local[2]")
    assert is_local_master("local[*, 4]")
    assert is_local_master("local-cluster[2,1,1024]")
    assert not is_local_master("spark://127.0.0.1:7077")
    assert not is_local_master("k8s://https://10.0.0.1:6443")


def test_remote_follows_the_master_without_starting_spark() -> None:
    assert SparkBackend(master="spark://10.0.0.5:7077").remote
    assert SparkBackend(master="k8s://https://10.0.0.1:6443").remote
    assert not SparkBackend(master="local[2]").remote
    assert not SparkBackend.in_process


def test_unknown_option_is_reported() -> None:
    with pytest.raises(ValueError, match=r"unknown 'mastr'.*known options are spark, master"):
        make_backend("spark", mastr="local[2]")


def test_journal_behind_the_proxy_claims_every_ticket_exactly_once(tmp_path: Path) -> None:
    """Optuna issue 6084: JournalStorage ties trial ownership to the calling *thread*, and a gRPC
    proxy serves many clients from a few threads, so popping a WAITING trial used to report
    success to two clients.  Since optuna#6175 it re-checks the state under the storage lock.
    Here 8 clients race for 200 tickets on one journal, while the "driver" writes directly into
    the same JournalStorage object, as the runner does."""
    storage = open_storage(StorageRef("journal", str(tmp_path / "race.journal")))
    study = optuna.create_study(study_name="race", storage=storage)
    for _ in range(200):
        study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING))
    proxy = StorageProxyServer(storage)
    claimed: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    done = threading.Event()

    def client() -> None:
        try:
            remote = open_storage(proxy.ref)
            remote_study = optuna.load_study(study_name="race", storage=remote)
            while (trial := claim_ticket(remote_study)) is not None:
                with lock:
                    claimed.append(trial._trial_id)
                remote.set_trial_system_attr(trial._trial_id, _attrs.HEARTBEAT, time.time())
                remote_study.tell(trial, 1.0)
        except BaseException as exc:
            errors.append(exc)

    def driver() -> None:
        while not done.is_set():
            storage.get_all_trials(study._study_id, deepcopy=False)
            storage.set_study_system_attr(study._study_id, "beat", time.time())

    try:
        threads = [threading.Thread(target=client) for _ in range(8)]
        watcher = threading.Thread(target=driver)
        watcher.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        done.set()
        watcher.join(10)
    finally:
        proxy.close()
    assert not errors, errors
    assert len(claimed) == 200, "a ticket was claimed twice or not at all"
    assert len(set(claimed)) == 200
    # A fresh reader replaying the file agrees: every ticket ran once and completed.
    replay = open_storage(StorageRef("journal", str(tmp_path / "race.journal")))
    trials = replay.get_all_trials(replay.get_study_id_from_name("race"))
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 200


# --------------------------------------------------------------------------------------------
# local[2]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local[2] SparkSession for the module, stopped at its end."""
    with local_spark("local[2]") as session:
        yield session


pytestmark = pytest.mark.spark


def _job_count(spark: Any, tag: str | None) -> int:
    assert tag is not None
    return len(spark.sparkContext._jsc.sc().statusTracker().getJobIdsForTag(tag))


def test_iris_objective_runs_unchanged_with_an_exact_count(spark: Any, tmp_path: Path) -> None:
    runner = StudyRunner(
        so.iris_objective,
        storage=str(tmp_path / "iris.journal"),
        direction="maximize",
        backend="spark",
        seed=0,
    )
    assert runner.backend.describe() == f"spark ({spark.sparkContext.master})"
    study = runner.start(n_trials=12).wait(timeout=180)
    assert counts(study) == {"COMPLETE": 12}
    assert runner.status is RunStatus.FINISHED
    # Conditional parameters as Optuna's example defines them.
    for t in study.trials:
        expected = {"classifier", "svc_c" if t.params["classifier"] == "SVC" else "rf_max_depth"}
        assert set(t.params) == expected
    assert study.best_value > 0.9
    # Trials ran in executor Python workers, one long-lived task per slot, not a job per trial.
    pids = {worker_pid(t) for t in study.trials}
    assert os.getpid() not in pids
    backend = runner.backend
    assert isinstance(backend, SparkBackend)
    assert _job_count(spark, backend.last_job_tag) == 2
    assert backend.last_broadcast_bytes == 0  # a small task travels inside its closure


def test_a_large_captured_object_travels_once_as_a_broadcast(spark: Any, tmp_path: Path) -> None:
    """16 MB captured by the objective: sent once for both workers, trials see the real data."""
    objective = so.ReportsHowItsArrayArrived(2_000_000)
    runner = StudyRunner(
        objective, storage=str(tmp_path / "big.journal"), backend="spark", n_workers=2, seed=0
    )
    study = runner.start(n_trials=8).wait(timeout=180)
    assert counts(study) == {"COMPLETE": 8}
    assert all(t.value == t.params["i"] * 0.5 for t in study.trials)
    # Each Python worker mapped the executor's broadcast file instead of copying the array,
    # and the array is still writable (copy-on-write pages), as an unpickled one would be.
    assert {(t.user_attrs["mapped"], t.user_attrs["writeable"]) for t in study.trials} == {
        (True, True)
    }
    backend = runner.backend
    assert isinstance(backend, SparkBackend)
    assert backend.last_broadcast_bytes >= 16_000_000
    assert len({worker_pid(t) for t in study.trials} - {os.getpid()}) >= 1


def test_the_broadcast_file_is_what_pyspark_writes_for_the_bundles_bytearray(spark: Any) -> None:
    """The bundle is written straight into the broadcast's file (no bytearray on the driver),
    byte for byte as PySpark's own pickle of that bytearray, so its ``value`` still reads it."""
    import pickle

    import numpy as np

    from hpo_widget.backends import _shared_bundle, _spark_broadcast

    data = np.arange(300_000, dtype=np.float64)
    bundle = _shared_bundle.pack(data, base=_spark_broadcast._BROADCAST_FILE_HEAD)
    broadcast = _spark_broadcast._broadcast_bundle(spark.sparkContext, bundle)
    try:
        with open(broadcast._path, "rb") as f:
            written = f.read()
        assert written == pickle.dumps(bundle.to_bytearray(), 5)
        assert np.array_equal(_shared_bundle.load_buffer(broadcast.value), data)
        assert np.array_equal(_shared_bundle.load_file(broadcast._path), data)
    finally:
        broadcast.destroy()


def test_a_local_session_listens_on_loopback_only(spark: Any) -> None:
    """Every port the driver JVM opened (RPC, block manager, web UI) is on 127.0.0.1."""
    import psutil

    sc = spark.sparkContext
    assert sc.getConf().get("spark.driver.bindAddress") == "127.0.0.1"
    jvm = psutil.Process(sc._gateway.proc.pid)
    listening = [
        c.laddr
        for p in [jvm, *jvm.children(recursive=True)]
        for c in p.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening, "the driver JVM listens on no port at all?"
    exposed = [a for a in listening if a.ip not in ("127.0.0.1", "::ffff:127.0.0.1")]
    assert not exposed, f"driver ports open beyond loopback: {exposed}"


def test_one_worker_still_runs_on_spark(spark: Any) -> None:
    """joblib runs Parallel(n_jobs=1) in the driver; the backend must not."""
    runner = StudyRunner(so.noop_objective, storage="memory", backend="spark", n_workers=1)
    study = runner.start(n_trials=5).wait(timeout=60)
    assert counts(study) == {"COMPLETE": 5}
    assert {worker_pid(t) for t in study.trials} != {os.getpid()}
    assert len({t.system_attrs[_attrs.WORKER] for t in study.trials}) == 1


def test_objective_missing_on_executors_is_reported(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module only the driver can import: the run fails at once, with the executor's error."""
    (tmp_path / "driver_only_objectives.py").write_text(
        "def objective(trial):\n    return trial.suggest_float('x', 0, 1)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import driver_only_objectives

    runner = StudyRunner(driver_only_objectives.objective, storage="memory", backend="spark")
    expected = "cannot run the workers: ModuleNotFoundError: No module named 'driver_only_obj"
    with pytest.raises(RunError, match=expected):
        runner.start(n_trials=4).wait(timeout=120)
    assert runner.status is RunStatus.FAILED
    assert not runner.study.get_trials(states=(TrialState.RUNNING,))
