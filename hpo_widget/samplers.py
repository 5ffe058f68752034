"""Samplers and pruners by name, so forms, YAML specs and the CLI can pick them as plain strings.

Each worker process builds its own sampler from a :class:`SamplerSpec` (samplers hold RNG state
and are not meant to be shared across processes); workers get distinct seeds derived from the
user's seed so that parallel workers do not propose identical startup points.
"""

from __future__ import annotations

import difflib
import inspect
import math
import numbers
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna

if TYPE_CHECKING:
    from .space import SearchSpace

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "PrunerSpec",
    "SamplerSpec",
    "make_pruner",
    "make_sampler",
    "option_problems",
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
_SEEDLESS = {"grid"}


def _unknown(kind: str, name: str, valid: list[str]) -> ValueError:
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"{kind}: unknown name {name!r}; choose one of {', '.join(valid)}.{hint}")


@dataclass(frozen=True)
class SamplerSpec:
    """Sampler by name plus keyword options for its Optuna class."""

    name: str = "tpe"
    options: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None

    def __post_init__(self) -> None:
        name = self.name.lower().replace("-", "_")
        if name not in SAMPLERS:
            raise _unknown("sampler", self.name, list(SAMPLERS))
        object.__setattr__(self, "name", name)
        if not isinstance(self.options, dict):
            raise ValueError("sampler_options: must be a mapping of keyword arguments")
        _raise_problems(option_problems("sampler", name, self.options, path="sampler_options"))


@dataclass(frozen=True)
class PrunerSpec:
    """Pruner by name (``none`` disables pruning) plus keyword options."""

    name: str = "none"
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        name = (self.name or "none").lower().replace("-", "_")
        if name in ("nop", "no"):
            name = "none"
        if name not in PRUNERS:
            raise _unknown("pruner", self.name, list(PRUNERS))
        object.__setattr__(self, "name", name)
        if not isinstance(self.options, dict):
            raise ValueError("pruner_options: must be a mapping of keyword arguments")
        _raise_problems(option_problems("pruner", name, self.options, path="pruner_options"))


# -- option validation -----------------------------------------------------------------------
# Optuna checks some options when the sampler or pruner is built and takes others silently that
# then fail (or quietly do nothing) mid-run: a negative n_startup_trials, n_ei_candidates=0,
# reduction_factor=1, a string where a bool goes. These rules catch those before any trial runs;
# everything else is left to building the Optuna object once (see option_problems).
_Check = Callable[[Any], "str | None"]


def _integer(minimum: int, maximum: int | None = None) -> _Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            upper = f" and <= {maximum}" if maximum is not None else ""
            return f"must be an integer >= {minimum}{upper}, got {value!r}"
        value = int(value)
        if value < minimum:
            return f"must be >= {minimum}, got {value}"
        if maximum is not None and value > maximum:
            return f"must be <= {maximum}, got {value}"
        return None

    return check


def _real(low: float, high: float | None = None, *, open_low: bool = False) -> _Check:
    def check(value: Any) -> str | None:
        bound = f"> {low:g}" if open_low else f">= {low:g}"
        if high is not None:
            bound += f" and <= {high:g}"
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not math.isfinite(float(value))
        ):
            return f"must be a number {bound}, got {value!r}"
        value = float(value)
        if (value <= low if open_low else value < low) or (high is not None and value > high):
            return f"must be {bound}, got {value!r}"
        return None

    return check


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {value!r}"


def _function(value: Any) -> str | None:
    if callable(value):
        return None
    return f"must be a Python function (pass it through the Python API), got {value!r}"


def _instance(kind: type, what: str) -> _Check:
    def check(value: Any) -> str | None:
        if isinstance(value, kind):
            return None
        return f"must be {what} (pass it through the Python API), got {value!r}"

    return check


def _rules() -> dict[str, _Check]:
    from optuna.samplers.nsgaii import BaseCrossover, BaseMutation

    rules: dict[str, _Check] = {
        "n_startup_trials": _integer(0),
        "n_warmup_steps": _integer(0),
        "interval_steps": _integer(1),
        "n_min_trials": _integer(1),
        "n_ei_candidates": _integer(1),
        "population_size": _integer(2),
        "popsize": _integer(1),
        "inc_popsize": _integer(-1),
        "min_early_stopping_rate": _integer(0),
        "bootstrap_count": _integer(0),
        "reduction_factor": _integer(2),
        "min_resource": _integer(1),
        "max_resource": _integer(1),
        "seed": _integer(0, 2**32 - 1),
        "prior_weight": _real(0, open_low=True),
        "sigma0": _real(0, open_low=True),
        "mutation_prob": _real(0, 1),
        "crossover_prob": _real(0, 1),
        "swapping_prob": _real(0, 1),
        "x0": _instance(Mapping, "a mapping of parameter name -> start value"),
        "search_space": _instance(Mapping, "a mapping of parameter name -> list of values"),
        "independent_sampler": _instance(optuna.samplers.BaseSampler, "an Optuna sampler"),
        "mutation": _instance(BaseMutation, "an Optuna NSGA-II mutation"),
        "crossover": _instance(BaseCrossover, "an Optuna NSGA-II crossover"),
    }
    for name in (
        "consider_prior",
        "consider_magic_clip",
        "consider_endpoints",
        "multivariate",
        "group",
        "warn_independent_sampling",
        "constant_liar",
        "consider_pruned_trials",
        "use_separable_cma",
        "with_margin",
        "lr_adapt",
        "scramble",
        "warn_asynchronous_seeding",
        "deterministic_objective",
    ):
        rules[name] = _boolean
    for name in (
        "gamma",
        "weights",
        "constraints_func",
        "elite_population_selection_strategy",
        "child_generation_strategy",
        "after_trial_strategy",
    ):
        rules[name] = _function
    return rules


def _optuna_class(kind: str, name: str) -> type | None:
    registry: Mapping[str, str | None] = SAMPLERS if kind == "sampler" else PRUNERS
    cls_name = registry.get(name)
    module = optuna.samplers if kind == "sampler" else optuna.pruners
    return None if cls_name is None else getattr(module, cls_name)  # type: ignore[no-any-return,unused-ignore]


def option_problems(
    kind: str, name: str, options: Mapping[str, Any], *, path: str | None = None
) -> list[tuple[str, str]]:
    """Every problem with the keyword ``options`` of sampler/pruner ``name``, as
    ``(field path, message)`` pairs; empty when the options are good.

    ``kind`` is ``"sampler"`` or ``"pruner"``; ``path`` is where the options sit in the caller's
    input (``"sampler.options"`` in a spec, ``"sampler_options"`` in Python).  Unknown keywords,
    values Optuna would take but that are nonsense (``n_startup_trials: -3``) and whatever
    Optuna's own constructor rejects are all reported here, before any trial runs.

    >>> option_problems("sampler", "tpe", {"n_startup_trials": -3}, path="sampler.options")
    [('sampler.options.n_startup_trials', 'must be >= 0, got -3')]
    """
    path = path or f"{kind}.options"
    if not options:
        return []
    cls = _optuna_class(kind, name)
    if cls is None:
        return [(path, f"the {name!r} {kind} takes no options")]
    params = inspect.signature(cls).parameters
    names = [n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    rules = _rules()
    problems: list[tuple[str, str]] = []
    for key, value in options.items():
        where = f"{path}.{key}"
        if key not in params:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(
                (where, f"{cls.__name__} has no such argument{hint} (it takes: {', '.join(names)})")
            )
            continue
        default = params[key].default
        if value is None and default is None:
            continue  # None is Optuna's own default here
        if isinstance(default, str) and value == default:
            continue  # e.g. min_resource: auto
        check = rules.get(key)
        message = check(value) if check is not None else None
        if message is not None:
            if default == "auto":
                message += " (or 'auto')"
            problems.append((where, message))
    low, high = options.get("min_resource"), options.get("max_resource")
    if isinstance(low, int) and isinstance(high, int) and not problems and low > high:
        problems.append((f"{path}.max_resource", f"must be >= min_resource ({low}), got {high}"))
    if problems or (name == "grid" and "search_space" not in options):
        return problems  # a grid without its own search_space is built from the run's space
    try:
        with warnings.catch_warnings():  # experimental/deprecation notes come again at run time
            warnings.simplefilter("ignore")
            cls(**options)
    except ImportError as exc:
        problems.append((kind, f"{name!r} needs an optional package ({exc})"))
    except Exception as exc:
        text = str(exc) or type(exc).__name__
        named = [k for k in options if re.search(rf"\b{re.escape(str(k))}\b", text)]
        if not named and len(options) == 1:
            named = list(options)  # only one option could be the culprit
        where = f"{path}.{named[0]}" if len(named) == 1 else path
        problems.append((where, f"{cls.__name__} rejects it: {text}"))
    return problems


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
    """Build the Optuna sampler for one worker; ``worker_index`` offsets the seed."""
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
        raise ImportError(
            f"sampler: {spec.name!r} needs an optional package ({exc}); "
            "for 'gp' run `pip install torch` (CPU build is enough)"
        ) from exc
    except TypeError as exc:
        raise ValueError(f"sampler_options: {exc}") from None


def make_pruner(spec: PrunerSpec) -> optuna.pruners.BasePruner:
    cls_name = PRUNERS[spec.name]
    if cls_name is None:
        return optuna.pruners.NopPruner()
    try:
        pruner: optuna.pruners.BasePruner = getattr(optuna.pruners, cls_name)(**spec.options)
        return pruner
    except TypeError as exc:
        raise ValueError(f"pruner_options: {exc}") from None
