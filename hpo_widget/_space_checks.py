"""Field checks of the search space: numbers, ranges, category values, and how problems are
collected, kept apart from the parameter classes (:mod:`hpo_widget._space_params`) so that each
module stays readable.  Public names are re-exported by :mod:`hpo_widget.space`, their home.
"""

from __future__ import annotations

import difflib
import math
import numbers
import reprlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any, TypeAlias

#: What a categorical choice may be: the types Optuna's storages persist faithfully.
Choice: TypeAlias = str | int | float | bool | None

#: Optuna keeps int parameters as floats internally; beyond 2**53 they would silently change.
_MAX_INT = 2**53
#: More float steps than this cannot be told apart (nor handled by Optuna's decimal arithmetic).
_MAX_STEPS = 10**15
_MISSING: Any = object()  # a required field absent from a dict spec (already reported)

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


def _missing_or_bool(x: Any, fld: str, add: _Add, *, what: str) -> bool:
    """Whether ``x`` has no number to read: absent (already reported) or a bool (reported
    here: ``True`` would otherwise pass as 1)."""
    if isinstance(x, bool):
        add(fld, f"must be {what}, got {x} (booleans are not numbers; write e.g. {fld}: 1)")
    return x is _MISSING or isinstance(x, bool)


def _float_value(x: Any, fld: str, add: _Add) -> float | None:
    if _missing_or_bool(x, fld, add, what="a number"):
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
    if _missing_or_bool(x, fld, add, what="an integer"):
        return None
    value: int | None = None
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
