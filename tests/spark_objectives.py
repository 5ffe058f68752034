"""Objectives for the Spark, cluster and Dask tests.

Executors import functions by module name, and this module is not installed, so the tests ship it
by value (``register_by_value``), the way a notebook's ``__main__`` functions travel.
"""

from __future__ import annotations

import os
import time
from typing import Any

import optuna


def register_by_value() -> None:
    """Make Spark's cloudpickle send this module's functions by value to executors."""
    import sys

    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


def iris_objective(trial: optuna.Trial) -> float:
    """Optuna's README example: SVC vs RandomForest on iris, with conditional parameters."""
    import sklearn.datasets
    import sklearn.ensemble
    import sklearn.model_selection
    import sklearn.svm

    x, y = sklearn.datasets.load_iris(return_X_y=True)
    classifier_name = trial.suggest_categorical("classifier", ["SVC", "RandomForest"])
    if classifier_name == "SVC":
        svc_c = trial.suggest_float("svc_c", 1e-10, 1e10, log=True)
        classifier_obj = sklearn.svm.SVC(C=svc_c, gamma="auto")
    else:
        rf_max_depth = trial.suggest_int("rf_max_depth", 2, 32, log=True)
        classifier_obj = sklearn.ensemble.RandomForestClassifier(
            max_depth=rf_max_depth, n_estimators=10
        )
    score = sklearn.model_selection.cross_val_score(classifier_obj, x, y, n_jobs=1, cv=3)
    return float(score.mean())


def noop_objective(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", -1.0, 1.0) ** 2


class Sleep:
    """An objective that sleeps ``seconds`` and returns its parameter."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        time.sleep(self.seconds)
        return x


def whoami() -> int:
    return os.getpid()


def raising_objective(trial: optuna.Trial) -> float:
    x = trial.suggest_int("x", 0, 9)
    if x % 2:
        raise ValueError(f"odd x={x} is not allowed")
    return float(x)


def pruned_objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in range(5):
        trial.report(x, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
        time.sleep(0.02)
    return x


def iris_params_objective(params: dict) -> float:
    """``params -> float`` twin of :func:`iris_objective`, for spaces built in the panel's form."""
    import sklearn.datasets
    import sklearn.ensemble
    import sklearn.model_selection
    import sklearn.svm

    x, y = sklearn.datasets.load_iris(return_X_y=True)
    if params["classifier"] == "SVC":
        model = sklearn.svm.SVC(C=params["svc_c"], gamma="auto")
    else:
        model = sklearn.ensemble.RandomForestClassifier(
            max_depth=params["rf_max_depth"], n_estimators=10
        )
    time.sleep(0.1)  # long enough for Stop to catch trials in flight
    return float(sklearn.model_selection.cross_val_score(model, x, y, n_jobs=1, cv=3).mean())


class LooksUpCapturedArray:
    """An objective holding a large array, like one that closes over its training data."""

    def __init__(self, n: int) -> None:
        import numpy as np

        self.data = np.arange(n, dtype=np.float64) * 0.5

    def __call__(self, trial: optuna.Trial) -> float:
        i = trial.suggest_int("i", 0, len(self.data) - 1)
        return float(self.data[i])


def note_how_it_arrived(trial: optuna.Trial, data: Any) -> None:
    """Note how ``data`` reached the worker: mapped from a file (and writable), or a copy."""
    import mmap

    import numpy as np

    root: object = data
    while isinstance(root, (np.ndarray, memoryview)):
        nxt = root.base if isinstance(root, np.ndarray) else root.obj
        if nxt is None:
            break
        root = nxt
    trial.set_user_attr("mapped", isinstance(root, mmap.mmap))
    trial.set_user_attr("writeable", bool(data.flags.writeable))


class ReportsHowItsArrayArrived(LooksUpCapturedArray):
    """A captured array that notes how it arrived (:func:`note_how_it_arrived`)."""

    def __call__(self, trial: optuna.Trial) -> float:
        note_how_it_arrived(trial, self.data)
        return super().__call__(trial)


def looks_up_given_array(trial: optuna.Trial, data: Any) -> float:
    """An objective whose array comes only as a ``with_data`` keyword."""
    note_how_it_arrived(trial, data)
    return float(data[trial.suggest_int("i", 0, len(data) - 1)])


def records_scattered_task(trial: optuna.Trial) -> float:
    """Notes whether the Dask worker running it holds the run's worker task as scattered data."""
    from distributed import get_worker

    held = [type(v).__name__ for v in list(get_worker().data.values())]
    trial.set_user_attr("scattered", "WorkerTask" in held)
    return trial.suggest_float("x", 0, 1)
