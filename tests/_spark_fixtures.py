"""Helpers shared by the backend tests: bounded waits, trial inspection, and the Spark session,
standalone cluster and Dask cluster that a test module shares."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpo_widget import _attrs
from tests._waiting import wait_for

if TYPE_CHECKING:  # imported where used: importing this module starts no JVM or cluster
    from hpo_widget.backends.dask import DaskBackend
    from hpo_widget.backends.spark import SparkBackend
    from hpo_widget.cluster import LocalSparkCluster

T = TypeVar("T")


def counts(study: optuna.Study) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def worker_pid(trial: FrozenTrial) -> int:
    """PID of the process that ran ``trial`` (the worker attr is ``host:pid:slot``)."""
    return int(str(trial.system_attrs[_attrs.WORKER]).split(":")[1])


def running_with_worker(study: optuna.Study) -> list[FrozenTrial]:
    """RUNNING trials whose worker stamped its id and whose objective sampled its parameters
    (a trial killed before sampling has no parameters to re-run)."""
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if _attrs.WORKER in t.system_attrs and t.params
    ]


def all_running(study: optuna.Study, n: int) -> list[FrozenTrial]:
    """The running trials (see :func:`running_with_worker`) once there are ``n``, else []."""
    running = running_with_worker(study)
    return running if len(running) == n else []


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def lost(study: optuna.Study) -> list[FrozenTrial]:
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        if t.system_attrs.get(_attrs.LOST)
    ]


def assert_lost_trials_rerun(study: optuna.Study) -> None:
    """Every lost trial has a reason and a retry with the same parameters that finished."""
    trials = study.get_trials(deepcopy=False)
    for t in lost(study):
        if _attrs.RETRY_OF in t.system_attrs:
            continue  # a lost retry is out of retries (retries=1): a fresh ticket replaced it
        assert t.system_attrs.get(_attrs.FAIL_REASON), f"trial {t.number} lost without a reason"
        retries = [r for r in trials if r.system_attrs.get(_attrs.RETRY_OF) == t.number]
        assert len(retries) == 1, f"trial {t.number} should be re-run exactly once"
        assert retries[0].params == t.params
        assert retries[0].state.is_finished()


def assert_one_evaluation_each(study: optuna.Study, n_complete: int) -> None:
    """For :func:`tests.spark_objectives.noop_objective` (value = x**2): every stored value came
    from the stored parameter, i.e. no trial's record mixes two evaluations (two workers that
    both claimed it), and the budget holds exactly."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    mixed = [t for t in complete if t.value != t.params["x"] ** 2]
    assert not mixed, "trials store a value that their parameters did not produce: " + "; ".join(
        f"#{t.number} x={t.params['x']!r} value={t.value!r} attrs={t.system_attrs}"
        for t in mixed[:5]
    )
    assert len(complete) == n_complete
    assert not study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))


@dataclass(frozen=True)
class Held:
    """An objective (``x ** 2``) whose trials numbered below ``hold`` hang until the file
    ``gate`` exists: trials in flight for as long as a test needs them.  Retries have new
    numbers and run at once, so a resume after Stop must get past objectives that still hang.
    """

    gate: str
    hold: int = 2

    def __call__(self, trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -1.0, 1.0)
        deadline = time.monotonic() + 600
        while trial.number < self.hold and not os.path.exists(self.gate):
            if time.monotonic() > deadline:
                raise TimeoutError("the test never opened the gate")
            time.sleep(0.05)
        return x**2  # x * x differs from x**2 in the last bit for ~0.1% of floats


def register_by_value() -> None:
    """Make Spark's cloudpickle send the test objectives by value: executors cannot import
    the tests (a standalone cluster's do not even share the working directory)."""
    from pyspark import cloudpickle

    from tests import spark_objectives

    spark_objectives.register_by_value()
    cloudpickle.register_pickle_by_value(sys.modules[__name__])


# -- shared backends: one per module (a process can hold one SparkContext at a time) -----------
@contextlib.contextmanager
def local_spark(master: str = "local[2]") -> Iterator[Any]:
    """A SparkSession on ``master`` for the ``with`` block: the active local one if there is
    one (left running), else a new one, stopped at the end."""
    from pyspark import SparkContext

    from hpo_widget.backends.spark import SparkBackend, is_local_master

    register_by_value()
    active = SparkContext._active_spark_context
    if active is not None:
        assert is_local_master(str(active.master)), f"another SparkSession runs on {active.master}"
        yield SparkBackend().session()
        return
    owner = SparkBackend(master=master, app_name="hpo_widget-tests")
    try:
        yield owner.session()
    finally:
        owner.close()


@contextlib.contextmanager
def spark_cluster(n_workers: int = 2) -> Iterator[tuple[LocalSparkCluster, SparkBackend]]:
    """A standalone cluster on 127.0.0.1 (``n_workers`` workers of one core) and a backend
    whose SparkSession on it has every executor registered; both stopped at the end."""
    from pyspark import SparkContext

    from hpo_widget.backends.spark import SparkBackend
    from hpo_widget.cluster import LocalSparkCluster

    active = SparkContext._active_spark_context
    assert active is None, f"a SparkSession on {active and active.master} is still running"
    register_by_value()
    with LocalSparkCluster(n_workers=n_workers, cores_per_worker=1, memory="1g") as cluster:
        backend = SparkBackend(
            master=cluster.master_url, conf=cluster.conf, app_name="hpo_widget-cluster"
        )
        try:
            assert backend.remote
            backend.session()
            wait_for(
                lambda: backend.default_workers() == n_workers, 120, "the executors to register"
            )
            yield cluster, backend
        finally:
            backend.close()


@contextlib.contextmanager
def dask_cluster() -> Iterator[DaskBackend]:
    """A dask backend owning a LocalCluster of two worker processes of one thread each."""
    from hpo_widget.backends.dask import DaskBackend

    backend = DaskBackend(n_workers=2, threads_per_worker=1, processes=True)
    try:
        assert backend.default_workers() == 2
        yield backend
    finally:
        backend.close()
