"""Benchmark of the panel's live figure: update cost, importance cost, bytes on open.

Run: ``python benchmarks/ui_figures.py`` (prints a markdown table; about a minute).

What is measured, and how:

* **Figure update at N trials**: a ``LiveFigure`` showing a study of N finished trials gets one
  more ``TrialFinished`` event and applies it (``notify`` + ``flush``).  The time includes
  building the comm message *and* JSON-packing it the way the kernel's session does
  (``jupyter_client.session.json_packer``), since the test comm does not serialise.  The
  history tab appends; other tabs rebuild from the trials and patch the traces.
* **Importance at 1k trials**: PED-ANOVA through ``hpo_widget.plots.importance_data`` (what the
  panel's importance thread runs), warm (the first call in a process also imports scipy).
* **Bytes when the panel opens**: every widget model a ``Panel`` creates, its state serialised as
  a comm_open would carry it (JSON + binary buffers); the FigureWidget's JS bundle (``_esm``) is
  counted once, as it is sent once.
Targets: <= 50 ms per update at 10k trials, <= 1 s importance at 1k trials.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import optuna
import plotly
from ipywidgets import Widget
from ipywidgets.widgets.widget import _instances, _remove_buffers
from jupyter_client.session import json_packer
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from hpo_widget import _attrs
from hpo_widget.events import TrialFinished
from hpo_widget.plots import importance_data
from hpo_widget.ui import Panel, close_all
from hpo_widget.ui.live_figure import LiveFigure

optuna.logging.set_verbosity(optuna.logging.WARNING)
RESULTS = Path(__file__).parent / "results"

DISTS = {
    "lr": FloatDistribution(1e-5, 1.0, log=True),
    "depth": IntDistribution(1, 12),
    "dropout": FloatDistribution(0.0, 0.5),
    "booster": CategoricalDistribution(["gbtree", "dart", "linear"]),
    "subsample": FloatDistribution(0.5, 1.0),
    "width": IntDistribution(8, 512, log=True),
}


def make_trials(n: int, seed: int = 0) -> list[optuna.trial.FrozenTrial]:
    """N finished trials of a 6-parameter study over 4 workers, with 3 intermediate values."""
    rng = np.random.default_rng(seed)
    t0 = datetime.datetime(2026, 1, 1)
    trials = []
    for i in range(n):
        params = {
            "lr": float(10 ** rng.uniform(-5, 0)),
            "depth": int(rng.integers(1, 13)),
            "dropout": float(rng.uniform(0, 0.5)),
            "booster": str(rng.choice(["gbtree", "dart", "linear"])),
            "subsample": float(rng.uniform(0.5, 1.0)),
            "width": int(rng.integers(8, 513)),
        }
        value = (np.log10(params["lr"]) + 2) ** 2 + abs(params["depth"] - 6) + rng.normal()
        start = t0 + datetime.timedelta(seconds=i * 0.5)
        state = optuna.trial.TrialState.PRUNED if i % 10 == 9 else optuna.trial.TrialState.COMPLETE
        t = optuna.trial.create_trial(
            state=state,
            value=float(value) if state == optuna.trial.TrialState.COMPLETE else None,
            params=params,
            distributions=DISTS,
            intermediate_values={0: float(value) + 2, 1: float(value) + 1, 2: float(value)},
            system_attrs={_attrs.WORKER: f"host:1:{i % 4}"},
        )
        t.number = i
        t.datetime_start = start
        t.datetime_complete = start + datetime.timedelta(seconds=1.7)
        trials.append(t)
    return trials


class Wire:
    """Counts and JSON-packs what FigureWidget sends, like the kernel session would."""

    def __init__(self) -> None:
        self.bytes = 0
        self._orig = Widget._send

    def __enter__(self) -> Wire:
        wire = self

        def send(widget: Widget, msg: dict[str, Any], buffers: Any = None) -> None:
            wire.bytes += len(json_packer(msg)) + sum(memoryview(b).nbytes for b in buffers or ())
            return wire._orig(widget, msg, buffers)

        Widget._send = send  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        Widget._send = self._orig  # type: ignore[method-assign]


def update_cost(n: int, kind: str, repeats: int) -> tuple[float, float, int]:
    """Median and max seconds (and bytes) to apply one new trial to tab ``kind``."""
    trials = make_trials(n)
    live = LiveFigure(["minimize"], min_interval=0.0)
    live.set_source(lambda: trials)
    live.select(kind)
    times: list[float] = []
    sent = 0
    with Wire() as wire:
        for k in range(repeats):
            extra = make_trials(1, seed=100 + k)[0]
            extra.number = n + k
            trials.append(extra)
            event = TrialFinished(
                extra.number, "COMPLETE", (extra.value,), extra.params, 1.7, "host:1:0"
            )
            wire.bytes = 0
            start = time.perf_counter()
            live.notify(event)
            live.flush(force=True)
            times.append(time.perf_counter() - start)
            sent = wire.bytes
    live.close()
    return statistics.median(times), max(times), sent


def importance_cost(n: int) -> tuple[float, float]:
    trials = make_trials(n)
    start = time.perf_counter()
    importance_data(trials, "minimize")  # cold: imports scipy etc.
    cold = time.perf_counter() - start
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        data = importance_data(trials, "minimize")
        runs.append(time.perf_counter() - start)
    assert data.params, data.message
    return cold, statistics.median(runs)


def optuna_rebuild_cost(n: int, repeats: int = 3) -> float:
    """Peer: rebuild Optuna's own history figure from the study, what a poller does per refresh
    (optuna-dashboard polls; ``optuna.visualization`` has no incremental update)."""
    study = optuna.create_study()
    study.add_trials(make_trials(n))
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fig = optuna.visualization.plot_optimization_history(study)
        fig.to_json()  # what would travel to the browser
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def fanova_cost(n: int) -> float:
    """Peer: Optuna's fANOVA evaluator (its default before Optuna 5) on the same trials."""
    study = optuna.create_study()
    study.add_trials(make_trials(n))
    start = time.perf_counter()
    optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)
    )
    return time.perf_counter() - start


def open_bytes() -> tuple[int, int, int, int]:
    """(total bytes, plotly bundle bytes, widget models, FigureWidgets) of a new Panel."""
    before = set(_instances)

    def objective(params: dict[str, Any]) -> float:
        return float(params["lr"])

    space = {
        "lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True},
        "depth": {"type": "int", "low": 1, "high": 12},
        "booster": {"type": "categorical", "choices": ["gbtree", "dart"]},
    }
    panel = Panel(objective, space=space, storage="memory")
    created = [_instances[k] for k in set(_instances) - before]
    total = esm = figures = 0
    for w in created:
        state = w.get_state()
        if "_esm" in state:
            figures += 1
            esm += len(str(state["_esm"]).encode())
        state, _paths, buffers = _remove_buffers(state)
        total += len(json.dumps(state, default=str).encode())
        total += sum(memoryview(b).nbytes for b in buffers)
    panel.close()
    return total, esm, len(created), figures


def main() -> None:
    rows: list[tuple[str, str, str]] = []
    for n in (1_000, 10_000):
        med, worst, sent = update_cost(n, "history", 15)
        target = " (target <= 50 ms)" if n == 10_000 else ""
        rows.append(
            (
                f"Figure update, history tab, {n:,} trials{target}",
                f"{med * 1000:.1f} ms median, {worst * 1000:.1f} ms max",
                f"{sent / 1024:.0f} KiB per update",
            )
        )
    for kind in ("timeline", "parallel_coordinates", "intermediate"):
        med, worst, sent = update_cost(10_000, kind, 5)
        rows.append(
            (
                f"Figure update, {kind} tab (rebuild + patch), 10,000 trials",
                f"{med * 1000:.0f} ms median, {worst * 1000:.0f} ms max",
                f"{sent / 1024:.0f} KiB per update",
            )
        )
    for n in (1_000, 10_000):
        rows.append(
            (
                f"Peer: Optuna plot_optimization_history rebuild, {n:,} trials",
                f"{optuna_rebuild_cost(n) * 1000:.0f} ms",
                "full figure per refresh (optuna.visualization, optuna-dashboard style)",
            )
        )
    cold, warm = importance_cost(1_000)
    rows.append(
        (
            "Importance (PED-ANOVA), 1,000 trials x 6 params (target <= 1 s)",
            f"{warm * 1000:.0f} ms (first call in a process: {cold:.2f} s)",
            "in the hpo-importance thread",
        )
    )
    rows.append(
        (
            "Peer: Optuna fANOVA importance, 1,000 trials x 6 params",
            f"{fanova_cost(1_000) * 1000:.0f} ms",
            "Optuna's default evaluator before 5.0",
        )
    )
    total, esm, models, figures = open_bytes()
    rows.append(
        (
            "Bytes when the panel opens",
            f"{total / 1e6:.2f} MB in {models} widget models",
            f"plotly bundle {esm / 1e6:.2f} MB x {figures} FigureWidget; "
            f"rest {(total - esm) / 1e3:.0f} kB",
        )
    )
    close_all()
    lines = [
        "# Panel figure benchmark",
        "",
        f"Machine: {platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"optuna {optuna.__version__}, plotly {plotly.__version__}; "
        f"{datetime.date.today().isoformat()}.",
        "",
        "| Measure | Result | Notes |",
        "|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    print("\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ui_figures.md").write_text("\n".join(lines) + "\n")
    print(f"\nwrote {RESULTS / 'ui_figures.md'}")


if __name__ == "__main__":
    main()
