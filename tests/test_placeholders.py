"""No placeholder trials (issue 12, item 4): a run keeps a small pool of WAITING tickets, not
its whole budget, so a stop, a finish or a crash leaves at most ``n_workers``-scale rows that
are not real trials; and a runner writes nothing to storage until a run starts.

Waits are bounded on conditions; no wall-clock bound decides a pass.
"""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from hpo_widget import RunStatus, StudyRunner, TrialFinished, _attrs
from hpo_widget import _optuna_compat as compat
from hpo_widget._tickets import Tickets
from hpo_widget.cli.studies import _study_rows
from tests._spark_fixtures import wait_for

N_WORKERS = 2
#: What a stopped run may leave WAITING: the largest pool plus one retry per in-flight trial.
MOST_LEFT = Tickets.max_pool(N_WORKERS) + N_WORKERS


def fast(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -1.0, 1.0)
    # Not instant: 1,000 trials on 2 workers take at least 5 s, so the stop after 40 finished
    # always lands mid-run (without it, threads finished all 1,000 in 0.25 s before the
    # test's first look).
    time.sleep(0.01)
    return x * x


def _waiting(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def _fresh_waiting(study: optuna.Study) -> int:
    """WAITING tickets that are not retries: what the pool bounds.  A stop queues a retry of
    each trial it interrupted on top of the pool, and a TrialFinished for an interrupted
    trial can reach the watcher after those retries were queued (CI: 8 + 1 seen as 9)."""
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    return sum(1 for t in waiting if _attrs.RETRY_OF not in t.system_attrs)


@pytest.mark.parametrize(
    ("backend", "storage"),
    [("threading", "memory"), ("threading", "journal"), ("loky", "journal")],
)
def test_an_early_stop_of_a_1000_trial_study_leaves_a_few_tickets(
    backend: str, storage: str, tmp_path: Path
) -> None:
    """Workers in the driver's process (threading) refill the pool as they claim; worker
    processes (loky) get it refilled by the driver's poll: a few tickets either way."""
    url = "memory" if storage == "memory" else str(tmp_path / "study.journal")
    runner = StudyRunner(
        fast,
        storage=url,
        study_name="big",
        backend=backend,
        n_workers=N_WORKERS,
        sampler="random",
        seed=0,
    )
    peak = [0]

    def watch(event: object) -> None:
        if isinstance(event, TrialFinished):
            peak[0] = max(peak[0], _fresh_waiting(runner.study))

    runner.subscribe(watch)
    runner.start(n_trials=1000)
    wait_for(lambda: runner.progress.finished >= 40, 120, "40 finished trials")
    runner.stop()
    assert runner.status is RunStatus.STOPPED
    study = runner.study
    left = _waiting(study)
    print(f"\n{backend}/{storage}: {left} WAITING after the stop, peak {peak[0]}")
    assert left <= MOST_LEFT, f"{left} WAITING tickets left after the stop"
    assert peak[0] <= Tickets.max_pool(N_WORKERS), f"{peak[0]} fresh tickets WAITING at once"
    p = runner.progress
    assert 40 <= p.finished < 1000 and p.target == 1000
    assert len(study.trials) <= p.finished + MOST_LEFT + N_WORKERS  # + the stopped (lost) ones
    # `hpo-widget studies` counts what is there: a few tickets, not the rest of the budget.
    (row,) = _study_rows(compat.storage_of(study))
    assert row["waiting"] == left and row["n_trials"] == p.finished
    if storage == "memory":
        # Resume still reaches the exact total from the same small pool (every backend and
        # storage resumes to its total in tests/test_backend_contract.py).
        study = runner.resume().wait(timeout=300)
        assert [t.state for t in study.trials].count(TrialState.COMPLETE) == 1000
        assert _waiting(study) == 0


def test_a_finished_run_leaves_no_ticket() -> None:
    runner = StudyRunner(fast, storage="memory", n_workers=N_WORKERS, seed=0)
    study = runner.start(n_trials=50).wait(timeout=60)
    assert [t.state for t in study.trials].count(TrialState.COMPLETE) == 50
    assert _waiting(study) == 0 and len(study.trials) == 50


@pytest.mark.parametrize("named", [True, False])
def test_constructing_a_runner_creates_no_study(named: bool, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    storage = optuna.storages.RDBStorage(url)
    options = {"study_name": "later"} if named else {}
    runner = StudyRunner(fast, storage=storage, **options)
    assert optuna.get_all_study_names(storage) == []
    # What the panel and the CLI read before a run does not create it either.
    assert runner.progress.finished == 0 and runner.directions == ["minimize"]
    assert runner.study_name == "later" if named else runner.study_name.startswith("no-name-")
    assert not runner.created
    runner.start(n_trials=3).wait(timeout=60)
    assert optuna.get_all_study_names(storage) == [runner.study_name]
    # A second runner on the now existing study loads it (and checks its directions) at once.
    again = StudyRunner(fast, storage=storage, study_name=runner.study_name)
    assert again.created and len(again.study.trials) == 3
