"""The search space: which hyperparameters to tune, over which ranges, under which conditions.

Optuna's distributions describe one parameter at a time and cannot say "``svc_c`` only exists
when ``classifier`` is ``"SVC"``".  The form, the YAML spec read by the CLI and the runner all
need one plain-data description that carries such conditions, serialises to JSON/YAML without
loss, and is checked *before* a single trial runs, with messages that name the parameter, the
field and the fix.  This module is that description; it samples itself define-by-run, so the
conditions become real Optuna behaviour.

Dict form (what :meth:`SearchSpace.from_dict` reads and :meth:`SearchSpace.to_dict` writes)::

    {"classifier": {"type": "categorical", "choices": ["SVC", "RandomForest"]},
     "svc_c": {"type": "float", "low": 1e-10, "high": 1e10, "log": True,
               "condition": {"classifier": ["SVC"]}}}

This module is the home of every public name; the field checks live in
:mod:`hpo_widget._space_checks` and the parameter kinds in :mod:`hpo_widget._space_params`
only to keep each file readable.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import BaseTrial

from ._space_checks import (
    Choice,
    Problem,
    SearchSpaceError,
    _did_you_mean,
    _label,
    _raise_if,
    _reporter,
    _same_choice,
    _show,
)
from ._space_params import (
    CategoricalParam,
    Condition,
    FloatParam,
    IntParam,
    Param,
    _param_from_spec,
)

__all__ = [
    "CategoricalParam",
    "Choice",
    "Condition",
    "FloatParam",
    "IntParam",
    "Param",
    "Problem",
    "SearchSpace",
    "SearchSpaceError",
]

# Pickles and tracebacks name the module users import the classes from, as before the split
# (and they keep working if the private modules move again).  typing.get_type_hints then looks
# their annotations up here, hence ClassVar among this module's names.
for _cls in (Problem, SearchSpaceError, Condition, FloatParam, IntParam, CategoricalParam):
    _cls.__module__ = __name__
del _cls
_ = ClassVar


def _space_problems(
    params: tuple[Any, ...], broken: Mapping[str, Condition | None] | None = None
) -> list[Problem]:
    """Checks across parameters: unique names and sound conditions (no unknown, non-categorical
    or self parents, values among the parent's choices, no cycles).  ``broken`` maps names that
    failed their own checks to their condition: children pointing at them are not blamed, and
    their conditions are still checked."""
    broken = broken or {}
    problems: list[Problem] = []
    by_name: dict[str, Param] = {}
    for i, p in enumerate(params):
        if not isinstance(p, FloatParam | IntParam | CategoricalParam):
            hint = " (use SearchSpace.from_dict for the dict form)" if isinstance(p, str) else ""
            problems.append(Problem(None, None, f"item {i} is {_show(p)}, not a parameter{hint}"))
        elif p.name in by_name:
            msg = "is defined more than once (names must be unique; rename or remove one)"
            problems.append(Problem(p.name, "name", msg))
        else:
            by_name[p.name] = p
    conditions = [(p.name, p.condition) for p in by_name.values()] + list(broken.items())
    for child, cond in conditions:
        if cond is None:
            continue
        add = _reporter(child, problems)
        parent = by_name.get(cond.parent)
        if cond.parent == child:
            add("condition", "a parameter cannot depend on itself (name another parameter)")
        elif parent is None:
            if cond.parent not in broken:
                names = [*by_name, *broken]
                hint = _did_you_mean(cond.parent, names)
                known = ", ".join(names) or "none"
                add("condition", f"unknown parent {cond.parent!r} (known: {known}{hint})")
        elif not isinstance(parent, CategoricalParam):
            fix = "only categorical parameters can be parents; make it one or drop the condition"
            add("condition", f"parent {cond.parent!r} is a {parent.TYPE} parameter ({fix})")
        else:
            for v in cond.values:
                if not any(_same_choice(v, c) for c in parent.choices):
                    choices = ", ".join(map(_show, parent.choices))
                    add("condition", f"{_show(v)} is not a choice of {cond.parent!r} ({choices})")
    seen: set[str] = set()
    for start in by_name:
        path: list[str] = []
        node: str | None = start
        while node is not None and node in by_name and node not in seen and node not in path:
            path.append(node)
            cond = by_name[node].condition
            node = cond.parent if cond is not None and cond.parent != node else None
        if node is not None and node in path:
            cycle = [*path[path.index(node) :], node]
            msg = f"conditions form a cycle {' -> '.join(cycle)} (remove one of them)"
            problems.append(Problem(node, "condition", msg))
        seen.update(path)
    return problems


def _topological(params: tuple[Param, ...]) -> tuple[Param, ...]:
    """Parents before children, otherwise the user's order (Kahn's algorithm, smallest index
    first), so that define-by-run sampling always knows a parent's value before its child."""
    children: dict[str, list[int]] = {}
    ready = []
    for i, p in enumerate(params):
        if p.condition is None:
            ready.append(i)
        else:
            children.setdefault(p.condition.parent, []).append(i)
    heapq.heapify(ready)
    order: list[Param] = []
    while ready:
        p = params[heapq.heappop(ready)]
        order.append(p)
        for child in children.get(p.name, ()):
            heapq.heappush(ready, child)
    return tuple(order)


@dataclass(frozen=True, init=False)
class SearchSpace:
    """An immutable, validated, ordered collection of parameters (parents before children).

    Build it from parameter objects, ``from_dict``/``from_json``/``from_yaml`` or
    ``from_distributions``; every route validates, so an existing space is always samplable.
    """

    params: tuple[Param, ...]

    def __init__(self, params: Iterable[Param] = ()) -> None:
        try:
            items = tuple(params)
        except TypeError as exc:
            msg = f"params must be an iterable of parameters, got {_show(params)}"
            raise SearchSpaceError([Problem(None, None, msg)]) from exc
        _raise_if(_space_problems(items))
        object.__setattr__(self, "params", _topological(items))

    @classmethod
    def empty(cls) -> SearchSpace:
        return cls(())

    @classmethod
    def from_dict(cls, data: Any) -> SearchSpace:
        """Read the dict form; raises :class:`SearchSpaceError` (and nothing else) listing every
        problem in every parameter, so any user input can be fed here safely."""
        if not isinstance(data, Mapping):
            msg = f"search space must be a mapping of name -> spec, got {_show(data)}"
            raise SearchSpaceError([Problem(None, None, msg)])
        problems: list[Problem] = []
        params: list[Param] = []
        broken: dict[str, Condition | None] = {}
        for name, spec in data.items():
            param, condition = _param_from_spec(name, spec, problems)
            if param is not None:
                params.append(param)
            elif isinstance(name, str):
                broken[name] = condition
        problems += _space_problems(tuple(params), broken)
        _raise_if(problems)
        return cls(params)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The dict form, leaving out fields at their defaults to keep specs small."""
        return {p.name: p.to_dict() for p in self.params}

    @classmethod
    def from_json(cls, text: str | bytes) -> SearchSpace:
        try:
            data = json.loads(text)
        except (ValueError, TypeError, RecursionError) as exc:
            raise SearchSpaceError([Problem(None, None, f"invalid JSON: {exc}")]) from exc
        return cls.from_dict(data)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_yaml(cls, text: str | bytes) -> SearchSpace:
        try:
            data = yaml.safe_load(text)
        except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
            raise SearchSpaceError([Problem(None, None, f"invalid YAML: {exc}")]) from exc
        if data is None:
            msg = "the YAML document is empty (write a mapping of name -> spec, or {} for none)"
            raise SearchSpaceError([Problem(None, None, msg)])
        return cls.from_dict(data)

    def to_yaml(self) -> str:
        """Readable UTF-8 YAML; escaped ASCII instead when PyYAML would write a character it
        reads back differently (it mangles e.g. U+0085 in unicode mode)."""
        data = self.to_dict()
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        return text if yaml.safe_load(text) == data else yaml.safe_dump(data, sort_keys=False)

    @classmethod
    def from_distributions(cls, distributions: Mapping[str, BaseDistribution]) -> SearchSpace:
        """The space Optuna recorded for define-by-run trials (e.g. ``trial.distributions``),
        so that it can be shown and edited like a declared one.  Conditions are not recorded
        by Optuna, so every parameter comes back unconditional."""
        problems: list[Problem] = []
        params: list[Param] = []
        for name, d in distributions.items():
            try:
                if isinstance(d, FloatDistribution):
                    params.append(FloatParam(name, d.low, d.high, log=d.log, step=d.step))
                elif isinstance(d, IntDistribution):
                    params.append(IntParam(name, d.low, d.high, log=d.log, step=d.step))
                elif isinstance(d, CategoricalDistribution):
                    params.append(CategoricalParam(name, tuple(d.choices)))
                else:
                    msg = f"unsupported distribution {type(d).__name__} (use Float/Int/Categorical)"
                    problems.append(Problem(_label(name), "type", msg))
            except SearchSpaceError as exc:
                problems += exc.problems
        _raise_if(problems)
        return cls(params)

    def distributions(self) -> dict[str, BaseDistribution]:
        """Optuna distributions for every parameter (what a trial records when it samples)."""
        return {p.name: p.distribution() for p in self.params}

    def suggest(self, trial: BaseTrial) -> dict[str, Any]:
        """Sample define-by-run: a conditional parameter is suggested only when its parent was
        sampled and took a listed value, so children of inactive parents stay inactive too."""
        values: dict[str, Any] = {}
        for p in self.params:
            cond = p.condition
            if cond is None or (cond.parent in values and cond.matches(values[cond.parent])):
                values[p.name] = p.suggest(trial)
        return values

    def active_names(self, params: Mapping[str, Any]) -> list[str]:
        """Names that apply given parameter values (e.g. ``trial.params``), in space order:
        unconditional ones, and conditional ones whose active parent has a listed value."""
        active: list[str] = []
        for p in self.params:
            cond = p.condition
            if cond is None or (
                cond.parent in active
                and cond.parent in params
                and cond.matches(params[cond.parent])
            ):
                active.append(p.name)
        return active

    def with_param(self, param: Param) -> SearchSpace:
        """A new space with ``param`` added, or replacing the one of the same name in place."""
        items = list(self.params)
        names = self.names
        if param.name in names:
            items[names.index(param.name)] = param
        else:
            items.append(param)
        return SearchSpace(items)

    def without(self, name: str) -> SearchSpace:
        """A new space without ``name``; raises if other parameters are conditioned on it."""
        if name not in self:
            raise KeyError(f"no parameter {name!r} (known: {', '.join(self.names) or 'none'})")
        return SearchSpace(p for p in self.params if p.name != name)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def __len__(self) -> int:
        return len(self.params)

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params)

    def __contains__(self, name: object) -> bool:
        return any(p.name == name for p in self.params)

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"no parameter {name!r} (known: {', '.join(self.names) or 'none'})")
