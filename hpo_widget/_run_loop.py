"""One run of a study: the object :meth:`StudyRunner.start` creates and its driver thread runs.

It holds what lives exactly as long as a run (its id, the storage proxy, the backend thread, the
relaunch policy, the stop reason) and loops: read the trials, publish what finished, reap lost
trials, top up tickets, check stop rules and the run record, relaunch failed workers.  Workers
never talk to the driver except through storage.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from optuna.trial import FrozenTrial, TrialState

from . import _attrs, run_record
from . import _optuna_compat as compat
from ._driver_sampling import presample, samples_on_driver, sampling_space
from ._reaper import Reaper
from ._tickets import BOARD_STORAGES, Settled, Tickets, Unsettled, budget, is_objective_failure
from ._worker import (
    _LOCAL_REFILLS,
    _LOCAL_STOPS,
    _LOCAL_STORAGES,
    WorkerResult,
    WorkerTask,
    run_worker,
)
from .events import RunStatus, StartPhase, TrialFinished, WorkerSeen
from .storage import JournalGrowth, StorageRef, journal_file, mask_password, writers_held

if TYPE_CHECKING:
    from .runner import StudyRunner

_log = logging.getLogger("hpo_widget.runner")
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
TAKEN_OVER = "another run of this study took over"
STOPPED_BY_USER = "stopped by user"
STOPPED_THROUGH_STORAGE = "stopped through the study's storage"
#: Seconds between the refiller's looks at the pool while it runs low / longest while it is full.
_REFILL_FAST = 0.01
_REFILL_SLOW = 0.2


class RunError(RuntimeError):
    """The run itself broke (a backend or worker crashed), as opposed to a trial failing."""


def trial_event(t: FrozenTrial) -> TrialFinished:
    attrs = t.system_attrs
    error = attrs.get(_attrs.FAIL_REASON) if t.state == TrialState.FAIL else None
    start = t.datetime_start.timestamp() if t.datetime_start else None
    end = t.datetime_complete.timestamp() if t.datetime_complete else None
    return TrialFinished(
        number=t.number,
        state=t.state.name,
        values=tuple(t.values) if t.values is not None else None,
        params=dict(t.params),
        duration=(end - start) if start is not None and end is not None else None,
        worker=attrs.get(_attrs.WORKER),
        error=error,
        intermediate=dict(t.intermediate_values),
        datetime_start=start,
        datetime_complete=end,
    )


def heartbeat_interval(grace: float) -> float:
    """How often workers stamp their trial: well within the grace, never hammering storage."""
    return max(0.5, min(10.0, grace / 3))


def relaunch_delay(idle_launches: int) -> float:
    """Seconds before relaunching workers that ended without progress: doubling from 0.5 s,
    at most 10 s (the exponent is capped, so no count of launches overflows it)."""
    return min(10.0, 0.5 * (2 ** min(max(idle_launches, 0), 6) - 1))


class Run:
    """One start() of a :class:`~hpo_widget.StudyRunner`, driven by :meth:`drive`."""

    def __init__(self, runner: StudyRunner, target: int | None, timeout: float | None) -> None:
        self.runner = runner
        self.study = runner.study
        self.config = runner.config
        self.backend = runner.backend
        self.id = uuid.uuid4().hex[:12]
        self.target = target
        self.deadline = time.time() + timeout if timeout is not None else None
        self.stop_event = threading.Event()
        self.stop_reason: str | None = None  # None: the user's Stop
        self.error: str | None = None
        self.results: list[WorkerResult] = []
        self.backend_thread: threading.Thread | None = None
        self.proxy: Any = None  # a StorageProxyServer while the run needs one
        self.tickets = Tickets(self.study, self.config.retries, run_id=self.id)
        self.reaper = Reaper(
            self.tickets,
            self.config.heartbeat_grace,
            backend_alive=self._backend_alive,
            backend_error=self.backend_error,
        )
        trials = self.study.get_trials(deepcopy=False)
        self.reported = {t.number for t in trials if t.state in _FINISHED}
        self.failed_at_start = sum(1 for t in trials if is_objective_failure(t))
        self.workers_seen: set[str] = set()
        self.status_message = ""  # the message of the latest STARTING/RUNNING status
        self.detail = ""  # what the backend waits for (pending executors), "" if nothing
        #: (time, finished trials) when this run's first trial finished: the ETA's origin.
        self.first_finished: tuple[float, int] | None = None
        self.phase = StartPhase.BACKEND
        self.pool = Tickets.initial_pool(1)  # tickets kept WAITING; set for the workers in _drive
        self.max_pool = Tickets.max_pool(1)
        self._refiller_done = threading.Event()
        #: Set once every ticket is handed out (the run's tail) by what hears workers elsewhere
        #: (the proxy's state-change hook, a journal file's growth): the last tell then wakes
        #: the loop, which ends the run at once instead of at its next poll.
        self._tail_wake = threading.Event()
        self._in_tail = False
        self._refilled_elsewhere = False  # a refiller that sets _tail_wake runs
        self._settled = Settled()

    # -- what the loop reads -------------------------------------------------------------
    def _backend_alive(self) -> bool:
        thread = self.backend_thread
        return thread is not None and thread.is_alive()

    def backend_error(self) -> str | None:
        """The telling line of the latest worker/backend failure of this run (an exit code
        when the backend reported one), for the reason of the trials it took down."""
        for r in reversed(self.results):
            if r.error and r.error != "interrupted":
                lines = [ln.strip() for ln in r.error.strip().splitlines() if ln.strip()]
                telling = [ln for ln in lines if "exit" in ln.lower()] or lines
                return telling[-1] if telling else None
        return None

    def _errors(self) -> list[str]:
        return [r.error for r in self.results if r.error and r.error != "interrupted"]

    def publish(self, trials: Sequence[FrozenTrial], counted: int | None = None) -> None:
        """Announce the workers and finished trials among ``trials`` not announced yet;
        ``counted``: the study's budget count when ``trials`` is not the whole study."""
        reported = len(self.reported)
        for t in trials:
            worker = t.system_attrs.get(_attrs.WORKER)
            if worker and worker not in self.workers_seen:
                self.workers_seen.add(worker)
                self.runner._emit(WorkerSeen(worker))
            if t.state in _FINISHED and t.number not in self.reported:
                self.reported.add(t.number)
                self.runner._emit(trial_event(t))
                self._call_back(t)
        if len(self.reported) > reported and self.first_finished is None:
            self.first_finished = (time.time(), budget(trials)[0] if counted is None else counted)
            if self.phase is StartPhase.FIRST_TRIAL:  # started: say so once, then stay quiet
                self.phase = StartPhase.NONE
                if self.runner.status is RunStatus.RUNNING:  # not while stopping
                    self._announce(RunStatus.RUNNING)

    def _call_back(self, trial: FrozenTrial) -> None:
        """Optuna study callbacks, in the driver, as ``optimize`` calls them after a trial."""
        callbacks = self.runner.callbacks
        if not callbacks:
            return
        with compat.callback_scope(self.study) as stopped:
            for callback in callbacks:
                try:
                    callback(self.study, trial)
                except Exception:  # a broken callback must not break the run
                    _log.exception("hpo_widget study callback %r failed", callback)
        if stopped[0] and not self.stop_event.is_set():
            self.stop_reason = "a study callback called study.stop()"
            self.stop_event.set()

    def refill(self) -> bool:
        """Top the ticket pool up; True when it had run low.

        Called by this process's workers after each claim, and for workers elsewhere by the
        refiller thread (:meth:`_refill_loop`).  It reads only the trials in flight
        (:class:`~hpo_widget._tickets.Tickets.refill`), so workers claiming hundreds of trials
        a second keep a pool of a few tickets, at trial 10,000 as cheaply as at trial 10.
        """
        target = self.target
        if target is None or self.stop_event.is_set():
            return False
        return self.tickets.refill(target, self.pool)

    def poll(self) -> tuple[list[FrozenTrial], Unsettled]:
        """Read the study: publish, reap; the whole study and its unsettled part.

        Only the trials past the settled front (:class:`~hpo_widget._tickets.Settled`) are
        walked, so a poll costs the same at trial 10,000 as at trial 100.
        """
        trials = self.study.get_trials(deepcopy=False)
        view = self._settled.read(trials)
        self.publish(view.trials, counted=view.budget[0])
        self.reaper.reap_lost(view.trials, self.target, history=trials)
        return trials, view

    #: ``time.monotonic()`` before which :meth:`ended_elsewhere` does not read the record again.
    _record_due = 0.0

    def ended_elsewhere(self) -> str | None:
        """Why the run record says this run is over although nobody here asked, or None.

        Anyone who can write the study may stop it (another kernel, ``hpo-widget stop``, the
        JupyterLab sidebar); a second driver on the same study replaces the record and takes
        over.  Read once per poll interval: starved polls (ten a poll interval) skip it.
        """
        now = time.monotonic()
        if now < self._record_due:
            return None
        self._record_due = now + 0.9 * self.config.poll_interval
        record = run_record.read(compat.storage_of(self.study), compat.study_id(self.study))
        if record is None or record.id != self.id:
            return TAKEN_OVER
        if record.stop:
            by = f" ({record.stop_reason})" if record.stop_reason else ""
            return STOPPED_THROUGH_STORAGE + by
        return None

    def _stop_rule(self, trials: Sequence[FrozenTrial]) -> str | None:
        rules = self.config.stop
        if not rules.active:
            return None
        failed = sum(1 for t in trials if is_objective_failure(t)) - self.failed_at_start
        return rules.reason(trials, self.study.directions, failed_in_run=failed)

    # -- set-up ------------------------------------------------------------------------------
    def worker_storage(self, n_workers: int = 1) -> tuple[StorageRef, Any]:
        """How workers reach storage, starting a proxy when they cannot open it themselves
        (with a server thread for each worker's claim waiting on it, and some over)."""
        ref = self.runner.storage_ref
        storage = compat.storage_of(self.study)
        if self.backend.in_process:
            _LOCAL_STORAGES[self.id] = storage
            return ref or StorageRef("memory", "memory"), None
        needs_proxy = ref is None or (
            not ref.shareable_across_processes
            or (self.backend.remote and not ref.shareable_across_hosts)
        )
        if not needs_proxy:
            assert ref is not None
            return ref, None
        from ._proxy import StorageProxyServer

        options = {"max_workers": max(16, n_workers + 8), **self._proxy_options()}
        proxy = StorageProxyServer(storage, **options)
        self.tickets.on_publish = proxy.offered
        return proxy.ref, proxy

    def _proxy_options(self) -> dict[str, Any]:
        """The config's ``storage_proxy`` over the backend's defaults (on Kubernetes: the pod
        IP and port 7080); a host given without ``advertise`` does not inherit the default."""
        given = dict(self.config.storage_proxy)
        options = dict(self.backend.default_storage_proxy())
        if "host" in given:
            options.pop("advertise", None)
        options.update(given)
        return options

    def backend_status(self, detail: str) -> None:
        """What the backend waits for changed: re-announce the current status with it."""
        self.detail = detail
        status = self.runner.status
        if status in (RunStatus.STARTING, RunStatus.RUNNING):
            self._announce(status)

    def _announce(self, status: RunStatus, message: str | None = None) -> None:
        """(Re-)announce a starting or running status with the current phase and detail."""
        if message is not None:
            self.status_message = message
        text = self.status_message
        if self.phase is StartPhase.FIRST_TRIAL:
            text += "; waiting for the first trial to finish"
        self.runner._set_status(status, text, detail=self.detail, phase=self.phase)

    def _launch(self, task: WorkerTask, n_workers: int) -> threading.Thread:
        self.results = []

        def body() -> None:
            try:
                self.results.extend(
                    self.backend.run(run_worker, [(task, s) for s in range(n_workers)])
                )
            except BaseException as exc:  # surfaced by the driver loop
                error = f"{type(exc).__name__}: {exc}"
                self.results.append(WorkerResult("backend", 0, mask_password(error)))

        thread = threading.Thread(target=body, name="hpo-backend", daemon=True)
        thread.start()
        return thread

    def _open_record(self) -> None:
        run_record.open_run(
            compat.storage_of(self.study),
            compat.study_id(self.study),
            self.id,
            n_trials=self.target,
            heartbeat_interval=heartbeat_interval(self.config.heartbeat_grace),
        )

    def _close_record(self) -> None:
        run_record.close_run(compat.storage_of(self.study), compat.study_id(self.study), self.id)
        if self.proxy is not None:
            self.proxy.offered()  # claims waiting on the proxy hear that the run is over

    # -- the loop ----------------------------------------------------------------------------
    def drive(self) -> None:
        if self.backend.in_process:
            _LOCAL_STOPS[self.id] = self.stop_event
        self.backend.watch_status(self.backend_status)
        try:
            self._drive()
        except BaseException as exc:
            self.error = mask_password(str(exc))
            _log.info("hpo_widget run failed: %s", self.error)
            try:
                self.tickets.close_board()
                self._close_record()
                self.backend.cancel()
                self.tickets.fail_in_flight("run failed", self.target)
            except Exception:
                pass
            self.runner._set_status(RunStatus.FAILED, self.error)
        finally:
            self.backend.watch_status(None)
            _LOCAL_STOPS.pop(self.id, None)
            _LOCAL_STORAGES.pop(self.id, None)
            _LOCAL_REFILLS.pop(self.id, None)
            self._refiller_done.set()
            if self.proxy is not None:
                self.proxy.on_state_change(None)
                self.proxy.close()

    def _sample_on_driver(self) -> bool:
        """Let the tickets carry their parameters (:mod:`hpo_widget._driver_sampling`) when
        workers reach storage through this run's proxy, claim from a board, and the
        objective's space and the sampler allow it; sets the tickets' sampling hook and
        returns whether it did.

        Only through the proxy: there a worker that samples reads the study over the network
        for every trial.  Workers sharing a journal file hold a replica of the study each and
        sample in parallel; measured (benchmarks/round_trips.py, TPE, 2 slots) sampling on the
        driver halved their rate (143 -> 69 trials/s) while it raised the proxy's (78 -> 103).
        """
        space = sampling_space(self.runner.objective)
        if (
            self.target is None
            or self.proxy is None
            or self.tickets.run_id is None
            or space is None
            or not samples_on_driver(self.study.sampler)
        ):
            return False
        study = self.study
        self.tickets.sample = lambda trial_id: presample(study, trial_id, space)
        return True

    def _start_refiller(self) -> None:
        wake = threading.Event()
        if self.proxy is not None:

            def changed() -> None:
                wake.set()
                if self._in_tail:
                    self._tail_wake.set()

            self.proxy.on_state_change(changed)
            waits = self._waits_on(wake)
            self._refilled_elsewhere = True
        else:
            waits = self._waits_on_storage(wake)
        thread = threading.Thread(
            target=self._refill_loop,
            args=(waits, self._refiller_done),
            name=f"hpo-refill-{self.id}",
            daemon=True,
        )
        thread.start()

    @staticmethod
    def _waits_on(wake: threading.Event) -> Callable[[float], None]:
        def wait(timeout: float) -> None:
            wake.wait(timeout)
            wake.clear()

        return wait

    def _waits_on_storage(self, wake: threading.Event) -> Callable[[float], None]:
        """Workers that write a journal file themselves are heard by its growth (a claim, a
        tell): the refiller waits on that, and in the run's tail a growth wakes the loop,
        which ends the run at once instead of at its next poll.  Other storages: timed looks."""
        path = journal_file(compat.storage_of(self.study))
        if path is None:
            return self._waits_on(wake)
        growth = JournalGrowth(path)
        self._refilled_elsewhere = True

        def wait(timeout: float) -> None:
            if growth.wait(timeout, self.stop_event) and self._in_tail:
                self._tail_wake.set()

        return wait

    def _refill_loop(self, waits: Callable[[float], None], done: threading.Event) -> None:
        """Keep the pool of workers in other processes topped up between the driver's polls.

        ``waits`` returns early when workers may have claimed (a claim through the storage
        proxy, which lives in this process; a journal file that grew); otherwise the
        refiller looks every ``_REFILL_FAST`` seconds while the pool runs low, backing off to
        ``_REFILL_SLOW`` while it stays full.  Without it a pool of two tickets per worker
        drains between two polls and the workers wait.
        """
        interval = _REFILL_FAST
        while not done.is_set() and not self.stop_event.is_set():
            waits(interval)
            try:
                low = self.refill()
            except Exception:  # storage hiccup: the driver's poll reports real trouble
                _log.debug("ticket refill failed", exc_info=True)
                low = False
            interval = _REFILL_FAST if low else min(2 * interval, _REFILL_SLOW)

    def _drive(self) -> None:
        config, target = self.config, self.target
        trials = self.study.get_trials(deepcopy=False)
        # Starting a backend can take long (a first Spark session: ~25 s): say what happens.
        self._announce(RunStatus.STARTING, f"starting {self.backend.describe()}")
        n_workers = self.backend.default_workers() if config.n_workers is None else config.n_workers
        if target is not None and n_workers:
            n_workers = max(1, min(n_workers, target - budget(trials)[0]))
        ref, self.proxy = self.worker_storage(n_workers)
        # A board only where workers claim from it (not RDB: see BOARD_STORAGES); on SQLite
        # its writes would only contend for the database's one write lock.
        worker_storage = compat.storage_of(self.study) if self.backend.in_process else None
        if not (
            isinstance(worker_storage, BOARD_STORAGES)
            if worker_storage is not None
            else ref.kind in ("grpc", "journal")
        ):
            self.tickets.run_id = None
        sampled_on_driver = self._sample_on_driver()
        self.pool, self.max_pool = Tickets.initial_pool(n_workers), Tickets.max_pool(n_workers)
        if target is not None:
            self.tickets.top_up(target, self.pool)  # adds WAITING trials: counts stay
            if self.backend.in_process:
                _LOCAL_REFILLS[self.id] = self.refill
            else:
                self._start_refiller()
        self._open_record()
        task = WorkerTask(
            objective=self.runner.objective,
            study_name=self.study.study_name,
            storage=ref,
            run_id=self.id,
            sampler=self.runner.sampler_spec,
            pruner=self.runner.pruner_spec,
            space=self.runner.space,
            use_tickets=target is not None,
            sampled_on_driver=sampled_on_driver,
            deadline=self.deadline,
            heartbeat_interval=heartbeat_interval(config.heartbeat_grace),
        )
        external = n_workers == 0  # only `hpo-widget worker` processes do the work
        if not external and (target is None or budget(trials)[0] < target):
            self.backend_thread = self._launch(task, n_workers)
        launched_at = budget(trials)[0]
        failed_launches = idle_launches = 0
        relaunch_at = 0.0
        self.phase = StartPhase.FIRST_TRIAL if self.first_finished is None else StartPhase.NONE
        self._announce(RunStatus.RUNNING, f"{n_workers} worker(s) on {self.backend.describe()}")
        while not self.stop_event.is_set():
            elsewhere = self.ended_elsewhere()
            if elsewhere is not None:
                self.stop_reason = elsewhere
                self.stop_event.set()  # also what in-process workers watch
                break
            self._tail_wake.clear()
            trials, view = self.poll()
            counted, in_flight = view.budget
            if target is not None and counted >= target:
                break
            rule = self._stop_rule(trials)
            if rule is not None:
                self.stop_reason = rule
                self.stop_event.set()
                break
            if target is not None:
                waiting = sum(1 for t in view.trials if t.state == TrialState.WAITING)
                open_budget = counted + in_flight < target
                if waiting == 0 and open_budget:  # drained between two polls: grow the pool
                    self.pool = min(2 * self.pool, self.max_pool)
                in_flight += self.tickets.top_up(target, self.pool)
                self._in_tail = counted + in_flight >= target
            now = time.time()
            if external:
                if self.deadline is not None and now >= self.deadline:
                    break
            elif not self._backend_alive():
                errors = self._errors()
                timed_out = self.deadline is not None and now >= self.deadline
                if (target is None or timed_out) and not errors:
                    break
                if relaunch_at == 0.0:  # the first poll since this launch's workers ended
                    progressed = counted != launched_at
                    if errors:
                        # A dead worker (killed process, lost executor) must not end the run:
                        # its trial is reaped (by PID or heartbeat) and re-queued.  Only a
                        # failure that repeats without any progress is a broken run.
                        failed_launches = 1 if progressed else failed_launches + 1
                        if failed_launches > config.max_relaunches:
                            raise RunError("workers keep failing:\n" + errors[0])
                    # Workers wait while the budget may need them, so an early exit without
                    # progress is rare; back off instead of relaunching every poll.  Counted
                    # once per launch, not per poll (a loaded CI run counted polls past 1024
                    # and 2**n overflowed the float).
                    idle_launches = 0 if progressed or errors else idle_launches + 1
                    relaunch_at = time.monotonic() + relaunch_delay(idle_launches)
                if time.monotonic() >= relaunch_at:
                    if errors:
                        _log.warning("workers failed, relaunching: %s", errors[0][-500:])
                    # Reap the dead workers' trials before relaunching.
                    trials, view = self.poll()
                    if errors:
                        self.reaper.reap_unnamed(trials, target)
                    if target is not None and view.budget[0] >= target:
                        # The last trials finished since the workers ended: the next poll
                        # ends the run, and a launch now would only start idle workers.
                        self.stop_event.wait(config.poll_interval)
                        continue
                    if target is not None and not in_flight:
                        self.tickets.top_up(target, self.pool)
                    launched_at, relaunch_at = counted, 0.0
                    self.backend_thread = self._launch(task, n_workers)
            elif self.deadline is not None and now >= self.deadline + config.heartbeat_grace:
                break
            # A pool running low is the refills' business (after each claim in this process,
            # the refiller thread for workers elsewhere), not a reason to read everything.
            if self._in_tail and self._refilled_elsewhere:
                self._tail_wake.wait(config.poll_interval)  # the last tell wakes it
            else:
                self.stop_event.wait(config.poll_interval)
        self._finish()

    def _finish(self) -> None:
        backend_thread = self.backend_thread
        stopped = self.stop_event.is_set()
        self.tickets.close_board()
        # Always close the run, so external `hpo-widget worker` processes leave too.
        self._close_record()
        if stopped:
            self.runner._status = RunStatus.STOPPING
            with writers_held(compat.storage_of(self.study)):  # none killed mid-write
                self.backend.cancel()
            if backend_thread is not None:
                backend_thread.join(1.0)  # a hung objective must not hold up Stop
            if self.stop_reason != TAKEN_OVER:
                # After a takeover the RUNNING trials may be the new run's: leave them.
                self.tickets.fail_in_flight(self.stop_reason or STOPPED_BY_USER, self.target)
        elif backend_thread is not None:
            backend_thread.join(self.config.heartbeat_grace + 5)
        trials = self.study.get_trials(deepcopy=False)
        self.publish(trials)
        self.reaper.reap_lost(trials, None)
        if stopped:
            self.runner._set_status(RunStatus.STOPPED, self.stop_reason or "")
        else:
            self.runner._set_status(RunStatus.FINISHED, self.runner._summary())
