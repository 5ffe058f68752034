"""The Preset tab: pick scikit-learn estimators and a bundled dataset as the objective.

Shown by a panel made without an objective (what ``%hpo`` alone opens).  The chooser only
builds a :class:`~hpo_widget.SklearnPreset` from what was picked and says what is wrong with a
pick; the panel then puts the preset's space and direction into its form and settings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

from ..presets import _DATASETS, ESTIMATORS, SklearnPreset, load_dataset
from ._common import error_html, note_html

__all__ = ["PresetChoice", "PresetChooser"]

# Which bundled dataset is a regression task is a preset rule; it belongs in hpo_widget.presets
# (kept here until that module says so).
_REGRESSION_DATASETS = {"diabetes"}


@dataclass(frozen=True)
class PresetChoice:
    """A preset built from the chooser, with the dataset it was built on."""

    preset: SklearnPreset
    dataset: str
    cv: int

    @property
    def code_prefix(self) -> str:
        """The lines a retrain snippet starts with, so that it loads the same data."""
        return f"from hpo_widget.presets import load_dataset\n\nX, y = load_dataset({self.dataset!r})\n"


def _check_task(names: Sequence[str], dataset: str) -> None:
    """Refuse classifiers on a regression dataset and the other way round, naming the fix."""
    tasks = {ESTIMATORS[n].task for n in names if n in ESTIMATORS}
    wanted = "regression" if dataset in _REGRESSION_DATASETS else "classification"
    if tasks and tasks != {wanted}:
        kinds = " and ".join(sorted(tasks))
        others = "diabetes" if wanted != "regression" else "iris, wine, digits or breast_cancer"
        raise ValueError(
            f"dataset: {dataset!r} is a {wanted} dataset but the estimators do {kinds}; "
            f"pick {others}"
        )


class PresetChooser:
    """Estimators, dataset and CV folds, and a 'Use preset' button that calls ``on_use``."""

    def __init__(self, on_use: Callable[[], Any]) -> None:
        self.estimators = widgets.SelectMultiple(
            options=list(ESTIMATORS),
            value=("RandomForest",),
            rows=6,
            description="estimators",
            style={"description_width": "initial"},
        )
        self.dataset = widgets.Dropdown(
            options=list(_DATASETS), value="iris", description="dataset"
        )
        self.cv = widgets.IntText(value=3, description="CV folds", layout={"width": "180px"})
        self.load = widgets.Button(description="Use preset", button_style="info")
        self.message = widgets.HTML(
            note_html(
                "Pick scikit-learn estimators (several make a conditional space) and a bundled "
                "dataset, then press 'Use preset' to fill the search space."
            )
        )
        self.load.on_click(lambda _: on_use())
        self._column = widgets.VBox([self.dataset, self.cv])
        self._row = widgets.HBox([self.estimators, self._column])
        self.widget = widgets.VBox([self._row, self.load, self.message])

    def choose(
        self,
        estimators: Sequence[str] | None = None,
        dataset: str | None = None,
        cv: int | None = None,
    ) -> PresetChoice | None:
        """Build the preset (arguments override, and are put into, the widgets); ``None``, with
        the reason shown under the button, when the pick does not make one."""
        names = list(estimators or self.estimators.value)
        data = dataset or self.dataset.value
        folds = cv or self.cv.value
        self.estimators.value = tuple(names)
        self.dataset.value = data
        self.cv.value = folds
        try:
            if not names:
                raise ValueError("estimators: select at least one")
            _check_task(names, data)
            X, y = load_dataset(data)
            preset = SklearnPreset(names, X, y, cv=folds)
        except (ValueError, TypeError) as exc:
            self.message.value = error_html([str(exc)])
            return None
        self.message.value = note_html(
            f"Preset {preset.name} on {data} ({folds}-fold CV, {preset.scoring}); "
            "edit the space and settings, then Run."
        )
        return PresetChoice(preset, data, folds)

    def close(self) -> None:
        for w in (self.estimators, self.dataset, self.cv, self.load, self.message):
            w.close()
        for box in (self._column, self._row, self.widget):
            box.close()
