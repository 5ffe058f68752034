"""Running a panel's study: its runner, Run / Stop / Resume, and the runner's events shown.

:class:`RunControl` makes the :class:`~hpo_widget.StudyRunner` from the settings'
:class:`~hpo_widget.config.RunConfig` when Run is pressed (again only when it changed), names
the study by :mod:`hpo_widget.study_names`, starts, stops and resumes it, and applies what the
runner reports to the panel's views: an error at start on the fields it names, why a run
ended early in the status line.

The runner's thread only queues (:meth:`RunControl._on_event`); :meth:`RunControl.sync` applies
the queue under one lock, from the panel thread (:class:`~.updates.UpdateThread`) or a caller.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from .. import study_names
from ..backends import Backend, backend_to_prepare
from ..config import ConfigError, ConfigProblem, RunConfig
from ..events import Event, RunStatus, StatusChanged, TrialFinished
from ..runner import StudyRunner
from ..space import SearchSpace, SearchSpaceError
from ..storage import StorageRef, describe_storage, mask_password
from .best_trial import BestTrialCard
from .live_figure import LiveFigure
from .logs import route_thread_logs
from .progress import ProgressBar, StatusLine
from .settings import Settings
from .trials_table import TrialsTable
from .updates import UpdateThread

__all__ = ["RunControl", "RunViews"]

_FINAL = (RunStatus.FINISHED, RunStatus.STOPPED, RunStatus.FAILED)
#: Errors that mean "these settings do not make a runner" (shown at the field, retryable).
_SETTINGS_ERRORS = (ValueError, TypeError, ImportError, RuntimeError, SearchSpaceError)
#: An engine error that names its field first, as RunConfig's problems do (``storage: ...``).
_FIELD_FIRST = re.compile(r"([a-z_][a-z0-9_]*(?:\.[\w\[\]]+)*): (.+)", re.DOTALL)


def _budgetless(config: RunConfig) -> RunConfig:
    """``config`` without its budget: the budget goes to :meth:`StudyRunner.start`, so that a
    changed total keeps the runner (and its study) and an emptied one means no limit."""
    return config.replace(n_trials=None, timeout=None)


@dataclass(frozen=True)
class RunViews:
    """What shows a run; ``on_trials`` also gets the trials (after the table and best trial),
    ``on_runner`` each new runner, ``refresh`` is called when the controls may change."""

    status: StatusLine
    progress: ProgressBar
    live: LiveFigure
    table: TrialsTable
    best: BestTrialCard
    on_trials: Callable[[list[FrozenTrial]], None]
    on_runner: Callable[[], None]
    refresh: Callable[[], None]


class RunControl:
    """The runner of one panel and the queue of what it reported, applied to :class:`RunViews`."""

    def __init__(
        self,
        settings: Settings,
        views: RunViews,
        *,
        min_interval: float,
    ) -> None:
        self.settings = settings
        self.views = views
        self.lock = threading.RLock()
        self._runner: StudyRunner | None = None
        self._runner_key: tuple[Any, ...] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._memory = study_names.MemoryStorage()
        #: The backend started ahead of Run (spark), and the settings it was made from.
        self._prepared: Backend | None = None
        self._prepared_key: tuple[Any, ...] | None = None
        self._switching = threading.Lock()
        #: Clear while a prepared backend is being replaced (Run waits for it).
        self._switched = threading.Event()
        self._switched.set()
        self._statuses: deque[StatusChanged] = deque()
        self._trials_dirty = False
        self._last_table = 0.0
        self._message = ""
        #: Why the last Run / Resume did not start (``None`` after a successful start).
        self.last_error: str | None = None
        self.closed = False
        self.updates = UpdateThread(
            self.sync,
            idle=self._idle,
            on_error=views.status.error,
            lock=self.lock,
            min_interval=min_interval,
        )

    # -- state ----------------------------------------------------------------------------
    @property
    def runner(self) -> StudyRunner | None:
        return self._runner

    @property
    def running(self) -> bool:
        return self._runner is not None and self._runner.running

    @property
    def status(self) -> RunStatus | None:
        """The runner's status (``None`` before the first Run)."""
        return self._runner.status if self._runner is not None else None

    @property
    def storage_description(self) -> str:
        """Where the study lives (the panel's in-memory store named as such)."""
        runner = self._runner
        if runner is None:
            return ""
        if self._memory.storage is not None and runner.storage_ref is None:
            return describe_storage(StorageRef("memory", "memory"))
        return runner.storage_description

    def refuse(self, reason: str) -> None:
        """Run cannot start for ``reason`` (the panel's problems)."""
        self.last_error = reason
        self.views.status.error(reason)

    # -- the runner -----------------------------------------------------------------------
    def _key(self, identity: object, space: SearchSpace | None) -> tuple[Any, ...]:
        """What the runner was made from: a new runner is needed only when this changes."""
        return (_budgetless(self.settings.config()), space, id(identity))

    @staticmethod
    def _backend_key(config: RunConfig) -> tuple[Any, ...]:
        options = tuple(sorted((k, repr(v)) for k, v in dict(config.backend_options).items()))
        return (str(config.backend), options)

    def prepare_backend(self) -> None:
        """Start the chosen backend's slow part now (a Spark session), not when Run is pressed.

        Called when the panel opens and whenever the backend changes; the engine says which
        backends have anything to start (:func:`hpo_widget.backends.backend_to_prepare`).
        """
        if self.closed:
            return
        config = self.settings.config()
        key = self._backend_key(config)
        if key == self._prepared_key:
            return
        old = self._detach_prepared()
        new = None
        if isinstance(config.backend, str):
            new = backend_to_prepare(config.backend, **dict(config.backend_options))
        self._prepared, self._prepared_key = new, (key if new is not None else None)

        def switch() -> None:  # off the kernel's thread: stopping a session takes seconds
            try:
                with self._switching:  # one switch after the other
                    if old is not None:
                        old.close()
                    if new is not None and new is self._prepared:
                        new.prepare()
            finally:
                if new is self._prepared:
                    self._switched.set()

        if old is not None or new is not None:
            self._switched.clear()
            threading.Thread(target=switch, name="hpo-prepare-backend", daemon=True).start()

    def _detach_prepared(self) -> Backend | None:
        """Forget the prepared backend (releasing a runner built on it); the caller closes it."""
        prepared, self._prepared, self._prepared_key = self._prepared, None, None
        if prepared is not None and self._runner is not None and self._runner.backend is prepared:
            self.release()
        return prepared

    def _close_prepared(self) -> None:
        prepared = self._detach_prepared()
        if prepared is not None:
            prepared.close()

    def _make_runner(
        self, objective: Any, space: SearchSpace | None, identity: object
    ) -> StudyRunner:
        if self._runner is not None and self._key(identity, space) == self._runner_key:
            return self._runner
        self.release()
        config = _budgetless(self.settings.config())
        if self._prepared is not None:
            # A session being replaced is stopped before Run goes on (bounded: a hung stop
            # leaves Run to report whatever the new session says).
            self._switched.wait(120)
            if self._backend_key(config) == self._prepared_key:
                # Its options are in the object already (the config allows them only by name).
                config = config.replace(backend=self._prepared, backend_options={})
            else:  # the settings moved on: its session would stand in the way of theirs
                self._close_prepared()
        config = config.replace(storage=self._memory.bind(config.storage))
        runner = StudyRunner(objective, space=space, config=config)
        # A study that does not exist yet has no trials to protect (and is not created here).
        choice = (
            study_names.choose_study_name(runner.study, resume=self.settings.resume.value)
            if runner.created
            else study_names.StudyNameChoice(runner.study_name, runner.study_name)
        )
        if choice.renamed:
            # Never append to someone's study by accident: start a sibling instead.
            runner.close()
            runner = StudyRunner(
                objective, space=space, config=config.replace(study_name=choice.name)
            )
            self._message = (
                f"Study {choice.requested!r} already has trials; started {choice.name!r} "
                f"(switch on 'resume' to continue {choice.requested!r})."
            )
            self.settings.study_name.value = choice.name
        self._runner, self._runner_key = runner, self._key(identity, space)
        self._unsubscribe = runner.subscribe(self._on_event)
        self.views.live.set_source(
            lambda: runner.study.get_trials(deepcopy=False) if runner.created else [],
            runner.directions,
            runner.study.metric_names if runner.created else None,
        )
        self._trials_dirty = True
        self.views.on_runner()
        return runner

    def release(self) -> None:
        """Close the runner (stops its run, releases its backend)."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        runner.close()

    # -- run / stop / resume --------------------------------------------------------------
    def start(
        self,
        objective: Any,
        space: SearchSpace | None,
        *,
        identity: object,
        before_start: Callable[[], None],
    ) -> StudyRunner | None:
        """Make (or reuse) the runner and start it; ``None``, shown at the field, if it fails.

        ``identity`` is what counts as "the same objective" for reusing the runner;
        ``before_start`` runs between making the runner and starting it.
        """
        with self.lock:
            self._message = ""
            route_thread_logs()
            try:
                runner = self._make_runner(objective, space, identity)
            except _SETTINGS_ERRORS as exc:
                self._show_settings_error(exc)
                return None
            before_start()
            try:
                runner.start(*self._budget())
            except (ValueError, RuntimeError) as exc:
                self._show_settings_error(exc)
                return None
            self.last_error = None
            self._started(self._message or "Starting…")
            return runner

    def resume(self) -> StudyRunner | None:
        """Continue the runner's study to its total (``None`` when there is no runner)."""
        with self.lock:
            runner = self._runner
            if runner is None or runner.running:
                return runner
            route_thread_logs()
            try:
                runner.resume()
            except RuntimeError:
                runner.start(*self._budget())
            self._started("Resuming…")
            return runner

    def _budget(self) -> tuple[int | None, float | None]:
        config = self.settings.config()
        return config.n_trials, config.timeout

    def _started(self, text: str) -> None:
        self.views.status.show(text)
        self.views.refresh()
        self.updates.ensure()
        self.updates.wake()

    def _show_settings_error(self, exc: BaseException) -> None:
        """Show why the runner did not start, on the field(s) it names and in the status."""
        text = mask_password(str(exc))
        self.last_error = text
        if isinstance(exc, ConfigError):
            problems = list(exc.problems)
        else:
            match = _FIELD_FIRST.fullmatch(text)
            named = [ConfigProblem(match[1], match[2])] if match else []
            problems = [p for p in named if self.settings.targets(p)]
        self.settings.report(problems)
        self.views.status.error(f"Could not start: {text}")
        self.views.refresh()

    def stop(self) -> None:
        """Stop the run; returns when no trial of it is RUNNING any more."""
        runner = self._runner
        if runner is None or not runner.running:
            return
        self.views.status.show("Stopping…")
        runner.stop()
        self.sync(force=True)

    def wait(self, timeout: float | None = None) -> optuna.Study | None:
        """Block until the run ends, then bring the views up to date."""
        if self._runner is None:
            return None
        try:
            study = self._runner.wait(timeout)
        finally:
            self.sync(force=True)
        return study

    # -- events (runner thread: queue only) -----------------------------------------------
    def _on_event(self, event: Event) -> None:
        if isinstance(event, TrialFinished):
            self.views.live.notify(event)
            self._trials_dirty = True
        elif isinstance(event, StatusChanged):
            self._statuses.append(event)
        self.updates.wake()  # WorkerSeen: nothing to queue, the timeline reads the trials

    # -- applying (panel thread or caller) ------------------------------------------------
    def _idle(self) -> bool:
        return not (
            self.running or self._statuses or self.views.live.has_pending or self._trials_dirty
        )

    def sync(self, *, force: bool = False) -> None:
        """Apply everything queued by the runner to the views (thread-safe)."""
        with self.lock:
            if self.closed:
                return
            runner, views = self._runner, self.views
            final = False
            while self._statuses:
                event = self._statuses.popleft()
                final = final or event.status in _FINAL
                if event.status is RunStatus.STOPPED and event.message:
                    # Why it ended early (a stop rule, study.stop(), a stop through storage).
                    views.status.show(f"Stopped: {event.message}.")
                else:
                    views.status.show_event(event, self._message)
            views.live.flush(force=force or final)
            now = time.monotonic()
            if (
                runner is not None
                and (self._trials_dirty or force or final)
                and (force or final or now - self._last_table >= 1.0)
                and runner.created
            ):
                self._trials_dirty = False
                self._last_table = now
                trials = runner.study.get_trials(deepcopy=False)
                directions = [d.name.lower() for d in runner.study.directions]
                views.table.update(trials, directions)
                views.best.update(trials, directions)
                views.on_trials(trials)
            self.show_progress()
            if final or force:
                views.refresh()

    def show_progress(self) -> None:
        runner = self._runner
        progress = runner.progress if runner is not None else None
        self.views.progress.show(progress, self._budget()[0])

    def close(self) -> None:
        """Stop applying, release the runner and wait (a little) for the panel thread."""
        self.closed = True
        self.updates.stop()
        try:
            self.release()
            self._close_prepared()
        finally:
            self.updates.join(5.0)
