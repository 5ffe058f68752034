"""One live Plotly ``FigureWidget`` whose content follows a tab selector.

Why one widget: plotly 7's ``FigureWidget`` is an anywidget and every instance's comm_open
carries the ~5 MB plotly.js bundle, so six figures would cost ~30 MB when the panel opens.  Here
the tab buttons swap the traces and layout of a single widget instead.

Why patches: rebuilding a figure for every finished trial would resend everything and reset the
user's zoom.  The history tab appends the new points to its arrays (inside ``batch_update``,
one message per flush); other tabs recompute their plain data with :mod:`hpo_widget.plots` and
assign the changed trace properties to the existing traces, found by their stable ``uid``.
Updates are coalesced: events are queued from the runner's thread and applied by
:meth:`LiveFigure.flush` (the panel calls it at most every ``min_interval`` seconds), so a burst
of fast trials costs one message, not hundreds.

Importances are computed by a separate daemon thread, at most every ``importance_interval``
seconds and only while the importance tab is shown, so the kernel's main thread never waits
for PED-ANOVA and a long study does not burn CPU on a hidden plot.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
from optuna.trial import FrozenTrial

from ..events import TrialFinished
from ..plots import (
    EMPTY_ANNOTATION,
    ImportanceData,
    history_data,
    history_figure,
    importance_data,
    importance_figure,
    intermediate_data,
    intermediate_figure,
    parallel_coordinates_data,
    parallel_coordinates_figure,
    pareto_data,
    pareto_figure,
    template,
    timeline_data,
    timeline_figure,
    worker_counts_figure,
)

__all__ = ["TAB_LABELS", "LiveFigure"]

TAB_LABELS: dict[str, str] = {
    "history": "History",
    "pareto": "Pareto front",
    "importance": "Importance",
    "parallel_coordinates": "Parallel coordinates",
    "intermediate": "Intermediate values",
    "timeline": "Timeline",
    "worker_counts": "Workers",
}

TrialsSource = Callable[[], Sequence[FrozenTrial]]
_INT32 = np.iinfo(np.int32)


def _compact(value: Any) -> Any:
    """int64 arrays as int32 (or float) so plotly sends them as binary typed arrays, not as
    JSON lists (its serializer only packs 1-D non-int64 numeric arrays)."""
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.dtype.itemsize == 8:
        if value.ndim == 1 and (
            value.size == 0 or (value.min() >= _INT32.min and value.max() <= _INT32.max)
        ):
            return value.astype(np.int32)
        return value.astype(np.float64)
    return value


def _trace_dicts(fig: go.Figure) -> list[dict[str, Any]]:
    return [_compact(t.to_plotly_json()) for t in fig.data]


def _best_steps(x: np.ndarray, y: np.ndarray, maximize: bool) -> tuple[np.ndarray, np.ndarray]:
    """The best-so-far step line reduced to the points where it changes, plus the last one:
    an ``hv`` line through them is identical and sends O(improvements) points, not O(trials)."""
    if y.size == 0:
        return x, y
    best = np.maximum.accumulate(y) if maximize else np.minimum.accumulate(y)
    keep = np.empty(best.size, dtype=bool)
    keep[0] = True
    np.not_equal(best[1:], best[:-1], out=keep[1:])
    keep[-1] = True
    return x[keep], best[keep]


class _ImportanceWorker:
    """Computes importances off the main thread, at most once per ``interval`` seconds."""

    #: Seconds an idle thread waits for more work before it exits.
    linger = 10.0

    def __init__(self, owner: LiveFigure, interval: float) -> None:
        self.owner = owner
        self.interval = interval
        self.last_started = 0.0
        self.runs = 0
        self.thread_names: list[str] = []
        self.durations: list[float] = []
        self._wanted = threading.Event()
        self._closed = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        """Ask for a fresh computation (coalesced; starts the thread if it is not running)."""
        with self._lock:
            if self._closed.is_set():
                return
            self._idle.clear()
            self._wanted.set()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="hpo-importance", daemon=True
                )
                self._thread.start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no computation is wanted or running (tests, benchmarks)."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while not self._closed.is_set():
            if not self._wanted.wait(self.linger):
                with self._lock:
                    if not self._wanted.is_set():
                        self._thread = None  # idle: leave; request() starts a new one
                        return
                continue
            delay = self.interval - (time.monotonic() - self.last_started)
            if delay > 0 and self._closed.wait(delay):
                break
            self._wanted.clear()
            self.last_started = time.monotonic()
            try:
                data = self.owner._compute_importance()
            except Exception as exc:  # show it in the figure; never raise in a thread
                data = ImportanceData(message=f"Importances could not be computed: {exc}")
            self.durations.append(time.monotonic() - self.last_started)
            self.thread_names.append(threading.current_thread().name)
            self.runs += 1
            self.owner._importance_ready(data)
            if not self._wanted.is_set():
                self._idle.set()

    def close(self) -> None:
        self._closed.set()
        self._wanted.set()
        self._idle.set()


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
        # History tab, kept incrementally: sorted trial numbers and values of COMPLETE trials.
        self._hx: list[int] = []
        self._hy: list[float] = []
        self._hseen: set[int] = set()
        self._importance: ImportanceData | None = None
        self._importance_for = -1
        self._n_finished = 0
        self.updates = 0
        self.update_seconds: list[float] = []
        self.importance = _ImportanceWorker(self, importance_interval)

        self.figure = go.FigureWidget(layout={"template": template(), "height": 430})
        # Fill the panel's width and follow it when the notebook is resized.
        self.figure._config = {"responsive": True, "displaylogo": False}
        self.tabs = widgets.ToggleButtons(
            options=self._tab_options(), style={"button_width": "auto"}
        )
        self.tabs.add_class("hpo-figure-tabs")
        self.note = widgets.HTML()
        self.widget = widgets.VBox([self.tabs, self.figure, self.note])
        self.widget.add_class("hpo-figure")
        self.tabs.observe(lambda change: self.select(change["new"]), "value")
        self.select(self.tabs.value)

    # -- configuration ----------------------------------------------------------------------
    @property
    def multi(self) -> bool:
        return len(self._directions) > 1

    def _tab_options(self) -> list[tuple[str, str]]:
        kinds = ["pareto", "history"] if self.multi else ["history"]
        kinds += ["importance", "parallel_coordinates", "intermediate", "timeline", "worker_counts"]
        return [(TAB_LABELS[k], k) for k in kinds]

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
            self._reset_history()
            self._importance = None
            self._importance_for = -1
            self._n_finished = 0
            self._render(self.tabs.value, swap=True)

    def _reset_history(self) -> None:
        self._hx, self._hy, self._hseen = [], [], set()

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
            self._n_finished += len(events)
            kind = self._kind
            if kind == "history":
                start = time.perf_counter()
                changed = self._append_history(events)
                self._record(start)
                self._stale = False
                return changed
            self._stale = True
            if kind == "importance":
                self.importance.request()
                self._stale = False
                return False
            due = self._last_rebuild + self._interval()
            if not force and time.monotonic() < due:
                return False
            self._render(kind, swap=False)
            self._stale = False
            return True

    def _interval(self) -> float:
        return min(self.max_interval, max(self.min_interval, 5 * self._rebuild_cost))

    def _record(self, start: float) -> None:
        self.updates += 1
        self.update_seconds.append(time.perf_counter() - start)
        if len(self.update_seconds) > 1000:
            del self.update_seconds[:500]

    # -- history (incremental) -------------------------------------------------------------
    @property
    def _target(self) -> int:
        return 0

    def _append_history(self, events: list[TrialFinished]) -> bool:
        added = False
        for ev in events:
            if ev.state != "COMPLETE" or not ev.values or ev.number in self._hseen:
                continue
            self._hseen.add(ev.number)
            value = float(ev.values[self._target])
            if not self._hx or ev.number > self._hx[-1]:
                self._hx.append(ev.number)
                self._hy.append(value)
            else:  # workers finish out of order: keep trial-number order
                i = bisect.bisect(self._hx, ev.number)
                self._hx.insert(i, ev.number)
                self._hy.insert(i, value)
            added = True
        if not added:
            return False
        x = np.asarray(self._hx, dtype=np.int32)
        y = np.asarray(self._hy, dtype=np.float64)
        bx, by = _best_steps(x, y, self._directions[self._target] == "maximize")
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

    def _build(self, kind: str, trials: Sequence[FrozenTrial]) -> go.Figure:
        dirs = self._directions
        names = self._metric_names
        target = names[0] if names else None
        if kind == "history":
            data = history_data(trials, dirs, target_name=target)
            fig = history_figure(data)
            self._reset_history()
            for n, v, ok in zip(data.numbers, data.values, data.feasible, strict=True):
                if v is not None and ok:
                    self._hx.append(n)
                    self._hy.append(v)
            self._hseen = {t.number for t in trials if t.state.name == "COMPLETE"}
            x = np.asarray(self._hx, dtype=np.int32)
            bx, by = _best_steps(x, np.asarray(self._hy, dtype=float), data.direction == "maximize")
            fig.update_traces(x=bx, y=by, selector={"uid": "history-best"})
            return fig
        if kind == "pareto":
            return pareto_figure(pareto_data(trials, dirs, objective_names=names))
        if kind == "importance":
            data_imp = self._importance or ImportanceData(
                message="Computing importances…" if trials else "No completed trials yet"
            )
            return importance_figure(data_imp)
        if kind == "parallel_coordinates":
            return parallel_coordinates_figure(
                parallel_coordinates_data(trials, direction=dirs, target_name=target)
            )
        if kind == "intermediate":
            return intermediate_figure(intermediate_data(trials))
        if kind == "timeline":
            return timeline_figure(timeline_data(trials, default_worker="driver"))
        if kind == "worker_counts":
            return worker_counts_figure(timeline_data(trials, default_worker="driver"))
        raise ValueError(f"unknown figure {kind!r}; choose one of {', '.join(TAB_LABELS)}")

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
            if kind == "importance":
                self.importance.request()

    def _pending_to_history(self) -> None:
        # The redraw reads all trials from storage, so queued events are already included.
        self._n_finished += len(self._pending)
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
        traces = _trace_dicts(new)
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
            changed = {k: v for k, v in layout.items() if not _equal(old_layout.get(k, None), v)}
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

    # -- importance -------------------------------------------------------------------------
    def _compute_importance(self) -> ImportanceData:
        trials = self._trials()
        return importance_data(trials, self._directions)

    def _importance_ready(self, data: ImportanceData) -> None:
        with self._lock:
            self._importance = data
            if self._closed or self._kind != "importance":
                return
            self._render("importance", swap=False)

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._closed = True
            self.importance.close()
            self.tabs.close()
            self.note.close()
            self.figure.close()
            self.widget.close()


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(go.Figure._vals_equal(a, b))
    except Exception:
        return False
