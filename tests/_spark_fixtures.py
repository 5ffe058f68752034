"""Helpers shared by the Spark, cluster and Dask tests (bounded waits, trial inspection)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpo_widget import _attrs

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


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


def this_pid() -> int:
    return os.getpid()


def assert_one_evaluation_each(study: optuna.Study, n_complete: int) -> None:
    """For :func:`tests.spark_objectives.noop_objective` (value = x**2): every stored value came
    from the stored parameter, i.e. no trial's record mixes two evaluations (two workers that
    both claimed it), and the budget holds exactly."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    mixed = [t.number for t in complete if t.value != t.params["x"] ** 2]
    assert not mixed, f"trials {mixed[:10]} store a value that their parameters did not produce"
    assert len(complete) == n_complete
    assert not study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
