"""One live Plotly ``FigureWidget`` whose content follows a tab selector.

Why one widget: plotly 7's ``FigureWidget`` is an anywidget and every instance's comm_open
carries the ~5 MB plotly.js bundle, so six figures would cost ~30 MB when the panel opens.  Here
the tab buttons swap the traces and layout of a single widget instead.

Why patches: rebuilding a figure for every finished trial would resend everything and reset the
user's zoom.  The history tab appends the new points to its arrays (inside ``batch_update``,
one message per flush); other tabs recompute their plain data through the figure registry
(:data:`hpo_widget.plots.FIGURES`, which also decides the tabs) and assign the changed trace
properties to the existing traces, found by their stable ``uid``.
Updates are coalesced: events are queued from the runner's thread and applied by
:meth:`LiveFigure.flush` (the panel calls it at most every ``min_interval`` seconds), so a burst
of fast trials costs one message, not hundreds.

Slow figures (the importances) are computed by a separate daemon thread
(:class:`hpo_widget.plots.BackgroundData`), at most every ``importance_interval`` seconds and
only while their tab is shown, so the kernel's main thread never waits for PED-ANOVA and a long
study does not burn CPU on a hidden plot.  The slice, contour and rank tabs draw the most
important parameters first, so they also keep the importances computing (in the same thread)
and redraw when a new ranking arrives; until then they use the suggestion order.

A multi-objective study gets an objective selector next to the tabs, shown while a tab that
follows it (``FigureKind.per_objective``) is selected.  :meth:`LiveFigure.set_theme` switches
every figure between the light and dark looks; deciding which one JupyterLab shows is left to
the caller.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
from optuna.trial import FrozenTrial

from ..events import TrialFinished
from ..plots import (
    EMPTY_ANNOTATION,
    EMPTY_MESSAGE,
    FIGURES,
    BackgroundData,
    FigureOptions,
    figure_kind,
    kinds_for,
    resolve_objective,
    template,
)
from ..plots._wire import trace_dicts, values_equal
from ..plots.history import HistoryCurve, HistoryData
from ..plots.theme import check_theme

__all__ = ["TAB_LABELS", "LiveFigure"]

#: Tab label of every figure kind, in registry order.
TAB_LABELS: dict[str, str] = {name: kind.label for name, kind in FIGURES.items()}

TrialsSource = Callable[[], Sequence[FrozenTrial]]


class LiveFigure:
    """A tab selector plus one ``FigureWidget`` kept in sync with a study's trials.

    Feed it with :meth:`notify` (any thread) and apply with :meth:`flush`; point it at a study
    with :meth:`set_source`.

    Example::

        live = LiveFigure(["minimize"])
        live.set_source(lambda: study.get_trials(deepcopy=False))
        live.select("timeline")
    """

    def __init__(
        self,
        directions: Sequence[str] = ("minimize",),
        *,
        importance_interval: float = 2.0,
        min_interval: float = 0.25,
        max_interval: float = 1.0,
    ) -> None:
        self.importance_interval = importance_interval
        self.min_interval = min_interval
        self.max_interval = max_interval
        self._lock = threading.RLock()
        self._pending: deque[TrialFinished] = deque()
        self._source: TrialsSource | None = None
        self._directions: list[str] = list(directions)
        self._metric_names: list[str] | None = None
        self._kind: str | None = None
        self._uids: list[str] = []
        self._stale = False
        self._last_rebuild = 0.0
        self._rebuild_cost = 0.0
        self._closed = False
        self._objective = 0
        self._theme = "light"
        # History tab, kept incrementally: sorted trial numbers and values of COMPLETE trials.
        self._history = HistoryCurve()
        # Slow kinds: their latest data, and the thread that computes it.
        self._slow_data: dict[str, Any] = {}
        self.background: dict[str, BackgroundData[Any]] = {
            name: self._background(name, importance_interval)
            for name, kind in FIGURES.items()
            if kind.slow
        }
        self.updates = 0
        self.update_seconds: list[float] = []

        self.figure = go.FigureWidget(layout={"template": template(), "height": 430})
        # Fill the panel's width and follow it when the notebook is resized.
        self.figure._config = {"responsive": True, "displaylogo": False}
        self.tabs = widgets.ToggleButtons(
            options=self._tab_options(), style={"button_width": "auto"}
        )
        self.tabs.add_class("hpo-figure-tabs")
        self.objective = widgets.Dropdown(
            options=self._objective_options(),
            value=0,
            description="Objective",
            layout=widgets.Layout(width="auto"),
            style={"description_width": "auto"},
        )
        self.objective.add_class("hpo-figure-objective")
        self.note = widgets.HTML()
        self.widget = widgets.VBox(
            [widgets.HBox([self.tabs, self.objective]), self.figure, self.note]
        )
        self.widget.add_class("hpo-figure")
        self.tabs.observe(lambda change: self.select(change["new"]), "value")
        self.objective.observe(lambda change: self.set_objective(change["new"]), "value")
        self.select(self.tabs.value)

    # -- configuration ----------------------------------------------------------------------
    @property
    def multi(self) -> bool:
        return len(self._directions) > 1

    def _tab_options(self) -> list[tuple[str, str]]:
        return [(kind.label, kind.name) for kind in kinds_for(self._directions)]

    def _objective_options(self) -> list[tuple[str, int]]:
        names = list(self._metric_names or ())
        return [
            (names[i] if i < len(names) else f"Objective {i}", i)
            for i in range(len(self._directions))
        ]

    def _options(self) -> FigureOptions:
        return FigureOptions(
            tuple(self._metric_names or ()),
            default_worker="driver",
            objective=self._objective,
            param_order=self._param_order(),
        )

    def _param_order(self) -> tuple[str, ...]:
        """The latest parameter ranking a slow kind delivered (the importances), if any."""
        for name, data in self._slow_data.items():
            rank = figure_kind(name).ranks_params
            if rank is not None and data is not None:
                order = tuple(rank(data))
                if order:
                    return order
        return ()

    def _rankers(self) -> list[BackgroundData[Any]]:
        return [w for n, w in self.background.items() if figure_kind(n).ranks_params is not None]

    def _sync_objective_selector(self) -> None:
        shown = self.multi and self._kind is not None and figure_kind(self._kind).per_objective
        self.objective.layout.display = None if shown else "none"

    @property
    def importance(self) -> BackgroundData[Any]:
        """The thread computing importances (tests and benchmarks watch it)."""
        return self.background["importance"]

    @property
    def objective_index(self) -> int:
        """The objective the per-objective tabs show (0 unless the selector was changed)."""
        return self._objective

    @property
    def theme(self) -> str:
        return self._theme

    @property
    def kind(self) -> str | None:
        """The figure currently shown (a key of :data:`TAB_LABELS`)."""
        return self._kind

    def set_source(
        self,
        source: TrialsSource | None,
        directions: Sequence[str] | None = None,
        metric_names: list[str] | None = None,
    ) -> None:
        """Follow another study (a new runner): forget everything and redraw from its trials."""
        with self._lock:
            self._pending.clear()
            self._source = source
            self._metric_names = metric_names
            if directions is not None and list(directions) != self._directions:
                self._directions = list(directions)
                options = self._tab_options()
                if list(self.tabs.options) != options:
                    self._kind = None
                    self.tabs.options = options  # resets the value, which redraws
            self._objective = 0
            with self.objective.hold_trait_notifications():
                self.objective.options = self._objective_options()
                self.objective.value = 0
            self._history = HistoryCurve()
            self._slow_data.clear()
            self._render(self.tabs.value, swap=True)
            self._sync_objective_selector()

    def set_objective(self, objective: int | str) -> None:
        """Show objective ``objective`` (index or metric name) on the per-objective tabs.

        Forgets the importances (they explain one objective) and redraws the shown tab.
        """
        index = resolve_objective(objective, len(self._directions), self._metric_names or ())
        with self._lock:
            if index is None or index == self._objective or self._closed:
                return
            self._objective = index
            if self.objective.value != index:
                self.objective.value = index  # the observer comes back here (a no-op then)
            self._history = HistoryCurve()
            self._slow_data.clear()
            if self._kind is not None:
                self._pending_to_history()
                self._render(self._kind, swap=False)
                self._request_background(self._kind)

    def set_theme(self, theme: str) -> None:
        """Draw every figure in ``theme`` ("light" or "dark") from now on, the shown one now.

        The hook for whoever follows JupyterLab's theme; nothing here detects it.
        """
        theme = check_theme(theme)
        with self._lock:
            if theme == self._theme or self._closed:
                return
            self._theme = theme
            self.figure.layout.template = template(theme)
            if self._kind is not None:
                self._render(self._kind, swap=False)

    # -- events -----------------------------------------------------------------------------
    def notify(self, event: TrialFinished) -> None:
        """Queue a finished trial (thread-safe, cheap: called from the runner's thread)."""
        self._pending.append(event)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending) or self._stale

    def flush(self, *, force: bool = False) -> bool:
        """Apply queued trials to the shown figure; returns True if the figure changed.

        The history tab takes the events as they are; other tabs are rebuilt from the trials,
        no more often than a few times their build cost allows (``force`` ignores that).
        """
        with self._lock:
            if self._closed:
                return False
            events: list[TrialFinished] = []
            while self._pending:
                events.append(self._pending.popleft())
            if not events and not self._stale:
                return False
            kind = self._kind
            if kind is None:  # no source yet: nothing to draw the events on
                return False
            if kind == "history":
                start = time.perf_counter()
                changed = self._append_history(events)
                self._record(start)
                self._stale = False
                return changed
            self._stale = True
            if kind in self.background:
                self.background[kind].request()
                self._stale = False
                return False
            if figure_kind(kind).wants_param_order:
                for worker in self._rankers():  # the ranking may change with the new trials
                    worker.request()
            due = self._last_rebuild + self._interval()
            if not force and time.monotonic() < due:
                return False
            self._render(kind, swap=False)
            self._stale = False
            return True

    def _interval(self) -> float:
        # ``max_interval`` bounds the wait, except that a rebuild never takes more than a
        # quarter of the kernel: the 10k-trial slice/rank tabs cost ~0.6 s each.
        wait = min(self.max_interval, max(self.min_interval, 5 * self._rebuild_cost))
        return max(wait, 3 * self._rebuild_cost)

    def _record(self, start: float) -> None:
        self.updates += 1
        self.update_seconds.append(time.perf_counter() - start)
        if len(self.update_seconds) > 1000:
            del self.update_seconds[:500]

    # -- history (incremental) -------------------------------------------------------------
    @property
    def _target(self) -> int:
        return self._objective

    def _append_history(self, events: list[TrialFinished]) -> bool:
        added = False
        for ev in events:
            if ev.state == "COMPLETE" and ev.values and len(ev.values) > self._target:
                added = self._history.add(ev.number, float(ev.values[self._target])) or added
        if not added:
            return False
        x, y, bx, by = self._history.arrays()
        fig = self.figure
        values, best = self._trace("history-values"), self._trace("history-best")
        if values is None or best is None:  # figure not in history shape: redraw fully
            self._render("history", swap=True)
            return True
        with fig.batch_update():
            values.x, values.y = x, y
            best.x, best.y = bx, by
            if fig.layout.meta and fig.layout.meta.get("empty"):
                fig.layout.annotations = [
                    a for a in fig.layout.annotations if a.name != EMPTY_ANNOTATION
                ]
                fig.layout.meta = {**fig.layout.meta, "empty": False}
        return True

    def _trace(self, uid: str) -> Any:
        try:
            return self.figure.data[self._uids.index(uid)]
        except ValueError:
            return None

    # -- building ---------------------------------------------------------------------------
    def _trials(self) -> Sequence[FrozenTrial]:
        return self._source() if self._source is not None else []

    def _build(self, name: str, trials: Sequence[FrozenTrial]) -> go.Figure:
        kind = figure_kind(name)
        if kind.slow:  # never computed here: the latest background result, or a placeholder
            data = self._slow_data.get(name)
            if data is None:
                message = f"Computing {kind.title.lower()}\u2026" if trials else EMPTY_MESSAGE
                return kind.placeholder_figure(message, self._theme)
        else:
            data = kind.data(trials, self._directions, self._options())
        fig = kind.render(data, self._theme)
        if isinstance(data, HistoryData):  # the live tab patches the best line, reduced
            self._history.seed(data)
            _, _, bx, by = self._history.arrays()
            fig.update_traces(x=bx, y=by, selector={"uid": "history-best"})
        return fig

    def select(self, kind: str) -> None:
        """Show another figure in the same widget (swap traces and layout in one go)."""
        with self._lock:
            if self._closed:
                return
            if self.tabs.value != kind:
                self.tabs.value = kind  # the observer comes back here
                return
            self._pending_to_history()
            self._render(kind, swap=True)
            self._sync_objective_selector()
            self._request_background(kind)

    def _request_background(self, kind: str) -> None:
        if kind in self.background:
            self.background[kind].request()
        elif figure_kind(kind).wants_param_order:
            for worker in self._rankers():
                worker.request()

    def _pending_to_history(self) -> None:
        # The redraw reads all trials from storage, so queued events are already included.
        self._pending.clear()
        self._stale = False

    def refresh(self) -> None:
        """Redraw the shown figure from storage now."""
        with self._lock:
            self._pending_to_history()
            self._render(self.tabs.value, swap=False)

    def _render(self, kind: str, *, swap: bool) -> None:
        start = time.perf_counter()
        new = self._build(kind, self._trials())
        self._apply(new, kind, swap=swap or kind != self._kind)
        self._kind = kind
        self._rebuild_cost = time.perf_counter() - start
        self._last_rebuild = time.monotonic()
        self._record(start)

    def _apply(self, new: go.Figure, kind: str, *, swap: bool) -> None:
        fig = self.figure
        traces = trace_dicts(new)
        uids = [t.get("uid", "") for t in traces]
        same_shape = (
            not swap
            and uids == self._uids
            and [t["type"] for t in traces] == [t.type for t in fig.data]
        )
        layout = new.layout.to_plotly_json()
        layout.pop("template", None)
        old_layout = fig.layout.to_plotly_json()
        old_layout.pop("template", None)
        if not same_shape:
            with fig.batch_update():
                fig.data = []
            fig.add_traces(traces)
            self._uids = uids
        else:
            with fig.batch_update():
                for trace, new_props in zip(fig.data, traces, strict=True):
                    old_props = trace.to_plotly_json()
                    for key in old_props.keys() - new_props.keys():
                        if key not in ("uid", "type"):
                            trace[key] = None
                    trace.update({k: v for k, v in new_props.items() if k != "type"})
        with fig.batch_update():
            for key in old_layout.keys() - layout.keys():
                fig.layout[key] = None
            changed = {
                k: v for k, v in layout.items() if not values_equal(old_layout.get(k, None), v)
            }
            if changed:
                fig.layout.update(changed, overwrite=True)
        if not same_shape:
            # plotly.js sized the plot when it was first drawn, often before the view was
            # attached (700 px); an explicit autosize relayout makes it fill the panel now.
            # Sent directly: the Python-side layout does not change, so a normal relayout
            # would be dropped as a no-op.
            send = getattr(fig, "_send_relayout_msg", None)
            if send is not None:
                send({"autosize": True})

    # -- slow kinds (background) -----------------------------------------------------------
    def _background(self, name: str, interval: float) -> BackgroundData[Any]:
        kind = figure_kind(name)
        assert kind.placeholder is not None  # FigureKind checks that slow kinds have one

        def failed(exc: Exception) -> Any:
            assert kind.placeholder is not None
            return None, kind.placeholder(f"{kind.title} could not be computed: {exc}")

        return BackgroundData(
            functools.partial(self._compute, name),
            functools.partial(self._slow_ready, name),
            on_error=failed,
            interval=interval,
            name=f"hpo-{name}",
        )

    def _compute(self, name: str) -> tuple[int | None, Any]:
        # Tagged with the objective it explains: the selector may change while it runs.
        objective = self._objective
        return objective, figure_kind(name).data(self._trials(), self._directions, self._options())

    def _slow_ready(self, name: str, result: tuple[int | None, Any]) -> None:
        objective, data = result
        with self._lock:
            if objective is not None and objective != self._objective:
                self.background[name].request()  # computed for the previous objective
                return
            before = self._param_order()
            self._slow_data[name] = data
            if self._closed or self._kind is None:
                return
            if self._kind == name:
                self._render(name, swap=False)
            elif figure_kind(self._kind).wants_param_order and self._param_order() != before:
                self._render(self._kind, swap=False)  # a new ranking: redraw in its order

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._closed = True
            for worker in self.background.values():
                worker.close()
            self.tabs.close()
            self.objective.close()
            self.note.close()
            self.figure.close()
            self.widget.close()
