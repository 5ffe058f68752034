"""Sampling on the driver (:mod:`hpo_widget._driver_sampling`): tickets carry their parameters
when the space is known up front, workers elsewhere neither read the study to sample nor write
parameters, and everything else (budgets, retries, conditionals, define-by-run) stays as it was."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from hpo_widget import SearchSpace, StudyRunner
from hpo_widget import _optuna_compat as compat
from hpo_widget._driver_sampling import presample, samples_on_driver, sampling_space
from hpo_widget._tickets import Tickets
from hpo_widget.objectives import ParamsObjective, as_trial_objective

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: classifier -> (SVC only) c, (forest only) depth: conditionals must follow the sampled parent.
SPACE = SearchSpace.from_dict(
    {
        "classifier": {"type": "categorical", "choices": ["SVC", "forest"]},
        "c": {"type": "float", "low": 1e-3, "high": 1e3, "log": True,
              "condition": {"classifier": ["SVC"]}},
        "depth": {"type": "int", "low": 2, "high": 8, "condition": {"classifier": ["forest"]}},
    }
)  # fmt: skip


# Module level: loky imports the objectives it runs.
def score(params: dict[str, Any]) -> float:
    return params.get("c", 0.0) + params.get("depth", 0)


def define_by_run(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", 0.0, 1.0)


def _active_params_only(trial: optuna.trial.FrozenTrial) -> None:
    expected = (
        {"classifier", "c"} if trial.params["classifier"] == "SVC" else {"classifier", "depth"}
    )
    assert set(trial.params) == expected, trial.params


# -- the rule ------------------------------------------------------------------------------------
def test_optunas_stateless_samplers_sample_on_the_driver_others_on_the_worker() -> None:
    for sampler in (
        optuna.samplers.TPESampler(),
        optuna.samplers.RandomSampler(),
        optuna.samplers.NSGAIISampler(),
    ):
        assert samples_on_driver(sampler), sampler

    # Grid picks its point in before_trial from what others run; constraints are computed in
    # after_trial on the worker; a subclass may keep state anywhere.
    class Custom(optuna.samplers.TPESampler):
        pass

    assert not samples_on_driver(optuna.samplers.GridSampler({"x": [0, 1]}))
    assert not samples_on_driver(optuna.samplers.TPESampler(constraints_func=lambda t: [0.0]))
    assert not samples_on_driver(Custom())


def test_only_objectives_with_a_known_space_sample_on_the_driver() -> None:
    assert sampling_space(as_trial_objective(score, SPACE)) is SPACE
    assert sampling_space(define_by_run) is None
    # A trial objective stays define-by-run even when a space is given alongside it.
    assert sampling_space(as_trial_objective(define_by_run, SPACE)) is None
    assert isinstance(as_trial_objective(score, SPACE), ParamsObjective)


# -- tickets -------------------------------------------------------------------------------------
def _tickets(study: optuna.Study) -> Tickets:
    tickets = Tickets(study, retries=1, run_id="r1")
    tickets.sample = lambda trial_id: presample(study, trial_id, SPACE)
    return tickets


def test_tickets_are_issued_with_their_parameters() -> None:
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    assert _tickets(study).top_up(target=6, pool=6) == 6
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 6
    for t in waiting:
        _active_params_only(t)
    # The seeded sampler decided them, in order: the same seed gives the same tickets.
    again = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    _tickets(again).top_up(target=6, pool=6)
    assert [t.params for t in again.trials] == [t.params for t in study.trials]


def test_a_retry_keeps_the_parameters_of_the_trial_it_retries() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    tickets = _tickets(study)
    tickets.top_up(target=1, pool=1)
    (ticket,) = study.trials
    compat.storage_of(study).set_trial_state_values(
        compat.trial_id(ticket), state=TrialState.RUNNING
    )
    running = study.trials[0]
    assert tickets.lost_and_requeued(running, "worker lost", {0: running}, target=1)
    retry = study.trials[1]
    assert retry.state == TrialState.WAITING and retry.params == ticket.params


def test_enqueued_trials_are_completed_by_the_driver_before_workers_see_them() -> None:
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.enqueue_trial({"classifier": "forest"})  # the user fixes one parameter
    _tickets(study).top_up(target=1, pool=1)
    (t,) = study.trials
    assert t.state == TrialState.WAITING and t.params["classifier"] == "forest"
    assert 2 <= t.params["depth"] <= 8


def test_a_sampler_that_raises_leaves_no_half_sampled_ticket() -> None:
    class Broken(optuna.samplers.RandomSampler):
        def sample_independent(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("sampler broke")

    study = optuna.create_study(sampler=Broken())
    with pytest.raises(RuntimeError, match="sampler broke"):
        _tickets(study).top_up(target=2, pool=2)
    assert [t.state for t in study.trials] == [TrialState.FAIL]


# -- runs on a process backend, through the storage proxy ----------------------------------------
def _run(objective: Any, space: SearchSpace | None, sampler: str = "tpe") -> tuple[Any, Any]:
    runner = StudyRunner(
        objective, space=space, backend="loky", storage="memory", n_workers=2, sampler=sampler,
        seed=3,
    )  # fmt: skip
    study = runner.start(n_trials=24).wait(timeout=300)
    assert runner._run is not None and runner._run.proxy is not None
    return study, runner._run.proxy.calls


def test_workers_elsewhere_neither_sample_nor_write_parameters() -> None:
    study, calls = _run(score, SPACE)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 24 and len(study.trials) == 24  # exact budget, nothing left over
    for t in complete:
        _active_params_only(t)
        assert t.value == score(t.params)
    assert calls.get("SetTrialParameter", 0) == 0
    # The claim returns the trial (the worker reads it no more) and the next claim carries the
    # result: per trial, one call.
    assert calls.get("GetTrial", 0) == calls.get("SetTrialStateValues", 0) == 0
    assert 24 <= calls["Claim"] <= 24 + 2 * 3  # the last ones find the pool empty or the end
    assert calls.get("SetTrialSystemAttribute", 0) <= 4  # heartbeats at most, no worker marks
    # TPE reads every trial for each sample when workers sample; here only set-up reads them.
    assert calls.get("GetTrials", 0) <= 4


def test_a_define_by_run_objective_still_samples_on_the_worker() -> None:
    study, calls = _run(define_by_run, None)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 24
    assert calls.get("SetTrialParameter", 0) == 24
    # Optuna's tell runs on the worker up to its write; the result rides on the next claim
    # (a trial that failed or was pruned would be written on its own: none here).
    assert calls.get("SetTrialStateValues", 0) == 0
    for t in study.trials:
        assert t.value == define_by_run(optuna.trial.FixedTrial(t.params))


def test_results_carried_by_the_next_claim_are_written_when_the_time_runs_out() -> None:
    # Through the proxy a completed trial's result travels with the worker's next claim; a
    # worker that leaves at the deadline writes its last one itself.
    runner = StudyRunner(
        score, space=SPACE, backend="loky", storage="memory", n_workers=2, sampler="tpe", seed=3
    )
    study = runner.start(n_trials=100_000, timeout=4).wait(timeout=300)
    trials = study.get_trials(deepcopy=False)
    assert any(t.state == TrialState.COMPLETE for t in trials)
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    for t in trials:
        if t.state == TrialState.COMPLETE:
            assert t.value == score(t.params)
        else:  # the driver ended the rest at the deadline; none lost a result it had
            assert t.state in (TrialState.WAITING, TrialState.FAIL), t
    runner.close()
