"""Plot data extraction: Optuna trials in, small frozen dataclasses of plain lists out.

Every function here is pure (no I/O, no plotting, no widgets) and takes the trials a caller
already has, typically ``study.get_trials(deepcopy=False)``. The trials are only read, never
copied or mutated. Extraction is written as plain Python loops over the trial list because that
is what is fastest at the sizes a notebook sees (10k trials in a few milliseconds).

The figure builders in :mod:`hpo_widget.plots.figures` turn these dataclasses into Plotly
figures; a live UI can recompute a dataclass cheaply and patch an existing figure's traces.
"""

from __future__ import annotations

import datetime
import math
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from .. import _attrs

if TYPE_CHECKING:
    from optuna.importance import BaseImportanceEvaluator

__all__ = [
    "DISPLAY_STATES",
    "Direction",
    "HistoryData",
    "ImportanceData",
    "IntermediateData",
    "ParallelCoordinatesData",
    "ParamAxis",
    "ParetoData",
    "TimelineData",
    "history_data",
    "importance_data",
    "intermediate_data",
    "parallel_coordinates_data",
    "pareto_data",
    "timeline_data",
]

#: A study direction as Optuna's enum or its lower-case name ("minimize" / "maximize").
Direction = StudyDirection | str

#: States shown on timeline / worker plots, in legend order. ``LOST`` is a FAIL trial that
#: :data:`hpo_widget._attrs.LOST` marks as failed for reasons outside the objective.
DISPLAY_STATES: tuple[str, ...] = ("COMPLETE", "PRUNED", "FAIL", "LOST", "RUNNING", "WAITING")

_STATE_NAME: dict[TrialState, str] = {s: s.name for s in TrialState}
_COMPLETE = TrialState.COMPLETE
_RUNNING = TrialState.RUNNING
_WAITING = TrialState.WAITING
_FAIL = TrialState.FAIL
_by_number = attrgetter("number")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _direction_name(direction: Direction) -> str:
    if isinstance(direction, StudyDirection):
        if direction == StudyDirection.NOT_SET:
            return "minimize"
        return direction.name.lower()
    name = str(direction).lower()
    if name not in ("minimize", "maximize"):
        raise ValueError(f"direction must be 'minimize' or 'maximize', not {direction!r}")
    return name


def _direction_names(directions: Direction | Sequence[Direction]) -> list[str]:
    if isinstance(directions, (StudyDirection, str)):
        return [_direction_name(directions)]
    return [_direction_name(d) for d in directions]


def _to_study_direction(name: str) -> StudyDirection:
    return StudyDirection.MAXIMIZE if name == "maximize" else StudyDirection.MINIMIZE


def _sorted_by_number(trials: Sequence[FrozenTrial]) -> Sequence[FrozenTrial]:
    """Return ``trials`` ordered by trial number, without copying when already ordered."""
    prev = -1
    for t in trials:
        n = t.number
        if n < prev:
            return sorted(trials, key=_by_number)
        prev = n
    return trials


def _is_feasible(system_attrs: dict[str, Any]) -> bool:
    """Whether all constraint values Optuna stored in ``system_attrs`` are <= 0."""
    for key, value in system_attrs.items():
        if not key.startswith("constraints"):
            continue
        if key == "constraints":  # Old format: a list of values.
            if value is not None and any(c > 0.0 for c in value):
                return False
        elif key.startswith("constraints:") and value > 0.0:
            return False
    return True


def _is_constrained(trials: Iterable[FrozenTrial]) -> bool:
    for t in trials:
        for key in t.system_attrs:
            if key == "constraints" or key.startswith("constraints:"):
                return True
    return False


def _display_state(trial: FrozenTrial) -> str:
    state = trial.state
    if state == _FAIL and trial.system_attrs.get(_attrs.LOST):
        return "LOST"
    return _STATE_NAME[state]


# --------------------------------------------------------------------------------------------
# Optimization history
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryData:
    """Objective value of every trial and the best-so-far curve, in trial-number order.

    ``values[i]`` is ``None`` unless trial ``numbers[i]`` is COMPLETE. ``best[i]`` is the best
    value among feasible COMPLETE trials with number <= ``numbers[i]`` (``None`` before the first).
    """

    direction: str
    target_name: str
    numbers: list[int] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    feasible: list[bool] = field(default_factory=list)
    best: list[float | None] = field(default_factory=list)

    @property
    def n_complete(self) -> int:
        return sum(v is not None for v in self.values)

    @property
    def is_empty(self) -> bool:
        """True when no trial has a value yet (the figure shows its empty state)."""
        return not any(v is not None for v in self.values)

    @property
    def best_value(self) -> float | None:
        return self.best[-1] if self.best else None


def history_data(
    trials: Sequence[FrozenTrial],
    direction: Direction | Sequence[Direction] = "minimize",
    *,
    target_index: int = 0,
    target_name: str | None = None,
) -> HistoryData:
    """Objective values and best-so-far of ``trials`` (any order; sorted by number here).

    Args:
        trials: Trials of one study, e.g. ``study.get_trials(deepcopy=False)``.
        direction: The study direction, or all directions of a multi-objective study.
        target_index: Which objective to use for a multi-objective study.
        target_name: Axis label; defaults to "Objective value" / "Objective <i>".
    """
    dirs = _direction_names(direction)
    if not 0 <= target_index < max(len(dirs), 1):
        raise ValueError(f"target_index {target_index} out of range for {len(dirs)} objective(s)")
    dname = dirs[target_index] if dirs else "minimize"
    if target_name is None:
        target_name = "Objective value" if len(dirs) <= 1 else f"Objective {target_index}"
    maximize = dname == "maximize"

    numbers: list[int] = []
    states: list[str] = []
    values: list[float | None] = []
    feasible: list[bool] = []
    best: list[float | None] = []
    cur: float | None = None
    state_name = _STATE_NAME
    prev = -1
    for t in trials:
        n = t.number
        if n < prev:  # Not in number order (unusual): sort once and start over.
            return history_data(
                sorted(trials, key=_by_number),
                direction,
                target_index=target_index,
                target_name=target_name,
            )
        prev = n
        numbers.append(n)
        state = t.state
        states.append(state_name[state])
        if state == _COMPLETE:
            vals = t.values
            if vals is not None and len(vals) > target_index:
                v = float(vals[target_index])
                ok = True
                for key in t.system_attrs:  # Constraints are rare: test keys before parsing.
                    if key.startswith("constraints"):
                        ok = _is_feasible(t.system_attrs)
                        break
                values.append(v)
                feasible.append(ok)
                if ok and v == v and (cur is None or (v > cur if maximize else v < cur)):
                    cur = v
                best.append(cur)
                continue
        values.append(None)
        feasible.append(True)
        best.append(cur)
    return HistoryData(dname, target_name, numbers, states, values, feasible, best)


# --------------------------------------------------------------------------------------------
# Parameter importances
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportanceData:
    """Normalized parameter importances, most important first.

    Empty (``params == []``) when they cannot be computed; ``message`` then says why.
    """

    params: list[str] = field(default_factory=list)
    importances: list[float] = field(default_factory=list)
    target_name: str = "Objective value"
    evaluator: str = ""
    n_trials: int = 0
    message: str = ""

    @property
    def is_empty(self) -> bool:
        return not self.params


class _TrialsStudy:
    """The read-only slice of :class:`optuna.study.Study` that importance evaluators use."""

    def __init__(self, trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection]):
        self._trials = list(trials)
        self.directions = list(directions)

    @property
    def direction(self) -> StudyDirection:
        return self.directions[0]

    @property
    def trials(self) -> list[FrozenTrial]:
        return self._trials

    def _is_multi_objective(self) -> bool:
        return len(self.directions) > 1

    def get_trials(
        self, deepcopy: bool = True, states: Iterable[TrialState] | None = None
    ) -> list[FrozenTrial]:
        if states is None:
            return list(self._trials)
        wanted = tuple(states)
        return [t for t in self._trials if t.state in wanted]


def importance_data(
    study_or_trials: Study | Sequence[FrozenTrial],
    directions: Direction | Sequence[Direction] | None = None,
    *,
    evaluator: BaseImportanceEvaluator | None = None,
    target_index: int | None = None,
    params: list[str] | None = None,
    target_name: str | None = None,
    min_trials: int = 2,
) -> ImportanceData:
    """Parameter importances via :func:`optuna.importance.get_param_importances`.

    Uses Optuna 5's default evaluator (PED-ANOVA) unless ``evaluator`` is given. Never raises for
    lack of data: with fewer than ``min_trials`` finished trials, no parameters or an evaluator
    error on degenerate data, it returns empty data with a ``message``.

    Args:
        study_or_trials: A study, or its trials (then ``directions`` is needed, default minimize).
        directions: Directions when passing trials; ignored for a study.
        evaluator: An Optuna importance evaluator; ``None`` means PED-ANOVA.
        target_index: For multi-objective studies, the objective to explain. ``None`` means
            "reaching the Pareto front" with PED-ANOVA and objective 0 with other evaluators.
        params: Restrict to these parameters (missing ones are dropped, not an error).
        target_name: Label for the figure; derived from ``target_index`` by default.
        min_trials: Fewest complete trials with finite values needed to compute anything.
    """
    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    if isinstance(study_or_trials, Study):
        study: Any = study_or_trials
        trials = study.get_trials(deepcopy=False)
        dirs = list(study.directions)
    else:
        trials = list(study_or_trials)
        dirs = [_to_study_direction(d) for d in _direction_names(directions or "minimize")]
        study = _TrialsStudy(trials, dirs)

    if evaluator is None:
        evaluator = PedAnovaImportanceEvaluator()
    evaluator_name = type(evaluator).__name__
    multi = len(dirs) > 1
    if multi and target_index is None and not isinstance(evaluator, PedAnovaImportanceEvaluator):
        target_index = 0
    if target_index is not None and not 0 <= target_index < len(dirs):
        raise ValueError(f"target_index {target_index} out of range for {len(dirs)} objective(s)")
    if target_name is None:
        if not multi:
            target_name = "Objective value"
        elif target_index is None:
            target_name = "Pareto front"
        else:
            target_name = f"Objective {target_index}"

    def empty(message: str, n: int = 0) -> ImportanceData:
        return ImportanceData([], [], target_name, evaluator_name, n, message)

    idx = target_index if target_index is not None else 0
    complete = [
        t
        for t in trials
        if t.state == _COMPLETE
        and t.values is not None
        and (
            all(math.isfinite(v) for v in t.values)
            if target_index is None
            else math.isfinite(t.values[idx])
        )
    ]
    n = len(complete)
    if n < max(min_trials, 2):
        return empty(
            f"Not enough completed trials to compute importances ({n} of {max(min_trials, 2)}).",
            n,
        )
    seen: dict[str, None] = {}
    for t in complete:
        for name in t.distributions:
            seen[name] = None
    names = [p for p in params if p in seen] if params is not None else list(seen)
    if not names:
        return empty("No parameters to assess.", n)

    target: Callable[[FrozenTrial], float] | None = None
    if multi and target_index is not None:
        sign = -1.0 if dirs[idx] == StudyDirection.MAXIMIZE else 1.0
        if not isinstance(evaluator, PedAnovaImportanceEvaluator):
            sign = 1.0  # Variance-based evaluators do not care about the sign.

        def _target(t: FrozenTrial) -> float:
            return sign * t.values[idx]

        target = _target

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            result = get_param_importances(
                study, evaluator=evaluator, params=names, target=target, normalize=True
            )
    except (ValueError, RuntimeError, ArithmeticError, IndexError) as exc:
        return empty(f"Importances could not be computed: {exc}", n)
    if not result:
        return empty("No parameters to assess.", n)
    ordered = sorted(result.items(), key=lambda kv: kv[1], reverse=True)
    return ImportanceData(
        [k for k, _ in ordered],
        [float(v) for _, v in ordered],
        target_name,
        evaluator_name,
        n,
        "",
    )


# --------------------------------------------------------------------------------------------
# Parallel coordinates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParamAxis:
    """One parameter axis of a parallel-coordinates plot.

    ``values[i]`` belongs to ``ParallelCoordinatesData.numbers[i]`` and is ``None`` when the
    parameter was inactive in that trial (conditional search space). Values are plotted as is
    for ``kind`` "float"/"int", as ``log10`` for "log", and as the index into ``ticktext`` for
    "categorical".
    """

    name: str
    kind: str
    values: list[float | None]
    tickvals: list[float] = field(default_factory=list)
    ticktext: list[str] = field(default_factory=list)

    @property
    def has_missing(self) -> bool:
        return any(v is None for v in self.values)


@dataclass(frozen=True, slots=True)
class ParallelCoordinatesData:
    """Complete trials with a finite objective, their objective (colour) and parameter axes."""

    direction: str
    target_name: str
    numbers: list[int] = field(default_factory=list)
    objective: list[float] = field(default_factory=list)
    axes: list[ParamAxis] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.numbers


def _axis_kind(dist: BaseDistribution) -> str:
    if isinstance(dist, CategoricalDistribution):
        return "categorical"
    if isinstance(dist, (FloatDistribution, IntDistribution)):
        if dist.log:
            return "log"
        return "int" if isinstance(dist, IntDistribution) else "float"
    return "float"


def _log_ticks(values: Iterable[float | None]) -> tuple[list[float], list[str]]:
    present = [v for v in values if v is not None]
    if not present:
        return [], []
    lo, hi = min(present), max(present)
    ticks = [float(e) for e in range(math.ceil(lo), math.floor(hi) + 1)]
    if not ticks or ticks[0] - lo > 1e-9:
        ticks.insert(0, lo)
    if hi - ticks[-1] > 1e-9:
        ticks.append(hi)
    return ticks, [f"{10.0**v:.3g}" for v in ticks]


def parallel_coordinates_data(
    trials: Sequence[FrozenTrial],
    params: Sequence[str] | None = None,
    *,
    direction: Direction | Sequence[Direction] = "minimize",
    target_index: int = 0,
    target_name: str | None = None,
) -> ParallelCoordinatesData:
    """Parameter axes over COMPLETE trials with a finite objective.

    Axes follow ``params`` when given (unknown names are dropped), otherwise all parameters seen,
    sorted by name. Categorical choices keep their distribution's order; log-scaled parameters
    are transformed with ``log10`` and get decade ticks.
    """
    dirs = _direction_names(direction)
    dname = dirs[target_index] if target_index < len(dirs) else "minimize"
    if target_name is None:
        target_name = "Objective value" if len(dirs) <= 1 else f"Objective {target_index}"

    rows: list[FrozenTrial] = []
    objective: list[float] = []
    for t in trials:  # Order does not matter for parallel coordinates.
        if t.state != _COMPLETE:
            continue
        vals = t.values
        if vals is None or len(vals) <= target_index:
            continue
        v = float(vals[target_index])
        if math.isfinite(v):
            rows.append(t)
            objective.append(v)

    # Optuna refuses a different distribution kind for an existing parameter name, so the
    # first distribution seen decides an axis's kind; identical key sets are skipped.
    param_dicts = [t.params for t in rows]
    dist_dicts = [t.distributions for t in rows]
    kinds: dict[str, str] = {}
    seen_keys: set[tuple[str, ...]] = set()
    for dd in dist_dicts:
        keys = tuple(dd)
        if keys in seen_keys:
            continue
        seen_keys.add(keys)
        for name, dist in dd.items():
            if name not in kinds:
                kinds[name] = _axis_kind(dist)
    names = [p for p in params if p in kinds] if params is not None else sorted(kinds)

    axes: list[ParamAxis] = []
    for name in names:
        kind = kinds[name]
        raw = [pd.get(name, _MISSING) for pd in param_dicts]
        values: list[float | None]
        tickvals: list[float] = []
        ticktext: list[str] = []
        if kind == "categorical":
            # Ticks: the union of the distributions' choices in their order, then any value
            # outside them. Keys include the type so that True and 1 stay distinct.
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
            values = []
            for v in raw:
                if v is _MISSING:
                    values.append(None)
                    continue
                i = index.get((type(v), v))
                if i is None:
                    i = index[(type(v), v)] = len(labels)
                    labels.append(str(v))
                values.append(float(i))
            tickvals = [float(i) for i in range(len(labels))]
            ticktext = labels
        elif kind == "log":
            log10 = math.log10
            values = [log10(v) if isinstance(v, (float, int)) and v > 0 else None for v in raw]
            tickvals, ticktext = _log_ticks(values)
        else:
            values = [float(v) if isinstance(v, (float, int)) else None for v in raw]
        axes.append(ParamAxis(name, kind, values, tickvals, ticktext))
    return ParallelCoordinatesData(dname, target_name, [t.number for t in rows], objective, axes)


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


# --------------------------------------------------------------------------------------------
# Intermediate values (learning / pruning curves)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IntermediateData:
    """Reported intermediate values of every trial that reported any, steps ascending."""

    numbers: list[int] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    steps: list[list[int]] = field(default_factory=list)
    values: list[list[float]] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.numbers


def intermediate_data(trials: Sequence[FrozenTrial]) -> IntermediateData:
    """Per-trial ``(step, value)`` curves with the trial state, for pruning plots."""
    numbers: list[int] = []
    states: list[str] = []
    steps: list[list[int]] = []
    values: list[list[float]] = []
    for t in _sorted_by_number(trials):
        iv = t.intermediate_values
        if not iv:
            continue
        items = sorted(iv.items())
        numbers.append(t.number)
        states.append(_display_state(t))
        steps.append([int(s) for s, _ in items])
        values.append([float(v) for _, v in items])
    return IntermediateData(numbers, states, steps, values)


# --------------------------------------------------------------------------------------------
# Pareto front
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParetoData:
    """COMPLETE trials split into the Pareto front, dominated and infeasible ones.

    ``*_values`` hold one list per objective (columns), aligned with ``*_numbers``. The front is
    sorted by its first objective so it can be drawn as a line.
    """

    directions: list[str]
    objective_names: list[str]
    front_numbers: list[int] = field(default_factory=list)
    front_values: list[list[float]] = field(default_factory=list)
    dominated_numbers: list[int] = field(default_factory=list)
    dominated_values: list[list[float]] = field(default_factory=list)
    infeasible_numbers: list[int] = field(default_factory=list)
    infeasible_values: list[list[float]] = field(default_factory=list)

    @property
    def n_objectives(self) -> int:
        return len(self.directions)

    @property
    def is_empty(self) -> bool:
        return not (self.front_numbers or self.dominated_numbers or self.infeasible_numbers)


def _pareto_front_mask(points: list[list[float]], directions: list[str]) -> list[bool]:
    """Fallback non-domination test (used only if Optuna's private helper moves)."""
    signs = [-1.0 if d == "maximize" else 1.0 for d in directions]
    loss = [tuple(s * v for s, v in zip(signs, p, strict=True)) for p in points]
    order = sorted(range(len(loss)), key=loss.__getitem__)
    front: list[tuple[float, ...]] = []
    mask = [False] * len(loss)
    for i in order:
        p = loss[i]
        dominated = any(all(a <= b for a, b in zip(q, p, strict=True)) and q != p for q in front)
        if not dominated:
            mask[i] = True
            front.append(p)
    return mask


def pareto_data(
    trials: Sequence[FrozenTrial],
    directions: Sequence[Direction],
    *,
    objective_names: Sequence[str] | None = None,
) -> ParetoData:
    """Pareto front of COMPLETE trials, like :attr:`optuna.study.Study.best_trials`.

    As in Optuna, when any trial carries constraints, only feasible trials can be on the front;
    infeasible ones are returned separately.
    """
    dirs = _direction_names(directions)
    n_obj = len(dirs)
    names = list(objective_names) if objective_names else [f"Objective {i}" for i in range(n_obj)]
    complete = [
        t
        for t in _sorted_by_number(trials)
        if t.state == _COMPLETE and t.values is not None and len(t.values) == n_obj
    ]
    constrained = _is_constrained(complete)
    feasible = [t for t in complete if _is_feasible(t.system_attrs)] if constrained else complete
    infeasible = [t for t in complete if not _is_feasible(t.system_attrs)] if constrained else []

    try:
        from optuna.study._multi_objective import _get_pareto_front_trials_by_trials

        front_ids = {
            id(t)
            for t in _get_pareto_front_trials_by_trials(
                feasible, [_to_study_direction(d) for d in dirs]
            )
        }
        on_front = [id(t) in front_ids for t in feasible]
    except ImportError:  # pragma: no cover - only if Optuna reorganizes its internals
        on_front = _pareto_front_mask([list(t.values) for t in feasible], dirs)

    front = sorted(
        (t for t, f in zip(feasible, on_front, strict=True) if f),
        key=lambda t: (t.values[0], t.number),
    )
    dominated = [t for t, f in zip(feasible, on_front, strict=True) if not f]

    def columns(ts: list[FrozenTrial]) -> list[list[float]]:
        return [[float(t.values[i]) for t in ts] for i in range(n_obj)]

    return ParetoData(
        dirs,
        names,
        [t.number for t in front],
        columns(front),
        [t.number for t in dominated],
        columns(dominated),
        [t.number for t in infeasible],
        columns(infeasible),
    )


# --------------------------------------------------------------------------------------------
# Timeline per worker
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineData:
    """Started trials as bars per worker.

    ``starts``/``ends`` are seconds since ``origin`` (POSIX time of the earliest start); a
    RUNNING trial ends at ``now``. ``workers`` lists worker ids in order of first appearance and
    ``counts[worker][state]`` counts trials per worker and display state (see
    :data:`DISPLAY_STATES`). WAITING trials (not started) are left out.
    """

    origin: float | None = None
    numbers: list[int] = field(default_factory=list)
    worker: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    fail_reasons: list[str | None] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not self.numbers

    def totals(self) -> dict[str, int]:
        """Trials per worker, all states together."""
        return {w: sum(c.values()) for w, c in self.counts.items()}


def timeline_data(
    trials: Sequence[FrozenTrial],
    *,
    default_worker: str = "unknown",
    now: float | None = None,
) -> TimelineData:
    """Start/end/state of every started trial, grouped by :data:`hpo_widget._attrs.WORKER`.

    Args:
        trials: Trials of one study.
        default_worker: Worker id for trials without the worker attribute (a local run may pass
            "driver").
        now: POSIX time used as the end of RUNNING trials; defaults to ``time.time()``.
    """
    if now is None:
        now = time.time()
    worker_key = _attrs.WORKER
    reason_key = _attrs.FAIL_REASON
    lost_key = _attrs.LOST
    state_name = _STATE_NAME

    numbers: list[int] = []
    worker: list[str] = []
    states: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    reasons: list[str | None] = []
    counts: dict[str, dict[str, int]] = {}
    first: dict[str, float] = {}
    # Offsets from the first start seen: naive datetime arithmetic is ~3x cheaper than
    # ``datetime.timestamp()`` (which goes through the local-time zone rules every call).
    ref: datetime.datetime | None = None
    now_offset = 0.0
    prev = -1
    for t in trials:
        n = t.number
        if n < prev:  # Not in number order (unusual): sort once and start over.
            return timeline_data(
                sorted(trials, key=_by_number), default_worker=default_worker, now=now
            )
        prev = n
        ds = t.datetime_start
        if ds is None:
            continue
        state = t.state
        if state == _WAITING:
            continue
        if ref is None:
            ref = ds
            now_offset = now - ref.timestamp()
        sa = t.system_attrs
        w = sa.get(worker_key)
        if type(w) is not str:
            w = default_worker if w is None else str(w)
        if state == _FAIL:
            name = "LOST" if sa.get(lost_key) else "FAIL"
            reason = sa.get(reason_key)
            reasons.append(None if reason is None else str(reason))
        else:
            name = state_name[state]
            reasons.append(None)
        start = (ds - ref).total_seconds()
        dc = t.datetime_complete
        end = now_offset if dc is None else (dc - ref).total_seconds()
        numbers.append(n)
        worker.append(w)
        states.append(name)
        starts.append(start)
        ends.append(end if end >= start else start)
        c = counts.get(w)
        if c is None:
            c = counts[w] = {}
            first[w] = start
        elif start < first[w]:
            first[w] = start
        c[name] = c.get(name, 0) + 1

    origin: float | None = None
    if ref is not None:
        shift = min(starts)
        origin = ref.timestamp() + shift
        if shift:
            starts = [s - shift for s in starts]
            ends = [e - shift for e in ends]
    # Workers in order of their first trial's start.
    workers = sorted(first, key=first.__getitem__)
    return TimelineData(
        origin,
        numbers,
        worker,
        states,
        starts,
        ends,
        reasons,
        workers,
        {w: counts[w] for w in workers},
    )
