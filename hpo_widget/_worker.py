"""The loop every worker runs, whatever launched it (thread, loky process, Spark task, Dask, CLI).

Design, in short (see ``runner.py`` for the driver side):

* The budget is made of **tickets**: WAITING Optuna trials the driver creates.  A worker claims
  one atomically (WAITING -> RUNNING is a compare-and-set in every Optuna storage), samples its
  parameters (unless the driver already did: :mod:`hpo_widget._driver_sampling`), runs the
  objective and tells the result.  The driver keeps a small pool of tickets
  (a few per worker) topped up, never more than the budget, so N workers on M machines
  reach *exactly* ``n_trials`` without talking to each other; a worker that finds the pool
  empty waits (backing off) while the run is active and its budget not reached, so a trial
  that a dead worker held comes back as a retry without workers leaving and being relaunched.
* Without a trial budget (timeout only) workers create trials with ``study.ask()`` until the
  deadline or a stop.
* A heartbeat thread stamps the running trial every few seconds, so the driver can tell a slow
  trial from a dead worker in any storage (Optuna's own heartbeat is RDB-only).
* Nothing raises out of :func:`run_worker`: joblibspark loses task exceptions, so errors come back
  as values in :class:`WorkerResult`.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from . import _attrs, run_record
from . import _optuna_compat as compat
from ._tickets import BOARD_STORAGES, budget, counts_towards_budget
from .samplers import PrunerSpec, SamplerSpec, make_pruner, make_sampler
from .space import SearchSpace
from .storage import StorageRef, mask_password, open_storage, sealed_journal

__all__ = [
    "WorkerResult",
    "WorkerTask",
    "budget",
    "claim_ticket",
    "counts_towards_budget",
    "run_worker",
]

#: Seconds before the first look again at an empty ticket pool while the budget is still open.
#: Short: a worker elsewhere that drained the pool usually finds the driver's refill a few
#: milliseconds later (20 ms here cost the journal path about a tenth of its rate on no-op
#: trials, measured with benchmarks/round_trips.py).
_REFILL_WAIT = 0.005
#: A worker that finds no ticket for this long leaves even if the budget looks open (the
#: driver that refills the pool died; a new run relaunches workers).
_STARVED_LIMIT = 60.0

#: Exceptions an objective may raise to leave that are still the objective's own failure.
_OBJECTIVE_EXITS: tuple[type[BaseException], ...] = (KeyboardInterrupt, SystemExit)
#: Longest pause between looks at storage while waiting for work (the wait starts at
#: ``_REFILL_WAIT`` and doubles, so a refill is seen at once and an idle worker costs little).
_MAX_IDLE_WAIT = 0.5
#: Seconds a claim through the driver's proxy may wait there for an offer (new tickets, the
#: run's end): the worker hears of either at once, with one call per wait instead of a look
#: every ``_MAX_IDLE_WAIT``, the half second every idle worker added to a run's end.
_CLAIM_WAIT = 0.5
#: How often a worker waiting on the proxy also checks the budget itself
#: (:func:`_may_need_more`, a read of every trial): only for a driver that died, whose run
#: record nobody closes.
_BUDGET_CHECK_EVERY = 2.0

#: Stop events of runners living in this process, by run id (threads see them without I/O).
_LOCAL_STOPS: dict[str, threading.Event] = {}
#: Storage objects of runners living in this process, by run id (threads share the driver's).
_LOCAL_STORAGES: dict[str, BaseStorage] = {}
#: Ticket refills of runners living in this process, by run id: threads top the pool up as
#: they claim, so a small pool never makes them wait for the driver's next poll.
_LOCAL_REFILLS: dict[str, Callable[[], object]] = {}


@dataclass(frozen=True)
class WorkerTask:
    """Everything a worker needs, picklable so it can travel to a Spark executor."""

    objective: Callable[[optuna.Trial], Any]
    study_name: str
    storage: StorageRef
    run_id: str
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    pruner: PrunerSpec = field(default_factory=PrunerSpec)
    space: SearchSpace | None = None
    use_tickets: bool = True
    #: The driver sampled every ticket (:mod:`hpo_widget._driver_sampling`): build no sampler.
    sampled_on_driver: bool = False
    deadline: float | None = None
    heartbeat_interval: float = 5.0
    catch: tuple[type[BaseException], ...] = (Exception,)


@dataclass(frozen=True)
class WorkerResult:
    """What one worker did; ``error`` is set when the worker itself broke (not an objective)."""

    worker: str
    n_trials: int
    error: str | None = None


def _may_need_more(storage: BaseStorage, study: optuna.Study, run_id: str) -> bool:
    """Whether a worker that found no ticket should wait rather than leave.

    It waits while this run is active and its budget is not yet reached, even when every
    remaining trial is held: the driver keeps only a pool of tickets WAITING, and a trial held
    by a dead worker comes back as a retry ticket once the driver reaps it.  Leaving then would
    make the driver relaunch workers every poll (issue: relaunch churn).
    """
    run = run_record.read(storage, compat.study_id(study))
    if run is None or run.n_trials is None or run.stop or run.id != run_id:
        return False
    counted, _ = budget(study.get_trials(deepcopy=False))
    return counted < run.n_trials


def worker_id(slot: int) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{slot}"


def _claim_order(trial: FrozenTrial) -> tuple[int, int]:
    """Retries of lost trials first (they were the oldest work), then tickets oldest first."""
    return (0 if _attrs.RETRY_OF in trial.system_attrs else 1, trial.number)


def _take(storage: BaseStorage, tid: int) -> bool:
    try:
        return bool(storage.set_trial_state_values(tid, state=TrialState.RUNNING))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def claim_ticket(
    study: optuna.Study, run_id: str | None = None, attrs: dict[str, Any] | None = None
) -> optuna.Trial | None:
    """Atomically take one WAITING trial (a budget ticket or a retry), or None if there is none.

    See :func:`claim_ticket_id`; ``attrs``: the study's system attributes if the caller has
    just read them (the stop check before each claim).
    """
    tid = claim_ticket_id(compat.storage_of(study), compat.study_id(study), run_id, attrs)
    return None if tid is None else compat.trial_for(study, tid)


def claim_ticket_id(
    storage: BaseStorage,
    study_id: int,
    run_id: str | None = None,
    attrs: dict[str, Any] | None = None,
) -> int | None:
    """Atomically set one WAITING trial RUNNING and return its id (None: there is none).

    WAITING -> RUNNING is a compare-and-set in every Optuna storage (on SQLite only because
    :func:`hpo_widget.storage.open_storage` makes its transactions take the write lock first).
    With ``run_id``, the tickets come from that run's board (:data:`hpo_widget._attrs.POOL`):
    one read of the study's attributes instead of every trial of the study (Optuna's gRPC
    proxy filters all trials in Python for each read), so a claim costs the same at trial
    10,000 as at trial 10.  A board of another run offers nothing; a study without a
    board (a driver that publishes none) and RDB storages are scanned.
    """
    if run_id is not None and isinstance(storage, BOARD_STORAGES):
        if attrs is None:
            attrs = storage.get_study_system_attrs(study_id)
        board = attrs.get(_attrs.POOL)
        if isinstance(board, dict):
            if board.get("run") != run_id:
                return None
            # In the board's order (retries, then oldest; enqueued trials run in order): a
            # worker that loses a race for a ticket takes the next one, one round trip later.
            # Starting each worker at its own place avoided those races but ran younger
            # tickets before older ones, so it was dropped.
            for tid in (int(i) for i in board.get("ids") or ()):
                if _take(storage, tid):
                    return tid
            return None
    waiting = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,))
    for frozen in sorted(waiting, key=_claim_order):
        if _take(storage, compat.trial_id(frozen)):
            return compat.trial_id(frozen)
    return None


def run_is_over(attrs: dict[str, Any], run_id: str) -> bool:
    """Whether the run record among a study's system attributes ends run ``run_id``."""
    run = run_record.RunRecord.from_attr(attrs.get(_attrs.RUN))
    return run is None or run.id != run_id or run.stop


#: A finished trial's id and checked values, not yet written: it travels with the worker's
#: next claim (:func:`claim_for_worker`), one round trip instead of two.
Told = tuple[int, list[float]]


def write_told(storage: BaseStorage, told: Told) -> None:
    """Complete the trial ``told`` names; one the driver already ended (a stop, a lost worker)
    refuses, and the result is dropped, as a tell would have been."""
    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
        storage.set_trial_state_values(told[0], TrialState.COMPLETE, told[1])


def claim_for_worker(
    storage: BaseStorage, study_id: int, run_id: str, worker: str, told: Told | None = None
) -> FrozenTrial | bool:
    """A worker's step between trials, run on the storage itself: write the result it
    ``told``, check the run, claim a ticket, mark it with the worker's id and read it.

    The driver's storage proxy serves this as one call (:mod:`hpo_widget._proxy`), where a
    worker made five round trips (the tell, :class:`_StopCheck`, :func:`claim_ticket_id`, the
    ``WORKER`` attribute, Optuna's read of the new trial).  Returns the claimed trial as stored,
    False when the run is over (stop requested, or another run owns the study), True when the
    pool is empty for now.  The result is written first, so a stop still keeps it.
    """
    if told is not None:
        write_told(storage, told)
    attrs = storage.get_study_system_attrs(study_id)
    if run_is_over(attrs, run_id):
        return False
    tid = claim_ticket_id(storage, study_id, run_id, attrs)
    if tid is None:
        return True
    storage.set_trial_system_attr(tid, _attrs.WORKER, worker)
    return storage.get_trial(tid)


class _Heartbeat:
    """Stamps the current trial every ``interval`` seconds from a daemon thread."""

    def __init__(self, storage: BaseStorage, interval: float) -> None:
        self._storage = storage
        self._interval = interval
        self._trial_id: int | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hpo-heartbeat", daemon=True)
        self._thread.start()

    def track(self, trial_id: int | None) -> None:
        with self._lock:
            self._trial_id = trial_id

    def _run(self) -> None:
        while not self._done.wait(self._interval):
            with self._lock:
                trial_id = self._trial_id
            if trial_id is None:
                continue
            # The trial may have finished meanwhile; the next beat simply tries again.
            with contextlib.suppress(Exception):
                self._storage.set_trial_system_attr(trial_id, _attrs.HEARTBEAT, time.time())

    def close(self) -> None:
        self._done.set()


class _StopCheck:
    """Whether the run is over: the driver's event in its own process, else the run record,
    read before every claim.  Reading it less often (tried: every 0.25 s, one round trip
    fewer per trial) can let a worker claim a ticket after the driver has failed the trials in
    flight and before its process was killed, leaving a trial RUNNING that nobody ends.  The
    same read of the study's attributes then serves the claim (the ticket board lives there
    too), so checking costs no round trip of its own."""

    def __init__(self, task: WorkerTask, storage: BaseStorage, study_id: int) -> None:
        self._task, self._storage, self._study_id = task, storage, study_id
        #: The study's system attributes as the latest check read them (None: not read).
        self.attrs: dict[str, Any] | None = None

    def __call__(self) -> bool:
        local = _LOCAL_STOPS.get(self._task.run_id)
        if local is not None:
            return local.is_set()
        self.attrs = self._storage.get_study_system_attrs(self._study_id)
        return run_is_over(self.attrs, self._task.run_id)


def _check_values(result: Any, n_objectives: int) -> tuple[list[float] | None, str | None]:
    """Validate an objective's return value; a reason string means the trial must FAIL."""
    values = list(result) if isinstance(result, (list, tuple)) else [result]
    if len(values) != n_objectives:
        return None, f"objective returned {len(values)} values but the study has {n_objectives}"
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            return None, f"objective returned {v!r}, which is not a number"
        if math.isnan(f) or math.isinf(f):
            return None, f"objective returned {f}; NaN and infinite values fail the trial"
        out.append(f)
    return out, None


def _run_one(
    study: optuna.Study,
    trial: optuna.Trial,
    task: WorkerTask,
    me: str,
    marked: bool = False,
    defer: bool = False,
) -> Told | None:
    """Run the objective on ``trial`` and tell the outcome (``marked``: the claim already
    wrote this worker's id on the trial).  With ``defer``, a completed trial is returned for
    the next claim to write instead (:data:`Told`): at once for a ticket the driver sampled,
    once Optuna's tell ran up to its write for one the worker sampled."""
    storage = compat.storage_of(study)
    if not marked:
        storage.set_trial_system_attr(compat.trial_id(trial), _attrs.WORKER, me)
    try:
        result = task.objective(trial)
    except optuna.TrialPruned:
        compat.tell(study, trial, state=TrialState.PRUNED)
        return None
    except (*task.catch, *_OBJECTIVE_EXITS) as exc:
        # KeyboardInterrupt / SystemExit raised *by the objective* are its failure, not a lost
        # worker: keep the traceback, fail the trial (it counts) and go on with the study.
        storage.set_trial_system_attr(
            compat.trial_id(trial), _attrs.TRACEBACK, traceback.format_exc()
        )
        storage.set_trial_system_attr(
            compat.trial_id(trial),
            _attrs.FAIL_REASON,
            mask_password(f"{type(exc).__name__}: {exc}"),
        )
        compat.tell(study, trial, state=TrialState.FAIL)
        return None
    values, reason = _check_values(result, len(study.directions))
    if reason is not None:
        storage.set_trial_system_attr(compat.trial_id(trial), _attrs.FAIL_REASON, reason)
        compat.tell(study, trial, state=TrialState.FAIL)
    elif task.sampled_on_driver and values is not None:
        # Optuna's tell first reads the trial back, for its state checks and the sampler's
        # after_trial; neither has work here: this worker's sampler does nothing, the values
        # were checked just above, and a trial that finished meanwhile refuses the write
        # (UpdateFinishedTrialError, as tell would).  One round trip fewer per trial.
        if defer:
            return compat.trial_id(trial), values
        storage.set_trial_state_values(compat.trial_id(trial), TrialState.COMPLETE, values)
    elif defer:
        held = compat.tell_held(study, trial, values)
        if held is not None:
            state, told_values = held
            if state == TrialState.COMPLETE and told_values is not None:
                return compat.trial_id(trial), told_values
            storage.set_trial_state_values(compat.trial_id(trial), state, told_values)
    else:
        compat.tell(study, trial, values)
    return None


def _next_trial(
    study: optuna.Study, task: WorkerTask, attrs: dict[str, Any] | None
) -> optuna.Trial | None:
    """A claimed ticket (the pool refilled after the claim when the driver lives in this
    process), a new ``ask()`` trial without a budget, or None while the pool is empty."""
    if not task.use_tickets:
        return study.ask()
    trial = claim_ticket(study, task.run_id, attrs)
    refill = _LOCAL_REFILLS.get(task.run_id)
    if refill is not None:
        refill()
        if trial is None:
            trial = claim_ticket(study, task.run_id)
    return trial


#: What a storage that claims in one step offers (the driver's proxy, :mod:`._proxy`):
#: ``(study_id, run_id, worker, told, wait)``.
_ClaimCall = Callable[[int, str, str, "Told | None", float], "FrozenTrial | bool | None"]


class _Claims:
    """Where the next trial comes from: one call to the storage when it can claim for the
    worker (:func:`claim_for_worker` on the driver's proxy), else the stop check and the claim
    made here, call by call.  ``next()`` returns ``(over, trial, marked)``."""

    def __init__(self, task: WorkerTask, study: optuna.Study) -> None:
        self._task, self._study = task, study
        self._storage = compat.storage_of(study)
        self._stop = _StopCheck(task, self._storage, compat.study_id(study))
        remote: _ClaimCall | None = getattr(self._storage, "claim_for_worker", None)
        # Threads of the driver's process share its storage and its refills: they claim here.
        local = task.run_id in _LOCAL_STOPS
        self._remote = remote if task.use_tickets and not local else None
        #: A worker process on an hpo_widget journal file checks the run, claims and marks
        #: the trial in one append (:func:`~hpo_widget._optuna_compat.journal_batch`).
        self._journal = task.use_tickets and not local and sealed_journal(self._storage) is not None

    @property
    def carries_results(self) -> bool:
        """Whether a completed trial's result may wait for the next claim (:data:`Told`): the
        next claim is the worker's very next step, one append on a journal file, one call
        through the proxy, and either writes the result before its stop check."""
        return self._remote is not None or self._journal

    @property
    def waits_on_offers(self) -> bool:
        """Whether a claim may wait at the storage for the driver's next offer (the proxy)."""
        return self._remote is not None

    def flush(self, told: Told | None) -> None:
        """Write a result that no claim will carry (the worker leaves)."""
        if told is not None:
            write_told(self._storage, told)

    def next(
        self, me: str, told: Told | None = None, wait: float = 0.0
    ) -> tuple[bool, optuna.Trial | None, bool]:
        """``wait``: seconds a claim through the proxy may wait there for an offer."""
        if self._remote is not None:
            try:
                outcome = self._remote(
                    compat.study_id(self._study), self._task.run_id, me, told, wait
                )
            except BaseException:
                # The call may not have reached the server: write the result here (a second
                # write of a written one is refused and dropped).
                with contextlib.suppress(Exception):
                    self.flush(told)
                raise
            if outcome is None:  # the server cannot: claim call by call from now on
                self._remote = None
            elif isinstance(outcome, bool):
                return not outcome, None, False
            else:
                return False, compat.trial_for(self._study, compat.trial_id(outcome)), True
        if self._journal:
            try:
                claimed = self._claim_on_journal(me, told)
            except BaseException:
                with contextlib.suppress(Exception):
                    self.flush(told)  # the batch wrote nothing: the result on its own
                raise
            if claimed is not None:
                return claimed
            told = None  # written by the step that found no board
        self.flush(told)
        if self._stop():
            return True, None, False
        return False, _next_trial(self._study, self._task, self._stop.attrs), False

    def _claim_on_journal(
        self, me: str, told: Told | None
    ) -> tuple[bool, optuna.Trial | None, bool] | None:
        """The last trial's result, the stop check, the claim and the worker's mark as one
        read and one append: no other writer comes between, so a ticket seen WAITING is this
        worker's (no claim written and lost to another worker), and a result is written
        before the stop check (a stop keeps it).  None: no board to claim from (scan)."""
        sid, run_id = compat.study_id(self._study), self._task.run_id
        with compat.journal_batch(self._storage) as batch:
            assert batch is not None
            if told is not None:
                batch.finish(told[0], TrialState.COMPLETE, told[1])
            attrs = batch.study_system_attrs(sid)
            if run_is_over(attrs, run_id):
                return True, None, False
            board = attrs.get(_attrs.POOL)
            if not isinstance(board, dict):
                return None
            if board.get("run") != run_id:
                return False, None, False
            for tid in (int(i) for i in board.get("ids") or ()):
                if batch.trial_state(tid) == TrialState.WAITING:
                    batch.claim(tid)
                    batch.set_trial_system_attr(tid, _attrs.WORKER, me)
                    break
            else:
                return False, None, False
        return False, compat.trial_for(self._study, tid), True


def _claim_wait(task: WorkerTask) -> float:
    """How long the next claim may wait on the proxy: :data:`_CLAIM_WAIT`, never past the
    run's deadline."""
    if task.deadline is None:
        return _CLAIM_WAIT
    return max(0.0, min(_CLAIM_WAIT, task.deadline - time.time()))


def _worker_sampler(task: WorkerTask, slot: int) -> optuna.samplers.BaseSampler:
    """The run's sampler, or for tickets the driver sampled one that is never asked (every
    parameter is on the trial already) and reads nothing when a trial is built."""
    if task.sampled_on_driver:
        return optuna.samplers.RandomSampler()
    return make_sampler(task.sampler, space=task.space, worker_index=slot)


def run_worker(task: WorkerTask, slot: int = 0) -> WorkerResult:
    """Run trials until the tickets run out, the deadline passes or a stop is requested."""
    me = worker_id(slot)
    done = 0
    heartbeat: _Heartbeat | None = None
    try:
        storage = _LOCAL_STORAGES.get(task.run_id) or open_storage(task.storage)
        study = optuna.load_study(
            study_name=task.study_name,
            storage=storage,
            sampler=_worker_sampler(task, slot),
            pruner=make_pruner(task.pruner),
        )
        interval = task.heartbeat_interval
        run = run_record.read(storage, compat.study_id(study))
        published = run.heartbeat_interval if run is not None else None
        if published is not None and published > 0:
            # The driver publishes the interval its grace needs; beat at least that often.
            interval = min(interval, float(published))
        heartbeat = _Heartbeat(storage, interval)
        claims = _Claims(task, study)
        told: Told | None = None  # the last trial's result, for the next claim to write
        starved_until = time.monotonic() + _STARVED_LIMIT
        idle_wait = _REFILL_WAIT
        budget_due = 0.0  # monotonic time of the next budget check while waiting on the proxy
        while True:
            if task.deadline is not None and time.time() >= task.deadline:
                break
            wait = _claim_wait(task) if claims.waits_on_offers else 0.0
            asked = time.monotonic()
            over, trial, marked = claims.next(me, told, wait)
            told = None
            if over:
                break
            if trial is None:
                # Wait while the run may still need this worker (a refill of the pool or a
                # retry of a lost trial); past the limit the driver is gone.
                now = time.monotonic()
                if now >= starved_until:
                    break
                if wait > 0 and now - asked >= wait / 2:
                    # The proxy waited for an offer: ask again (and wait there) at once.  It
                    # says when the run is over; the budget is read only for a dead driver.
                    if now >= budget_due:
                        budget_due = now + _BUDGET_CHECK_EVERY
                        if not _may_need_more(storage, study, task.run_id):
                            break
                    continue
                # No proxy to wait on (or it could not wait): look again after a pause.
                if _may_need_more(storage, study, task.run_id):
                    time.sleep(idle_wait)
                    idle_wait = min(2 * idle_wait, _MAX_IDLE_WAIT)
                    continue
                break
            starved_until = time.monotonic() + _STARVED_LIMIT
            idle_wait = _REFILL_WAIT
            budget_due = 0.0
            heartbeat.track(compat.trial_id(trial))
            try:
                told = _run_one(study, trial, task, me, marked, claims.carries_results)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # the driver already failed this trial (stop or lost); drop our result
            finally:
                heartbeat.track(None)
            done += 1
        claims.flush(told)
        return WorkerResult(me, done)
    except BaseException as exc:  # returned, never raised: see module docstring
        if isinstance(exc, KeyboardInterrupt):
            return WorkerResult(me, done, "interrupted")
        return WorkerResult(me, done, mask_password(traceback.format_exc()))
    finally:
        if heartbeat is not None:
            heartbeat.close()
