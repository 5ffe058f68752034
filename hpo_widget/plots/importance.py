"""Hyperparameter importance: which parameters explain the objective, most important first.

The only slow figure (PED-ANOVA takes a second or more on thousands of trials), which is why
its registry entry is marked ``slow`` and live views compute it off the main thread.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from .._optuna_compat import TrialsStudy
from ._common import (
    EMPTY_MESSAGE,
    STATE_COLORS,
    Direction,
    direction_names,
    mark_empty,
    new_figure,
    to_study_direction,
)

if TYPE_CHECKING:
    from optuna.importance import BaseImportanceEvaluator

__all__ = ["NAME", "TITLE", "ImportanceData", "importance_data", "importance_figure"]

NAME = "importance"
TITLE = "Hyperparameter importance"

_EVALUATOR_LABELS = {
    "PedAnovaImportanceEvaluator": "PED-ANOVA",
    "FanovaImportanceEvaluator": "fANOVA",
    "MeanDecreaseImpurityImportanceEvaluator": "MDI",
}


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
        dirs = [to_study_direction(d) for d in direction_names(directions or "minimize")]
        study = TrialsStudy(trials, dirs)  # the evaluators take a study, not trials

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
        if t.state == TrialState.COMPLETE
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


def importance_figure(data: ImportanceData, *, theme: str = "light") -> go.Figure:
    """Horizontal bars, most important parameter on top. Trace: ``importance-bars``."""
    params = list(reversed(data.params))
    values = list(reversed(data.importances))
    evaluator = _EVALUATOR_LABELS.get(data.evaluator, data.evaluator)
    xtitle = f"Importance for {data.target_name}" + (f" ({evaluator})" if evaluator else "")
    traces = [
        go.Bar(
            uid="importance-bars",
            name="Importance",
            x=values,
            y=params,
            orientation="h",
            text=[f"{v:.2f}" for v in values],
            textposition="outside",
            cliponaxis=False,
            marker={"color": STATE_COLORS["COMPLETE"]},
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    ]
    fig = new_figure(
        NAME, TITLE, traces, xtitle=xtitle, ytitle="Parameter", showlegend=False, theme=theme
    )
    fig.update_xaxes(rangemode="tozero")
    if data.is_empty:
        mark_empty(fig, data.message or EMPTY_MESSAGE)
    return fig
