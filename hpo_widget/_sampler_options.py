"""The keyword options each Optuna sampler and pruner class takes, checked before anything runs.

Optuna checks some arguments only when a sampler first samples (a negative
``n_startup_trials`` fails every trial), so every option of a name is checked here by field,
with Optuna's own signature for unknown names and a rule per known argument.
"""

from __future__ import annotations

import difflib
import inspect
import math
import numbers
import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import optuna

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
    from .samplers import PRUNERS, SAMPLERS  # the catalog; imports this module

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
    values Optuna would take but that are nonsense (``n_startup_trials: -3``), whatever
    Optuna's own constructor rejects and a sampler whose package is not installed (reported at
    ``kind``, with the pip command) are all reported here, before any trial runs.

    >>> option_problems("sampler", "tpe", {"n_startup_trials": -3}, path="sampler.options")
    [('sampler.options.n_startup_trials', 'must be >= 0, got -3')]
    """
    from .samplers import _missing_problem

    path = path or f"{kind}.options"
    missing = _missing_problem(name, repr(name)) if kind == "sampler" else None
    if missing is not None:
        return [(kind, missing)]  # its options cannot be checked without the package either
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
