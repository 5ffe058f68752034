"""Run specs: one YAML file that says what to tune, where the study lives and how to run it.

``hpo-widget run SPEC.yaml`` reads it; :class:`RunSpec` is the validated, immutable form, usable
from Python too::

    spec = RunSpec.from_file("example_notebooks/specs/quadratic.yaml")
    runner = spec.build_runner(n_workers=2)
    runner.start(n_trials=spec.n_trials, timeout=spec.timeout).wait()

Schema (every field but ``objective`` is optional)::

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
    pruner: median              # or {name: median, options: {n_warmup_steps: 1}}; default none
    seed: 0
    backend: loky               # or {name: loky, n_workers: 2, options: {}}; n_workers 0 means
                                # only external `hpo-widget worker` processes run trials
    n_trials: 30                # the study's TOTAL of finished trials: rerunning resumes to it
    timeout: 600                # seconds for one run
    retries: 1                  # re-runs of a trial whose worker died
    heartbeat_grace: 30         # seconds of silence before a running trial counts as lost

Validation collects every problem, each prefixed with its dotted field path, and raises one
:class:`SpecError` listing them all.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .backends import BACKENDS
from .samplers import PRUNERS, SAMPLERS, option_problems
from .space import SearchSpace, SearchSpaceError
from .storage import mask_password, resolve_storage

if TYPE_CHECKING:
    from .runner import StudyRunner

__all__ = ["PresetObjective", "RunSpec", "SpecError"]

#: Top-level keys of a spec, in the order ``to_dict`` writes them.
FIELDS = (
    "study",
    "storage",
    "direction",
    "directions",
    "objective",
    "space",
    "sampler",
    "pruner",
    "seed",
    "backend",
    "n_trials",
    "timeout",
    "retries",
    "heartbeat_grace",
)
_PRESET_FIELDS = (
    "preset",
    "dataset",
    "cv",
    "scoring",
    "fold_n_jobs",
    "fold_backend",
    "random_state",
)
_DATASETS = ("iris", "digits", "wine", "breast_cancer", "diabetes")
_DIRECTIONS = ("minimize", "maximize")
_ALIASES = {"min": "minimize", "max": "maximize"}
_REF_RE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


class SpecError(ValueError):
    """The spec is invalid; ``problems`` lists every problem as ``"field.path: message"``.

    Passwords in storage URLs are masked in every message.
    """

    def __init__(self, problems: Iterable[str], source: str | os.PathLike[str] | None = None):
        self.problems: list[str] = [mask_password(str(p)) for p in problems]
        self.source = None if source is None else os.fspath(source)
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problems, self.source))


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
        for name in _PRESET_FIELDS[2:]:
            value = getattr(self, name)
            if value != getattr(defaults, name):
                out[name] = value
        return out


@dataclass(frozen=True)
class RunSpec:
    """A validated run spec (see the module docstring for the YAML schema).

    ``base_dir`` is the spec file's directory, put on ``sys.path`` before the objective (or a
    ``module:function`` dataset) is imported.  It is not part of the YAML.
    """

    objective: str | PresetObjective
    study: str | None = None
    storage: str | None = None
    direction: str | None = None
    directions: tuple[str, ...] | None = None
    space: SearchSpace | None = None
    sampler: str = "tpe"
    sampler_options: dict[str, Any] = field(default_factory=dict)
    pruner: str = "none"
    pruner_options: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    backend: str = "threading"
    n_workers: int | None = None
    backend_options: dict[str, Any] = field(default_factory=dict)
    n_trials: int | None = None
    timeout: float | None = None
    retries: int = 1
    heartbeat_grace: float = 30.0
    base_dir: Path | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        # Specs get printed in notebooks and pasted into issues: the storage URL (or an option
        # such as a cluster URL) may carry a password.
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.repr
        )
        return mask_password(f"{type(self).__name__}({shown})")

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
        c = _Checker()
        for key in data:
            if key not in FIELDS:
                c.add(
                    str(key),
                    f"unknown field{_did_you_mean(key, FIELDS)} (fields: {', '.join(FIELDS)})",
                )

        kw: dict[str, Any] = {}
        study = data.get("study")
        if study is None:
            kw["study"] = default_study
        elif not isinstance(study, str) or not study.strip():
            c.add("study", f"must be a non-empty string, got {_show(study)}")
        else:
            kw["study"] = study

        storage = data.get("storage")
        if storage is not None:
            if not isinstance(storage, str):
                c.add("storage", f"must be a URL string or null, got {_show(storage)}")
            else:
                try:
                    resolve_storage(storage)
                    kw["storage"] = storage
                except ValueError as exc:
                    c.add("storage", _strip_field(str(exc), "storage"))

        direction, directions = data.get("direction"), data.get("directions")
        if direction is not None and directions is not None:
            c.add("direction", "give either direction or directions, not both")
        if direction is not None:
            kw["direction"] = c.choice(direction, "direction", _DIRECTIONS)
        if directions is not None:
            if not isinstance(directions, list) or not directions:
                c.add(
                    "directions",
                    f"must be a non-empty list like [minimize, maximize], got {_show(directions)}",
                )
            else:
                checked = [
                    c.choice(d, f"directions[{i}]", _DIRECTIONS) for i, d in enumerate(directions)
                ]
                kw["directions"] = tuple(d for d in checked if d is not None)

        objective = data.get("objective")
        if objective is None:
            c.add(
                "objective",
                "missing required field (write 'package.module:function' or "
                "{preset: RandomForest, dataset: iris})",
            )
        elif isinstance(objective, str):
            if _REF_RE.match(objective.strip()):
                kw["objective"] = objective.strip()
            else:
                c.add("objective", f"{objective!r} must look like 'package.module:function'")
        elif isinstance(objective, Mapping):
            kw["objective"] = _preset_from_dict(objective, c)
        else:
            c.add(
                "objective",
                f"must be 'package.module:function' or a preset mapping, got {_show(objective)}",
            )

        raw_space = data.get("space")
        if raw_space is not None:
            try:
                kw["space"] = SearchSpace.from_dict(raw_space)
            except SearchSpaceError as exc:
                for p in exc.problems:
                    text = str(p)
                    c.add("space" + ("." + text if p.param or p.field else ": " + text), None)
        preset = kw.get("objective")
        if isinstance(preset, PresetObjective) and kw.get("space") is not None:
            _check_preset_space(preset, kw["space"], c)

        sampler = c.named(data.get("sampler"), "sampler", SAMPLERS, default="tpe")
        if sampler is not None:
            kw["sampler"], kw["sampler_options"], _ = sampler
            _check_options(kw["sampler"], kw["sampler_options"], "sampler", c)
        pruner = c.named(data.get("pruner"), "pruner", PRUNERS, default="none")
        if pruner is not None:
            kw["pruner"], kw["pruner_options"], _ = pruner
            _check_options(kw["pruner"], kw["pruner_options"], "pruner", c)
        n_dirs = len(kw.get("directions") or ()) or 1
        if n_dirs > 1 and kw.get("pruner", "none") != "none":
            c.add("pruner", "Optuna cannot prune multi-objective studies; use pruner: none")

        kw["seed"] = c.integer(data.get("seed"), "seed")
        backend = c.named(
            data.get("backend"), "backend", BACKENDS, default="threading", extra=("n_workers",)
        )
        if backend is not None:
            kw["backend"], kw["backend_options"], extra = backend
            kw["n_workers"] = c.integer(
                extra.get("n_workers"),
                "backend.n_workers",
                minimum=0,
                hint="(0 = only external `hpo-widget worker` processes)",
            )
        kw["n_trials"] = c.integer(data.get("n_trials"), "n_trials", minimum=1)
        kw["timeout"] = c.number(data.get("timeout"), "timeout", positive=True)
        retries = c.integer(data.get("retries"), "retries", minimum=0)
        kw["retries"] = 1 if retries is None else retries
        grace = c.number(data.get("heartbeat_grace"), "heartbeat_grace", positive=True)
        kw["heartbeat_grace"] = 30.0 if grace is None else grace

        if c.problems:
            raise SpecError(c.problems)
        kw = {k: v for k, v in kw.items() if v is not None}
        return cls(base_dir=None if base_dir is None else Path(base_dir), **kw)

    def to_dict(self) -> dict[str, Any]:
        """The YAML form (fields at their defaults left out); ``from_dict`` reads it back."""
        out: dict[str, Any] = {}
        if self.study is not None:
            out["study"] = self.study
        if self.storage is not None:
            out["storage"] = self.storage
        if self.direction is not None:
            out["direction"] = self.direction
        if self.directions is not None:
            out["directions"] = list(self.directions)
        out["objective"] = (
            self.objective.to_dict()
            if isinstance(self.objective, PresetObjective)
            else self.objective
        )
        if self.space is not None:
            out["space"] = self.space.to_dict()
        out["sampler"] = _named_to_dict(self.sampler, self.sampler_options)
        if self.pruner != "none" or self.pruner_options:
            out["pruner"] = _named_to_dict(self.pruner, self.pruner_options)
        if self.seed is not None:
            out["seed"] = self.seed
        backend: dict[str, Any] = {"name": self.backend}
        if self.n_workers is not None:
            backend["n_workers"] = self.n_workers
        if self.backend_options:
            backend["options"] = dict(self.backend_options)
        out["backend"] = backend if len(backend) > 1 else self.backend
        for name, default in (
            ("n_trials", None),
            ("timeout", None),
            ("retries", 1),
            ("heartbeat_grace", 30.0),
        ):
            value = getattr(self, name)
            if value != default:
                out[name] = value
        return out

    def with_overrides(self, **overrides: Any) -> RunSpec:
        """A copy with fields replaced (``None`` values are ignored), validated again.

        Accepts the field names of this class (``study``, ``storage``, ``backend``,
        ``n_workers``, ``n_trials``, ``timeout``, ``seed``, ``sampler``, ``pruner``, ...).
        """
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if not overrides:
            return self
        unknown = [k for k in overrides if k not in {f.name for f in dataclasses.fields(self)}]
        if unknown:
            raise TypeError(f"with_overrides: unknown field(s) {', '.join(unknown)}")
        data = self.to_dict()
        backend: dict[str, Any] = {
            "name": self.backend,
            "n_workers": self.n_workers,
            "options": dict(self.backend_options),
        }
        sampler: dict[str, Any] = {"name": self.sampler, "options": dict(self.sampler_options)}
        pruner: dict[str, Any] = {"name": self.pruner, "options": dict(self.pruner_options)}
        for key, value in overrides.items():
            if key in ("backend", "n_workers"):
                backend["name" if key == "backend" else "n_workers"] = value
                data["backend"] = backend
            elif key in ("sampler", "pruner"):
                target = sampler if key == "sampler" else pruner
                target["name"] = value
                data[key] = target
            elif key.endswith("_options"):
                base = key[: -len("_options")]
                target = {"sampler": sampler, "pruner": pruner, "backend": backend}[base]
                target["options"] = dict(value)
                data[base] = target
            elif key == "space":
                data["space"] = value.to_dict() if isinstance(value, SearchSpace) else value
            elif key == "objective":
                data["objective"] = value.to_dict() if isinstance(value, PresetObjective) else value
            elif key == "directions":
                data.pop("direction", None)
                data["directions"] = list(value)
            elif key == "direction":
                data.pop("directions", None)
                data["direction"] = value
            elif key == "base_dir":
                continue
            else:
                data[key] = value
        base_dir = overrides.get("base_dir", self.base_dir)
        return type(self).from_dict(data, base_dir=base_dir)

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
        """A :class:`~hpo_widget.StudyRunner` for this spec (not started: call
        ``runner.start(n_trials=spec.n_trials, timeout=spec.timeout)``).

        ``overrides`` are applied first (see :meth:`with_overrides`).  Problems with the spec,
        including those only found now (import errors, unknown estimator options, a study that
        exists with other directions), raise :class:`SpecError`; a storage that cannot be opened
        raises ``RuntimeError``.
        """
        from .runner import StudyRunner

        spec = self.with_overrides(**overrides)
        objective, space = spec.build_objective()
        try:
            return StudyRunner(
                objective,
                space=space,
                study_name=spec.study,
                storage=spec.storage,
                direction=spec.direction,  # type: ignore[arg-type]
                directions=spec.directions,
                sampler=spec.sampler,
                sampler_options=spec.sampler_options,
                pruner=spec.pruner,
                pruner_options=spec.pruner_options,
                seed=spec.seed,
                backend=spec.backend,
                n_workers=spec.n_workers,
                backend_options=spec.backend_options,
                retries=spec.retries,
                heartbeat_grace=spec.heartbeat_grace,
            )
        except (ValueError, TypeError, ImportError) as exc:
            raise SpecError(str(exc).splitlines() or [type(exc).__name__]) from None


# -- validation helpers ----------------------------------------------------------------------
def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _did_you_mean(word: Any, options: Iterable[str]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _strip_field(message: str, name: str) -> str:
    prefix = f"{name}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _with_field(message: str, path: str) -> str:
    """Prefix ``path`` unless the message already names a field."""
    head = message.split(":", 1)[0]
    if ":" in message and re.fullmatch(r"[\w.\[\]]+", head):
        return message
    return f"{path}: {message}"


def _named_to_dict(name: str, options: Mapping[str, Any]) -> Any:
    return {"name": name, "options": dict(options)} if options else name


class _Checker:
    """Collects ``"path: message"`` problems."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, path: str, message: str | None) -> None:
        self.problems.append(path if message is None else f"{path}: {message}")

    def choice(self, value: Any, path: str, valid: Iterable[str]) -> str | None:
        valid = list(valid)
        if isinstance(value, str):
            key = _ALIASES.get(value.strip().lower(), value.strip().lower())
            if key in valid:
                return key
        self.add(
            path,
            f"must be one of {', '.join(valid)}, got {_show(value)}{_did_you_mean(value, valid)}",
        )
        return None

    def integer(
        self, value: Any, path: str, *, minimum: int | None = None, hint: str = ""
    ) -> int | None:
        if value is None:
            return None
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if isinstance(value, float) and value.is_integer():
            ok, value = True, int(value)
        if not ok or (minimum is not None and value < minimum):
            bound = f" >= {minimum}" if minimum is not None else ""
            extra = f" {hint}" if hint else ""
            self.add(path, f"must be an integer{bound}, got {_show(value)}{extra}")
            return None
        return int(value)

    def number(self, value: Any, path: str, *, positive: bool = False) -> float | None:
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not math.isfinite(float(value))
            or (positive and value <= 0)
        ):
            what = "a positive number" if positive else "a finite number"
            self.add(path, f"must be {what}, got {_show(value)}")
            return None
        return float(value)

    def named(
        self,
        value: Any,
        path: str,
        valid: Mapping[str, Any],
        *,
        default: str,
        extra: tuple[str, ...] = (),
    ) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
        """``name`` or ``{name, options, *extra}`` -> (name, options, extras)."""
        if value is None:
            return default, {}, {}
        if isinstance(value, str):
            name = _normalize(value)
            if name not in valid:
                self.add(path, _unknown_name(value, valid))
                return None
            return name, {}, {}
        if not isinstance(value, Mapping):
            keys = ", ".join(("name", *extra, "options"))
            self.add(path, f"must be a name or a mapping with {keys}; got {_show(value)}")
            return None
        allowed = ("name", *extra, "options")
        ok = True
        for key in value:
            if key not in allowed:
                hint = _did_you_mean(key, allowed)
                if not hint and key != "name":
                    hint = f"; put keyword arguments under {path}.options"
                self.add(f"{path}.{key}", f"unknown field (allowed: {', '.join(allowed)}){hint}")
                ok = False
        raw_name = value.get("name")
        name = default
        if raw_name is None:
            if path != "pruner":
                self.add(f"{path}.name", f"missing required field (one of {', '.join(valid)})")
                ok = False
        elif not isinstance(raw_name, str) or _normalize(raw_name) not in valid:
            self.add(f"{path}.name", _unknown_name(raw_name, valid))
            ok = False
        else:
            name = _normalize(raw_name)
        options = value.get("options")
        if options is None:
            options = {}
        elif not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
            self.add(
                f"{path}.options", f"must be a mapping of keyword arguments, got {_show(options)}"
            )
            ok = False
        extras = {k: value.get(k) for k in extra}
        return (name, dict(options), extras) if ok else None


def _normalize(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    return "none" if key in ("nop", "no", "null") else key


def _unknown_name(value: Any, valid: Mapping[str, Any]) -> str:
    hint = _did_you_mean(_normalize(value) if isinstance(value, str) else value, valid)
    return f"unknown {_show(value)}; choose one of {', '.join(valid)}{hint}"


def _check_options(name: str, options: Mapping[str, Any], path: str, c: _Checker) -> None:
    """Options the Optuna class does not take or would take but cannot use (a negative
    ``n_startup_trials``), caught before anything is opened or any trial runs."""
    for where, message in option_problems(path, name, options, path=f"{path}.options"):
        c.add(where, message)


def _preset_from_dict(raw: Mapping[str, Any], c: _Checker) -> PresetObjective | None:
    from .presets import ESTIMATORS

    before = len(c.problems)
    for key in raw:
        if key not in _PRESET_FIELDS:
            c.add(
                f"objective.{key}",
                f"unknown field{_did_you_mean(key, _PRESET_FIELDS)} "
                f"(preset fields: {', '.join(_PRESET_FIELDS)})",
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
            f"missing required field ({', '.join(_DATASETS)} or 'module:function' returning "
            "(X, y))",
        )
    elif not isinstance(dataset, str) or not (
        dataset in _DATASETS or _REF_RE.match(dataset.strip())
    ):
        hint = _did_you_mean(dataset, _DATASETS)
        c.add(
            "objective.dataset",
            f"unknown {_show(dataset)}; bundled ones are {', '.join(_DATASETS)}, or give "
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
