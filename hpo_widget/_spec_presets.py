"""The scikit-learn preset form of a spec's ``objective`` (``{preset: RandomForest, dataset:
iris}``): parsed and checked here, built into a :class:`~hpo_widget.SklearnPreset` by the spec."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._checks import _did_you_mean, _show, is_integer
from .config import ConfigProblem

if TYPE_CHECKING:
    from .space import SearchSpace

__all__ = ["PRESET_FIELDS", "PresetObjective", "check_preset_space", "preset_from_dict"]

PRESET_FIELDS = (
    "preset",
    "dataset",
    "cv",
    "scoring",
    "fold_n_jobs",
    "fold_backend",
    "random_state",
)
DATASETS = ("iris", "digits", "wine", "breast_cancer", "diabetes")
REF_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


class _Checker:
    """Collects problems of one preset mapping."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems

    def add(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    def integer(self, value: Any, path: str, *, minimum: int) -> int | None:
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not is_integer(value) or value < minimum:
            self.add(path, f"must be a whole number >= {minimum} or empty, got {_show(value)}")
            return None
        return int(value)


@dataclass(frozen=True)
class PresetObjective:
    """The mapping form of ``objective``: a :class:`~hpo_widget.SklearnPreset` on a dataset."""

    estimators: tuple[str, ...]
    dataset: str
    cv: int | None = None
    scoring: str | None = None
    fold_n_jobs: int = 1
    fold_backend: str | None = None
    random_state: int | None = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "preset": self.estimators[0] if len(self.estimators) == 1 else list(self.estimators),
            "dataset": self.dataset,
        }
        defaults = PresetObjective((), "")
        for name in PRESET_FIELDS[2:]:
            value = getattr(self, name)
            if value != getattr(defaults, name):
                out[name] = value
        return out


def preset_from_dict(
    raw: Mapping[str, Any], problems: list[ConfigProblem]
) -> PresetObjective | None:
    """The preset of a spec's ``objective`` mapping, or None with ``problems`` added."""
    return _preset_from_dict(raw, _Checker(problems))


def check_preset_space(
    preset: PresetObjective, space: SearchSpace, problems: list[ConfigProblem]
) -> None:
    _check_preset_space(preset, space, _Checker(problems))


def _preset_from_dict(raw: Mapping[str, Any], c: _Checker) -> PresetObjective | None:
    from .presets import ESTIMATORS

    before = len(c.problems)
    for key in raw:
        if key not in PRESET_FIELDS:
            c.add(
                f"objective.{key}",
                f"unknown field{_did_you_mean(key, PRESET_FIELDS)} "
                f"(preset fields: {', '.join(PRESET_FIELDS)})",
            )
    aliases: dict[str, str] = {}
    for key, est in ESTIMATORS.items():
        aliases[key.lower()] = key
        aliases[est.import_path.rpartition(".")[2].lower()] = key
    names = raw.get("preset")
    estimators: list[str] = []
    items = [names] if isinstance(names, str) else names
    if names is None:
        c.add(
            "objective.preset",
            f"missing required field (one or a list of: {', '.join(ESTIMATORS)})",
        )
    elif not isinstance(items, list) or not items:
        c.add(
            "objective.preset",
            f"must be an estimator name or a non-empty list of them, got {_show(names)}",
        )
    else:
        for i, item in enumerate(items):
            where = "objective.preset" if isinstance(names, str) else f"objective.preset[{i}]"
            found = aliases.get(item.lower()) if isinstance(item, str) else None
            if found is None:
                hint = _did_you_mean(item, ESTIMATORS)
                valid = ", ".join(ESTIMATORS)
                c.add(where, f"unknown estimator {_show(item)}; choose one of {valid}{hint}")
            elif found in estimators:
                c.add(where, f"{found!r} is listed more than once")
            else:
                estimators.append(found)
        if len({ESTIMATORS[k].task for k in estimators}) > 1:
            c.add("objective.preset", "do not mix classifiers and regressors in one preset")
    dataset = raw.get("dataset")
    if dataset is None:
        c.add(
            "objective.dataset",
            f"missing required field ({', '.join(DATASETS)} or 'module:function' returning (X, y))",
        )
    elif not isinstance(dataset, str) or not (dataset in DATASETS or REF_RE.match(dataset.strip())):
        hint = _did_you_mean(dataset, DATASETS)
        c.add(
            "objective.dataset",
            f"unknown {_show(dataset)}; bundled ones are {', '.join(DATASETS)}, or give "
            f"'module:function' returning (X, y){hint}",
        )
    cv = c.integer(raw.get("cv"), "objective.cv", minimum=2)
    scoring = raw.get("scoring")
    if scoring is not None:
        if not isinstance(scoring, str):
            c.add("objective.scoring", f"must be a scikit-learn scorer name, got {_show(scoring)}")
        else:
            from sklearn.metrics import get_scorer_names

            valid_scorers = get_scorer_names()
            if scoring not in valid_scorers:
                hint = _did_you_mean(scoring, valid_scorers)
                c.add(
                    "objective.scoring",
                    f"unknown scorer {scoring!r}{hint} (see sklearn.metrics.get_scorer_names())",
                )
    fold_n_jobs = c.integer(raw.get("fold_n_jobs"), "objective.fold_n_jobs", minimum=-1)
    if fold_n_jobs == 0:
        c.add("objective.fold_n_jobs", "must be a positive integer or -1 (all cores), got 0")
    fold_backend = raw.get("fold_backend")
    if fold_backend is not None and not isinstance(fold_backend, str):
        c.add("objective.fold_backend", f"must be a joblib backend name, got {_show(fold_backend)}")
    random_state = c.integer(raw.get("random_state"), "objective.random_state", minimum=0)
    if len(c.problems) > before or not isinstance(dataset, str):
        return None
    return PresetObjective(
        estimators=tuple(estimators),
        dataset=dataset.strip(),
        cv=cv,
        scoring=scoring,
        fold_n_jobs=1 if fold_n_jobs is None else fold_n_jobs,
        fold_backend=fold_backend,
        random_state=random_state if "random_state" in raw else 0,
    )


def _check_preset_space(preset: PresetObjective, space: SearchSpace, c: _Checker) -> None:
    """A custom space for several estimators must choose among them the way the preset reads
    it: an ``estimator`` categorical plus ``<Estimator>__<param>`` names."""
    if len(preset.estimators) < 2:
        return
    if "estimator" not in space:
        c.add(
            "space",
            "a preset with several estimators needs an 'estimator' categorical with choices "
            f"{list(preset.estimators)} and parameters named <Estimator>__<param>",
        )
        return
    param = space["estimator"]
    choices = getattr(param, "choices", None)
    if choices is None:
        c.add("space.estimator", "must be a categorical parameter choosing the estimator")
        return
    for value in choices:
        if value not in preset.estimators:
            c.add(
                "space.estimator.choices",
                f"{_show(value)} is not in objective.preset ({', '.join(preset.estimators)})",
            )
    for name in space.names:
        if name == "estimator":
            continue
        prefix = name.split("__", 1)[0] if "__" in name else None
        if prefix not in preset.estimators:
            c.add(
                f"space.{name}",
                "with several estimators, name parameters <Estimator>__<param> "
                f"(estimators: {', '.join(preset.estimators)})",
            )
