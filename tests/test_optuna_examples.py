"""Objectives from optuna-examples (https://github.com/optuna/optuna-examples), run unchanged
through :class:`hpo_widget.StudyRunner`.

What people paste from Optuna's examples must behave as under plain ``study.optimize``: the
default pruner prunes, sampler and pruner objects are taken, ``sampler="cmaes"`` works after a
plain install, and an objective defined in a notebook cell that uses ``optuna.integration.*``
reaches loky workers.  The objectives are copied verbatim (only the ``def`` line is renamed,
since every example calls its function ``objective``).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import optuna
import pytest
import sklearn.datasets
import sklearn.linear_model
import sklearn.model_selection
from optuna.samplers import BaseSampler
from optuna.trial import TrialState

from hpo_widget import StudyRunner
from hpo_widget.samplers import (
    PrunerSpec,
    SamplerSpec,
    default_pruner_for,
    make_pruner,
    make_sampler,
    option_problems,
    pruner_problems,
    pruner_spec_for,
    sampler_problems,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)
# WilcoxonPruner is marked experimental; using it is the point here.
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
REPO = Path(__file__).resolve().parents[1]


# -- from optuna-examples basic_and_faq_usages/simple_pruning.py:
# FYI: Objective functions can take additional arguments
# (https://optuna.readthedocs.io/en/stable/faq.html#objective-func-additional-args).
def simple_pruning(trial):
    iris = sklearn.datasets.load_iris()
    classes = list(set(iris.target))
    train_x, valid_x, train_y, valid_y = sklearn.model_selection.train_test_split(
        iris.data, iris.target, test_size=0.25
    )

    alpha = trial.suggest_float("alpha", 1e-5, 1e-1, log=True)
    clf = sklearn.linear_model.SGDClassifier(alpha=alpha)

    for step in range(100):
        clf.partial_fit(train_x, train_y, classes=classes)

        # Report intermediate objective value.
        intermediate_value = clf.score(valid_x, valid_y)
        trial.report(intermediate_value, step)

        # Handle pruning based on the intermediate value.
        if trial.should_prune():
            raise optuna.TrialPruned()

    return clf.score(valid_x, valid_y)


# -- from optuna-examples basic_and_faq_usages/quadratic_simple.py:
# Define a simple 2-dimensional objective function whose minimum value is -1 when (x, y) = (0, -1).
def quadratic_simple(trial):
    x = trial.suggest_float("x", -100, 100)
    y = trial.suggest_categorical("y", [-1, 0, 1])
    return x**2 + y


# -- from optuna-examples samplers/warm_starting_cma.py:
# 2-dimensional box-constrained sphere function
# The optimum is (x, y) = (0, 0)
def sphere(trial):
    x = trial.suggest_float("x", -15, 15)
    y = trial.suggest_float("y", -15, 15)
    return x**2 + y**2


# -- from optuna-examples samplers/simulated_annealing_sampler.py:
# Define a simple 2-dimensional objective function whose minimum value is -1 when (x, y) = (0, -1).
def two_floats(trial):
    x = trial.suggest_float("x", -100, 100)
    y = trial.suggest_float("y", -1, 1)
    return x**2 + y


def states(study: optuna.Study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def run(objective: Any, tmp_path: Path, n_trials: int, **kwargs: Any) -> optuna.Study:
    runner = StudyRunner(
        objective,
        storage=str(tmp_path / "s.journal"),
        **({"backend": "threading", "n_workers": 2} | kwargs),
    )
    return runner.start(n_trials=n_trials).wait(timeout=300)


# -- the default pruner is Optuna's: median ------------------------------------------------------
def test_simple_pruning_example_prunes_with_the_default_pruner(tmp_path: Path) -> None:
    # The example splits the data and seeds SGD at random, and two workers interleave, so the
    # counts cannot match one for one; plain Optuna with the same seed shows what to expect.
    plain = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    plain.optimize(simple_pruning, n_trials=20)
    assert states(plain).get("PRUNED", 0) > 0

    study = run(simple_pruning, tmp_path, 20, direction="maximize", seed=0)
    counts = states(study)
    assert len(study.trials) == 20
    assert counts.get("FAIL", 0) == 0
    assert counts.get("PRUNED", 0) > 0, counts


def test_default_pruner_is_median_for_one_objective_and_none_for_several() -> None:
    assert PrunerSpec().name == "median"
    assert isinstance(make_pruner(PrunerSpec()), optuna.pruners.MedianPruner)
    assert (default_pruner_for(1), default_pruner_for(2)) == ("median", "none")
    assert pruner_spec_for(None, n_objectives=1).name == "median"
    assert pruner_spec_for(None, n_objectives=2).is_none
    assert pruner_spec_for(optuna.pruners.NopPruner(), n_objectives=2).is_none
    for pruner in ("median", optuna.pruners.WilcoxonPruner()):
        with pytest.raises(ValueError, match="cannot prune multi-objective"):
            pruner_spec_for(pruner, n_objectives=2)
    with pytest.raises(ValueError, match=r"^pruner_options: a multi-objective study"):
        pruner_spec_for(None, {"n_startup_trials": 3}, n_objectives=2)
    assert PrunerSpec("none").is_none and PrunerSpec("nop").is_none
    assert not PrunerSpec().is_none


# -- sampler and pruner objects ------------------------------------------------------------------
def test_a_sampler_object_reaches_loky_workers(tmp_path: Path) -> None:
    sampler = optuna.samplers.TPESampler(seed=0)
    spec = SamplerSpec(sampler)
    assert make_sampler(spec, worker_index=1) is sampler
    assert spec.display_name == "TPESampler"

    study = run(quadratic_simple, tmp_path, 12, backend="loky", sampler=sampler)
    assert len(study.trials) == 12
    assert states(study) == {"COMPLETE": 12}


def test_the_wilcoxon_pruner_object_prunes(tmp_path: Path) -> None:
    # Shaped like pruners/wilcoxon_pruner_tsp_sa.py (which needs numba): one report per problem
    # instance, the same instances in every trial, and their mean as the value.
    offsets = np.linspace(0.0, 5.0, 20)

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -10, 10)
        results = []
        for i, offset in enumerate(offsets):
            results.append((x - 2) ** 2 + offset)
            trial.report(results[-1], i)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return sum(results) / len(results)

    pruner = optuna.pruners.WilcoxonPruner(p_threshold=0.1)
    assert make_pruner(PrunerSpec(pruner)) is pruner
    assert PrunerSpec(pruner).display_name == "WilcoxonPruner"
    sampler = optuna.samplers.RandomSampler(seed=0)
    study = run(objective, tmp_path, 20, sampler=sampler, pruner=pruner)
    counts = states(study)
    assert len(study.trials) == 20
    assert counts.get("FAIL", 0) == 0
    assert counts.get("PRUNED", 0) > 0, counts


class OnTenthsSampler(BaseSampler):
    """A user-defined sampler: random floats rounded to tenths, so that its use shows."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = np.random.RandomState(seed)

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return {}

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: Any, trial: Any, name: str, distribution: Any) -> float:
        return round(float(self._rng.uniform(distribution.low, distribution.high)), 1)


def test_a_custom_sampler_object_is_used(tmp_path: Path) -> None:
    study = run(two_floats, tmp_path, 10, sampler=OnTenthsSampler(seed=0))
    assert states(study) == {"COMPLETE": 10}
    for t in study.trials:
        for value in t.params.values():
            assert abs(value * 10 - round(value * 10)) < 1e-9, t.params


def test_options_and_seed_go_with_names_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^sampler_options: options go with a sampler name"):
        SamplerSpec(optuna.samplers.TPESampler(), {"n_startup_trials": 3})
    with pytest.raises(ValueError, match=r"^seed: .*TPESampler\(seed=1\)"):
        SamplerSpec(optuna.samplers.TPESampler(), seed=1)
    with pytest.raises(ValueError, match=r"^pruner_options: options go with a pruner name"):
        PrunerSpec(optuna.pruners.WilcoxonPruner(), {"p_threshold": 0.2})
    with pytest.raises(ValueError, match="sampler_options"):
        StudyRunner(
            quadratic_simple,
            storage=str(tmp_path / "s.journal"),
            sampler=optuna.samplers.RandomSampler(),  # type: ignore[arg-type,unused-ignore]
            sampler_options={"seed": 1},
        )
    with pytest.raises(ValueError, match=r"^sampler: must be a name or an optuna\.samplers"):
        SamplerSpec(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^pruner: must be a name or an optuna\.pruners"):
        PrunerSpec(optuna.samplers.RandomSampler())  # type: ignore[arg-type]
    # Forms and configs get every problem at once, with the same fields and messages.
    assert [f for f, _ in sampler_problems(optuna.samplers.TPESampler(), {"a": 1}, seed=1)] == [
        "sampler_options",
        "seed",
    ]
    assert pruner_problems(optuna.pruners.NopPruner(), n_objectives=2) == []
    assert [f for f, _ in pruner_problems("median", n_objectives=2)] == ["pruner"]
    # Names keep their option checks.
    assert option_problems("pruner", "median", {"n_startup_trials": -1}) == [
        ("pruner.options.n_startup_trials", "must be >= 0, got -1")
    ]


# -- CMA-ES after a plain install ----------------------------------------------------------------
def test_cmaes_reaches_its_total_without_failures(tmp_path: Path) -> None:
    study = run(sphere, tmp_path, 12, sampler="cmaes", seed=0)
    assert len(study.trials) == 12
    assert states(study) == {"COMPLETE": 12}


def test_a_missing_sampler_package_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "cmaes", None)  # what importing an absent package sees
    message = "'cmaes' needs the 'cmaes' package, which is not installed: pip install cmaes"
    with pytest.raises(ValueError, match=f"^sampler: {re.escape(message)}$"):
        SamplerSpec("cmaes")
    with pytest.raises(ValueError, match=r"^sampler: CmaEsSampler needs the 'cmaes' package"):
        SamplerSpec(optuna.samplers.CmaEsSampler())
    assert option_problems("sampler", "cmaes", {}) == [("sampler", message)]
    with pytest.raises(ValueError, match="pip install cmaes"):
        StudyRunner(sphere, storage=str(tmp_path / "s.journal"), sampler="cmaes")


# -- optuna.integration from a notebook cell -----------------------------------------------------
def _cell_function() -> Any:
    """A function as a notebook cell makes it: defined in ``__main__``, so pickled by value."""
    namespace: dict[str, Any] = {"__name__": "__main__", "optuna": optuna}
    code = "def objective(trial):\n    return optuna.integration.LightGBMPruningCallback\n"
    exec(code, namespace)
    return namespace["objective"]


def test_a_cell_function_using_optuna_integration_pickles_for_every_backend() -> None:
    import pyspark.cloudpickle
    from distributed.protocol import pickle as dask_pickle

    function = _cell_function()
    for dumps in (cloudpickle.dumps, pyspark.cloudpickle.dumps, dask_pickle.dumps):
        loaded = pickle.loads(dumps(function))
        assert loaded.__globals__["optuna"].integration is optuna.integration
    assert pickle.loads(pickle.dumps(optuna.integration)) is optuna.integration


# lightgbm/lightgbm_integration.py, verbatim up to the `if __name__ == "__main__":` block, which
# is replaced by a StudyRunner on loky.  Run by `python -c`, so the objective lives in __main__.
LIGHTGBM_SCRIPT = """
import optuna

import lightgbm as lgb
import sklearn.datasets
import sklearn.metrics
from sklearn.model_selection import train_test_split


# FYI: Objective functions can take additional arguments
# (https://optuna.readthedocs.io/en/stable/faq.html#objective-func-additional-args).
def objective(trial):
    data, target = sklearn.datasets.load_breast_cancer(return_X_y=True)
    train_x, valid_x, train_y, valid_y = train_test_split(data, target, test_size=0.25)
    dtrain = lgb.Dataset(train_x, label=train_y)
    dvalid = lgb.Dataset(valid_x, label=valid_y)

    param = {
        "objective": "binary",
        "metric": "auc",
        "verbosity": -1,
        "boosting_type": "gbdt",
        "lambda_l1": trial.suggest_float("lambda_l1", 1e-8, 10.0, log=True),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-8, 10.0, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 2, 256),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.4, 1.0),
        "bagging_freq": trial.suggest_int("bagging_freq", 1, 7),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 100),
    }

    # Add a callback for pruning.
    pruning_callback = optuna.integration.LightGBMPruningCallback(trial, "auc")
    gbm = lgb.train(param, dtrain, valid_sets=[dvalid], callbacks=[pruning_callback])

    preds = gbm.predict(valid_x)
    return sklearn.metrics.roc_auc_score(valid_y, preds)
"""

RUN_ON_LOKY = """
import json, sys
import hpo_widget

runner = hpo_widget.StudyRunner(
    objective,
    storage=sys.argv[1],
    backend="loky",
    n_workers=2,
    direction="maximize",
    sampler=optuna.samplers.TPESampler(seed=0),
    pruner=optuna.pruners.MedianPruner(n_warmup_steps=10),
)
study = runner.start(n_trials=8).wait(timeout=300)
states = [t.state.name for t in study.trials]
fails = [t.system_attrs.get("hpo_widget:fail_reason") for t in study.trials if t.state.name == "FAIL"]
print(json.dumps({"states": states, "fails": fails}))
"""


def test_lightgbm_integration_example_from_main_runs_on_loky(tmp_path: Path) -> None:
    script = textwrap.dedent(LIGHTGBM_SCRIPT) + RUN_ON_LOKY
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "s.journal")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(result["states"]) == 8, result
    assert "FAIL" not in result["states"], result
    assert set(result["states"]) <= {TrialState.COMPLETE.name, TrialState.PRUNED.name}
