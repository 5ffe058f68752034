"""StudyRunner behaviour that does not depend on the backend or the storage: events, objective
return values, settings, budgets and directions (threads and an in-memory study).

The scenarios every backend and storage must pass (exact total, resume, stop, failing and
pruned trials, killed workers) are written once in tests/test_backend_contract.py.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo_widget import RunStatus, SearchSpace, StatusChanged, StudyRunner, TrialFinished, _attrs
from hpo_widget._tickets import Tickets
from tests._spark_fixtures import counts, wait_for

SPACE = SearchSpace.from_dict(
    {
        "x": {"type": "float", "low": -10, "high": 10},
        "n": {"type": "int", "low": 1, "high": 5},
        "kind": {"type": "categorical", "choices": ["a", "b"]},
    }
)


def quadratic(params: dict) -> float:
    return (params["x"] - 2) ** 2 + params["n"] + (0 if params["kind"] == "a" else 1)


def trial_objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    return x * x


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
    assert counts(study) == {"COMPLETE": 300}
    # A params-dict objective: the space travels to the worker processes and samples there.
    assert all(set(t.params) == {"x", "n", "kind"} for t in study.trials)
    assert 0 < peak[0] <= Tickets.max_pool(2), f"{peak[0]} tickets were waiting at once"
    assert len({t.system_attrs[_attrs.WORKER] for t in study.trials}) == 2


def test_standard_optuna_objective_runs_unchanged() -> None:
    runner = StudyRunner(trial_objective, storage="memory", n_workers=2, seed=0)
    study = runner.start(n_trials=30).wait(timeout=60)
    assert len(study.trials) == 30
    assert study.best_value < 0.5


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
    assert statuses[0] is RunStatus.STARTING and statuses[-1] is RunStatus.FINISHED
    assert events[-1].n_complete == 15  # type: ignore[attr-defined]
    unsubscribe()
    n = len(events)
    runner.start(n_trials=16).wait(timeout=60)
    assert len(events) == n


def test_start_returns_at_once_and_the_caller_keeps_working() -> None:
    gate = threading.Event()

    def objective(trial: optuna.Trial) -> float:
        assert gate.wait(120), "the test never opened the gate"
        return trial.suggest_float("x", 0, 1)

    runner = StudyRunner(objective, storage="memory", n_workers=2)
    runner.start(n_trials=4)
    # start() returned while no trial can finish: it did not wait for the run.
    assert runner.running and runner.progress.finished == 0
    with pytest.raises(RuntimeError, match="already in progress"):
        runner.start(n_trials=4)
    wait_for(lambda: runner.progress.running == 2, 60, "both workers to hold a trial")
    gate.set()
    assert len(runner.wait(timeout=60).trials) == 4


def test_a_user_stop_has_no_stop_reason() -> None:
    """stop_reason says why a run ended early by itself; the user's Stop needs no reason (the
    stopped trials still say it, for the table and the timeline)."""
    gate = threading.Event()

    def objective(trial: optuna.Trial) -> float:
        gate.wait(120)
        return trial.suggest_float("x", 0, 1)

    runner = StudyRunner(objective, storage="memory", n_workers=2)
    stops: list[StatusChanged] = []
    runner.subscribe(
        lambda e: (
            stops.append(e)
            if isinstance(e, StatusChanged) and e.status is RunStatus.STOPPED
            else None
        )
    )
    runner.start(n_trials=4)
    wait_for(lambda: runner.progress.running == 2, 60, "both workers to hold a trial")
    runner.stop()
    gate.set()
    assert runner.status is RunStatus.STOPPED and runner.stop_reason is None
    assert [e.message for e in stops] == [""]
    stopped = [t for t in runner.study.trials if t.state == TrialState.FAIL]
    assert len(stopped) == 2
    assert all(t.system_attrs[_attrs.FAIL_REASON] == "stopped by user" for t in stopped)


def test_timeout_only_run_stops_by_itself() -> None:
    runner = StudyRunner(trial_objective, storage="memory", n_workers=2, sampler="random")
    start = time.perf_counter()
    study = runner.start(timeout=1.0).wait(timeout=60)  # no stop(): the run ends by itself
    print(f"\na 1 s run ended after {time.perf_counter() - start:.2f} s")
    assert runner.status is RunStatus.FINISHED
    assert study.trials, "workers ran trials until the deadline"
    assert set(counts(study)) == {"COMPLETE"}, "nothing left RUNNING or WAITING"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"direction": "up"}, "direction: must be 'minimize' or 'maximize', got 'up'"),
        ({"direction": "minimize", "directions": ["minimize"]}, "either direction or directions"),
        ({"sampler": "tpee"}, "did you mean 'tpe'?"),
        ({"pruner": "medain"}, "did you mean 'median'?"),
        ({"backend": "sprak"}, "did you mean 'spark'?"),
        ({"n_workers": -1}, "n_workers: must be a whole number >= 0"),
        ({"retries": -1}, "retries: must be a whole number >= 0"),
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
    with pytest.raises(ValueError, match="n_trials: must be a whole number >= 1"):
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
