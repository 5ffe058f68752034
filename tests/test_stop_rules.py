"""Stop rules (goal, patience, max_failed) and Optuna study callbacks, on the API and the spec."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import optuna
import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState

from hpo_widget import RunStatus, StudyRunner
from hpo_widget.config import StopRules
from hpo_widget.spec import RunSpec, SpecError
from tests._spark_fixtures import counts

BOUND = 120.0  # seconds: only turns a hang into a failure


def finished(values: list[float | None]) -> list[optuna.trial.FrozenTrial]:
    """Trials finishing one second apart; None is a failed trial."""
    start = dt.datetime(2026, 1, 1)
    out = []
    for i, v in enumerate(values):
        out.append(
            optuna.trial.create_trial(
                state=TrialState.FAIL if v is None else TrialState.COMPLETE,
                value=v,
                params={},
                distributions={},
            )
        )
        object.__setattr__(out[-1], "datetime_complete", start + dt.timedelta(seconds=i))
        out[-1].number = i
    return out


MIN, MAX = [StudyDirection.MINIMIZE], [StudyDirection.MAXIMIZE]


def test_goal_follows_the_direction() -> None:
    trials = finished([3.0, 1.0, 0.4])
    assert StopRules(goal=0.5).reason(trials, MIN, failed_in_run=0) is not None
    assert StopRules(goal=0.3).reason(trials, MIN, failed_in_run=0) is None
    assert StopRules(goal=2.5).reason(trials, MAX, failed_in_run=0) is not None
    assert "reached the goal 0.5" in str(StopRules(goal=0.5).reason(trials, MIN, failed_in_run=0))


def test_patience_counts_finished_trials_since_the_best() -> None:
    trials = finished([1.0, 0.5, 0.7, None, 0.9])  # best at #1; three since (a failure counts)
    assert StopRules(patience=3).reason(trials, MIN, failed_in_run=0) is not None
    assert StopRules(patience=4).reason(trials, MIN, failed_in_run=0) is None


def test_max_failed_counts_the_runs_failures() -> None:
    rule = StopRules(max_failed=2)
    assert rule.reason([], MIN, failed_in_run=1) is None
    assert "2 trials of this run failed" in str(rule.reason([], MIN, failed_in_run=2))


def test_rules_needing_one_best_value_are_refused_for_several_objectives() -> None:
    problems = dict(StopRules(goal=1.0, patience=3, max_failed=2).problems(n_objectives=2))
    assert set(problems) == {"goal", "patience"}  # max_failed works for any study


# -- through the runner -------------------------------------------------------------------------
def quadratic(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", -10, 10) ** 2


def broken(trial: optuna.Trial) -> float:
    trial.suggest_float("x", 0, 1)
    raise RuntimeError("the objective is broken")


@pytest.mark.parametrize(
    ("objective", "rule", "reason"),
    [
        (quadratic, {"goal": 4.0}, "reached the goal"),
        (quadratic, {"patience": 5}, "no improvement in the last"),
        (broken, {"max_failed": 3}, "trials of this run failed"),
    ],
)
def test_a_rule_ends_the_run_with_its_reason(
    tmp_path: Path, objective: object, rule: dict[str, float], reason: str
) -> None:
    runner = StudyRunner(
        objective,
        storage=str(tmp_path / "s.journal"),
        sampler="random",
        seed=0,
        n_workers=2,
        **rule,
    )
    events: list[object] = []
    runner.subscribe(events.append)
    study = runner.start(n_trials=500).wait(timeout=BOUND)
    assert runner.status == RunStatus.STOPPED
    assert reason in (runner.stop_reason or "")
    assert any(reason in getattr(e, "message", "") for e in events)
    states = counts(study)
    assert "RUNNING" not in states
    finished_trials = states.get("COMPLETE", 0) + states.get("PRUNED", 0) + states.get("FAIL", 0)
    assert finished_trials < 500


def test_stop_rules_from_a_spec(tmp_path: Path) -> None:
    (tmp_path / "quad_obj.py").write_text("def objective(params):\n    return params['x'] ** 2\n")
    spec = RunSpec.from_dict(
        {
            "objective": "quad_obj:objective",
            "space": {"x": {"type": "float", "low": -10, "high": 10}},
            "storage": str(tmp_path / "s.journal"),
            "sampler": "random",
            "seed": 1,
            "n_trials": 500,
            "stop": {"goal": 4.0},
        },
        base_dir=tmp_path,
    )
    assert spec.config.stop == StopRules(goal=4.0)
    assert RunSpec.from_dict(spec.to_dict(), base_dir=tmp_path) == spec
    runner = spec.build_runner()
    study = runner.start().wait(timeout=BOUND)
    assert "reached the goal" in str(runner.stop_reason)
    assert study.best_value <= 4.0


def test_bad_rules_in_a_spec_name_their_field() -> None:
    with pytest.raises(SpecError) as info:
        RunSpec.from_dict(
            {"objective": "m:f", "stop": {"goal": "high", "patience": 0, "max_fail": 1}}
        )
    heads = [p.split(":", 1)[0] for p in info.value.problems]
    assert heads == ["stop.max_fail", "stop.goal", "stop.patience"]
    assert "did you mean 'max_failed'?" in info.value.problems[0]


# -- Optuna study callbacks --------------------------------------------------------------------
def test_study_callbacks_run_after_each_trial_and_can_stop_the_run(tmp_path: Path) -> None:
    seen: list[int] = []

    def record(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        seen.append(trial.number)
        if len(seen) == 5:
            study.stop()

    runner = StudyRunner(
        quadratic, storage=str(tmp_path / "s.journal"), n_workers=1, callbacks=[record]
    )
    runner.start(n_trials=200).wait(timeout=BOUND)
    assert len(seen) >= 5 and len(set(seen)) == len(seen)
    assert runner.stop_reason == "a study callback called study.stop()"


def test_optunas_own_max_trials_callback_works(tmp_path: Path) -> None:
    from optuna.study import MaxTrialsCallback

    runner = StudyRunner(
        quadratic,
        storage=str(tmp_path / "s.journal"),
        n_workers=1,
        callbacks=[MaxTrialsCallback(6, states=(TrialState.COMPLETE,))],
    )
    study = runner.start(n_trials=100).wait(timeout=BOUND)
    assert 6 <= counts(study).get("COMPLETE", 0) < 100


def test_the_cli_summary_names_the_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hpo_widget.cli import main

    (tmp_path / "cli_goal_obj.py").write_text(
        "def objective(params):\n    return params['x'] ** 2\n"
    )
    spec = tmp_path / "goal.yaml"
    spec.write_text(
        "objective: cli_goal_obj:objective\n"
        "space: {x: {type: float, low: -10, high: 10}}\n"
        f"storage: {tmp_path / 's.journal'}\n"
        "sampler: random\nseed: 2\nn_trials: 400\nstop: {goal: 9.0}\n"
    )
    assert main(["run", str(spec), "-q"]) == 0
    out = capsys.readouterr().out
    assert "ended    stop rule: the best value" in out


def test_min_trials_holds_goal_and_patience_back() -> None:
    trials = finished([0.1, 0.2, 0.3])  # the goal is met at once, patience 2 after three
    assert StopRules(goal=0.5, min_trials=4).reason(trials, MIN, failed_in_run=0) is None
    assert StopRules(patience=2, min_trials=4).reason(trials, MIN, failed_in_run=0) is None
    assert StopRules(goal=0.5, min_trials=3).reason(trials, MIN, failed_in_run=0) is not None
    assert dict(StopRules(min_trials=0).problems(1)) == {
        "min_trials": "must be a whole number >= 1 or empty (no limit), got 0"
    }
    spec = RunSpec.from_dict({"objective": "m:f", "stop": {"goal": 1.0, "min_trials": 10}})
    assert spec.config.stop == StopRules(goal=1.0, min_trials=10)


def test_min_trials_in_the_form() -> None:
    from hpo_widget.ui import Panel

    panel = Panel(quadratic, storage="memory", goal=1.0, min_trials=20)
    assert panel.settings.stop_boxes["min_trials"].value == "20"
    assert panel.settings.config().stop == StopRules(goal=1.0, min_trials=20)
    panel.close()
