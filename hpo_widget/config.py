"""RunConfig: every option a run takes, checked in one place with one wording per rule.

:class:`~hpo_widget.StudyRunner`, the YAML spec (:mod:`hpo_widget.spec`), the panel's settings,
``%hpo`` and the CLI only build or read a :class:`RunConfig`; none of them validates options of
its own.  :meth:`RunConfig.problems` returns structured :class:`ConfigProblem` values (a field
path and a message that says the fix), so a form can put each message next to its widget and
the CLI can print them all at once.  Adding an option means adding a field here (with its
check, its YAML form and its schema entry) and, if it has a widget, the settings view.

The dict form is the YAML spec's (``study``, ``sampler: {name, options}``,
``backend: {name, n_workers, options}``, ``stop: {goal, patience, max_failed}``); attribute
names follow :class:`~hpo_widget.StudyRunner`'s keyword arguments.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from optuna.storages import BaseStorage

from ._checks import (
    _did_you_mean,
    _integer,
    _java_home,
    _number,
    _show,
    _unknown_name,
    normalize_name,
)
from .backends import BACKEND_OPTIONS, BACKENDS, Backend
from .samplers import (
    PrunerLike,
    SamplerLike,
    _grid_from_space,
    pruner_problems,
    sampler_problems,
)
from .stop_rules import StopRules
from .storage import mask_password, resolve_storage

if TYPE_CHECKING:
    from .space import SearchSpace

__all__ = ["ConfigError", "ConfigProblem", "RunConfig", "StopRules"]

DIRECTIONS = ("minimize", "maximize")

_PROXY_OPTIONS = ("host", "port", "advertise", "max_workers", "token")
#: Attribute -> where the option sits in the YAML form, for problems found in a spec.
YAML_PATHS = {
    "study_name": "study",
    "n_workers": "backend.n_workers",
    "sampler_options": "sampler.options",
    "pruner_options": "pruner.options",
    "backend_options": "backend.options",
}


@dataclass(frozen=True)
class ConfigProblem:
    """One thing to change: ``field`` is a dotted path (``stop.patience``, ``sampler_options.
    n_startup_trials``), ``message`` says what is wrong and how to fix it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    @property
    def root(self) -> str:
        """The top-level option (``stop`` for ``stop.goal``): what a form highlights."""
        return self.field.split(".", 1)[0].split("[", 1)[0]


class ConfigError(ValueError):
    """Raised with every problem of a configuration at once (one per line)."""

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        super().__init__(mask_password("\n".join(str(p) for p in self.problems)))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problems,))


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class RunConfig:
    """How to run a study (not what to tune: the objective and space travel beside it).

    ``n_trials`` is the study's **total** of finished trials, so starting again resumes to it;
    ``pruner=None`` is Optuna's default (the median pruner; none for several objectives).
    """

    study_name: str | None = None
    storage: str | BaseStorage | None = None
    directions: tuple[str, ...] | None = None  # None: the existing study's, else minimize
    sampler: SamplerLike = "tpe"
    sampler_options: Mapping[str, Any] = field(default_factory=dict)
    pruner: PrunerLike | None = None
    pruner_options: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    backend: str | Backend = "threading"
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    n_workers: int | None = None  # None: one per backend slot; 0: only `hpo-widget worker`s
    n_trials: int | None = None
    timeout: float | None = None
    retries: int = 1
    heartbeat_grace: float = 30.0
    storage_proxy: Mapping[str, Any] = field(default_factory=dict)
    stop: StopRules = field(default_factory=StopRules)
    poll_interval: float = 0.2
    max_relaunches: int = 2

    def __post_init__(self) -> None:
        for name in ("sampler_options", "pruner_options", "backend_options", "storage_proxy"):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                object.__setattr__(self, name, _frozen(value))
        if isinstance(self.directions, list):
            object.__setattr__(self, "directions", tuple(self.directions))
        if isinstance(self.stop, Mapping):
            object.__setattr__(self, "stop", StopRules(**dict(self.stop)))
        for name in ("sampler", "pruner", "backend"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, normalize_name(value))

    def __repr__(self) -> str:
        # Configs get printed in notebooks: the storage URL or an option may carry a password.
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != f.default
            and not (f.default_factory is not dataclasses.MISSING and not getattr(self, f.name))
        )
        return mask_password(f"RunConfig({shown})")

    # -- building -------------------------------------------------------------------------
    @classmethod
    def from_options(cls, base: RunConfig | None = None, **options: Any) -> RunConfig:
        """``base`` (default: all defaults) with ``StudyRunner``-style keyword options applied.

        Accepts every field name plus ``direction`` (one objective), ``goal``, ``patience`` and
        ``max_failed`` (the stop rules); unknown names raise TypeError with the known ones.
        """
        config = base or cls()
        changes: dict[str, Any] = {}
        given = options.pop("stop", None)  # StopRules or a mapping, then single rules on top
        if given is None:
            stop = dict(config.stop.to_dict())
        elif isinstance(given, StopRules):
            stop = given.to_dict()
        elif isinstance(given, Mapping):
            stop = {k: v for k, v in given.items() if v is not None}
        else:
            raise ConfigError(
                [ConfigProblem("stop", f"must be StopRules(...), got {_show(given)}")]
            )
        names = {f.name for f in dataclasses.fields(cls)}
        direction = options.pop("direction", None)
        if direction is not None:
            if options.get("directions") is not None:
                raise ConfigError(
                    [ConfigProblem("direction", "give either direction or directions, not both")]
                )
            changes["directions"] = (direction,)
        for key, value in options.items():
            if key in StopRules.docs():
                stop[key] = value
            elif key in names:
                changes[key] = value
            else:
                known = ", ".join(sorted(names | {"direction", *StopRules.docs()}))
                close = difflib.get_close_matches(key, sorted(names), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise TypeError(f"unknown run option {key!r}{hint} (known: {known})")
        if "directions" in changes and changes["directions"] is not None:
            directions = changes["directions"]
            changes["directions"] = (
                (directions,) if isinstance(directions, str) else tuple(directions)
            )
        for key in ("sampler_options", "pruner_options", "backend_options", "storage_proxy"):
            if key in changes and changes[key] is None:
                changes[key] = {}
        if "pruner" in changes and changes["pruner"] is None:
            changes["pruner"] = None
        changes["stop"] = StopRules(**stop)
        return dataclasses.replace(config, **changes)

    def replace(self, **options: Any) -> RunConfig:
        """A copy with options changed (same names as :meth:`from_options`)."""
        return type(self).from_options(self, **options)

    def checked(self, *, space: SearchSpace | None = None) -> RunConfig:
        """This config if it has no problems, else :class:`ConfigError` listing them all."""
        problems = self.problems(space=space)
        if problems:
            raise ConfigError(problems)
        return self

    # -- reading ----------------------------------------------------------------------------
    @property
    def n_objectives(self) -> int:
        return len(self.directions) if self.directions else 1

    @property
    def direction(self) -> str | None:
        """The direction of a single-objective config (None: not given, or several)."""
        return self.directions[0] if self.directions and len(self.directions) == 1 else None

    @property
    def sampler_name(self) -> str:
        return self.sampler if isinstance(self.sampler, str) else type(self.sampler).__name__

    @property
    def pruner_name(self) -> str:
        """``median`` ... or the class name of a pruner object; ``default`` for None."""
        if self.pruner is None:
            return "default"
        return self.pruner if isinstance(self.pruner, str) else type(self.pruner).__name__

    @property
    def backend_name(self) -> str:
        return self.backend if isinstance(self.backend, str) else self.backend.name

    # -- checking ---------------------------------------------------------------------------
    def problems(
        self, *, space: SearchSpace | None = None, define_by_run: bool = False
    ) -> list[ConfigProblem]:
        """Every option that cannot work, each with its field path and the fix; empty if none.

        ``space`` (the search space, when known) lets the grid sampler be checked too.
        Nothing is opened or imported (a missing package is found without importing it).
        """
        out: list[ConfigProblem] = []

        def add(path: str, message: str) -> None:
            out.append(ConfigProblem(path, message))

        if self.study_name is not None and (
            not isinstance(self.study_name, str) or not self.study_name.strip()
        ):
            add(
                "study_name",
                f"must be a non-empty string or empty (a new name), got {_show(self.study_name)}",
            )
        self._storage_problems(add)
        self._direction_problems(add)
        self._sampler_problems(add, space, define_by_run)
        self._pruner_problems(add)
        _integer(add, "seed", self.seed)
        self._backend_problems(add)
        _integer(
            add,
            "n_workers",
            self.n_workers,
            minimum=0,
            hint=" (0 = only external `hpo-widget worker` processes)",
        )
        _integer(
            add,
            "n_trials",
            self.n_trials,
            minimum=1,
            hint=" (the study's total; empty: until Stop)",
        )
        _number(add, "timeout", self.timeout, positive=True, unit=" of seconds")
        _integer(add, "retries", self.retries, minimum=0, required=True)
        _number(
            add,
            "heartbeat_grace",
            self.heartbeat_grace,
            positive=True,
            unit=" of seconds",
            required=True,
        )
        _number(
            add,
            "poll_interval",
            self.poll_interval,
            positive=True,
            unit=" of seconds",
            required=True,
        )
        _integer(add, "max_relaunches", self.max_relaunches, minimum=0, required=True)
        self._proxy_problems(add)
        if not isinstance(self.stop, StopRules):
            add(
                "stop",
                f"must be StopRules(goal=..., patience=..., max_failed=...), got {_show(self.stop)}",
            )
        else:
            for where, message in self.stop.problems(self.n_objectives):
                add(f"stop.{where}", message)
        return out

    def _storage_problems(self, add: Any) -> None:
        if self.storage is None or isinstance(self.storage, BaseStorage):
            return
        if not isinstance(self.storage, str | os.PathLike):
            add(
                "storage",
                f"must be a URL, a file path or an Optuna storage object, got {_show(self.storage)}",
            )
            return
        try:
            resolve_storage(os.fspath(self.storage))
        except (ValueError, TypeError) as exc:
            add("storage", str(exc).removeprefix("storage: "))

    def _direction_problems(self, add: Any) -> None:
        if self.directions is None:
            return
        if isinstance(self.directions, str) or not self.directions:
            add(
                "directions",
                f"give one of minimize/maximize per objective, like ('minimize', 'maximize'), got {_show(self.directions)}",
            )
            return
        for i, d in enumerate(self.directions):
            if d not in DIRECTIONS:
                path = "direction" if len(self.directions) == 1 else f"directions[{i}]"
                add(
                    path,
                    f"must be 'minimize' or 'maximize', got {_show(d)}{_did_you_mean(d, DIRECTIONS)}",
                )

    def _sampler_problems(self, add: Any, space: SearchSpace | None, define_by_run: bool) -> None:
        problems = sampler_problems(self.sampler, self.sampler_options, self.seed)
        for where, message in problems:
            add(where, message)
        grid_space = "search_space" in (self.sampler_options or {})
        if problems or self.sampler != "grid" or grid_space:
            return
        if space is None or len(space) == 0:
            if define_by_run or space is not None:
                why = "the objective samples its own parameters" if define_by_run else "it"
                add("sampler", f"the grid sampler needs a declared search space ({why} has none)")
            return
        try:
            _grid_from_space(space)
        except ValueError as exc:
            add("sampler", str(exc).removeprefix("sampler: "))

    def _pruner_problems(self, add: Any) -> None:
        for where, message in pruner_problems(
            self.pruner, self.pruner_options, n_objectives=self.n_objectives
        ):
            add(where, message)

    def _backend_problems(self, add: Any) -> None:
        backend = self.backend
        if isinstance(backend, Backend):
            if self.backend_options:
                add(
                    "backend_options",
                    "options go with a backend name only; pass them to the backend object's constructor",
                )
            return
        if not isinstance(backend, str) or backend.lower() not in BACKENDS:
            add("backend", _unknown_name(backend, BACKENDS, "a hpo_widget.backends.Backend object"))
            return
        if not isinstance(self.backend_options, Mapping):
            add(
                "backend_options",
                f"must be a mapping of keyword arguments, got {_show(self.backend_options)}",
            )
        name = backend.lower()
        known = BACKEND_OPTIONS[name]
        for key in self.backend_options if isinstance(self.backend_options, Mapping) else ():
            if key not in known:
                options = ", ".join(known) or "none"
                add(
                    f"backend_options.{key}",
                    f"not an option of the {name} backend{_did_you_mean(key, known)} "
                    f"(its options: {options})",
                )
        if name == "spark":
            self._kubernetes_problems(add)
            if importlib.util.find_spec("pyspark") is None:
                add("backend", "the spark backend needs pyspark: pip install pyspark")
            elif shutil.which("java") is None and not _java_home():
                add(
                    "backend",
                    "the spark backend needs Java 17+ (java is not on PATH and JAVA_HOME is not set)",
                )
        elif name == "dask" and importlib.util.find_spec("distributed") is None:
            add(
                "backend", "the dask backend needs dask.distributed: pip install 'hpo_widget[dask]'"
            )

    def _kubernetes_problems(self, add: Any) -> None:
        """master='k8s': the pod's environment must give the driver's settings (wordings in
        :func:`hpo_widget.backends.spark_kubernetes.kubernetes_problems`)."""
        from .backends import spark_kubernetes as k8s

        options = self.backend_options if isinstance(self.backend_options, Mapping) else {}
        conf = options.get("conf")
        master = options.get("master") or (
            conf.get("spark.master") if isinstance(conf, Mapping) else None
        )
        if options.get("spark") is not None:
            return  # a given session: its conf is what it is
        if not k8s.is_kubernetes_master(master):
            for key in k8s.KUBERNETES_OPTIONS:
                if key in options:
                    add(
                        f"backend_options.{key}",
                        "only applies to master='k8s' (or 'k8s://...'): Spark on Kubernetes",
                    )
            return
        for path, message in k8s.kubernetes_problems(options, os.environ):
            add(path, message)

    def _proxy_problems(self, add: Any) -> None:
        if not isinstance(self.storage_proxy, Mapping):
            add(
                "storage_proxy",
                f"must be a mapping like {{'host': '0.0.0.0', 'advertise': 'driver-ip'}}, got {_show(self.storage_proxy)}",
            )
            return
        for key in self.storage_proxy:
            if key not in _PROXY_OPTIONS:
                add(
                    f"storage_proxy.{key}",
                    f"unknown option{_did_you_mean(key, _PROXY_OPTIONS)} (options: {', '.join(_PROXY_OPTIONS)})",
                )

    # -- dict / YAML ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The spec's YAML form, options at their defaults left out; :func:`from_dict` reads it.

        Objects (an Optuna storage, sampler or pruner object, a Backend) have no YAML form:
        raises ValueError naming the field.
        """
        from ._config_io import config_to_dict

        return config_to_dict(self)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        default_study: str | None = None,
        space: SearchSpace | None = None,
        other_fields: Iterable[str] = (),
    ) -> RunConfig:
        """Read the YAML form; structure problems (unknown keys, wrong shapes) and
        :meth:`problems` are raised together as one :class:`ConfigError`, with YAML paths.

        ``other_fields`` are keys the caller reads itself (a spec's ``objective``, ``space``).
        """
        from ._config_io import config_from_dict

        return config_from_dict(
            data, default_study=default_study, space=space, other_fields=other_fields
        )

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> RunConfig:
        import yaml

        data = yaml.safe_load(text) or {}
        if not isinstance(data, Mapping):
            raise ConfigError(
                [ConfigProblem("", f"a run config must be a mapping, got {_show(data)}")]
            )
        return cls.from_dict(data)
