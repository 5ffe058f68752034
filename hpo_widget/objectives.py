"""Adapters that turn what users write into one shape: ``f(trial) -> value(s)``.

Three shapes are accepted so that people can keep the code they already have:

* a standard Optuna objective ``def objective(trial)``, run unchanged (``trial.report`` and
  ``trial.should_prune`` included; multi-objective tuples too);
* ``def objective(params: dict)`` together with a :class:`~hpo_widget.SearchSpace`, for people who
  think in parameter dictionaries (and for the form, which owns the space);
* a scikit-learn preset (:class:`~hpo_widget.presets.SklearnPreset`).

Everything here is a top-level class so the wrapped objective pickles to loky/Spark/Dask workers.
"""

from __future__ import annotations

import importlib
import inspect
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import optuna

from .space import SearchSpace

__all__ = [
    "ParamsObjective",
    "TrialObjective",
    "WithData",
    "as_trial_objective",
    "load_callable",
    "with_data",
]

TrialObjective = Callable[[optuna.Trial], float | Sequence[float]]


class ParamsObjective:
    """Wraps ``f(params) -> value`` so Optuna can call it with a trial.

    The space is sampled define-by-run, so conditional parameters absent from ``params`` are
    simply missing keys, exactly as the user sees them in the trials table.
    """

    def __init__(self, function: Callable[[dict[str, Any]], Any], space: SearchSpace) -> None:
        self.function = function
        self.space = space

    def __call__(self, trial: optuna.Trial) -> Any:
        return self.function(self.space.suggest(trial))

    def __repr__(self) -> str:
        name = getattr(self.function, "__qualname__", repr(self.function))
        return f"ParamsObjective({name}, {len(self.space)} params)"


class WithData:
    """``objective(trial_or_params, **data)``: see :func:`with_data`."""

    def __init__(self, objective: Callable[..., Any], data: dict[str, Any]) -> None:
        self.objective = objective
        self.data = data

    def __call__(self, trial_or_params: Any) -> Any:
        return self.objective(trial_or_params, **self.data)

    def __repr__(self) -> str:
        name = getattr(self.objective, "__qualname__", repr(self.objective))
        return f"with_data({name}, {', '.join(self.data)})"


def with_data(objective: Callable[..., Any], **data: Any) -> WithData:
    """Give ``objective`` its data as keyword arguments that travel with the run's task.

    Data an objective *captures* (a closure, an attribute, a notebook global) needs nothing:
    the run ships it to each executor once and workers map it (see the README).  What the
    automatic path cannot see is data an objective reaches by reference, such as a global of an
    importable module (``mymodule.X``): workers import the module again, so each one rebuilds or
    reloads it.  ``with_data(train, X=X, y=y)`` calls ``train(trial, X=X, y=y)`` (or
    ``train(params, X=X, y=y)`` with a search space), and ``X`` and ``y`` go out once with the
    run, as Ray Tune's ``tune.with_parameters`` does.
    """
    if not callable(objective):
        raise TypeError(f"with_data: objective must be callable, got {type(objective).__name__}")
    return WithData(objective, data)


def _wants_trial(function: Callable[..., Any]) -> bool:
    """Decide whether ``function`` expects an Optuna trial (rather than a params dict)."""
    if isinstance(function, WithData):
        function = function.objective
    try:
        sig = inspect.signature(function)
    except (TypeError, ValueError):
        return True
    params = [
        p
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if not params:
        return True
    first = params[0]
    annotation = first.annotation
    if annotation is not first.empty:
        text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
        if "Trial" in str(text):
            return True
        if str(text).startswith(("dict", "Dict", "Mapping")) or annotation is dict:
            return False
    return first.name != "params"


def as_trial_objective(objective: Any, space: SearchSpace | None = None) -> TrialObjective:
    """Normalise ``objective`` (see module doc) into ``f(trial)``.

    A function whose first argument is called ``trial`` (or annotated as an Optuna trial) is used
    unchanged even when a space is given; otherwise a space turns it into a params objective.
    """
    from .presets import SklearnPreset

    if isinstance(objective, SklearnPreset):
        return objective
    if isinstance(objective, str):
        objective = load_callable(objective, field="objective")
    if not callable(objective):
        raise TypeError(
            f"objective: expected a function, a 'module:function' string or a SklearnPreset, "
            f"got {type(objective).__name__}"
        )
    if space is not None and len(space) and not _wants_trial(objective):
        return ParamsObjective(objective, space)
    if not _wants_trial(objective) and (space is None or not len(space)):
        raise ValueError(
            "space: the objective takes a params dict, so it needs a search space; "
            "pass space=SearchSpace.from_dict({...})"
        )
    return objective  # type: ignore[no-any-return,unused-ignore]


def load_callable(reference: str, *, field: str = "objective") -> Callable[..., Any]:
    """Import ``"package.module:function"`` (the form used in YAML specs and the worker CLI)."""
    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{field}: {reference!r} must look like 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if not _is_the_module(exc.name, module_name):
            raise ValueError(_import_failed(field, module_name, exc)) from None
        raise ValueError(
            f"{field}: cannot import module {module_name!r} ({exc}); check the name and that it is "
            "on PYTHONPATH (the spec's directory is added automatically)"
        ) from None
    except (Exception, SystemExit) as exc:  # the module was found but running it failed
        raise ValueError(_import_failed(field, module_name, exc)) from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ValueError(f"{field}: module {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"{field}: {reference!r} is not callable")
    return target  # type: ignore[no-any-return,unused-ignore]


def _is_the_module(missing: str | None, module_name: str) -> bool:
    """Whether a ModuleNotFoundError is about ``module_name`` (or a parent package) itself,
    rather than about something the module imports."""
    return missing is not None and (module_name == missing or module_name.startswith(missing + "."))


def _import_failed(field: str, module_name: str, exc: BaseException) -> str:
    """Name the field, the module and where it raised: the whole traceback would otherwise be
    lost (workers and the CLI show one line), and the bare exception does not say which module of
    the user's was being imported."""
    where = ""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f' at File "{exc.filename}", line {exc.lineno}'
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        if frames:
            last = frames[-1]
            code = f": {last.line.strip()}" if last.line else ""
            where = f' at File "{last.filename}", line {last.lineno}, in {last.name}{code}'
    what = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return (
        f"{field}: importing module {module_name!r} raised {what}{where}; fix the module so it "
        f'imports cleanly (python -c "import {module_name}" shows the full traceback)'
    )
