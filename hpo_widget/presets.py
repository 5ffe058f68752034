"""Ready-made scikit-learn objectives: pick an estimator (or several), give data, get a study.

Each estimator has a default search space that a practitioner would start from (log-scaled
regularisation, bounded depths).  With several estimators the preset builds one conditional space:
an ``estimator`` categorical plus each model's parameters, active only for that model, named
``<estimator>__<param>`` like scikit-learn pipelines.

Folds are scored one by one and the running mean is reported to the trial, so Optuna's pruners can
stop a bad configuration after the first folds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from .space import SearchSpace

__all__ = ["ESTIMATORS", "SklearnPreset", "load_dataset"]


@dataclass(frozen=True)
class _Estimator:
    import_path: str
    task: str  # "classification" | "regression"
    space: dict[str, dict[str, Any]]
    fixed: dict[str, Any]

    def build(self, params: dict[str, Any], random_state: int | None) -> Any:
        module_name, _, cls_name = self.import_path.rpartition(".")
        module = __import__(module_name, fromlist=[cls_name])
        cls = getattr(module, cls_name)
        kwargs = {**self.fixed, **params}
        if "random_state" in cls().get_params() and random_state is not None:
            kwargs.setdefault("random_state", random_state)
        if cls_name.startswith("MLP") and "hidden_layer_size" in kwargs:
            width = kwargs.pop("hidden_layer_size")
            layers = kwargs.pop("n_layers", 1)
            kwargs["hidden_layer_sizes"] = (width,) * int(layers)
        return cls(**kwargs)


ESTIMATORS: dict[str, _Estimator] = {
    "SVC": _Estimator(
        "sklearn.svm.SVC",
        "classification",
        {
            "C": {"type": "float", "low": 1e-3, "high": 1e3, "log": True},
            "gamma": {"type": "float", "low": 1e-4, "high": 1e1, "log": True},
            "kernel": {"type": "categorical", "choices": ["rbf", "linear"]},
        },
        {},
    ),
    "RandomForest": _Estimator(
        "sklearn.ensemble.RandomForestClassifier",
        "classification",
        {
            "n_estimators": {"type": "int", "low": 10, "high": 200, "log": True},
            "max_depth": {"type": "int", "low": 2, "high": 32, "log": True},
            "min_samples_leaf": {"type": "int", "low": 1, "high": 10},
            "max_features": {"type": "categorical", "choices": ["sqrt", "log2"]},
        },
        {"n_jobs": 1},
    ),
    "GradientBoosting": _Estimator(
        "sklearn.ensemble.GradientBoostingClassifier",
        "classification",
        {
            "learning_rate": {"type": "float", "low": 1e-3, "high": 0.5, "log": True},
            "n_estimators": {"type": "int", "low": 20, "high": 200, "log": True},
            "max_depth": {"type": "int", "low": 1, "high": 6},
            "subsample": {"type": "float", "low": 0.5, "high": 1.0},
        },
        {},
    ),
    "LogisticRegression": _Estimator(
        "sklearn.linear_model.LogisticRegression",
        "classification",
        {"C": {"type": "float", "low": 1e-4, "high": 1e3, "log": True}},
        {"max_iter": 1000},
    ),
    "KNeighbors": _Estimator(
        "sklearn.neighbors.KNeighborsClassifier",
        "classification",
        {
            "n_neighbors": {"type": "int", "low": 1, "high": 30},
            "weights": {"type": "categorical", "choices": ["uniform", "distance"]},
            "p": {"type": "int", "low": 1, "high": 2},
        },
        {},
    ),
    "DecisionTree": _Estimator(
        "sklearn.tree.DecisionTreeClassifier",
        "classification",
        {
            "max_depth": {"type": "int", "low": 1, "high": 32, "log": True},
            "min_samples_split": {"type": "int", "low": 2, "high": 20},
            "criterion": {"type": "categorical", "choices": ["gini", "entropy"]},
        },
        {},
    ),
    "MLP": _Estimator(
        "sklearn.neural_network.MLPClassifier",
        "classification",
        {
            "hidden_layer_size": {"type": "int", "low": 8, "high": 128, "log": True},
            "n_layers": {"type": "int", "low": 1, "high": 3},
            "alpha": {"type": "float", "low": 1e-6, "high": 1e-1, "log": True},
            "learning_rate_init": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        },
        {"max_iter": 300, "early_stopping": True},
    ),
    "Ridge": _Estimator(
        "sklearn.linear_model.Ridge",
        "regression",
        {"alpha": {"type": "float", "low": 1e-4, "high": 1e3, "log": True}},
        {},
    ),
    "Lasso": _Estimator(
        "sklearn.linear_model.Lasso",
        "regression",
        {"alpha": {"type": "float", "low": 1e-5, "high": 1e1, "log": True}},
        {"max_iter": 5000},
    ),
    "RandomForestRegressor": _Estimator(
        "sklearn.ensemble.RandomForestRegressor",
        "regression",
        {
            "n_estimators": {"type": "int", "low": 10, "high": 200, "log": True},
            "max_depth": {"type": "int", "low": 2, "high": 32, "log": True},
        },
        {"n_jobs": 1},
    ),
}

_DATASETS = ("iris", "digits", "wine", "breast_cancer", "diabetes")


def load_dataset(name: str) -> tuple[Any, Any]:
    """Load one of scikit-learn's bundled datasets (no download) as ``(X, y)``."""
    if name not in _DATASETS:
        raise ValueError(
            f"dataset: unknown {name!r}; bundled ones are {', '.join(_DATASETS)}, "
            "or give 'package.module:function' returning (X, y)"
        )
    import sklearn.datasets

    loaded = getattr(sklearn.datasets, f"load_{name}")(return_X_y=True)
    return loaded[0], loaded[1]


def _resolve_estimator(estimator: str | type) -> tuple[str, _Estimator]:
    if isinstance(estimator, type):
        for name, spec in ESTIMATORS.items():
            if spec.import_path.rpartition(".")[2] == estimator.__name__:
                return name, spec
        raise ValueError(
            f"estimator: no default space for {estimator.__name__}; pass space=... "
            f"or use one of {', '.join(ESTIMATORS)}"
        )
    aliases = {spec.import_path.rpartition(".")[2].lower(): k for k, spec in ESTIMATORS.items()}
    key: str | None = estimator if estimator in ESTIMATORS else aliases.get(str(estimator).lower())
    if key is None:
        lowered = {k.lower(): k for k in ESTIMATORS}
        key = lowered.get(str(estimator).lower())
    if key is None:
        raise ValueError(f"estimator: unknown {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
    return key, ESTIMATORS[key]


class SklearnPreset:
    """Cross-validated scikit-learn objective with a default search space.

    Example::

        from sklearn.datasets import load_iris
        preset = SklearnPreset(["SVC", "RandomForest"], *load_iris(return_X_y=True), cv=3)
        runner = StudyRunner(preset)   # direction and space come from the preset

    ``fold_n_jobs`` / ``fold_backend`` evaluate folds in parallel through joblib (set
    ``fold_backend="spark"`` on a cluster with more slots than useful concurrent trials); parallel
    folds cannot be pruned between folds, so the report happens once at the end.
    """

    def __init__(
        self,
        estimator: str | type | Sequence[str | type],
        X: Any,
        y: Any,
        *,
        cv: int | Any = 5,
        scoring: str | Callable[..., float] | None = None,
        space: SearchSpace | dict[str, Any] | None = None,
        random_state: int | None = 0,
        fold_n_jobs: int = 1,
        fold_backend: str | None = None,
    ) -> None:
        names = [estimator] if isinstance(estimator, (str, type)) else list(estimator)
        if not names:
            raise ValueError("estimator: give at least one estimator name")
        self.estimators = dict(_resolve_estimator(e) for e in names)
        tasks = {spec.task for spec in self.estimators.values()}
        if len(tasks) > 1:
            raise ValueError("estimator: do not mix classifiers and regressors in one preset")
        self.task = tasks.pop()
        self.X, self.y = X, y
        self.cv = cv
        self.scoring = scoring or ("accuracy" if self.task == "classification" else "r2")
        self.random_state = random_state
        self.fold_n_jobs = fold_n_jobs
        self.fold_backend = fold_backend
        if space is None:
            self.space = self.default_space()
        elif isinstance(space, SearchSpace):
            self.space = space
        else:
            self.space = SearchSpace.from_dict(space)

    #: Scores are "greater is better" (scikit-learn's scorer convention).
    direction = "maximize"

    @property
    def name(self) -> str:
        return "+".join(self.estimators)

    def default_space(self) -> SearchSpace:
        if len(self.estimators) == 1:
            (spec,) = self.estimators.values()
            return SearchSpace.from_dict(spec.space)
        merged: dict[str, Any] = {
            "estimator": {"type": "categorical", "choices": list(self.estimators)}
        }
        for key, spec in self.estimators.items():
            for pname, pspec in spec.space.items():
                merged[f"{key}__{pname}"] = {**pspec, "condition": {"estimator": [key]}}
        return SearchSpace.from_dict(merged)

    def build_estimator(self, params: dict[str, Any]) -> Any:
        """The estimator a set of trial params describes (used to retrain with the best ones)."""
        if len(self.estimators) == 1:
            (spec,) = self.estimators.values()
            return spec.build(dict(params), self.random_state)
        key = params["estimator"]
        prefix = f"{key}__"
        own = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
        return self.estimators[key].build(own, self.random_state)

    def _splits(self) -> list[tuple[Any, Any]]:
        from sklearn.base import is_classifier
        from sklearn.model_selection import check_cv

        probe = next(iter(self.estimators.values())).build({}, self.random_state)
        cv = check_cv(self.cv, self.y, classifier=is_classifier(probe))
        return list(cv.split(self.X, self.y))

    def _score_fold(self, params: dict[str, Any], train: Any, test: Any) -> float:
        from sklearn.metrics import get_scorer

        model = self.build_estimator(params)
        X, y = self.X, self.y
        Xtr, Xte = _take(X, train), _take(X, test)
        ytr, yte = _take(y, train), _take(y, test)
        model.fit(Xtr, ytr)
        scorer = get_scorer(self.scoring) if isinstance(self.scoring, str) else self.scoring
        return float(scorer(model, Xte, yte))

    def __call__(self, trial: optuna.Trial) -> float:
        params = self.space.suggest(trial)
        splits = self._splits()
        if self.fold_n_jobs != 1 or self.fold_backend:
            import joblib

            with joblib.parallel_config(backend=self.fold_backend or "loky"):
                scores = joblib.Parallel(n_jobs=self.fold_n_jobs)(
                    joblib.delayed(self._score_fold)(params, tr, te) for tr, te in splits
                )
            trial.report(float(np.mean(scores)), len(scores) - 1)
            return float(np.mean(scores))
        scores = []
        for step, (train, test) in enumerate(splits):
            scores.append(self._score_fold(params, train, test))
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {step + 1} of {len(splits)}")
        return float(np.mean(scores))

    def retrain_code(self, params: dict[str, Any]) -> str:
        """Python source that rebuilds and fits the best model (for 'export as code')."""
        model = self.build_estimator(params)
        module = type(model).__module__.split("._")[0]
        cls = type(model).__name__
        kwargs = ", ".join(
            f"{k}={v!r}" for k, v in sorted(model.get_params().items()) if k in _changed(model)
        )
        return f"from {module} import {cls}\n\nmodel = {cls}({kwargs})\nmodel.fit(X, y)\n"

    def __repr__(self) -> str:
        return f"SklearnPreset({self.name!r}, cv={self.cv!r}, scoring={self.scoring!r})"


def _changed(model: Any) -> set[str]:
    default = type(model)().get_params()
    return {k for k, v in model.get_params().items() if default.get(k) != v}


def _take(data: Any, index: Any) -> Any:
    if hasattr(data, "iloc"):
        return data.iloc[index]
    return np.asarray(data)[index]
