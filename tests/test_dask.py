"""The dask backend on a LocalCluster (2 worker processes x 1 thread) owned by the backend."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from optuna.trial import TrialState

from hpo_widget import RunStatus, StudyRunner, _attrs
from hpo_widget.backends import make_backend
from hpo_widget.backends.dask import DaskBackend
from tests import spark_objectives as so
from tests._spark_fixtures import (
    assert_one_evaluation_each,
    counts,
    lost,
    running_with_worker,
    wait_for,
    worker_pid,
)

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def backend() -> Iterator[DaskBackend]:
    b = DaskBackend()  # starts LocalCluster(n_workers=2, threads_per_worker=1, processes=True)
    try:
        assert b.default_workers() == 2
        yield b
    finally:
        b.close()


def test_options_are_checked_and_remote_follows_the_address() -> None:
    with pytest.raises(ValueError, match="unknown 'adress'"):
        make_backend("dask", adress="tcp://127.0.0.1:8786")
    assert DaskBackend(address="tcp://10.1.2.3:8786").remote
    assert not DaskBackend(address="tcp://127.0.0.1:8786").remote
    assert not DaskBackend().remote
    assert DaskBackend(address="tcp://127.0.0.1:8786", remote=True).remote


def test_exact_budget_on_two_worker_processes(backend: DaskBackend, tmp_path: Path) -> None:
    runner = StudyRunner(
        so.noop_objective, storage=str(tmp_path / "dask.journal"), backend=backend, seed=0
    )
    study = runner.start(n_trials=30).wait(timeout=120)
    assert counts(study) == {"COMPLETE": 30}
    assert runner.status is RunStatus.FINISHED
    pids = {worker_pid(t) for t in study.trials}
    assert os.getpid() not in pids
    assert len({t.system_attrs[_attrs.WORKER] for t in study.trials}) == 2


@pytest.mark.parametrize("storage", ["memory", "journal"])
def test_every_stored_value_comes_from_its_own_parameters(
    backend: DaskBackend, tmp_path: Path, storage: str
) -> None:
    url = "memory" if storage == "memory" else str(tmp_path / "s.journal")  # memory: via proxy
    runner = StudyRunner(so.noop_objective, storage=url, backend=backend)
    assert_one_evaluation_each(runner.start(n_trials=200).wait(timeout=300), 200)


def test_in_memory_study_is_served_through_the_proxy(backend: DaskBackend) -> None:
    runner = StudyRunner(so.raising_objective, storage="memory", backend=backend, seed=2)
    study = runner.start(n_trials=10).wait(timeout=120)
    assert len(study.trials) == 10
    assert all(t.state.is_finished() for t in study.trials)
    for t in study.get_trials(states=(TrialState.FAIL,)):
        assert "ValueError" in t.system_attrs[_attrs.TRACEBACK]


def test_second_client_by_address(backend: DaskBackend, tmp_path: Path) -> None:
    other = DaskBackend(address=backend.address)
    try:
        assert not other.remote
        runner = StudyRunner(
            so.noop_objective, storage=str(tmp_path / "addr.journal"), backend=other
        )
        assert counts(runner.start(n_trials=6).wait(timeout=60)) == {"COMPLETE": 6}
    finally:
        other.close()  # closes only its client; the cluster belongs to `backend`
    assert backend.default_workers() == 2


def test_single_thread_cluster_still_runs_on_the_cluster(tmp_path: Path) -> None:
    """joblib would run n_jobs=1 in the driver; the backend submits to Dask directly."""
    single = DaskBackend(n_workers=1, threads_per_worker=1, processes=True)
    try:
        runner = StudyRunner(
            so.noop_objective, storage=str(tmp_path / "one.journal"), backend=single
        )
        study = runner.start(n_trials=5).wait(timeout=60)
    finally:
        single.close()
    assert counts(study) == {"COMPLETE": 5}
    assert {worker_pid(t) for t in study.trials} != {os.getpid()}


def test_stop_within_two_seconds(backend: DaskBackend, tmp_path: Path) -> None:
    runner = StudyRunner(
        so.Sleep(6), storage=str(tmp_path / "stop.journal"), backend=backend, seed=0
    )
    runner.start(n_trials=6)
    try:
        wait_for(lambda: len(running_with_worker(runner.study)) == 2, 60, "two running trials")
        start = time.perf_counter()
        runner.stop()
        latency = time.perf_counter() - start
    finally:
        runner.stop()
    print(f"\nstop() latency on dask: {latency:.2f} s")
    assert runner.status is RunStatus.STOPPED
    assert not runner.study.get_trials(states=(TrialState.RUNNING,))
    assert len(lost(runner.study)) == 2
    # The backend reconnects for the next run.
    assert backend.default_workers() == 2
