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
"""

from __future__ import annotations

import difflib
import heapq
import json
import math
import numbers
import reprlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any, ClassVar, TypeAlias

import yaml
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import BaseTrial

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

#: What a categorical choice may be: the types Optuna's storages persist faithfully.
Choice: TypeAlias = str | int | float | bool | None

#: Optuna keeps int parameters as floats internally; beyond 2**53 they would silently change.
_MAX_INT = 2**53
#: More float steps than this cannot be told apart (nor handled by Optuna's decimal arithmetic).
_MAX_STEPS = 10**15
_MISSING: Any = object()  # a required field absent from a dict spec (already reported)
_TYPES = ("categorical", "float", "int")
_REQUIRED = {"float": ("low", "high"), "int": ("low", "high"), "categorical": ("choices",)}
_OPTIONAL = {
    "float": ("log", "step", "condition"),
    "int": ("log", "step", "condition"),
    "categorical": ("condition",),
}

_reprs = reprlib.Repr()
_reprs.maxstring = _reprs.maxother = 60


def _show(value: Any) -> str:
    """A short repr for messages; never raises (huge ints, deep nesting, odd objects)."""
    try:
        return _reprs.repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


def _did_you_mean(word: Any, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1) if isinstance(word, str) else []
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a space; ``param``/``field`` are ``None`` when not specific to one."""

    param: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = ".".join(part for part in (self.param, self.field) if part is not None)
        return f"{where}: {self.message}" if where else self.message


class SearchSpaceError(ValueError):
    """The space is invalid; ``problems`` holds every problem found, ``str()`` one per line.

    Everything is collected before raising so that a user fixing a form or a YAML file sees all
    mistakes at once instead of one per attempt.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self) -> tuple[Any, ...]:  # survive pickling across joblib/Spark workers
        return (type(self), (self.problems,))


_Add = Callable[[str | None, str], None]


def _reporter(param: str | None, problems: list[Problem]) -> _Add:
    return lambda fld, msg: problems.append(Problem(param, fld, msg))


def _raise_if(problems: list[Problem]) -> None:
    if problems:
        raise SearchSpaceError(problems)


def _label(name: Any) -> str:
    return name if isinstance(name, str) and name.strip() else _show(name)


def _check_name(name: Any, add: _Add) -> None:
    if not isinstance(name, str) or not name.strip():
        add("name", f"must be a non-empty string, got {_show(name)} (give the parameter a name)")


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _check_bool(x: Any, fld: str, add: _Add) -> bool:
    if not isinstance(x, bool):
        add(fld, f"must be true or false, got {_show(x)}")
        return False
    return x


def _float_value(x: Any, fld: str, add: _Add) -> float | None:
    if x is _MISSING:
        return None
    if isinstance(x, bool):
        add(fld, f"must be a number, got {x} (booleans are not numbers; write e.g. {fld}: 1)")
        return None
    if not _is_number(x):
        add(fld, f"must be a number, got {_show(x)} (write e.g. {fld}: 0.5)")
        return None
    try:
        value = float(x)
    except (OverflowError, ValueError, TypeError):
        value = math.inf
    if not math.isfinite(value):
        add(fld, f"must be a finite number, got {_show(x)} (NaN and infinity cannot be sampled)")
        return None
    return value


def _int_value(x: Any, fld: str, add: _Add) -> int | None:
    if x is _MISSING:
        return None
    value: int | None = None
    if isinstance(x, bool):
        add(fld, f"must be an integer, got {x} (booleans are not numbers; write e.g. {fld}: 1)")
        return None
    if isinstance(x, numbers.Integral) and not isinstance(x, bool):
        value = int(x)
    elif _is_number(x):
        f = _float_value(x, fld, add)
        if f is None:
            return None
        value = int(f) if f.is_integer() else None
    if value is None:
        add(fld, f"must be an integer, got {_show(x)} (use a whole number, or type: float)")
        return None
    if abs(value) > _MAX_INT:
        add(fld, f"must be within ±2**53 (Optuna stores ints as floats), got {_show(x)}")
        return None
    return value


def _check_range(low: Any, high: Any, log: bool, step: Any, add: _Add) -> None:
    """Checks shared by float and int ranges; ``step`` is ``None`` for a continuous range."""
    if low is None or high is None:
        return
    if low >= high:
        add(
            "high", f"must be greater than low, got low={low!r}, high={high!r} (swap or widen them)"
        )
        return
    if log and low <= 0:
        add("low", "must be > 0 when log=True (use a positive low or set log: false)")
    if isinstance(low, float) and not math.isfinite(high - low):
        add("high", "high - low is too large to represent as a float (narrow the range)")
        return
    if step is None or step <= 0:
        return
    # Exact decimal arithmetic on the shortest reprs, as Optuna does, so that 0.1..0.7 by 0.2 is
    # a whole number of steps; the ample precision keeps extreme ranges from raising.
    with localcontext(prec=1000):
        d_low, d_step = Decimal(str(low)), Decimal(str(step))
        span = Decimal(str(high)) - d_low
        n_steps = span // d_step
        shown = f"high - low = {type(low)(span)!r}"
        if d_step > span:
            add("step", f"{step!r} is larger than {shown} (use a smaller step or widen the range)")
        elif isinstance(low, float) and n_steps > _MAX_STEPS:
            fix = "use a larger step, or omit step for a continuous range"
            add("step", f"{step!r} makes {n_steps:.3g} values, too many to tell apart ({fix})")
        elif span % d_step:
            fix = f"use high: {type(low)(n_steps * d_step + d_low)!r}, or a step dividing the range"
            add("high", f"{shown} is not a multiple of step {step!r} ({fix})")


def _check_condition_object(condition: Any, add: _Add) -> None:
    if condition is not None and not isinstance(condition, Condition):
        add("condition", f"must be a Condition or None, got {_show(condition)}")


def _plain(value: Any) -> Any:
    """The builtin str/int/float for numpy scalars and the like: what JSON/YAML can write."""
    if isinstance(value, bool | str):
        return str(value) if isinstance(value, str) else value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        try:
            return float(value)
        except (OverflowError, ValueError, TypeError):
            return value
    return value


def _check_choices(values: Any, fld: str, add: _Add, *, what: str) -> tuple[Choice, ...]:
    """Validate category values (choices, or a condition's parent values); returns them with
    builtin types, so that they compare safely and serialise."""
    if not isinstance(values, list | tuple):
        scalar = values is None or isinstance(values, str | int | float)
        example = f" (write [{_show(values)}])" if scalar else ""
        add(fld, f"must be a list of {what}, got {_show(values)}{example}")
        return ()
    if not values:
        add(fld, f"must not be empty (list at least one of the {what})")
    plain, good = [_plain(v) for v in values], list[Choice]()
    for i, v in enumerate(plain):
        if v is not None and not isinstance(v, str | int | float):
            kinds = "str, int, float, bool or null"
            add(fld, f"item {i} is {_show(v)} ({type(v).__name__}); {what} must be {kinds}")
        elif isinstance(v, float) and not math.isfinite(v):
            add(fld, f"item {i} is {v!r}; {what} must be finite numbers (remove it)")
        elif isinstance(v, int) and abs(v) > _MAX_INT:
            add(fld, f"item {i} is beyond ±2**53, which JSON readers round (use a string)")
        elif (same := next((g for g in good if g == v), _MISSING)) is not _MISSING:
            if type(same) is type(v):
                add(fld, f"{_show(v)} is listed more than once (list each value once)")
            else:
                why = "Optuna cannot tell 1, 1.0 and True apart; keep one of them"
                add(fld, f"{_show(v)} equals {_show(same)}, which is already listed ({why})")
        else:
            good.append(v)
    return tuple(plain)


def _same_choice(a: Any, b: Any) -> bool:
    """Equality for category values that, unlike ``==``, keeps ``True`` apart from ``1``."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    try:
        return bool(a == b)
    except Exception:
        return False


@dataclass(frozen=True)
class Condition:
    """Makes a parameter exist only while the categorical ``parent`` takes one of ``values``."""

    parent: str
    values: tuple[Choice, ...]

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        add = _reporter(None, problems)
        values = _check_condition_fields(self.parent, self.values, add)
        _raise_if(problems)
        object.__setattr__(self, "parent", str(self.parent))
        object.__setattr__(self, "values", values)

    def matches(self, value: Any) -> bool:
        """Whether the parent having ``value`` makes the child active."""
        return any(_same_choice(value, v) for v in self.values)

    def to_dict(self) -> dict[str, list[Choice]]:
        return {self.parent: list(self.values)}


def _check_condition_fields(parent: Any, values: Any, add: _Add) -> tuple[Choice, ...]:
    if not isinstance(parent, str) or not parent.strip():
        add("condition", f"parent must be a parameter name, got {_show(parent)}")
    return _check_choices(values, "condition", add, what="parent values")


class _Range:
    """What float and int ranges share: their checks and their dict form."""

    TYPE: ClassVar[str]
    DEFAULT_STEP: ClassVar[int | None]
    name: str
    low: Any
    high: Any
    log: bool
    step: Any
    condition: Condition | None

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        add = _reporter(_label(self.name), problems)
        _check_name(self.name, add)
        number = _int_value if self.TYPE == "int" else _float_value
        low, high = number(self.low, "low", add), number(self.high, "high", add)
        log = _check_bool(self.log, "log", add)
        step = self.DEFAULT_STEP if self.step is None else number(self.step, "step", add)
        if step is not None and step <= 0:
            add("step", f"must be > 0, got {step!r} (use a positive step, or omit it)")
        if log and step is not None and step != self.DEFAULT_STEP:
            add("step", "cannot be combined with log=True (remove step or set log: false)")
        _check_range(low, high, log, step, add)
        _check_condition_object(self.condition, add)
        if problems or self.low is _MISSING or self.high is _MISSING:
            raise SearchSpaceError(problems)  # a missing field was reported by from_dict
        object.__setattr__(self, "name", str(self.name))
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "step", step)
        _finish(self, add, problems)

    def distribution(self) -> BaseDistribution:
        cls = IntDistribution if self.TYPE == "int" else FloatDistribution
        return cls(self.low, self.high, log=self.log, step=self.step)

    def to_dict(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": self.TYPE, "low": self.low, "high": self.high}
        if self.log:
            spec["log"] = True
        if self.step != self.DEFAULT_STEP:
            spec["step"] = self.step
        return _with_condition(spec, self.condition)


@dataclass(frozen=True)
class FloatParam(_Range):
    """A real-valued parameter in ``[low, high]``; ``log`` samples evenly in log space and
    ``step`` discretises the range (``low, low+step, ..., high``).  The two exclude each other,
    as in Optuna.  Bounds are stored as floats."""

    TYPE: ClassVar[str] = "float"
    DEFAULT_STEP: ClassVar[None] = None
    name: str
    low: float
    high: float
    log: bool = False
    step: float | None = None
    condition: Condition | None = None

    def suggest(self, trial: BaseTrial) -> float:
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)


@dataclass(frozen=True)
class IntParam(_Range):
    """An integer parameter in ``[low, high]`` taking ``low, low+step, ...``; ``log`` samples
    evenly in log space (then ``step`` must stay 1, as in Optuna).  ``step=None`` means 1, and
    whole floats such as ``2.0`` (a YAML or form artefact) become ints."""

    TYPE: ClassVar[str] = "int"
    DEFAULT_STEP: ClassVar[int] = 1
    name: str
    low: int
    high: int
    log: bool = False
    step: int = 1
    condition: Condition | None = None

    def suggest(self, trial: BaseTrial) -> int:
        return trial.suggest_int(self.name, self.low, self.high, log=self.log, step=self.step)


@dataclass(frozen=True)
class CategoricalParam:
    """A choice among ``choices`` (str, int, float, bool or None, all distinct); the only kind
    that can be the parent of a :class:`Condition`."""

    TYPE: ClassVar[str] = "categorical"
    name: str
    choices: tuple[Choice, ...]
    condition: Condition | None = None

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        add = _reporter(_label(self.name), problems)
        _check_name(self.name, add)
        choices = _check_choices(self.choices, "choices", add, what="choices")
        _check_condition_object(self.condition, add)
        _raise_if(problems)
        object.__setattr__(self, "name", str(self.name))
        object.__setattr__(self, "choices", choices)
        _finish(self, add, problems)

    def distribution(self) -> CategoricalDistribution:
        return CategoricalDistribution(self.choices)

    def suggest(self, trial: BaseTrial) -> Choice:
        return trial.suggest_categorical(self.name, self.choices)

    def to_dict(self) -> dict[str, Any]:
        spec = {"type": "categorical", "choices": list(self.choices)}
        return _with_condition(spec, self.condition)


#: Any parameter kind.
Param: TypeAlias = FloatParam | IntParam | CategoricalParam
_KINDS: dict[str, type[Param]] = {
    "float": FloatParam,
    "int": IntParam,
    "categorical": CategoricalParam,
}


def _finish(param: _Range | CategoricalParam, add: _Add, problems: list[Problem]) -> None:
    """Let Optuna's own distribution checks have the last word, so no param Optuna rejects
    can exist (ours run first because they explain the fix)."""
    try:
        param.distribution()
    except Exception as exc:
        add(None, f"rejected by Optuna: {exc}")
    _raise_if(problems)


def _with_condition(spec: dict[str, Any], condition: Condition | None) -> dict[str, Any]:
    if condition is not None:
        spec["condition"] = condition.to_dict()
    return spec


def _condition_from_spec(raw: Any, add: _Add) -> Condition | None:
    example = '(write e.g. condition: {"classifier": ["SVC"]})'
    if not isinstance(raw, Mapping):
        add("condition", f"must be a mapping {{parent: [values]}}, got {_show(raw)} {example}")
        return None
    if len(raw) != 1:
        parents = ", ".join(_show(k) for k in raw) or "none"
        add("condition", f"must name exactly one parent, got {parents} {example}")
        return None
    ((parent, values),) = raw.items()
    problems: list[Problem] = []
    _check_condition_fields(parent, values, _reporter(None, problems))
    for p in problems:
        add(p.field, p.message)
    return None if problems else Condition(parent, tuple(values))


def _param_from_spec(
    name: Any, spec: Any, problems: list[Problem]
) -> tuple[Param | None, Condition | None]:
    """Parse one dict-form spec, appending its problems.  Returns the parameter (``None`` when
    it had problems) and its condition, if that alone parsed, so it can still be cross-checked."""
    before = len(problems)
    add = _reporter(_label(name), problems)
    _check_name(name, add)
    if not isinstance(spec, Mapping):
        add(
            None, f"spec must be a mapping like {{type: float, low: 0, high: 1}}, got {_show(spec)}"
        )
        return None, None
    kind = spec.get("type", _MISSING)
    if kind is _MISSING:
        add("type", f"missing required field (use one of: {', '.join(_TYPES)})")
        return None, None
    if not isinstance(kind, str) or kind not in _TYPES:
        hint = _did_you_mean(kind, _TYPES)
        add("type", f"unknown type {_show(kind)} (use one of: {', '.join(_TYPES)}{hint})")
        return None, None
    allowed = ("type", *_REQUIRED[kind], *_OPTIONAL[kind])
    for key in spec:
        if not (isinstance(key, str) and key in allowed):
            hint = _did_you_mean(key, allowed)
            add(_label(key), f"unknown field (allowed for {kind}: {', '.join(allowed)}{hint})")
    fields = {k: spec.get(k, _MISSING) for k in _REQUIRED[kind]}
    for k, v in fields.items():
        if v is _MISSING:
            add(k, f"missing required field ({kind} parameters need {', '.join(_REQUIRED[kind])})")
    for k in _OPTIONAL[kind]:  # null means "the default", e.g. from an empty form field
        if spec.get(k) is not None:
            fields[k] = spec[k]
    condition = None
    if "condition" in fields:
        condition = fields["condition"] = _condition_from_spec(fields["condition"], add)
    if kind == "categorical" and fields["choices"] is _MISSING:
        return None, condition
    try:  # the constructor runs the very same checks; reuse its problems
        param = _KINDS[kind](name, **fields)
    except SearchSpaceError as exc:
        known = set(problems[before:])
        problems.extend(p for p in exc.problems if p not in known)
        return None, condition
    return (None if len(problems) > before else param), condition


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
