"""The parameter kinds of a search space (float, int, categorical) and their conditions, and
reading one parameter from its dict form.  Public names are re-exported by
:mod:`hpo_widget.space`, their home.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import BaseTrial

from ._space_checks import (
    _MISSING,
    Choice,
    Problem,
    SearchSpaceError,
    _Add,
    _check_bool,
    _check_choices,
    _check_name,
    _check_range,
    _did_you_mean,
    _float_value,
    _int_value,
    _label,
    _raise_if,
    _reporter,
    _same_choice,
    _show,
)

_TYPES = ("categorical", "float", "int")
_REQUIRED = {"float": ("low", "high"), "int": ("low", "high"), "categorical": ("choices",)}
_OPTIONAL = {
    "float": ("log", "step", "condition"),
    "int": ("log", "step", "condition"),
    "categorical": ("condition",),
}


def _check_condition_object(condition: Any, add: _Add) -> None:
    if condition is not None and not isinstance(condition, Condition):
        add("condition", f"must be a Condition or None, got {_show(condition)}")


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
