"""What only the dask backend does: its options, a second client by address, and one worker
thread that still runs on the cluster rather than in the driver.

Exact totals on two worker processes (directly and through the storage proxy), resume, Stop
(which shuts the backend's own LocalCluster down), failing and pruned trials and a killed
worker process are part of the contract every backend keeps: tests/test_backend_contract.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hpo_widget import StudyRunner
from hpo_widget.backends import make_backend
from hpo_widget.backends.dask import DaskBackend
from tests import spark_objectives as so
from tests._spark_fixtures import counts, dask_cluster, worker_pid

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def backend() -> Iterator[DaskBackend]:
    with dask_cluster() as b:
        yield b


def test_options_are_checked_and_remote_follows_the_address() -> None:
    with pytest.raises(ValueError, match="unknown 'adress'"):
        make_backend("dask", adress="tcp://127.0.0.1:8786")
    assert DaskBackend(address="tcp://10.1.2.3:8786").remote
    assert not DaskBackend(address="tcp://127.0.0.1:8786").remote
    assert not DaskBackend().remote
    assert DaskBackend(address="tcp://127.0.0.1:8786", remote=True).remote


def test_second_client_by_address(backend: DaskBackend, tmp_path: Path) -> None:
    other = DaskBackend(address=backend.address)
    try:
        assert not other.remote
        runner = StudyRunner(
            so.noop_objective, storage=str(tmp_path / "addr.journal"), backend=other
        )
        assert counts(runner.start(n_trials=6).wait(timeout=60)) == {"COMPLETE": 6}
        assert {worker_pid(t) for t in runner.study.trials} != {os.getpid()}
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


def test_the_worker_task_is_scattered_once_not_sent_with_each_call(
    backend: DaskBackend, tmp_path: Path
) -> None:
    """What the objective captures travels to each Dask worker once, as scattered data."""
    runner = StudyRunner(
        so.records_scattered_task, storage=str(tmp_path / "scatter.journal"), backend=backend
    )
    study = runner.start(n_trials=6).wait(timeout=60)
    assert counts(study) == {"COMPLETE": 6}
    assert all(t.user_attrs["scattered"] for t in study.trials)
