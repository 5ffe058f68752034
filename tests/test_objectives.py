"""The three objective shapes and the scikit-learn presets."""

from __future__ import annotations

import optuna
import pytest
from sklearn.datasets import load_diabetes, load_iris

from hpo_widget import SearchSpace, SklearnPreset, StudyRunner
from hpo_widget.objectives import ParamsObjective, as_trial_objective, load_callable
from hpo_widget.presets import ESTIMATORS, load_dataset

X, y = load_iris(return_X_y=True)
SPACE = SearchSpace.from_dict({"x": {"type": "float", "low": 0, "high": 1}})


def params_style(params: dict) -> float:
    return params["x"]


def annotated(p: dict[str, float]) -> float:
    return p["x"]


def trial_style(trial: optuna.Trial) -> float:
    return trial.suggest_float("y", 0, 1)


def test_shapes_are_recognised() -> None:
    assert isinstance(as_trial_objective(params_style, SPACE), ParamsObjective)
    assert isinstance(as_trial_objective(annotated, SPACE), ParamsObjective)
    # A standard Optuna objective is used unchanged, even with a space around.
    assert as_trial_objective(trial_style, SPACE) is trial_style
    assert as_trial_objective(trial_style) is trial_style


def test_load_callable_messages() -> None:
    assert load_callable("math:sqrt")(4) == 2
    with pytest.raises(
        ValueError, match=r"objective: 'nocolon' must look like 'package\.module:function'"
    ):
        load_callable("nocolon")
    with pytest.raises(ValueError, match="cannot import module 'no_such_mod'"):
        load_callable("no_such_mod:f")
    with pytest.raises(ValueError, match="has no attribute 'nope'"):
        load_callable("math:nope")


def test_every_preset_has_a_valid_default_space() -> None:
    for name, spec in ESTIMATORS.items():
        space = SearchSpace.from_dict(spec.space)
        assert len(space) >= 1, name


def test_svc_vs_random_forest_preset_builds_a_conditional_space() -> None:
    preset = SklearnPreset(["SVC", "RandomForest"], X, y, cv=3)
    d = preset.space.to_dict()
    assert d["estimator"]["choices"] == ["SVC", "RandomForest"]
    assert d["SVC__C"]["condition"] == {"estimator": ["SVC"]}
    assert d["RandomForest__max_depth"]["condition"] == {"estimator": ["RandomForest"]}
    model = preset.build_estimator(
        {"estimator": "SVC", "SVC__C": 2.0, "SVC__gamma": 0.1, "SVC__kernel": "rbf"}
    )
    assert type(model).__name__ == "SVC" and model.C == 2.0


def test_preset_study_reaches_a_good_score_and_exports_code() -> None:
    preset = SklearnPreset(["SVC", "RandomForest"], X, y, cv=3)
    runner = StudyRunner(preset, storage="memory", n_workers=2, seed=0)
    assert runner.study.direction.name == "MAXIMIZE"
    study = runner.start(n_trials=12).wait(timeout=120)
    assert len(study.trials) == 12 and study.best_value > 0.9
    # Folds are reported, so pruners have something to work with.
    assert all(len(t.intermediate_values) == 3 for t in study.trials if t.state.name == "COMPLETE")
    code = preset.retrain_code(study.best_params)
    namespace = {"X": X, "y": y}
    exec(code, namespace)
    assert namespace["model"].score(X, y) > 0.9


def test_regression_preset_and_parallel_folds() -> None:
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import cross_val_score

    Xr, yr = load_diabetes(return_X_y=True)
    preset = SklearnPreset("Ridge", Xr, yr, cv=3, fold_n_jobs=2, fold_backend="threading")
    assert preset.scoring == "r2"
    runner = StudyRunner(preset, storage="memory", n_workers=1, seed=0)  # one worker: replayable
    study = runner.start(n_trials=6).wait(timeout=60)
    assert len(study.trials) == 6
    # Folds scored in parallel give scikit-learn's own cross-validated r2, reported once.
    for t in study.trials:
        r2 = cross_val_score(Ridge(alpha=t.params["alpha"]), Xr, yr, cv=3, scoring="r2").mean()
        assert t.value == pytest.approx(r2)
        assert t.intermediate_values == {2: pytest.approx(r2)}
    # Seed 0 reaches the lightly regularised plateau (alpha < 0.3: r2 ~0.49; alpha = 1e3: ~0).
    assert study.best_params["alpha"] < 0.3 and study.best_value > 0.48


def test_preset_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="estimator: unknown 'XGB'; choose one of"):
        SklearnPreset("XGB", X, y)
    with pytest.raises(ValueError, match="do not mix classifiers and regressors"):
        SklearnPreset(["SVC", "Ridge"], X, y)
    with pytest.raises(ValueError, match="dataset: unknown 'mnist'"):
        load_dataset("mnist")
    from sklearn.svm import SVC

    assert SklearnPreset(SVC, X, y).name == "SVC"
    assert load_dataset("wine")[0].shape[0] == 178
