"""Figures as Plotly JSON text, each cached per study and kind for the change token."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optuna.study import StudyDirection
from optuna.trial import TrialState

from .. import _optuna_compat as compat
from ..plots.registry import FIGURES, FigureOptions, build_figures, kinds_for
from ._protocol import FigureKindInfo
from ._registry import StorageEntry
from ._summaries import load_study

__all__ = ["figure_infos", "figures_json"]


def figure_infos(directions: Sequence[StudyDirection]) -> list[FigureKindInfo]:
    return [
        {"name": k.name, "title": k.title, "label": k.label, "slow": k.slow}
        for k in kinds_for(list(directions))
    ]


def figures_json(
    entry: StorageEntry, name: str, kinds: Sequence[str], token: Any
) -> tuple[dict[str, str], dict[str, str]]:
    """({kind: Plotly figure JSON text}, {kind: why skipped}), each figure cached for
    ``token`` (the text is spliced into the response as is, never parsed again)."""
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
        cache: dict[tuple[int, str], tuple[Any, str]] = entry.cache.setdefault("figures", {})
        sid = compat.study_id(study)
        out: dict[str, str] = {}
        skipped: dict[str, str] = {}
        todo = []
        for kind in dict.fromkeys(kinds):
            if kind not in applicable:
                n = len(directions)
                skipped[kind] = f"{kind} does not apply to a study with {n} objective(s)"
                continue
            held = cache.get((sid, kind))
            if held is not None and held[0] == token:
                out[kind] = held[1]
            else:
                todo.append(FIGURES[kind])
        if todo:
            options = FigureOptions(tuple(study.metric_names or ()), "unknown", None)
            trials = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
            built = build_figures(trials, directions, options, kinds=todo)
            for kind_name, fig in built.items():
                text = pio.to_json(fig, validate=False, remove_uids=True)
                cache[(sid, kind_name)] = (token, text)
                out[kind_name] = text
        return {k: out[k] for k in kinds if k in out}, skipped
