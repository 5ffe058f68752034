"""The spark backend on one local[2] SparkSession shared by this module (startup ~10-15 s).

local[2] never retries a failed task, so a killed Python worker here fails the Spark call and
exercises the runner's relaunch; tests/test_cluster.py covers a real standalone cluster, where
Spark itself retries the task.
"""

from __future__ import annotations

import os
import signal
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
from tests._spark_fixtures import (
    all_running,
    assert_lost_trials_rerun,
    assert_one_evaluation_each,
    counts,
    lost,
    pid_alive,
    running_with_worker,
    wait_for,
    worker_pid,
)

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
    from pyspark import SparkContext

    so.register_by_value()
    active = SparkContext._active_spark_context
    if active is not None:
        assert is_local_master(str(active.master)), f"another SparkSession runs on {active.master}"
        yield SparkBackend().session()
        return
    backend = SparkBackend(master="local[2]", app_name="hpo_widget-tests")
    session = backend.session()
    try:
        yield session
    finally:
        backend.close()


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


@pytest.mark.parametrize("storage", ["memory", "journal"])
def test_every_stored_value_comes_from_its_own_parameters(
    spark: Any, tmp_path: Path, storage: str
) -> None:
    url = "memory" if storage == "memory" else str(tmp_path / "s.journal")  # memory: via proxy
    runner = StudyRunner(so.noop_objective, storage=url, backend=SparkBackend(spark=spark))
    assert_one_evaluation_each(runner.start(n_trials=200).wait(timeout=300), 200)


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


def test_noop_throughput_uses_long_lived_tasks(spark: Any, tmp_path: Path) -> None:
    runner = StudyRunner(
        so.noop_objective,
        storage=str(tmp_path / "noop.journal"),
        backend="spark",
        sampler="random",
        seed=0,
    )
    runner.start(n_trials=10).wait(timeout=60)  # warm the Python workers
    start = time.perf_counter()
    study = runner.start(n_trials=210).wait(timeout=120)
    elapsed = time.perf_counter() - start
    assert counts(study) == {"COMPLETE": 210}
    print(f"\nspark local[2], journal file, no-op objective: {200 / elapsed:.0f} trials/s")
    backend = runner.backend
    assert isinstance(backend, SparkBackend)
    assert _job_count(spark, backend.last_job_tag) == 2


def test_pruning_works_on_spark(spark: Any) -> None:
    runner = StudyRunner(
        so.pruned_objective,
        storage="memory",
        backend="spark",
        sampler="random",
        seed=3,
        pruner="median",
        pruner_options={"n_startup_trials": 2, "n_warmup_steps": 1},
    )
    study = runner.start(n_trials=16).wait(timeout=120)
    c = counts(study)
    assert c.get("COMPLETE", 0) + c.get("PRUNED", 0) == 16, c
    assert c.get("PRUNED", 0) >= 1, c
    for t in study.get_trials(states=(TrialState.PRUNED,)):
        assert len(t.intermediate_values) >= 2  # reported steps reached the driver's storage


def test_raising_objective_fails_only_its_trial_and_is_not_retried(
    spark: Any, tmp_path: Path
) -> None:
    runner = StudyRunner(
        so.raising_objective,
        storage=str(tmp_path / "raise.journal"),
        backend="spark",
        sampler="random",
        seed=1,
    )
    study = runner.start(n_trials=12).wait(timeout=120)
    assert runner.status is RunStatus.FINISHED
    assert len(study.trials) == 12, "a failing objective must not cause extra trials"
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert failed, "seed 1 samples odd x values"
    for t in failed:
        assert t.params["x"] % 2 == 1
        assert "ValueError: odd x=" in t.system_attrs[_attrs.TRACEBACK]
        assert t.system_attrs[_attrs.FAIL_REASON].startswith("ValueError")
        assert not t.system_attrs.get(_attrs.LOST)
    assert all(_attrs.RETRY_OF not in t.system_attrs for t in study.trials)
    assert all(t.params["x"] % 2 == 0 for t in study.get_trials(states=(TrialState.COMPLETE,)))


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
    start = time.perf_counter()
    expected = "cannot run the workers: ModuleNotFoundError: No module named 'driver_only_obj"
    with pytest.raises(RunError, match=expected):
        runner.start(n_trials=4).wait(timeout=120)
    assert time.perf_counter() - start < 60
    assert runner.status is RunStatus.FAILED
    assert not runner.study.get_trials(states=(TrialState.RUNNING,))


def test_stop_returns_within_two_seconds_and_kills_the_tasks(spark: Any) -> None:
    runner = StudyRunner(so.Sleep(60), storage="memory", backend="spark", heartbeat_grace=30)
    runner.start(n_trials=6)
    try:
        running = wait_for(lambda: all_running(runner.study, 2), 60, "two running trials")
        pids = {worker_pid(t) for t in running}
        start = time.perf_counter()
        runner.stop()
        latency = time.perf_counter() - start
    finally:
        runner.stop()
    print(f"\nstop() latency on local[2]: {latency:.2f} s")
    assert runner.status is RunStatus.STOPPED
    study = runner.study
    assert not study.get_trials(states=(TrialState.RUNNING,))
    stopped = lost(study)
    assert len(stopped) == 2
    assert all("stopped" in t.system_attrs[_attrs.FAIL_REASON] for t in stopped)
    # interruptOnCancel: Spark kills the cancelled tasks' Python workers (after its 2 s grace),
    # so no 60 s trial keeps a slot busy for the next run.
    wait_for(lambda: not any(pid_alive(p) for p in pids), 15, "the Python workers to be killed")


def test_killed_python_worker_trial_is_rerun(spark: Any, tmp_path: Path) -> None:
    """local[2] does not retry the failed task: the runner relaunches the workers and re-queues
    the dead worker's trial once its heartbeat stops."""
    runner = StudyRunner(
        so.Sleep(1.0),
        storage=str(tmp_path / "kill.journal"),
        backend="spark",
        heartbeat_grace=4,
        sampler="random",
        seed=0,
    )
    runner.start(n_trials=8)
    try:
        victim = wait_for(lambda: running_with_worker(runner.study), 60, "a running trial")[0]
        os.kill(worker_pid(victim), signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(
            lambda: runner.study.trials[victim.number].state == TrialState.FAIL,
            30,
            "the killed trial to be marked lost",
        )
        detected = time.monotonic() - killed_at
        study = runner.wait(timeout=120)
    finally:
        runner.stop()
    print(f"\nlost trial detected {detected:.1f} s after SIGKILL (heartbeat_grace=4)")
    c = counts(study)
    assert c["COMPLETE"] == 8, c
    assert not study.get_trials(states=(TrialState.RUNNING,))
    dead = study.trials[victim.number]
    assert dead.system_attrs[_attrs.LOST]
    # This host's worker PIDs are checked directly; on other hosts only the heartbeat tells.
    reason = dead.system_attrs[_attrs.FAIL_REASON]
    assert "exited mid-trial" in reason or "no heartbeat" in reason, reason
    assert_lost_trials_rerun(study)
