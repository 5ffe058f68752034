"""The contract every backend keeps with every storage, each scenario written once.

Like Optuna's ``tests/storages_tests`` (a list of storage cases and a fixture that yields each),
a scenario is a test over a *backend case* and a *storage case*:

* backend cases: ``threading`` (workers share the driver's storage object), ``loky`` (worker
  processes), ``spark-local`` (one ``local[2]`` session for the module), ``spark-cluster`` (a
  standalone master and two one-core workers on 127.0.0.1) and ``dask`` (a LocalCluster of two
  worker processes owned by the backend);
* storage cases (``storage_url`` in ``conftest.py``): ``memory``, ``journal``, ``sqlite`` and
  ``postgres`` (a real server).

Every pair is valid.  Worker processes cannot open the driver's in-memory study, and executors
of a cluster (``remote``) cannot count on the driver's files, so those pairs go through the
runner's gRPC storage proxy; :func:`test_exact_total_with_two_workers` checks which pairs do.

The matrix, chosen so that the whole CI stays affordable on two cores: the scenarios whose
outcome depends on the storage path (claims, the proxy, reloading a study) on every storage,
the others on every backend with the embedded default, a journal file:

==========================================  ===================  ==========================
scenario                                     backends             storages
==========================================  ===================  ==========================
exact total, one evaluation per trial        all five             all four
resume to the same total (a new runner)      all five             memory, journal
                                             threading            sqlite, postgres
objective raises: only its trial fails       all five             journal, memory
stop: nothing RUNNING, resume re-runs        all five             journal
pruning reports reach the storage            all five             journal
killed worker process is reaped              loky, spark, dask    journal
==========================================  ===================  ==========================

The backend fixture is module-scoped, so pytest runs the tests backend by backend and each
Spark session, cluster or Dask cluster is started once (and stopped before the next one).
Waits are bounded on a condition (:func:`wait_for`) and only turn a hang into a failure;
latencies are printed (``pytest -s``), never asserted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from hpo_widget import RunStatus, StudyRunner, TrialFinished, _attrs
from hpo_widget import _proxy as proxy_module
from hpo_widget.backends import Backend
from hpo_widget.backends.spark import SparkBackend
from tests import spark_objectives as so
from tests._spark_fixtures import (
    Held,
    all_running,
    assert_lost_trials_rerun,
    assert_one_evaluation_each,
    counts,
    dask_cluster,
    local_spark,
    lost,
    pid_alive,
    spark_cluster,
    wait_for,
    worker_pid,
)

#: Seconds: only to turn a hang into a failure.
BOUND = 180.0


# -- objectives: module level (loky and Dask import them; Spark gets them by value) -------------
@dataclass(frozen=True)
class Square:
    """``x ** 2`` (what :func:`assert_one_evaluation_each` checks).

    The first ``n_workers`` trials wait, bounded, until ``n_workers`` workers have each claimed
    one: a worker holds one trial at a time, so every worker runs trials however late its
    process starts, and the claims that follow race as hard as the storage allows.
    """

    n_workers: int = 1

    def __call__(self, trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -1.0, 1.0)
        deadline = time.monotonic() + 120
        while trial.number < self.n_workers and time.monotonic() < deadline:
            trials = trial.study.get_trials(deepcopy=False)
            workers = {t.system_attrs.get(_attrs.WORKER) for t in trials} - {None}
            if len(workers) >= self.n_workers:
                break
            time.sleep(0.02)
        return x**2  # bitwise what assert_one_evaluation_each computes (x * x can differ)


def faulty(trial: optuna.Trial) -> float:
    """Raises for odd ``x``; trials 1 and 2 raise the interrupts a user's code may raise."""
    x = trial.suggest_int("x", 0, 9)
    if trial.number == 1:
        raise KeyboardInterrupt("pressed in the objective")
    if trial.number == 2:
        raise SystemExit("sys.exit in the objective")
    if x % 2:
        raise ValueError(f"odd x={x}")
    return float(x)


# -- backend cases ---------------------------------------------------------------------------
@dataclass
class BackendCase:
    name: str
    #: What runners get: a name (a backend per runner) or the module's shared instance.
    backend: str | Backend
    #: Trials run in worker processes of their own (which Stop kills and a test can kill).
    processes: bool
    #: Workers may sit on other hosts: storages that are local files go through the proxy.
    remote: bool = False


def _case(name: str, *marks: pytest.MarkDecorator) -> Any:
    return pytest.param(name, marks=list(marks), id=name)


SPARK, POSTGRES = pytest.mark.spark, pytest.mark.postgres
PROCESS_BACKENDS = [
    _case("loky"),
    _case("spark-local", SPARK),
    _case("spark-cluster", SPARK, pytest.mark.cluster),
    _case("dask"),
]
ALL_BACKENDS = [_case("threading"), *PROCESS_BACKENDS]


@pytest.fixture(scope="module")
def backend_case(request: pytest.FixtureRequest) -> Iterator[BackendCase]:
    """Module-scoped, so each Spark session or cluster starts once; pytest finishes one case
    before it sets up the next (one SparkContext per process)."""
    name = request.param
    with contextlib.ExitStack() as stack:
        if name in ("threading", "loky"):
            yield BackendCase(name, name, processes=name == "loky")
            return
        if name == "dask":
            yield BackendCase(name, stack.enter_context(dask_cluster()), processes=True)
            return
        from pyspark import cloudpickle

        cloudpickle.register_pickle_by_value(sys.modules[__name__])
        stack.callback(cloudpickle.unregister_pickle_by_value, sys.modules[__name__])
        if name == "spark-local":
            session = stack.enter_context(local_spark())
            # Not the session's owner: a runner's close() leaves the session to this module.
            yield BackendCase(name, SparkBackend(spark=session), processes=True)
            return
        assert name == "spark-cluster", name
        _, owner = stack.enter_context(spark_cluster())
        yield BackendCase(name, SparkBackend(spark=owner.session()), processes=True, remote=True)


# -- storage cases: conftest.storage_url, parametrized here ------------------------------------
ALL_STORAGES = [_case("memory"), _case("journal"), _case("sqlite"), _case("postgres", POSTGRES)]


def storage_kind(url: str) -> str:
    if url == "memory":
        return "memory"
    if url.endswith(".journal"):
        return "journal"
    return "sqlite" if url.startswith("sqlite") else "postgres"


def matrix(backends: list[Any], storages: list[Any]) -> Callable[[Any], Any]:
    """Parametrize a scenario over ``backends`` x ``storages`` (ids ``backend-storage``).

    Two parametrizations, not one over pairs: pytest groups tests by the module-scoped backend
    only when its parameter has a scope of its own.
    """

    def decorate(test: Any) -> Any:
        test = pytest.mark.parametrize("backend_case", backends, indirect=True)(test)
        return pytest.mark.parametrize("storage_url", storages, indirect=True)(test)

    return decorate


def only(names: str, cases: list[Any]) -> list[Any]:
    return [c for c in cases if c.id in names.split()]


@dataclass
class Runners:
    """Makes the scenario's runners on its backend and storage; stops them afterwards."""

    case: BackendCase
    storage_url: str
    made: list[StudyRunner]

    def __call__(self, objective: Any, **options: Any) -> StudyRunner:
        options = {"storage": self.storage_url, "n_workers": 2, **options}
        runner = StudyRunner(objective, backend=self.case.backend, **options)
        self.made.append(runner)
        return runner


@pytest.fixture
def runners(backend_case: BackendCase, storage_url: str) -> Iterator[Runners]:
    made: list[StudyRunner] = []
    yield Runners(backend_case, storage_url, made)
    for runner in made:
        runner.stop()  # not close(): the shared backends outlive the test


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Path]:
    """The file that lets :class:`Held` trials go; opened at the end in any case, so threads
    of a stopped run (which nothing can kill) leave."""
    path = tmp_path / "gate"
    yield path
    path.touch()


# -- scenarios ---------------------------------------------------------------------------------
#: Fast trials make claims race; RDB storages are slower per trial (tests/test_storage_faults.py
#: races SQLite and PostgreSQL claims harder, on loky).
EXACT_TRIALS = {"memory": 60, "journal": 60, "sqlite": 20, "postgres": 20}


@matrix(ALL_BACKENDS, ALL_STORAGES)
def test_exact_total_with_two_workers(
    backend_case: BackendCase,
    storage_url: str,
    runners: Runners,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kind = storage_kind(storage_url)
    proxies: list[Any] = []
    real = proxy_module.StorageProxyServer

    def spy(storage: Any, **options: Any) -> Any:
        proxies.append(storage)
        return real(storage, **options)

    monkeypatch.setattr(proxy_module, "StorageProxyServer", spy)
    n = EXACT_TRIALS[kind]
    runner = runners(Square(n_workers=2), sampler="random", seed=0)
    study = runner.start(n_trials=n).wait(timeout=BOUND)
    assert runner.status is RunStatus.FINISHED
    # The budget holds exactly, and no trial mixes two workers' evaluations.
    assert_one_evaluation_each(study, n)
    assert len({t.system_attrs[_attrs.WORKER] for t in study.trials}) == 2
    pids = {worker_pid(t) for t in study.trials}
    if backend_case.processes:
        assert os.getpid() not in pids, "trials ran in the driver"
    else:
        assert pids == {os.getpid()}
    # Which pairs need the proxy: a process cannot open the driver's memory, and a cluster's
    # executors cannot count on the driver's files; PostgreSQL is reached directly.
    proxied = backend_case.processes and (
        kind == "memory" or (backend_case.remote and kind != "postgres")
    )
    assert len(proxies) == int(proxied), (kind, backend_case.name)
    if proxies:
        assert proxies[0] is study._storage, "the driver's storage object itself is served"


@matrix(ALL_BACKENDS, only("memory journal", ALL_STORAGES))
def test_resume_continues_to_the_same_total(storage_url: str, runners: Runners) -> None:
    resume_to_the_same_total(storage_url, runners)


@matrix(only("threading", ALL_BACKENDS), only("sqlite postgres", ALL_STORAGES))
def test_resume_continues_to_the_same_total_in_a_database(
    storage_url: str, runners: Runners
) -> None:
    # Reloading a study by name is the storage's part; threads are enough to run it.
    resume_to_the_same_total(storage_url, runners)


def resume_to_the_same_total(storage_url: str, runners: Runners) -> None:
    first = runners(Square(), study_name="resume")
    assert_one_evaluation_each(first.start(n_trials=6).wait(timeout=BOUND), 6)
    # A new runner, as after a kernel restart: same name and storage continue, not restart
    # (an in-memory study only lives on in its storage object, which Optuna users pass as is).
    storage = first.study._storage if storage_url == "memory" else storage_url
    second = runners(Square(), study_name="resume", storage=storage)
    assert len(second.study.trials) == 6
    study = second.start(n_trials=14).wait(timeout=BOUND)
    assert_one_evaluation_each(study, 14)
    assert second.progress.finished_at_start == 6
    assert len(second.start(n_trials=14).wait(timeout=BOUND).trials) == 14, "total reached"
    assert counts(second.start(n_trials=10).wait(timeout=BOUND)) == {"COMPLETE": 14}, (
        "a lower total neither overshoots nor undoes trials"
    )


@matrix(ALL_BACKENDS, only("journal", ALL_STORAGES))
def test_stop_leaves_nothing_running_and_resume_reruns_the_stopped_trials(
    backend_case: BackendCase, runners: Runners, gate: Path
) -> None:
    runner = runners(Held(str(gate)), study_name="stop", sampler="random", seed=0)
    runner.start(n_trials=8)
    in_flight = wait_for(lambda: all_running(runner.study, 2), BOUND, "two trials in flight")
    start = time.perf_counter()
    runner.stop()
    print(f"\nstop() on {backend_case.name}: {time.perf_counter() - start:.2f} s")
    assert runner.status is RunStatus.STOPPED
    study = runner.study
    assert not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    stopped = lost(study)
    assert sorted(t.number for t in stopped) == sorted(t.number for t in in_flight)
    assert all(t.system_attrs[_attrs.FAIL_REASON] == "stopped by user" for t in stopped)
    assert runner.progress.finished == 0, "stopped trials do not count"
    if backend_case.processes:
        # A hung objective must not outlive Stop where it has a process to kill.
        pids = {worker_pid(t) for t in in_flight}
        if backend_case.name == "loky":
            # Its own processes: Stop returns once they are gone, so none can claim or write
            # after the run failed its in-flight trials.
            assert not any(pid_alive(p) for p in pids)
        wait_for(lambda: not any(pid_alive(p) for p in pids), BOUND, "the stopped workers to die")
    # Resume while the stopped trials' objectives would still hang: their retries (new
    # numbers, same parameters) run, and the total is the one of the first start.
    study = runner.resume().wait(timeout=BOUND)
    assert runner.status is RunStatus.FINISHED
    assert_one_evaluation_each(study, 8)
    assert_lost_trials_rerun(study)
    retried = {t.system_attrs.get(_attrs.RETRY_OF) for t in study.trials} - {None}
    assert retried == {t.number for t in stopped}


@matrix(ALL_BACKENDS, only("journal memory", ALL_STORAGES))
def test_a_raising_objective_fails_only_its_trial_and_keeps_the_traceback(
    runners: Runners,
) -> None:
    events: list[TrialFinished] = []
    runner = runners(faulty, sampler="random", seed=1)
    runner.subscribe(lambda e: events.append(e) if isinstance(e, TrialFinished) else None)
    study = runner.start(n_trials=12).wait(timeout=BOUND)
    assert runner.status is RunStatus.FINISHED
    assert len(study.trials) == 12, "failures count towards the total; nothing is re-run"
    assert all(not t.system_attrs.get(_attrs.LOST) for t in study.trials)
    assert all(_attrs.RETRY_OF not in t.system_attrs for t in study.trials)
    raised = {1: "KeyboardInterrupt", 2: "SystemExit"}
    for t in study.trials:
        error = raised.get(t.number, "ValueError" if t.params["x"] % 2 else None)
        if error is None:
            assert t.state == TrialState.COMPLETE and t.value == t.params["x"]
            continue
        assert t.state == TrialState.FAIL
        assert t.system_attrs[_attrs.FAIL_REASON].startswith(error)
        traceback = t.system_attrs[_attrs.TRACEBACK]
        assert (
            traceback.startswith("Traceback (most recent call last)") and "in faulty" in traceback
        )
        assert traceback.strip().splitlines()[-1] == t.system_attrs[_attrs.FAIL_REASON]
    values = [t for t in study.trials if t.state == TrialState.FAIL and t.number not in raised]
    assert values and counts(study).get("COMPLETE"), "seed 1 samples odd and even x"
    # Subscribers hear the same reason.
    reasons = {e.number: e.error for e in events if e.state == "FAIL"}
    assert reasons == {
        t.number: t.system_attrs[_attrs.FAIL_REASON]
        for t in study.trials
        if t.state == TrialState.FAIL
    }


@matrix(ALL_BACKENDS, only("journal", ALL_STORAGES))
def test_pruning_reports_reach_the_storage(runners: Runners) -> None:
    runner = runners(
        so.pruned_objective,
        sampler="random",
        seed=3,
        pruner="median",
        pruner_options={"n_startup_trials": 2, "n_warmup_steps": 1},
    )
    study = runner.start(n_trials=16).wait(timeout=BOUND)
    c = counts(study)
    assert c.get("COMPLETE", 0) + c.get("PRUNED", 0) == 16, c
    assert c.get("PRUNED", 0) >= 1, c
    assert runner.progress.pruned == c["PRUNED"]
    for t in study.get_trials(states=(TrialState.PRUNED,)):
        # Pruned at step 1 or later: the steps it reported reached the driver's storage.
        assert len(t.intermediate_values) >= 2, t.intermediate_values
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        assert sorted(t.intermediate_values) == list(range(5))


@matrix(PROCESS_BACKENDS, only("journal", ALL_STORAGES))
def test_a_killed_worker_process_is_reaped_and_the_total_stays_exact(
    backend_case: BackendCase, runners: Runners, gate: Path
) -> None:
    # The grace is long: a worker process on this host is known dead from its PID, at once.
    runner = runners(Held(str(gate)), heartbeat_grace=60, sampler="random", seed=0)
    runner.start(n_trials=6)
    # Both held trials in flight with their parameters: loky stops the dead worker's sibling
    # too, and a sibling caught between its claim and its first suggest would be retried with
    # fresh parameters (by design: it had none), which the check below would not expect.
    victim = wait_for(lambda: all_running(runner.study, 2), BOUND, "two trials in flight")[0]
    os.kill(worker_pid(victim), signal.SIGKILL)
    killed = time.monotonic()
    wait_for(
        lambda: runner.study.trials[victim.number].state == TrialState.FAIL,
        BOUND,
        "the killed worker's trial to be failed as lost",
    )
    print(f"\n{backend_case.name}: killed trial reaped {time.monotonic() - killed:.1f} s later")
    gate.touch()
    study = runner.wait(timeout=BOUND)
    assert runner.status is RunStatus.FINISHED
    assert_one_evaluation_each(study, 6)
    dead = study.trials[victim.number]
    assert dead.system_attrs[_attrs.LOST]
    assert "exited mid-trial" in dead.system_attrs[_attrs.FAIL_REASON], dead.system_attrs
    # Only trials the workers held were lost (loky stops the dead worker's sibling too), and
    # each re-ran once with its parameters.
    assert len(lost(study)) <= 2, [t.system_attrs for t in lost(study)]
    assert_lost_trials_rerun(study)
