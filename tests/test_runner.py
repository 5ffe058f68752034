"""StudyRunner behaviour on the local backends, against every storage kind."""

from __future__ import annotations

import functools
import math
import os
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo_widget import RunStatus, SearchSpace, StatusChanged, StudyRunner, TrialFinished, _attrs
from tests import spark_objectives as so
from tests._spark_fixtures import assert_one_evaluation_each

SPACE = SearchSpace.from_dict(
    {
        "x": {"type": "float", "low": -10, "high": 10},
        "n": {"type": "int", "low": 1, "high": 5},
        "kind": {"type": "categorical", "choices": ["a", "b"]},
    }
)


def quadratic(params: dict) -> float:
    return (params["x"] - 2) ** 2 + params["n"] + (0 if params["kind"] == "a" else 1)


def paced_quadratic(params: dict) -> float:
    """Takes long enough (24 trials: ~1 s per worker) that a worker process which starts a
    little late still gets trials; an instant objective lets the first one take them all."""
    time.sleep(0.08)
    return quadratic(params)


def trial_objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    return x * x


def states(study: optuna.Study) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_exact_budget_with_two_workers(backend: str, storage_url: str) -> None:
    # With "memory" the loky processes reach the study through the gRPC proxy.
    runner = StudyRunner(
        paced_quadratic, space=SPACE, storage=storage_url, backend=backend, n_workers=2, seed=1
    )
    study = runner.start(n_trials=24).wait(timeout=120)
    assert states(study) == {"COMPLETE": 24}
    assert runner.status is RunStatus.FINISHED
    workers = {t.system_attrs[_attrs.WORKER] for t in study.trials}
    assert len(workers) == 2, "both workers should have run trials"
    assert all(set(t.params) == {"x", "n", "kind"} for t in study.trials)


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_every_stored_value_comes_from_its_own_parameters(backend: str, storage_url: str) -> None:
    # Fast trials make claims race: two workers that both claimed a trial (SQLite did, before
    # its claims took the write lock first) leave one run's params with the other's value.
    # RDB storages are slower per trial here (tests/test_storage_faults.py races SQLite harder).
    n = 80 if "://" in storage_url else 300
    runner = StudyRunner(so.noop_objective, storage=storage_url, backend=backend, n_workers=2)
    study = runner.start(n_trials=n).wait(timeout=300)
    assert_one_evaluation_each(study, n)
    runner.close()


def _quick(params: dict) -> float:
    time.sleep(0.01)
    return quadratic(params)


def test_tickets_are_issued_as_a_pool_not_the_whole_budget() -> None:
    """Every claim reads the WAITING trials (and the gRPC client re-fetches all unfinished
    ones), so for workers in other processes the driver keeps a refilled pool; workers wait
    for refills, never leave early, and the budget is still exact."""
    runner = StudyRunner(_quick, space=SPACE, storage="memory", backend="loky", n_workers=2, seed=0)
    peak = [0]

    def watch(event: object) -> None:
        if isinstance(event, TrialFinished):
            waiting = runner.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
            peak[0] = max(peak[0], len(waiting))

    runner.subscribe(watch)
    study = runner.start(n_trials=300).wait(timeout=120)
    assert states(study) == {"COMPLETE": 300}
    assert 0 < peak[0] <= 200, f"{peak[0]} tickets were waiting at once"
    assert len({t.system_attrs[_attrs.WORKER] for t in study.trials}) == 2


def test_standard_optuna_objective_runs_unchanged() -> None:
    runner = StudyRunner(trial_objective, storage="memory", n_workers=2, seed=0)
    study = runner.start(n_trials=30).wait(timeout=60)
    assert len(study.trials) == 30
    assert study.best_value < 0.5


def test_resume_continues_to_the_total(tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    first = StudyRunner(quadratic, space=SPACE, storage=storage, study_name="demo", n_workers=2)
    first.start(n_trials=10).wait(timeout=60)
    # A new runner, as after a kernel restart: same name + storage continues, not restarts.
    second = StudyRunner(quadratic, space=SPACE, storage=storage, study_name="demo", n_workers=2)
    assert len(second.study.trials) == 10
    study = second.start(n_trials=25).wait(timeout=60)
    assert states(study) == {"COMPLETE": 25}
    again = second.start(n_trials=25).wait(timeout=60)
    assert len(again.trials) == 25, "a reached total runs nothing more"


def test_lowering_the_total_does_not_overshoot(tmp_path: Path) -> None:
    storage = str(tmp_path / "s.journal")
    r = StudyRunner(quadratic, space=SPACE, storage=storage, study_name="low", n_workers=1)
    r.start(n_trials=5).wait(timeout=60)
    assert len(r.study.trials) == 5
    r.start(n_trials=3).wait(timeout=60)
    assert states(r.study) == {"COMPLETE": 5}


def test_failing_objective_fails_only_that_trial_and_keeps_the_traceback() -> None:
    def flaky(trial: optuna.Trial) -> float:
        x = trial.suggest_int("x", 0, 9)
        if x % 3 == 0:
            raise ZeroDivisionError(f"bad x={x}")
        return float(x)

    runner = StudyRunner(flaky, storage="memory", n_workers=2, sampler="random", seed=3)
    study = runner.start(n_trials=30).wait(timeout=60)
    assert len(study.trials) == 30, "failures count towards the budget; the study goes on"
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed, "seeded random sampler must hit x % 3 == 0"
    for t in failed:
        assert t.params["x"] % 3 == 0
        assert "ZeroDivisionError: bad x=" in t.system_attrs[_attrs.FAIL_REASON]
        assert "Traceback (most recent call last)" in t.system_attrs[_attrs.TRACEBACK]
        assert "raise ZeroDivisionError" in t.system_attrs[_attrs.TRACEBACK]
        assert not t.system_attrs.get(_attrs.LOST)
    assert all(t.params["x"] % 3 for t in study.trials if t.state == TrialState.COMPLETE)


@pytest.mark.parametrize("bad", [math.nan, math.inf, "oops", None])
def test_nan_and_non_numbers_fail_the_trial_with_a_reason(bad: object) -> None:
    def objective(trial: optuna.Trial) -> object:
        x = trial.suggest_float("x", 0, 1)
        return bad if x < 0.5 else x

    runner = StudyRunner(objective, storage="memory", n_workers=1, sampler="random", seed=0)
    study = runner.start(n_trials=12).wait(timeout=60)
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert failed and len(study.trials) == 12
    reason = failed[0].system_attrs[_attrs.FAIL_REASON]
    assert (
        ("NaN" in reason)
        if bad is not None and not isinstance(bad, str)
        else "not a number" in reason
    )
    assert all(t.params["x"] >= 0.5 for t in study.trials if t.state == TrialState.COMPLETE)


def test_multi_objective_returns() -> None:
    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 1)
        return x, 1 - x

    runner = StudyRunner(objective, storage="memory", directions=["minimize", "minimize"])
    study = runner.start(n_trials=10).wait(timeout=60)
    assert len(study.trials) == 10 and all(len(t.values) == 2 for t in study.trials)

    wrong = StudyRunner(lambda t: 1.0, storage="memory", directions=["minimize", "maximize"])
    study = wrong.start(n_trials=2).wait(timeout=60)
    assert (
        "returned 1 values but the study has 2" in study.trials[0].system_attrs[_attrs.FAIL_REASON]
    )


def test_pruning_with_report_and_should_prune() -> None:
    def objective(trial: optuna.Trial) -> float:
        slope = trial.suggest_float("slope", 0, 1)
        for step in range(10):
            trial.report(slope + 1.0 / (step + 1), step)  # a loss curve that levels off at slope
            if trial.should_prune():
                raise optuna.TrialPruned()
        return slope + 0.1

    runner = StudyRunner(
        objective,
        storage="memory",
        n_workers=1,
        pruner="median",
        pruner_options={"n_startup_trials": 3},
        sampler="random",
        seed=0,
    )
    study = runner.start(n_trials=20).wait(timeout=60)
    assert len(study.trials) == 20
    assert states(study).get("PRUNED", 0) > 0
    assert runner.progress.pruned == states(study)["PRUNED"]


def test_events_reach_subscribers_and_a_broken_subscriber_is_harmless() -> None:
    events: list[object] = []
    runner = StudyRunner(quadratic, space=SPACE, storage="memory", n_workers=2)
    runner.subscribe(lambda e: 1 / 0)  # must not break the run
    unsubscribe = runner.subscribe(events.append)
    runner.start(n_trials=15).wait(timeout=60)
    finished = [e for e in events if isinstance(e, TrialFinished)]
    assert sorted(e.number for e in finished) == list(range(15))
    assert all(e.state == "COMPLETE" and e.values and e.worker for e in finished)
    assert all(e.duration is not None and e.duration >= 0 for e in finished)
    statuses = [e.status for e in events if isinstance(e, StatusChanged)]
    assert statuses[0] is RunStatus.RUNNING and statuses[-1] is RunStatus.FINISHED
    assert events[-1].n_complete == 15  # type: ignore[attr-defined]
    unsubscribe()
    n = len(events)
    runner.start(n_trials=16).wait(timeout=60)
    assert len(events) == n


def test_start_returns_at_once_and_the_caller_keeps_working() -> None:
    gate = threading.Event()

    def objective(trial: optuna.Trial) -> float:
        gate.wait(10)
        return trial.suggest_float("x", 0, 1)

    runner = StudyRunner(objective, storage="memory", n_workers=2)
    t0 = time.perf_counter()
    runner.start(n_trials=4)
    assert time.perf_counter() - t0 < 1.0
    assert runner.running
    with pytest.raises(RuntimeError, match="already in progress"):
        runner.start(n_trials=4)
    gate.set()
    assert len(runner.wait(timeout=30).trials) == 4


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_stop_leaves_nothing_running_and_resume_finishes(backend: str, tmp_path: Path) -> None:
    storage = str(tmp_path / "stop.journal")
    runner = StudyRunner(_sleepy, storage=storage, backend=backend, n_workers=2, study_name="stop")
    runner.start(n_trials=40)
    deadline = time.time() + 30
    while runner.progress.complete < 3 and time.time() < deadline:
        time.sleep(0.05)
    t0 = time.perf_counter()
    runner.stop()
    stop_time = time.perf_counter() - t0
    assert runner.status is RunStatus.STOPPED
    assert stop_time < 5.0
    study = runner.study
    assert states(study).get("RUNNING", 0) == 0
    lost = [t for t in study.trials if t.system_attrs.get(_attrs.LOST)]
    assert all(t.state == TrialState.FAIL for t in lost)
    assert all(t.system_attrs[_attrs.FAIL_REASON] == "stopped by user" for t in lost)
    assert runner.progress.complete < 40
    # Resume: runs to the same total; stopped trials do not count and are re-run.
    study = runner.resume().wait(timeout=120)
    counted = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(counted) == 40
    retried = {t.system_attrs.get(_attrs.RETRY_OF) for t in study.trials} - {None}
    assert retried == {t.number for t in lost if t.params}


def _sleepy(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 0, 1)
    time.sleep(0.15)
    return x


def _die_once(trial: optuna.Trial, marker: Path) -> float:
    """Kills its own worker process the first time trial 3 runs (a crashed executor)."""
    x = trial.suggest_float("x", 0, 1)
    if trial.number == 3 and not marker.exists():
        marker.write_text("died")
        os._exit(1)
    return x


def test_a_killed_worker_process_loses_only_its_trial(tmp_path: Path) -> None:
    runner = StudyRunner(
        functools.partial(_die_once, marker=tmp_path / "marker"),
        storage=str(tmp_path / "kill.journal"),
        backend="loky",
        n_workers=2,
        heartbeat_grace=2.0,
    )
    study = runner.start(n_trials=10).wait(timeout=120)
    assert (tmp_path / "marker").exists()
    assert states(study).get("RUNNING", 0) == 0
    assert len([t for t in study.trials if t.state == TrialState.COMPLETE]) == 10
    # loky breaks its whole pool when one worker dies, so the other worker's trial may be lost
    # too; each lost trial must be failed with a reason and re-run once with its parameters.
    lost = [t for t in study.trials if t.system_attrs.get(_attrs.LOST)]
    assert 3 in [t.number for t in lost] and len(lost) <= 2
    for t in lost:
        assert t.state == TrialState.FAIL
        # Known from the dead worker's PID (and loky's exit code), not after the grace.
        reason = t.system_attrs[_attrs.FAIL_REASON]
        assert "exited mid-trial" in reason and "1" in reason.partition("(")[2], reason
        (retry,) = [r for r in study.trials if r.system_attrs.get(_attrs.RETRY_OF) == t.number]
        assert retry.state == TrialState.COMPLETE
        # A trial killed before it sampled anything has no parameters to repeat: its retry
        # samples afresh (seen in CI when loky broke the pool right after a ticket was claimed).
        if t.params:
            assert retry.params == t.params


def test_timeout_only_run_stops_by_itself() -> None:
    runner = StudyRunner(_sleepy, storage="memory", n_workers=2)
    t0 = time.perf_counter()
    study = runner.start(timeout=1.0).wait(timeout=30)
    assert time.perf_counter() - t0 < 5
    assert len(study.trials) >= 4
    assert states(study).get("RUNNING", 0) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"direction": "up"}, "direction: 'up' must be 'minimize' or 'maximize'"),
        ({"direction": "minimize", "directions": ["minimize"]}, "either direction or directions"),
        ({"sampler": "tpee"}, "Did you mean 'tpe'"),
        ({"pruner": "medain"}, "Did you mean 'median'"),
        ({"backend": "sprak"}, "Did you mean 'spark'"),
        ({"n_workers": -1}, "n_workers: must be >= 0"),
        ({"retries": -1}, "retries: must be >= 0"),
        (
            {"directions": ["minimize", "minimize"], "pruner": "median"},
            "cannot prune multi-objective",
        ),
        ({"storage": "redis://x"}, "storage: cannot use"),
        ({"sampler_options": {"bogus": 1}}, "sampler_options"),
    ],
)
def test_bad_settings_say_which_field_and_how_to_fix(kwargs: dict, message: str) -> None:
    with pytest.raises(
        (ValueError, TypeError), match=message.replace("(", r"\(").replace("[", r"\[")
    ):
        StudyRunner(trial_objective, **({"storage": "memory"} | kwargs))


@pytest.mark.parametrize("n_trials", [0, -3, 2.5, True])
def test_bad_budget_is_rejected(n_trials: object) -> None:
    runner = StudyRunner(trial_objective, storage="memory")
    with pytest.raises(ValueError, match="n_trials: must be a positive integer"):
        runner.start(n_trials=n_trials)  # type: ignore[arg-type]


def test_existing_study_with_other_directions_is_not_overwritten(tmp_path: Path) -> None:
    storage = str(tmp_path / "d.journal")
    StudyRunner(trial_objective, storage=storage, study_name="d").start(n_trials=3).wait(timeout=30)
    with pytest.raises(ValueError, match="already exists with directions"):
        StudyRunner(trial_objective, storage=storage, study_name="d", direction="maximize")
    assert (
        len(
            optuna.load_study(
                study_name="d",
                storage=optuna.storages.JournalStorage(
                    optuna.storages.journal.JournalFileBackend(storage)
                ),
            ).trials
        )
        == 3
    )


def test_params_objective_without_space_is_explained() -> None:
    with pytest.raises(ValueError, match="space: the objective takes a params dict"):
        StudyRunner(lambda params: 1.0, storage="memory")
