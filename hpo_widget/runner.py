"""StudyRunner: owns one Optuna study and runs its trials in the background through a backend.

Why not ``study.optimize(n_jobs=...)``?  It parallelises with a thread pool, not joblib, so under
``parallel_backend("spark")`` it still runs one trial at a time (joblib-spark#61).  The runner
instead launches N long-lived workers through ``joblib.Parallel`` on the chosen backend; each
claims budget *tickets* (WAITING trials) from storage shared with the driver until none is left
(:mod:`hpo_widget._tickets`, :mod:`hpo_widget._worker`).  The driver thread only watches storage
(:mod:`hpo_widget._run_loop`): it publishes events, re-queues trials whose worker died
(:mod:`hpo_widget._reaper`) and turns Stop, stop rules and stops written to the run record
(:mod:`hpo_widget.run_record`) into cancellation.  This module is the public API.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from ._run_loop import Run, RunError
from ._tickets import counts_towards_budget, is_lost
from .backends import Backend, make_backend
from .config import ConfigError, RunConfig
from .events import Event, RunStatus, StartPhase, StatusChanged
from .objectives import as_trial_objective
from .presets import SklearnPreset
from .samplers import SamplerSpec, make_pruner, make_sampler, pruner_spec_for
from .space import SearchSpace
from .storage import StorageRef, describe_storage, mask_password, open_storage, resolve_storage

__all__ = ["Progress", "RunError", "StudyRunner", "counts_towards_budget"]

_log = logging.getLogger(__name__)
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
#: Optuna's study callback signature: ``callback(study, frozen_trial)``.
StudyCallback = Callable[[optuna.Study, FrozenTrial], None]


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
    #: Seconds after the start when the run's first trial finished (None: none yet), and the
    #: finished trials then: the ETA's rate is measured from there, not from the start.
    first_finished_after: float | None = None
    finished_at_first: int = 0

    @property
    def finished(self) -> int:
        return self.complete + self.pruned + self.failed

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate since this run's first finished trial (None until a
        trial finished after it).

        Not the rate since the start: a first Spark run spends half a minute starting its
        session and workers, and counting that as trial time made a two-minute study show an
        ETA of twenty minutes.
        """
        return None if self.target is None else _eta(self)


def _eta(p: Progress) -> float | None:
    assert p.target is not None
    left = p.target - p.finished
    if left <= 0:
        return 0.0
    if p.first_finished_after is None:
        return None
    done = p.finished - p.finished_at_first
    span = p.elapsed - p.first_finished_after
    if span <= 0 or done <= 0:
        return None
    return span / done * left


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
        config: RunConfig | None = None,
        callbacks: Sequence[StudyCallback] | None = None,
        **options: Any,
    ) -> None:
        """``options`` are the fields of :class:`~hpo_widget.config.RunConfig` (``study_name``,
        ``storage``, ``direction``/``directions``, ``sampler``, ``pruner``, ``seed``,
        ``backend``, ``n_workers``, ``retries``, ``goal``, ``patience``, ``max_failed``, ...),
        applied over ``config``.  Every problem is raised at once as a
        :class:`~hpo_widget.config.ConfigError` (a ValueError) naming each field.

        ``callbacks`` are Optuna study callbacks, called in this process after each finished
        trial as ``study.optimize`` calls them; ``study.stop()`` inside one stops the run.
        """
        if isinstance(space, dict):
            space = SearchSpace.from_dict(space)
        if isinstance(objective, SklearnPreset) and space is None:
            space = objective.space
        config = RunConfig.from_options(config, **options)
        if config.directions is None and isinstance(objective, SklearnPreset):
            config = config.replace(directions=(objective.direction,))
        self.config = config.checked(space=space)
        self.space = space
        self.objective = as_trial_objective(objective, space)
        self._raw_objective = objective
        self.callbacks: list[StudyCallback] = list(callbacks or ())

        self.sampler_spec = SamplerSpec(config.sampler, dict(config.sampler_options), config.seed)
        self.pruner_spec = pruner_spec_for(
            config.pruner, dict(config.pruner_options), n_objectives=config.n_objectives
        )
        backend = config.backend
        #: A Backend object given in the config belongs to the caller, who closes it.
        self._owns_backend = not isinstance(backend, Backend)
        self.backend = (
            backend
            if isinstance(backend, Backend)
            else make_backend(backend, **dict(config.backend_options))
        )

        if isinstance(config.storage, BaseStorage):
            self.storage_ref: StorageRef | None = None
            self._storage = config.storage
        else:
            self.storage_ref = resolve_storage(config.storage)
            self._storage = open_storage(self.storage_ref)

        # Nothing is written to storage before a run starts: an existing study is loaded (and
        # its directions checked) now, a new one is created by start() or the first read of
        # ``study``.  Optuna's own name pattern for an unnamed study, chosen here so that
        # ``study_name`` is known before the study exists.
        self._name = config.study_name or f"no-name-{uuid.uuid4()}"
        self._study: optuna.Study | None = None
        if config.study_name is not None:
            self._study = self._load(config.study_name, config.directions)

        self._subscribers: list[Callable[[Event], None]] = []
        self._sub_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._run: Run | None = None
        self._status = RunStatus.IDLE
        self._last_start: tuple[int | None, float | None] | None = None
        self._target: int | None = None
        self._started_at = 0.0
        self._finished_at_start = 0

    # -- options, as attributes (read-only: a runner's configuration is fixed) ---------------
    @property
    def n_workers(self) -> int | None:
        return self.config.n_workers

    @property
    def retries(self) -> int:
        return self.config.retries

    @property
    def heartbeat_grace(self) -> float:
        return self.config.heartbeat_grace

    @property
    def stop_reason(self) -> str | None:
        """Why the last run ended early (a stop rule, ``study.stop()``, a stop through storage);
        None if it did not, or if :meth:`stop` ended it."""
        run = self._run
        if run is None or not run.stop_event.is_set():
            return None
        return run.stop_reason

    # -- study -------------------------------------------------------------------------------
    def _load(self, name: str, directions: Sequence[str] | None) -> optuna.Study | None:
        """The existing study ``name`` (directions checked), or None: reads, never writes."""
        try:
            existing = optuna.load_study(
                study_name=name,
                storage=self._storage,
                sampler=make_sampler(self.sampler_spec, space=self.space),
                pruner=make_pruner(self.pruner_spec),
            )
        except KeyError:
            return None
        have = [d.name.lower() for d in existing.directions]
        if directions is not None and have != list(directions):
            raise ValueError(
                f"direction: study {name!r} already exists with directions {have}; "
                f"use another study_name or the same directions"
            )
        if not self.pruner_spec.is_none and len(existing.directions) > 1:
            # An existing multi-objective study loaded without directions given.
            self.pruner_spec = pruner_spec_for(
                self.config.pruner, dict(self.config.pruner_options), n_objectives=2
            )
            existing.pruner = make_pruner(self.pruner_spec)
        return existing

    def _materialize(self) -> optuna.Study:
        """The study, created in storage the first time it is needed (a run, a read of
        :attr:`study`); loaded instead if another process created it since."""
        if self._study is not None:
            return self._study
        directions = self.config.directions
        try:
            self._study = optuna.create_study(
                study_name=self._name,
                storage=self._storage,
                directions=list(directions or ["minimize"]),  # type: ignore[arg-type]
                sampler=make_sampler(self.sampler_spec, space=self.space),
                pruner=make_pruner(self.pruner_spec),
            )
        except optuna.exceptions.DuplicatedStudyError:
            self._study = self._load(self._name, directions)
            assert self._study is not None
        return self._study

    @property
    def created(self) -> bool:
        """Whether the study exists in storage (it is created when a run starts)."""
        return self._study is not None

    @property
    def study(self) -> optuna.Study:
        """The Optuna study (also usable directly: ``runner.study.best_params``).

        Reading it before the first :meth:`start` creates the (empty) study in storage, as
        ``optuna.create_study`` would; :attr:`study_name`, :attr:`progress` and
        :attr:`directions` do not.
        """
        return self._materialize()

    @property
    def study_name(self) -> str:
        return self._name

    @property
    def directions(self) -> list[str]:
        """``"minimize"``/``"maximize"`` per objective, without creating the study."""
        if self._study is not None:
            return [d.name.lower() for d in self._study.directions]
        return list(self.config.directions or ["minimize"])

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
        trials = self._study.get_trials(deepcopy=False) if self._study is not None else []
        states = [t.state for t in trials]
        lost = sum(1 for t in trials if is_lost(t))
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
            **self._first_finished(),
        )

    def _first_finished(self) -> dict[str, Any]:
        run = self._run
        if run is None or run.first_finished is None or not self._started_at:
            return {}
        at, count = run.first_finished
        return {"first_finished_after": at - self._started_at, "finished_at_first": count}

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

    def _set_status(
        self,
        status: RunStatus,
        message: str = "",
        *,
        detail: str = "",
        phase: StartPhase = StartPhase.NONE,
    ) -> None:
        self._status = status
        p = self.progress
        self._emit(
            StatusChanged(
                status,
                mask_password(message),
                p.complete,
                p.pruned,
                p.failed,
                p.target,
                detail=mask_password(detail),
                phase=phase,
            )
        )

    # -- control -----------------------------------------------------------------------------
    def start(self, n_trials: int | None = None, timeout: float | None = None) -> StudyRunner:
        """Start (or resume) in the background and return at once.

        ``n_trials`` is the study's total (see class doc); ``timeout`` is seconds for this run;
        each defaults to the config's.  With neither, the run goes on until :meth:`stop` or a
        stop rule.
        """
        if self.running:
            raise RuntimeError("start: a run is already in progress; call stop() or wait() first")
        n_trials = self.config.n_trials if n_trials is None else n_trials
        timeout = self.config.timeout if timeout is None else timeout
        budget = RunConfig(n_trials=n_trials, timeout=timeout).problems()
        if budget:
            raise ConfigError(budget)
        self._last_start = (n_trials, timeout)
        self._target = int(n_trials) if n_trials is not None else None
        self._started_at = time.time()
        study = self._materialize()
        self._finished_at_start = sum(
            1 for t in study.get_trials(deepcopy=False) if counts_towards_budget(t)
        )
        self._status = RunStatus.STARTING
        self._run = run = Run(self, self._target, timeout)
        self._thread = threading.Thread(target=run.drive, name="hpo-runner", daemon=True)
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
        if self._run is not None:
            self._run.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> optuna.Study:
        """Block until the run ends and return the study; raises :class:`RunError` if it broke."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"wait: the run is still going after {timeout} s")
        if self._run is not None and self._run.error:
            raise RunError(self._run.error)
        return self.study

    def close(self) -> None:
        """Stop any run and release the backend the runner made (a Backend object given in
        the config is the caller's to close; a Spark session stays if it was not ours)."""
        if self.running:
            self.stop()
        if self._owns_backend:
            self.backend.close()

    def _summary(self) -> str:
        p = self.progress
        text = f"{p.complete} complete, {p.pruned} pruned, {p.failed} failed"
        study = self._study
        try:
            if study is not None and len(study.directions) == 1:
                text += f"; best value {study.best_value:.6g} (trial {study.best_trial.number})"
        except ValueError:
            pass
        return text
