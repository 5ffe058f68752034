"""What a panel tunes: a function of a params dict or of a trial, a scikit-learn preset, or
nothing yet (``%hpo`` alone, until a preset is chosen).

:class:`TunedObjective` answers the questions the panel asks about it (is it define-by-run,
what runs with the form's space, what code retrains the best trial, what is missing) so that
the panel's widgets only show the answers.  No widgets here.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from optuna.trial import FrozenTrial

from ..objectives import _wants_trial, load_callable
from ..presets import SklearnPreset
from ..space import SearchSpace, SearchSpaceError
from .best_trial import retrain_snippet

__all__ = ["TunedObjective"]


class TunedObjective:
    """The objective of a panel and the space it came with.

    ``objective`` is a callable, a ``'package.module:function'`` reference, a
    :class:`~hpo_widget.SklearnPreset` or ``None``; ``space`` (a dict or a
    :class:`~hpo_widget.SearchSpace`) defaults to a preset's own space.  An objective that
    takes a trial and comes without a space is *define-by-run*: its space is whatever its
    ``suggest_*`` calls ask for.
    """

    def __init__(self, objective: Any, space: SearchSpace | Mapping[str, Any] | None) -> None:
        if isinstance(objective, str):
            objective = load_callable(objective, field="objective")
        if objective is not None and not callable(objective):
            raise TypeError(
                f"objective: expected a function or a SklearnPreset, got {type(objective).__name__}"
            )
        self.function: Any = objective
        self.preset: SklearnPreset | None = (
            objective if isinstance(objective, SklearnPreset) else None
        )
        self._code_prefix = ""
        if isinstance(space, Mapping):
            space = SearchSpace.from_dict(space)
        if space is None and self.preset is not None:
            space = self.preset.space
        self.space: SearchSpace | None = space
        self.define_by_run = (
            objective is not None
            and self.preset is None
            and space is None
            and _wants_trial(objective)
        )

    @property
    def direction(self) -> str | None:
        """The direction the objective implies (a preset's score is maximised), if any."""
        return self.preset.direction if self.preset is not None else None

    @property
    def label(self) -> str:
        """What the header calls it."""
        if self.preset is not None:
            return f"preset {self.preset.name}"
        if self.function is None:
            return "no objective yet"
        return str(getattr(self.function, "__name__", type(self.function).__name__))

    @property
    def identity(self) -> object:
        """What counts as "the same objective" when deciding to reuse a runner."""
        return self.preset if self.preset is not None else self.function

    def use_preset(self, preset: SklearnPreset, code_prefix: str = "") -> None:
        """Tune ``preset`` from now on; ``code_prefix`` starts its retrain code (data loading)."""
        self.function = self.preset = preset
        self._code_prefix = code_prefix

    def for_run(self, form_space: SearchSpace | None) -> tuple[Any, SearchSpace | None]:
        """The objective and space a run gets, with the form's (edited) space."""
        if self.define_by_run:
            return self.function, None
        space = form_space if form_space is not None and len(form_space) else None
        if self.preset is not None:
            preset = copy.copy(self.preset)
            if space is not None:
                preset.space = space
            return preset, preset.space
        return self.function, space

    @property
    def missing(self) -> str | None:
        """Why there is nothing to tune yet (``None`` once there is)."""
        if self.function is None:
            return "Choose a preset (Preset tab) or pass an objective to Panel / %hpo."
        return None

    def space_problem(self, form_space: SearchSpace | None) -> str | None:
        """What a (valid) form space lacks for this objective (``None``: nothing)."""
        if (
            self.function is not None
            and self.preset is None
            and not self.define_by_run
            and not _wants_trial(self.function)
            and not len(form_space or ())
        ):
            return "The objective takes a params dict: add at least one parameter."
        return None

    def code_for(self, params: dict[str, Any]) -> str:
        """Code that retrains (a preset) or re-evaluates (a function) with ``params``."""
        if self.preset is not None:
            try:
                return self._code_prefix + self.preset.retrain_code(params)
            except Exception:
                pass  # a hand-edited space may not map onto the estimator: plain snippet
        takes_trial = self.define_by_run or (
            self.function is not None and _wants_trial(self.function)
        )
        return retrain_snippet(params, self.function, takes_trial=takes_trial)

    def discovered_space(self, trials: list[FrozenTrial]) -> SearchSpace | None:
        """Define-by-run: the space the finished trials sampled from (``None``: none yet, or
        not an objective of that kind, or distributions a search space cannot hold)."""
        if not self.define_by_run:
            return None
        dists: dict[str, Any] = {}
        for t in trials:
            if t.state.name in ("COMPLETE", "PRUNED", "FAIL"):
                dists.update(t.distributions)
        if not dists:
            return None
        try:
            return SearchSpace.from_distributions(dists)
        except SearchSpaceError:
            return None
