"""Stop rules: end a run early when going on would waste the budget.

Optuna has no such rules built in; Katib experiments have an objective goal and a maximum
count of failed trials.  A run ends when the study's best value reaches ``goal``, when
``patience`` finished trials in a row brought no improvement, or when ``max_failed`` trials of
this run failed in the objective (a broken objective must not burn a cluster's budget).  The
driver checks them after every poll; the run then ends as a Stop does (in-flight trials are
failed as stopped and re-run on resume) with the rule as its reason.

``goal`` and ``patience`` look at the whole study, so a resumed study that already met them
stops at once; ``max_failed`` counts only the failures of the current run, so a run started
after fixing the objective is not stopped by the broken run's failures.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from ._tickets import is_lost

__all__ = ["StopRules"]


@dataclass(frozen=True)
class StopRules:
    """When a run ends before its budget (all ``None``: only the budget and Stop end it)."""

    goal: float | None = field(
        default=None,
        metadata={"doc": "stop once the best value is this good (<= minimizing, >= maximizing)"},
    )
    patience: int | None = field(
        default=None,
        metadata={"doc": "stop after this many finished trials in a row without a new best"},
    )
    max_failed: int | None = field(
        default=None,
        metadata={"doc": "stop once this many trials of the run failed in the objective"},
    )
    min_trials: int | None = field(
        default=None,
        metadata={"doc": "apply goal and patience only once the study has this many finished"},
    )

    @staticmethod
    def docs() -> dict[str, str]:
        """Rule -> what it does (the schema's descriptions)."""
        return {f.name: f.metadata["doc"] for f in dataclasses.fields(StopRules)}

    @staticmethod
    def kind_of(name: str) -> str:
        """``"float"`` or ``"int"``: what a rule's value is, for forms that parse typed text."""
        annotation = {f.name: str(f.type) for f in dataclasses.fields(StopRules)}[name]
        return "float" if annotation.startswith("float") else "int"

    @property
    def active(self) -> bool:
        return any(value is not None for value in dataclasses.astuple(self))

    def problems(self, n_objectives: int) -> Iterator[tuple[str, str]]:
        """``(field, message)`` for every value that cannot work, fields relative to ``stop``."""
        goal = self.goal
        if goal is not None and (
            isinstance(goal, bool) or not isinstance(goal, numbers.Real) or not math.isfinite(goal)
        ):
            yield "goal", f"must be a finite number (the best value to reach), got {goal!r}"
        for name in (n for n in self.docs() if self.kind_of(n) == "int"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1
            ):
                yield name, f"must be a whole number >= 1 or empty (no limit), got {value!r}"
        if n_objectives > 1:
            for name in ("goal", "patience"):
                if getattr(self, name) is not None:
                    yield (
                        name,
                        (
                            "needs a single objective (a study with several objectives has no one "
                            "best value); leave it empty"
                        ),
                    )

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def reason(
        self,
        trials: Sequence[FrozenTrial],
        directions: Sequence[StudyDirection],
        *,
        failed_in_run: int,
    ) -> str | None:
        """Why the run should stop now, or None; ``trials`` is the whole study."""
        if self.max_failed is not None and failed_in_run >= self.max_failed:
            return (
                f"stop rule: {failed_in_run} trials of this run failed "
                f"(max_failed {self.max_failed}); fix the objective and resume"
            )
        if len(directions) != 1 or (self.goal is None and self.patience is None):
            return None
        done = _finished_in_order(trials)
        if self.min_trials is not None and len(done) < self.min_trials:
            return None  # too early: a sampler's random start-up says little about progress
        maximize = directions[0] == StudyDirection.MAXIMIZE
        best: float | None = None
        since_best = 0
        for t in done:
            value = t.value if t.state == TrialState.COMPLETE else None
            if value is not None and (best is None or (value > best if maximize else value < best)):
                best, since_best = value, 0
            else:
                since_best += 1
        reached = (
            best is not None
            and self.goal is not None
            and (best >= self.goal if maximize else best <= self.goal)
        )
        if reached:
            return f"stop rule: the best value {best:.6g} reached the goal {self.goal:.6g}"
        if self.patience is not None and best is not None and since_best >= self.patience:
            return (
                f"stop rule: no improvement in the last {since_best} finished trials "
                f"(patience {self.patience}; best value {best:.6g})"
            )
        return None


def _finished_in_order(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """Finished trials that count (not those lost to a dead worker or a Stop), in the order
    they finished: with parallel workers, trial numbers are not finishing order."""
    done = [
        t
        for t in trials
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        and not is_lost(t)
        and t.datetime_complete is not None
    ]
    done.sort(key=lambda t: (t.datetime_complete, t.number))
    return done
