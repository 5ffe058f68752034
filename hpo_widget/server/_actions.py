"""Acting on a study: its best trials, deleting it, writing its HTML report."""

from __future__ import annotations

import re
from pathlib import Path

from ._payload import direction_names, finite
from ._protocol import BestResponse, BestTrial
from ._registry import StorageEntry
from ._summaries import StudyNotFound, load_study

__all__ = ["best_trials", "delete_study", "report_name", "write_study_report"]


def best_trials(entry: StorageEntry, name: str) -> BestResponse:
    """The best trial (one objective) or the Pareto front (several), by Optuna's rules."""
    study = load_study(entry, name)
    try:
        trials = [study.best_trial] if len(study.directions) == 1 else study.best_trials
    except ValueError:
        trials = []
    best: list[BestTrial] = [
        {
            "number": t.number,
            "values": [finite(v) for v in (t.values or [])],
            "params": dict(t.params),
        }
        for t in sorted(trials, key=lambda t: t.number)
    ]
    return {"directions": direction_names(study.directions), "best": best}


def delete_study(entry: StorageEntry, name: str) -> None:
    storage = entry.open()
    with entry.lock:
        try:
            study_id = storage.get_study_id_from_name(name)
        except KeyError:
            raise StudyNotFound(name) from None
        storage.delete_study(study_id)
        for key in ("studies", "tables"):
            entry.cache.pop(key, None)
        entry.cache.get("summaries", {}).pop(study_id, None)


def report_name(name: str) -> str:
    """The report's file name: what ``hpo-widget report`` writes by default."""
    return re.sub(r"[^\w.-]+", "_", name) + ".html"


def write_study_report(entry: StorageEntry, name: str, directory: str, root_dir: str) -> str:
    """Write the study's HTML report (``hpo-widget report``'s writer) and return its path
    relative to the server root, for the front end to open."""
    from ..plots.report import write_report

    study = load_study(entry, name)
    target = Path(directory) / report_name(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    path = Path(write_report(study, target)).resolve()
    try:
        return path.relative_to(Path(root_dir).resolve()).as_posix()
    except ValueError:
        return str(path)
