"""The YAML / dict form of :class:`~hpo_widget.config.RunConfig`, and its JSON Schema.

Kept apart from the model so the model reads as the list of options and their rules; this
module only translates shapes (``sampler: tpe`` or ``{name, options}``, ``backend: {name,
n_workers, options}``, ``stop: {...}``) and maps attribute paths to YAML paths in problems.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from optuna.storages import BaseStorage

from ._checks import _did_you_mean, _show, normalize_direction
from .backends import BACKENDS
from .config import DIRECTIONS, YAML_PATHS, ConfigError, ConfigProblem, RunConfig
from .samplers import PRUNERS, SAMPLERS
from .stop_rules import StopRules

if TYPE_CHECKING:
    from .space import SearchSpace

#: Top-level keys of the YAML form, in the order ``to_dict`` writes them.
YAML_FIELDS = FIELDS = (
    "study",
    "storage",
    "direction",
    "directions",
    "sampler",
    "pruner",
    "seed",
    "backend",
    "n_trials",
    "timeout",
    "retries",
    "heartbeat_grace",
    "storage_proxy",
    "stop",
    "poll_interval",
    "max_relaunches",
)
#: YAML keys whose value is copied to the attribute of the same name as it is.
_PLAIN = (
    "storage",
    "seed",
    "n_trials",
    "timeout",
    "retries",
    "heartbeat_grace",
    "storage_proxy",
    "poll_interval",
    "max_relaunches",
)
_STOP_FIELDS = tuple(f.name for f in dataclasses.fields(StopRules))


def _yaml_path(path: str) -> str:
    head, dot, rest = path.partition(".")
    mapped = YAML_PATHS.get(head)
    if mapped is None:
        return path
    return mapped + (dot + rest if rest else "")


def _named(
    value: Any,
    path: str,
    valid: Mapping[str, Any],
    problems: list[ConfigProblem],
    *,
    extra: tuple[str, ...] = (),
    name_required: bool = True,
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """``name`` or ``{name, options, *extra}`` -> (name or None, options, extras)."""
    if value is None or isinstance(value, str):
        return value, {}, {}
    if not isinstance(value, Mapping):
        keys = ", ".join(("name", *extra, "options"))
        problems.append(
            ConfigProblem(path, f"must be a name or a mapping with {keys}; got {_show(value)}")
        )
        return None, {}, {}
    allowed = ("name", *extra, "options")
    for key in value:
        if key not in allowed:
            hint = _did_you_mean(key, allowed) or f"; put keyword arguments under {path}.options"
            problems.append(
                ConfigProblem(
                    f"{path}.{key}", f"unknown field (allowed: {', '.join(allowed)}){hint}"
                )
            )
    name = value.get("name")
    if name is None and name_required:
        problems.append(
            ConfigProblem(f"{path}.name", f"missing required field (one of {', '.join(valid)})")
        )
    options = value.get("options")
    if options is None:
        options = {}
    elif not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        problems.append(
            ConfigProblem(
                f"{path}.options", f"must be a mapping of keyword arguments, got {_show(options)}"
            )
        )
        options = {}
    return name, dict(options), {k: value.get(k) for k in extra if k in value}


def config_from_dict(
    data: Mapping[str, Any],
    *,
    default_study: str | None = None,
    space: SearchSpace | None = None,
    other_fields: Iterable[str] = (),
) -> RunConfig:
    problems: list[ConfigProblem] = []
    others = tuple(other_fields)
    known = (*FIELDS, *others)
    for key in data:
        if key not in known:
            problems.append(
                ConfigProblem(
                    str(key),
                    f"unknown field{_did_you_mean(key, known)} (fields: {', '.join(known)})",
                )
            )
    kw: dict[str, Any] = {k: data[k] for k in _PLAIN if data.get(k) is not None}
    study = data.get("study")
    kw["study_name"] = default_study if study is None else study

    direction, directions = data.get("direction"), data.get("directions")
    if direction is not None and directions is not None:
        problems.append(ConfigProblem("direction", "give either direction or directions, not both"))
    elif direction is not None:
        kw["directions"] = (normalize_direction(direction),)
    elif directions is not None:
        if not isinstance(directions, list) or not directions:
            problems.append(
                ConfigProblem(
                    "directions",
                    f"must be a non-empty list like [minimize, maximize], got {_show(directions)}",
                )
            )
        else:
            kw["directions"] = tuple(normalize_direction(d) for d in directions)

    name, options, _ = _named(data.get("sampler"), "sampler", SAMPLERS, problems)
    if name is not None:
        kw["sampler"] = name
    kw["sampler_options"] = options
    name, options, _ = _named(data.get("pruner"), "pruner", PRUNERS, problems, name_required=False)
    kw["pruner"] = name if name is not None or not options else "median"
    kw["pruner_options"] = options
    name, options, extra = _named(
        data.get("backend"), "backend", BACKENDS, problems, extra=("n_workers",)
    )
    if name is not None:
        kw["backend"] = name
    kw["backend_options"] = options
    kw["n_workers"] = extra.get("n_workers")

    stop = data.get("stop")
    if stop is not None:
        if not isinstance(stop, Mapping):
            problems.append(
                ConfigProblem(
                    "stop", f"must be a mapping with {', '.join(_STOP_FIELDS)}, got {_show(stop)}"
                )
            )
        else:
            for key in stop:
                if key not in _STOP_FIELDS:
                    problems.append(
                        ConfigProblem(
                            f"stop.{key}",
                            f"unknown rule{_did_you_mean(key, _STOP_FIELDS)} (rules: {', '.join(_STOP_FIELDS)})",
                        )
                    )
            kw["stop"] = StopRules(**{k: stop[k] for k in _STOP_FIELDS if stop.get(k) is not None})
    if isinstance(kw.get("n_trials"), float) and kw["n_trials"].is_integer():
        kw["n_trials"] = int(kw["n_trials"])  # YAML 1e3

    config = RunConfig(**kw)
    problems += [
        ConfigProblem(_yaml_path(p.field), p.message)
        for p in config.problems(space=space)
        if not any(q.field == _yaml_path(p.field) for q in problems)
    ]
    if problems:
        raise ConfigError(problems)
    return config


def _named_to_dict(name: Any, options: Mapping[str, Any], what: str) -> Any:
    if not isinstance(name, str):
        raise ValueError(
            f"{what}: {type(name).__name__} objects have no YAML form; use a name and options"
        )
    return {"name": name, "options": dict(options)} if options else name


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if config.study_name is not None:
        out["study"] = config.study_name
    if isinstance(config.storage, BaseStorage):
        raise ValueError("storage: an Optuna storage object has no YAML form; use its URL")
    if config.storage is not None:
        out["storage"] = str(config.storage)
    if config.directions is not None:
        if len(config.directions) == 1:
            out["direction"] = config.directions[0]
        else:
            out["directions"] = list(config.directions)
    out["sampler"] = _named_to_dict(config.sampler, config.sampler_options, "sampler")
    if config.pruner is not None or config.pruner_options:
        out["pruner"] = _named_to_dict(config.pruner or "median", config.pruner_options, "pruner")
    if config.seed is not None:
        out["seed"] = config.seed
    backend: dict[str, Any] = {"name": _named_to_dict(config.backend, {}, "backend")}
    if config.n_workers is not None:
        backend["n_workers"] = config.n_workers
    if config.backend_options:
        backend["options"] = dict(config.backend_options)
    out["backend"] = backend if len(backend) > 1 else backend["name"]
    defaults = RunConfig()
    for name in (
        "n_trials",
        "timeout",
        "retries",
        "heartbeat_grace",
        "poll_interval",
        "max_relaunches",
    ):
        value = getattr(config, name)
        if value != getattr(defaults, name):
            out[name] = value
    if config.storage_proxy:
        out["storage_proxy"] = dict(config.storage_proxy)
    if config.stop.active:
        out["stop"] = config.stop.to_dict()
    return out


# -- JSON Schema ---------------------------------------------------------------------------------
def _named_schema(
    names: Iterable[str], description: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    enum = {"enum": list(names)}
    return {
        "description": description,
        "oneOf": [
            {"type": "string", **enum},
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", **enum},
                    "options": {"type": "object"},
                    **(extra or {}),
                },
            },
        ],
    }


def json_schema(
    extra_properties: Mapping[str, Any] | None = None, required: Iterable[str] = ()
) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) of the YAML form, for editors that validate as you type."""
    positive = {"type": "number", "exclusiveMinimum": 0}
    optional_int = {"type": ["integer", "null"]}
    direction = {"type": "string", "enum": list(DIRECTIONS)}
    properties: dict[str, Any] = {
        "study": {
            "type": ["string", "null"],
            "minLength": 1,
            "description": "study name; default: the spec file's stem",
        },
        "storage": {
            "type": ["string", "null"],
            "description": "storage URL or journal path; null: ./hpo_studies.journal",
        },
        "direction": direction,
        "directions": {"type": "array", "items": direction, "minItems": 1},
        "sampler": _named_schema(SAMPLERS, "Optuna sampler (default tpe)"),
        "pruner": _named_schema(
            PRUNERS, "Optuna pruner (default median; none for several objectives)"
        ),
        "seed": optional_int,
        "backend": _named_schema(
            BACKENDS,
            "joblib backend (default threading)",
            {"n_workers": {"type": ["integer", "null"], "minimum": 0}},
        ),
        "n_trials": {
            "type": ["integer", "null"],
            "minimum": 1,
            "description": "the study's total of finished trials",
        },
        "timeout": {**positive, "type": ["number", "null"], "description": "seconds for one run"},
        "retries": {"type": "integer", "minimum": 0},
        "heartbeat_grace": positive,
        "storage_proxy": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "host": {"type": "string"},
                "port": {"type": "integer", "minimum": 0},
                "advertise": {"type": ["string", "null"]},
                "max_workers": {"type": "integer", "minimum": 1},
                "token": {"type": ["string", "null"]},
            },
        },
        "stop": {
            "type": "object",
            "additionalProperties": False,
            "description": "end the run early (see hpo_widget.stop_rules)",
            "properties": {
                name: {
                    "type": ["number", "null"]
                    if StopRules.kind_of(name) == "float"
                    else ["integer", "null"],
                    **({} if StopRules.kind_of(name) == "float" else {"minimum": 1}),
                    "description": doc,
                }
                for name, doc in StopRules.docs().items()
            },
        },
        "poll_interval": positive,
        "max_relaunches": {"type": "integer", "minimum": 0},
        **dict(extra_properties or {}),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/hpo-widget/hpo_widget/spec.schema.json",
        "title": "hpo_widget run spec",
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "required": list(required),
        "not": {"required": ["direction", "directions"]},
    }
