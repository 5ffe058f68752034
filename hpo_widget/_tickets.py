"""The budget and its tickets: how a run reaches an exact total of finished trials.

The driver issues one WAITING trial (a *ticket*) per trial the budget still allows; workers
claim them atomically (:func:`hpo_widget._worker.claim_ticket`).  A trial that was not the
objective's fault (its worker died, Stop, a lowered budget) is failed as *lost*, does not
count, and comes back as a *retry* ticket with the same parameters while retries last.
Everything that counts the budget uses :func:`budget`, here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from . import _attrs
from . import _optuna_compat as compat

__all__ = ["Tickets", "budget", "counts_towards_budget", "is_lost"]

#: The ticket pool grows by doubling while workers drain it between polls, up to this.
MAX_TICKET_POOL = 1024


def is_lost(trial: FrozenTrial) -> bool:
    """Failed by the runner for reasons outside the objective (:meth:`Tickets.mark_lost`).

    The only test of the :data:`hpo_widget._attrs.LOST` marker: every reader asks this.  The
    marker has to be written before the trial's state changes (Optuna refuses attributes of a
    finished trial), so a trial that finished by itself while it was being marked keeps a
    marker it cannot shed; only a FAIL the marker came with is lost.
    """
    return trial.state == TrialState.FAIL and bool(trial.system_attrs.get(_attrs.LOST))


def counts_towards_budget(trial: FrozenTrial) -> bool:
    """Finished trials count, except failures that were not the objective's fault."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and not is_lost(trial)


def budget(trials: Iterable[FrozenTrial]) -> tuple[int, int]:
    """(trials that count towards the budget, trials in flight: RUNNING or WAITING)."""
    counted = in_flight = 0
    for t in trials:
        if counts_towards_budget(t):
            counted += 1
        elif t.state in (TrialState.RUNNING, TrialState.WAITING):
            in_flight += 1
    return counted, in_flight


def is_objective_failure(trial: FrozenTrial) -> bool:
    """A FAIL the objective caused (an exception, a bad value), not a lost trial."""
    return trial.state == TrialState.FAIL and not is_lost(trial)


class Tickets:
    """Issues, cancels and re-queues the tickets of one study."""

    def __init__(self, study: optuna.Study, retries: int) -> None:
        self.study = study
        self.retries = retries

    def add(self, params: dict[str, Any] | None = None, retry_of: int | None = None) -> None:
        system_attrs: dict[str, Any] = {_attrs.TICKET: True}
        if params is not None:
            system_attrs["fixed_params"] = params
        if retry_of is not None:
            system_attrs[_attrs.RETRY_OF] = retry_of
        self.study.add_trial(
            optuna.trial.create_trial(state=TrialState.WAITING, system_attrs=system_attrs)
        )

    @staticmethod
    def initial_pool(n_workers: int, *, shares_driver_storage: bool) -> int | None:
        """How many tickets to keep WAITING at first.

        Every claim and every sampler call reads the WAITING trials.  Through the gRPC proxy
        Optuna's client cache re-fetches all unfinished trials on each read, and an RDB storage
        loads each waiting row, so a 1,000-trial budget issued up front made each trial pay for
        1,000 tickets: those workers get a pool (4 per worker, at least 16) that the driver
        refills each poll and doubles whenever workers drained it between two polls; workers
        that find it empty while the budget is open wait for the refill (``_worker``).  Threads
        sharing the driver's storage object and journal files replay the whole log on every
        read anyway, so there the whole budget is issued at once (None: no pool).
        """
        if shares_driver_storage:
            return None
        return max(4 * max(n_workers, 1), 16)

    def top_up(self, target: int, trials: Sequence[FrozenTrial], pool: int | None = None) -> int:
        """Issue tickets up to the budget (and the pool); returns how many were added."""
        counted, in_flight = budget(trials)
        need = target - counted - in_flight
        if need < 0:
            self.cancel_surplus(-need)
            return 0
        if pool is not None:
            waiting = sum(1 for t in trials if t.state == TrialState.WAITING)
            need = min(need, max(0, pool - waiting))
        for _ in range(need):
            self.add()
        return need

    def cancel_surplus(self, surplus: int) -> None:
        storage = compat.storage_of(self.study)
        waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        # Plain tickets first (newest first); user-enqueued and retry trials last.
        waiting.sort(key=lambda t: ("fixed_params" in t.system_attrs, -t.number))
        for t in waiting[:surplus]:
            try:
                if storage.set_trial_state_values(compat.trial_id(t), state=TrialState.RUNNING):
                    self.mark_lost(t, "ticket cancelled: the trial budget was lowered")
            except optuna.exceptions.UpdateFinishedTrialError:
                continue

    def mark_lost(self, trial: FrozenTrial, reason: str) -> bool:
        """Fail ``trial`` as lost (it does not count); False if it finished after all.

        ``trial`` is a snapshot from a poll: one that has finished since is left untouched.
        Optuna writes no attribute of a finished trial, so the marker has to precede the state
        change, which decides; it is written last, next to that change, and a trial that
        finishes in between keeps a marker that :func:`is_lost` ignores unless it FAILed.
        """
        storage = compat.storage_of(self.study)
        trial_id = compat.trial_id(trial)
        try:
            if storage.get_trial(trial_id).state.is_finished():
                return False
            storage.set_trial_system_attr(trial_id, _attrs.FAIL_REASON, reason)
            storage.set_trial_system_attr(trial_id, _attrs.LOST, True)
            return bool(storage.set_trial_state_values(trial_id, state=TrialState.FAIL))
        except optuna.exceptions.UpdateFinishedTrialError:
            return False  # it finished after all; keep its result

    @staticmethod
    def attempts(trial: FrozenTrial, by_number: dict[int, FrozenTrial]) -> int:
        attempts, current = 1, trial
        while _attrs.RETRY_OF in current.system_attrs:
            parent = by_number.get(current.system_attrs[_attrs.RETRY_OF])
            if parent is None:
                break
            attempts, current = attempts + 1, parent
        return attempts

    def requeue(
        self, trial: FrozenTrial, by_number: dict[int, FrozenTrial], target: int | None
    ) -> None:
        """After a lost trial: a retry with its parameters while retries last, else (with a
        budget) a fresh ticket, so the total stays exact."""
        if self.attempts(trial, by_number) <= self.retries:
            self.add(dict(trial.params), retry_of=trial.number)
        elif target is not None:
            self.add()

    def fail_in_flight(self, reason: str, target: int | None) -> None:
        """Mark this study's running trials (those of hpo_widget workers) lost and queue them
        again with the same params: not the trials' fault, so resume re-runs them."""
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if is_ours(t) and self.mark_lost(t, reason) and target is not None:
                self.add(dict(t.params) or None, retry_of=t.number)


def is_ours(trial: FrozenTrial) -> bool:
    """Started by an hpo_widget worker (a claimed ticket, or a trial it asked for)."""
    attrs = trial.system_attrs
    return _attrs.TICKET in attrs or _attrs.WORKER in attrs
