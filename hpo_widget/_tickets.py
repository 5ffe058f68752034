"""The budget and its tickets: how a run reaches an exact total of finished trials.

The driver keeps a small pool of WAITING trials (*tickets*), never more than the budget still
allows, and tops it up as workers claim them atomically (:func:`hpo_widget._worker.claim_ticket`).
Only a pool, never the whole budget up front: tickets are rows of the study, and whatever is
WAITING when a run stops, finishes or crashes stays there for everyone who reads the study
(``len(study.trials)``, ``trials_dataframe()``, optuna-dashboard), and every claim and sampler
call reads them.  A trial that was not the
objective's fault (its worker died, Stop, a lowered budget) is failed as *lost*, does not
count, and comes back as a *retry* ticket with the same parameters while retries last.
Everything that counts the budget uses :func:`budget`, here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from . import _attrs
from . import _optuna_compat as compat
from .storage import journal_file

__all__ = [
    "BOARD_STORAGES",
    "Settled",
    "Tickets",
    "Unsettled",
    "budget",
    "counts_towards_budget",
    "is_lost",
]

#: Tickets kept WAITING per worker at first: one to claim next while the current trial runs,
#: one more so a worker never waits for the refill of a pool its sibling just emptied.
POOL_PER_WORKER = 2
#: The pool may grow (doubling while workers drain it between two refills) up to this many
#: tickets per worker, so what a stop leaves behind stays on the scale of ``n_workers``.
MAX_POOL_PER_WORKER = 4
#: Smallest pool (runs whose workers are ``hpo-widget worker`` processes the driver cannot count).
MIN_POOL = 4


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


#: Storages whose trials can be claimed by id alone.  Optuna's cached RDB storage (what
#: ``load_study`` wraps a URL in) only serves trials its own listing has seen, and that
#: listing already reads just the unfinished and new rows, so RDB claims keep scanning.
BOARD_STORAGES = (
    optuna.storages.InMemoryStorage,
    optuna.storages.JournalStorage,
    optuna.storages.GrpcStorageProxy,
)


@dataclass
class Unsettled:
    """One read of a study past its settled front (:class:`Settled`)."""

    #: Every trial from the first one that was unfinished at the previous read, in order.
    trials: list[FrozenTrial]
    #: How many trials before them count towards the budget.
    settled_counted: int

    @cached_property
    def budget(self) -> tuple[int, int]:
        """:func:`budget` of the whole study, from the unsettled trials alone (counted once
        per read: the poll publishes with it and the loop decides with it)."""
        counted, in_flight = budget(self.trials)
        return self.settled_counted + counted, in_flight


class Settled:
    """The finished trials at the front of a study, counted once instead of at every read.

    Optuna never changes a finished trial, so a poll that walks every trial (publishing,
    reaping, the budget, the pool) costs O(study) and slows the driver as the study grows;
    past the settled front only the trials still in flight and the newest ones change.  A
    trial that stays RUNNING holds the front back (its successors are walked again), which
    costs time, never a wrong count.
    """

    def __init__(self) -> None:
        self.upto = 0
        self.counted = 0

    def read(self, trials: Sequence[FrozenTrial]) -> Unsettled:
        """The trials from the front as of the previous read; then move the front past the
        finished ones at its head.  ``trials``: all of the study's, in number order."""
        unsettled = Unsettled(list(trials[self.upto :]), self.counted)
        for t in unsettled.trials:
            if not t.state.is_finished():
                break
            self.upto += 1
            self.counted += counts_towards_budget(t)
        return unsettled


class _Tally:
    """The budget's counts between two full reads of the study, kept in O(pool) per update.

    A full read (:meth:`Tickets.top_up`, every driver poll) recounts everything; in between,
    :meth:`Tickets.refill` only re-reads the unfinished trials it knows (the pool and the
    trials workers hold), one ``get_trial`` each: a refill after every claim then costs the
    same at trial 10,000 as at trial 10.  Trials someone else adds meanwhile are seen at the
    next full read, which also cancels any surplus, so totals stay exact.
    """

    def __init__(self) -> None:
        self.counted = 0
        #: trial id -> state, for the unfinished (WAITING or RUNNING) trials of the study.
        self.open: dict[int, TrialState] = {}
        #: ids of the retries among them (offered first).
        self.retries: set[int] = set()
        self.synced = False

    def resync(self, view: Unsettled) -> None:
        counted, unfinished, retries = view.settled_counted, dict[int, TrialState](), set()
        for t in view.trials:
            if counts_towards_budget(t):
                counted += 1
            elif t.state in (TrialState.RUNNING, TrialState.WAITING):
                unfinished[compat.trial_id(t)] = t.state
                if _attrs.RETRY_OF in t.system_attrs:
                    retries.add(compat.trial_id(t))
        self.counted, self.open, self.retries, self.synced = counted, unfinished, retries, True

    def refresh(self, storage: Any) -> None:
        for tid, state in list(self.open.items()):
            t = storage.get_trial(tid)
            if t.state.is_finished():
                del self.open[tid]
                self.retries.discard(tid)
                if counts_towards_budget(t):
                    self.counted += 1
            elif t.state != state:
                self.open[tid] = t.state

    @property
    def waiting(self) -> int:
        return sum(1 for s in self.open.values() if s == TrialState.WAITING)

    def board(self) -> list[int]:
        """The WAITING ids to offer, retries first (they were the oldest work), then oldest."""
        ids = [tid for tid, s in self.open.items() if s == TrialState.WAITING]
        return sorted(ids, key=lambda tid: (tid not in self.retries, tid))


class Tickets:
    """Issues, cancels and re-queues the tickets of one study."""

    def __init__(self, study: optuna.Study, retries: int, run_id: str | None = None) -> None:
        self.study = study
        self.retries = retries
        #: The run whose workers claim from the board (None: no board, workers scan).
        self.run_id = run_id
        #: Held by whoever changes how many trials are in flight (adds, cancels, fails as lost).
        self.lock = threading.RLock()
        self._tally = _Tally()
        self._settled = Settled()
        self._published: list[int] | None = None
        self._board_closed = False
        #: Samples a new WAITING ticket by id when the driver samples for the workers
        #: (:mod:`hpo_widget._driver_sampling`); only with a board, which offers a ticket
        #: to workers only after it was sampled.
        self.sample: Callable[[int], None] | None = None
        #: Called after each write of the board (tickets offered, or the board closed): the
        #: driver's proxy wakes the claims waiting on it (:meth:`StorageProxyServer.offered`).
        self.on_publish: Callable[[], None] | None = None
        self._board_on_file = journal_file(compat.storage_of(study)) is not None

    def _stored_board(self) -> Any:
        return (
            compat.storage_of(self.study)
            .get_study_system_attrs(compat.study_id(self.study))
            .get(_attrs.POOL)
        )

    def _publish(self, check: bool = False) -> None:
        """Write the board (:data:`hpo_widget._attrs.POOL`) when its tickets changed, or
        (``check``, once a poll) when the stored one is not this run's latest."""
        if self.run_id is None or self._board_closed:
            return
        ids = self._tally.board()
        if check and self._stored_board() != {"run": self.run_id, "ids": self._published}:
            self._published = None
        if ids == self._published:
            return
        compat.storage_of(self.study).set_study_system_attr(
            compat.study_id(self.study), _attrs.POOL, {"run": self.run_id, "ids": ids}
        )
        self._published = ids
        self._published_hook()

    def _published_hook(self) -> None:
        if self.on_publish is not None:
            self.on_publish()

    def close_board(self) -> None:
        """Offer nothing more: a stopping run's workers must not claim the retries it queues."""
        if self.run_id is None:
            return
        with self.lock:
            self._board_closed = True
            board = self._stored_board()
            if not isinstance(board, dict) or board.get("run") != self.run_id:
                return  # another run's board (one that took over): not ours to close
            compat.storage_of(self.study).set_study_system_attr(
                compat.study_id(self.study), _attrs.POOL, {"run": self.run_id, "ids": []}
            )
        self._published_hook()

    def add(self, params: dict[str, Any] | None = None, retry_of: int | None = None) -> None:
        system_attrs: dict[str, Any] = {_attrs.TICKET: True}
        if params is not None:
            system_attrs["fixed_params"] = params
        if retry_of is not None:
            system_attrs[_attrs.RETRY_OF] = retry_of
        template = optuna.trial.create_trial(state=TrialState.WAITING, system_attrs=system_attrs)
        with self.lock:
            # Study.add_trial's own call, keeping the id for the tally (and, on RDB, a cache
            # that cannot keep a ticket WAITING after a worker finished it: create_trial).
            tid = compat.create_trial(
                compat.storage_of(self.study), compat.study_id(self.study), template
            )
            if self.sample is not None:
                self.sample(tid)  # a retry's fixed_params become its params as they are
            self._tally.open[tid] = TrialState.WAITING
            if retry_of is not None:
                self._tally.retries.add(tid)

    def _add_plain(self, n: int) -> None:
        """``n`` plain tickets (no params, no retry); on an hpo_widget journal file, with the
        board that offers them, as one append: the driver's refills are writes every worker
        waits behind (one append and ``fsync`` each, per ticket and per board)."""
        if n <= 0:
            return
        if self.sample is None and self.run_id is not None and not self._board_closed:
            storage, sid = compat.storage_of(self.study), compat.study_id(self.study)
            with self.lock, compat.journal_batch(storage) as batch:
                if batch is not None:
                    new = [batch.create_trial(sid, {_attrs.TICKET: True}) for _ in range(n)]
                    # New plain tickets have the highest ids: they go last on the board.
                    ids = self._tally.board() + new
                    batch.set_study_system_attr(sid, _attrs.POOL, {"run": self.run_id, "ids": ids})
            if batch is not None:
                for tid in new:
                    self._tally.open[tid] = TrialState.WAITING
                self._published = ids
                self._published_hook()
                return
        for _ in range(n):
            self.add()

    def refill(self, target: int, pool: int) -> bool:
        """Top the pool up from the tally (no full read of the study); True if it ran low.

        What workers in the driver's process call after each claim, and the refiller thread
        for workers elsewhere.  Never cancels: a surplus is the full read's business.
        """
        with self.lock:
            tally = self._tally
            if not tally.synced:
                self.top_up(target, pool)
                return True
            tally.refresh(compat.storage_of(self.study))
            waiting = tally.waiting
            # Tickets the driver samples take milliseconds each: keep the pool full and offer
            # each one as soon as it is sampled.  Refilling a half-empty pool in one batch
            # left workers waiting for the whole batch (TPE through the proxy: the driver
            # sampled only 60% of the time, workers found the pool empty the rest).
            sampling = self.sample is not None
            if waiting >= pool or (not sampling and 2 * waiting > pool):
                # Claims took tickets off the board.  Workers skip a claimed id on their own, so
                # on a journal file (an fsync'd append that every worker waits behind) the board
                # keeps them until the next tickets are added.
                if not self._board_on_file:
                    self._publish()
                return False
            need = min(target - tally.counted - len(tally.open), pool - waiting)
            if sampling:
                for _ in range(max(0, need)):
                    self.add()
                    self._publish()
            else:
                self._add_plain(need)
            self._publish()
            return True

    @staticmethod
    def initial_pool(n_workers: int) -> int:
        """How many tickets to keep WAITING at first: :data:`POOL_PER_WORKER` per worker.

        The same small pool on every backend.  Workers in the driver's process refill it as
        they claim (:meth:`top_up` under the lock); workers elsewhere reach only storage, so the
        driver refills it each poll, polls faster while it runs low and lets it grow up to
        :meth:`max_pool` when workers drained it between two polls; workers that find it
        empty while the budget is open wait for the refill (``_worker``).
        """
        return max(POOL_PER_WORKER * max(n_workers, 1), MIN_POOL)

    @staticmethod
    def max_pool(n_workers: int) -> int:
        """The largest the pool grows: :data:`MAX_POOL_PER_WORKER` per worker."""
        return max(MAX_POOL_PER_WORKER * max(n_workers, 1), 2 * MIN_POOL)

    def top_up(self, target: int, pool: int) -> int:
        """Issue tickets up to the budget and the pool; returns how many were added.

        Reads the trials itself, under :attr:`lock`: every ticket issuer (the driver loop, the
        reaper, workers in this process refilling as they claim) holds it, so the count it
        issues against includes what the others issued and the total never overshoots.
        """
        with self.lock:
            view = self._settled.read(self.study.get_trials(deepcopy=False))
            if self.sample is not None:
                self._sample_unsampled(view.trials)
            self._tally.resync(view)
            counted, in_flight = view.budget
            need = target - counted - in_flight
            if need < 0:
                self.cancel_surplus(-need)
                self._tally.resync(self._settled.read(self.study.get_trials(deepcopy=False)))
                self._publish(check=True)
                return 0
            waiting = sum(1 for t in view.trials if t.state == TrialState.WAITING)
            need = min(need, max(0, pool - waiting))
            if self.sample is not None:
                for _ in range(need):
                    self.add()
            else:
                self._add_plain(need)
            self._publish(check=True)
            return need

    def _sample_unsampled(self, trials: Iterable[FrozenTrial]) -> None:
        """Sample the WAITING trials this run did not issue (enqueued by the user, or tickets
        an earlier run left unsampled) before the board offers them: workers of a run that
        samples on the driver bring no sampler of their own."""
        assert self.sample is not None
        for t in trials:
            if t.state == TrialState.WAITING and not t.params:
                self.sample(compat.trial_id(t))

    def cancel_surplus(self, surplus: int) -> None:
        with self.lock:
            self._cancel_surplus(surplus)

    def _cancel_surplus(self, surplus: int) -> None:
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
    def attempts(trial: FrozenTrial, by_number: Mapping[int, FrozenTrial]) -> int:
        attempts, current = 1, trial
        while _attrs.RETRY_OF in current.system_attrs:
            parent = by_number.get(current.system_attrs[_attrs.RETRY_OF])
            if parent is None:
                break
            attempts, current = attempts + 1, parent
        return attempts

    def requeue(
        self, trial: FrozenTrial, by_number: Mapping[int, FrozenTrial], target: int | None
    ) -> None:
        """After a lost trial: a retry with its parameters while retries last, else (with a
        budget) a fresh ticket, so the total stays exact."""
        with self.lock:
            if self.attempts(trial, by_number) <= self.retries:
                self.add(self._final_params(trial), retry_of=trial.number)
            elif target is not None:
                self.add()

    def _final_params(self, trial: FrozenTrial) -> dict[str, Any] | None:
        """The params of ``trial`` once it is failed, not as the snapshot had them.

        A worker suggests after it claimed: a poll that saw it RUNNING may predate its
        params, and a retry from that snapshot would sample afresh while claiming to repeat
        it.  Failed, the trial takes no more params, so this read is final.
        """
        stored = compat.storage_of(self.study).get_trial(compat.trial_id(trial))
        return dict(stored.params) or None

    def lost_and_requeued(
        self,
        trial: FrozenTrial,
        reason: str,
        by_number: Mapping[int, FrozenTrial],
        target: int | None,
    ) -> bool:
        """:meth:`mark_lost` then :meth:`requeue` as one step for the other ticket issuers
        (between the two, a refill would see one trial fewer in flight and issue one too many)."""
        with self.lock:
            if not self.mark_lost(trial, reason):
                return False
            self.requeue(trial, by_number, target)
            return True

    def fail_in_flight(self, reason: str, target: int | None) -> None:
        """Mark this study's running trials (those of hpo_widget workers) lost and queue them
        again with the same params: not the trials' fault, so resume re-runs them."""
        with self.lock:
            self._fail_in_flight(reason, target)

    def _fail_in_flight(self, reason: str, target: int | None) -> None:
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if is_ours(t) and self.mark_lost(t, reason) and target is not None:
                self.add(self._final_params(t), retry_of=t.number)


def is_ours(trial: FrozenTrial) -> bool:
    """Started by an hpo_widget worker (a claimed ticket, or a trial it asked for)."""
    attrs = trial.system_attrs
    return _attrs.TICKET in attrs or _attrs.WORKER in attrs
