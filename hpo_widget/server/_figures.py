"""Figures as Plotly JSON text, each cached per study and kind for the change token."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optuna.study import StudyDirection
from optuna.trial import TrialState

from .. import _optuna_compat as compat
from ..plots.registry import FIGURES, FigureOptions, build_figures, kinds_for, resolve_objective
from ..plots.theme import check_theme
from ._protocol import FigureKindInfo
from ._registry import StorageEntry
from ._summaries import load_study

__all__ = ["figure_infos", "figures_json"]


def figure_infos(directions: Sequence[StudyDirection]) -> list[FigureKindInfo]:
    return [
        {
            "name": k.name,
            "title": k.title,
            "label": k.label,
            "slow": k.slow,
            "per_objective": k.per_objective,
        }
        for k in kinds_for(list(directions))
    ]


def figures_json(
    entry: StorageEntry,
    name: str,
    kinds: Sequence[str],
    token: Any,
    *,
    objective: int | str | None = None,
    theme: str = "light",
) -> tuple[dict[str, str], dict[str, str]]:
    """({kind: Plotly figure JSON text}, {kind: why skipped}), each figure cached for
    ``token``, ``objective`` and ``theme`` (the text is spliced into the response as is,
    never parsed again).  ``objective`` (index or metric name) is what the per-objective kinds
    show in a multi-objective study; an unknown one is a ``ValueError`` naming the choices."""
    import plotly.io as pio

    unknown = [k for k in kinds if k not in FIGURES]
    if unknown:
        raise ValueError(
            f"unknown figure kind(s) {', '.join(unknown)}; choose from {', '.join(FIGURES)}"
        )
    with entry.lock:
        study = load_study(entry, name)
        directions = list(study.directions)
        applicable = {k.name for k in kinds_for(directions)}
        cache: dict[tuple[Any, ...], tuple[Any, str]] = entry.cache.setdefault("figures", {})
        sid = compat.study_id(study)
        metric_names = tuple(study.metric_names or ())
        index = resolve_objective(objective, len(directions), metric_names)
        check_theme(theme)
        out: dict[str, str] = {}
        skipped: dict[str, str] = {}
        todo = []
        for kind in dict.fromkeys(kinds):
            if kind not in applicable:
                n = len(directions)
                skipped[kind] = f"{kind} does not apply to a study with {n} objective(s)"
                continue
            held = cache.get((sid, kind, index, theme))
            if held is not None and held[0] == token:
                out[kind] = held[1]
            else:
                todo.append(FIGURES[kind])
        if todo:
            options = FigureOptions(metric_names, "unknown", None, index)
            trials = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
            built = build_figures(trials, directions, options, kinds=todo, theme=theme)
            for kind_name, fig in built.items():
                text = pio.to_json(fig, validate=False, remove_uids=True)
                cache[(sid, kind_name, index, theme)] = (token, text)
                out[kind_name] = text
        return {k: out[k] for k in kinds if k in out}, skipped
