"""Plot data extraction at 10k trials: hpo_widget's figure data vs Optuna's own plot functions.

Run: ``python benchmarks/plot_extraction.py``.  Both sides get the same 10,000 finished trials of
a 4-parameter study in memory; times are the best of 3 (seconds), and the ratio is Optuna's time
over ours (above 1: ours is faster).  The panel redraws from this data on every refresh, so it
must stay flat and far below a frame budget; the old test bound was 0.15 s.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import optuna

from hpo_widget.plots import history_data, timeline_data
from tests.test_plots import _synthetic_trials


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    trials = _synthetic_trials(10_000)
    study = optuna.create_study()
    study.add_trials(trials)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    rows = [
        ("history", lambda: history_data(trials, "minimize"),
         lambda: optuna.visualization.plot_optimization_history(study)),
        ("timeline", lambda: timeline_data(trials),
         lambda: optuna.visualization.plot_timeline(study)),
    ]  # fmt: skip
    print("| figure at 10k trials | hpo_widget data (s) | Optuna plot_* (s) | ratio |")
    print("|---|---|---|---|")
    for name, ours, theirs in rows:
        a, b = best_of(ours), best_of(theirs)
        print(f"| {name} | {a:.4f} | {b:.4f} | {b / a:.1f}x |")


if __name__ == "__main__":
    main()
