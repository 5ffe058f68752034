"""StudyRunner: owns one Optuna study and runs its trials in the background through a backend.

Why not ``study.optimize(n_jobs=...)``?  It parallelises with a thread pool, not joblib, so under
``parallel_backend("spark")`` it still runs one trial at a time (joblib-spark#61).  The runner
instead launches N long-lived workers through ``joblib.Parallel`` on the chosen backend; each
claims budget *tickets* (WAITING trials) from storage shared with the driver until none is left
(see :mod:`hpo_widget._worker`).  The driver thread only watches storage: it publishes events,
re-queues trials whose worker died and turns Stop into cancellation.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from . import _attrs
from ._worker import (
    _LOCAL_STOPS,
    _LOCAL_STORAGES,
    WorkerResult,
    WorkerTask,
    budget,
    counts_towards_budget,
    run_worker,
)
from .backends import Backend, make_backend
from .events import Event, RunStatus, StatusChanged, TrialFinished, WorkerSeen
from .objectives import as_trial_objective
from .presets import SklearnPreset
from .samplers import PrunerSpec, SamplerSpec, make_pruner, make_sampler
from .space import SearchSpace
from .storage import StorageRef, describe_storage, mask_password, open_storage, resolve_storage

__all__ = ["Progress", "RunError", "StudyRunner"]

_log = logging.getLogger(__name__)
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
#: Seconds a local worker's death is confirmed while the backend runs (see _exit_reason).
_EXIT_CONFIRM = 2.0
_TAKEN_OVER = "another run of this study took over"
#: The ticket pool grows by doubling while workers drain it between polls, up to this.
_MAX_TICKET_POOL = 1024


class RunError(RuntimeError):
    """The run itself broke (a backend or worker crashed), as opposed to a trial failing."""


@dataclass(frozen=True)
class Progress:
    """Counts of the study against the current target, for progress bars."""

    complete: int
    pruned: int
    failed: int
    running: int
    waiting: int
    target: int | None
    elapsed: float
    status: RunStatus
    #: Finished trials the study already had when this run started (resumed studies).
    finished_at_start: int = 0

    @property
    def finished(self) -> int:
        return self.complete + self.pruned + self.failed

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate seen so far in this run (None until there is a rate)."""
        return None if self.target is None else _eta(self)


def _eta(p: Progress) -> float | None:
    assert p.target is not None
    left = p.target - p.finished
    if left <= 0:
        return 0.0
    done_here = p.finished - p.finished_at_start
    if p.elapsed <= 0 or done_here <= 0:
        return None
    return p.elapsed / done_here * left


def _local_pid(worker: str) -> int | None:
    """The PID in a worker id ``host:pid:slot`` when that worker runs on this host."""
    parts = worker.split(":")
    if len(parts) < 3 or not parts[-2].isdigit() or ":".join(parts[:-2]) != socket.gethostname():
        return None
    return int(parts[-2])


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (an exited child not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): existence is all we can tell


def _is_ours(trial: FrozenTrial) -> bool:
    attrs = trial.system_attrs
    return _attrs.TICKET in attrs or _attrs.WORKER in attrs


def _trial_event(t: FrozenTrial) -> TrialFinished:
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


class StudyRunner:
    """Run an Optuna study in the background on a joblib backend and publish what happens.

    ``n_trials`` given to :meth:`start` is the study's **total** of finished trials (complete,
    pruned, or failed by the objective), not "this many more": starting the same study again, in
    this process or after a kernel restart, resumes to that total.  Trials lost to a dead worker or
    a Stop do not count and are re-run with the same parameters.

    Example::

        runner = StudyRunner(objective, study_name="demo", backend="loky", n_workers=2)
        runner.start(n_trials=50)      # returns at once
        study = runner.wait()          # or keep working and watch runner.progress
    """

    def __init__(
        self,
        objective: Any,
        *,
        space: SearchSpace | dict[str, Any] | None = None,
        study_name: str | None = None,
        storage: str | BaseStorage | None = None,
        direction: Literal["minimize", "maximize"] | None = None,
        directions: Sequence[str] | None = None,
        sampler: str = "tpe",
        sampler_options: dict[str, Any] | None = None,
        pruner: str | None = None,
        pruner_options: dict[str, Any] | None = None,
        seed: int | None = None,
        backend: str | Backend = "threading",
        n_workers: int | None = None,
        backend_options: dict[str, Any] | None = None,
        retries: int = 1,
        heartbeat_grace: float = 30.0,
        poll_interval: float = 0.2,
        storage_proxy: dict[str, Any] | None = None,
        max_relaunches: int = 2,
    ) -> None:
        if isinstance(space, dict):
            space = SearchSpace.from_dict(space)
        if isinstance(objective, SklearnPreset) and space is None:
            space = objective.space
        self.space = space
        self.objective = as_trial_objective(objective, space)
        self._raw_objective = objective

        if direction is not None and directions is not None:
            raise ValueError("direction: give either direction or directions, not both")
        if direction is None and directions is None and isinstance(objective, SklearnPreset):
            direction = objective.direction  # type: ignore[assignment]
        for d in [direction] if directions is None else list(directions):
            if d is not None and d not in ("minimize", "maximize"):
                raise ValueError(f"direction: {d!r} must be 'minimize' or 'maximize'")
        if directions is not None and len(directions) == 0:
            raise ValueError("directions: give at least one direction")

        self.sampler_spec = SamplerSpec(sampler, dict(sampler_options or {}), seed)
        self.pruner_spec = PrunerSpec(pruner or "none", dict(pruner_options or {}))
        if n_workers is not None and n_workers < 0:
            raise ValueError(
                f"n_workers: must be >= 0 (0 = only external workers), got {n_workers}"
            )
        if retries < 0:
            raise ValueError(f"retries: must be >= 0, got {retries}")
        if heartbeat_grace <= 0:
            raise ValueError(f"heartbeat_grace: must be > 0 seconds, got {heartbeat_grace}")
        self.retries = retries
        self.max_relaunches = max_relaunches
        self.heartbeat_grace = float(heartbeat_grace)
        self.poll_interval = float(poll_interval)
        self.storage_proxy_options = dict(storage_proxy or {})

        self.backend = (
            backend
            if isinstance(backend, Backend)
            else make_backend(backend, **dict(backend_options or {}))
        )
        self.n_workers = n_workers

        if isinstance(storage, BaseStorage):
            self.storage_ref: StorageRef | None = None
            self._storage = storage
        else:
            self.storage_ref = resolve_storage(storage)
            self._storage = open_storage(self.storage_ref)

        self._study = self._create_or_load(study_name, direction, directions)
        if self.pruner_spec.name != "none" and len(self._study.directions) > 1:
            raise ValueError(
                "pruner: Optuna cannot prune multi-objective studies; set pruner='none' "
                "or optimise a single objective"
            )

        self._subscribers: list[Callable[[Event], None]] = []
        self._sub_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._status = RunStatus.IDLE
        self._error: str | None = None
        self._last_start: tuple[int | None, float | None] | None = None
        self._target: int | None = None
        self._started_at = 0.0
        self._reported: set[int] = set()
        self._workers_seen: set[str] = set()
        self._results: list[WorkerResult] = []
        self._finished_at_start = 0
        self._backend_thread: threading.Thread | None = None
        #: Workers (host:pid:slot) of this host seen dead, with when: see _exit_reason.
        self._exited_since: dict[str, float] = {}
        self._stop_reason = "stopped by user"

    # -- study -------------------------------------------------------------------------------
    def _create_or_load(
        self, name: str | None, direction: str | None, directions: Sequence[str] | None
    ) -> optuna.Study:
        dirs = list(directions) if directions is not None else [direction or "minimize"]
        sampler = make_sampler(self.sampler_spec, space=self.space)
        pruner = make_pruner(self.pruner_spec)
        if name is not None:
            try:
                existing = optuna.load_study(
                    study_name=name, storage=self._storage, sampler=sampler, pruner=pruner
                )
            except KeyError:
                existing = None
            if existing is not None:
                have = [d.name.lower() for d in existing.directions]
                if (direction is not None or directions is not None) and have != dirs:
                    raise ValueError(
                        f"direction: study {name!r} already exists with directions {have}; "
                        f"use another study_name or the same directions"
                    )
                return existing
        return optuna.create_study(
            study_name=name,
            storage=self._storage,
            directions=dirs,  # type: ignore[arg-type]  # validated in __init__
            sampler=sampler,
            pruner=pruner,
        )

    @property
    def study(self) -> optuna.Study:
        """The Optuna study (also usable directly: ``runner.study.best_params``)."""
        return self._study

    @property
    def study_name(self) -> str:
        return self._study.study_name

    @property
    def storage_description(self) -> str:
        """Where the study lives, password masked: safe to print or show in the UI."""
        return describe_storage(self.storage_ref or self._storage)

    @property
    def status(self) -> RunStatus:
        return self._status

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def progress(self) -> Progress:
        states = [t.state for t in self._study.get_trials(deepcopy=False)]
        lost = sum(
            1
            for t in self._study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
            if t.system_attrs.get(_attrs.LOST)
        )
        return Progress(
            complete=states.count(TrialState.COMPLETE),
            pruned=states.count(TrialState.PRUNED),
            failed=states.count(TrialState.FAIL) - lost,
            running=states.count(TrialState.RUNNING),
            waiting=states.count(TrialState.WAITING),
            target=self._target,
            elapsed=(time.time() - self._started_at) if self._started_at else 0.0,
            status=self._status,
            finished_at_start=self._finished_at_start,
        )

    def __repr__(self) -> str:
        return (
            f"StudyRunner(study={self.study_name!r}, storage={self.storage_description!r}, "
            f"backend={self.backend.describe()!r}, status={self._status.value!r})"
        )

    # -- events ------------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` from the runner's thread for every event; returns unsubscribe."""
        with self._sub_lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._sub_lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, event: Event) -> None:
        with self._sub_lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # a broken subscriber must not stop the study
                _log.exception("hpo_widget subscriber %r failed", callback)

    def _set_status(self, status: RunStatus, message: str = "") -> None:
        self._status = status
        p = self.progress
        self._emit(
            StatusChanged(status, mask_password(message), p.complete, p.pruned, p.failed, p.target)
        )

    # -- control -----------------------------------------------------------------------------
    def start(self, n_trials: int | None = None, timeout: float | None = None) -> StudyRunner:
        """Start (or resume) in the background and return at once.

        ``n_trials`` is the study's total (see class doc); ``timeout`` is seconds for this run.
        With neither, the run goes on until :meth:`stop`.
        """
        if self.running:
            raise RuntimeError("start: a run is already in progress; call stop() or wait() first")
        if n_trials is not None and (
            isinstance(n_trials, bool) or int(n_trials) != n_trials or n_trials < 1
        ):
            raise ValueError(f"n_trials: must be a positive integer, got {n_trials!r}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout: must be a positive number of seconds, got {timeout!r}")
        self._last_start = (n_trials, timeout)
        self._target = int(n_trials) if n_trials is not None else None
        self._stop_event = threading.Event()
        self._error = None
        self._results = []
        self._started_at = time.time()
        self._reported = {
            t.number for t in self._study.get_trials(deepcopy=False, states=_FINISHED)
        }
        self._finished_at_start = sum(
            1 for t in self._study.get_trials(deepcopy=False) if counts_towards_budget(t)
        )
        self._workers_seen = set()
        self._status = RunStatus.STARTING
        self._thread = threading.Thread(
            target=self._drive, args=(self._target, timeout), name="hpo-runner", daemon=True
        )
        self._thread.start()
        return self

    def resume(self) -> StudyRunner:
        """Start again with the arguments of the last :meth:`start` (continues to the same total)."""
        if self._last_start is None:
            raise RuntimeError("resume: nothing to resume; call start(n_trials=...) first")
        return self.start(*self._last_start)

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel the run; in-flight trials are failed as 'stopped' (and re-run on resume).

        Returns when the driver has finished cleaning up, so no trial of this run is RUNNING.
        """
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> optuna.Study:
        """Block until the run ends and return the study; raises :class:`RunError` if it broke."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"wait: the run is still going after {timeout} s")
        if self._error:
            raise RunError(self._error)
        return self._study

    def close(self) -> None:
        """Stop any run and release the backend (Spark session stays if it was not ours)."""
        if self.running:
            self.stop()
        self.backend.close()

    # -- driver ------------------------------------------------------------------------------
    def _add_ticket(
        self, params: dict[str, Any] | None = None, retry_of: int | None = None
    ) -> None:
        system_attrs: dict[str, Any] = {_attrs.TICKET: True}
        if params is not None:
            system_attrs["fixed_params"] = params
        if retry_of is not None:
            system_attrs[_attrs.RETRY_OF] = retry_of
        self._study.add_trial(
            optuna.trial.create_trial(state=TrialState.WAITING, system_attrs=system_attrs)
        )

    def _initial_pool(self, n_workers: int, ref: StorageRef) -> int | None:
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
        if self.backend.in_process or ref.kind == "journal":
            return None
        return max(4 * max(n_workers, 1), 16)

    def _top_up(self, target: int, trials: Sequence[FrozenTrial], pool: int | None = None) -> int:
        """Issue tickets up to the budget (and the pool); returns how many were added."""
        counted, in_flight = budget(trials)
        need = target - counted - in_flight
        if need < 0:
            self._cancel_surplus_tickets(-need)
            return 0
        if pool is not None:
            waiting = sum(1 for t in trials if t.state == TrialState.WAITING)
            need = min(need, max(0, pool - waiting))
        for _ in range(need):
            self._add_ticket()
        return need

    def _cancel_surplus_tickets(self, surplus: int) -> None:
        storage = self._study._storage
        waiting = self._study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        # Plain tickets first (newest first); user-enqueued and retry trials last.
        waiting.sort(key=lambda t: ("fixed_params" in t.system_attrs, -t.number))
        for t in waiting[:surplus]:
            try:
                if storage.set_trial_state_values(t._trial_id, state=TrialState.RUNNING):
                    self._mark_lost(t._trial_id, "ticket cancelled: the trial budget was lowered")
            except optuna.exceptions.UpdateFinishedTrialError:
                continue

    def _mark_lost(self, trial_id: int, reason: str) -> bool:
        storage = self._study._storage
        try:
            storage.set_trial_system_attr(trial_id, _attrs.LOST, True)
            storage.set_trial_system_attr(trial_id, _attrs.FAIL_REASON, reason)
            return bool(storage.set_trial_state_values(trial_id, state=TrialState.FAIL))
        except optuna.exceptions.UpdateFinishedTrialError:
            return False  # it finished after all; keep its result

    def _attempts(self, trial: FrozenTrial, by_number: dict[int, FrozenTrial]) -> int:
        attempts, current = 1, trial
        while _attrs.RETRY_OF in current.system_attrs:
            parent = by_number.get(current.system_attrs[_attrs.RETRY_OF])
            if parent is None:
                break
            attempts, current = attempts + 1, parent
        return attempts

    def _requeue(
        self, trial: FrozenTrial, by_number: dict[int, FrozenTrial], target: int | None
    ) -> None:
        if self._attempts(trial, by_number) <= self.retries:
            self._add_ticket(dict(trial.params), retry_of=trial.number)
        elif target is not None:
            self._add_ticket()  # out of retries: a fresh trial keeps the budget exact

    def _reap_lost(self, trials: Sequence[FrozenTrial], target: int | None) -> None:
        """Fail and re-queue RUNNING trials nobody is working on any more.

        A trial is live while its worker's heartbeat (or, before the first beat, its start) is
        younger than ``heartbeat_grace``.  That holds for every RUNNING trial, whoever created
        it: one a plain ``study.optimize`` left behind when it crashed, or a ``study.ask()`` in
        user code, has no hpo_widget heartbeat and is taken as abandoned ``heartbeat_grace``
        after it started (otherwise it would hold the run one short of its total forever).
        A worker process on this host that has exited is known sooner, from its PID.
        """
        now = time.time()
        by_number = {t.number: t for t in trials}
        for t in trials:
            if t.state != TrialState.RUNNING or t.datetime_start is None:
                continue
            who = t.system_attrs.get(_attrs.WORKER)
            reason = self._exit_reason(who, now) if isinstance(who, str) else None
            if reason is None:
                beat = float(t.system_attrs.get(_attrs.HEARTBEAT, 0))
                silent = now - max(t.datetime_start.timestamp(), beat)
                if silent <= self.heartbeat_grace:
                    continue
                if who is None:
                    reason = (
                        f"abandoned: RUNNING for {silent:.0f} s without a heartbeat and not "
                        "started by an hpo_widget worker (a crashed study.optimize or an "
                        "unfinished study.ask())"
                    )
                else:
                    reason = f"worker {who} lost: no heartbeat for {silent:.0f} s"
            if self._mark_lost(t._trial_id, reason):
                _log.warning("trial %d %s; re-queued", t.number, reason)
                self._requeue(t, by_number, target)

    def _reap_unnamed(self, target: int | None) -> None:
        """After the backend's call died, fail the tickets its workers claimed but had not yet
        signed with their id (a worker killed between the claim and the next write): no PID
        or heartbeat will ever name them."""
        cause = self._backend_error() or "the backend's workers died"
        trials = self._study.get_trials(deepcopy=False)
        by_number = {t.number: t for t in trials}
        for t in trials:
            attrs = t.system_attrs
            unnamed = _attrs.TICKET in attrs and _attrs.WORKER not in attrs
            if t.state != TrialState.RUNNING or not unnamed:
                continue
            if self._mark_lost(t._trial_id, f"worker exited right after claiming ({cause})"):
                self._requeue(t, by_number, target)

    def _exit_reason(self, worker: str, now: float) -> str | None:
        """Why ``worker`` (``host:pid:slot``) is known to be gone, or None if it may be alive.

        Only for processes on this host.  While the backend still runs, a death is confirmed
        for ``_EXIT_CONFIRM`` seconds first, so that the backend's own report (a loky exit code)
        can name the cause.
        """
        pid = _local_pid(worker)
        if pid is None or pid == os.getpid() or _pid_alive(pid):
            return None
        first = self._exited_since.setdefault(worker, now)
        backend = self._backend_thread
        if backend is not None and backend.is_alive() and now - first < _EXIT_CONFIRM:
            return None
        cause = self._backend_error()
        return f"worker {worker} exited mid-trial" + (f" ({cause})" if cause else "")

    def _backend_error(self) -> str | None:
        """The telling line of the latest worker/backend failure of this run (an exit code
        when the backend reported one), for the reason of the trials it took down."""
        for r in reversed(self._results):
            if r.error and r.error != "interrupted":
                lines = [ln.strip() for ln in r.error.strip().splitlines() if ln.strip()]
                telling = [ln for ln in lines if "exit" in ln.lower()] or lines
                return telling[-1] if telling else None
        return None

    def _publish(self, trials: Sequence[FrozenTrial]) -> None:
        for t in trials:
            worker = t.system_attrs.get(_attrs.WORKER)
            if worker and worker not in self._workers_seen:
                self._workers_seen.add(worker)
                self._emit(WorkerSeen(worker))
            if t.state in _FINISHED and t.number not in self._reported:
                self._reported.add(t.number)
                self._emit(_trial_event(t))

    def _poll(self, target: int | None) -> list[FrozenTrial]:
        trials = self._study.get_trials(deepcopy=False)
        self._publish(trials)
        self._reap_lost(trials, target)
        return trials

    def _heartbeat_interval(self) -> float:
        """How often workers stamp their trial: well within the grace, never hammering storage."""
        return max(0.5, min(10.0, self.heartbeat_grace / 3))

    def _write_run(self, run_id: str, target: int | None, stop: bool) -> None:
        # Published so that `hpo-widget worker` processes beat as often as this grace needs.
        record = {
            "id": run_id,
            "n_trials": target,
            "stop": stop,
            "heartbeat_interval": self._heartbeat_interval(),
        }
        self._study._storage.set_study_system_attr(self._study._study_id, _attrs.RUN, record)

    def _ended_elsewhere(self, run_id: str) -> str | None:
        """Why the run record says this run is over although nobody here asked, or None.

        Anyone who can write the study may stop it (another kernel, ``hpo-widget``, a
        dashboard); a second driver on the same study replaces the record and takes over.
        """
        attrs = self._study._storage.get_study_system_attrs(self._study._study_id)
        run = attrs.get(_attrs.RUN)
        if not isinstance(run, dict) or run.get("id") != run_id:
            return _TAKEN_OVER
        if run.get("stop"):
            return "stopped through the study's storage"
        return None

    def _worker_storage(self, run_id: str) -> tuple[StorageRef, Any]:
        """How workers reach storage, starting a proxy when they cannot open it themselves."""
        ref = self.storage_ref
        needs_proxy = ref is None or (
            not self.backend.in_process
            and (
                not ref.shareable_across_processes
                or (self.backend.remote and not ref.shareable_across_hosts)
            )
        )
        if self.backend.in_process:
            _LOCAL_STORAGES[run_id] = self._study._storage
            return ref or StorageRef("memory", "memory"), None
        if not needs_proxy:
            assert ref is not None
            return ref, None
        from ._proxy import StorageProxyServer

        proxy = StorageProxyServer(self._study._storage, **self.storage_proxy_options)
        return proxy.ref, proxy

    def _drive(self, target: int | None, timeout: float | None) -> None:
        run_id = uuid.uuid4().hex[:12]
        deadline = time.time() + timeout if timeout is not None else None
        proxy = None
        self._backend_thread = None
        self._exited_since = {}
        self._stop_reason = "stopped by user"
        if self.backend.in_process:
            _LOCAL_STOPS[run_id] = self._stop_event
        try:
            trials = self._study.get_trials(deepcopy=False)
            n_workers = self.backend.default_workers() if self.n_workers is None else self.n_workers
            if target is not None and n_workers:
                counted, _ = budget(trials)
                n_workers = max(1, min(n_workers, target - counted))
            ref, proxy = self._worker_storage(run_id)
            pool = self._initial_pool(n_workers, ref)
            if target is not None:
                self._top_up(target, trials, pool)  # adds WAITING trials: counts stay the same
            self._write_run(run_id, target, stop=False)
            task = WorkerTask(
                objective=self.objective,
                study_name=self.study_name,
                storage=ref,
                run_id=run_id,
                sampler=self.sampler_spec,
                pruner=self.pruner_spec,
                space=self.space,
                use_tickets=target is not None,
                deadline=deadline,
                heartbeat_interval=self._heartbeat_interval(),
            )

            def launch() -> threading.Thread:
                self._results = []

                def body() -> None:
                    try:
                        self._results.extend(
                            self.backend.run(run_worker, [(task, s) for s in range(n_workers)])
                        )
                    except BaseException as exc:  # surfaced by the driver loop below
                        error = f"{type(exc).__name__}: {exc}"
                        self._results.append(WorkerResult("backend", 0, mask_password(error)))

                thread = threading.Thread(target=body, name="hpo-backend", daemon=True)
                thread.start()
                return thread

            external = n_workers == 0  # only `hpo-widget worker` processes do the work
            if not external and (target is None or budget(trials)[0] < target):
                self._backend_thread = launch()
            launched_at = budget(trials)[0]
            failed_launches = idle_launches = 0
            relaunch_at = 0.0
            self._set_status(
                RunStatus.RUNNING, f"{n_workers} worker(s) on {self.backend.describe()}"
            )
            while not self._stop_event.is_set():
                elsewhere = self._ended_elsewhere(run_id)
                if elsewhere is not None:
                    self._stop_reason = elsewhere
                    self._stop_event.set()  # also what in-process workers watch
                    break
                trials = self._poll(target)
                counted, in_flight = budget(trials)
                if target is not None and counted >= target:
                    break
                starved = False
                if target is not None:
                    waiting = sum(1 for t in trials if t.state == TrialState.WAITING)
                    starved = waiting == 0 and counted + in_flight < target
                    if starved and pool is not None:
                        pool = max(pool, min(2 * pool, _MAX_TICKET_POOL))
                    in_flight += self._top_up(target, trials, pool)
                backend_thread = self._backend_thread
                if external:
                    if deadline is not None and time.time() >= deadline:
                        break
                elif backend_thread is None or not backend_thread.is_alive():
                    errors = [
                        r.error for r in self._results if r.error and r.error != "interrupted"
                    ]
                    timed_out = deadline is not None and time.time() >= deadline
                    if (target is None or timed_out) and not errors:
                        break
                    progressed = counted != launched_at
                    if errors:
                        # A dead worker (killed process, lost executor) must not end the run:
                        # its trial is reaped (by PID or heartbeat) and re-queued.  Only a
                        # failure that repeats without any progress is a broken run.
                        failed_launches = 1 if progressed else failed_launches + 1
                        if failed_launches > self.max_relaunches:
                            raise RunError("workers keep failing:\n" + errors[0])
                    # Workers wait while the budget may need them, so an early exit without
                    # progress is rare; back off instead of relaunching every poll.
                    idle_launches = 0 if progressed or errors else idle_launches + 1
                    if relaunch_at == 0.0:
                        relaunch_at = time.monotonic() + min(10.0, 0.5 * (2**idle_launches - 1))
                    if time.monotonic() >= relaunch_at:
                        if errors:
                            _log.warning("workers failed, relaunching: %s", errors[0][-500:])
                        self._poll(target)  # reap the dead workers' trials before relaunching
                        if errors:
                            self._reap_unnamed(target)
                        if target is not None and not in_flight:
                            self._top_up(target, self._study.get_trials(deepcopy=False), pool)
                        launched_at, relaunch_at = counted, 0.0
                        self._backend_thread = launch()
                elif deadline is not None and time.time() >= deadline + self.heartbeat_grace:
                    break
                # Starved workers are waiting for tickets: look again soon.
                self._stop_event.wait(self.poll_interval / 10 if starved else self.poll_interval)

            backend_thread = self._backend_thread
            if self._stop_event.is_set():
                self._status = RunStatus.STOPPING
                self._write_run(run_id, target, stop=True)
                self.backend.cancel()
                if backend_thread is not None:
                    backend_thread.join(1.0)  # a hung objective must not hold up Stop
                if self._stop_reason != _TAKEN_OVER:
                    # After a takeover the RUNNING trials may be the new run's: leave them.
                    self._fail_in_flight(self._stop_reason, target)
            else:
                # Always close the run, so external `hpo-widget worker` processes leave too.
                self._write_run(run_id, target, stop=True)
                if backend_thread is not None:
                    backend_thread.join(self.heartbeat_grace + 5)
            self._poll(None)
            if self._stop_event.is_set():
                self._set_status(RunStatus.STOPPED, self._stop_reason)
            else:
                self._set_status(RunStatus.FINISHED, self._summary())
        except BaseException as exc:
            self._error = mask_password(str(exc))
            _log.info("hpo_widget run failed: %s", self._error)
            try:
                self._write_run(run_id, target, stop=True)
                self.backend.cancel()
                self._fail_in_flight("run failed", target)
            except Exception:
                pass
            self._set_status(RunStatus.FAILED, self._error)
        finally:
            _LOCAL_STOPS.pop(run_id, None)
            _LOCAL_STORAGES.pop(run_id, None)
            if proxy is not None:
                proxy.close()

    def _fail_in_flight(self, reason: str, target: int | None) -> None:
        """Mark this study's running trials lost and queue them again with the same params."""
        for t in self._study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if _is_ours(t) and self._mark_lost(t._trial_id, reason) and target is not None:
                # Not the trial's fault: run the same parameters again on resume.
                self._add_ticket(dict(t.params) or None, retry_of=t.number)

    def _summary(self) -> str:
        p = self.progress
        text = f"{p.complete} complete, {p.pruned} pruned, {p.failed} failed"
        try:
            if len(self._study.directions) == 1:
                text += f"; best value {self._study.best_value:.6g} (trial {self._study.best_trial.number})"
        except ValueError:
            pass
        return text
