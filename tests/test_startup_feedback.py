"""Start-up feedback (issue 12, item 5, engine side): a run announces its phases (starting the
backend, waiting for the first trial, running) and measures its ETA from the rate after its
first finished trial, so start-up time is not counted as trial time."""

from __future__ import annotations

import threading

import optuna
import pytest

from hpo_widget import RunStatus, StatusChanged, StudyRunner
from hpo_widget.events import StartPhase
from hpo_widget.runner import Progress
from tests._spark_fixtures import wait_for


def test_a_run_announces_its_start_up_phases() -> None:
    gate = threading.Event()

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        gate.wait(60)  # the first trials hold until the test has seen the phase
        return x

    events: list[StatusChanged] = []
    runner = StudyRunner(objective, storage="memory", n_workers=2, seed=0)
    runner.subscribe(lambda e: events.append(e) if isinstance(e, StatusChanged) else None)
    runner.start(n_trials=4)
    try:
        wait_for(lambda: any(e.phase is StartPhase.FIRST_TRIAL for e in events), 60, "phase")
        assert runner.progress.eta is None  # no rate before a trial finished
    finally:
        gate.set()
    runner.wait(timeout=60)
    first = events[0]
    assert first.status is RunStatus.STARTING and first.phase is StartPhase.BACKEND
    assert first.message == "starting threading"
    waiting = next(e for e in events if e.phase is StartPhase.FIRST_TRIAL)
    assert waiting.status is RunStatus.RUNNING
    assert "waiting for the first trial" in waiting.message
    after = events[events.index(waiting) + 1]
    assert after.status is RunStatus.RUNNING and after.phase is StartPhase.NONE
    assert "waiting" not in after.message
    assert events[-1].status is RunStatus.FINISHED
    p = runner.progress
    assert p.first_finished_after is not None and p.finished_at_first >= 1


def _progress(**fields: object) -> Progress:
    defaults: dict[str, object] = {
        "complete": 0, "pruned": 0, "failed": 0, "running": 0, "waiting": 0,
        "target": 100, "elapsed": 0.0, "status": RunStatus.RUNNING,
    }  # fmt: skip
    return Progress(**{**defaults, **fields})  # type: ignore[arg-type]


def test_the_eta_counts_from_the_first_finished_trial() -> None:
    # 26 s of start-up, then 5 trials in 5 s after the first: 1 s a trial, 94 left.
    p = _progress(complete=6, elapsed=31.0, first_finished_after=26.0, finished_at_first=1)
    assert p.eta == pytest.approx(94.0)
    # Counting the start-up would have said 31 / 6 * 94 = 486 s.
    assert (
        _progress(complete=1, elapsed=26.0, first_finished_after=26.0, finished_at_first=1).eta
        is None
    )
    assert _progress(complete=0, elapsed=10.0).eta is None
    assert _progress(complete=100, elapsed=99.0).eta == 0.0
    assert _progress(target=None, complete=3, elapsed=3.0).eta is None


def test_the_status_line_shows_the_phase() -> None:
    pytest.importorskip("ipywidgets")
    from hpo_widget.ui.progress import StatusLine

    line = StatusLine()
    line.show_event(
        StatusChanged(RunStatus.STARTING, "starting spark (local[2])", phase=StartPhase.BACKEND)
    )
    assert "Starting spark (local[2])…" in line.widget.value
    line.show_event(
        StatusChanged(
            RunStatus.RUNNING,
            "2 worker(s) on spark (local[2]); waiting for the first trial to finish",
            detail="waiting for executors: 1 of 2 registered",
            phase=StartPhase.FIRST_TRIAL,
        )
    )
    assert "waiting for executors: 1 of 2 registered" in line.widget.value
    assert "waiting for the first trial" in line.widget.value
