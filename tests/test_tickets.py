"""Marking trials lost (:meth:`hpo_widget._tickets.Tickets.mark_lost`) against trials that finish
by themselves meanwhile: only a trial the runner really failed is lost, for every reader."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.storages import InMemoryStorage
from optuna.trial import TrialState

from hpo_widget import _attrs
from hpo_widget._tickets import Settled, Tickets, budget, counts_towards_budget, is_lost
from hpo_widget.plots._common import display_state
from hpo_widget.stop_rules import _finished_in_order


class _CompletesWhileMarked(InMemoryStorage):
    """The worker's ``tell`` lands between the LOST marker and the driver's state change."""

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        super().set_trial_system_attr(trial_id, key, value)
        if key == _attrs.LOST:
            self.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])


def _assert_kept_its_result(study: optuna.Study) -> None:
    (t,) = study.trials
    assert t.state == TrialState.COMPLETE and t.value == 1.0
    assert not is_lost(t) and counts_towards_budget(t)
    assert display_state(t) == "COMPLETE"
    assert budget(study.trials) == (1, 0)
    assert _finished_in_order(study.trials) == [t]


def test_a_running_trial_is_marked_lost() -> None:
    study = optuna.create_study()
    study.ask()
    assert Tickets(study, retries=1).mark_lost(study.trials[0], "worker w1 lost")
    (t,) = study.trials
    assert t.state == TrialState.FAIL and is_lost(t) and not counts_towards_budget(t)
    assert t.system_attrs[_attrs.FAIL_REASON] == "worker w1 lost"
    assert display_state(t) == "LOST" and budget(study.trials) == (0, 0)


def test_a_trial_finished_since_the_poll_is_left_untouched() -> None:
    study = optuna.create_study()
    trial = study.ask()
    snapshot = study.trials[0]  # RUNNING when the driver polled
    study.tell(trial, 1.0)
    assert not Tickets(study, retries=1).mark_lost(snapshot, "worker w1 lost")
    (t,) = study.trials
    assert _attrs.LOST not in t.system_attrs and _attrs.FAIL_REASON not in t.system_attrs
    _assert_kept_its_result(study)


def test_a_trial_completing_while_being_marked_is_not_lost() -> None:
    study = optuna.create_study(storage=_CompletesWhileMarked())
    study.ask()
    assert not Tickets(study, retries=1).mark_lost(study.trials[0], "worker w1 lost")
    # Optuna writes no attribute of a finished trial, so the marker stays: readers ignore it.
    assert study.trials[0].system_attrs[_attrs.LOST] is True
    _assert_kept_its_result(study)


def test_the_settled_front_counts_like_a_full_read_and_walks_only_the_rest() -> None:
    study = optuna.create_study()
    settled = Settled()
    first = study.ask()  # stays RUNNING a while: holds the front back
    for value in range(3):
        study.tell(study.ask(), float(value))
    view = settled.read(study.get_trials(deepcopy=False))
    assert view.budget == budget(study.trials) == (3, 1)
    assert settled.upto == 0  # nothing settles past a trial still in flight
    study.tell(first, state=TrialState.FAIL)
    Tickets(study, retries=0).add()  # a WAITING ticket at the end
    view = settled.read(study.get_trials(deepcopy=False))
    assert view.budget == budget(study.trials) == (4, 1)
    assert settled.upto == 4 and settled.counted == 4
    # The next read walks only the ticket and what came after it.
    study.add_trial(optuna.trial.create_trial(value=9.0))
    view = settled.read(study.get_trials(deepcopy=False))
    assert [t.number for t in view.trials] == [4, 5]
    assert view.budget == budget(study.trials) == (5, 1)


def test_a_lost_trial_settles_without_counting() -> None:
    study = optuna.create_study()
    study.ask()
    Tickets(study, retries=0).mark_lost(study.trials[0], "worker w1 lost")
    settled = Settled()
    settled.read(study.get_trials(deepcopy=False))
    assert (settled.upto, settled.counted) == (1, 0)


class _SuggestsWhileMarked(InMemoryStorage):
    """The worker's first ``suggest`` lands after the driver's poll saw its trial without
    params, before the driver fails it: the retry must repeat what the trial ran."""

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        super().set_trial_system_attr(trial_id, key, value)
        if key == _attrs.LOST:
            self.set_trial_param(trial_id, "x", 0.25, optuna.distributions.FloatDistribution(0, 1))


def _the_retry(study: optuna.Study) -> optuna.trial.FrozenTrial:
    (retry,) = study.get_trials(states=(TrialState.WAITING,))
    assert retry.system_attrs[_attrs.RETRY_OF] == 0
    return retry


def test_a_retry_repeats_the_params_suggested_after_the_poll() -> None:
    study = optuna.create_study(storage=_SuggestsWhileMarked())
    study.ask()
    snapshot = study.trials[0]
    assert snapshot.params == {}  # what the reaper's poll saw
    tickets = Tickets(study, retries=1)
    assert tickets.lost_and_requeued(snapshot, "worker w1 lost", {0: snapshot}, target=2)
    assert _the_retry(study).system_attrs["fixed_params"] == {"x": 0.25}


def test_a_stop_retries_the_params_suggested_while_it_failed_the_trial() -> None:
    study = optuna.create_study(storage=_SuggestsWhileMarked())
    trial = study.ask()
    study._storage.set_trial_system_attr(trial._trial_id, _attrs.TICKET, True)
    Tickets(study, retries=1).fail_in_flight("stopped by user", target=2)
    assert study.trials[0].state == TrialState.FAIL
    assert _the_retry(study).system_attrs["fixed_params"] == {"x": 0.25}


def test_a_trial_lost_before_it_suggested_is_retried_with_fresh_params() -> None:
    study = optuna.create_study()
    study.ask()
    tickets = Tickets(study, retries=1)
    assert tickets.lost_and_requeued(study.trials[0], "worker w1 lost", {}, target=2)
    assert "fixed_params" not in _the_retry(study).system_attrs
