"""What the parameter figures share: the trials they plot, their target, and parameter columns.

Parallel coordinates, slice, contour and rank plots all draw "one objective against parameter
values" and must agree on the same questions: which trials count (COMPLETE with a finite value
of the chosen objective), how a parameter is scaled (log, int, float, categorical), how
categorical choices are ordered, what an inactive conditional parameter looks like (``None``)
and which parameters come first (by importance when known).  Answering them once keeps the
figures consistent with each other and keeps each extraction one pass over the trials.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, NotRequired, TypedDict, Unpack

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from ._common import chosen_objective, is_feasible

__all__ = [
    "MISSING",
    "ParamChoice",
    "ParamColumn",
    "ParamFigureData",
    "Target",
    "axis_kind",
    "categorical_column",
    "choose_params",
    "pairs_of",
    "param_columns",
    "param_kinds",
    "select_params",
    "target_rows",
]


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


#: Placeholder for a parameter a trial did not suggest (conditional search spaces).
MISSING: Any = _Missing()


def axis_kind(dist: BaseDistribution) -> str:
    """``"categorical"``, ``"log"``, ``"int"`` or ``"float"``: how an axis is scaled."""
    if isinstance(dist, CategoricalDistribution):
        return "categorical"
    if isinstance(dist, (FloatDistribution, IntDistribution)):
        if dist.log:
            return "log"
        return "int" if isinstance(dist, IntDistribution) else "float"
    return "float"


@dataclass(frozen=True, slots=True)
class Target:
    """The trials a parameter figure plots and the value it plots for each.

    ``rows`` are COMPLETE trials whose chosen objective is finite, in the order given;
    ``values[i]`` is that objective of ``rows[i]`` and ``feasible[i]`` whether its constraints
    (if any) hold.
    """

    direction: str
    target_name: str
    target_index: int
    rows: list[FrozenTrial] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    feasible: list[bool] = field(default_factory=list)

    @property
    def numbers(self) -> list[int]:
        return [t.number for t in self.rows]


def target_rows(
    trials: Sequence[FrozenTrial],
    direction: Any = "minimize",
    *,
    target_index: int = 0,
    target_name: str | None = None,
) -> Target:
    """COMPLETE trials with a finite value of objective ``target_index``, and that value.

    Raises ``ValueError`` for an objective the study does not have, so that a wrong selector
    value is an error rather than an empty figure.
    """
    dname, target_name = chosen_objective(direction, target_index, target_name)
    rows: list[FrozenTrial] = []
    values: list[float] = []
    feasible: list[bool] = []
    complete = TrialState.COMPLETE
    isfinite = math.isfinite
    for t in trials:
        if t.state != complete:
            continue
        vals = t.values
        if vals is None or len(vals) <= target_index:
            continue
        v = float(vals[target_index])
        if not isfinite(v):
            continue
        ok = is_feasible(t.system_attrs)
        rows.append(t)
        values.append(v)
        feasible.append(ok)
    return Target(dname, target_name, target_index, rows, values, feasible)


def param_kinds(rows: Sequence[FrozenTrial]) -> dict[str, str]:
    """Every parameter of ``rows`` and its axis kind, in first-seen (suggestion) order.

    Optuna refuses a different distribution kind for an existing parameter name, so the first
    distribution seen decides; identical key sets (the usual case) are looked at once.
    """
    kinds: dict[str, str] = {}
    seen_keys: set[tuple[str, ...]] = set()
    for t in rows:
        dd = t.distributions
        keys = tuple(dd)
        if keys in seen_keys:
            continue
        seen_keys.add(keys)
        for name, dist in dd.items():
            if name not in kinds:
                kinds[name] = axis_kind(dist)
    return kinds


def choose_params(
    kinds: dict[str, str],
    params: Sequence[str] | None = None,
    order: Sequence[str] = (),
    limit: int | None = None,
) -> list[str]:
    """The parameters to draw: ``params`` if given (unknown ones dropped), else those named in
    ``order`` (most important first) followed by the rest in first-seen order; at most
    ``limit``."""
    if params is not None:
        names = [p for p in params if p in kinds]
    else:
        ranked = [p for p in dict.fromkeys(order) if p in kinds]
        names = ranked + [p for p in kinds if p not in set(ranked)]
    return names if limit is None else names[:limit]


def pairs_of(n_params: int) -> list[tuple[int, int]]:
    """Index pairs of the first ``n_params`` parameters: (0, 1), (0, 2), (1, 2), ..."""
    return list(itertools.combinations(range(n_params), 2))


@dataclass(frozen=True, slots=True)
class ParamColumn:
    """One parameter's value in every plotted trial.

    ``values[i]`` belongs to the i-th plotted trial and is ``None`` when the parameter was
    inactive there.  Numeric kinds keep the raw value (a ``"log"`` column is drawn on a log
    axis); a ``"categorical"`` column holds the index into ``labels`` (choices in their
    distribution's order, then any other value seen).
    """

    name: str
    kind: str
    values: list[float | None]
    labels: list[str] = field(default_factory=list)

    @property
    def present(self) -> list[int]:
        """Positions where the parameter is active."""
        return [i for i, v in enumerate(self.values) if v is not None]

    def label(self) -> str:
        return self.name + (" (log)" if self.kind == "log" else "")


def categorical_column(
    name: str, raw: list[Any], dist_dicts: Sequence[dict[str, BaseDistribution]]
) -> tuple[list[float | None], list[str]]:
    """Choice indices and labels: the union of the distributions' choices in their order, then
    any value outside them. Keys include the type so that True and 1 stay distinct."""
    index: dict[tuple[type, Any], int] = {}
    labels: list[str] = []
    seen_choices: set[tuple[Any, ...]] = set()
    for dd in dist_dicts:
        d = dd.get(name)
        if type(d) is CategoricalDistribution and d.choices not in seen_choices:
            seen_choices.add(d.choices)
            for c in d.choices:
                if (type(c), c) not in index:
                    index[(type(c), c)] = len(labels)
                    labels.append(str(c))
    values: list[float | None] = []
    for v in raw:
        if v is MISSING:
            values.append(None)
            continue
        i = index.get((type(v), v))
        if i is None:
            i = index[(type(v), v)] = len(labels)
            labels.append(str(v))
        values.append(float(i))
    return values, labels


def param_columns(
    rows: Sequence[FrozenTrial], names: Sequence[str], kinds: dict[str, str]
) -> list[ParamColumn]:
    """A :class:`ParamColumn` per name in ``names`` over ``rows``."""
    param_dicts = [t.params for t in rows]
    dist_dicts = [t.distributions for t in rows]
    out: list[ParamColumn] = []
    for name in names:
        kind = kinds[name]
        raw = [pd.get(name, MISSING) for pd in param_dicts]
        if kind == "categorical":
            values, labels = categorical_column(name, raw, dist_dicts)
            out.append(ParamColumn(name, kind, values, labels))
            continue
        numeric: list[float | None] = []
        for v in raw:
            if isinstance(v, (float, int)) and (kind != "log" or v > 0):
                numeric.append(float(v))
            else:
                numeric.append(None)
        out.append(ParamColumn(name, kind, numeric))
    return out


@dataclass(frozen=True, slots=True)
class ParamFigureData:
    """What the slice, contour and rank plots share: COMPLETE trials with a finite objective
    and the columns of the parameters drawn.

    ``params`` hold one :class:`ParamColumn` per drawn parameter, aligned with ``numbers``;
    ``n_params`` counts every parameter seen (more than ``len(params)`` when capped);
    ``ranked`` says the order came from importances.  The figures' own data classes extend it.
    """

    direction: str
    target_name: str
    numbers: list[int] = field(default_factory=list)
    objective: list[float] = field(default_factory=list)
    feasible: list[bool] = field(default_factory=list)
    params: list[ParamColumn] = field(default_factory=list)
    n_params: int = 0
    ranked: bool = False

    @property
    def is_empty(self) -> bool:
        return not self.numbers or not self.params

    def shared(self) -> dict[str, Any]:
        """These fields as keywords, for building a figure's data class from them."""
        return {f.name: getattr(self, f.name) for f in fields(ParamFigureData)}


class ParamChoice(TypedDict):
    """What a parameter figure's caller may choose, passed on to :func:`select_params`."""

    target_index: NotRequired[int]
    target_name: NotRequired[str | None]
    params: NotRequired[Sequence[str] | None]
    param_order: NotRequired[Sequence[str]]


def select_params(
    trials: Sequence[FrozenTrial],
    direction: Any,
    *,
    max_params: int,
    **choice: Unpack[ParamChoice],
) -> ParamFigureData:
    """The plotted trials and the columns of the parameters to draw.

    Args:
        trials: Trials of one study, any order.
        direction: The study direction(s).
        max_params: Most parameters drawn.
        target_index: Which objective of a multi-objective study to plot (default 0).
        target_name: Its axis or colour-bar label; "Objective value" / "Objective <i>" by
            default.
        params: Exactly these parameters, in this order (unknown ones dropped); overrides
            ``param_order``.
        param_order: Parameters most important first (e.g. ``ImportanceData.params``); the
            others follow in suggestion order.
    """
    params = choice.get("params")
    param_order = choice.get("param_order", ())
    target = target_rows(
        trials,
        direction,
        target_index=choice.get("target_index", 0),
        target_name=choice.get("target_name"),
    )
    kinds = param_kinds(target.rows)
    names = choose_params(kinds, params, param_order, max_params)
    return ParamFigureData(
        target.direction,
        target.target_name,
        target.numbers,
        target.values,
        target.feasible,
        param_columns(target.rows, names, kinds),
        len(kinds),
        params is None and bool(names) and names[0] in set(param_order),
    )
