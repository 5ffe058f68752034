"""Run specs: one YAML file that says what to tune, where the study lives and how to run it.

``hpo-widget run SPEC.yaml`` reads it; :class:`RunSpec` is the validated, immutable form, usable
from Python too::

    spec = RunSpec.from_file("example_notebooks/specs/quadratic.yaml")
    runner = spec.build_runner(n_workers=2)
    runner.start().wait()          # n_trials and timeout come from the spec

A spec is an objective (and its search space) plus a :class:`~hpo_widget.config.RunConfig`,
which holds and checks every run option; ``hpo-widget schema`` prints the JSON Schema that
editors use to validate specs as you type.  Schema (every field but ``objective`` is optional)::

    study: iris_rf              # default: the spec file's stem
    storage: null               # URL, or null for the embedded journal ./hpo_studies.journal.
                                # Relative paths (runs.journal, sqlite:///x.db) are relative to
                                # the *current working directory*, as in Optuna, not the spec's.
    direction: maximize         # or directions: [minimize, maximize]; presets default to maximize
    objective: my_objective:objective   # "package.module:function"; the spec's directory is put
                                        # on sys.path first, so a module next to the spec works
    objective:                  # ...or a scikit-learn preset
      preset: RandomForest      # or a list: [SVC, RandomForest] (one conditional space)
      dataset: iris             # iris | digits | wine | breast_cancer | diabetes | "module:function"
                                # returning (X, y)
      cv: 5                     # folds (default 5)
      scoring: accuracy         # scikit-learn scorer name (default accuracy / r2)
      fold_n_jobs: 1            # folds in parallel (then no pruning between folds)
      fold_backend: null        # joblib backend for the folds
      random_state: 0           # estimators' random_state
    space: {x: {type: float, low: -10, high: 10}}   # search-space dict (see hpo_widget.space);
                                # optional for presets and objective(trial), required for
                                # objective(params)
    sampler: tpe                # or {name: tpe, options: {n_startup_trials: 5}}
    pruner: median              # or {name: median, options: {n_warmup_steps: 1}}; default: median
                                # (Optuna's default), none for several objectives
    seed: 0
    backend: loky               # or {name: loky, n_workers: 2, options: {}}; n_workers 0 means
                                # only external `hpo-widget worker` processes run trials
    n_trials: 30                # the study's TOTAL of finished trials: rerunning resumes to it
    timeout: 600                # seconds for one run
    retries: 1                  # re-runs of a trial whose worker died
    heartbeat_grace: 30         # seconds of silence before a running trial counts as lost
    stop:                       # end the run early (see hpo_widget.stop_rules)
      goal: 0.98                # the best value reached this
      patience: 20              # 20 finished trials in a row without a new best
      max_failed: 5             # 5 trials of this run failed in the objective

Validation collects every problem, each prefixed with its dotted field path, and raises one
:class:`SpecError` listing them all.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ._checks import _show, normalize_direction
from ._config_io import YAML_FIELDS, json_schema
from ._spec_presets import (
    REF_RE,
    PresetObjective,
    check_preset_space,
    preset_from_dict,
)
from .config import YAML_PATHS, ConfigError, ConfigProblem, RunConfig
from .space import SearchSpace, SearchSpaceError
from .storage import mask_password

if TYPE_CHECKING:
    from .runner import StudyRunner

__all__ = ["PresetObjective", "RunSpec", "SpecError", "spec_schema"]

#: Top-level keys of a spec, in the order ``to_dict`` writes them.
FIELDS = (*YAML_FIELDS[:4], "objective", "space", *YAML_FIELDS[4:])
#: Spec attribute -> RunConfig option (the spec reads ``study``, the runner ``study_name``).
_CONFIG_NAMES = {"study": "study_name"}


class SpecError(ValueError):
    """The spec is invalid; ``problems`` lists every problem as ``"field.path: message"``.

    Passwords in storage URLs are masked in every message.
    """

    def __init__(self, problems: Iterable[Any], source: str | os.PathLike[str] | None = None):
        self.problems: list[str] = [mask_password(str(p)) for p in problems]
        self.source = None if source is None else os.fspath(source)
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problems, self.source))


def _yaml_problems(problems: Iterable[ConfigProblem]) -> list[str]:
    """``"field: message"`` lines with the spec's field paths (``study``, not ``study_name``)."""
    out = []
    for p in problems:
        head, dot, rest = p.field.partition(".")
        path = YAML_PATHS.get(head, head) + (dot + rest if rest else "")
        out.append(str(ConfigProblem(path, p.message)))
    return out


@dataclass(frozen=True)
class RunSpec:
    """A validated run spec: what to tune (``objective``, ``space``) and how (``config``).

    The run options read as attributes too (``spec.n_trials``, ``spec.study``, ...).
    ``base_dir`` is the spec file's directory, put on ``sys.path`` before the objective (or a
    ``module:function`` dataset) is imported.  It is not part of the YAML.
    """

    objective: str | PresetObjective
    space: SearchSpace | None = None
    config: RunConfig = field(default_factory=RunConfig)
    base_dir: Path | None = field(default=None, compare=False)

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not fields: the run options of the config.
        if name.startswith("__"):
            raise AttributeError(name)
        config = object.__getattribute__(self, "config")
        option = _CONFIG_NAMES.get(name, name)
        if option in {f.name for f in dataclasses.fields(RunConfig)} or option == "direction":
            return getattr(config, option)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        # Specs get printed in notebooks and pasted into issues: the storage URL (or an option
        # such as a cluster URL) may carry a password.
        return mask_password(
            f"RunSpec(objective={self.objective!r}, space={self.space!r}, config={self.config!r})"
        )

    # -- reading -----------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> RunSpec:
        """Read a YAML (or JSON) spec; the study name defaults to the file's stem."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise SpecError([f"spec: cannot read {p}: {exc.strerror or exc}"], source=p) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError([f"spec: invalid YAML: {exc}"], source=p) from None
        if data is None:
            raise SpecError(
                ["spec: the file is empty (write at least `objective: module:function`)"],
                source=p,
            )
        try:
            return cls.from_dict(data, base_dir=p.resolve().parent, default_study=p.stem)
        except SpecError as exc:
            raise SpecError(exc.problems, source=p) from None

    @classmethod
    def from_dict(
        cls,
        data: Any,
        *,
        base_dir: str | os.PathLike[str] | None = None,
        default_study: str | None = None,
    ) -> RunSpec:
        """Validate the dict form; raises :class:`SpecError` listing every problem found.

        Nothing is imported or opened here (no objective, dataset or storage), so any input can
        be checked safely; :meth:`build_runner` does that part.
        """
        if not isinstance(data, Mapping):
            raise SpecError(
                [f"spec: must be a mapping of field -> value, got {type(data).__name__}"]
            )
        problems: list[ConfigProblem] = []
        objective = _objective_from(data.get("objective"), problems)
        space = _space_from(data.get("space"), problems)
        if isinstance(objective, PresetObjective) and space is not None:
            check_preset_space(objective, space, problems)
        config: RunConfig | None = None
        try:
            config = RunConfig.from_dict(
                data, default_study=default_study, space=space, other_fields=("objective", "space")
            )
        except ConfigError as exc:
            errors = [str(p) for p in problems] + [str(p) for p in exc.problems]
            raise SpecError(_order(errors)) from None
        if problems or objective is None:
            raise SpecError([str(p) for p in problems])
        return cls(
            objective=objective,
            space=space,
            config=config,
            base_dir=None if base_dir is None else Path(base_dir),
        )

    def to_dict(self) -> dict[str, Any]:
        """The YAML form (fields at their defaults left out); ``from_dict`` reads it back."""
        out: dict[str, Any] = {}
        config = self.config.to_dict()
        for key in ("study", "storage", "direction", "directions"):
            if key in config:
                out[key] = config.pop(key)
        out["objective"] = (
            self.objective.to_dict()
            if isinstance(self.objective, PresetObjective)
            else self.objective
        )
        if self.space is not None:
            out["space"] = self.space.to_dict()
        out.update(config)
        return out

    def with_overrides(self, **overrides: Any) -> RunSpec:
        """A copy with fields replaced (``None`` values are ignored), validated again.

        Accepts ``objective``, ``space``, ``base_dir`` and every run option (``study``,
        ``storage``, ``backend``, ``n_workers``, ``n_trials``, ``timeout``, ``seed``,
        ``sampler``, ``pruner``, ``goal``, ``patience``, ``max_failed``, ...), including what
        has no YAML form (an Optuna sampler or pruner object).  Problems raise
        :class:`SpecError`, with the spec's field paths.
        """
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if not overrides:
            return self
        problems: list[ConfigProblem] = []
        objective: str | PresetObjective | None = self.objective
        given = overrides.pop("objective", None)
        if given is not None:
            objective = (
                given if isinstance(given, PresetObjective) else _objective_from(given, problems)
            )
        space = self.space
        given = overrides.pop("space", None)
        if given is not None:
            space = given if isinstance(given, SearchSpace) else _space_from(given, problems)
        base_dir = overrides.pop("base_dir", self.base_dir)
        options = {_CONFIG_NAMES.get(k, k): v for k, v in overrides.items()}
        for key in ("direction", "directions"):  # as YAML reads them: "max" is maximize
            value = options.get(key)
            if isinstance(value, list | tuple):
                options[key] = tuple(normalize_direction(d) for d in value)
            elif value is not None:
                options[key] = normalize_direction(value)
        if "directions" in options:
            options.setdefault("direction", None)
        config = self.config
        if "direction" in options and options["direction"] is not None:
            config = dataclasses.replace(config, directions=None)
        if "directions" in options and options["directions"] is not None:
            options.pop("direction", None)
        try:
            config = config.replace(**options)
        except TypeError as exc:
            raise TypeError(f"with_overrides: {exc}") from None
        except ConfigError as exc:
            raise SpecError(_yaml_problems(exc.problems)) from None
        if isinstance(objective, PresetObjective) and space is not None:
            check_preset_space(objective, space, problems)
        errors = [str(p) for p in problems] + _yaml_problems(config.problems(space=space))
        if errors or objective is None:
            raise SpecError(_order(errors))
        return dataclasses.replace(
            self,
            objective=objective,
            space=space,
            config=config,
            base_dir=None if base_dir is None else Path(base_dir),
        )

    # -- building ----------------------------------------------------------------------------
    def _import_path(self) -> None:
        if self.base_dir is not None:
            where = str(self.base_dir)
            if where not in sys.path:
                sys.path.insert(0, where)

    def build_objective(self) -> tuple[Any, SearchSpace | None]:
        """Import the objective (or build the preset and load its data) and return it with the
        space the runner and workers should use.  Problems raise :class:`SpecError`."""
        from .objectives import as_trial_objective, load_callable

        self._import_path()
        if isinstance(self.objective, PresetObjective):
            preset = self._build_preset(self.objective)
            return preset, preset.space
        try:
            function = load_callable(self.objective, field="objective")
        except ValueError as exc:
            raise SpecError([str(exc)]) from None
        try:
            as_trial_objective(function, self.space)
        except (ValueError, TypeError) as exc:
            raise SpecError([str(exc)]) from None
        return function, self.space

    def _build_preset(self, p: PresetObjective) -> Any:
        from .objectives import load_callable
        from .presets import SklearnPreset, load_dataset

        try:
            if ":" in p.dataset:
                data = load_callable(p.dataset, field="objective.dataset")()
                if not isinstance(data, tuple | list) or len(data) != 2:
                    raise ValueError(
                        f"objective.dataset: {p.dataset!r} must return (X, y), got {_show(data)}"
                    )
                X, y = data
            else:
                X, y = load_dataset(p.dataset)
        except ValueError as exc:
            raise SpecError([_with_field(str(exc), "objective.dataset")]) from None
        except Exception as exc:
            raise SpecError(
                [f"objective.dataset: loading {p.dataset!r} failed: {type(exc).__name__}: {exc}"]
            ) from None
        kwargs: dict[str, Any] = {
            "scoring": p.scoring,
            "space": self.space,
            "random_state": p.random_state,
            "fold_n_jobs": p.fold_n_jobs,
            "fold_backend": p.fold_backend,
        }
        if p.cv is not None:
            kwargs["cv"] = p.cv
        try:
            return SklearnPreset(list(p.estimators), X, y, **kwargs)
        except (ValueError, TypeError) as exc:
            raise SpecError([_with_field(str(exc), "objective")]) from None

    def build_runner(self, **overrides: Any) -> StudyRunner:
        """A :class:`~hpo_widget.StudyRunner` for this spec (not started: ``runner.start()``
        runs to the spec's ``n_trials`` and ``timeout``).

        ``overrides`` are applied first (see :meth:`with_overrides`).  Problems with the spec,
        including those only found now (import errors, unknown estimator options, a study that
        exists with other directions), raise :class:`SpecError`; a storage that cannot be opened
        raises ``RuntimeError``.
        """
        from .runner import StudyRunner

        spec = self.with_overrides(**overrides)
        objective, space = spec.build_objective()
        try:
            return StudyRunner(objective, space=space, config=spec.config)
        except ConfigError as exc:
            raise SpecError(_yaml_problems(exc.problems)) from None
        except (ValueError, TypeError, ImportError) as exc:
            raise SpecError(str(exc).splitlines() or [type(exc).__name__]) from None


def spec_schema() -> dict[str, Any]:
    """The JSON Schema of a spec file (``hpo-widget schema``), for editors' YAML validation."""
    objective = {
        "description": "'package.module:function', or a scikit-learn preset",
        "oneOf": [
            {"type": "string", "pattern": REF_RE.pattern},
            {
                "type": "object",
                "required": ["preset", "dataset"],
                "additionalProperties": False,
                "properties": {
                    "preset": {"oneOf": [{"type": "string"}, {"type": "array", "minItems": 1}]},
                    "dataset": {"type": "string"},
                    "cv": {"type": ["integer", "null"], "minimum": 2},
                    "scoring": {"type": ["string", "null"]},
                    "fold_n_jobs": {"type": "integer"},
                    "fold_backend": {"type": ["string", "null"]},
                    "random_state": {"type": ["integer", "null"], "minimum": 0},
                },
            },
        ],
    }
    space = {"type": "object", "description": "search space (see hpo_widget.space)"}
    return json_schema({"objective": objective, "space": space}, required=("objective",))


# -- helpers -------------------------------------------------------------------------------------
def _space_from(raw: Any, problems: list[ConfigProblem]) -> SearchSpace | None:
    if raw is None:
        return None
    try:
        return SearchSpace.from_dict(raw)
    except SearchSpaceError as exc:
        for p in exc.problems:
            sep = "." if p.param or p.field else ": "
            problems.append(ConfigProblem("", "space" + sep + str(p)))
    return None


def _objective_from(objective: Any, problems: list[ConfigProblem]) -> str | PresetObjective | None:
    if objective is None:
        problems.append(
            ConfigProblem(
                "objective",
                "missing required field (write 'package.module:function' or "
                "{preset: RandomForest, dataset: iris})",
            )
        )
    elif isinstance(objective, str):
        if REF_RE.match(objective.strip()):
            return objective.strip()
        problems.append(
            ConfigProblem("objective", f"{objective!r} must look like 'package.module:function'")
        )
    elif isinstance(objective, Mapping):
        return preset_from_dict(objective, problems)
    else:
        problems.append(
            ConfigProblem(
                "objective",
                f"must be 'package.module:function' or a preset mapping, got {_show(objective)}",
            )
        )
    return None


def _order(problems: list[str]) -> list[str]:
    """Problems in the order of the spec's fields, as a reader goes through the file."""

    def rank(problem: str) -> int:
        head = problem.split(":", 1)[0].split(".", 1)[0].split("[", 1)[0]
        return FIELDS.index(head) if head in FIELDS else -1  # unknown fields first

    return sorted(problems, key=rank)


def _with_field(message: str, path: str) -> str:
    """Prefix ``path`` unless the message already names a field."""
    import re

    head = message.split(":", 1)[0]
    if ":" in message and re.fullmatch(r"[\w.\[\]]+", head):
        return message
    return f"{path}: {message}"
