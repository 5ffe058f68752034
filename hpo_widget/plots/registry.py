"""The one list of figures: every view of a study (live panel, report, dashboard) reads it.

Why a registry: each consumer used to name every figure itself (a tab list, a branch per
figure, a title table), so a new figure meant editing six places.  Here a figure is a
:class:`FigureKind`, plain data that says what it is called, what it needs and how to go from
trials to data to a Plotly figure; consumers loop over :data:`FIGURES`.  Adding a figure is one
module (its dataclass, ``*_data`` and ``*_figure``) plus one entry below.

Order matters: it is the order of tabs and report sections.  The Pareto front comes first
because, where it applies, it is the figure to look at first; the importances come before the
slice, contour and rank plots because those draw the most important parameters first and
:func:`build_figures` hands them the importances it has just computed.

Two choices a view makes apply to every kind: the objective of a multi-objective study
(:attr:`FigureOptions.objective`, for the kinds marked ``per_objective``) and the theme
(``theme="light" | "dark"``, see :mod:`hpo_widget.plots.theme`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Generic, Literal, TypeVar, get_args

import plotly.graph_objects as go
from optuna.study import Study
from optuna.trial import FrozenTrial

from . import (
    contour,
    edf,
    history,
    importance,
    intermediate,
    parallel_coordinates,
    pareto,
    rank,
    timeline,
    workers,
)
from . import slice as slice_
from ._common import Direction
from .theme import check_theme

__all__ = [
    "FIGURES",
    "TITLES",
    "FigureKind",
    "FigureOptions",
    "Need",
    "build_figures",
    "figure_kind",
    "figures_for_study",
    "kinds_for",
    "resolve_objective",
]

#: What a figure needs to be worth showing.  The objective needs decide whether a view offers
#: it at all; ``"intermediate_values"`` only lets a finished summary (the report) leave out a
#: section that would say "nothing here", while live views keep it since the data may come.
Need = Literal["single_objective", "multi_objective", "intermediate_values"]
_NEEDS: frozenset[str] = frozenset(get_args(Need))

D = TypeVar("D")


@dataclass(frozen=True, slots=True)
class FigureOptions:
    """What a view knows about a study besides its trials and directions."""

    #: The study's metric names (``Study.metric_names``), used as axis labels.
    metric_names: tuple[str, ...] = ()
    #: Worker id for trials without one (a local run in the panel says "driver").
    default_worker: str = "unknown"
    #: POSIX time at which RUNNING trials end on the timeline; ``None`` means now.
    now: float | None = None
    #: The objective that ``per_objective`` kinds show in a multi-objective study: its index,
    #: or its name in ``metric_names``.  ``None``: objective 0, except for the importances,
    #: which then explain reaching the Pareto front.
    objective: int | str | None = None
    #: Parameters most important first (e.g. ``ImportanceData.params``): the slice, contour and
    #: rank plots draw those first.  :func:`build_figures` fills it from the importances it
    #: computes; empty means suggestion order.
    param_order: tuple[str, ...] = ()

    def objective_index(self, n_objectives: int) -> int | None:
        """:attr:`objective` as an index (``None`` stays ``None``); see :func:`resolve_objective`."""
        return resolve_objective(self.objective, n_objectives, self.metric_names)

    def target_label(self, index: int | None, n_objectives: int) -> str | None:
        """The axis label for objective ``index``: its metric name, else ``None`` (the data
        function's default, "Objective value" / "Objective <i>")."""
        i = 0 if index is None else index
        if i < len(self.metric_names):
            return self.metric_names[i]
        return None

    @property
    def target_name(self) -> str | None:
        """Label of the selected objective (objective 0 by default), if the study names it."""
        n = max(len(self.metric_names), 1)
        try:
            return self.target_label(self.objective_index(n), n)
        except ValueError:
            return None


def resolve_objective(
    objective: int | str | None, n_objectives: int, metric_names: Sequence[str] = ()
) -> int | None:
    """An objective given by index or by metric name, as an index checked against the study.

    A string of digits that is not a metric name is read as an index, so a query parameter
    (``?objective=1``) can be passed as it comes.  The errors name the valid choices.
    """
    if objective is None:
        return None
    if isinstance(objective, str):
        names = list(metric_names)
        if objective in names:
            return names.index(objective)
        if not objective.strip().isdigit():
            choices = ", ".join(names) if names else f"an index below {n_objectives}"
            raise ValueError(f"unknown objective {objective!r}; choose {choices}")
        objective = int(objective)
    if isinstance(objective, bool) or not 0 <= objective < max(n_objectives, 1):
        raise ValueError(f"objective {objective!r} out of range for {n_objectives} objective(s)")
    return int(objective)


#: ``(trials, directions, options) -> data``: the common signature of every kind's extraction.
DataFunction = Callable[[Sequence[FrozenTrial], Sequence[Direction], FigureOptions], D]


#: ``(data, *, theme) -> Figure``: every kind's Plotly builder.
FigureFunction = Callable[..., go.Figure]


@dataclass(frozen=True, slots=True)
class FigureKind(Generic[D]):
    """One figure: its names, what it needs, its data extraction and its Plotly builder.

    Kinds whose ``data`` is the same function share one extraction (see :func:`build_figures`).
    A ``slow`` kind's data takes seconds; live views compute it off the main thread and show
    ``placeholder(message)`` (empty data carrying the message) until it is ready.
    ``figure`` takes the data and a keyword ``theme`` ("light" or "dark").
    """

    name: str
    title: str
    #: Short label for a tab or a menu.
    label: str
    data: DataFunction[D]
    figure: FigureFunction
    needs: frozenset[Need] = frozenset()
    #: In a summary (report, :func:`figures_for_study`) this kind is left out when the named
    #: kind applies: the Pareto front replaces the history of objective 0.
    superseded_by: str | None = None
    slow: bool = False
    placeholder: Callable[[str], D] | None = None
    #: Follows :attr:`FigureOptions.objective`: a view of a multi-objective study offers an
    #: objective selector while this kind is shown.
    per_objective: bool = False
    #: Draws parameters in :attr:`FigureOptions.param_order`: a view that has importances
    #: should pass them (a live view computes them in the background for this kind).
    wants_param_order: bool = False
    #: This kind's data ranks the parameters (most important first); :func:`build_figures`
    #: passes that order to the kinds after it.
    ranks_params: Callable[[D], Sequence[str]] | None = None

    def __post_init__(self) -> None:
        unknown = set(self.needs) - _NEEDS
        if unknown:
            raise ValueError(f"{self.name}: unknown needs {sorted(unknown)}")
        if self.slow and self.placeholder is None:
            raise ValueError(f"{self.name}: a slow figure needs a placeholder")

    def applies(self, directions: Sequence[Direction]) -> bool:
        """Whether a study with these directions can show this figure at all."""
        n = len(directions)
        if "multi_objective" in self.needs and n < 2:
            return False
        return not ("single_objective" in self.needs and n > 1)

    def has_data(self, trials: Iterable[FrozenTrial]) -> bool:
        """Whether ``trials`` hold what this figure draws (objective needs aside)."""
        if "intermediate_values" in self.needs:
            return any(t.intermediate_values for t in trials)
        return True

    def render(self, data: D, theme: str = "light") -> go.Figure:
        """The Plotly figure for already extracted ``data``."""
        return self.figure(data, theme=check_theme(theme))

    def build(
        self,
        trials: Sequence[FrozenTrial],
        directions: Sequence[Direction],
        options: FigureOptions | None = None,
        *,
        theme: str = "light",
    ) -> go.Figure:
        """The figure for ``trials``, computed now (slow kinds included)."""
        return self.render(self.data(trials, directions, options or FigureOptions()), theme)

    def placeholder_figure(self, message: str, theme: str = "light") -> go.Figure:
        """The figure's empty state saying ``message`` (for a slow kind not computed yet)."""
        if self.placeholder is None:
            raise ValueError(f"{self.name} has no placeholder (it is not slow)")
        return self.render(self.placeholder(message), theme)


# -- the adapters: each kind's data function in the common signature ----------------------------
def _target(options: FigureOptions, directions: Sequence[Direction]) -> tuple[int, str | None]:
    """The objective index (0 by default) and its label, for the single-target kinds."""
    n = len(directions)
    index = options.objective_index(n) or 0
    return index, options.target_label(index, n)


def _history(
    trials: Sequence[FrozenTrial], directions: Sequence[Direction], options: FigureOptions
) -> history.HistoryData:
    index, name = _target(options, directions)
    return history.history_data(trials, directions, target_index=index, target_name=name)


def _pareto(
    trials: Sequence[FrozenTrial], directions: Sequence[Direction], options: FigureOptions
) -> pareto.ParetoData:
    names = options.metric_names or None
    return pareto.pareto_data(trials, directions, objective_names=names)


def _importance(
    trials: Sequence[FrozenTrial], directions: Sequence[Direction], options: FigureOptions
) -> importance.ImportanceData:
    n = len(directions)
    index = options.objective_index(n)
    name = options.target_label(index, n) if index is not None else None
    if n <= 1:
        index, name = None, None  # one objective: the default labels are right
    return importance.importance_data(trials, directions, target_index=index, target_name=name)


def _importance_placeholder(message: str) -> importance.ImportanceData:
    return importance.ImportanceData(message=message)


def _importance_order(data: importance.ImportanceData) -> Sequence[str]:
    return data.params


def _parallel_coordinates(
    trials: Sequence[FrozenTrial], directions: Sequence[Direction], options: FigureOptions
) -> parallel_coordinates.ParallelCoordinatesData:
    index, name = _target(options, directions)
    return parallel_coordinates.parallel_coordinates_data(
        trials, direction=directions, target_index=index, target_name=name
    )


def _param_figure(
    build: Callable[..., D],
) -> Callable[[Sequence[FrozenTrial], Sequence[Direction], FigureOptions], D]:
    """The data step of a figure over the top parameters (slice, contour, rank): the chosen
    objective, most important parameters first."""

    def data(
        trials: Sequence[FrozenTrial], directions: Sequence[Direction], options: FigureOptions
    ) -> D:
        index, name = _target(options, directions)
        return build(
            trials, directions, target_index=index, target_name=name,
            param_order=options.param_order,
        )  # fmt: skip

    return data


def _edf(
    trials: Sequence[FrozenTrial], directions: Sequence[Direction], options: FigureOptions
) -> edf.EdfData:
    index, name = _target(options, directions)
    return edf.edf_data(trials, directions, target_index=index, target_name=name)


def _intermediate(
    trials: Sequence[FrozenTrial], directions: Sequence[Direction], options: FigureOptions
) -> intermediate.IntermediateData:
    return intermediate.intermediate_data(trials)


def _timeline(
    trials: Sequence[FrozenTrial], directions: Sequence[Direction], options: FigureOptions
) -> timeline.TimelineData:
    return timeline.timeline_data(trials, default_worker=options.default_worker, now=options.now)


def _registry(*kinds: FigureKind[Any]) -> Mapping[str, FigureKind[Any]]:
    by_name = {k.name: k for k in kinds}
    if len(by_name) != len(kinds):
        raise ValueError("figure kinds must have distinct names")
    for k in kinds:
        if k.superseded_by is not None and k.superseded_by not in by_name:
            raise ValueError(f"{k.name} is superseded by unknown kind {k.superseded_by!r}")
    return MappingProxyType(by_name)


#: Every figure, in display order (read-only).
FIGURES: Mapping[str, FigureKind[Any]] = _registry(
    FigureKind(
        pareto.NAME,
        pareto.TITLE,
        "Pareto front",
        _pareto,
        pareto.pareto_figure,
        needs=frozenset({"multi_objective"}),
    ),
    FigureKind(
        history.NAME,
        history.TITLE,
        "History",
        _history,
        history.history_figure,
        superseded_by=pareto.NAME,
        per_objective=True,
    ),
    FigureKind(
        importance.NAME,
        importance.TITLE,
        "Importance",
        _importance,
        importance.importance_figure,
        slow=True,
        placeholder=_importance_placeholder,
        per_objective=True,
        ranks_params=_importance_order,
    ),
    FigureKind(
        parallel_coordinates.NAME,
        parallel_coordinates.TITLE,
        "Parallel coordinates",
        _parallel_coordinates,
        parallel_coordinates.parallel_coordinates_figure,
        per_objective=True,
    ),
    FigureKind(
        slice_.NAME,
        slice_.TITLE,
        "Slice",
        _param_figure(slice_.slice_data),
        slice_.slice_figure,
        per_objective=True,
        wants_param_order=True,
    ),
    FigureKind(
        contour.NAME,
        contour.TITLE,
        "Contour",
        _param_figure(contour.contour_data),
        contour.contour_figure,
        per_objective=True,
        wants_param_order=True,
    ),
    FigureKind(
        rank.NAME,
        rank.TITLE,
        "Rank",
        _param_figure(rank.rank_data),
        rank.rank_figure,
        per_objective=True,
        wants_param_order=True,
    ),
    FigureKind(edf.NAME, edf.TITLE, "EDF", _edf, edf.edf_figure, per_objective=True),
    FigureKind(
        intermediate.NAME,
        intermediate.TITLE,
        "Intermediate values",
        _intermediate,
        intermediate.intermediate_figure,
        needs=frozenset({"intermediate_values"}),
    ),
    FigureKind(timeline.NAME, timeline.TITLE, "Timeline", _timeline, timeline.timeline_figure),
    FigureKind(workers.NAME, workers.TITLE, "Workers", _timeline, workers.worker_counts_figure),
)

#: Figure titles by kind, in registry order.
TITLES: dict[str, str] = {name: kind.title for name, kind in FIGURES.items()}


def figure_kind(name: str) -> FigureKind[Any]:
    """The registered kind called ``name``; the error lists the valid names."""
    try:
        return FIGURES[name]
    except KeyError:
        raise ValueError(f"unknown figure {name!r}; choose one of {', '.join(FIGURES)}") from None


def kinds_for(directions: Sequence[Direction], *, summary: bool = False) -> list[FigureKind[Any]]:
    """The kinds a study with ``directions`` can show, in registry order.

    ``summary=True`` is for views that show every figure at once (a report): it also leaves out
    kinds superseded by another applicable kind.  Interactive views offer them all.
    """
    kinds = [k for k in FIGURES.values() if k.applies(directions)]
    if not summary:
        return kinds
    shown = {k.name for k in kinds}
    return [k for k in kinds if k.superseded_by not in shown]


def build_figures(
    trials: Sequence[FrozenTrial],
    directions: Sequence[Direction],
    options: FigureOptions | None = None,
    *,
    kinds: Iterable[FigureKind[Any]] | None = None,
    compute_slow: bool = True,
    theme: str = "light",
) -> dict[str, go.Figure]:
    """Figures for ``kinds`` (default: :func:`kinds_for` ``directions``), keyed by name.

    Each data function runs once however many kinds share it.  With ``compute_slow=False``
    slow kinds show their placeholder instead of being computed.  A kind that ranks parameters
    (the importances) passes its order to the kinds after it, unless ``options`` has one.
    """
    options = options or FigureOptions()
    theme = check_theme(theme)
    if kinds is None:
        kinds = kinds_for(directions)
    extracted: dict[Callable[..., Any], Any] = {}
    figs: dict[str, go.Figure] = {}
    for kind in kinds:
        if kind.slow and not compute_slow:
            figs[kind.name] = kind.placeholder_figure(f"{kind.title} not computed.", theme)
            continue
        if kind.data not in extracted:
            extracted[kind.data] = kind.data(trials, directions, options)
            if kind.ranks_params is not None and not options.param_order:
                order = tuple(kind.ranks_params(extracted[kind.data]))
                if order:
                    options = replace(options, param_order=order)
        figs[kind.name] = kind.render(extracted[kind.data], theme)
    return figs


def figures_for_study(
    study: Study,
    *,
    default_worker: str = "unknown",
    now: float | None = None,
    importance: bool = True,
    objective: int | str | None = None,
    theme: str = "light",
) -> dict[str, go.Figure]:
    """All figures for ``study`` at once, keyed like :data:`TITLES`.

    Single-objective studies get ``"history"``, multi-objective ones ``"pareto"`` instead. Every
    other key is always present (possibly in its empty state). ``importance=False`` skips the
    slow kinds (importances) and returns their empty figure; the slice, contour and rank plots
    then use the parameters in suggestion order.  ``objective`` (index or metric name) picks
    what the per-objective kinds show in a multi-objective study.

    Example::

        figs = figures_for_study(study, objective="loss", theme="dark")
        figs["contour"].show()
    """
    directions = list(study.directions)
    options = FigureOptions(tuple(study.metric_names or ()), default_worker, now, objective)
    return build_figures(
        study.get_trials(deepcopy=False),
        directions,
        options,
        kinds=kinds_for(directions, summary=True),
        compute_slow=importance,
        theme=theme,
    )
