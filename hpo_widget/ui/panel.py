"""The panel: search-space form, settings, controls, live figure, trials table, best trial.

Threads and cells.  The study runs in the :class:`~hpo_widget.StudyRunner`'s background thread,
so the notebook stays usable.  That thread only *queues* what happened (the subscriber is a few
appends and an ``Event.set``); a panel thread applies the queue to the widgets, coalesced, as
trait assignments.  Nothing here prints or displays from a thread, so no output can land in
whichever cell happens to run next (ipywidgets#4020); comm messages are routed by comm id, not by
the cell that is executing.

No orphans.  Every live panel is in a weak registry: creating a panel for a study name that
another panel is running stops that one, re-running the cell that made a panel closes the old
panel, :meth:`Panel.close` stops and releases its runner, and an ``atexit`` hook closes whatever
is left when the kernel shuts down.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import json
import logging
import sys
import threading
import time
import warnings
import weakref
from collections import deque
from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
import optuna

from ..events import Event, RunStatus, StatusChanged, TrialFinished
from ..objectives import _wants_trial
from ..plots import STATE_COLORS
from ..presets import _DATASETS, ESTIMATORS, SklearnPreset, load_dataset
from ..runner import Progress, StudyRunner
from ..space import SearchSpace, SearchSpaceError
from ..storage import StorageRef, describe_storage, mask_password
from ._common import STYLE, error_html, esc, fmt_duration, note_html
from .live_figure import LiveFigure
from .settings import Settings
from .space_form import SpaceForm
from .trials_table import BestTrialCard, TrialsTable, retrain_snippet

__all__ = ["Panel", "close_all", "live_panels"]

_RUNNER_OPTIONS = frozenset(
    {
        "study_name",
        "storage",
        "direction",
        "directions",
        "sampler",
        "sampler_options",
        "pruner",
        "pruner_options",
        "seed",
        "backend",
        "n_workers",
        "backend_options",
        "retries",
        "heartbeat_grace",
        "poll_interval",
        "storage_proxy",
        "max_relaunches",
    }
)
#: Runner options with no widget; passed through unchanged.
_PASS_THROUGH = ("retries", "heartbeat_grace", "poll_interval", "storage_proxy", "max_relaunches")
_FINAL = (RunStatus.FINISHED, RunStatus.STOPPED, RunStatus.FAILED)
_REGRESSION_DATASETS = {"diabetes"}

_PANELS: weakref.WeakSet[Panel] = weakref.WeakSet()
_PANELS_LOCK = threading.Lock()


def live_panels() -> list[Panel]:
    """Panels that are not closed (weakly held: a panel nobody references can go away)."""
    with _PANELS_LOCK:
        return [p for p in _PANELS if not p.closed]


def close_all() -> None:
    """Close every live panel: stop their runs and release their backends (runs at exit)."""
    for panel in live_panels():
        with contextlib.suppress(Exception):
            panel.close()


atexit.register(close_all)


class _ThreadLogRouter(logging.Handler):
    """Keeps log lines written by background threads out of notebook cells.

    Optuna logs "Trial N finished ..." for every trial and the runner logs warnings, both from
    worker threads; in a kernel, text written from a thread lands in whatever cell runs at that
    moment.  While a panel runs, records from other threads go to the panels instead (warnings
    shown in their log line, per-trial INFO dropped: the panel already shows trials).  Records
    from the main thread, or with no panel running, are written to stderr as before.
    """

    _FORMAT = logging.Formatter("[%(levelname)1.1s %(asctime)s] %(message)s")

    def __init__(self) -> None:
        super().__init__(logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            running = [p for p in live_panels() if p.running]
            if threading.current_thread() is threading.main_thread() or not running:
                if record.name.startswith("optuna") or record.levelno >= logging.WARNING:
                    sys.stderr.write(self._FORMAT.format(record) + "\n")
                return
            if record.levelno >= logging.WARNING:
                for panel in running:
                    panel._log(record.levelname, mask_password(record.getMessage()))
        except Exception:
            self.handleError(record)


_ROUTER: _ThreadLogRouter | None = None


def _route_thread_logs() -> None:
    """Install the router (on every Run): replaces Optuna's default stderr handler and sends
    warnings raised in worker threads (e.g. Optuna's ExperimentalWarning) to the running panels.

    The log handler goes in once.  The ``warnings.showwarning`` hook is checked each time:
    ``warnings.catch_warnings`` blocks (pytest wraps every test in one) put back the function
    they found when they exit, which may drop a hook installed inside them.
    """
    global _ROUTER
    if _ROUTER is None:
        _ROUTER = _ThreadLogRouter()
        optuna.logging.disable_default_handler()
        logging.getLogger("optuna").addHandler(_ROUTER)
        logging.getLogger("hpo_widget").addHandler(_ROUTER)
    if getattr(warnings.showwarning, "_hpo_widget_hook", False):
        return
    original = warnings.showwarning

    def showwarning(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        running = [p for p in live_panels() if p.running]
        if threading.current_thread() is threading.main_thread() or not running:
            original(message, category, *args, **kwargs)
            return
        for panel in running:
            panel._log(category.__name__, mask_password(str(message)))

    showwarning._hpo_widget_hook = True  # type: ignore[attr-defined]
    warnings.showwarning = showwarning


def _current_cell_id() -> str | None:
    """JupyterLab's id of the executing cell (None outside a kernel)."""
    try:
        from IPython import get_ipython

        ip = get_ipython()
        kernel = getattr(ip, "kernel", None)
        if kernel is None:
            return None
        parent = kernel.get_parent("shell") or {}
        cell = (parent.get("metadata") or {}).get("cellId")
        return str(cell) if cell else None
    except Exception:
        return None


def _default_study_name(objective: Any) -> str:
    if isinstance(objective, SklearnPreset):
        return objective.name
    name = getattr(objective, "__name__", None)
    if name and name != "<lambda>":
        return str(name)
    return "study"


def _freeze(options: Mapping[str, Any]) -> str:
    """A comparable snapshot of runner options (objects by identity)."""
    return json.dumps(options, sort_keys=True, default=lambda o: f"<{type(o).__name__}@{id(o)}>")


class Panel:
    """Tune an objective from a notebook: ``Panel(objective, space=..., **runner_options)``.

    Shows the search-space form, the settings, Run / Stop / Resume, progress, one live Plotly
    figure with tabs, the trials table and the best trial.  ``runner_options`` are those of
    :class:`~hpo_widget.StudyRunner` (``study_name``, ``storage``, ``direction``, ``sampler``,
    ``backend``, ``n_workers``, ...); ``n_trials``, ``timeout`` and ``resume`` preset the
    budget fields.  The runner is created when Run is pressed (again only if settings changed)
    and is then available as :attr:`runner`.

    Example::

        from hpo_widget import Panel, SearchSpace
        space = SearchSpace.from_dict({"x": {"type": "float", "low": -10, "high": 10}})
        panel = Panel(lambda params: (params["x"] - 2) ** 2, space=space, storage="memory")
        panel            # displays it; press Run, or:
        panel.run(); panel.wait()
    """

    def __init__(
        self,
        objective: Any = None,
        *,
        space: SearchSpace | Mapping[str, Any] | None = None,
        n_trials: int | None = 50,
        timeout: float | None = None,
        resume: bool = False,
        min_interval: float = 0.25,
        importance_interval: float = 2.0,
        **runner_options: Any,
    ) -> None:
        unknown = sorted(set(runner_options) - _RUNNER_OPTIONS)
        if unknown:
            known = ", ".join(sorted(_RUNNER_OPTIONS | {"n_trials", "timeout", "resume"}))
            raise TypeError(f"Panel: unknown option(s) {', '.join(unknown)}; known: {known}")
        if isinstance(objective, str):
            from ..objectives import load_callable

            objective = load_callable(objective, field="objective")
        if objective is not None and not callable(objective):
            raise TypeError(
                f"objective: expected a function or a SklearnPreset, got {type(objective).__name__}"
            )
        self.objective = objective
        self._preset: SklearnPreset | None = (
            objective if isinstance(objective, SklearnPreset) else None
        )
        self._preset_code_prefix = ""
        if isinstance(space, Mapping):
            space = SearchSpace.from_dict(space)
        if space is None and self._preset is not None:
            space = self._preset.space
        self.define_by_run = (
            objective is not None
            and self._preset is None
            and space is None
            and _wants_trial(objective)
        )
        self.min_interval = min_interval
        self.closed = False
        self.cell_id = _current_cell_id()
        self._extra = {k: runner_options.pop(k) for k in _PASS_THROUGH if k in runner_options}
        self._runner: StudyRunner | None = None
        self._runner_key: str | None = None
        self._unsubscribe: Any = None
        self._memory_storage: optuna.storages.BaseStorage | None = None
        self._statuses: deque[StatusChanged] = deque()
        self._trials_dirty = False
        self._last_table = 0.0
        self._last_status: StatusChanged | None = None
        self._message = ""
        #: Why the last Run / Resume did not start (``None`` after a successful start).
        self.last_error: str | None = None
        self._sync_lock = threading.RLock()
        self._wake = threading.Event()
        self._stop_ticker = threading.Event()
        self._ticker: threading.Thread | None = None

        direction = runner_options.pop("direction", None)
        if direction is None and self._preset is not None:
            direction = self._preset.direction
        study_name = runner_options.pop("study_name", None) or _default_study_name(objective)

        # -- parts ------------------------------------------------------------------------
        self.form = SpaceForm(space)
        self.settings = Settings(
            study_name=study_name,
            direction=direction,
            n_trials=n_trials,
            timeout=timeout,
            resume=resume,
            **runner_options,
        )
        self.live = LiveFigure(
            self.settings.directions_list(),
            importance_interval=importance_interval,
            min_interval=min_interval,
        )
        self.table = TrialsTable()
        self.best = BestTrialCard(self._code_for)

        # -- controls ---------------------------------------------------------------------
        self.run_button = widgets.Button(description="Run", button_style="success", icon="play")
        self.stop_button = widgets.Button(
            description="Stop", button_style="danger", icon="stop", disabled=True
        )
        self.resume_button = widgets.Button(
            description="Resume", icon="forward", disabled=True, tooltip="continue the study"
        )
        self.run_button.add_class("hpo-run")
        self.stop_button.add_class("hpo-stop")
        self.resume_button.add_class("hpo-resume")
        self.run_button.on_click(lambda _: self._guard(self.run))
        self.stop_button.on_click(lambda _: self._guard(self.stop))
        self.resume_button.on_click(lambda _: self._guard(self.resume))
        self.progress = widgets.HTML()
        self.progress.add_class("hpo-progress")
        self.progress.layout.width = "100%"
        self.status = widgets.HTML()
        self.status.add_class("hpo-status")
        self.log = widgets.HTML()
        self.log.add_class("hpo-log")
        self._log_lines: deque[tuple[str, int]] = deque(maxlen=4)
        self.problems_html = widgets.HTML()
        self.header = widgets.HTML()

        # -- preset chooser (only when no objective was given) ----------------------------
        self.preset_box: widgets.VBox | None = None
        config_children: list[widgets.Widget] = [self.form.widget, self.settings.widget]
        config_titles = ["Search space", "Settings"]
        if objective is None:
            self.preset_box = self._preset_chooser()
            config_children.insert(0, self.preset_box)
            config_titles.insert(0, "Preset")
        self.config = widgets.Tab(children=config_children, titles=config_titles)
        self.results = widgets.Tab(
            children=[self.table.widget, self.best.widget], titles=["Trials", "Best trial"]
        )
        controls = widgets.HBox(
            [self.run_button, self.stop_button, self.resume_button],
            layout={"align_items": "center"},
        )
        self.widget = widgets.VBox(
            [
                self.header,
                self.config,
                self.problems_html,
                controls,
                self.progress,
                self.status,
                self.log,
                self.live.widget,
                self.results,
            ],
            layout={"width": "100%"},
        )
        self.widget.add_class("hpo-panel")

        if self.define_by_run:
            self.form.set_read_only(True, SpaceForm.note_text)
        self.form.on_change(lambda _: self._refresh_controls())
        self.settings.on_change(lambda _: self._refresh_controls())
        self._render_header()
        self._render_progress(None)
        self._set_status("Ready: press Run." if objective is not None else "")
        self._refresh_controls()
        self._register()

    # -- registry -------------------------------------------------------------------------
    def _register(self) -> None:
        name = self.study_name
        for other in live_panels():
            if other is self:
                continue
            if self.cell_id is not None and other.cell_id == self.cell_id:
                other.close()  # the cell was re-run: the old panel is gone from view
            elif other.study_name == name and other.running:
                other.stop()
                other._set_status(f"Stopped: a newer panel took over study {name!r}.")
        with _PANELS_LOCK:
            _PANELS.add(self)

    @property
    def study_name(self) -> str:
        return self.settings.study_name.value.strip()

    # -- public state ---------------------------------------------------------------------
    @property
    def runner(self) -> StudyRunner | None:
        """The :class:`~hpo_widget.StudyRunner` of the last Run (``None`` before the first)."""
        return self._runner

    @property
    def study(self) -> optuna.Study | None:
        return self._runner.study if self._runner is not None else None

    @property
    def running(self) -> bool:
        return self._runner is not None and self._runner.running

    @property
    def space(self) -> SearchSpace | None:
        """The form's space (``None`` while invalid or for a define-by-run objective)."""
        return None if self.define_by_run else self.form.space

    def __repr__(self) -> str:
        status = self._runner.status.value if self._runner is not None else "idle"
        return f"<hpo_widget.Panel study={self.study_name!r} status={status!r}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        # A short text/plain: the default widget repr would embed the whole figure's data
        # in the saved notebook.
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle["text/plain"] = repr(self)
        return bundle

    # -- objective / code -----------------------------------------------------------------
    def _objective_and_space(self) -> tuple[Any, SearchSpace | None]:
        if self.define_by_run:
            return self.objective, None
        space = self.form.space
        if self._preset is not None:
            preset = copy.copy(self._preset)
            if space is not None and len(space):
                preset.space = space
            return preset, preset.space
        return self.objective, space if space is not None and len(space) else None

    def _code_for(self, params: dict[str, Any]) -> str:
        if self._preset is not None:
            try:
                return self._preset_code_prefix + self._preset.retrain_code(params)
            except Exception:
                pass  # a hand-edited space may not map onto the estimator: plain snippet
        takes_trial = self.define_by_run or (
            self.objective is not None and _wants_trial(self.objective)
        )
        return retrain_snippet(params, self.objective, takes_trial=takes_trial)

    # -- presets --------------------------------------------------------------------------
    def _preset_chooser(self) -> widgets.VBox:
        self.preset_estimators = widgets.SelectMultiple(
            options=list(ESTIMATORS),
            value=("RandomForest",),
            rows=6,
            description="estimators",
            style={"description_width": "initial"},
        )
        self.preset_dataset = widgets.Dropdown(
            options=list(_DATASETS), value="iris", description="dataset"
        )
        self.preset_cv = widgets.IntText(value=3, description="CV folds", layout={"width": "180px"})
        self.preset_load = widgets.Button(description="Use preset", button_style="info")
        self.preset_message = widgets.HTML(
            note_html(
                "Pick scikit-learn estimators (several make a conditional space) and a bundled "
                "dataset, then press 'Use preset' to fill the search space."
            )
        )
        self.preset_load.on_click(lambda _: self._guard(self.use_preset))
        return widgets.VBox(
            [
                widgets.HBox(
                    [self.preset_estimators, widgets.VBox([self.preset_dataset, self.preset_cv])]
                ),
                self.preset_load,
                self.preset_message,
            ]
        )

    def use_preset(
        self, estimators: list[str] | None = None, dataset: str | None = None, cv: int | None = None
    ) -> SklearnPreset | None:
        """Objective = scikit-learn preset on a bundled dataset; fills the form and settings."""
        if self.preset_box is None:
            raise RuntimeError("use_preset: this panel was given an objective")
        names = list(estimators or self.preset_estimators.value)
        data = dataset or self.preset_dataset.value
        folds = cv or self.preset_cv.value
        self.preset_estimators.value = tuple(names)
        self.preset_dataset.value = data
        self.preset_cv.value = folds
        try:
            if not names:
                raise ValueError("estimators: select at least one")
            tasks = {ESTIMATORS[n].task for n in names if n in ESTIMATORS}
            wanted = "regression" if data in _REGRESSION_DATASETS else "classification"
            if tasks and tasks != {wanted}:
                kinds = " and ".join(sorted(tasks))
                raise ValueError(
                    f"dataset: {data!r} is a {wanted} dataset but the estimators do {kinds}; "
                    f"pick {'diabetes' if wanted != 'regression' else 'iris, wine, digits or breast_cancer'}"
                )
            X, y = load_dataset(data)
            preset = SklearnPreset(names, X, y, cv=folds)
        except (ValueError, TypeError) as exc:
            self.preset_message.value = error_html([str(exc)])
            return None
        self._preset = preset
        self.objective = preset
        self._preset_code_prefix = (
            f"from hpo_widget.presets import load_dataset\n\nX, y = load_dataset({data!r})\n"
        )
        self.form.set_space(preset.space)
        self.settings.direction.value = preset.direction
        self.settings.study_name.value = f"{preset.name}-{data}"
        self.preset_message.value = note_html(
            f"Preset {preset.name} on {data} ({folds}-fold CV, {preset.scoring}); "
            "edit the space and settings, then Run."
        )
        self._render_header()
        self._refresh_controls()
        return preset

    # -- validation & controls ------------------------------------------------------------
    def problems(self) -> list[str]:
        """Why Run is disabled (empty when it is enabled)."""
        out: list[str] = []
        if self.objective is None:
            out.append("Choose a preset (Preset tab) or pass an objective to Panel / %hpo.")
        if not self.define_by_run:
            if not self.form.valid:
                out.append("The search space has errors (see the Search space tab).")
            elif (
                self.objective is not None
                and self._preset is None
                and not _wants_trial(self.objective)
                and not len(self.form.space or ())
            ):
                out.append("The objective takes a params dict: add at least one parameter.")
        if self.settings.check(self.space, define_by_run=self.define_by_run):
            out.append("The settings have errors (see the Settings tab).")
        return out

    def _refresh_controls(self) -> None:
        with self._sync_lock:
            problems = self.problems()
            running = self.running
            html = error_html(problems)
            if self.problems_html.value != html:
                self.problems_html.value = html
            self.run_button.disabled = running or bool(problems)
            self.stop_button.disabled = not running
            status = self._runner.status if self._runner is not None else RunStatus.IDLE
            self.resume_button.disabled = (
                running
                or self._runner is None
                or status not in (RunStatus.STOPPED, RunStatus.FAILED)
            )
            self.settings.set_disabled(running)
            for row in self.form.rows:
                row.set_disabled(running or self.form.read_only)
            self.form.add_button.disabled = running or self.form.read_only

    def _render_header(self) -> None:
        what = "no objective yet"
        if self._preset is not None:
            what = f"preset {self._preset.name}"
        elif self.objective is not None:
            what = getattr(self.objective, "__name__", type(self.objective).__name__)
        where = ""
        if self._runner is not None:
            storage = self._runner.storage_description
            if self._memory_storage is not None and self._runner.storage_ref is None:
                storage = describe_storage(StorageRef("memory", "memory"))
            where = f" · study {self._runner.study_name} in {storage}"
        html = (
            STYLE + f'<div style="font-size:15px"><b>hpo_widget</b> · {esc(what)}'
            f'<span class="hpo-note">{esc(where)}</span></div>'
        )
        if self.header.value != html:
            self.header.value = html

    def _set_status(self, text: str, color: str = "#374151") -> None:
        html = f'<div style="color:{color}">{esc(text)}</div>' if text else ""
        if self.status.value != html:
            self.status.value = html

    def _guard(self, action: Any) -> None:
        """Run a button's action; errors go to the status line, never a traceback in a cell."""
        try:
            action()
        except Exception as exc:  # the panel must survive anything a click triggers
            self._set_status(f"Error: {type(exc).__name__}: {exc}", STATE_COLORS["FAIL"])

    # -- run / stop / resume --------------------------------------------------------------
    def _make_runner(self) -> StudyRunner:
        objective, space = self._objective_and_space()
        options = self.settings.runner_options()
        key = _freeze(
            {
                "options": options,
                "space": space.to_dict() if space else None,
                "objective": id(objective if self._preset is None else self._preset),
                "extra": self._extra,
            }
        )
        if self._runner is not None and key == self._runner_key:
            return self._runner
        self._release_runner()
        if options["storage"] == "memory" or (
            isinstance(options["storage"], str)
            and options["storage"].strip() in (":memory:", "inmemory")
        ):
            if self._memory_storage is None:
                self._memory_storage = optuna.storages.InMemoryStorage()
            options["storage"] = self._memory_storage
        runner = StudyRunner(objective, space=space, **options, **self._extra)
        name = runner.study_name
        if not self.settings.resume.value and runner.study.get_trials(deepcopy=False):
            # Never append to someone's study by accident: start a sibling instead.
            names = set(optuna.get_all_study_names(runner.study._storage))
            k = 2
            while f"{name}-{k}" in names:
                k += 1
            runner.close()
            new_name = f"{name}-{k}"
            options["study_name"] = new_name
            runner = StudyRunner(objective, space=space, **options, **self._extra)
            self._message = (
                f"Study {name!r} already has trials; started {new_name!r} "
                f"(switch on 'resume' to continue {name!r})."
            )
            self.settings.study_name.value = new_name
        key = _freeze(
            {
                "options": self.settings.runner_options(),
                "space": space.to_dict() if space else None,
                "objective": id(objective if self._preset is None else self._preset),
                "extra": self._extra,
            }
        )
        self._runner, self._runner_key = runner, key
        self._unsubscribe = runner.subscribe(self._on_event)
        self.live.set_source(
            lambda: runner.study.get_trials(deepcopy=False),
            [d.name.lower() for d in runner.study.directions],
            runner.study.metric_names,
        )
        self._trials_dirty = True
        self._render_header()
        return runner

    def _release_runner(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        runner.close()

    def run(self) -> StudyRunner | None:
        """Start the study with the current form and settings (what the Run button does)."""
        with self._sync_lock:
            if self.running:
                return self._runner
            problems = self.problems()
            if problems:
                self.last_error = " ".join(problems)
                self._set_status(self.last_error, STATE_COLORS["FAIL"])
                return None
            self._message = ""
            _route_thread_logs()
            try:
                runner = self._make_runner()
            except (ValueError, TypeError, ImportError, RuntimeError, SearchSpaceError) as exc:
                self._show_settings_error(exc)
                return None
            for other in live_panels():
                if other is not self and other.running and other.study_name == self.study_name:
                    other.stop()
                    other._set_status(f"Stopped: another panel runs study {self.study_name!r}.")
            try:
                runner.start(self.settings.n_trials_value, self.settings.timeout_value)
            except (ValueError, RuntimeError) as exc:
                self._show_settings_error(exc)
                return None
            self.last_error = None
            self._set_status(self._message or "Starting…")
            self._refresh_controls()
            self._ensure_ticker()
            self._wake.set()
            return runner

    def _show_settings_error(self, exc: BaseException) -> None:
        text = mask_password(str(exc))
        self.last_error = text
        field = text.split(":", 1)[0] if ":" in text else ""
        known = self.settings.field_widgets()
        aliases = {
            "study_name": "study",
            "n_workers": "workers",
            "backend_options": "backend",
            "sampler_options": "sampler",
            "pruner_options": "pruner",
            "directions": "direction",
        }
        field = field.split(".", 1)[0]  # "sampler_options.n_startup_trials" -> the sampler row
        field = aliases.get(field, field)
        if field in known:
            self.settings.report(field, text.split(":", 1)[1].strip())
        self._set_status(f"Could not start: {text}", STATE_COLORS["FAIL"])
        self._refresh_controls()

    def stop(self) -> None:
        """Stop the run; returns when no trial of it is RUNNING any more."""
        runner = self._runner
        if runner is None or not runner.running:
            return
        self._set_status("Stopping…")
        runner.stop()
        self.sync(force=True)

    def resume(self) -> StudyRunner | None:
        """Continue the study to its total (after Stop, a failure, or a kernel restart)."""
        with self._sync_lock:
            runner = self._runner
            if runner is None:
                return self.run()
            if runner.running:
                return runner
            _route_thread_logs()
            try:
                runner.resume()
            except RuntimeError:
                runner.start(self.settings.n_trials_value, self.settings.timeout_value)
            self._set_status("Resuming…")
            self._refresh_controls()
            self._ensure_ticker()
            self._wake.set()
            return runner

    def wait(self, timeout: float | None = None) -> optuna.Study | None:
        """Block until the run ends, then bring the panel up to date (for scripts and tests)."""
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
            self.live.notify(event)
            self._trials_dirty = True
        elif isinstance(event, StatusChanged):
            self._statuses.append(event)
        self._wake.set()  # WorkerSeen: nothing to queue, the timeline reads the trials

    # -- applying (panel thread or caller) ------------------------------------------------
    def _ensure_ticker(self) -> None:
        with self._sync_lock:
            if self._ticker is None:
                self._stop_ticker.clear()
                self._ticker = threading.Thread(target=self._tick, name="hpo-panel", daemon=True)
                self._ticker.start()

    def _idle(self) -> bool:
        return not (self.running or self._statuses or self.live.has_pending or self._trials_dirty)

    def _tick(self) -> None:
        """Apply queued updates while a run is going (0.5 s ticks keep elapsed/ETA moving);
        exits when idle so that an idle panel holds no thread (and can be garbage collected)."""
        while not self._stop_ticker.is_set():
            self._wake.wait(0.5)
            if self._stop_ticker.is_set():
                break
            self._wake.clear()
            try:
                self.sync()
            except Exception as exc:  # never let the thread die or print
                msg = f"Panel update failed: {type(exc).__name__}: {exc}"
                self._set_status(msg, STATE_COLORS["FAIL"])
            with self._sync_lock:
                if self._idle():
                    self._ticker = None
                    return
            self._stop_ticker.wait(self.min_interval)
        with self._sync_lock:
            if self._ticker is threading.current_thread():
                self._ticker = None

    def sync(self, *, force: bool = False) -> None:
        """Apply everything queued by the runner to the widgets (thread-safe)."""
        with self._sync_lock:
            if self.closed:
                return
            runner = self._runner
            final = False
            while self._statuses:
                event = self._statuses.popleft()
                self._last_status = event
                final = final or event.status in _FINAL
                self._show_status(event)
            self.live.flush(force=force or final)
            now = time.monotonic()
            if (
                runner is not None
                and (self._trials_dirty or force or final)
                and (force or final or now - self._last_table >= 1.0)
            ):
                self._trials_dirty = False
                self._last_table = now
                trials = runner.study.get_trials(deepcopy=False)
                directions = [d.name.lower() for d in runner.study.directions]
                self.table.update(trials, directions)
                self.best.update(trials, directions)
                if self.define_by_run:
                    self._show_discovered(trials)
            self._render_progress(runner.progress if runner is not None else None)
            if final or force:
                self._refresh_controls()

    def _log(self, level: str, message: str) -> None:
        """A warning from a worker thread, shown under the status line (newest last)."""
        # Logging levels read better quietly ("warning: ..."); warning classes keep their name.
        label = level.lower() if level.isupper() else level
        line = f"{label}: {message.splitlines()[0] if message else ''}"
        # A warning raised by every trial would push everything else out: count repeats.
        if self._log_lines and self._log_lines[-1][0] == line:
            self._log_lines[-1] = (line, self._log_lines[-1][1] + 1)
        else:
            self._log_lines.append((line, 1))
        html = "".join(
            f'<div class="hpo-note">{esc(text)}{f" ({n} times)" if n > 1 else ""}</div>'
            for text, n in self._log_lines
        )
        if self.log.value != html:
            self.log.value = html

    def _show_status(self, event: StatusChanged) -> None:
        s = event.status
        text = {
            RunStatus.STARTING: "Starting…",
            RunStatus.RUNNING: f"Running: {event.message}",
            RunStatus.STOPPING: "Stopping…",
            RunStatus.STOPPED: "Stopped. Resume continues to the same total.",
            RunStatus.FINISHED: f"Finished: {event.message}",
            RunStatus.FAILED: f"Failed: {event.message}",
        }.get(s, s.value)
        if self._message and s in (RunStatus.STARTING, RunStatus.RUNNING):
            text = f"{text} · {self._message}"
        color = {
            RunStatus.FAILED: STATE_COLORS["FAIL"],
            RunStatus.FINISHED: "#166534",
            RunStatus.RUNNING: "#1d4ed8",
        }.get(s, "#374151")
        self._set_status(text, color)

    def _render_progress(self, p: Progress | None) -> None:
        if p is None:
            html = self._progress_html(0, 0, 0, 0, self.settings.n_trials_value, 0.0, None, "idle")
        else:
            html = self._progress_html(
                p.complete,
                p.pruned,
                p.failed,
                p.running,
                p.target,
                p.elapsed,
                p.eta,
                p.status.value,
            )
        if self.progress.value != html:
            self.progress.value = html

    @staticmethod
    def _progress_html(
        complete: int,
        pruned: int,
        failed: int,
        running: int,
        target: int | None,
        elapsed: float,
        eta: float | None,
        status: str,
    ) -> str:
        finished = complete + pruned + failed
        total = max(target or 0, finished, 1)
        segments = "".join(
            f'<div style="width:{100 * n / total:.2f}%;background:{STATE_COLORS[state]}"></div>'
            for n, state in ((complete, "COMPLETE"), (pruned, "PRUNED"), (failed, "FAIL"))
            if n
        )
        bar = (
            '<div class="hpo-progress-bar" style="display:flex;height:10px;'
            'background:#e5e7eb;border-radius:5px;overflow:hidden;margin:4px 0">'
            f"{segments}</div>"
        )
        parts = [f"{finished} / {target} finished" if target else f"{finished} finished"]
        parts.append(f"{complete} complete · {pruned} pruned · {failed} failed")
        if running:
            parts.append(f"{running} running")
        if elapsed:
            parts.append(f"elapsed {fmt_duration(elapsed)}")
        if eta is not None and status == "running":
            parts.append(f"ETA {fmt_duration(eta)}")
        text = " · ".join(parts)
        return f'{bar}<div class="hpo-progress-text" style="font-size:12px">{esc(text)}</div>'

    def _show_discovered(self, trials: list[Any]) -> None:
        dists: dict[str, Any] = {}
        for t in trials:
            if t.state.name in ("COMPLETE", "PRUNED", "FAIL"):
                dists.update(t.distributions)
        if not dists:
            return
        try:
            space = SearchSpace.from_distributions(dists)
        except SearchSpaceError:
            return
        self.form.show_discovered(space)

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the run, release the runner's backend and close every widget of the panel."""
        if self.closed:
            return
        self.closed = True
        with _PANELS_LOCK:
            _PANELS.discard(self)
        self._stop_ticker.set()
        self._wake.set()
        try:
            self._release_runner()
        finally:
            if self._ticker is not None and self._ticker is not threading.current_thread():
                self._ticker.join(5.0)
            with self._sync_lock:
                self.live.close()
                self.form.close()
                self.settings.close()
                self.table.close()
                self.best.close()
                for w in (
                    self.run_button,
                    self.stop_button,
                    self.resume_button,
                    self.progress,
                    self.status,
                    self.log,
                    self.problems_html,
                    self.header,
                    self.config,
                    self.results,
                ):
                    w.close()
                if self.preset_box is not None:
                    for w in (
                        self.preset_estimators,
                        self.preset_dataset,
                        self.preset_cv,
                        self.preset_load,
                        self.preset_message,
                    ):
                        w.close()
                    self.preset_box.close()
                for child in self.widget.children:
                    child.close()
                self.widget.close()

    def __del__(self) -> None:  # a forgotten panel must not leave workers behind
        try:
            if not self.closed and self._runner is not None and self._runner.running:
                self._runner.stop()
        except Exception:
            pass
