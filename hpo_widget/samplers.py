"""Samplers and pruners by name, so forms, YAML specs and the CLI can pick them as plain strings,
or as ready Optuna objects for what a name cannot say (a custom sampler, the Wilcoxon pruner).

Each worker process builds its own sampler from a :class:`SamplerSpec` (samplers hold RNG state
and are not meant to be shared across processes); workers get distinct seeds derived from the
user's seed so that parallel workers do not propose identical startup points.

The defaults follow :func:`optuna.create_study`, so that an example from Optuna's documentation
behaves the same here: TPE, and the median pruner for a single objective (Optuna cannot prune a
study with several objectives, so those get no pruner: see :func:`default_pruner_for`).
"""

from __future__ import annotations

import difflib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import optuna

from ._sampler_options import option_problems

if TYPE_CHECKING:
    from .space import SearchSpace

__all__ = [
    "MULTI_OBJECTIVE_PRUNER",
    "PRUNERS",
    "SAMPLERS",
    "SAMPLER_NEEDS",
    "PrunerLike",
    "PrunerSpec",
    "SamplerLike",
    "SamplerSpec",
    "default_pruner_for",
    "make_pruner",
    "make_sampler",
    "missing_package",
    "option_problems",
    "pruner_problems",
    "pruner_spec_for",
    "sampler_problems",
]

SAMPLERS: dict[str, str] = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "grid": "GridSampler",
    "cmaes": "CmaEsSampler",
    "qmc": "QMCSampler",
    "gp": "GPSampler",
    "nsgaii": "NSGAIISampler",
}
PRUNERS: dict[str, str | None] = {
    "none": None,
    "median": "MedianPruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
}
#: Samplers whose Optuna class imports a package only when it first samples: without it every
#: trial but the first would fail (and count), so it is checked when the spec is made.
#: name -> (module to import, how to install it).
SAMPLER_NEEDS: dict[str, tuple[str, str]] = {
    "cmaes": ("cmaes", "pip install cmaes"),
    "gp": ("torch", "pip install torch (the CPU build is enough)"),
    "qmc": ("scipy", "pip install scipy"),
}
#: Why a multi-objective study takes no pruner; runner, spec and panel all say the same.
MULTI_OBJECTIVE_PRUNER = (
    "pruner: Optuna cannot prune multi-objective studies; set pruner='none' "
    "or optimise a single objective"
)
_SEEDLESS = {"grid"}

#: What ``sampler=`` takes: a name of :data:`SAMPLERS` or an Optuna sampler object.
SamplerLike: TypeAlias = str | optuna.samplers.BaseSampler
#: What ``pruner=`` takes: a name of :data:`PRUNERS` or an Optuna pruner object.
PrunerLike: TypeAlias = str | optuna.pruners.BasePruner


_Problems = list[tuple[str, str]]


def _unknown(name: str, valid: list[str]) -> str:
    # The wording of every unknown name (config, spec, CLI, panel): one rule, one sentence.
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {name!r}; choose one of {', '.join(valid)}{hint}"


def _key(kind: str, name: str) -> str:
    """The registry key of a name as users write it (any case, dashes, ``nop`` for none)."""
    key = name.lower().replace("-", "_")
    return "none" if kind == "pruner" and key in ("nop", "no") else key


def missing_package(sampler: SamplerLike) -> tuple[str, str] | None:
    """``(module, install command)`` when ``sampler`` (a name or an object) needs a package
    that is not installed here, else ``None``; found without importing anything."""
    if isinstance(sampler, str):
        needed = SAMPLER_NEEDS.get(sampler)
    else:
        needed = next(
            (
                need
                for name, need in SAMPLER_NEEDS.items()
                if isinstance(sampler, getattr(optuna.samplers, SAMPLERS[name]))
            ),
            None,
        )
    if needed is None or importlib.util.find_spec(needed[0]) is not None:
        return None
    return needed


def _missing_problem(sampler: SamplerLike, label: str) -> str | None:
    needed = missing_package(sampler)
    if needed is None:
        return None
    return f"{label} needs the {needed[0]!r} package, which is not installed: {needed[1]}"


def _named_problems(kind: str, value: Any, options: Any, extra: _Problems) -> _Problems:
    """What is wrong with ``value`` (a name or an Optuna object of ``kind``) and its
    ``options``; ``extra`` are the object-only problems the caller found."""
    base = optuna.samplers.BaseSampler if kind == "sampler" else optuna.pruners.BasePruner
    if isinstance(value, base):
        if options:
            # Options configure a class built from a name; dropping them silently would run
            # something other than what the user asked for.
            message = (
                f"options go with a {kind} name only; {type(value).__name__} is already "
                f"built, so pass them to its constructor instead (got {options!r})"
            )
            extra = [(f"{kind}_options", message), *extra]
        return extra
    if not isinstance(value, str):
        got = f"got {type(value).__name__} {value!r}"
        return [(kind, f"must be a name or an optuna.{kind}s.{base.__name__} object, {got}")]
    registry: Mapping[str, Any] = SAMPLERS if kind == "sampler" else PRUNERS
    key = _key(kind, value)
    if key not in registry:
        return [(kind, _unknown(value, list(registry)))]
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        return [(f"{kind}_options", "must be a mapping of keyword arguments")]
    return option_problems(kind, key, options, path=f"{kind}_options")


def sampler_problems(
    sampler: SamplerLike, options: Mapping[str, Any] | None = None, seed: int | None = None
) -> list[tuple[str, str]]:
    """Every problem :class:`SamplerSpec` would raise for these arguments, as ``(field,
    message)`` pairs (empty when good), for forms and configs that show them all at once."""
    extra: _Problems = []
    if isinstance(sampler, optuna.samplers.BaseSampler):
        label = type(sampler).__name__
        if seed is not None:
            message = f"goes with a sampler name only; give it to the {label} itself"
            extra.append(("seed", f"{message} (e.g. {label}(seed={seed}))"))
        if (missing := _missing_problem(sampler, label)) is not None:
            extra.append(("sampler", missing))
    return _named_problems("sampler", sampler, options, extra)


def pruner_problems(
    pruner: PrunerLike | None, options: Mapping[str, Any] | None = None, *, n_objectives: int = 1
) -> list[tuple[str, str]]:
    """Every problem :func:`pruner_spec_for` would raise, as ``(field, message)`` pairs;
    ``pruner=None`` is the default (see :func:`default_pruner_for`)."""
    if pruner is None:
        if n_objectives > 1 and options:
            why = "a multi-objective study is not pruned, so these options have no pruner"
            return [("pruner_options", f"{why} to go to (got {dict(options)!r})")]
        pruner = default_pruner_for(n_objectives)
    problems = _named_problems("pruner", pruner, options, [])
    is_none = isinstance(pruner, optuna.pruners.NopPruner) or (
        isinstance(pruner, str) and _key("pruner", pruner) == "none"
    )
    if not problems and n_objectives > 1 and not is_none:
        problems.append(("pruner", MULTI_OBJECTIVE_PRUNER.removeprefix("pruner: ")))
    return problems


class _Named:
    name: Any

    @property
    def display_name(self) -> str:
        """The name, or the class name of an object (``"TPESampler"``), for labels and logs."""
        return self.name if isinstance(self.name, str) else type(self.name).__name__


@dataclass(frozen=True)
class SamplerSpec(_Named):
    """Sampler by name plus keyword options for its Optuna class, or an Optuna sampler object.

    An object (a custom :class:`~optuna.samplers.BaseSampler` subclass, a sampler built with
    arguments a name cannot carry) is used as given and carries its own settings, so it takes
    neither ``options`` nor ``seed``.  It travels to process workers by pickling, so each worker
    starts from a copy of its state: give a seeded object no seed, or pass the name and ``seed``,
    if parallel workers should not propose the same startup points.
    """

    name: SamplerLike = "tpe"
    options: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None

    def __post_init__(self) -> None:
        _raise_problems(sampler_problems(self.name, self.options, self.seed))
        if isinstance(self.name, str):
            object.__setattr__(self, "name", _key("sampler", self.name))


@dataclass(frozen=True)
class PrunerSpec(_Named):
    """Pruner by name (``none`` disables pruning) plus keyword options, or an Optuna pruner
    object (used as given, so it takes no ``options``; it reaches workers by pickling).

    The default is Optuna's own, ``median``; it suits one objective only (see
    :func:`default_pruner_for`)."""

    name: PrunerLike = "median"
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        name = self.name or "none"  # None and "" have always meant no pruning here
        _raise_problems(pruner_problems(name, self.options))
        object.__setattr__(self, "name", _key("pruner", name) if isinstance(name, str) else name)

    @property
    def is_none(self) -> bool:
        """Whether this never prunes (``none`` or a :class:`~optuna.pruners.NopPruner`): the
        only pruner a multi-objective study can have."""
        return self.name == "none" or isinstance(self.name, optuna.pruners.NopPruner)


def default_pruner_for(n_objectives: int) -> str:
    """The pruner name to use when the user chose none: Optuna's default (``median``) for one
    objective, ``none`` for several, which Optuna cannot prune (its ``create_study`` keeps the
    median pruner there only because ``trial.report`` then refuses to run)."""
    return "median" if n_objectives <= 1 else "none"


def pruner_spec_for(
    pruner: PrunerLike | None,
    options: Mapping[str, Any] | None = None,
    *,
    n_objectives: int = 1,
) -> PrunerSpec:
    """The :class:`PrunerSpec` for a study with ``n_objectives``; ``pruner=None`` picks
    :func:`default_pruner_for`.  Raises ValueError (naming the field) for a pruner that would
    prune a multi-objective study, so that no run starts with it."""
    _raise_problems(pruner_problems(pruner, options, n_objectives=n_objectives))
    name = default_pruner_for(n_objectives) if pruner is None else pruner
    return PrunerSpec(name, dict(options or {}))


# -- option validation -----------------------------------------------------------------------
# Optuna checks some options when the sampler or pruner is built and takes others silently that
# then fail (or quietly do nothing) mid-run: a negative n_startup_trials, n_ei_candidates=0,
# reduction_factor=1, a string where a bool goes. These rules catch those before any trial runs;
# everything else is left to building the Optuna object once (see option_problems).
def _raise_problems(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise ValueError("\n".join(f"{where}: {message}" for where, message in problems))


def _grid_from_space(space: SearchSpace | None) -> dict[str, list[Any]]:
    from .space import CategoricalParam, FloatParam, IntParam

    if space is None or len(space) == 0:
        raise ValueError(
            "sampler: grid needs a search space; pass space=... or "
            "sampler_options={'search_space': {'x': [1, 2, 3]}}"
        )
    grid: dict[str, list[Any]] = {}
    for p in space:
        if isinstance(p, CategoricalParam):
            grid[p.name] = list(p.choices)
        elif isinstance(p, IntParam):
            grid[p.name] = list(range(int(p.low), int(p.high) + 1, int(p.step or 1)))
        elif isinstance(p, FloatParam) and p.step is not None:
            n = round((p.high - p.low) / p.step)
            grid[p.name] = [p.low + i * p.step for i in range(n + 1)]
        else:
            raise ValueError(
                f"sampler: grid cannot enumerate {p.name!r} (a float without step); "
                "give it a step or pass sampler_options={'search_space': {...}}"
            )
    return grid


def make_sampler(
    spec: SamplerSpec, *, space: SearchSpace | None = None, worker_index: int = 0
) -> optuna.samplers.BaseSampler:
    """Build the Optuna sampler for one worker; ``worker_index`` offsets the seed.

    A sampler object in ``spec`` is returned as given: it is the user's, with its own settings.
    Process backends (loky, Spark, Dask) pickle it with the worker's task, so every worker gets
    its own copy; thread workers share the one object, as Optuna's ``n_jobs`` does.
    """
    if isinstance(spec.name, optuna.samplers.BaseSampler):
        return spec.name
    options = dict(spec.options)
    seed = options.pop("seed", spec.seed)
    if spec.name not in _SEEDLESS and seed is not None:
        options["seed"] = int(seed) + 7919 * worker_index
    cls = getattr(optuna.samplers, SAMPLERS[spec.name])
    if spec.name == "grid":
        search_space = options.pop("search_space", None) or _grid_from_space(space)
        if seed is not None:
            options["seed"] = int(seed)
        return cls(search_space, **options)
    try:
        return cls(**options)
    except ImportError as exc:
        raise ImportError(f"sampler: {spec.name!r} needs an optional package ({exc})") from exc
    except TypeError as exc:
        raise ValueError(f"sampler_options: {exc}") from None


def make_pruner(spec: PrunerSpec) -> optuna.pruners.BasePruner:
    """Build the Optuna pruner; an object in ``spec`` is returned as given (process workers
    get a pickled copy, thread workers share it)."""
    if isinstance(spec.name, optuna.pruners.BasePruner):
        return spec.name
    cls_name = PRUNERS[spec.name]
    if cls_name is None:
        return optuna.pruners.NopPruner()
    try:
        pruner: optuna.pruners.BasePruner = getattr(optuna.pruners, cls_name)(**spec.options)
        return pruner
    except TypeError as exc:
        raise ValueError(f"pruner_options: {exc}") from None
