"""The panel: search-space form, settings, controls, live figure, trials table, best trial.

This module composes the parts and holds the public :class:`Panel` API.  Each concern has its
own module: :mod:`.objective` (what is tuned), :mod:`.run_control` (the runner, Run / Stop /
Resume, its events applied), :mod:`.updates` (the panel thread), :mod:`.registry` (live panels,
no orphans), :mod:`.logs` (worker-thread logs and warnings), :mod:`.controls` (the buttons),
:mod:`.progress` (progress bar and status line), :mod:`.preset_chooser` (the Preset tab).  How
a study is named is engine policy, in :mod:`hpo_widget.study_names`.

Threads and cells.  The study runs in the :class:`~hpo_widget.StudyRunner`'s background thread,
so the notebook stays usable.  That thread only *queues* what happened (the subscriber is a few
appends and a wake-up); the panel thread applies the queue to the widgets, coalesced, as
trait assignments.  Nothing here prints or displays from a thread, so no output can land in
whichever cell happens to run next (ipywidgets#4020); comm messages are routed by comm id, not by
the cell that is executing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
import optuna
from optuna.trial import FrozenTrial

from .. import study_names
from ..config import RunConfig
from ..presets import SklearnPreset
from ..runner import StudyRunner
from ..space import SearchSpace
from . import registry
from ._common import STYLE, esc, no_null_tooltips
from .best_trial import BestTrialCard
from .controls import ControlBar
from .live_figure import LiveFigure
from .logs import LogView
from .objective import TunedObjective
from .preset_chooser import PresetChooser
from .progress import ProgressBar, StatusLine
from .registry import close_all, live_panels
from .run_control import RunControl, RunViews
from .settings import Settings
from .space_form import SpaceForm
from .theme_probe import ThemeProbe
from .trials_table import TrialsTable

__all__ = ["Panel", "close_all", "live_panels"]


class Panel:
    """Tune an objective from a notebook: ``Panel(objective, space=..., **runner_options)``.

    Shows the search-space form, the settings, Run / Stop / Resume, progress, one live Plotly
    figure with tabs, the trials table and the best trial.  ``runner_options`` are those of
    :class:`~hpo_widget.StudyRunner`, i.e. the fields of :class:`~hpo_widget.config.RunConfig`
    (``study_name``, ``storage``, ``direction``, ``sampler``, ``backend``, ``n_workers``,
    ``goal``, ``patience``, ``max_failed``, ...); they fill the settings, and those without a
    widget (``retries``, ...) are passed on unchanged.  ``n_trials``, ``timeout`` and
    ``resume`` preset the budget fields.  The runner is created when Run is pressed (again
    only if settings changed) and is then available as :attr:`runner`.

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
        try:
            config = RunConfig.from_options(n_trials=n_trials, timeout=timeout, **runner_options)
        except TypeError as exc:  # an unknown option: the message lists the known ones
            raise TypeError(f"Panel: {exc}") from None
        self._tuned = TunedObjective(objective, space)
        self.closed = False
        self.cell_id = registry.current_cell_id()
        if config.directions is None and self._tuned.direction is not None:
            config = config.replace(direction=self._tuned.direction)
        if not config.study_name:
            name = study_names.default_study_name(self._tuned.function)
            config = config.replace(study_name=name)

        # -- parts ------------------------------------------------------------------------
        self.form = SpaceForm(self._tuned.space)
        self.settings = Settings(config, resume=resume)
        self.live = LiveFigure(
            self.settings.directions_list(),
            importance_interval=importance_interval,
            min_interval=min_interval,
        )
        self.table = TrialsTable()
        self.best = BestTrialCard(self._tuned.code_for)
        self.progress_bar = ProgressBar()
        self.status_line = StatusLine()
        self.log_view = LogView()
        self.progress = self.progress_bar.widget
        self.status = self.status_line.widget
        self.log = self.log_view.widget
        views = RunViews(
            self.status_line,
            self.progress_bar,
            self.live,
            self.table,
            self.best,
            on_trials=self._show_discovered,
            on_runner=self._render_header,
            refresh=self._refresh_controls,
        )
        self._control = RunControl(self.settings, views, min_interval=min_interval)
        # A Spark session takes seconds to start: from now (and when spark is chosen), not Run.
        for field in (self.settings.backend, self.settings.master):
            field.observe(lambda _: self._control.prepare_backend(), "value")
        self._control.prepare_backend()
        self.controls = ControlBar(
            lambda: self._guard(self.run),
            lambda: self._guard(self.stop),
            lambda: self._guard(self.resume),
        )
        self.run_button = self.controls.run_button
        self.stop_button = self.controls.stop_button
        self.resume_button = self.controls.resume_button
        self.problems_html = self.controls.problems
        self.header = widgets.HTML()

        # -- preset chooser (only when no objective was given) ----------------------------
        self.presets: PresetChooser | None = None
        self.preset_box: widgets.VBox | None = None
        config_children: list[widgets.Widget] = [self.form.widget, self.settings.widget]
        config_titles = ["Search space", "Settings"]
        if self._tuned.function is None:
            self.presets = PresetChooser(lambda: self._guard(self.use_preset))
            self.preset_box = self.presets.widget
            self.preset_estimators = self.presets.estimators
            self.preset_dataset = self.presets.dataset
            self.preset_cv = self.presets.cv
            self.preset_load = self.presets.load
            self.preset_message = self.presets.message
            config_children.insert(0, self.preset_box)
            config_titles.insert(0, "Preset")
        self.config = widgets.Tab(children=config_children, titles=config_titles)
        self.results = widgets.Tab(
            children=[self.table.widget, self.best.widget], titles=["Trials", "Best trial"]
        )
        # Top to bottom: what is tuned, how, why not yet, the buttons, how far, the results.
        rows = [self.header, self.config, self.problems_html, self.controls.widget]
        rows += [self.progress, self.status, self.log, self.live.widget, self.results]
        # The figures follow JupyterLab's light/dark theme, which only the browser knows.
        self.theme_probe = ThemeProbe(self.live.set_theme)
        rows.append(self.theme_probe)
        self.widget = widgets.VBox(rows, layout={"width": "100%"})
        self.widget.add_class("hpo-panel")

        if self.define_by_run:
            self.form.set_read_only(True, SpaceForm.note_text)
        self.form.on_change(lambda _: self._refresh_controls())
        self.settings.on_change(lambda _: self._refresh_controls())
        self._render_header()
        self._control.show_progress()
        self.status_line.show("" if self._tuned.missing else "Ready: press Run.")
        self._refresh_controls()
        no_null_tooltips(self.widget)  # None shows as "null" on hover
        registry.register(self)

    # -- public state ---------------------------------------------------------------------
    @property
    def study_name(self) -> str:
        return str(self.settings.study_name.value).strip()

    @property
    def runner(self) -> StudyRunner | None:
        """The :class:`~hpo_widget.StudyRunner` of the last Run (``None`` before the first)."""
        return self._control.runner

    @property
    def study(self) -> optuna.Study | None:
        runner = self._control.runner
        return runner.study if runner is not None else None

    @property
    def running(self) -> bool:
        return self._control.running

    @property
    def last_error(self) -> str | None:
        """Why the last Run / Resume did not start (``None`` after a successful start)."""
        return self._control.last_error

    @property
    def space(self) -> SearchSpace | None:
        """The form's space (``None`` while invalid or for a define-by-run objective)."""
        return None if self.define_by_run else self.form.space

    @property
    def min_interval(self) -> float:
        """Seconds between two updates of the widgets while a run goes."""
        return self._control.updates.min_interval

    @min_interval.setter
    def min_interval(self, value: float) -> None:
        self._control.updates.min_interval = value

    def __repr__(self) -> str:
        status = self._control.status
        state = status.value if status is not None else "idle"
        return f"<hpo_widget.Panel study={self.study_name!r} status={state!r}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        # A short text/plain: the default one would save the whole figure's data in the notebook.
        bundle: dict[str, Any] | None = self.widget._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle["text/plain"] = repr(self)
        return bundle

    # -- objective ----------------------------------------------------------------------
    @property
    def objective(self) -> Any:
        """The function or :class:`~hpo_widget.SklearnPreset` tuned (``None``: none yet)."""
        return self._tuned.function

    @property
    def define_by_run(self) -> bool:
        """True for an objective of a trial given without a space (its space is discovered)."""
        return self._tuned.define_by_run

    def use_preset(
        self, estimators: list[str] | None = None, dataset: str | None = None, cv: int | None = None
    ) -> SklearnPreset | None:
        """Objective = scikit-learn preset on a bundled dataset; fills the form and settings."""
        if self.presets is None:
            raise RuntimeError("use_preset: this panel was given an objective")
        choice = self.presets.choose(estimators, dataset, cv)
        if choice is None:
            return None
        preset = choice.preset
        self._tuned.use_preset(preset, choice.code_prefix)
        self.form.replace(preset.space, "preset")
        self.settings.direction.value = preset.direction
        self.settings.study_name.value = study_names.preset_study_name(preset, choice.dataset)
        self._render_header()
        self._refresh_controls()
        return preset

    # -- validation & controls ------------------------------------------------------------
    def problems(self) -> list[str]:
        """Why Run is disabled (empty when it is enabled)."""
        missing = self._tuned.missing
        out: list[str] = [missing] if missing else []
        if not self.define_by_run:
            if not self.form.valid:
                out.append("The search space has errors (see the Search space tab).")
            elif lacking := self._tuned.space_problem(self.form.space):
                out.append(lacking)
        if self.settings.check(self.space, define_by_run=self.define_by_run):
            out.append("The settings have errors (see the Settings tab).")
        return out

    def _refresh_controls(self) -> None:
        with self._control.lock:
            running = self.running
            self.controls.refresh(self.problems(), self._control.status, running)
            self.settings.set_disabled(running)
            for row in self.form.rows:
                row.set_disabled(running or self.form.read_only)
            self.form.add_button.disabled = running or self.form.read_only

    def _render_header(self) -> None:
        what = self._tuned.label
        runner = self._control.runner
        where = ""
        if runner is not None:
            where = f" · study {runner.study_name} in {self._control.storage_description}"
        html = (
            STYLE + f'<div style="font-size:15px"><b>hpo_widget</b> · {esc(what)}'
            f'<span class="hpo-note">{esc(where)}</span></div>'
        )
        if self.header.value != html:
            self.header.value = html

    def _guard(self, action: Callable[[], Any]) -> None:
        """Run a button's action; errors go to the status line, never a traceback in a cell."""
        try:
            action()
        except Exception as exc:  # the panel must survive anything a click triggers
            self.status_line.error(f"Error: {type(exc).__name__}: {exc}")

    # -- run / stop / resume --------------------------------------------------------------
    def run(self) -> StudyRunner | None:
        """Start the study with the current form and settings (what the Run button does)."""
        with self._control.lock:
            if self.running:
                return self._control.runner
            problems = self.problems()
            if problems:
                self._control.refuse(" ".join(problems))
                return None
            objective, space = self._tuned.for_run(self.form.space)
            return self._control.start(
                objective,
                space,
                identity=self._tuned.identity,
                before_start=lambda: registry.stop_others(self),
            )

    def stop(self) -> None:
        """Stop the run; returns when no trial of it is RUNNING any more."""
        self._control.stop()

    def resume(self) -> StudyRunner | None:
        """Continue the study to its total (after Stop, a failure, or a kernel restart)."""
        with self._control.lock:
            if self._control.runner is None:
                return self.run()
            return self._control.resume()

    def wait(self, timeout: float | None = None) -> optuna.Study | None:
        """Block until the run ends, then bring the panel up to date (for scripts and tests)."""
        return self._control.wait(timeout)

    def sync(self, *, force: bool = False) -> None:
        """Apply everything queued by the runner to the widgets (thread-safe)."""
        self._control.sync(force=force)

    def _show_discovered(self, trials: list[FrozenTrial]) -> None:
        """Define-by-run: show the space the finished trials sampled from (read-only)."""
        space = self._tuned.discovered_space(trials)
        if space is not None:
            self.form.show_discovered(space)

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the run, release the runner's backend and close every widget of the panel."""
        if self.closed:
            return
        self.closed = True
        registry.unregister(self)
        try:
            self._control.close()
        finally:
            with self._control.lock:
                for part in (self.live, self.form, self.settings, self.table, self.best):
                    part.close()
                for view in (self.progress_bar, self.status_line, self.log_view, self.controls):
                    view.close()
                if self.presets is not None:
                    self.presets.close()
                for w in (self.header, self.config, self.results, self.theme_probe, self.widget):
                    w.close()

    def __del__(self) -> None:  # a forgotten panel must not leave workers behind
        try:
            runner = self._control.runner
            if not self.closed and runner is not None and runner.running:
                runner.stop()
        except Exception:
            pass
